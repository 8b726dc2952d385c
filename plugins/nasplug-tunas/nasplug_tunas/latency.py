"""Latency models: a per-layer lookup table measured on this machine, and a user-supplied table file.

TuNAS estimates T(alpha) with a cost model that is, in effect, a per-layer
lookup table summed over layers (IMPLEMENTATION_NOTES, cost_model_lib): a
layer's time depends on its own choices and its input/output filters only.
:class:`LookupLatencyModel` builds such a table by timing every
configuration of every unit (stem, each layer, head) of a space in place,
as a standalone child module at that unit's input resolution, and sums the
entries of an architecture's units.  A space offers its units through five
methods (the kernel's :data:`nasplug.unit_latency.UNIT_PROTOCOL`): the mobile
spaces list stem, layers and head; a user's ``model_space(...)`` lists its
choice modules, its plain blocks and its fixed modules (``nasplug.nn.units``),
so this module needs to know neither.  The loop that times every unit
configuration and the sum over a child's units are the kernel's
(:mod:`nasplug.unit_latency`), shared with the kernel's ``measured`` model,
which times the same units with its own backend and statistic; this model
keeps TuNAS's median of ``repeats`` calls per round.  The table is saved as JSON with a
description of the device, so a search elsewhere (or a resumed one) reuses
it, and a table measured on a phone can be given to :class:`TableFileLatencyModel`.

Both models also give the additive form the kernel asks for
(:meth:`decision_costs`): a least-squares fit of one cost per decision
choice over many architectures (:mod:`nasplug.additive_form`), used by gradient strategies (GDAS) for an
expected latency.  REINFORCE uses :meth:`predict` only.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Mapping

import torch

from nasplug import safe_json
from nasplug.additive_form import additive_fit, fit_additive
from nasplug.components import LatencyModel
from nasplug.errors import ConfigError
from nasplug.unit_latency import has_units, round_robin, unit_keys, unit_runs, unit_sum

logger = logging.getLogger(__name__)
TABLE_FORMAT = "nasplug-tunas/lookup-v1"
#: the lookup table's file name in a run directory (when no ``path`` is given)
RUN_TABLE = "latency_table.json"


def device_description(threads: int, batch_size: int, clock: str = "wall") -> dict[str, Any]:
    """What the table was measured on: enough to tell two machines' tables apart."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "machine": platform.machine(), "system": platform.system(), "torch": torch.__version__,
            "threads": threads, "batch_size": batch_size, "clock": clock, "cores": os.cpu_count()}


def _require_units(space, model: str):
    if not has_units(space):
        raise ConfigError(f"latency model {model!r} needs a space that lists its layer units "
                          f"(proxylessnas, proxylessnas-enlarged, mobilenetv3-like, or a model_space(...) of "
                          f"nasplug.nn); space {space.name!r} does not. "
                          "Use latency_model='flops' (MACs of the child, device-free), or 'table-file' with a "
                          "per-architecture table")


class _UnitTableModel(LatencyModel):
    """Sum of per-unit table entries over an architecture's units."""

    unit = "ms"

    def __init__(self):
        self.space = None
        self.input_shape = None
        self.table: dict[str, float] = {}
        self._additive: tuple[float, dict[str, torch.Tensor]] | None = None

    def unit_keys(self, choices: Mapping[str, int]) -> list[str]:
        return unit_keys(self.space, choices, self.input_shape)

    def predict(self, choices: Mapping[str, int]) -> float:
        return unit_sum(self.table, self.space, choices, self.input_shape)

    def decision_costs(self):
        if self._additive is None:
            self._additive = additive_fit(self.space, self.predict)
        return self._additive


