"""The ``nb201`` benchmark: ground truth for genotypes of the kernel's ``nb201`` space.

A search with ``benchmark="nb201", benchmark_options={"path": DIR}`` records
:meth:`NB201Benchmark.query` every epoch and for its final genotype, so a
weight-sharing search on real images is scored against the trained
accuracy of the cell it found, without retraining.
"""

from __future__ import annotations

from typing import Any

from nasplug.components import Benchmark
from nasplug.errors import ConfigError
from nasplug.spaces.nb201 import NB201Space
from nasplug_nb201.loading import load_table
from nasplug_nb201.table import NB201Table, TableEntry, dataset_name


class NB201Benchmark(Benchmark):
    """NAS-Bench-201 test accuracies (and device latencies, when the table has them).

    Options: ``path`` (a directory with accuracy.csv/latency_ms.csv, or the
    official release), ``latency_path`` (an extra latency CSV in the same
    form), ``dataset`` (which accuracy :meth:`query` reports as ``test_accuracy``).
    """

    def __init__(self, path: str | None = None, latency_path: str | None = None, dataset: str = "cifar10",
                 table: NB201Table | None = None):
        if table is None:
            if path is None:
                raise ConfigError("benchmark 'nb201' needs path=DIR, the directory holding accuracy.csv "
                                  "(and latency_ms.csv), or the official NAS-Bench-201/NATS-Bench release")
            table = load_table(path, latency_path)
        self.table = table
        self.dataset = dataset_name(dataset)
        if self.dataset not in table.accuracy:
            raise ConfigError(f"benchmark 'nb201': the table has no accuracy for {self.dataset!r}; "
                              f"it has {', '.join(table.datasets) or 'none'}")

    def supports(self, space) -> bool:
        """Any space whose genotypes are NAS-Bench-201 cells; the table ignores C and N (it was trained at 16/5)."""
        return isinstance(space, NB201Space)

    def query(self, space, genotype) -> dict[str, float]:
        """Index, test accuracy per dataset (percent), latency per device column (ms)."""
        if not self.supports(space):
            raise ConfigError(f"benchmark 'nb201' cannot score genotypes of space {space.name!r}")
        i = self.table.index(genotype)
        out: dict[str, float] = {"index": i, "test_accuracy": float(self.table.accuracy[self.dataset][i])}
        for d, column in self.table.accuracy.items():
            out[f"{d}_test_accuracy"] = float(column[i])
        for device, column in self.table.latency.items():
            out[f"{device}_latency_ms"] = float(column[i])
        return out

    # -- the questions a table answers that a search cannot ----------------
    def accuracy(self, genotype: Any, dataset: str | None = None) -> float:
        return self.table.accuracy_of(genotype, dataset or self.dataset)

    def latency(self, genotype: Any, device: str) -> float:
        return self.table.latency_of(genotype, device)

    def best_under_budget(self, budget: float, device: str, dataset: str | None = None) -> TableEntry:
        return self.table.best_under_budget(budget, device, dataset or self.dataset)

    def best(self, dataset: str | None = None) -> TableEntry:
        return self.table.best(dataset or self.dataset)

    def mean_accuracy(self, dataset: str | None = None) -> float:
        return self.table.mean_accuracy(dataset or self.dataset)
