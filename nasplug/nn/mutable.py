"""The base of every searchable module: its decisions, how it runs one, and what it becomes in a child."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from nasplug.components import apply_selection
from nasplug.errors import ConfigError, NasplugError
from nasplug.nn.context import checking_shapes, current_selection
from nasplug.nn.value_choice import ValueChoice


class Mutable(nn.Module):
    """A module holding one or more :class:`ValueChoice` decisions ("roles": ``out_channels``, ``op``, ...).

    The space names each decision when it collects them (:meth:`bind`);
    :meth:`choose` runs the candidates of one role through the kernel's one
    :func:`~nasplug.components.apply_selection`, so single path, mixture and
    GDAS's straight-through weights mean here what they mean in every space.
    """

    #: auto-named decisions are the module path, plus ``/role`` when the module has several roles
    role_in_name: bool = True

    def value_choices(self) -> list[tuple[str, ValueChoice]]:
        """(role, choice) for every decision this module follows, in a fixed order."""
        return []

    def bind(self, names: Mapping[str, str]) -> None:
        self._decision_names = dict(names)

    def decision_name(self, role: str) -> str:
        try:
            return self._decision_names[role]
        except (AttributeError, KeyError):
            raise NasplugError(f"{type(self).__name__} ran before its space named its decisions; build the "
                               "network through nasplug.nn.model_space(...)") from None

    def choose(self, role: str, candidates: Sequence[Callable[[Any], torch.Tensor]], x: Any) -> torch.Tensor:
        """The output of ``candidates`` (one per choice of ``role``) on ``x`` as the current selection says."""
        name = self.decision_name(role)
        if checking_shapes(name):
            outputs = [c(x) for c in candidates]
            shapes = [tuple(out.shape) for out in outputs]
            if len(set(shapes)) > 1:
                labels = dict(self.value_choices())[role].choice_labels
                listing = ", ".join(f"{label}: {list(s)}" for label, s in zip(labels, shapes))
                raise ConfigError(f"decision {name!r}: its candidates give different output shapes ({listing}); "
                                  "every choice of one decision must give the same shape")
            candidates = [_Computed(out) for out in outputs]  # each candidate once, even when choices nest
        return apply_selection(candidates, x, current_selection(name))  # type: ignore[arg-type]

    def over(self, role: str, choice: ValueChoice | None, fixed: Any, x: Any,
             run: Callable[[Any, Any], torch.Tensor]) -> torch.Tensor:
        """``run(x, value)`` for the value of ``role``: the fixed value, or each candidate value via :meth:`choose`."""
        if choice is None:
            return run(x, fixed)
        return self.choose(role, [_Bound(run, v) for v in choice.values], x)

    def live_width(self, role: str, choice: ValueChoice | None, received: int) -> int:
        """How many of the ``received`` input channels are live: the chosen width of the layer before on a single
        path (the rest are its zero mask, skipped so that compute and counted MACs are the child's), else all."""
        if choice is None:
            return received
        selection = current_selection(self.decision_name(role))
        if selection.index is None:
            return received
        return min(received, choice.values[selection.index])

    def freeze(self, values: Mapping[str, Any], inherit: bool) -> nn.Module:
        """The plain module for the chosen ``values`` (role -> value); with ``inherit``, the sliced weights."""
        raise NotImplementedError


class _Computed:
    """A candidate whose output is already known (the dry run computed it to compare shapes)."""

    def __init__(self, output: torch.Tensor):
        self.output = output

    def __call__(self, x: Any) -> torch.Tensor:
        return self.output


class _Bound:
    """``run(x, value)`` with the value fixed: one candidate of a value choice."""

    def __init__(self, run: Callable[[Any, Any], torch.Tensor], value: Any):
        self.run, self.value = run, value

    def __call__(self, x: Any) -> torch.Tensor:
        return self.run(x, self.value)


def pad_channels(out: torch.Tensor, total: int, dim: int = 1) -> torch.Tensor:
    """Zero channels after the live ones, up to ``total``: TuNAS's mask, so every width has one shape."""
    missing = total - out.shape[dim]
    if missing <= 0:
        return out
    shape = list(out.shape)
    shape[dim] = missing
    return torch.cat([out, out.new_zeros(shape)], dim=dim)


def check_input_width(module: nn.Module, got: int, maximum: int, what: str) -> None:
    if got > maximum:
        raise ConfigError(f"{type(module).__name__}: its input has {got} {what}, more than its maximum {maximum}; "
                          f"give it an {what} choice whose largest value covers the widest input")
