"""A search run whose quality signal is the NAS-Bench-201 table: no supernet, no training, a query budget.

:class:`TabularRun` offers the part of :class:`~nasplug.search.run.SearchRun`
that query-driven architecture optimizers use (``arch``, ``state``,
``space``, ``config``, ``sample()``, ``quality(choices, batch)``,
``cost(choices)``, ``reward``, ``latency_model``, ``arch_distribution()``),
with ``quality`` = table test accuracy / 100 and every ``quality`` call
counted as one query.  The optimizers themselves come from the registry,
so the TuNAS controller searching the table is the same code that searches
a supernet.

Budget: each step of the loop calls the optimizer's ``arch_step`` once,
and every optimizer here spends exactly one query per step, so the budget
in queries is the number of steps, and schedules that read
``state.progress`` (TuNAS's learning-rate delay and growth) span the budget.
Repeated queries of the same cell count again, as re-training would in the
NAS-Bench-201 paper's time-budget protocol.

With ``run_dir`` the run keeps a run directory through the kernel's owner
(:class:`nasplug.run_directory.RunDirectory`), with the promises every run
kind keeps: the budget is split into epochs of ``queries_per_epoch``
queries, each ending with a checkpoint and a ``metrics.jsonl`` line, and
:meth:`TabularRun.resume` continues a killed run exactly where an
uninterrupted one would be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import attrs
import numpy as np
import torch

from nasplug import registry as registry_module, signals
from nasplug.components import ArchOptimizer, ArchParameters, LatencyModel, Reward, Sampler
from nasplug.config import SearchConfig
from nasplug.errors import ConfigError, RunDirError
from nasplug.run_directory import RunDirectory, abandons_claim_on_error
from nasplug.rundir import CHECKPOINT, CONFIG, METRICS, PREVIOUS_CHECKPOINT, RESULT, read_json
from nasplug import SearchState
from nasplug.spaces.base import Genotype
from nasplug.spaces.nb201 import NB201Space
from nasplug_nb201.latency import TableLatencyModel
from nasplug_nb201.table import NB201Table, dataset_name


@attrs.frozen(eq=False)
class TabularResult:
    """What a query-budget search found."""

    genotype: Genotype           # the optimizer's own answer (REINFORCE: argmax of the policy)
    final_index: int
    final_accuracy: float        # table accuracy (percent) of ``genotype``
    best_index: int              # the best cell among those queried
    best_accuracy: float
    queries: int
    trace: np.ndarray            # best accuracy found after each query (percent)
    final_latency: float | None = None


class TabularRun:
    """Drives an :class:`ArchOptimizer` with the table as its quality signal.

    ``sampler``/``arch_optimizer`` are registry names (or instances);
    ``reward`` with ``latency_device`` and ``latency_target`` makes the
    optimizer trade table accuracy against the device column's latency.
    """

    @abandons_claim_on_error
    def __init__(self, table: NB201Table, arch_optimizer: str | ArchOptimizer, budget: int = 100,
                 dataset: str = "cifar10", seed: int = 0, sampler: str | Sampler | None = None,
                 sampler_options: Mapping[str, Any] | None = None,
                 optimizer_options: Mapping[str, Any] | None = None, reward: str | None = None,
                 reward_options: Mapping[str, Any] | None = None, latency_device: str | None = None,
                 latency_target: float | None = None, arch_lr: float = 3e-4, arch_init_std: float = 0.0,
                 registry=None, run_dir: str | Path | None = None, queries_per_epoch: int | None = None,
                 overwrite: bool = False, callbacks: Iterable[Callable[["TabularRun", str], None]] = ()):
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ConfigError(f"query budget must be a positive integer, got {budget!r}")
        per_epoch = budget if queries_per_epoch is None else queries_per_epoch
        if isinstance(per_epoch, bool) or not isinstance(per_epoch, int) or per_epoch < 1 or budget % per_epoch:
            raise ConfigError(f"queries_per_epoch must be a positive integer dividing the budget {budget}, "
                              f"got {queries_per_epoch!r}")
        self.callbacks = list(callbacks)  # called as callback(run, "epoch") after each epoch's checkpoint
        self.registry = registry or registry_module.default_registry()
        self.table = table
        self.dataset = dataset_name(dataset)
        self.budget = budget
        self.space = NB201Space()
        names = {"sampler": sampler if isinstance(sampler, str) else None,
                 "arch_optimizer": arch_optimizer if isinstance(arch_optimizer, str) else None}
        # the config optimizers read (arch_lr, seed, ...); never used to load data or build a supernet
        self.config = SearchConfig(space="nb201", epochs=1, steps_per_epoch=budget, seed=seed,
                                   arch_lr=arch_lr, arch_init_std=arch_init_std, reward=reward,
                                   reward_options=dict(reward_options or {}), latency_target=latency_target,
                                   sampler_options=dict(sampler_options or {}),
                                   optimizer_options=dict(optimizer_options or {}), **names)
        torch.manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.arch = ArchParameters(self.space.decisions, arch_init_std, self.generator)
        self.state = SearchState(self.space, self.generator, epochs=budget // per_epoch, steps_per_epoch=per_epoch)
        self.sampler: Sampler | None = (self.registry.get("sampler", sampler, **self.config.sampler_options)
                                        if isinstance(sampler, str) else sampler)
        self.optimizer: ArchOptimizer = (
            self.registry.get("arch_optimizer", arch_optimizer, **self.config.optimizer_options)
            if isinstance(arch_optimizer, str) else arch_optimizer)
        self.latency_model: LatencyModel | None = None
        self.reward: Reward | None = None
        if latency_device is not None:
            self.latency_model = TableLatencyModel(table=table, device=latency_device)
        if reward is not None:
            if self.latency_model is None:
                raise ConfigError(f"reward {reward!r} needs latency_device=COLUMN (one of {', '.join(table.devices)})")
            options = dict(reward_options or {})
            if latency_target is not None:
                options["target"] = latency_target
            self.reward = self.registry.get("reward", reward, **options)
        self.accuracy = table.accuracy_column(self.dataset)
        self.queries = 0
        self.queried: list[int] = []
        self.history: list[dict[str, Any]] = []
        self.optimizer.setup(self)
        self.arguments = {"arch_optimizer": _name(arch_optimizer), "sampler": _name(sampler), "budget": budget,
                          "dataset": self.dataset, "seed": seed, "sampler_options": dict(sampler_options or {}),
                          "optimizer_options": dict(optimizer_options or {}), "reward": reward,
                          "reward_options": dict(reward_options or {}), "latency_device": latency_device,
                          "latency_target": latency_target, "arch_lr": arch_lr, "arch_init_std": arch_init_std,
                          "queries_per_epoch": per_epoch, "table": table.source}
        self.files = RunDirectory.nowhere()  # every file goes through the kernel's run-directory owner
        if run_dir is not None:
            self.files = RunDirectory.claim(self, run_dir, dist=self.files.dist, files=TABULAR_FILES,
                                            overwrite=overwrite)
        self.files.start({"tabular": self.arguments}, self.arguments)

    @property
    def run_dir(self) -> Path | None:
        return self.files.run_dir

    @classmethod
    def resume(cls, run_dir: str | Path, table: NB201Table, arch_optimizer: ArchOptimizer | None = None,
               sampler: Sampler | None = None, registry=None, from_previous: bool = False,
               unverified_ok: bool = False,
               callbacks: Iterable[Callable[["TabularRun", str], None]] = ()) -> "TabularRun":
        """Continue the tabular run in ``run_dir`` from its last checkpoint.

        Parts given as instances when the run started (``RegularizedEvolution(10, 3)``) are given again
        (an instance of the recorded class); ``table`` must be the table the run searched (its source is
        checked).
        """
        run_dir = Path(run_dir)
        path = run_dir / CONFIG
        recorded = read_json(path, "the tabular run's arguments")
        arguments = recorded.get("tabular")
        if not isinstance(arguments, Mapping):
            raise RunDirError(f"{path}: not a tabular run (no 'tabular' object)")
        arguments = dict(arguments)
        if arguments.pop("table", None) != table.source:
            raise RunDirError(f"{path}: the run searched the table {recorded['tabular'].get('table')!r}, "
                              f"not {table.source!r}")
        parts = {"arch_optimizer": arch_optimizer, "sampler": sampler}
        for key, given in parts.items():
            name = arguments.get(key)
            if given is not None and name != _name(given):
                raise RunDirError(f"{path}: the run's {key} is {name!r}, not {_name(given)!r}")
            if given is None and name is not None and name.startswith("class "):
                raise RunDirError(f"{path}: the run's {key} was given as an instance of {name[6:]}; pass one "
                                  f"again: TabularRun.resume(..., {key}=...)")
            arguments[key] = given if given is not None else name
        run = cls(table, registry=registry, callbacks=callbacks, **arguments)
        run.files = RunDirectory.reopen(run, run_dir, dist=run.files.dist, files=TABULAR_FILES)
        run.files.restore(run, what="a tabular", fingerprints=[run.arguments], from_previous=from_previous,
                          unverified_ok=unverified_ok, check=run._checkpoint_problem)
        return run

    def _checkpoint_problem(self, state: Mapping[str, Any]) -> str | None:
        if not 0 <= state["epoch"] <= self.state.epochs:
            return f"it records epoch {state['epoch']}, outside 0..{self.state.epochs}"
        queried = state["queried"]
        if len(queried) != state["epoch"] * self.state.steps_per_epoch or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(self.table.strings) for i in queried):
            return "its 'queried' cells do not match its epochs and the table"
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.state.epoch, "arch": self.arch.state_dict(),
                "sampler": self.sampler.state_dict() if self.sampler is not None else {},
                "arch_optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                "queried": list(self.queried), "history": self.history}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.arch.load_state_dict(state["arch"])
        if self.sampler is not None:
            self.sampler.load_state_dict(state["sampler"])
        self.optimizer.load_state_dict(state["arch_optimizer"])
        self.generator.set_state(state["generator"])
        self.queried = [int(i) for i in state["queried"]]
        self.queries = len(self.queried)
        self.history = list(state["history"])
        self.state.epoch, self.state.step_in_epoch = int(state["epoch"]), 0

    # -- the SearchRun interface query-driven optimizers use --------------------
    def sample(self):
        if self.sampler is None:
            raise ConfigError("this tabular run has no sampler; pass sampler='categorical' (or another)")
        return self.sampler.sample(self.arch, self.state)

    def quality(self, choices: Mapping[str, int], batch: Any = None) -> float:
        """Table test accuracy / 100 of the cell (the batch is unused); counts one query."""
        index = self.table.index(choices)
        value = float(self.accuracy[index])
        if np.isnan(value):
            raise ConfigError(f"the table has no {self.dataset} accuracy for {self.table.strings[index]!r}")
        self.queries += 1
        self.queried.append(index)
        return value / 100.0

    def cost(self, choices: Mapping[str, int]) -> float:
        if self.latency_model is None:
            raise ConfigError("this tabular run has no latency model; pass latency_device=COLUMN")
        return float(self.latency_model.predict(choices))

    def arch_distribution(self) -> dict[str, list[float]]:
        return {k: v.tolist() for k, v in self.arch.probabilities().items()}

    # -- the loop ---------------------------------------------------------------
    def step(self) -> dict[str, float]:
        before = self.queries
        metrics = self.optimizer.arch_step(self, None, None)
        if self.queries != before + 1:
            raise ConfigError(f"{type(self.optimizer).__name__}.arch_step made {self.queries - before} table "
                              f"queries; a tabular run needs exactly one per step")
        self.state.step_in_epoch += 1
        return metrics

    def run(self) -> TabularResult:
        while self.state.epoch < self.state.epochs:
            self.step()
            if self.state.step_in_epoch == self.state.steps_per_epoch:
                self._end_epoch()
        genotype = self.optimizer.final_genotype(self)
        final = self.table.index(genotype)
        queried = np.asarray(self.queried)
        accs = self.accuracy[queried]
        trace = np.maximum.accumulate(accs)
        best = int(queried[int(np.argmax(accs))])
        latency = self.latency_model.predict(self.space.choices_from_genotype(genotype)) \
            if self.latency_model is not None else None
        result = TabularResult(genotype, final, float(self.accuracy[final]), best, float(self.accuracy[best]),
                               self.queries, trace, latency)
        self.files.finish({} if self.run_dir is None else {RESULT: {
            "genotype": str(genotype), "final_index": final, "final_accuracy": result.final_accuracy,
            "best_index": best, "best_accuracy": result.best_accuracy, "queries": self.queries,
            "final_latency": latency, "history": self.history}})
        return result

    def _end_epoch(self) -> None:
        """Record the epoch, hand its state to the run directory's owner, then stop here on SIGTERM/SIGINT."""
        accuracies = self.accuracy[np.asarray(self.queried)]
        self.history.append({"epoch": self.state.epoch, "queries": self.queries,
                             "best_accuracy": float(np.max(accuracies))})
        self.state.epoch, self.state.step_in_epoch = self.state.epoch + 1, 0
        self.files.save(self.state_dict())
        for callback in self.callbacks:
            callback(self, "epoch")
        signals.check(self.state.epoch, 0, self.run_dir)


#: files a tabular run writes; ``overwrite`` removes them first
TABULAR_FILES = (CONFIG, METRICS, CHECKPOINT, PREVIOUS_CHECKPOINT, RESULT)


def _name(part: Any) -> str | None:
    """How config.json records a part: its registry name, or ``class module.Name`` for an instance."""
    if part is None or isinstance(part, str):
        return part
    return f"class {type(part).__module__}.{type(part).__qualname__}"
