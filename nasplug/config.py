"""Frozen, validated configuration of a search and of a retraining run.

Configs are data: they are written to ``config.json`` in the run directory,
read back by ``nasplug resume``, and loaded from TOML by ``nasplug search
--config``.  Every field has a default; a strategy preset changes some of
them (its paper's settings) and whatever the user sets wins over both.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping

import attrs

from nasplug.errors import ConfigError


#: torch computes in float32 (and casts hyperparameters to it): a larger number overflows there
FLOAT32_MAX = 3.4028234663852886e38


def _positive(instance, attribute, value):
    if value is None and attribute.default is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a positive number, got {value!r}")
    _float32_range(instance, attribute, value)


def _float32_range(instance, attribute, value):
    if value > FLOAT32_MAX:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} = {value!r} is beyond float32's range "
                          f"(at most {FLOAT32_MAX:.3g}), in which torch computes")


def positive_int(instance, attribute, value):
    """attrs validator: a strictly positive int (None too where None is the field's default), naming the field."""
    if value is None and attribute.default is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a positive integer, got {value!r}")


def _non_negative(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a number >= 0, got {value!r}")
    _float32_range(instance, attribute, value)


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
    def number(v):
        return not isinstance(v, bool) and isinstance(v, (int, float)) and 0.0 <= v < 1.0

    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or len(tuple(value)) != 2 \
            or not all(number(v) for v in value):
        raise ConfigError(f"arch_betas must be two numbers in [0, 1), got {value!r}")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def _device(instance, attribute, value):
    """The device string's syntax (availability is checked when a run starts: see nasplug.devices)."""
    import re

    if not isinstance(value, str) or not re.fullmatch(r"cpu|mps|cuda(:\d+)?", value):
        raise ConfigError(f"{type(instance).__name__}.device must be 'cpu', 'cuda', 'cuda:N' (N a GPU index) or "
                          f"'mps', got {value!r}")


#: epochs beyond this are a typo; the bound keeps the per-epoch loader seeds in range (see MAX_SEED)
MAX_EPOCHS = 1_000_000
#: loaders are seeded with ``seed * 1_000_003 + epoch (+ 500_009)``, which must fit torch's 64-bit seed
MAX_SEED = (2**64 - 1 - 500_009 - MAX_EPOCHS) // 1_000_003


def max_threads() -> int:
    """More threads than 4 per core only oversubscribe (5,000 made no progress; 1,000,000 segfaults torch)."""
    return max(64, 4 * (os.cpu_count() or 1))


def _int_range(low: int, high):
    """attrs validator: an int in [low, high] (``high`` may be a function), the range in the message."""
    def check(instance, attribute, value):
        if value is None and attribute.default is None:
            return
        top = high() if callable(high) else high
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
            raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be an integer in [{low}, {top}], "
                              f"got {value!r}")
    return check


def _probability(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a probability in [0, 1], got {value!r}")


def _boolean(instance, attribute, value):
    if value is None and attribute.default is None:
        return
    if not isinstance(value, bool):
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be true or false, got {value!r}")


def _path_text(instance, attribute, value):
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a directory path (a string), "
                          f"got {value!r}")


int_in_range = _int_range

seed_field = attrs.field(default=0, validator=_int_range(0, MAX_SEED))
threads_field = attrs.field(default=None, validator=_int_range(1, max_threads))


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
    epochs: int = attrs.field(default=50, validator=_int_range(1, MAX_EPOCHS))
    batch_size: int = attrs.field(default=64, validator=positive_int)
    valid_batch_size: int | None = attrs.field(default=None, validator=positive_int)
    steps_per_epoch: int | None = attrs.field(default=None, validator=positive_int)
    train_portion: float = attrs.field(default=0.5, validator=_fraction)
    # weights (SGD with cosine annealing, as DARTS/GDAS)
    w_lr: float = attrs.field(default=0.025, validator=_positive)
    w_lr_min: float = attrs.field(default=0.001, validator=_non_negative)
    w_momentum: float = attrs.field(default=0.9, validator=_non_negative)
    w_nesterov: bool = attrs.field(default=False, validator=_boolean)
    w_weight_decay: float = attrs.field(default=3e-4, validator=_non_negative)
    grad_clip: float = attrs.field(default=5.0, validator=_non_negative)
    # architecture parameters (Adam, as DARTS/GDAS)
    arch_lr: float = attrs.field(default=3e-4, validator=_positive)
    arch_betas: tuple[float, float] = attrs.field(default=(0.5, 0.999), converter=_betas)
    arch_weight_decay: float = attrs.field(default=1e-3, validator=_non_negative)
    arch_init_std: float = attrs.field(default=1e-3, validator=_non_negative)
    # run
    seed: int = seed_field
    device: str = attrs.field(default="cpu", validator=_device)
    threads: int | None = threads_field
    eval_batches: int | None = attrs.field(default=None, validator=positive_int)
    runs_root: str = attrs.field(default="runs", validator=_path_text)
    # a NaN or infinite loss, gradient or architecture parameter: "stop" the run, or "skip" the step
    on_nonfinite: str = attrs.field(default="stop", validator=_one_of("stop", "skip"))
    # data-parallel search (nasplug.distributed): BatchNorm over the global batch, and whether ranks
    # draw the same architectures ("shared") or their own ("per-rank"); None = the strategy's choice
    sync_batchnorm: bool = attrs.field(default=False, validator=_boolean)
    rank_sampling: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        _one_of("shared", "per-rank")))

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
    epochs: int = attrs.field(default=30, validator=_int_range(1, MAX_EPOCHS))
    batch_size: int = attrs.field(default=96, validator=positive_int)
    lr: float = attrs.field(default=0.025, validator=_positive)
    lr_min: float = attrs.field(default=0.0, validator=_non_negative)
    momentum: float = attrs.field(default=0.9, validator=_non_negative)
    weight_decay: float = attrs.field(default=3e-4, validator=_non_negative)
    grad_clip: float = attrs.field(default=5.0, validator=_non_negative)
    drop_path: float = attrs.field(default=0.0, validator=_probability)
    auxiliary_weight: float = attrs.field(default=0.0, validator=_non_negative)
    augment: bool | None = attrs.field(default=None, validator=_boolean)
    seed: int = seed_field
    device: str = attrs.field(default="cpu", validator=_device)
    threads: int | None = threads_field
    runs_root: str = attrs.field(default="runs", validator=_path_text)
    # speed options for GPU users (nasplug.train.Trainer checks them against the device)
    amp: str | None = attrs.field(default=None, validator=_one_of(None, "bf16", "fp16"))
    compile: bool = attrs.field(default=False, validator=_one_of(False, True))
    num_workers: int = attrs.field(default=0, validator=_count)
    pin_memory: bool | None = attrs.field(default=None, validator=_one_of(None, False, True))
    # data-parallel retraining: BatchNorm over the global batch
    sync_batchnorm: bool = attrs.field(default=False, validator=_boolean)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        return from_mapping(cls, data)


