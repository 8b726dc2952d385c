"""Retraining a found architecture from scratch and measuring it on the untouched test set."""

from __future__ import annotations

import json
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
from nasplug.config import TrainConfig, apply_threads
from nasplug.errors import ConfigError, GenotypeError
from nasplug.metrics import count_macs, count_parameters
from nasplug.progress import progress
from nasplug.speedups import autocast, autocast_dtype, compiled, grad_scaler, loader_options
from nasplug.rundir import CHECKPOINT, CONFIG, METRICS, RESULT, atomic_torch_save, atomic_write_json, new_run_dir, write_jsonl

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
            path = path / "genotype.json"
        if path.exists():
            record = json.loads(path.read_text())
        elif str(source) in registry.names("genotype"):
            record = dict(registry.get("genotype", str(source)))
        else:
            raise GenotypeError(f"{str(source)!r} is neither a genotype JSON file, a run directory, nor a named "
                                f"genotype; named genotypes: {', '.join(registry.names('genotype')) or 'none installed'}")
    for key in ("space", "genotype"):
        if key not in record:
            raise GenotypeError(f"genotype record lacks {key!r}; it needs 'space', 'genotype' and optionally 'space_options'")
    return record


def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> tuple[float, float]:
    model.eval()
    loss_sum, correct, total = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    return loss_sum / max(1, total), correct / max(1, total)


class Trainer:
    """Trains a child network with SGD + cosine annealing (the DARTS evaluation recipe)."""

    def __init__(self, record: Mapping[str, Any], config: TrainConfig, registry=None,
                 run_dir: str | Path | None = None, verbose: bool = False, write_files: bool = True,
                 callbacks: Iterable[Callable[["Trainer", str], None]] = ()):
        self.registry = registry or registry_module.default_registry()
        self.callbacks = list(callbacks)  # called as callback(trainer, "epoch") after each epoch (TensorBoard)
        self.config = cfg = config
        self.record = dict(record)
        self.verbose = verbose
        self.device = torch.device(cfg.device)
        self.amp_dtype = autocast_dtype(cfg.amp, self.device)  # checked before anything is built
        loading = loader_options(cfg.num_workers, cfg.pin_memory, self.device)
        apply_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        search_space = self.registry.get("space", record["space"], **record.get("space_options", {}))
        child_options = {**record.get("space_options", {}), **search_space.child_defaults(), **cfg.space_options}
        self.space = self.registry.get("space", record["space"], **child_options)
        self.genotype = self.space.genotype_from_json(record["genotype"])
        self.data = self.registry.get("dataset", cfg.data, **cfg.data_options)
        train_set = self.data.train if cfg.augment is None else self.data.train.with_augment(cfg.augment)
        self.model = self.space.build_child(self.genotype, self.data.input_shape, self.data.num_classes,
                                            auxiliary=cfg.auxiliary_weight > 0).to(self.device)
        self.net = compiled(self.model, cfg.compile)  # trains; self.model holds the weights checkpoints save
        self.scaler = grad_scaler(self.amp_dtype)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                         weight_decay=cfg.weight_decay)
        if len(train_set) < cfg.batch_size:
            raise ConfigError(f"batch size {cfg.batch_size} exceeds the {len(train_set)} training examples")
        self.train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                       generator=torch.Generator(), **loading)
        self.test_loader = DataLoader(self.data.test, batch_size=256, shuffle=False, **loading)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.run_dir = None
        if write_files:
            label = f"train-{record['space']}-seed{cfg.seed}"
            self.run_dir = Path(run_dir) if run_dir is not None else new_run_dir(cfg.runs_root, label)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.run_dir / CONFIG, {"train": cfg.to_dict(), "genotype": self.record})

    def _epoch(self) -> dict[str, Any]:
        cfg = self.config
        started = time.time()
        lr = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * self.epoch / cfg.epochs))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if hasattr(self.model, "drop_path_prob"):
            self.model.drop_path_prob = cfg.drop_path * self.epoch / cfg.epochs
        self.train_loader.generator.manual_seed(cfg.seed * 1_000_003 + self.epoch)
        self.model.train()
        loss_sum, correct, total = 0.0, 0, 0
        bar = progress(len(self.train_loader), f"train epoch {self.epoch + 1}/{cfg.epochs}", log=logger,
                       enabled=self.verbose)
        for x, y in self.train_loader:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.amp_dtype):
                logits = self.net(x)
                loss = F.cross_entropy(logits, y)
                aux = getattr(self.model, "aux_logits", None)
                if aux is not None and cfg.auxiliary_weight > 0:
                    loss = loss + cfg.auxiliary_weight * F.cross_entropy(aux, y)
            if self.scaler is None:
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
            else:  # float16: scale the loss so small gradients survive, unscale before clipping
                self.scaler.scale(loss).backward()
                if cfg.grad_clip > 0:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
            bar.update(1, loss=loss_sum / total, acc=correct / total)
        bar.close()
        test_loss, test_acc = evaluate(self.model, self.test_loader, self.device)
        record = {"epoch": self.epoch, "lr": lr, "train_loss": loss_sum / total, "train_acc": correct / total,
                  "test_loss": test_loss, "test_acc": test_acc, "seconds": time.time() - started}
        self.history.append(record)
        self.epoch += 1
        logger.info(f"epoch {self.epoch}/{cfg.epochs} | train loss {record['train_loss']:.3f} acc "
                    f"{record['train_acc']:.3f} | test acc {test_acc:.4f} | {record['seconds']:.1f}s")
        for callback in self.callbacks:
            callback(self, "epoch")
        return record

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(), "history": self.history}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.history = int(state["epoch"]), list(state["history"])

    def run(self) -> TrainResult:
        while self.epoch < self.config.epochs:
            self._epoch()
            if self.run_dir is not None:
                atomic_torch_save(self.run_dir / CHECKPOINT, self.state_dict())
                write_jsonl(self.run_dir / METRICS, self.history)
        test_loss, test_acc = evaluate(self.model, self.test_loader, self.device)
        example = next(iter(self.test_loader))[0][:1].to(self.device)
        result = TrainResult(
            test_accuracy=test_acc, test_loss=test_loss,
            parameters=count_parameters(self.model, exclude=lambda n: n.startswith("auxiliary_head")),
            macs=count_macs(self.model, example), history=self.history, run_dir=self.run_dir,
            genotype=str(self.genotype),
        )
        if self.run_dir is not None:
            atomic_write_json(self.run_dir / RESULT, result.to_dict())
        return result


def train(source, config: TrainConfig | None = None, registry=None, run_dir=None, verbose: bool = False,
          write_files: bool = True, callbacks: Iterable[Callable[[Trainer, str], None]] = ()) -> TrainResult:
    """Retrain ``source`` (a genotype record, JSON path, run directory or registered name)."""
    record = load_genotype_record(source, registry)
    return Trainer(record, config or TrainConfig(), registry, run_dir, verbose, write_files, callbacks).run()
