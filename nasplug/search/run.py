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
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import attrs
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from nasplug import registry as registry_module
from nasplug.components import ArchOptimizer, ArchParameters, LatencyModel, Reward, Sampler, Selection
from nasplug.config import SearchConfig, apply_threads
from nasplug.data.bundle import search_split
from nasplug.errors import ConfigError, NasplugError
from nasplug.progress import progress
from nasplug.rundir import (CHECKPOINT, CONFIG, GENOTYPE, METRICS, RESULT, atomic_torch_save, atomic_write_json,
                            new_run_dir, safe_torch_load, write_jsonl)
from nasplug.search.spec import StrategySpec
from nasplug.spaces.base import Genotype, SearchSpace

Callback = Callable[["SearchRun", str], None]
logger = logging.getLogger(__name__)


@attrs.define
class SearchState:
    """Where the search is; samplers and optimizers read their schedules from it."""

    space: SearchSpace
    generator: torch.Generator
    epochs: int
    steps_per_epoch: int
    epoch: int = 0
    step_in_epoch: int = 0

    @property
    def global_step(self) -> int:
        return self.epoch * self.steps_per_epoch + self.step_in_epoch

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def progress(self) -> float:
        """Fraction of the search done, in [0, 1)."""
        return self.global_step / max(1, self.total_steps)


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


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == y).float().mean())


def strategy_spec(name: str, registry) -> StrategySpec:
    """The preset registered as ``name`` (a StrategySpec, or a callable returning one)."""
    spec = registry.factory("strategy", name)
    if not isinstance(spec, StrategySpec):
        spec = spec()
    if not isinstance(spec, StrategySpec):
        raise NasplugError(f"strategy {name!r} did not produce a StrategySpec (got {type(spec).__name__})")
    return spec


def merged_config(user: Mapping[str, Any], registry=None) -> SearchConfig:
    """Defaults < the strategy preset's defaults < what the user set."""
    registry = registry or registry_module.default_registry()
    spec = strategy_spec(SearchConfig.from_dict(user).strategy, registry)
    merged = dict(spec.defaults)
    merged.update(user)
    return SearchConfig.from_dict(merged)