def from_mapping(cls, data: Mapping[str, Any]):
    """Build a config from a mapping, naming any unknown key and the allowed ones."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a {cls.__name__} must be a mapping of field names to values, got {type(data).__name__}")
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
    """Read a TOML config; fields may sit at top level or under ``[search]``/``[train]``.

    Every way the file can be unusable (missing, a directory, unreadable, not
    UTF-8, not TOML, nested absurdly deep, holding a date, which no field
    takes) is a one-line ConfigError naming the file.
    """
    from nasplug.safe_json import loads_toml

    where = f"config file {str(path)!r}"
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
        data = loads_toml(text, where)
    except FileNotFoundError as exc:
        raise ConfigError(f"{where} does not exist") from exc
    except IsADirectoryError:
        raise ConfigError(f"{where} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where} is not UTF-8 text (byte {exc.start}); TOML files must be UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from exc
    _refuse_dates(data, where)
    return data


def _refuse_dates(data: Mapping[str, Any], where: str) -> None:
    """TOML dates and times parse, but no config field takes one: name the key instead of failing later."""
    import datetime

    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, (datetime.date, datetime.time)):
            raise ConfigError(f"{where}: {key} = {value.isoformat()} is a TOML date/time; no field takes one "
                              "(quote it if you meant text)")
        if isinstance(value, dict):
            stack.extend((f"{key}.{k}" if key else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{key}[{i}]", v) for i, v in enumerate(value))


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)
