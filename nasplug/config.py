"""Frozen, validated configuration of a search and of a retraining run.

Configs are data: they are written to ``config.json`` in the run directory,
read back by ``nasplug resume``, and loaded from TOML by ``nasplug search
--config``.  Every field has a default; a strategy preset changes some of
them (its paper's settings) and whatever the user sets wins over both.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any, Mapping

import attrs

from nasplug.errors import ConfigError


def _positive(instance, attribute, value):
    if value is None and attribute.default is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a positive number, got {value!r}")


def positive_int(instance, attribute, value):
    """attrs validator: a strictly positive int (None too where None is the field's default), naming the field."""
    if value is None and attribute.default is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a positive integer, got {value!r}")


def _non_negative(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a number >= 0, got {value!r}")


def _fraction(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be strictly between 0 and 1, got {value!r}")


def _name(instance, attribute, value):
    if value is None and attribute.default is None:
        return
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a component name, got {value!r}")


def _options(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"options must be a mapping of name to value, got {value!r}")
    return dict(value)


def _betas(value: Any) -> tuple[float, float]:
    betas = tuple(float(v) for v in value)
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ConfigError(f"betas must be two numbers in [0, 1), got {value!r}")
    return betas  # type: ignore[return-value]


def _device(instance, attribute, value):
    if not isinstance(value, str) or not (value == "cpu" or value.startswith("cuda") or value == "mps"):
        raise ConfigError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {value!r}")


def _one_of(*allowed):
    """attrs validator: the value is one of ``allowed`` (an error names the field, the value and the choices)."""
    def check(instance, attribute, value):
        if not any(value == a and type(value) is type(a) for a in allowed):  # 1 is not True here
            raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be one of "
                              f"{', '.join(repr(a) for a in allowed)}; got {value!r}")
    return check


def _count(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be an integer >= 0, got {value!r}")


options_field = attrs.field(factory=dict, converter=_options)


@attrs.frozen
class SearchConfig:
    """Everything that determines a search; the same config and seed give the same genotype."""

    space: str = attrs.field(default="nb201", validator=_name)
    strategy: str = attrs.field(default="random", validator=_name)
    data: str = attrs.field(default="digits", validator=_name)
    space_options: dict[str, Any] = options_field
    data_options: dict[str, Any] = options_field
    # components; None means "the strategy preset's choice"
    sampler: str | None = attrs.field(default=None, validator=_name)
    sampler_options: dict[str, Any] = options_field
    arch_optimizer: str | None = attrs.field(default=None, validator=_name)
    optimizer_options: dict[str, Any] = options_field
    reward: str | None = attrs.field(default=None, validator=_name)
    reward_options: dict[str, Any] = options_field
    latency_model: str | None = attrs.field(default=None, validator=_name)
    latency_options: dict[str, Any] = options_field
    latency_target: float | None = attrs.field(default=None, validator=_positive)
    benchmark: str | None = attrs.field(default=None, validator=_name)
    benchmark_options: dict[str, Any] = options_field
    # schedule
    epochs: int = attrs.field(default=50, validator=positive_int)
    batch_size: int = attrs.field(default=64, validator=positive_int)
    valid_batch_size: int | None = attrs.field(default=None, validator=positive_int)
    steps_per_epoch: int | None = attrs.field(default=None, validator=positive_int)
    train_portion: float = attrs.field(default=0.5, validator=_fraction)
    # weights (SGD with cosine annealing, as DARTS/GDAS)
    w_lr: float = attrs.field(default=0.025, validator=_positive)
    w_lr_min: float = attrs.field(default=0.001, validator=_non_negative)
    w_momentum: float = attrs.field(default=0.9, validator=_non_negative)
    w_nesterov: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    w_weight_decay: float = attrs.field(default=3e-4, validator=_non_negative)
    grad_clip: float = attrs.field(default=5.0, validator=_non_negative)
    # architecture parameters (Adam, as DARTS/GDAS)
    arch_lr: float = attrs.field(default=3e-4, validator=_positive)
    arch_betas: tuple[float, float] = attrs.field(default=(0.5, 0.999), converter=_betas)
    arch_weight_decay: float = attrs.field(default=1e-3, validator=_non_negative)
    arch_init_std: float = attrs.field(default=1e-3, validator=_non_negative)
    # run
    seed: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))
    device: str = attrs.field(default="cpu", validator=_device)
    threads: int | None = attrs.field(default=None, validator=positive_int)
    eval_batches: int | None = attrs.field(default=None, validator=positive_int)
    runs_root: str = attrs.field(default="runs")

    def __attrs_post_init__(self):
        if self.w_lr_min > self.w_lr:
            raise ConfigError(f"w_lr_min ({self.w_lr_min}) must not exceed w_lr ({self.w_lr})")

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SearchConfig":
        return from_mapping(cls, data)


@attrs.frozen
class TrainConfig:
    """Retraining a derived architecture from scratch (DARTS's evaluation protocol, scaled by the user)."""

    data: str = attrs.field(default="digits", validator=_name)
    data_options: dict[str, Any] = options_field
    space_options: dict[str, Any] = options_field
    epochs: int = attrs.field(default=30, validator=positive_int)
    batch_size: int = attrs.field(default=96, validator=positive_int)
    lr: float = attrs.field(default=0.025, validator=_positive)
    lr_min: float = attrs.field(default=0.0, validator=_non_negative)
    momentum: float = attrs.field(default=0.9, validator=_non_negative)
    weight_decay: float = attrs.field(default=3e-4, validator=_non_negative)
    grad_clip: float = attrs.field(default=5.0, validator=_non_negative)
    drop_path: float = attrs.field(default=0.0, validator=_non_negative)
    auxiliary_weight: float = attrs.field(default=0.0, validator=_non_negative)
    augment: bool | None = attrs.field(default=None)
    seed: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))
    device: str = attrs.field(default="cpu", validator=_device)
    threads: int | None = attrs.field(default=None, validator=positive_int)
    runs_root: str = attrs.field(default="runs")
    # speed options for GPU users (nasplug.train.Trainer checks them against the device)
    amp: str | None = attrs.field(default=None, validator=_one_of(None, "bf16", "fp16"))
    compile: bool = attrs.field(default=False, validator=_one_of(False, True))
    num_workers: int = attrs.field(default=0, validator=_count)
    pin_memory: bool | None = attrs.field(default=None, validator=_one_of(None, False, True))

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        return from_mapping(cls, data)


def from_mapping(cls, data: Mapping[str, Any]):
    """Build a config from a mapping, naming any unknown key and the allowed ones."""
    allowed = [f.name for f in attrs.fields(cls)]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s) {unknown}; allowed: {', '.join(allowed)}")
    try:
        return cls(**dict(data))
    except TypeError as exc:
        raise ConfigError(f"bad {cls.__name__}: {exc}") from exc


def apply_threads(threads: int | None) -> None:
    """Set torch's CPU threads when asked: on a shared machine, fewer threads than the
    default avoid oversubscription, which slows small models by an order of magnitude."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config; fields may sit at top level or under ``[search]``/``[train]``."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {str(path)!r} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from exc


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)
