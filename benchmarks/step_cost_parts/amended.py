"""Amended-DARTS vs second-order DARTS: one full architecture step each (nasplug-amended).

Keys: ``amended_over_darts2nd`` (exact double-backward products, the default,
against DARTS-2nd with the reference code's finite difference),
``amended_fd_over_darts2nd`` (the finite-difference option),
``amended_over_darts2nd_exact`` (both with exact products: what the amended
term itself costs over DARTS's identity-Hessian term) and
``darts1st_over_darts2nd``.  Each step is timed on the same shared batch,
from the same initial weights, with the weights restored between calls.
"""

from __future__ import annotations


def _arch_step_timer(bench, strategy, **options):
    run = bench.run(strategy, optimizer_options=options) if options else bench.run(strategy)
    train_batch, valid_batch = bench.batches()
    run.optimizer.weight_step(run, *train_batch)  # a momentum buffer, as in a running search
    return lambda: run.optimizer.arch_step(run, train_batch, valid_batch)


def measure(bench) -> dict:
    darts2 = bench.time("darts-2nd arch step (finite-difference Hv)", _arch_step_timer(bench, "darts-2nd"))
    amended = bench.time("amended arch step (exact double backward)", _arch_step_timer(bench, "amended"))
    amended_fd = bench.time("amended arch step (finite differences)",
                            _arch_step_timer(bench, "amended", eta=0.1, hvp="finite"))
    darts2_exact = bench.time("darts-2nd arch step (exact double backward)",
                              _arch_step_timer(bench, "darts-2nd", hvp="exact"))
    darts1 = bench.time("darts-1st arch step", _arch_step_timer(bench, "darts"))
    return {"amended_over_darts2nd": amended / darts2, "amended_fd_over_darts2nd": amended_fd / darts2,
            "amended_over_darts2nd_exact": amended / darts2_exact, "darts1st_over_darts2nd": darts1 / darts2}
