"""A latency model that measures: inference time on this machine, of a space's units or ops, and of whole children.

Its table takes one of two forms, chosen by what the space offers:

* **per unit** where the space implements the unit protocol
  (:mod:`nasplug.unit_latency`: a user's ``model_space(...)``, the TuNAS
  plugin's mobile spaces): every configuration of every unit (its own choices
  and the shapes it receives from upstream) is built standalone by the space
  and timed, round-robin with ``backgrounds`` random whole children; a child is
  predicted as the sum of its units' entries plus a base, the background
  children's mean time beyond their units' sums (the model's own functional
  code and the calls between units, which no unit sees).  This is TuNAS's
  lookup table, timed with this model's backend and statistic.
* **per decision** where it does not (nb201, darts): the cost of choice ``k`` of
  decision ``d`` is how much the child's measured time changes when ``d`` alone
  is switched from its first choice to ``k``, averaged over ``backgrounds``
  random architectures (so a layer's cost is taken with typical neighbours);
  ``predict`` sums the table.

Why two: one additive cost per (decision, choice) cannot express that a
block's op and kernel cost grows with the stage width chosen elsewhere (a
conv's cost is quadratic in its width), where a unit keyed on the input it
receives can.  On the user-model example (``examples/own_model``, 20 random
children) the per-decision table ranked children at Spearman 0.904, 0.859 and
0.937 on seeds 0-2 against their measured latency; the per-unit table ranks
them at 0.985-0.998 on seeds 0-4 (noise ceiling 0.977-0.997), as TuNAS's
lookup table does (0.976-0.991), and at 0.920 and 0.967 on seeds 0 and 1 of a
pass whose noise ceiling fell to 0.853 and 0.946
(``OMP_NUM_THREADS=1 python benchmarks/measured_latency.py --example --lookup
--seed S``; the figures are in ``benchmarks/README.md``).  On nb201 (C=16) the
per-decision table ranks them at 0.986 (ceiling 0.997).  ``decision_costs``
(the additive form gradient strategies need) is the per-decision table
itself, or the least-squares additive fit of the per-unit predictions over
random architectures (:mod:`nasplug.additive_form`).  ``measure`` times a
whole child.

Where a space says which decisions a child keeps (``active_decisions``) but
has no units, a decision's cost is measured only over backgrounds that keep
it, and ``predict`` sums only the kept decisions' entries (a Repeat block
beyond the chosen depth costs nothing).

Each child is timed in ``rounds`` round-robin passes over every child (a
change in machine load during measuring shifts all of them alike), each pass
``warmup`` untimed forwards then ``repeats`` timed ones.  With one thread the
clock is the thread's CPU time, which does not count the time a busy machine
takes the core away; what is kept is the lower quartile of the ``rounds x
repeats`` samples (``statistic="median"`` keeps the median): on a shared
machine interference only ever adds time, and on this project's 2-core
machine under load the lower quartile ranked 20 NAS-Bench-201 children the
same in two halves of the samples (split-half Spearman 0.98) where the median
gave 0.93 and wall-clock medians 0.85.  Units are timed the same way.  The
table (either form) and every whole child measured are written to
``measured_latency.json`` in the run directory (or ``path``), so a resumed
search reuses them instead of remeasuring.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from nasplug.additive_form import additive_fit
from nasplug.components import LatencyModel
from nasplug.errors import ConfigError, NasplugError
from nasplug.unit_latency import has_units, round_robin, unit_runs, unit_sum

logger = logging.getLogger(__name__)
#: v2: entries of decisions a child drops are left out of sums; v3: a per-unit table where the space has units
TABLE_FORMAT = "nasplug/measured-latency-v3"
#: random architectures drawn per background wanted, at most, to find backgrounds that keep a decision
BACKGROUND_DRAWS = 20
#: the cache's file name in a run directory (when no ``path`` is given)
RUN_TABLE = "measured_latency.json"
BACKENDS = ("torch", "onnxruntime")
#: how a child's samples become its latency: their lower quartile (the default) or their median
STATISTICS = {"q25": lambda samples: statistics.quantiles(samples, n=4, method="inclusive")[0]
              if len(samples) > 1 else samples[0],
              "median": statistics.median}


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"measured latency option {name} must be an integer >= {minimum}, got {value!r}")
    return value


class MeasuredLatencyModel(LatencyModel):
    """Milliseconds per batch of ``batch_size``, measured with torch (or ONNX Runtime) on this machine.

    Options: ``backend`` torch or onnxruntime; ``batch_size``; ``repeats``,
    ``warmup`` and ``rounds`` (how each child or unit is timed); ``backgrounds``
    (random architectures each op's cost is averaged over, or, with a per-unit
    table, whole children the base is measured on); ``threads``; ``seed`` (the
    backgrounds and the weights); ``statistic``; ``path`` (a cache file to use
    instead of the run directory's).
    """

    unit = "ms"
    #: the conformance kit checks the table's form, not its accuracy: one timing per child
    test_options = {"repeats": 1, "warmup": 0, "rounds": 1, "backgrounds": 1}

    def __init__(self, backend: str = "torch", batch_size: int = 1, repeats: int = 5, warmup: int = 2,
                 rounds: int = 6, backgrounds: int = 3, threads: int = 1, seed: int = 0, statistic: str = "q25",
                 path: str | None = None):
        if backend not in BACKENDS:
            raise ConfigError(f"measured latency option backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if statistic not in STATISTICS:
            raise ConfigError(f"measured latency option statistic must be one of {', '.join(STATISTICS)}, "
                              f"got {statistic!r}")
        self.backend, self.statistic = backend, statistic
        self.batch_size = _positive_int("batch_size", batch_size)
        self.repeats = _positive_int("repeats", repeats)
        self.warmup = _positive_int("warmup", warmup, 0)
        self.rounds = _positive_int("rounds", rounds)
        self.backgrounds = _positive_int("backgrounds", backgrounds)
        self.threads = _positive_int("threads", threads)
        self.seed = _positive_int("seed", seed, 0)
        self.path = None if path is None else Path(path)
        self.space = None
        self.base = 0.0
        self.costs: dict[str, torch.Tensor] = {}  # the per-decision table (a space without units)
        self.units: dict[str, float] = {}  # the per-unit table: unit key -> ms (a space with units)
        self.children: dict[str, float] = {}  # genotype string -> measured whole-child ms
        self._additive: tuple[float, dict[str, torch.Tensor]] | None = None

    # ------------------------------------------------------------------------------------------ cache

    def _identity(self) -> dict[str, Any]:
        from nasplug.rundir import json_text

        return {"format": TABLE_FORMAT, "space": self.space.name,
                "space_options": json.loads(json_text(self.space.options())),
            "input_shape": list(self.input_shape), "num_classes": self.num_classes, "backend": self.backend,
            "batch_size": self.batch_size, "repeats": self.repeats, "warmup": self.warmup, "rounds": self.rounds,
            "backgrounds": self.backgrounds, "threads": self.threads, "seed": self.seed,
                "statistic": self.statistic}

    def _cache_path(self) -> Path | None:
        if self.path is not None:
            return self.path
        return None if self.cache_dir is None else Path(self.cache_dir) / RUN_TABLE

    def _load(self, path: Path | None) -> bool:
        from nasplug.rundir import read_json

        if path is None or not path.exists():
            return False
        try:
            data = read_json(path, "a measured latency table")
        except NasplugError:
            return False
        if data.get("identity") != self._identity():
            return False  # measured for another space, input or protocol: measure again
        self.base = float(data["base"])
        self.costs = {name: torch.tensor(row, dtype=torch.float64) for name, row in data["costs"].items()}
        self.units = {key: float(v) for key, v in data["units"].items()}
        self.children = {key: float(v) for key, v in data.get("children", {}).items()}
        return True

    def save(self) -> None:
        """Write the table and the measured children to the cache file (when there is one)."""
        from nasplug.rundir import atomic_write_json

        path = self._cache_path()
        if path is None:
            return
        data = {"identity": self._identity(), "unit": self.unit, "device": _device(self.threads),
                "base": self.base, "costs": {k: v.tolist() for k, v in self.costs.items()},
                "units": self.units, "children": self.children}
        try:
            atomic_write_json(path, data, "the measured latency table")
        except NasplugError:
            if self.path is not None:  # the user's file must be written; a run directory may be read-only
                raise

    # ------------------------------------------------------------------------------------------ contract

    def prepare(self, space, input_shape, num_classes) -> None:
        self.space, self.input_shape, self.num_classes = space, tuple(input_shape), int(num_classes)
        if self.backend == "onnxruntime":
            from nasplug.export.formats import require_onnx

            require_onnx()
        self._additive = None
        if not self._load(self._cache_path()):
            self.children, self.costs, self.units = {}, {}, {}
            if has_units(space):
                self._measure_units()
            else:
                self._measure_table()
            self.save()

    def _kept(self, choices: Mapping[str, int]) -> set[str]:
        """The decisions the child of ``choices`` keeps (all of them where the space does not say)."""
        method = getattr(self.space, "active_decisions", None)
        return set(method(choices)) if callable(method) else {d.name for d in self.space.decisions}

    def predict(self, choices: Mapping[str, int]) -> float:
        """The base plus the table's sum over the child's units (a space with units) or over the decisions the
        architecture keeps (one without); never below zero."""
        if self.units:
            return max(self.base + unit_sum(self.units, self.space, choices, self.input_shape), 0.0)
        kept = self._kept(choices)
        total = self.base + sum(float(self.costs[d.name][self.space.choice_index(d, choices)])
                                for d in self.space.decisions if d.name in kept)
        return max(total, 0.0)

    def decision_costs(self):
        """The per-decision table as it is, or (a per-unit table) its least-squares additive fit."""
        if not self.units:
            return self.base, {name: row.to(torch.float32) for name, row in self.costs.items()}
        if self._additive is None:
            self._additive = additive_fit(self.space, self.predict, seed=self.seed)
        return self._additive

    def measure(self, choices: Mapping[str, int]) -> float:
        """The measured latency of the whole child (cached with the table)."""
        key = str(self.space.genotype_from_choices(choices))
        if key not in self.children:
            self.children.update(self._time_all({key: dict(choices)}))
            self.save()
        return self.children[key]

    # ------------------------------------------------------------------------------------------ measuring

    def _measure_units(self) -> None:
        """Every unit configuration, timed standalone at the shapes it receives, and ``backgrounds`` random
        whole children, all in one round-robin; the base is the children's mean time beyond their units' sum
        (the glue a unit table does not see: a model's own functional code, the calls between units)."""
        generator = torch.Generator().manual_seed(self.seed)
        backgrounds: dict[str, dict[str, int]] = {}
        for _ in range(self.backgrounds * BACKGROUND_DRAWS):
            if len(backgrounds) == self.backgrounds:
                break
            choices = self.space.sample(generator)
            backgrounds[str(self.space.genotype_from_choices(choices))] = choices
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            units = unit_runs(self.space, self.input_shape, self.num_classes, self.batch_size,
                              lambda module, inputs: self._timed(self._module_runner(module.eval(), inputs)))
        runs = {**{("unit", key): run for key, run in units.items()},
                **{("child", key): self._timed(self._runner(c)) for key, c in backgrounds.items()}}
        samples = round_robin(runs, self.rounds, self.threads, f"measuring the {self.space.name} units and children",
                              "timing", logger)
        kept = {slot: STATISTICS[self.statistic](values) for slot, values in samples.items()}
        self.units = {key: kept[("unit", key)] for key in units}
        self.children.update({key: kept[("child", key)] for key in backgrounds})
        self.base = statistics.fmean(self.children[key] - unit_sum(self.units, self.space, c, self.input_shape)
                                     for key, c in backgrounds.items())

    def _timed(self, run: Callable[[], Any]) -> Callable[[], list[float]]:
        """A call that times ``run`` once as this model does (:meth:`time_forward`)."""
        return lambda: self.time_forward(run)

    def _measure_table(self) -> None:
        """Per decision and choice: the mean change of the child's time from the decision's first choice."""
        generator = torch.Generator().manual_seed(self.seed)
        backgrounds: list[dict[str, int]] = []  # drawn from the seeded stream as decisions need them
        kept: list[set[str]] = []
        of_decision: dict[str, list[int]] = {}  # decision -> the backgrounds (indices) that keep it
        for d in self.space.decisions:
            of_decision[d.name] = []
            for b in range(self.backgrounds * BACKGROUND_DRAWS):
                if len(of_decision[d.name]) == self.backgrounds:
                    break
                if b == len(backgrounds):
                    backgrounds.append(self.space.sample(generator))
                    kept.append(self._kept(backgrounds[-1]))
                if d.name in kept[b]:
                    of_decision[d.name].append(b)
        variants: dict[tuple[int, str, int], dict[str, int]] = {}
        for d in self.space.decisions:
            for b in of_decision[d.name]:
                for k in range(len(d.choices)):
                    variants[(b, d.name, k)] = {**backgrounds[b], d.name: k}
        keyed: dict[str, dict[str, int]] = {}
        names: dict[tuple[int, str, int], str | None] = {}
        for slot, choices in variants.items():
            try:
                key = str(self.space.genotype_from_choices(choices))
            except NasplugError:  # a constrained space (DARTS's two inputs per node): not every switch is valid
                key = None
            names[slot] = key
            if key is not None:
                keyed[key] = choices
        times = self._time_all(keyed)
        self.children.update(times)
        self.costs, base_terms = {}, []
        for d in self.space.decisions:
            row = []
            for k in range(len(d.choices)):
                diffs = [times[names[(b, d.name, k)]] - times[names[(b, d.name, 0)]] for b in of_decision[d.name]
                         if names[(b, d.name, k)] is not None and names[(b, d.name, 0)] is not None]
                row.append(statistics.fmean(diffs) if diffs else 0.0)
            self.costs[d.name] = torch.tensor(row, dtype=torch.float64)
        for b in sorted({b for used in of_decision.values() for b in used}):
            key = str(self.space.genotype_from_choices(backgrounds[b]))
            base_terms.append(times[key] - sum(float(self.costs[d.name][backgrounds[b][d.name]])
                                               for d in self.space.decisions if d.name in kept[b]))
        self.base = statistics.fmean(base_terms)

    def _time_all(self, archs: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
        """Milliseconds of each architecture's child (:attr:`statistic` of its samples), timed round-robin."""
        runs = {key: self._timed(self._runner(choices)) for key, choices in archs.items()}
        samples = round_robin(runs, self.rounds, self.threads, f"measuring {self.space.name} children", "child",
                              logger)
        return {key: STATISTICS[self.statistic](values) for key, values in samples.items()}

    def _runner(self, choices: Mapping[str, int]) -> Callable[[], Any]:
        """A no-argument call that runs the child once on a fixed random batch."""
        genotype = self.space.genotype_from_choices(choices)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            child = self.space.build_child(genotype, self.input_shape, self.num_classes).eval()
            x = torch.randn((self.batch_size,) + self.input_shape)
        return self._module_runner(child, (x,))

    def _module_runner(self, module: torch.nn.Module, inputs: tuple) -> Callable[[], Any]:
        """A no-argument call that runs ``module(*inputs)`` once with this model's backend."""
        if self.backend == "torch":
            def run():
                with torch.no_grad():
                    return module(*inputs)
            return run
        return _onnx_runner(module, inputs, self.threads)

    def time_forward(self, run: Callable[[], Any]) -> list[float]:
        """Milliseconds of ``repeats`` calls of ``run()``, after ``warmup`` untimed ones."""
        for _ in range(self.warmup):
            run()
        clock = time.thread_time if self.threads == 1 and self.backend == "torch" else time.perf_counter
        times = []
        for _ in range(self.repeats):
            start = clock()
            run()
            times.append((clock() - start) * 1e3)
        return times


class _Flat(torch.nn.Module):
    """``module`` called with its inputs flattened to tensors (a unit may take a list of tensors: an
    InputChoice), so that ONNX export sees one named input per tensor."""

    def __init__(self, module: torch.nn.Module, inputs: tuple):
        super().__init__()
        self.module = module
        self.layout = [len(x) if isinstance(x, list) else None for x in inputs]

    def forward(self, *tensors):
        args, at = [], 0
        for size in self.layout:
            args.append(tensors[at] if size is None else list(tensors[at: at + size]))
            at += 1 if size is None else size
        return self.module(*args)


def _onnx_runner(module: torch.nn.Module, inputs: tuple, threads: int) -> Callable[[], Any]:
    """``module`` exported to ONNX in memory and run by an ONNX Runtime session with ``threads`` threads."""
    import io
    import warnings

    import onnxruntime

    tensors = [t for x in inputs for t in (x if isinstance(x, list) else [x])]
    names = [f"input{i}" for i in range(len(tensors))]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Flat(module, inputs).eval(), tuple(tensors), buffer, dynamo=False, input_names=names)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    # an input the graph does not use (a frozen InputChoice keeps one of two) is dropped by the exporter
    wanted = {i.name for i in session.get_inputs()}
    feed = {name: t.numpy() for name, t in zip(names, tensors) if name in wanted}
    return lambda: session.run(None, feed)


def _device(threads: int) -> dict[str, Any]:
    import os
    import platform

    return {"machine": platform.machine(), "processor": platform.processor(), "cores": os.cpu_count(),
            "threads": threads, "torch": torch.__version__}
