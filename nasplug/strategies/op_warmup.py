"""Op warmup for any single-path sampler (TuNAS, Bender et al., CVPR 2020, Sec. 4.3).

A single-path supernet trains one op per decision per step: on a
NAS-Bench-201 edge of five choices each convolution gets a fifth of the
updates, while skip, pooling and ``none`` need none.  Early in a search the
shared-weight accuracy therefore favours parameter-free cells, so both a
learned sampler (GDAS's alpha) and a final ranking (RSPS) drift to them;
on nb201 at 20 CPU epochs the RSPS supernet's ranking was uncorrelated with
the table (figures in ``plugins/nasplug-nb201/README.md``).  TuNAS's remedy
trains every op from the first step: with probability ``p``, falling
linearly from 1 to 0 over the first ``warmup_fraction`` of the search, a
decision runs every choice and averages their outputs.

The sampler's own draw is still made (so the random stream, and with it a
resumed search, does not depend on the warmup) and kept on the selection as
``sampled`` (:func:`~nasplug.components.drawn_choice`): a policy-gradient
optimizer scores the architecture the policy proposed, and the selection
still stands for one drawn choice.  A widened decision has constant weights,
so it sends no gradient to the architecture parameters.

Filter decisions (a space that searches channel counts defines
``filter_decisions()``) are never widened here: averaging widths is not what
warmup means for them (TuNAS's filter warmup, in ``nasplug-tunas``, enables
the largest).
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs
import torch

from nasplug.components import Selection
from nasplug.errors import ConfigError

DEFAULT_WARMUP_FRACTION = 0.25


@attrs.frozen(eq=False)
class SampledSelection(Selection):
    """A selection that remembers the draw it stands for (``sampled``) when warmup widened it."""

    sampled: int | None = None

    def detach(self) -> "SampledSelection":
        return SampledSelection(self.weights.detach(), self.index, self.carry_unselected, self.sampled)


def check_fraction(name: str, value: float, allow_zero: bool = True) -> float:
    """A fraction of the search in [0, 1) (or (0, 1)); a ConfigError names the option otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        raise ConfigError(f"{name} must be in {'[0' if allow_zero else '(0'}, 1), got {value!r}")
    return float(value)


def warmup_probability(progress: float, warmup_fraction: float = DEFAULT_WARMUP_FRACTION) -> float:
    """p of op warmup and filter warmup: falls linearly from 1 to 0 over the first ``warmup_fraction``.

    ``warmup_fraction`` 0 disables warmup (p = 0 throughout).
    """
    if warmup_fraction <= 0:
        return 0.0
    return max(0.0, 1.0 - progress / warmup_fraction)


def filter_decisions(space: Any) -> dict[str, int]:
    """``{decision: index of its largest filter choice}`` for spaces that search filter counts.

    A space opts in by defining ``filter_decisions()``; others (NAS-Bench-201,
    DARTS) have only op decisions.
    """
    method = getattr(space, "filter_decisions", None)
    return dict(method()) if callable(method) else {}


def uniform_mixture(weights: torch.Tensor, sampled: int | None) -> SampledSelection:
    """Every choice of one decision, outputs averaged; ``sampled`` is the draw it replaces."""
    n = weights.numel()
    return SampledSelection(torch.full((n,), 1.0 / n, device=weights.device), None, False, sampled)


class OpWarmup:
    """The ``op_warmup``/``warmup_fraction`` options of a single-path sampler.

    :meth:`widen` takes the sampler's selections for one step and widens
    each op decision to the uniform mixture with probability
    :meth:`probability`.  When the option is off it returns the selections
    unchanged and draws nothing, so a search without warmup is bit-identical
    to one from before the option existed.
    """

    def __init__(self, op_warmup: bool = False, warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
                 owner: str = "sampler"):
        if not isinstance(op_warmup, bool):
            raise ConfigError(f"{owner} option op_warmup must be true or false, got {op_warmup!r}")
        self.enabled = op_warmup
        self.fraction = check_fraction(f"{owner} option warmup_fraction", warmup_fraction)

    def probability(self, state) -> float:
        return warmup_probability(state.progress, self.fraction) if self.enabled else 0.0

    def widen(self, selections: Mapping[str, Selection], state) -> dict[str, Selection]:
        p = self.probability(state)
        if p <= 0.0:
            return dict(selections)
        filters = filter_decisions(getattr(state, "space", None))
        out: dict[str, Selection] = {}
        for name, selection in selections.items():
            # one Bernoulli(p) per decision, filters included, so the stream does not depend on the space
            warm = float(torch.rand((), generator=state.generator)) < p
            if warm and name not in filters and selection.weights.numel() > 1:
                out[name] = uniform_mixture(selection.weights, selection.index)
            else:
                out[name] = selection
        return out

    def metrics(self, state) -> dict[str, float]:
        return {"op_warmup_p": self.probability(state)} if self.enabled else {}

    def options(self) -> dict[str, Any]:
        """What a checkpoint records, to refuse a resume with other warmup options."""
        return {"op_warmup": self.enabled, "warmup_fraction": self.fraction}
