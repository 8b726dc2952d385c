"""One architecture search: builds the parts named by a config and runs the bi-level loop.

The loop is the same for every strategy (Algorithm 1 of DARTS and GDAS,
the step of TuNAS): for each pair of a training batch and a validation
batch, the strategy's :class:`~nasplug.components.ArchOptimizer` takes a
weight step and an architecture step.  At every epoch end the run derives
the current genotype, scores it on validation data with the shared weights,
appends a line to ``metrics.jsonl`` and writes an atomic checkpoint, from
which :meth:`SearchRun.resume` continues bit-for-bit.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import attrs
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from nasplug import distributed, registry as registry_module
from nasplug.components import (ArchOptimizer, ArchParameters, LatencyModel, Reward, Sampler, SearchState,  # noqa: F401
                                Selection, accuracy)  # SearchState, accuracy: re-exported for old imports
from nasplug.config import SearchConfig, apply_threads
from nasplug.data.bundle import search_split
from nasplug.devices import resolve_device
from nasplug.memory import check_fits
from nasplug.errors import ConfigError, NasplugError, RunDirError
from nasplug import signals
from nasplug.divergence import (DivergenceError, first_nonfinite_tensor, gradient_norm, is_finite, restore,
                                running_statistics)
from nasplug.progress import progress
from nasplug.run_directory import RunDirectory, abandons_claim_on_error, plain
from nasplug.rundir import (CHECKPOINT, CONFIG, GENOTYPE, METRICS, PREVIOUS_CHECKPOINT, RESULT, not_a_run_dir,
                            read_json)
from nasplug.provenance import provenance
from nasplug.schedules import CosineSchedule
from nasplug.search.compose import check_versions, compose, split_record, strategy_spec
from nasplug.spaces.base import Genotype, SearchSpace

Callback = Callable[["SearchRun", str], None]
logger = logging.getLogger(__name__)


@attrs.frozen(eq=False)
class SearchResult:
    """What a search found and where it left its files."""

    genotype: Genotype
    space: SearchSpace
    history: list[dict[str, Any]]
    run_dir: Path | None
    config: SearchConfig
    benchmark: dict[str, float] | None = None

    def genotype_record(self) -> dict[str, Any]:
        return genotype_record(self.space, self.genotype)


def genotype_record(space: SearchSpace, genotype: Genotype) -> dict[str, Any]:
    """The JSON written to ``genotype.json``: enough for ``nasplug train`` to rebuild the child."""
    return {"space": space.name, "space_options": space.options(), "genotype": genotype.to_json(),
            "string": str(genotype)}


def merged_config(user: Mapping[str, Any], registry=None) -> SearchConfig:
    """Defaults < the strategy preset's defaults < what the user set."""
    registry = registry or registry_module.default_registry()
    base = SearchConfig.from_dict(user)
    spec = strategy_spec(base.strategy, registry)
    merged = spec.defaults_for(base.space)
    merged.update(user)
    return SearchConfig.from_dict(merged)


