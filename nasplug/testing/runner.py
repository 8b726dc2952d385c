"""Running the conformance kit over a distribution's components: as pytest cases or from the command line."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from typing import Callable, Iterator

import attrs

from nasplug.registry import Registry, canonical, default_registry
from nasplug.testing.rules import ContractViolation, Skip
from nasplug.testing.search_parts import (check_arch_optimizer, check_dataset, check_genotype, check_latency_model,
                                          check_proxy, check_reward, check_sampler_resumes, check_strategy)
from nasplug.testing.spaces import check_space

#: registry kind -> the check every component of that kind must pass
CHECKS: dict[str, Callable[..., None]] = {
    "space": check_space,
    "sampler": check_sampler_resumes,
    "arch_optimizer": check_arch_optimizer,
    "reward": check_reward,
    "latency_model": check_latency_model,
    "dataset": check_dataset,
    "strategy": check_strategy,
    "genotype": check_genotype,
    "proxy": check_proxy,
}


@attrs.frozen
class Case:
    """One component and the check it must pass."""

    kind: str
    name: str  # qualified: distribution:name

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    def run(self, registry: Registry | None = None) -> None:
        """Run the check in a temporary working directory; raises ContractViolation or Skip."""
        with scratch_directory():
            CHECKS[self.kind](self.name, registry or default_registry())

    def run_in_pytest(self, registry: Registry | None = None) -> None:
        """:meth:`run` inside a pytest test: a check that cannot run here becomes a skip, not a pass."""
        import pytest

        try:
            self.run(registry)
        except Skip as exc:
            pytest.skip(str(exc))


@contextlib.contextmanager
def scratch_directory() -> Iterator[str]:
    """Everything a check writes goes to a temporary directory that is removed afterwards."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="nasplug-testing-") as tmp:
        os.chdir(tmp)
        try:
            yield tmp
        finally:
            os.chdir(previous)


def cases(distribution: str | None = None, registry: Registry | None = None) -> list[Case]:
    """Every component ``distribution`` provides (every installed one for None), one case each."""
    registry = registry or default_registry()
    found = []
    for kind in CHECKS:
        for entry in registry.entries(kind):
            if distribution is None or canonical(entry.plugin) == canonical(distribution):
                found.append(Case(kind, entry.qualified))
    return found


def run_cases(selected: list[Case], registry: Registry | None = None,
              report: Callable[[str], None] = print) -> int:
    """Run ``selected``, reporting one line each; the number of violations."""
    failures = 0
    for case in selected:
        started = time.perf_counter()
        try:
            case.run(registry)
        except Skip as exc:
            report(f"skip  {case}: {exc}")
        except ContractViolation as exc:
            failures += 1
            report(f"FAIL  {case}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a crash is a violation of the component's contract too
            failures += 1
            crash = ContractViolation(case.kind, case.name, f"{case.kind}.runs-without-crashing",
                                      f"crashed during its check: {type(exc).__name__}: {exc}")
            report(f"FAIL  {case}: {crash}")
        else:
            report(f"ok    {case} ({time.perf_counter() - started:.1f}s)")
    return failures
