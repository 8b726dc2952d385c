"""The component contracts every strategy is built from.

A search step is: a :class:`Sampler` turns the :class:`ArchParameters` into one
:class:`Selection` per decision of the space; the supernet runs with those
selections; an :class:`ArchOptimizer` updates the weights and the
architecture.  Strategies that trade accuracy for cost add a
:class:`LatencyModel` and a :class:`Reward`.  Every contract is small so that
parts from different papers (a GDAS sampler, a TuNAS reward, a NAS-Bench-201
space) compose without knowing each other.
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import attrs
import torch
from torch import nn

from nasplug.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from nasplug.spaces.base import Decision, Genotype, SearchSpace

#: The search an :class:`ArchOptimizer` steps (:class:`nasplug.search.run.SearchRun`).  Named, not imported:
#: the contracts sit at the bottom of the kernel and never import the loop that runs them.
SearchRun = Any


@attrs.define
class SearchState:
    """Where the search is; samplers and optimizers read their schedules from it."""

    space: "SearchSpace"
    generator: torch.Generator
    epochs: int
    steps_per_epoch: int
    epoch: int = 0
    step_in_epoch: int = 0

    @property
    def global_step(self) -> int:
        return self.epoch * self.steps_per_epoch + self.step_in_epoch

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def progress(self) -> float:
        """Fraction of the search done, in [0, 1)."""
        return self.global_step / max(1, self.total_steps)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of a batch's logits (the quality signal of most strategies)."""
    return float((logits.argmax(dim=1) == y).float().mean())


@attrs.frozen(eq=False)
class Selection:
    """What one decision contributes to one forward pass.

    ``weights`` has one entry per choice.  With ``index`` set, only that
    choice is computed (single-path: uniform, Gumbel, REINFORCE samples) and
    its output is scaled by ``weights[index]``, which may carry gradient
    (GDAS's straight-through one-hot).  With ``index`` unset every choice with
    a non-zero weight is computed and the outputs are summed with their
    weights (the DARTS mixture, TuNAS op warm-up).

    ``carry_unselected`` adds the other weights as bare scalars to the
    single-path output: zero in value for a hard one-hot, but it routes a
    gradient to every logit through the edge output (GDAS's NAS-Bench-201 code).
    """

    weights: torch.Tensor
    index: int | None = None
    carry_unselected: bool = False

    @classmethod
    def one_hot(cls, num_choices: int, index: int, device: torch.device | str | None = None) -> "Selection":
        weights = torch.zeros(num_choices, device=device)
        weights[index] = 1.0
        return cls(weights, index)

    def detach(self) -> "Selection":
        return Selection(self.weights.detach(), self.index, self.carry_unselected)


def apply_selection(choices: Sequence[nn.Module], x: torch.Tensor, selection: Selection) -> torch.Tensor:
    """Run the chosen op(s) of one decision on ``x`` as ``selection`` says.

    This is the single place where single-path and mixture semantics are
    defined, so every space computes exactly the ops a sampler asked for.
    """
    weights = selection.weights
    if selection.index is not None:
        i = selection.index
        out = weights[i] * choices[i](x)
        if selection.carry_unselected:
            out = out + (weights.sum() - weights[i])
        return out
    out = None
    for w, op in zip(weights, choices):
        if w.requires_grad or float(w) != 0.0:
            term = w * op(x)
            out = term if out is None else out + term
    if out is None:
        raise ValueError("a mixture selection must have at least one non-zero weight")
    return out


