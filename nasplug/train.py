"""Retraining a found architecture from scratch and measuring it on the untouched test set."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import attrs
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from nasplug import distributed, registry as registry_module
from nasplug import signals
from nasplug.config import TrainConfig, apply_threads
from nasplug.devices import resolve_device
from nasplug.divergence import DivergenceError, is_finite
from nasplug.errors import ConfigError, GenotypeError, NasplugError, RunDirError
from nasplug.memory import check_fits
from nasplug.metrics import count_macs, count_parameters
from nasplug.progress import progress
from nasplug.run_directory import RunDirectory, abandons_claim_on_error
from nasplug.rundir import CHECKPOINT, CONFIG, GENOTYPE, METRICS, PREVIOUS_CHECKPOINT, RESULT, read_json
from nasplug.schedules import CosineSchedule
from nasplug.speedups import autocast, autocast_dtype, compiled, grad_scaler, loader_options

#: files a retraining run writes; ``overwrite`` removes them first
TRAIN_FILES = (CONFIG, METRICS, CHECKPOINT, PREVIOUS_CHECKPOINT, RESULT, distributed.WORLD_FILE)

logger = logging.getLogger(__name__)


@attrs.frozen(eq=False)
class TrainResult:
    test_accuracy: float
    test_loss: float
    parameters: int
    macs: int
    history: list[dict[str, Any]]
    run_dir: Path | None
    genotype: str

    def to_dict(self) -> dict[str, Any]:
        return {"test_accuracy": self.test_accuracy, "test_loss": self.test_loss, "parameters": self.parameters,
                "macs": self.macs, "genotype": self.genotype, "epochs": len(self.history),
                "run_dir": None if self.run_dir is None else str(self.run_dir)}


def load_genotype_record(source: str | Path | Mapping[str, Any], registry=None) -> dict[str, Any]:
    """A genotype record from a ``genotype.json`` path, a run directory, a dict, or a registered name."""
    registry = registry or registry_module.default_registry()
    if isinstance(source, Mapping):
        record = dict(source)
    else:
        path = Path(source)
        if path.is_dir():
            path = path / GENOTYPE
            if not path.exists():
                raise RunDirError(f"{path}: file not found; the search in {path.parent} has not finished "
                                  f"(`nasplug resume {path.parent}` finishes it)")
        if path.exists():
            record = read_json(path, "a genotype record")
        elif registry.knows("genotype", str(source)):  # a short or qualified name (nasplug-gdas:gdas)
            record = dict(registry.get("genotype", str(source)))
        else:
            raise GenotypeError(f"{str(source)!r} is neither a genotype JSON file, a run directory, nor a named "
                                f"genotype; named genotypes: {', '.join(registry.names('genotype')) or 'none installed'}")
    where = "" if isinstance(source, Mapping) else f"{source}: "
    for key in ("space", "genotype"):
        if key not in record:
            raise GenotypeError(f"{where}genotype record lacks {key!r}; it needs 'space', 'genotype' and optionally "
                                "'space_options'")
    if not isinstance(record["space"], str) or not isinstance(record.get("space_options", {}), Mapping):
        raise GenotypeError(f"{where}genotype record's 'space' must be a name and 'space_options' a mapping")
    return record


def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device,
             dist: distributed.DistContext | None = None) -> tuple[float, float]:
    """Loss and accuracy over ``loader``; with ``dist``, over every rank's shard together."""
    model.eval()
    loss_sum, correct, total = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    if dist is not None:
        loss_sum, correct, total = dist.sum([loss_sum, correct, total])
    return loss_sum / max(1, total), correct / max(1, total)