class LookupLatencyModel(_UnitTableModel):
    """Per-layer lookup table timed on this machine (median of ``repeats`` runs, batch ``batch_size``).

    ``path``: a JSON table to reuse if it matches the space and input
    shape; otherwise the table is measured and written there.  Without
    ``path`` the table lives in the search's run directory
    (``cache_dir/latency_table.json``), so a resumed search reuses the table
    it started with instead of timing a slightly different one.  Measuring
    uses ``threads`` torch threads (1 by default, the steadiest on a shared
    CPU; mobile latency is single-threaded too).  ``clock`` "cpu" (the
    default with one thread) times the thread's CPU time, which does not
    count the time a busy machine's scheduler takes the core away; "wall"
    times elapsed time (needed with several threads).
    """

    #: the conformance kit (nasplug.testing) checks the table's form, not its accuracy: one timing per unit
    test_options = {"repeats": 1, "warmup": 0, "rounds": 1}
    #: the space it is checked on (the one with the fewest layer units to time)
    test_space = "nasplug-tunas:proxylessnas"

    def __init__(self, path: str | None = None, batch_size: int = 1, repeats: int = 15, warmup: int = 3,
                 threads: int = 1, clock: str | None = None, rounds: int = 3):
        super().__init__()
        for name, value in (("batch_size", batch_size), ("repeats", repeats), ("threads", threads),
                            ("rounds", rounds)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"lookup latency option {name} must be a positive integer, got {value!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ConfigError(f"lookup latency option warmup must be an integer >= 0, got {warmup!r}")
        clock = clock or ("cpu" if threads == 1 else "wall")
        if clock not in ("cpu", "wall") or (clock == "cpu" and threads != 1):
            raise ConfigError(f"lookup latency option clock must be 'wall', or 'cpu' with threads=1; got {clock!r} "
                              f"with threads={threads}")
        self.clock = clock
        self.rounds = rounds
        self.path = None if path is None else Path(path)
        self.batch_size, self.repeats, self.warmup, self.threads = batch_size, repeats, warmup, threads
        self.device: dict[str, Any] = {}

    def _identity(self) -> dict[str, Any]:
        return {"space": self.space.name, "space_options": _jsonable(self.space.options()),
                "input_shape": list(self.input_shape), "batch_size": self.batch_size, "clock": self.clock,
                "threads": self.threads}

    def prepare(self, space, input_shape, num_classes) -> None:
        _require_units(space, "lookup")
        self.space, self.input_shape, self.num_classes = space, tuple(input_shape), num_classes
        self._additive = None
        path = self.path
        if path is None and self.cache_dir is not None:
            path = Path(self.cache_dir) / RUN_TABLE
        if path is not None and path.exists():
            data = safe_json.loads(path.read_text(), str(path))
            if data.get("format") == TABLE_FORMAT and all(data.get(k) == v for k, v in self._identity().items()) \
                    and data.get("num_classes") == num_classes:
                self.table = {k: float(v) for k, v in data["entries"].items()}
                self.device = data.get("device", {})
                return
        self.measure()
        if path is not None:
            try:
                self.save(path)
            except OSError:
                if self.path is not None:  # the user's file must be written; a run directory may be read-only
                    raise

    def measure(self) -> None:
        """Time every configuration of every unit (in place: its own input resolution and channels).

        Entries are timed round-robin ``rounds`` times and the median kept, so
        a change in machine load during measuring shifts every entry alike.
        """
        runs = unit_runs(self.space, self.input_shape, self.num_classes, self.batch_size,
                         lambda module, inputs: lambda: [self.time_call(module, inputs)])
        samples = round_robin(runs, self.rounds, self.threads, f"measuring the {self.space.name} latency table",
                              "unit", logger)
        self.table = {key: statistics.median(v) for key, v in samples.items()}
        self.device = device_description(self.threads, self.batch_size, self.clock)

    def time_module(self, module: torch.nn.Module, shape) -> float:
        """Median milliseconds of one forward of ``module`` in eval mode on a random batch of one shape."""
        return self.time_call(module, (torch.randn((self.batch_size,) + tuple(shape)),))

    @torch.no_grad()
    def time_call(self, module: torch.nn.Module, inputs: tuple) -> float:
        """Median milliseconds of ``module(*inputs)`` in eval mode (``warmup`` untimed calls first)."""
        module.eval()
        for _ in range(self.warmup):
            module(*inputs)
        times = []
        timer = time.thread_time if self.clock == "cpu" else time.perf_counter
        for _ in range(self.repeats):
            start = timer()
            module(*inputs)
            times.append((timer() - start) * 1e3)
        return statistics.median(times)

    def save(self, path: str | Path) -> None:
        data = {"format": TABLE_FORMAT, **self._identity(), "num_classes": self.num_classes, "unit": self.unit,
                "device": self.device, "entries": self.table}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)