class ArchParameters(nn.Module):
    """One vector of logits (alpha) per decision of a space.

    Decisions that share parameters (all normal cells of DARTS) are a single
    decision of the space, so this is a flat map.  ``init_std`` 1e-3 matches
    DARTS/GDAS (random near-uniform); 0 matches TuNAS (exactly uniform).
    """

    def __init__(self, decisions: Sequence["Decision"], init_std: float = 1e-3,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.decisions = tuple(decisions)
        self.logits = nn.ParameterDict()
        for decision in self.decisions:
            init = torch.randn(len(decision.choices), generator=generator) * init_std
            self.logits[decision.name] = nn.Parameter(init)

    def __getitem__(self, name: str) -> nn.Parameter:
        return self.logits[name]

    def names(self) -> list[str]:
        return [d.name for d in self.decisions]

    def probabilities(self) -> dict[str, torch.Tensor]:
        """softmax(alpha) per decision, detached."""
        return {name: torch.softmax(p.detach(), dim=-1) for name, p in self.logits.items()}

    def argmax(self) -> dict[str, int]:
        return {name: int(torch.argmax(p.detach())) for name, p in self.logits.items()}


def drawn_choice(selection: Selection) -> int | None:
    """The one choice a selection stands for, or None for a mixture.

    That is ``index`` for a single-path selection.  A selection that was
    widened for the weights' sake (TuNAS's op warm-up runs every op) may
    record the draw it replaced as a ``sampled`` attribute; that draw is
    the architecture a policy-gradient optimizer scores and credits.
    """
    sampled = getattr(selection, "sampled", None)
    if sampled is not None:
        return int(sampled)
    return None if selection.index is None else int(selection.index)


def check_resumed_options(owner: str, saved: Mapping[str, Any], now: Mapping[str, Any]) -> None:
    """Refuse to resume a checkpoint written by a component with other options.

    An empty ``saved`` (a checkpoint from before the component recorded its
    options) is accepted.
    """
    if saved and dict(saved) != dict(now):
        raise ConfigError(f"checkpoint was written by a {owner} with options {dict(saved)}, this one has {dict(now)}")


class Sampler(abc.ABC):
    """Turns architecture parameters into one forward pass's selections.

    Two class attributes declare what the sampler gives, so that a run can
    refuse an architecture optimizer that cannot use it before anything is
    built or written (:mod:`nasplug.search.compose`), and the conformance
    kit (:mod:`nasplug.testing`) checks the declarations against real samples.
    """

    #: True when the selections carry gradient to the architecture parameters.
    differentiable: bool = False
    #: True when every selection stands for one drawn choice (:func:`drawn_choice` is not None):
    #: uniform, Gumbel, categorical draws.  False for a relaxed mixture (the DARTS softmax).
    single_path: bool = False

    @abc.abstractmethod
    def sample(self, arch: ArchParameters, state: "SearchState") -> dict[str, Selection]:
        """Selections for every decision; ``state.generator`` is the only randomness allowed."""

    def metrics(self, state: "SearchState") -> dict[str, float]:
        """Values worth logging each epoch (a temperature, say)."""
        return {}

    def weight_step(self, run: "SearchRun", x: torch.Tensor, y: torch.Tensor) -> dict[str, float] | None:
        """Train the weights this step in the sampler's own way, or None for one path from :meth:`sample`.

        Strict fairness (:mod:`nasplug.strategies.fairness`) trains several
        paths per step with one update; the default weight step of
        :class:`ArchOptimizer` asks here first.
        """
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None


class ArchOptimizer(abc.ABC):
    """The per-step update rule of a strategy.

    The search loop calls :meth:`weight_step` on a training batch and
    :meth:`arch_step` on a validation batch every step, in the order
    :attr:`arch_first` says.  The default weight step is the common one
    (a sampled forward pass, cross-entropy, the run's SGD optimizer); a
    strategy that samples the weights too (GibbsNAS) overrides it.
    """

    #: DARTS updates alpha before the weights; GDAS and TuNAS after.
    arch_first: bool = False
    #: What the optimizer needs from the rest of the run, checked before a run is built:
    #: a sampler whose selections carry gradient to alpha (gradient, DARTS, GibbsNAS) ...
    needs_differentiable_sampler: bool = False
    #: ... a sampler that draws one choice per decision (REINFORCE scores the drawn architecture) ...
    needs_single_path_sampler: bool = False
    #: ... or a latency target (``--latency-target``), for an optimizer that only makes sense with a cost.
    needs_latency_target: bool = False
    #: The rank samplings ("shared", "per-rank") under which this optimizer runs data-parallel
    #: (:mod:`nasplug.distributed`): its steps average their gradients over the ranks
    #: (``run.average_gradients``) before stepping.  Empty: a distributed search refuses it,
    #: giving :attr:`data_parallel_refusal` as the reason.
    data_parallel: tuple[str, ...] = ()
    data_parallel_refusal: str | None = None

    def setup(self, run: "SearchRun") -> None:
        """Called once the run has its supernet, arch parameters and optimizers."""

    def weight_step(self, run: "SearchRun", x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        own = run.sampler.weight_step(run, x, y)  # a fair sampler trains all its paths itself
        if own is not None:
            return own
        selections = {k: s.detach() for k, s in run.sample().items()}
        return run.sgd_step(x, y, selections)

    @abc.abstractmethod
    def arch_step(self, run: "SearchRun", train_batch: tuple[torch.Tensor, torch.Tensor],
                  valid_batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        """Update the architecture parameters; return metrics to log."""

    def final_genotype(self, run: "SearchRun") -> "Genotype":
        """The architecture this strategy reports at the end (default: the space's derivation rule)."""
        return run.space.derive(run.arch_distribution())

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        return None


class Reward(abc.ABC):
    """Combines a quality signal Q (higher is better) and a cost T into one reward: ``reward(Q, T)``.

    Implement :meth:`__call__`; it must work on floats and on tensors alike
    so that gradient-based strategies can use a reward as a differentiable
    objective (``-reward``).  ``target`` is the latency target T0: the run
    passes ``--latency-target`` (``SearchConfig.latency_target``) to the
    factory as ``target=``.  A reward that needs no target (a linear penalty
    ``Q - lambda * T``) sets ``needs_target = False`` and may be built
    without one; ``self.target`` is then None.
    """

    #: False for a reward defined without a target T0; such a reward may be used without --latency-target.
    needs_target: bool = True

    def __init__(self, target: float | None = None, beta: float = -0.07):
        if target is None and not self.needs_target:
            self.target = None
        elif target is None or isinstance(target, bool) or not (
                isinstance(target, (int, float)) and math.isfinite(target) and target > 0):
            raise ConfigError(f"reward needs a positive latency target T0 (--latency-target), got target={target!r}")
        else:
            self.target = float(target)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
            raise ConfigError(f"{type(self).__name__} beta must be a finite number, got beta={beta!r}")
        self.beta = float(beta)

    @abc.abstractmethod
    def __call__(self, quality: Any, cost: Any) -> Any:
        ...


class LatencyModel(abc.ABC):
    """Predicts the cost (milliseconds, unless :attr:`unit` says otherwise) of an architecture.

    ``cache_dir`` is the run directory of the search that uses the model (None
    without one); :class:`~nasplug.search.run.SearchRun` sets it before it
    calls :meth:`prepare`.  A model that measures something costly or noisy
    (a timed lookup table) saves it there and reloads it when it finds it, so
    ``nasplug resume`` continues with exactly the costs the run started with.
    """

    unit: str = "ms"
    cache_dir: "Path | None" = None

    def prepare(self, space: "SearchSpace", input_shape: tuple[int, ...], num_classes: int) -> None:
        """Build or load what prediction needs (measure a table, read a file; see :attr:`cache_dir`)."""

    @abc.abstractmethod
    def predict(self, choices: Mapping[str, int]) -> float:
        """Cost of the architecture given by one choice index per decision."""

    @abc.abstractmethod
    def decision_costs(self) -> tuple[float, dict[str, torch.Tensor]]:
        """An additive form of the model: a base cost and, per decision, one cost per choice.

        Gradient-based strategies use it to take the expected cost under their
        selection weights (:meth:`expected`); a model that is not additive
        returns its best additive fit.
        """

    def expected(self, selections: Mapping[str, Selection]) -> torch.Tensor:
        """Cost under the selections' weights; differentiable through them."""
        base, costs = self.decision_costs()
        total = torch.tensor(float(base))
        for name, selection in selections.items():
            if name in costs:
                c = torch.as_tensor(costs[name], dtype=selection.weights.dtype, device=selection.weights.device)
                total = total.to(c.device) + (selection.weights * c).sum()
        return total


class Benchmark(abc.ABC):
    """A ground-truth oracle (a tabular benchmark) for genotypes of some spaces."""

    @abc.abstractmethod
    def supports(self, space: "SearchSpace") -> bool:
        """Whether genotypes of ``space`` can be looked up."""

    @abc.abstractmethod
    def query(self, space: "SearchSpace", genotype: "Genotype") -> dict[str, float]:
        """Metrics of ``genotype`` (e.g. ``{"test_accuracy": 93.7}``); keys are the benchmark's own."""