class Trainer:
    """Trains a child network with SGD + cosine annealing (the DARTS evaluation recipe)."""

    @abandons_claim_on_error
    def __init__(self, record: Mapping[str, Any], config: TrainConfig, registry=None,
                 run_dir: str | Path | None = None, verbose: bool = False, write_files: bool = True,
                 overwrite: bool = False, callbacks: Iterable[Callable[["Trainer", str], None]] = ()):
        self.registry = registry or registry_module.default_registry()
        # called as callback(trainer, "epoch") after each epoch (TensorBoard), callback(trainer, "step") after each step
        self.callbacks = list(callbacks)
        self.config = cfg = config
        self.record = dict(record)
        self.dist = distributed.context(cfg.device)  # data-parallel retraining under torch's launcher
        self.verbose = verbose and self.dist.writes_files
        self.device = resolve_device(self.dist.device(cfg.device))
        self.amp_dtype = autocast_dtype(cfg.amp, self.device)  # checked before anything is built
        loading = loader_options(cfg.num_workers, cfg.pin_memory, self.device)
        apply_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        # the user's options reach the search space too, so child_C/child_layers change its child defaults;
        # an option the space does not take is a ConfigError naming the ones it does
        search_options = {**record.get("space_options", {}), **cfg.space_options}
        search_space = self.registry.get("space", record["space"], **search_options)
        child_options = {**search_options, **search_space.child_defaults(), **cfg.space_options}
        self.space = self.registry.get("space", record["space"], **child_options)
        try:
            self.genotype = self.space.genotype_from_json(record["genotype"])
        except GenotypeError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise GenotypeError(f"genotype {record['genotype']!r} does not fit space {record['space']!r}: "
                                f"{type(exc).__name__}: {exc}") from None
        self.data = self.registry.get("dataset", cfg.data, **cfg.data_options)
        train_set = self.data.train if cfg.augment is None else self.data.train.with_augment(cfg.augment)
        check_fits(lambda: self.space.build_child(self.genotype, self.data.input_shape, self.data.num_classes,
                                                  auxiliary=cfg.auxiliary_weight > 0),
                   self.device, f"{record['space']} child network", child_options)
        self.model = self.space.build_child(self.genotype, self.data.input_shape, self.data.num_classes,
                                            auxiliary=cfg.auxiliary_weight > 0).to(self.device)
        if cfg.sync_batchnorm:
            self.model = distributed.convert_sync_batchnorm(self.model, self.dist)
        self.dist.broadcast_module(self.model)
        # trains (through DistributedDataParallel when launched with several processes); self.model holds the
        # weights checkpoints save
        self.net = compiled(distributed.data_parallel(self.model, self.dist), cfg.compile)
        self.scaler = grad_scaler(self.amp_dtype)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                         weight_decay=cfg.weight_decay)
        self.schedule = CosineSchedule(self.optimizer, cfg.lr, cfg.lr_min, cfg.epochs)
        if len(train_set) < cfg.batch_size:
            raise ConfigError(f"batch size {cfg.batch_size} exceeds the {len(train_set)} training examples")
        if self.dist.active:
            self.train_loader = distributed.sharded_loader(train_set, cfg.batch_size, self.dist, True, True, **loading)
            self.test_loader = distributed.sharded_loader(self.data.test, 256, self.dist, False, False, **loading)
        else:
            self.train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                           generator=torch.Generator(), **loading)
            self.test_loader = DataLoader(self.data.test, batch_size=256, shuffle=False, **loading)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.files = RunDirectory.nowhere(self.dist)  # the run directory's owner: every file goes through it
        if write_files:  # rank 0 claims in a distributed retraining
            self.files = RunDirectory.claim(self, run_dir, dist=self.dist, files=TRAIN_FILES, overwrite=overwrite,
                                            new_in=(cfg.runs_root, f"train-{record['space']}-seed{cfg.seed}"))
        self.files.start(self.config_record() if self.run_dir else {}, self.fingerprint())

    @property
    def run_dir(self) -> Path | None:
        """The run directory this process writes (None: another rank writes it, or the run writes nothing)."""
        return self.files.run_dir

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this retraining in its checkpoints (another run's checkpoint is refused)."""
        return {"train": self.config.to_dict(), "genotype": self.record}

    def config_record(self) -> dict[str, Any]:
        """What ``config.json`` of a retraining run holds: enough for ``nasplug resume`` to rebuild it."""
        return {"train": self.config.to_dict(), "genotype": self.record, "provenance": self.provenance()}

    def provenance(self) -> dict[str, Any]:
        """Versions, host and device this retraining runs on (recorded in config.json and result.json)."""
        from nasplug.provenance import provenance

        return provenance(self.registry, self.config.device)

    @classmethod
    def resume(cls, run_dir: str | Path, registry=None, verbose: bool = False,
               from_previous: bool = False, unverified_ok: bool = False) -> "Trainer":
        """Rebuild a retraining run from its ``config.json`` and continue from its last checkpoint."""
        run_dir = Path(run_dir)
        path = run_dir / CONFIG
        data = read_json(path, "the retraining configuration")
        if not isinstance(data.get("train"), Mapping) or not isinstance(data.get("genotype"), Mapping):
            raise RunDirError(f"{path}: not a retraining configuration (needs 'train' and 'genotype' objects)")
        try:
            config = TrainConfig.from_dict(data["train"])
            RunDirectory.check_world(run_dir, distributed.context(config.device))
            record = load_genotype_record(data["genotype"], registry)
        except NasplugError as exc:
            raise RunDirError(f"{path}: {exc}") from None
        trainer = cls(record, config, registry, verbose=verbose, write_files=False)
        trainer.files = RunDirectory.reopen(trainer, run_dir, dist=trainer.dist, files=TRAIN_FILES)
        trainer.files.restore(trainer, what="a retraining", device=trainer.device, from_previous=from_previous,
                              fingerprints=[trainer.fingerprint()], unverified_ok=unverified_ok,
                              optimizer_params={"optimizer": list(trainer.model.parameters())},
                              check=trainer._checkpoint_problem)
        return trainer

    _warmed_up = False  # an epoch ran in this process (a compiled model is compiled by then)
    last_step_loss: float | None = None  # this rank's loss of the step just taken (a "step" callback reads it)

    def _checkpoint_problem(self, state: Mapping[str, Any]) -> str | None:
        if not 0 <= state["epoch"] <= self.config.epochs:
            return f"it records epoch {state['epoch']}, outside 0..{self.config.epochs}"
        return None

    def _epoch(self) -> dict[str, Any]:
        cfg = self.config
        started = time.time()
        lr = self.schedule.set_epoch(self.epoch)  # torch's LambdaLR with the cosine formula (nasplug.schedules)
        if hasattr(self.model, "drop_path_prob"):
            self.model.drop_path_prob = cfg.drop_path * self.epoch / cfg.epochs
        self.train_loader.generator.manual_seed(cfg.seed * 1_000_003 + self.epoch)
        self.model.train()
        loss_sum, correct, total = 0.0, 0, 0
        # the first step of a compiled model in this process compiles it: not a step's cost, left out of the ETA
        warmup = 1 if cfg.compile and not self._warmed_up else 0
        self._warmed_up = True
        bar = progress(len(self.train_loader), f"train epoch {self.epoch + 1}/{cfg.epochs}", log=logger,
                       enabled=self.verbose, warmup=warmup)
        for step, (x, y) in enumerate(self.train_loader):
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.amp_dtype):
                logits = self.net(x)
                loss = F.cross_entropy(logits, y)
                aux = getattr(self.model, "aux_logits", None)
                if aux is not None and cfg.auxiliary_weight > 0:
                    loss = loss + cfg.auxiliary_weight * F.cross_entropy(aux, y)
            value = loss.item()
            # one all-reduce a step: the stop flags and the loss (the ranks agree: a NaN on one shard stops all)
            summed_loss, = signals.check_agreed(self.dist, self.epoch, step, self.run_dir, [value])
            if not is_finite(summed_loss):
                raise DivergenceError("training loss", value, self.epoch, step, self.files.kept_checkpoint())
            if self.scaler is None:
                loss.backward()  # DistributedDataParallel averages the gradients over the ranks during backward
                self._average_gradients_without_ddp()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
            else:  # float16: scale the loss so small gradients survive, unscale before clipping
                self.scaler.scale(loss).backward()  # averaged by DDP: an inf on one rank reaches all
                self._average_gradients_without_ddp()
                if cfg.grad_clip > 0:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
            self.last_step_loss = value
            for callback in self.callbacks:
                callback(self, "step")
            loss_sum += value * len(y)
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
            bar.update(1, loss=loss_sum / total, acc=correct / total)
        bar.close()
        loss_sum, correct, total = self.dist.sum([loss_sum, correct, total])
        test_loss, test_acc = evaluate(self.model, self.test_loader, self.device, self.dist)
        record = {"epoch": self.epoch, "lr": lr, "train_loss": loss_sum / total, "train_acc": correct / total,
                  "test_loss": test_loss, "test_acc": test_acc, "seconds": time.time() - started}
        self.history.append(record)
        self.epoch += 1
        logger.info(f"epoch {self.epoch}/{cfg.epochs} | train loss {record['train_loss']:.3f} acc "
                    f"{record['train_acc']:.3f} | test acc {test_acc:.4f} | {record['seconds']:.1f}s")
        for callback in self.callbacks:
            callback(self, "epoch")
        return record

    def _average_gradients_without_ddp(self) -> None:
        """The hand-made mean over the ranks, for a net DistributedDataParallel does not wrap (none in one process)."""
        if not isinstance(self.net, torch.nn.parallel.DistributedDataParallel):
            self.dist.average_gradients(self.model.parameters())

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of the loop (the run directory's owner adds the RNG states and the run's
        identity); a float16 loss scaler's state too, so a resumed mixed-precision run continues it."""
        state = {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "history": self.history}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.history = int(state["epoch"]), list(state["history"])

    def run(self) -> TrainResult:
        while self.epoch < self.config.epochs:
            self._epoch()
            self.files.save(self.state_dict())
            signals.check_agreed(self.dist, self.epoch, 0, self.run_dir)
        test_loss, test_acc = evaluate(self.model, self.test_loader, self.device, self.dist)
        example = next(iter(self.test_loader))[0][:1].to(self.device)
        result = TrainResult(
            test_accuracy=test_acc, test_loss=test_loss,
            parameters=count_parameters(self.model, exclude=lambda n: n.startswith("auxiliary_head")),
            macs=count_macs(self.model, example), history=self.history, run_dir=self.run_dir,
            genotype=str(self.genotype),
        )
        # without its own path, so a finished copy (moved, or read-only) resumes without rewriting it
        recorded = {k: v for k, v in result.to_dict().items() if k != "run_dir"}
        self.files.finish({} if self.run_dir is None else {RESULT: {**recorded, "provenance": self.provenance()}})
        return result


def is_training_run(run_dir: Path) -> bool:
    """Whether ``run_dir/config.json`` describes a retraining run (``{"train": ..., "genotype": ...}``)."""
    try:
        data = read_json(run_dir / CONFIG, "a configuration")
    except RunDirError:
        return False  # the search side reports what is wrong with it
    return "train" in data and "genotype" in data


def train(source, config: TrainConfig | None = None, registry=None, run_dir=None, verbose: bool = False,
          write_files: bool = True, overwrite: bool = False,
          callbacks: Iterable[Callable[[Trainer, str], None]] = ()) -> TrainResult:
    """Retrain ``source`` (a genotype record, JSON path, run directory or registered name)."""
    record = load_genotype_record(source, registry)
    try:
        trainer = Trainer(record, config or TrainConfig(), registry, run_dir, verbose, write_files, overwrite,
                          callbacks)
    except GenotypeError as exc:
        if isinstance(source, (str, Path)) and Path(source).exists():  # name the file the record came from
            path = Path(source) / GENOTYPE if Path(source).is_dir() else Path(source)
            raise GenotypeError(f"{path}: {exc}") from None
        raise
    return trainer.run()
