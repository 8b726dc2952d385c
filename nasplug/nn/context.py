"""Which selection each choice of a running supernet follows.

A user's model keeps its own ``forward(x)``; the supernet wrapper puts the
step's selections here for the length of one forward pass, and every choice
module looks its decision up by name.  A thread-local stack keeps nested or
concurrent forwards (two supernets, data-loader threads) apart.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator, Mapping

from nasplug.components import Selection
from nasplug.errors import NasplugError

_local = threading.local()


class _Frame:
    def __init__(self, selections: Mapping[str, Selection], check_shapes: bool):
        self.selections = selections
        self.check_shapes = check_shapes


@contextlib.contextmanager
def selecting(selections: Mapping[str, Selection], check_shapes: bool = False) -> Iterator[None]:
    """Run the code inside with ``selections``; ``check_shapes`` makes every choice compare its candidates."""
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(_Frame(selections, check_shapes))
    try:
        yield
    finally:
        stack.pop()


def _frame(decision: str) -> _Frame:
    stack = getattr(_local, "stack", None)
    if not stack:
        raise NasplugError(f"choice {decision!r} ran outside a search: a model with choices runs through its "
                           "space (space.build_supernet(...)(x, selections)) or as a plain child "
                           "(space.build_child(genotype, ...))")
    return stack[-1]


def current_selection(decision: str) -> Selection:
    """The selection the running forward pass gives ``decision``."""
    frame = _frame(decision)
    try:
        return frame.selections[decision]
    except KeyError:
        raise NasplugError(f"no selection for decision {decision!r}; the forward pass was given "
                           f"{sorted(frame.selections)}") from None


def checking_shapes(decision: str) -> bool:
    """Whether the running forward pass is the space's dry run (every candidate's output shape is compared)."""
    return _frame(decision).check_shapes
