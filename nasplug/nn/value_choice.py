"""An integer (or other) value chosen by the search: widths, kernel sizes, expansion ratios, depths."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from nasplug.errors import ConfigError


def check_label(label: Any) -> str | None:
    """A label names a decision, which keys a ParameterDict: a non-empty string without '.'."""
    if label is None:
        return None
    if not isinstance(label, str) or not label or "." in label:
        raise ConfigError(f"choice label {label!r} must be a non-empty string without '.'")
    return label


class ValueChoice:
    """One decision among ``values``; the same object (or the same ``label``) used in two places is one decision.

    ``ValueChoice([16, 32, 48])`` as a width, ``ValueChoice([3, 5, 7])`` as a
    kernel size.  Arithmetic gives a value that follows the same decision:
    ``ValueChoice([3, 6]) * 16`` is 48 or 96 channels, chosen together with
    the ratio (an expansion ratio times the block's input width).
    """

    def __init__(self, values: Iterable[Any], label: str | None = None):
        values = tuple(values)
        if not values:
            raise ConfigError("a ValueChoice needs at least one value")
        if len(set(values)) != len(values):
            raise ConfigError(f"ValueChoice values must be distinct, got {list(values)}")
        self.values = values
        self.label = check_label(label)
        self.root: ValueChoice = self
        self._fn: Callable[[Any], Any] | None = None

    def map(self, fn: Callable[[Any], Any]) -> "ValueChoice":
        """A value computed from this one's: chosen by the same decision."""
        derived = ValueChoice.__new__(ValueChoice)
        derived.root, derived.label = self.root, self.root.label
        inner = self._fn
        derived._fn = (lambda v: fn(inner(v))) if inner is not None else fn
        derived.values = tuple(derived._fn(v) for v in self.root.values)
        return derived

    def __mul__(self, factor: Any) -> "ValueChoice":
        return self.map(lambda v: v * factor)

    __rmul__ = __mul__

    def __add__(self, other: Any) -> "ValueChoice":
        return self.map(lambda v: v + other)

    __radd__ = __add__

    @property
    def choice_labels(self) -> tuple[str, ...]:
        """The decision's choice labels: the root values as text."""
        return tuple(str(v) for v in self.root.values)

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"ValueChoice({list(self.values)}{label})"


def int_choice(value: Any, what: str, minimum: int = 1) -> tuple[int, ValueChoice | None]:
    """(largest value, the choice or None) of an int-or-ValueChoice argument, each value checked."""
    values = value.values if isinstance(value, ValueChoice) else (value,)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ConfigError(f"{what} must be an integer >= {minimum} or a ValueChoice of them, got {v!r}")
    return max(values), (value if isinstance(value, ValueChoice) else None)