class TableFileLatencyModel(LatencyModel):
    """Latency from a user-supplied file (a phone or accelerator measured elsewhere).

    Accepted files:

    * a per-layer JSON table in the ``lookup`` format (``entries``: unit key -> cost);
    * a per-architecture JSON object ``{genotype string: cost}``;
    * a per-architecture CSV: ``key_column`` holds the genotype string (default
      ``genotype``) and ``column`` the cost; or, with ``names=OTHER.csv``, rows
      are matched by position (or by an ``index_column`` such as ``arch_idx``)
      with the genotype strings in ``names_column`` of OTHER.csv
      (NAS-Bench-201's ``latency_ms.csv`` + ``accuracy.csv``).
    """

    def __init__(self, path: str | None = None, column: str | None = None, key_column: str = "genotype",
                 names: str | None = None, names_column: str = "ArchitectureString", index_column: str | None = None,
                 unit: str = "ms"):
        if path is None:
            raise ConfigError("latency model 'table-file' needs path=FILE (a .json or .csv latency table)")
        self.path = Path(path)
        if not self.path.exists():
            raise ConfigError(f"latency table file {str(self.path)!r} does not exist")
        self.column, self.key_column = column, key_column
        self.names, self.names_column, self.index_column = names, names_column, index_column
        self.unit = unit
        self.space = None
        self._units: _UnitTableModel | None = None
        self.by_genotype: dict[str, float] = {}
        self._additive = None

    def prepare(self, space, input_shape, num_classes) -> None:
        self.space = space
        self._additive = None
        if self.path.suffix.lower() == ".json":
            data = safe_json.loads(self.path.read_text(), str(self.path))
            if isinstance(data, dict) and data.get("format") == TABLE_FORMAT:
                _require_units(space, "table-file (per-layer table)")
                units = _UnitTableModel()
                units.space, units.input_shape = space, tuple(input_shape)
                units.table = {k: float(v) for k, v in data["entries"].items()}
                self.unit = data.get("unit", self.unit)
                self._units = units
                return
            if not isinstance(data, dict):
                raise ConfigError(f"{str(self.path)!r}: a JSON latency table is an object genotype -> cost "
                                  "or a lookup table written by the 'lookup' model")
            self.by_genotype = {self._canonical(k): float(v) for k, v in data.items()}
        else:
            self.by_genotype = self._read_csv()
        if not self.by_genotype:
            raise ConfigError(f"latency table {str(self.path)!r} has no rows")

    def _canonical(self, text: str) -> str:
        return str(self.space.genotype_from_json(text))

    def _read_csv(self) -> dict[str, float]:
        with open(self.path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows:
            return {}
        columns = list(rows[0])
        if self.column is None or self.column not in columns:
            raise ConfigError(f"{str(self.path)!r}: choose the cost column with column=NAME; columns: {', '.join(columns)}")
        if self.names is not None:
            with open(self.names, newline="") as fh:
                name_rows = list(csv.DictReader(fh))
            if not name_rows or self.names_column not in name_rows[0]:
                raise ConfigError(f"{self.names!r} lacks the column {self.names_column!r}")
            out = {}
            for position, row in enumerate(rows):
                index = int(row[self.index_column]) if self.index_column else position
                out[self._canonical(name_rows[index][self.names_column])] = float(row[self.column])
            return out
        if self.key_column not in columns:
            raise ConfigError(f"{str(self.path)!r} lacks the genotype column {self.key_column!r}; columns: "
                              f"{', '.join(columns)} (or pass names=FILE to match rows by index)")
        return {self._canonical(row[self.key_column]): float(row[self.column]) for row in rows}

    def predict(self, choices: Mapping[str, int]) -> float:
        if self._units is not None:
            return self._units.predict(choices)
        key = str(self.space.genotype_from_choices(choices))
        try:
            return self.by_genotype[key]
        except KeyError:
            raise ConfigError(f"the latency table {str(self.path)!r} has no row for architecture {key!r}") from None

    def decision_costs(self):
        if self._units is not None:
            return self._units.decision_costs()
        if self._additive is None:  # fit on the table's own rows: every architecture it lists
            self._additive = fit_additive(self.space, (
                (self.space.choices_from_genotype(self.space.genotype_from_json(key)), cost)
                for key, cost in self.by_genotype.items()))
        return self._additive


def _jsonable(value):
    return json.loads(json.dumps(value, default=list))
