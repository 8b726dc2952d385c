"""What a search-quality claim over seeds must carry: seeds, mean, std, worst seed and a bootstrap 95% interval.

A weight-sharing search on NAS-Bench-201 is bimodal (a seed finds a
convolution-rich cell or a parameter-free one), so a mean over three seeds
hides what a user gets on their first try.  Every benchmark row reports
:func:`seed_summary`; the interval is a percentile bootstrap of the mean
(Efron & Tibshirani 1993, Ch. 13) with a fixed resampling seed, so the same
figures always print the same interval.  With few seeds the percentile
interval is narrower than the truth (it cannot reach past the observed
extremes): read it together with the worst seed.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

#: resamples of a bootstrap: the interval's ends move by well under 0.05 points between resampling seeds
RESAMPLES = 10_000


def finite(values: Sequence[float | None]) -> list[float]:
    """The values that are numbers and finite (unfinished or failed seeds are None or nan)."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, resamples: int = RESAMPLES, seed: int = 0,
                 statistic: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` (the mean by default) over ``values``.

    ``statistic`` maps a (resamples, n) array to one value per row; rows
    where it is nan are left out.  One value gives the degenerate interval
    (v, v); none gives (nan, nan).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}")
    data = np.asarray(finite(values), dtype=float)
    if data.size == 0:
        return math.nan, math.nan
    statistic = statistic or (lambda sample: sample.mean(axis=1))
    rng = np.random.default_rng(seed)
    draws = np.asarray(statistic(data[rng.integers(0, data.size, size=(resamples, data.size))]), dtype=float)
    draws = draws[np.isfinite(draws)]  # a resample on which the statistic is undefined (a constant ranking's tau)
    if draws.size == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def seed_summary(values: Sequence[float | None]) -> dict[str, object]:
    """``{seeds, mean, std, worst, ci95}`` of per-seed results (higher is better); nan fields when none finished.

    ``std`` is the sample standard deviation (0 for one seed); ``worst`` the
    lowest seed; ``ci95`` the bootstrap 95% interval of the mean.
    """
    data = finite(values)
    if not data:
        return {"seeds": 0, "mean": math.nan, "std": math.nan, "worst": math.nan, "ci95": [math.nan, math.nan]}
    return {"seeds": len(data), "mean": float(np.mean(data)),
            "std": float(np.std(data, ddof=1)) if len(data) > 1 else 0.0,
            "worst": min(data), "ci95": list(bootstrap_ci(data))}
