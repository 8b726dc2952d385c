"""The two schedules of TuNAS, as pure functions of search progress.

Both are written against ``progress = global_step / total_steps`` in [0, 1)
so that they mean the same thing for a 90-epoch ImageNet search and a
200-step CPU search.
"""

from __future__ import annotations

# op warmup is the kernel's (any single-path sampler can use it); re-exported for this plugin's callers
from nasplug.strategies.op_warmup import check_fraction, warmup_probability  # noqa: F401


def rl_lr_multiplier(progress: float, delay_fraction: float = 0.25, growth: float = 10.0) -> float:
    """Factor on the controller's base learning rate (Sec. 4.2, footnote 4, Appendix B).

    Zero for the first ``delay_fraction`` of the search (the shared weights
    learn first), then ``growth ** q`` with q rising linearly from 0 to 1 over
    the remaining steps: the exponential increase that makes the most likely
    architecture at the end match the average sampled one.
    """
    if progress < delay_fraction:
        return 0.0
    q = (progress - delay_fraction) / max(1e-12, 1.0 - delay_fraction)
    return float(growth) ** min(1.0, max(0.0, q))
