"""What a search space must offer so that any sampler or optimizer can search it."""

from __future__ import annotations

import abc
from typing import Any, Mapping, Sequence

import attrs
import torch
from torch import nn

from nasplug.components import Selection
from nasplug.errors import ConfigError, GenotypeError


@attrs.frozen
class Decision:
    """One categorical choice of a space: a name and the labels of its choices.

    The name keys a ``torch.nn.ParameterDict``, so it may not contain ``.``.
    """

    name: str = attrs.field()
    choices: tuple[str, ...] = attrs.field(converter=tuple)

    @name.validator
    def _no_dot(self, attribute, value):
        if not value or "." in value:
            raise ConfigError(f"decision name {value!r} must be non-empty and contain no '.'")

    @choices.validator
    def _at_least_one(self, attribute, value):
        if len(value) < 1:
            raise ValueError(f"decision {self.name!r} has no choices")


class Genotype(abc.ABC):
    """A discrete architecture of one space, serialisable to JSON."""

    @abc.abstractmethod
    def to_json(self) -> Any:
        """A JSON-compatible value from which the space can rebuild this genotype."""


class Supernet(nn.Module):
    """A weight-sharing network whose forward takes one selection per decision."""

    def forward(self, x: torch.Tensor, selections: Mapping[str, Selection]) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class SearchSpace(abc.ABC):
    """A set of architectures with decisions, a supernet and child networks.

    Concrete spaces are frozen attrs classes whose fields are the space's
    options (channels, cells, ...), validated on construction.
    """

    #: the registry name; set by each space class.
    name: str = ""
    #: small options for the conformance kit (:mod:`nasplug.testing`); set a dict in each space class
    test_options: dict = {}
    #: the (C, H, W) input the kit feeds supernets and children; None for a space whose networks take no images
    test_input_shape: tuple[int, int, int] | None = (1, 8, 8)

    @property
    @abc.abstractmethod
    def decisions(self) -> tuple[Decision, ...]:
        """Every decision, in a fixed order. Decisions that share parameters appear once."""

    @abc.abstractmethod
    def build_supernet(self, input_shape: tuple[int, int, int], num_classes: int) -> Supernet:
        """The weight-sharing network holding every choice."""

    @abc.abstractmethod
    def build_child(self, genotype: Genotype, input_shape: tuple[int, int, int], num_classes: int,
                    **train_options: Any) -> nn.Module:
        """A standalone network for ``genotype`` (``forward(x) -> logits``)."""

    @abc.abstractmethod
    def derive(self, probabilities: Mapping[str, Sequence[float] | torch.Tensor]) -> Genotype:
        """The discrete architecture the space's rule keeps from per-decision probabilities."""

    @abc.abstractmethod
    def genotype_from_choices(self, choices: Mapping[str, int]) -> Genotype:
        """The genotype of one choice index per decision (raises GenotypeError if it is not valid)."""

    @abc.abstractmethod
    def choices_from_genotype(self, genotype: Genotype) -> dict[str, int]:
        """The inverse of :meth:`genotype_from_choices`."""

    @abc.abstractmethod
    def genotype_from_json(self, data: Any) -> Genotype:
        """Rebuild a genotype from :meth:`Genotype.to_json` output (or the space's string form)."""

    def sample(self, generator: torch.Generator | None = None) -> dict[str, int]:
        """A uniformly random valid architecture as choice indices.

        The default draws every decision independently; spaces with
        constraints (DARTS keeps two inputs per node) override it.
        """
        return {
            d.name: int(torch.randint(len(d.choices), (1,), generator=generator))
            for d in self.decisions
        }

    def options(self) -> dict[str, Any]:
        """The space's options, enough to rebuild it through the registry."""
        return attrs.asdict(self, recurse=False) if attrs.has(type(self)) else {}

    def child_defaults(self) -> dict[str, Any]:
        """Option changes for a retrained child (DARTS: 36 channels, 20 cells); none by default."""
        return {}

    def selections(self, choices: Mapping[str, int], device: torch.device | str | None = None) -> dict[str, Selection]:
        """One-hot single-path selections for a discrete architecture."""
        return {d.name: Selection.one_hot(len(d.choices), self.choice_index(d, choices), device)
                for d in self.decisions}

    def choice_index(self, decision: Decision, choices: Mapping[str, int]) -> int:
        """The index ``choices`` holds for ``decision``; a GenotypeError if it is missing or out of range."""
        if decision.name not in choices:
            raise GenotypeError(f"choices lack decision {decision.name!r}; the space's decisions are "
                                f"{self.decision_names()}")
        index = int(choices[decision.name])
        if not 0 <= index < len(decision.choices):
            raise GenotypeError(f"choice {index} for {decision.name!r} is out of range 0..{len(decision.choices) - 1}")
        return index

    def decision_names(self) -> list[str]:
        return [d.name for d in self.decisions]

    def decision(self, name: str) -> Decision:
        for d in self.decisions:
            if d.name == name:
                return d
        raise GenotypeError(f"unknown decision {name!r}; known: {', '.join(self.decision_names())}")


def as_probability_lists(probabilities: Mapping[str, Sequence[float] | torch.Tensor]) -> dict[str, list[float]]:
    """Normalise per-decision probabilities to plain float lists."""
    out = {}
    for name, p in probabilities.items():
        if isinstance(p, torch.Tensor):
            p = p.detach().cpu().tolist()
        out[name] = [float(v) for v in p]
    return out