class SearchRun:
    """Owns every part of one search; strategies reach the parts through it."""

    def __init__(self, config: SearchConfig, registry=None, run_dir: str | Path | None = None,
                 callbacks: Iterable[Callback] = (), verbose: bool = False, write_files: bool = True):
        self.registry = registry or registry_module.default_registry()
        self.spec = strategy_spec(config.strategy, self.registry)
        self.config = cfg = config
        self.callbacks = list(callbacks)
        self.verbose = verbose
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {cfg.device!r} asked for, but torch sees no CUDA device")

        apply_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.space: SearchSpace = self.registry.get("space", cfg.space, **cfg.space_options)
        self.data = self.registry.get("dataset", cfg.data, **cfg.data_options)
        self.train_set, self.valid_set = search_split(self.data.train, cfg.train_portion, cfg.seed)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.supernet = self.space.build_supernet(self.data.input_shape, self.data.num_classes).to(self.device)
        self.arch = ArchParameters(self.space.decisions, cfg.arch_init_std, self.generator).to(self.device)

        self.sampler: Sampler = self.registry.get(
            "sampler", cfg.sampler or self.spec.sampler, **{**self.spec.sampler_options, **cfg.sampler_options})
        self.optimizer: ArchOptimizer = self.registry.get(
            "arch_optimizer", cfg.arch_optimizer or self.spec.arch_optimizer,
            **{**self.spec.optimizer_options, **cfg.optimizer_options})
        self.latency_model: LatencyModel | None = None
        self.reward: Reward | None = None
        self._build_cost_parts()
        self.benchmark = None
        if cfg.benchmark is not None:
            self.benchmark = self.registry.get("benchmark", cfg.benchmark, **cfg.benchmark_options)
            if not self.benchmark.supports(self.space):
                raise ConfigError(f"benchmark {cfg.benchmark!r} cannot score genotypes of space {self.space.name!r}")

        self.w_optimizer = torch.optim.SGD(self.supernet.parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                                           nesterov=cfg.w_nesterov and cfg.w_momentum > 0,
                                           weight_decay=cfg.w_weight_decay)
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

        self.run_dir: Path | None = None
        if write_files:
            label = f"{cfg.space}-{cfg.strategy}-seed{cfg.seed}"
            self.run_dir = Path(run_dir) if run_dir is not None else new_run_dir(cfg.runs_root, label)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.run_dir / CONFIG, cfg.to_dict())

    # -- construction helpers --------------------------------------------
    def _build_cost_parts(self) -> None:
        cfg = self.config
        # a preset's reward (TuNAS) applies only when there is a target to aim at
        reward_name = cfg.reward or (self.spec.reward if cfg.latency_target is not None else None)
        model_name = cfg.latency_model or self.spec.latency_model
        if cfg.latency_target is not None and reward_name is None:
            raise ConfigError("latency_target is set but no reward is chosen; pass reward= (e.g. 'absolute')")
        if reward_name is None:
            return
        model_name = model_name or "flops"
        self.latency_model = self.registry.get("latency_model", model_name, **cfg.latency_options)
        self.latency_model.prepare(self.space, self.data.input_shape, self.data.num_classes)
        options = dict(cfg.reward_options)
        if cfg.latency_target is not None:
            options["target"] = cfg.latency_target
        self.reward = self.registry.get("reward", reward_name, **options)

    def _loader(self, dataset, batch_size: int) -> DataLoader:
        if len(dataset) < batch_size:
            raise ConfigError(f"batch size {batch_size} exceeds the {len(dataset)} examples of a search split")
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
        logits = self.supernet(x, selections)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        self.w_optimizer.step()
        return {"train_loss": loss.item(), "train_acc": accuracy(logits.detach(), y)}

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
        return total_loss / max(1, total), total_correct / max(1, total)

    def _eval_loader(self) -> DataLoader:
        # a fixed order so that evaluations are comparable and need no randomness
        return DataLoader(self.valid_set, batch_size=self.config.valid_batch_size or self.config.batch_size,
                          shuffle=False)

    # -- the loop -----------------------------------------------------------
    def _set_lr(self, epoch: int) -> float:
        cfg = self.config
        lr = cfg.w_lr_min + 0.5 * (cfg.w_lr - cfg.w_lr_min) * (1 + math.cos(math.pi * epoch / cfg.epochs))
        for group in self.w_optimizer.param_groups:
            group["lr"] = lr
        return lr

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
        started = time.time()
        lr = self._set_lr(epoch)
        self._shuffle(epoch)
        sums: dict[str, float] = {}
        steps = 0
        self._bar = progress(self.state.steps_per_epoch, f"epoch {epoch + 1}/{self.state.epochs}", log=logger,
                             enabled=self.verbose)
        pairs = zip(self.batches(self.train_loader), self._cycle(self.valid_loader))
        for step, (train_batch, valid_batch) in enumerate(pairs):
            if step >= self.state.steps_per_epoch:
                break
            self.state.step_in_epoch = step
            for part in self._step_order():
                if part == "weight":
                    metrics = self.optimizer.weight_step(self, *train_batch)
                else:
                    metrics = self.optimizer.arch_step(self, train_batch, valid_batch)
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
            steps += 1
            for callback in self.callbacks:
                callback(self, "step")
            if self.verbose:
                self._progress(step + 1, sums, steps)
        record: dict[str, Any] = {"epoch": epoch, "lr": lr, "steps": steps}
        record.update({k: v / max(1, steps) for k, v in sums.items()})
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
        if not self.finished:
            self.final = self.optimizer.final_genotype(self)
            self.finished = True
            self.save()
        scores = self.benchmark.query(self.space, self.final) if self.benchmark is not None else None
        result = SearchResult(self.final, self.space, self.history, self.run_dir, self.config, scores)
        if self.run_dir is not None:
            record = result.genotype_record()
            atomic_write_json(self.run_dir / GENOTYPE, record)
            atomic_write_json(self.run_dir / RESULT, {"genotype": record, "benchmark": scores,
                                                      "history": self.history, "epochs": len(self.history)})
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
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "history": self.history,
            "finished": self.finished,
            "final": None if self.final is None else self.final.to_json(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.arch.load_state_dict(state["arch"])
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.optimizer.load_state_dict(state["arch_optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.history = list(state["history"])
        self.state.epoch = int(state["epoch"])
        self.finished = bool(state["finished"])
        self.final = None if state["final"] is None else self.space.genotype_from_json(state["final"])

    def save(self) -> None:
        """Checkpoint atomically, then rewrite the metrics so they always match the checkpoint."""
        if self.run_dir is None:
            return
        atomic_torch_save(self.run_dir / CHECKPOINT, self.state_dict())
        write_jsonl(self.run_dir / METRICS, self.history)

    @classmethod
    def resume(cls, run_dir: str | Path, registry=None, callbacks: Iterable[Callback] = (),
               verbose: bool = False) -> "SearchRun":
        """Rebuild a run from its directory and load its last checkpoint."""
        import json

        run_dir = Path(run_dir)
        config_path = run_dir / CONFIG
        if not config_path.exists():
            raise ConfigError(f"{str(run_dir)!r} is not a nasplug run directory (no {CONFIG})")
        config = SearchConfig.from_dict(json.loads(config_path.read_text()))
        run = cls(config, registry=registry, run_dir=run_dir, callbacks=callbacks, verbose=verbose)
        checkpoint = run_dir / CHECKPOINT
        if checkpoint.exists():
            run.load_state_dict(safe_torch_load(checkpoint, map_location=run.device))
        return run