class SearchRun:
    """Owns every part of one search; strategies reach the parts through it."""

    @abandons_claim_on_error
    def __init__(self, config: SearchConfig, registry=None, run_dir: str | Path | None = None,
                 callbacks: Iterable[Callback] = (), verbose: bool = False, write_files: bool = True,
                 overwrite: bool = False, cache_dir: str | Path | None = None):
        """``cache_dir`` is where the latency model keeps what it measures (:attr:`LatencyModel.cache_dir`):
        the run directory by default; :meth:`resume` passes the resumed run's."""
        self.registry = registry or registry_module.default_registry()
        # names, options and capabilities are settled before anything is built or written
        self.composition = compose(config, self.registry)
        self.spec = self.composition.spec
        self.config = cfg = config
        parts = self.composition.config
        self.callbacks = list(callbacks)
        self.dist = distributed.context(cfg.device)
        self.verbose = verbose and self.dist.writes_files
        self.device = resolve_device(self.dist.device(cfg.device))

        apply_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.space: SearchSpace = self.registry.get("space", cfg.space, **cfg.space_options)
        self.data = self.registry.get("dataset", cfg.data, **cfg.data_options)
        self.train_set, self.valid_set = search_split(self.data.train, cfg.train_portion, cfg.seed)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        check_fits(lambda: self.space.build_supernet(self.data.input_shape, self.data.num_classes), self.device,
                   f"{cfg.space} supernet", cfg.space_options)
        self.supernet = self.space.build_supernet(self.data.input_shape, self.data.num_classes).to(self.device)
        self.arch = ArchParameters(self.space.decisions, cfg.arch_init_std, self.generator).to(self.device)
        if cfg.sync_batchnorm:
            self.supernet = distributed.convert_sync_batchnorm(self.supernet, self.dist)
        self.dist.broadcast_module(self.supernet)
        self.dist.broadcast_module(self.arch)

        self.sampler: Sampler = self.registry.get("sampler", parts.sampler, **parts.sampler_options)
        self.optimizer: ArchOptimizer = self.registry.get("arch_optimizer", parts.arch_optimizer,
                                                          **parts.optimizer_options)
        self.latency_model: LatencyModel | None = None
        self.reward: Reward | None = None
        self.files = RunDirectory.nowhere(self.dist)  # the run directory's owner: every file goes through it
        if write_files:  # rank 0 claims in a distributed search
            # claimed before the cost parts: a latency model keeps what it measures in it
            label = f"{cfg.space}-{run_dir_label(cfg.strategy)}-seed{cfg.seed}"
            self.files = RunDirectory.claim(self, run_dir, dist=self.dist, files=RUN_FILES, overwrite=overwrite,
                                            new_in=(cfg.runs_root, label))
        distributed.rank0_first(self.dist, self._build_cost_parts, self.run_dir if cache_dir is None else Path(cache_dir))
        self.benchmark = None
        if cfg.benchmark is not None:
            self.benchmark = self.registry.get("benchmark", cfg.benchmark, **cfg.benchmark_options)
            if not self.benchmark.supports(self.space):
                raise ConfigError(f"benchmark {cfg.benchmark!r} cannot score genotypes of space {self.space.name!r}")

        self.w_optimizer = torch.optim.SGD(self.supernet.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                                           nesterov=cfg.w_nesterov and cfg.w_momentum > 0,
                                           weight_decay=cfg.w_weight_decay)
        self.w_schedule = CosineSchedule(self.w_optimizer, cfg.w_lr, cfg.w_lr_min, cfg.epochs)
        self.train_loader = self._loader(self.train_set, cfg.batch_size)
        self.valid_loader = self._loader(self.valid_set, cfg.valid_batch_size or cfg.batch_size)
        steps = len(self.train_loader)  # the validation loader is cycled if it is shorter
        if cfg.steps_per_epoch is not None:
            steps = min(steps, cfg.steps_per_epoch)
        self.state = SearchState(self.space, self.generator, cfg.epochs, steps)
        self.history: list[dict[str, Any]] = []
        self.finished = False
        self.final: Genotype | None = None
        self.optimizer.setup(self)
        self.rank_sampling = distributed.setup_search(self)

        self.skipped_steps = 0
        self.files.start(self.composition.record(self.registry, self.provenance()) if self.run_dir else {},
                         config_fingerprint(self.composition.config), self.rank_sampling)

    @property
    def run_dir(self) -> Path | None:
        """The run directory this process writes (None: another rank writes it, or the run writes nothing)."""
        return self.files.run_dir

    def release(self) -> None:
        """Give up the run directory's lock (done when :meth:`run` returns)."""
        self.files.release()

    # -- construction helpers --------------------------------------------
    def provenance(self) -> dict[str, Any]:
        """Versions, host and device this run is made on (recorded in config.json and result.json)."""
        return provenance(self.registry, self.config.device)

    def _build_cost_parts(self, cache_dir: Path | None) -> None:
        cfg = self.composition.config  # compose() decided whether a reward applies and which cost model
        reward_name, model_name = cfg.reward, cfg.latency_model
        if reward_name is None:
            return
        self.latency_model = self.registry.get("latency_model", model_name, **cfg.latency_options)
        self.latency_model.cache_dir = cache_dir
        self.latency_model.prepare(self.space, self.data.input_shape, self.data.num_classes)
        options = dict(cfg.reward_options)
        if cfg.latency_target is not None:
            options["target"] = cfg.latency_target
        self.reward = self.registry.get("reward", reward_name, **options)

    def _loader(self, dataset, batch_size: int) -> DataLoader:
        if len(dataset) < batch_size:
            raise ConfigError(f"batch size {batch_size} exceeds the {len(dataset)} examples of a search split")
        if self.dist.active:
            return distributed.sharded_loader(dataset, batch_size, self.dist, shuffle=True, drop_last=True)
        return DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                          generator=torch.Generator())

    # -- the pieces strategies use ------------------------------------------
    def sample(self) -> dict[str, Selection]:
        """Selections from the run's sampler for the current state."""
        return self.sampler.sample(self.arch, self.state)

    def forward(self, x: torch.Tensor, selections: Mapping[str, Selection]) -> torch.Tensor:
        return self.supernet(x, selections)

    def sgd_step(self, x: torch.Tensor, y: torch.Tensor, selections: Mapping[str, Selection]) -> dict[str, float]:
        """One SGD step of the supernet weights for the given selections."""
        self.supernet.train()
        self.w_optimizer.zero_grad(set_to_none=True)
        statistics = running_statistics(self.supernet) if self.config.on_nonfinite == "skip" else None
        logits = self.supernet(x, selections)
        loss = F.cross_entropy(logits, y)
        loss_value = loss.item()
        # the ranks agree (a NaN on one shard makes the mean NaN), so all skip or none does; the stop check
        # rides in the same all-reduce
        if not self.finite_or_skip("training loss", self.check_stop([loss_value])[0] / self.dist.world_size):
            restore(statistics)  # the skipped forward must not leave NaN in BatchNorm's running statistics
            return {}
        loss.backward()
        if not self.step_weights():
            return {}
        return {"train_loss": loss_value, "train_acc": accuracy(logits.detach(), y)}

    def step_weights(self) -> bool:
        """The tail every weight step shares: average the gradients over the ranks, clip, and step; a
        non-finite gradient norm drops the gradients and skips the step (False) or stops the run."""
        self.average_gradients(self.supernet.parameters())
        norm = float(gradient_norm(self.supernet.parameters(), self.config.grad_clip))
        if not self.finite_or_skip("weight gradient norm", norm):
            self.w_optimizer.zero_grad(set_to_none=True)
            return False
        self.w_optimizer.step()
        return True

    def check_stop(self, values: Iterable[float] = ()) -> list[float]:
        """Stop here if a signal reached any rank (:func:`signals.check_agreed`); ``values`` are summed over
        the ranks in the same all-reduce, which is returned.  :meth:`sgd_step` checks with its loss; a step
        whose weight step does not go through it is checked once the step is done (one collective a step)."""
        self._stop_checked = self.state.global_step
        return signals.check_agreed(self.dist, self.state.epoch, self.state.step_in_epoch, self.run_dir, values)

    _stop_checked: int | None = None  # the global step whose stop check is done

    def finite_or_skip(self, quantity: str, value: float) -> bool:
        """True when ``value`` is finite; else stop (DivergenceError) or, with on_nonfinite="skip", count a skip."""
        if is_finite(value):
            return True
        if self.config.on_nonfinite != "skip":
            raise DivergenceError(quantity, value, self.state.epoch, self.state.step_in_epoch,
                                  self.files.kept_checkpoint())
        self.skipped_steps += 1
        return False

    def _arch_step_checked(self, train_batch, valid_batch) -> dict[str, float]:
        """The strategy's architecture step, then a check that its loss and parameters are finite."""
        skip = self.config.on_nonfinite == "skip"
        saved = copy.deepcopy((self.arch.state_dict(), self.optimizer.state_dict())) if skip else None
        statistics = running_statistics(self.supernet) if skip else None
        metrics = self.optimizer.arch_step(self, train_batch, valid_batch)
        bad = next((k for k, v in metrics.items() if not is_finite(v)), None)
        quantity, value = (f"architecture-step {bad}", metrics[bad]) if bad is not None else (None, None)
        if quantity is None:
            name = first_nonfinite_tensor(self.arch.state_dict().items())
            if name is not None:
                quantity, value = f"architecture parameter {name!r}", float("nan")
        if quantity is None or self.finite_or_skip(quantity, value):
            return metrics
        self.arch.load_state_dict(saved[0])
        self.optimizer.load_state_dict(saved[1])
        restore(statistics)
        return {}

    def _check_weights_finite(self) -> None:
        """Before a checkpoint: a weight that overflowed without a NaN loss must not be saved."""
        name = first_nonfinite_tensor(self.supernet.state_dict().items())
        if name is not None:
            # checked by save(), once the epoch counter has moved on to the next epoch
            raise DivergenceError(f"supernet weight {name!r}", float("nan"), max(0, self.state.epoch - 1),
                                  self.state.steps_per_epoch - 1, self.files.kept_checkpoint(),
                                  skipping=self.config.on_nonfinite == "skip")

    def average_gradients(self, params) -> None:
        """Mean of the gradients over the ranks of a distributed search (nothing in one process).

        Call it between ``backward`` and the optimizer step (before clipping);
        an architecture optimizer that steps its own optimizer calls it on
        ``run.arch.parameters()``.
        """
        self.dist.average_gradients(params)

    @contextlib.contextmanager
    def frozen_weights(self):
        """No weight gradients inside (an architecture step then skips their cost)."""
        flags = [p.requires_grad for p in self.supernet.parameters()]
        for p in self.supernet.parameters():
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in zip(self.supernet.parameters(), flags):
                p.requires_grad_(flag)

    def expected_cost(self, selections: Mapping[str, Selection]) -> torch.Tensor:
        if self.latency_model is None:
            raise ConfigError("this search has no latency model; set latency_model= and reward=")
        return self.latency_model.expected(selections)

    def arch_objective(self, logits: torch.Tensor, y: torch.Tensor,
                       selections: Mapping[str, Selection]) -> torch.Tensor:
        """The loss a gradient-based architecture step minimises.

        Without a reward it is the validation cross-entropy.  With one, it is
        ``-reward(Q, T)`` with the differentiable quality ``Q = exp(-CE)``
        (the batch's geometric-mean likelihood, in (0, 1] like accuracy) and
        ``T`` the latency model's expected cost under the selections, so a
        GDAS or DARTS search can take a TuNAS reward.
        """
        ce = F.cross_entropy(logits, y)
        if self.reward is None:
            return ce
        return -self.reward(torch.exp(-ce), self.expected_cost(selections))

    @torch.no_grad()
    def quality(self, choices: Mapping[str, int], batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        """The quality signal Q of one discrete architecture: its accuracy on ``batch`` with the shared weights.

        Reward-driven optimizers (REINFORCE) call this rather than running the
        supernet themselves, so a tabular benchmark can answer it from a table
        instead (see the NAS-Bench-201 plugin).
        """
        self.supernet.train()  # batch statistics, as TuNAS scores candidates
        x, y = batch
        return accuracy(self.supernet(x, self.space.selections(choices, self.device)), y)

    def cost(self, choices: Mapping[str, int]) -> float:
        """The latency model's cost of one discrete architecture."""
        if self.latency_model is None:
            raise ConfigError("this search has no latency model; set latency_model= and reward=")
        return float(self.latency_model.predict(choices))

    def arch_distribution(self) -> dict[str, list[float]]:
        return {k: v.cpu().tolist() for k, v in self.arch.probabilities().items()}

    def batches(self, loader: DataLoader, limit: int | None = None):
        for k, (x, y) in enumerate(loader):
            if limit is not None and k >= limit:
                return
            yield x.to(self.device), y.to(self.device)

    @torch.no_grad()
    def evaluate(self, choices: Mapping[str, int], max_batches: int | None = None,
                 loader: DataLoader | None = None) -> tuple[float, float]:
        """Validation loss and accuracy of one discrete architecture with the shared weights.

        Batch norm uses batch statistics, as in every weight-sharing search
        (the running statistics of a supernet mix all paths).
        """
        self.supernet.train()
        selections = self.space.selections(choices, self.device)
        total_loss, total_correct, total = 0.0, 0, 0
        loader = loader or self._eval_loader()
        for x, y in self.batches(loader, max_batches):
            logits = self.supernet(x, selections)
            total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
            total_correct += int((logits.argmax(1) == y).sum())
            total += len(y)
        total_loss, total_correct, total = self.dist.sum([total_loss, total_correct, total])
        return total_loss / max(1, total), total_correct / max(1, total)

    def _eval_loader(self) -> DataLoader:
        # a fixed order so that evaluations are comparable and need no randomness
        if self.dist.active:
            return distributed.sharded_loader(self.valid_set, self.config.valid_batch_size or self.config.batch_size,
                                              self.dist, shuffle=False, drop_last=False)
        return DataLoader(self.valid_set, batch_size=self.config.valid_batch_size or self.config.batch_size,
                          shuffle=False)

    # -- the loop -----------------------------------------------------------
    def _set_lr(self, epoch: int) -> float:
        return self.w_schedule.set_epoch(epoch)  # torch's LambdaLR with the cosine formula (nasplug.schedules)

    def _shuffle(self, epoch: int) -> None:
        seed = self.config.seed * 1_000_003 + epoch
        self.train_loader.generator.manual_seed(seed)
        self.valid_loader.generator.manual_seed(seed + 500_009)

    def _step_order(self):
        if self.optimizer.arch_first:
            return ("arch", "weight")
        return ("weight", "arch")

    def run_epoch(self) -> dict[str, Any]:
        epoch = self.state.epoch
        started, cpu_started = time.time(), time.process_time()
        lr = self._set_lr(epoch)
        self._shuffle(epoch)
        sums: dict[str, float] = {}
        steps = 0
        self._bar = progress(self.state.steps_per_epoch, f"epoch {epoch + 1}/{self.state.epochs}", log=logger,
                             enabled=self.verbose)
        pairs = zip(self.batches(self.train_loader), self._cycle(self.valid_loader))
        self.skipped_steps = 0
        for step, (train_batch, valid_batch) in enumerate(pairs):
            if step >= self.state.steps_per_epoch:
                break
            self.state.step_in_epoch = step
            for part in self._step_order():
                if part == "weight":
                    metrics = self.optimizer.weight_step(self, *train_batch)
                    bad = next((k for k, v in metrics.items() if not is_finite(v)), None)
                    if bad is not None:  # a strategy's own weight step: too late to skip it
                        raise DivergenceError(f"weight-step {bad}", metrics[bad], epoch, step, self.files.kept_checkpoint())
                else:
                    metrics = self._arch_step_checked(train_batch, valid_batch)
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
            if self._stop_checked != self.state.global_step:  # no sgd_step carried the check
                self.check_stop()
            steps += 1
            for callback in self.callbacks:
                callback(self, "step")
            if self.verbose:
                self._progress(step + 1, sums, steps)
        record: dict[str, Any] = {"epoch": epoch, "lr": lr, "steps": steps}
        if self.skipped_steps:
            record["skipped_steps"] = self.skipped_steps
        record.update({k: v / max(1, steps) for k, v in distributed.mean_metrics(self.dist, sums).items()})
        record.update(self.sampler.metrics(self.state))
        distribution = self.arch_distribution()
        genotype = self.optimizer.epoch_genotype(self) if hasattr(self.optimizer, "epoch_genotype") else \
            self.space.derive(distribution)
        if genotype is not None:
            choices = self.space.choices_from_genotype(genotype)
            valid_loss, valid_acc = self.evaluate(choices, self.config.eval_batches)
            record.update({"genotype": str(genotype), "derived_valid_loss": valid_loss,
                           "derived_valid_acc": valid_acc})
            if self.latency_model is not None:
                record["derived_latency"] = self.latency_model.predict(choices)
            if self.benchmark is not None:
                record["benchmark"] = self.benchmark.query(self.space, genotype)
        record["distribution"] = distribution
        record["seconds"] = time.time() - started
        # cumulative process CPU seconds of the search, carried over a resume by the checkpointed history
        before = self.history[-1].get("cpu_seconds", 0.0) if self.history else 0.0
        record["cpu_seconds"] = before + time.process_time() - cpu_started
        self.history.append(record)
        self.state.epoch = epoch + 1
        self.state.step_in_epoch = 0
        self._epoch_line(record)
        return record

    def _cycle(self, loader: DataLoader):
        """Batches of ``loader`` without end: a larger validation batch (TuNAS) must not shorten the epoch."""
        while True:
            yield from self.batches(loader)

    def _progress(self, step: int, sums: dict[str, float], steps: int) -> None:
        self._bar.update(1, loss=sums.get("train_loss", 0.0) / max(1, steps),
                         acc=sums.get("train_acc", 0.0) / max(1, steps))

    def _epoch_line(self, record: dict[str, Any]) -> None:
        """The epoch's summary, at INFO on ``nasplug.search.run`` (the CLI shows it; a library user routes it)."""
        self._bar.close()
        parts = [f"epoch {record['epoch'] + 1}/{self.state.epochs}",
                 f"train loss {record.get('train_loss', float('nan')):.3f} acc {record.get('train_acc', float('nan')):.3f}"]
        if "derived_valid_acc" in record:
            parts.append(f"derived valid acc {record['derived_valid_acc']:.3f}")
        parts.append(f"{record['seconds']:.1f}s")
        logger.info(" | ".join(parts))

    def run(self) -> SearchResult:
        """Run (or continue) the search to the end and return its result."""
        while self.state.epoch < self.config.epochs:
            self.run_epoch()
            for callback in self.callbacks:
                callback(self, "epoch")
            self.save()
            signals.check_agreed(self.dist, self.state.epoch, 0, self.run_dir)
        if not self.finished:
            self.final = self.optimizer.final_genotype(self)
            self.finished = True
            self.save()
        scores = self.benchmark.query(self.space, self.final) if self.benchmark is not None else None
        result = SearchResult(self.final, self.space, self.history, self.run_dir, self.config, scores)
        record = result.genotype_record()
        self.files.finish({} if self.run_dir is None else {
            GENOTYPE: record, RESULT: {"genotype": record, "benchmark": scores, "history": self.history,
                                       "epochs": len(self.history), "provenance": self.provenance()}})
        return result

    # -- checkpoints --------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.state.epoch,
            "supernet": self.supernet.state_dict(),
            "arch": self.arch.state_dict(),
            "w_optimizer": self.w_optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "arch_optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "history": self.history,
            "finished": self.finished,
            "final": None if self.final is None else self.final.to_json(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.supernet.load_state_dict(state["supernet"])  # strict: another space's weights are refused
        self.arch.load_state_dict(state["arch"])
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.optimizer.load_state_dict(state["arch_optimizer"])
        self.generator.set_state(state["generator"])
        self.history = list(state["history"])
        self.state.epoch = int(state["epoch"])
        self.finished = bool(state["finished"])
        self.final = None if state["final"] is None else self.space.genotype_from_json(state["final"])

    def save(self) -> None:
        """Hand this epoch's state to the run directory's owner (every rank calls it: the ranks' RNG states are
        gathered into rank 0's checkpoint); weights that overflowed without a NaN loss are never saved."""
        if self.run_dir is None and not self.dist.active:
            return
        self._check_weights_finite()
        self.files.save(self.state_dict())

    @classmethod
    def resume(cls, run_dir: str | Path, registry=None, callbacks: Iterable[Callback] = (),
               verbose: bool = False, from_previous: bool = False, strict: bool = False,
               unverified_ok: bool = False) -> "SearchRun":
        """Rebuild a run from its directory and load its last checkpoint (``checkpoint.prev.pt`` if asked).

        A plugin, the kernel or torch that changed version since the run
        started is reported (refused with ``strict``); a checkpoint without a
        digest is refused unless ``unverified_ok``.  Nothing is rewritten that
        already holds the right content: resuming a finished run from a
        read-only copy works.
        """
        run_dir = Path(run_dir)
        config, record = load_search_config(run_dir)
        RunDirectory.check_world(run_dir, distributed.context(config.device))
        registry = registry or registry_module.default_registry()
        check_versions(record, registry, config.device, strict)
        run = cls(config, registry=registry, callbacks=callbacks, verbose=verbose, write_files=False,
                  cache_dir=run_dir)
        run.files = RunDirectory.reopen(run, run_dir, dist=run.dist, files=RUN_FILES)
        # the resolved config (qualified names, merged options), or as config.json has it (run dirs written
        # before names were resolved)
        run.files.restore(run, what="a search", device=run.device, from_previous=from_previous,
                          fingerprints=[config_fingerprint(run.composition.config), config_fingerprint(run.config)],
                          optimizer_params={"w_optimizer": list(run.supernet.parameters())},
                          check=run._checkpoint_problem, unverified_ok=unverified_ok)
        return run

    def _checkpoint_problem(self, state: Mapping[str, Any]) -> str | None:
        """What a search checkpoint may not hold beyond its fields' kinds (None when it fits)."""
        if not 0 <= state["epoch"] <= self.config.epochs:
            return f"it records epoch {state['epoch']}, outside 0..{self.config.epochs}"
        if state["finished"] and (state["final"] is None or state["epoch"] != self.config.epochs):
            return "it says the search finished, without a final genotype after the last epoch"
        return None


#: files a search writes; ``overwrite`` removes them before a new run starts in the same directory
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, PREVIOUS_CHECKPOINT, GENOTYPE, RESULT, "cells.png", "distribution.png",
             distributed.WORLD_FILE)


def config_fingerprint(config: SearchConfig) -> dict[str, Any]:
    """The config as plain JSON data, stored in checkpoints to recognise another run's file."""
    return plain(config.to_dict())


def run_dir_label(strategy: str) -> str:
    """A strategy name as a run directory's name has it: ``nasplug-gdas:gdas`` becomes ``nasplug-gdas.gdas``
    (a ``:`` is a path separator on Windows and macOS's Finder, and breaks ``PATH``-like lists)."""
    return strategy.replace(":", ".")


def load_search_config(run_dir: Path) -> tuple[SearchConfig, dict[str, Any]]:
    """The SearchConfig in ``run_dir/config.json`` and the record beside it (components, versions);
    every kind of damage is a one-line error naming it."""
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not path.exists():
        raise not_a_run_dir(run_dir)
    data = read_json(path, "the search configuration")
    if "train" in data and "genotype" in data:
        raise RunDirError(f"{path}: this is a retraining run, not a search")
    if "tabular" in data:
        raise RunDirError(f"{path}: a tabular run of nasplug-nb201, not a search; `nasplug nb201-search --run-dir "
                          f"{run_dir}` with its method continues it")
    try:
        return split_record(data)
    except NasplugError as exc:
        raise RunDirError(f"{path}: not a valid search configuration: {exc}") from None
