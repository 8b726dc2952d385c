"""The first-order architecture step shared by GDAS and first-order DARTS.

alpha <- Adam(alpha, grad_alpha L_val(w, alpha)): the validation loss (or,
with a reward, ``-reward``) is differentiated through the sampler's
selections (a Gumbel straight-through one-hot, a softmax mixture) at the
current weights.  Weight gradients are switched off during the step, which
saves their cost without changing alpha's gradient.
"""

from __future__ import annotations

import torch

from nasplug import distributed
from nasplug.components import ArchOptimizer
from nasplug.components import accuracy


class GradientArchOptimizer(ArchOptimizer):
    """First-order gradient descent on the architecture parameters with Adam.

    Options (each defaults to the run's config): ``lr`` (``arch_lr``), ``betas``
    (``arch_betas``), ``weight_decay`` (``arch_weight_decay``); ``arch_first``
    takes the architecture step before the weight step (DARTS) instead of after (GDAS).

    Data-parallel: alpha's gradient is averaged over the ranks before Adam's
    step, so with shared samples and equal shards it is the global batch's
    gradient and alpha and Adam's moments stay equal on every rank.
    """

    needs_differentiable_sampler = True
    data_parallel = ("shared", "per-rank")

    def __init__(self, arch_first: bool = False, lr: float | None = None, betas=None,
                 weight_decay: float | None = None):
        self.arch_first = bool(arch_first)
        self.lr, self.betas, self.weight_decay = lr, betas, weight_decay
        self.adam: torch.optim.Adam | None = None

    def setup(self, run) -> None:
        # the sampler was checked against needs_differentiable_sampler when the run was composed
        cfg = run.config
        self.adam = torch.optim.Adam(
            run.arch.parameters(),
            lr=self.lr if self.lr is not None else cfg.arch_lr,
            betas=tuple(self.betas) if self.betas is not None else cfg.arch_betas,
            weight_decay=self.weight_decay if self.weight_decay is not None else cfg.arch_weight_decay,
        )

    def arch_step(self, run, train_batch, valid_batch) -> dict[str, float]:
        x, y = valid_batch
        run.supernet.train()
        self.adam.zero_grad(set_to_none=True)
        with run.frozen_weights():
            selections = run.sample()
            logits = run.forward(x, selections)
            loss = run.arch_objective(logits, y, selections)
            # every decision widened by op warmup: the loss does not depend on alpha, so no step moves it
            if loss.requires_grad:
                loss.backward()
        distributed.of(run).average_gradients(run.arch.parameters())
        self.adam.step()
        return {"arch_loss": loss.item(), "arch_acc": accuracy(logits.detach(), y)}

    def state_dict(self):
        return {"adam": self.adam.state_dict()} if self.adam is not None else {}

    def load_state_dict(self, state):
        if "adam" in state and self.adam is not None:
            self.adam.load_state_dict(state["adam"])
