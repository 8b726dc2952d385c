"""The two schedules of TuNAS, as pure functions of search progress.

Both are written against ``progress = global_step / total_steps`` in [0, 1)
so that they mean the same thing for a 90-epoch ImageNet search and a
200-step CPU search.
"""

from __future__ import annotations

from nasplug.errors import ConfigError


def check_fraction(name: str, value: float, allow_zero: bool = True) -> float:
    """A fraction of the search in [0, 1) (or (0, 1)); a ConfigError names the option otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        raise ConfigError(f"{name} must be in {'[0' if allow_zero else '(0'}, 1), got {value!r}")
    return float(value)


def warmup_probability(progress: float, warmup_fraction: float = 0.25) -> float:
    """p of op warmup and filter warmup (Sec. 4.3): falls linearly from 1 to 0 over the first ``warmup_fraction``.

    ``warmup_fraction`` 0 disables warmup (p = 0 throughout).
    """
    if warmup_fraction <= 0:
        return 0.0
    return max(0.0, 1.0 - progress / warmup_fraction)


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
