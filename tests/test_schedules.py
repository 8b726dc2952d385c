"""The cosine schedule on torch's LambdaLR gives exactly the learning rates of the formula it replaced."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings, strategies as st

from nasplug.schedules import CosineSchedule


def formula(lr: float, lr_min: float, epoch: int, epochs: int) -> float:
    """The hand-written rate searches and retraining set before (DARTS' cosine annealing), copied here."""
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs))


@settings(max_examples=60, deadline=None)
@given(lr=st.floats(1e-4, 1.0), fraction=st.floats(0.0, 1.0), epochs=st.integers(1, 300))
def test_every_epochs_rate_equals_the_formula_exactly(lr, fraction, epochs):
    lr_min = lr * fraction
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    schedule = CosineSchedule(optimizer, lr, lr_min, epochs)
    for epoch in range(epochs):
        assert schedule.set_epoch(epoch) == formula(lr, lr_min, epoch, epochs)
        assert optimizer.param_groups[0]["lr"] == formula(lr, lr_min, epoch, epochs)
    # any order: a resumed run sets its epoch's rate directly
    assert schedule.set_epoch(epochs // 2) == formula(lr, lr_min, epochs // 2, epochs)


def test_a_search_and_a_retraining_record_the_formulas_rates(tmp_path):
    from nasplug import SearchConfig, SearchRun, TrainConfig
    from nasplug.train import train

    run = SearchRun(SearchConfig(space="nb201", space_options={"C": 4, "N": 1}, strategy="random", epochs=3,
                                 steps_per_epoch=1, batch_size=16, eval_batches=1, threads=1),
                    run_dir=tmp_path / "search")
    result = run.run()
    cfg = run.config
    assert [h["lr"] for h in result.history] == [formula(cfg.w_lr, cfg.w_lr_min, e, 3) for e in range(3)]
    report = train(result.genotype_record(), TrainConfig(data="digits", epochs=2, batch_size=256, lr=0.1,
                                                         lr_min=0.01, threads=1), run_dir=tmp_path / "train")
    assert [h["lr"] for h in report.history] == [formula(0.1, 0.01, e, 2) for e in range(2)]
