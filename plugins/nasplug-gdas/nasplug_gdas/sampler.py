"""The GDAS differentiable architecture sampler (Dong & Yang, CVPR 2019, Sec. 3.2).

Per decision (edge) one Gumbel-Max draw picks a single operation (Eq. 6);
the forward pass uses its hard one-hot ``hardwts`` and the backward pass the
gradient of the tempered softmax of Eq. 7 (straight-through).  With the
kernel's :class:`~nasplug.components.Selection` ``index`` set, the supernet
runs only the sampled op of every edge, forward and backward, which is the
paper's "acceleration" (time and memory ~1/|F| of a DARTS mixture); alpha
still gets a gradient for every op through the softmax Jacobian.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from nasplug.components import ArchParameters, Sampler, Selection, check_resumed_options
from nasplug.errors import ConfigError
from nasplug.strategies.fairness import StrictFairness
from nasplug.strategies.op_warmup import DEFAULT_WARMUP_FRACTION, OpWarmup

#: tau_min per space when the user does not set it: the CVPR'19 paper anneals
#: 10 -> 1 (DARTS CNN/RNN spaces); the authors' NAS-Bench-201 code 10 -> 0.1.
TAU_MIN_BY_SPACE = {"nb201": 0.1}
#: carry_unselected per space when the user does not set it: the authors'
#: NAS-Bench-201 search cell (``search_cells.py`` ``NAS201SearchCell.forward_gdas``)
#: adds the unselected ops' hard weights as scalars; their DARTS-space cell does not.
CARRY_UNSELECTED_BY_SPACE = {"nb201": True}
DEFAULT_TAU_MAX = 10.0
DEFAULT_TAU_MIN = 1.0
MAX_REDRAWS = 100


def linear_tau(tau_max: float, tau_min: float, epoch: int, epochs: int) -> float:
    """tau for ``epoch`` of ``epochs``: tau_max at the first epoch, tau_min at the last.

    The authors' code: ``tau = tau_max - (tau_max - tau_min) * epoch / (epochs - 1)``
    (one value per epoch).  A one-epoch search stays at tau_max.
    """
    if epochs <= 1:
        return float(tau_max)
    fraction = min(max(epoch, 0), epochs - 1) / (epochs - 1)
    return float(tau_max - (tau_max - tau_min) * fraction)


def draw_gumbel(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None,
                device: torch.device | str | None = None, dtype=torch.float32) -> torch.Tensor:
    """Gumbel(0, 1) noise as ``-log(E)`` with E ~ Exponential(1) (footnote 1 of the paper, equivalently)."""
    e = torch.empty(shape, dtype=dtype).exponential_(generator=generator)
    return (-e.log()).to(device)


def gumbel_hardwts(alpha: torch.Tensor, tau: float, generator: torch.Generator | None = None,
                   max_redraws: int = MAX_REDRAWS) -> tuple[torch.Tensor, int, torch.Tensor]:
    """One straight-through Gumbel sample of a categorical over ``alpha``'s entries.

    Returns ``(hardwts, index, probs)``:
    ``probs = softmax((log_softmax(alpha) + o) / tau)`` (Eq. 7, o ~ Gumbel),
    ``index = argmax(probs)`` (Eq. 6; the same as argmax of alpha + o), and
    ``hardwts = one_hot(index) - probs.detach() + probs``: exactly one-hot in
    value, with the gradient of ``probs``.  A draw whose noise or
    probabilities hold inf/nan (an Exponential draw of exactly 0, or
    overflow at a tiny tau) is redrawn, as the authors' code does.
    """
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):
        raise ConfigError(f"Gumbel temperature tau must be a positive finite number, got {tau!r}")
    log_p = torch.log_softmax(alpha, dim=-1)
    for _ in range(max_redraws):
        gumbels = draw_gumbel(alpha.shape, generator, alpha.device, alpha.dtype)
        probs = torch.softmax((log_p + gumbels) / tau, dim=-1)
        if torch.isfinite(gumbels).all() and torch.isfinite(probs).all():
            index = int(torch.argmax(probs.detach()))
            one_hot = torch.zeros_like(probs).scatter_(-1, torch.tensor([index], device=probs.device), 1.0)
            hardwts = one_hot - probs.detach() + probs
            return hardwts, index, probs
    raise FloatingPointError(f"{max_redraws} Gumbel draws in a row gave inf/nan for alpha={alpha.tolist()} "
                             f"at tau={tau}")


class GumbelSampler(Sampler):
    """GDAS's sampler: one Gumbel straight-through one-hot per decision per forward pass.

    Options: ``tau_max`` (default 10) and ``tau_min`` (default per space:
    0.1 on ``nb201``, 1 elsewhere, see :data:`TAU_MIN_BY_SPACE`), annealed
    linearly per epoch; ``tau`` fixes the temperature instead.
    ``carry_unselected`` adds the unselected ops' hard weights to the edge
    output as bare scalars (the NAS-Bench-201 search cell of the authors'
    code); False runs and weights only the sampled op, as Sec. 3.2 ("we only
    back-propagate the gradient generated at the argmax") and the authors'
    DARTS-space cell do.  Default per space (:data:`CARRY_UNSELECTED_BY_SPACE`):
    True on ``nb201``, False elsewhere.

    ``op_warmup`` (off by default: not in GDAS) widens a decision to the
    average of all its ops with probability falling from 1 to 0 over the
    first ``warmup_fraction`` of the search (TuNAS's op warmup,
    :mod:`nasplug.strategies.op_warmup`): every op's weights train from the
    start.  A widened decision sends no gradient to its alpha; the Gumbel
    draw is still made, so the random stream is the same.  (On the
    NAS-Bench-201 benchmark it repairs RSPS but not GDAS, whose alpha still
    drifts to skip connections; see this plugin's README.)

    ``strict_fairness`` (off by default: not in GDAS) trains the weights on
    every choice of every decision once per step (FairNAS,
    :mod:`nasplug.strategies.fairness`); the architecture step still uses
    this sampler's Gumbel draw.

    One draw serves every cell sharing the decision (the authors' code: one
    sample per forward call, per batch).  Randomness comes only from
    ``state.generator``, so resumed searches replay the same draws.
    """

    differentiable = True
    single_path = True

    def __init__(self, tau_max: float = DEFAULT_TAU_MAX, tau_min: float | None = None, tau: float | None = None,
                 carry_unselected: bool | None = None, op_warmup: bool = False,
                 warmup_fraction: float = DEFAULT_WARMUP_FRACTION, strict_fairness: bool = False):
        for name, value in (("tau_max", tau_max), ("tau_min", tau_min), ("tau", tau)):
            if value is None and name != "tau_max":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ConfigError(f"gumbel sampler option {name} must be a positive number, got {value!r}")
        if tau_min is not None and tau_min > tau_max:
            raise ConfigError(f"gumbel sampler tau_min ({tau_min}) must not exceed tau_max ({tau_max})")
        if carry_unselected is not None and not isinstance(carry_unselected, bool):
            raise ConfigError(f"gumbel sampler option carry_unselected must be true or false, "
                              f"got {carry_unselected!r}")
        self.tau_max = float(tau_max)
        self.tau_min_option = None if tau_min is None else float(tau_min)
        self.fixed_tau = None if tau is None else float(tau)
        self.carry_unselected = carry_unselected
        self.warmup = OpWarmup(op_warmup, warmup_fraction, "gumbel sampler")
        self.fairness = StrictFairness(strict_fairness, "gumbel sampler")

    def tau_min_for(self, space_name: str) -> float:
        """The annealing end point: the user's tau_min, else the space's default."""
        if self.tau_min_option is not None:
            return self.tau_min_option
        return min(self.tau_max, TAU_MIN_BY_SPACE.get(space_name, DEFAULT_TAU_MIN))

    def carry_unselected_for(self, space_name: str) -> bool:
        """The user's carry_unselected, else the space's default."""
        if self.carry_unselected is not None:
            return self.carry_unselected
        return CARRY_UNSELECTED_BY_SPACE.get(space_name, False)

    def tau(self, state) -> float:
        if self.fixed_tau is not None:
            return self.fixed_tau
        return linear_tau(self.tau_max, self.tau_min_for(state.space.name), state.epoch, state.epochs)

    def sample(self, arch: ArchParameters, state) -> dict[str, Selection]:
        tau = self.tau(state)
        carry = self.carry_unselected_for(state.space.name)
        out = {}
        for name in arch.names():
            hardwts, index, _ = gumbel_hardwts(arch[name], tau, state.generator)
            out[name] = Selection(hardwts, index, carry)
        return self.warmup.widen(out, state)

    def weight_step(self, run, x, y) -> dict[str, float] | None:
        return self.fairness.weight_step(run, x, y)

    def metrics(self, state) -> dict[str, float]:
        return {"tau": self.tau(state), **self.warmup.metrics(state)}

    def state_dict(self) -> dict[str, Any]:
        # tau is a pure function of the epoch; the options are kept to detect a changed resume
        return {"tau_max": self.tau_max, "tau_min": self.tau_min_option, "tau": self.fixed_tau,
                "carry_unselected": self.carry_unselected, **self.warmup.options(), **self.fairness.options()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        # a checkpoint from before op warmup existed ran without it
        saved = {**OpWarmup().options(), **state} if state else {}
        check_resumed_options("gumbel sampler", saved, self.state_dict())
