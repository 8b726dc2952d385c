"""Contract violations: every failed check names the component and the rule it broke."""

from __future__ import annotations

from typing import Any


class ContractViolation(AssertionError):
    """A component does not keep one rule of the plugin contract (see CONTRIBUTING, "Contract reference").

    An ``AssertionError`` so that pytest reports it as a failed test with
    its message; ``rule`` is the rule's short name, stable across releases.
    """

    def __init__(self, kind: str, name: str, rule: str, detail: str):
        self.kind, self.name, self.rule, self.detail = kind, name, rule, detail
        super().__init__(f"{kind} {name!r} breaks rule [{rule}]: {detail}")


class Skip(Exception):
    """A check that cannot run here (a factory that needs options the kit cannot invent, a dataset on disk)."""


def require(condition: Any, kind: str, name: str, rule: str, detail: str) -> None:
    if not condition:
        raise ContractViolation(kind, name, rule, detail)
