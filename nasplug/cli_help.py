"""Help texts of the ``nasplug`` command's flags (one place, so every flag has one)."""

from __future__ import annotations

#: flag (as its SearchConfig/TrainConfig field) -> help text; ``%(default)s`` is not used: defaults come from presets
FLAG_HELP = {
    # search
    "space": "search space name (see `nasplug plugins`), e.g. nb201, darts, proxylessnas",
    "strategy": "strategy preset: sampler + architecture optimizer with a paper's settings, e.g. random, gdas, tunas",
    "data": "dataset name: digits, cifar10, cifar100, imagefolder, tensors, or one a plugin adds",
    "sampler": "override the strategy's sampler (how selections are drawn from the architecture parameters)",
    "arch_optimizer": "override the strategy's architecture optimizer (the per-step update rule)",
    "reward": "reward combining quality and cost, e.g. absolute (needs --latency-target)",
    "latency_model": "cost model: flops (MACs, any space), lookup (timed per-layer table, mobile spaces), "
                     "table-file (a measured table)",
    "latency_target": "the cost target T0 of the reward, in the latency model's unit (ms or MMACs)",
    "benchmark": "tabular benchmark that scores the derived genotype every epoch (e.g. nb201)",
    "epochs": "number of epochs",
    "batch_size": "training batch size",
    "valid_batch_size": "validation batch size of the architecture steps (default: the training batch size)",
    "steps_per_epoch": "cap on the steps of one epoch (for quick runs)",
    "train_portion": "fraction of the training set that trains weights; the rest trains the architecture",
    "w_lr": "learning rate of the supernet weights (SGD, cosine annealed)",
    "arch_lr": "learning rate of the architecture parameters",
    "seed": "random seed; the same seed gives the same genotype on the same machine",
    "device": "cpu, cuda, cuda:N or mps",
    "threads": "torch CPU threads (fewer than the cores avoids oversubscription on shared machines)",
    "eval_batches": "validation batches used to score candidates (default: the strategy's)",
    "runs_root": "folder under which new run directories are created (default: runs)",
    "on_nonfinite": "on a NaN or infinite loss, gradient or architecture parameter: stop the run (default) or "
                    "skip the step",
    # train
    "lr": "initial learning rate (SGD with cosine annealing)",
    "weight_decay": "weight decay",
    "drop_path": "drop-path probability at the last epoch (linearly increased)",
    "auxiliary_weight": "weight of the auxiliary head's loss (0: no auxiliary head)",
    "amp": "mixed precision with torch.autocast: bf16 or fp16 (GPU users; default: off)",
    "num_workers": "DataLoader worker processes for data not already in memory (default: 0)",
    "compile": "compile the child network with torch.compile",
}
