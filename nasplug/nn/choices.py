"""Choices among modules, among earlier tensors, and of a block's depth."""

from __future__ import annotations

import copy
import inspect
import itertools
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from nasplug.errors import ConfigError
from nasplug.nn.mutable import Mutable
from nasplug.nn.plain import SelectInputs
from nasplug.nn.value_choice import ValueChoice, check_label

REDUCTIONS = ("sum", "mean", "concat")


class LayerChoice(Mutable):
    """One of several candidate modules; ``candidates`` a mapping name -> module (or a list, named 0, 1, ...).

    Two LayerChoices with one ``label`` and the same candidate names are one decision.
    """

    role_in_name = False

    def __init__(self, candidates: Mapping[str, nn.Module] | Sequence[nn.Module], label: str | None = None):
        super().__init__()
        items = list(candidates.items()) if isinstance(candidates, Mapping) else \
            [(str(i), m) for i, m in enumerate(candidates)]
        if not items:
            raise ConfigError("a LayerChoice needs at least one candidate module")
        for name, module in items:
            if not isinstance(module, nn.Module):
                raise ConfigError(f"LayerChoice candidate {name!r} must be an nn.Module, got {type(module).__name__}")
            if not isinstance(name, str) or not name or "." in name:
                raise ConfigError(f"LayerChoice candidate name {name!r} must be a non-empty string without '.'")
        self.candidates = nn.ModuleDict(items)
        self.choice = ValueChoice([name for name, _ in items], check_label(label))

    def value_choices(self):
        return [("op", self.choice)]

    def forward(self, x):
        return self.choose("op", list(self.candidates.values()), x)

    def freeze(self, values, inherit):
        return self.candidates[values["op"]]


class InputChoice(Mutable):
    """Keeps ``n_chosen`` of ``n_candidates`` earlier tensors and reduces them (sum, mean or concat).

    Each way to keep ``n_chosen`` of them is one choice of the decision
    (labelled ``"0+2"``), so the space stays a set of categorical decisions.
    """

    role_in_name = False

    def __init__(self, n_candidates: int, n_chosen: int = 1, reduction: str = "sum", label: str | None = None):
        super().__init__()
        for what, value in (("n_candidates", n_candidates), ("n_chosen", n_chosen)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"InputChoice {what} must be a positive integer, got {value!r}")
        if n_chosen > n_candidates:
            raise ConfigError(f"InputChoice n_chosen={n_chosen} exceeds n_candidates={n_candidates}")
        if reduction not in REDUCTIONS:
            raise ConfigError(f"InputChoice reduction {reduction!r} is not allowed; choose one of "
                              f"{', '.join(REDUCTIONS)}")
        self.n_candidates, self.n_chosen, self.reduction = n_candidates, n_chosen, reduction
        self.combinations = list(itertools.combinations(range(n_candidates), n_chosen))
        self.choice = ValueChoice(["+".join(map(str, c)) for c in self.combinations], check_label(label))
        self._selectors = [SelectInputs(c, reduction) for c in self.combinations]

    def value_choices(self):
        return [("inputs", self.choice)]

    def forward(self, inputs: Sequence[torch.Tensor]):
        if len(inputs) != self.n_candidates:
            raise ConfigError(f"InputChoice was given {len(inputs)} tensors; it was declared with "
                              f"n_candidates={self.n_candidates}")
        return self.choose("inputs", self._selectors, list(inputs))

    def freeze(self, values, inherit):
        return self._selectors[self.choice.values.index(values["inputs"])]


def _depth_choice(depth: Any, label: str | None) -> ValueChoice:
    if isinstance(depth, ValueChoice):
        choice = depth
    elif isinstance(depth, tuple) and len(depth) == 2:
        choice = ValueChoice(range(depth[0], depth[1] + 1), label)
    elif isinstance(depth, (list, range)):
        choice = ValueChoice(depth, label)
    else:
        raise ConfigError(f"Repeat depth must be a (min, max) tuple, a list of depths or a ValueChoice, got {depth!r}")
    for v in choice.values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"Repeat depths must be integers >= 0, got {v!r}")
    return choice


class Repeat(Mutable):
    """A block repeated a chosen number of times: ``Repeat(lambda i: Block(...), depth=(1, 3))``.

    ``block`` is a module (deep-copied for each repetition) or a function of
    the repetition's index.  The supernet holds the deepest stack; a depth
    ``d`` runs the first ``d`` blocks (depth 0: the input passes through).
    """

    role_in_name = False

    def __init__(self, block: nn.Module | Callable[..., nn.Module], depth: Any, label: str | None = None):
        super().__init__()
        self.choice = _depth_choice(depth, check_label(label))
        most = max(self.choice.values)
        if isinstance(block, nn.Module):
            blocks = [copy.deepcopy(block) for _ in range(most)]
        elif callable(block):
            takes_index = bool(inspect.signature(block).parameters)
            blocks = [block(i) if takes_index else block() for i in range(most)]
        else:
            raise ConfigError(f"Repeat block must be an nn.Module or a function returning one, got {block!r}")
        self.blocks = nn.ModuleList(blocks)

    def value_choices(self):
        return [("depth", self.choice)]

    def forward(self, x):
        outputs = [x]  # outputs[d]: after d blocks, computed once whichever depths the selection runs

        def after(_x, depth):
            while len(outputs) <= depth:
                outputs.append(self.blocks[len(outputs) - 1](outputs[-1]))
            return outputs[depth]

        return self.over("depth", self.choice, None, x, after)

    def freeze(self, values, inherit):
        depth = values["depth"]
        return nn.Sequential(*self.blocks[:depth]) if depth else nn.Identity()
