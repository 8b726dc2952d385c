"""The NAS-Bench-201 table: one row per cell, accuracy per dataset, latency per device.

Rows keep the benchmark's own topology index (row i is NAS-Bench-201 /
NATS-Bench index i), so answers can be checked against any other tool that
uses the official release.  Cells are also addressed by their op codes: the
six op indices of the kernel's ``nb201`` space (order of
:data:`nasplug.spaces.ops.NB201_OPS`, edges in the benchmark's order), read
as a base-5 number.  The code is how a search's choices reach a row in O(1);
the index is how the row is named to the outside world.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import attrs
import numpy as np

from nasplug.errors import ConfigError, GenotypeError
from nasplug.spaces.nb201 import EDGES, NB201Genotype, edge_name
from nasplug.spaces.ops import NB201_OPS

#: the benchmark's dataset names, in the order its papers list them
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
_DATASET_ALIASES = {
    "cifar10": "cifar10", "cifar-10": "cifar10",
    "cifar100": "cifar100", "cifar-100": "cifar100",
    "imagenet16-120": "ImageNet16-120", "imagenet16": "ImageNet16-120", "imagenet": "ImageNet16-120",
}
NUM_OPS = len(NB201_OPS)
NUM_EDGES = len(EDGES)
NUM_CELLS = NUM_OPS ** NUM_EDGES  # 15,625
EDGE_NAMES = tuple(edge_name(s, d) for s, d in EDGES)
_PLACE = NUM_OPS ** np.arange(NUM_EDGES)


def dataset_name(name: str) -> str:
    """The canonical dataset name for ``name`` (case and dash insensitive)."""
    key = str(name).strip().lower()
    if key not in _DATASET_ALIASES:
        raise ConfigError(f"unknown NAS-Bench-201 dataset {name!r}; allowed: {', '.join(DATASETS)}")
    return _DATASET_ALIASES[key]


def op_codes(string: str) -> tuple[int, ...]:
    """The six op indices of a benchmark string ``|op~0|+|op~0|op~1|+|...|``."""
    return tuple(NB201_OPS.index(op) for op in NB201Genotype.from_string(string).ops)


def cell_code(ops: Sequence[int]) -> int:
    """The base-5 code of six op indices (edge 0->1 is the least significant digit)."""
    return int(sum(int(o) * NUM_OPS ** k for k, o in enumerate(ops)))


@attrs.frozen
class TableEntry:
    """One row of the table as a query answers it."""

    index: int
    string: str
    accuracy: float
    latency: float | None = None


class NB201Table:
    """Accuracies (percent) and latencies (the table's unit, ms here) of NAS-Bench-201 cells.

    ``strings[i]`` is the benchmark string of row ``i``; ``accuracy`` maps a
    dataset name to one value per row; ``latency`` maps a device column name
    to one value per row.  Missing values are NaN and never win a query.
    """

    def __init__(self, strings: Sequence[str], accuracy: Mapping[str, Sequence[float]] | None = None,
                 latency: Mapping[str, Sequence[float]] | None = None, source: str = ""):
        self.strings = list(strings)
        self.source = source
        n = len(self.strings)
        if n == 0:
            raise ConfigError(f"the NAS-Bench-201 table from {source!r} has no rows")
        self.codes = np.array([op_codes(s) for s in self.strings], dtype=np.int64)
        keys = self.codes @ _PLACE
        self._row_of_code = np.full(NUM_CELLS, -1, dtype=np.int64)
        if len(np.unique(keys)) != n:
            dup = int(keys[np.argsort(keys)][np.flatnonzero(np.diff(np.sort(keys)) == 0)[0]])
            raise ConfigError(f"the table from {source!r} lists cell {self._string_of_code(dup)!r} twice")
        self._row_of_code[keys] = np.arange(n)
        self.accuracy: dict[str, np.ndarray] = {}
        for name, values in (accuracy or {}).items():
            self.accuracy[dataset_name(name)] = self._column(values, f"accuracy {name!r}")
        self.latency: dict[str, np.ndarray] = {}
        for name, values in (latency or {}).items():
            self.latency[str(name)] = self._column(values, f"latency {name!r}")

    def _column(self, values, label: str) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (len(self.strings),):
            raise ConfigError(f"{label} of {self.source!r} has {array.shape} values for {len(self.strings)} cells")
        return array

    @staticmethod
    def _string_of_code(code: int) -> str:
        ops = [(code // NUM_OPS ** k) % NUM_OPS for k in range(NUM_EDGES)]
        return NB201Genotype(tuple(NB201_OPS[o] for o in ops)).to_string()

    # -- addressing ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self.strings)

    @property
    def datasets(self) -> list[str]:
        return list(self.accuracy)

    @property
    def devices(self) -> list[str]:
        return list(self.latency)

    def index(self, cell: Any) -> int:
        """Row index of a cell given as a genotype, a benchmark string, choices {edge: op index} or an index."""
        if isinstance(cell, (int, np.integer)) and not isinstance(cell, bool):
            if not 0 <= int(cell) < len(self):
                raise GenotypeError(f"NAS-Bench-201 index {int(cell)} is out of range 0..{len(self) - 1}")
            return int(cell)
        if isinstance(cell, NB201Genotype):
            ops = [NB201_OPS.index(op) for op in cell.ops]
        elif isinstance(cell, str):
            ops = op_codes(cell)
        elif isinstance(cell, Mapping):
            try:
                ops = [int(cell[name]) for name in EDGE_NAMES]
            except KeyError as exc:
                raise GenotypeError(f"choices {dict(cell)!r} lack edge {exc}; need {', '.join(EDGE_NAMES)}") from exc
            if not all(0 <= o < NUM_OPS for o in ops):
                raise GenotypeError(f"choices {dict(cell)!r} hold an op index outside 0..{NUM_OPS - 1}")
        else:
            raise GenotypeError(f"cannot read a NAS-Bench-201 cell from {cell!r}")
        row = int(self._row_of_code[cell_code(ops)])
        if row < 0:
            raise GenotypeError(f"cell {self._string_of_code(cell_code(ops))!r} is not in the table {self.source!r}")
        return row

    def indices(self, choices_batch: np.ndarray) -> np.ndarray:
        """Row indices of many cells given as an (n, 6) array of op indices."""
        rows = self._row_of_code[np.asarray(choices_batch, dtype=np.int64) @ _PLACE]
        if (rows < 0).any():
            raise GenotypeError("some cells are not in the table")
        return rows

    def string(self, index: int) -> str:
        return self.strings[self.index(index)]

    def choices(self, cell: Any) -> dict[str, int]:
        """The kernel space's choices {edge: op index} of a cell."""
        return {name: int(o) for name, o in zip(EDGE_NAMES, self.codes[self.index(cell)])}

    # -- answers ------------------------------------------------------------
    def accuracy_column(self, dataset: str) -> np.ndarray:
        name = dataset_name(dataset)
        if name not in self.accuracy:
            raise ConfigError(f"the table {self.source!r} has no accuracy for {name!r}; it has: "
                              f"{', '.join(self.accuracy) or 'none'}")
        return self.accuracy[name]

    def latency_column(self, device: str) -> np.ndarray:
        if device not in self.latency:
            raise ConfigError(f"the table {self.source!r} has no latency column {device!r}; columns: "
                              f"{', '.join(self.latency) or 'none (no latency_ms.csv)'}")
        return self.latency[device]

    def accuracy_of(self, cell: Any, dataset: str = "cifar10") -> float:
        """Test accuracy (percent) of a cell on a dataset."""
        return float(self.accuracy_column(dataset)[self.index(cell)])

    def latency_of(self, cell: Any, device: str) -> float:
        """Measured latency of a cell on a device column."""
        return float(self.latency_column(device)[self.index(cell)])

    def best(self, dataset: str = "cifar10", device: str | None = None, max_latency: float | None = None,
             min_latency: float | None = None) -> TableEntry:
        """The exact most accurate cell, optionally with its latency on ``device`` in [min_latency, max_latency].

        A full scan: 15,625 rows is nothing, and a scan cannot be wrong in the
        ways an index can.  Ties go to the lowest index.
        """
        acc = self.accuracy_column(dataset)
        ok = ~np.isnan(acc)
        lat = None
        if device is not None or max_latency is not None or min_latency is not None:
            if device is None:
                raise ConfigError("a latency bound needs device=COLUMN")
            lat = self.latency_column(device)
            ok &= ~np.isnan(lat)
            if max_latency is not None:
                ok &= lat <= max_latency
            if min_latency is not None:
                ok &= lat >= min_latency
        if not ok.any():
            raise ConfigError(f"no cell of {self.source!r} meets latency bounds [{min_latency}, {max_latency}] "
                              f"on {device!r}")
        masked = np.where(ok, acc, -np.inf)
        i = int(np.argmax(masked))
        return TableEntry(i, self.strings[i], float(acc[i]), None if lat is None else float(lat[i]))

    def best_under_budget(self, budget: float, device: str, dataset: str = "cifar10") -> TableEntry:
        """The exact best accuracy among cells whose latency on ``device`` is at most ``budget``."""
        if not (isinstance(budget, (int, float)) and math.isfinite(budget)):
            raise ConfigError(f"latency budget must be a finite number, got {budget!r}")
        return self.best(dataset, device, max_latency=float(budget))

    def mean_accuracy(self, dataset: str = "cifar10") -> float:
        return float(np.nanmean(self.accuracy_column(dataset)))

    def latency_percentile(self, device: str, q: float) -> float:
        return float(np.nanpercentile(self.latency_column(device), q))
