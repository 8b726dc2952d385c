"""What to export: a network given directly, a genotype file, or a run directory.

A run directory is read the way ``nasplug train`` and ``nasplug resume`` read
it, so the exported network is the one retraining builds: the genotype
record's space and options plus the space's child defaults (DARTS: 36
channels, 20 cells) and the retraining's own ``space_options``.  A retraining
run brings its weights (``checkpoint.pt``); a search run or a genotype file
gives the child with freshly initialised weights, and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import attrs
import torch
from torch import nn

from nasplug import registry as registry_module
from nasplug.errors import ConfigError, GenotypeError, NasplugError, RunDirError
from nasplug.rundir import CHECKPOINT, CONFIG, GENOTYPE, not_a_run_dir, read_json


@attrs.frozen(eq=False)
class Found:
    """The eval-mode network to export and where it came from."""

    model: nn.Module
    input_shape: tuple[int, ...] | None
    title: str
    weights: str
    record: dict[str, Any] | None = None


def _data_shapes(registry, data: str, data_options: Mapping[str, Any]) -> tuple[tuple[int, ...], int]:
    try:
        bundle = registry.get("dataset", data, **dict(data_options))
    except (NasplugError, OSError) as exc:
        raise ConfigError(f"could not load the run's data set {data!r} to learn the input shape ({exc}); pass "
                          "input_shape=(C, H, W) and num_classes=N (--input-shape C,H,W --num-classes N)") from None
    return tuple(bundle.input_shape), int(bundle.num_classes)


def _child(registry, record: Mapping[str, Any], extra_options: Mapping[str, Any], input_shape, num_classes,
           **child_options: Any) -> nn.Module:
    """The child network ``nasplug train`` builds for ``record`` (same options, same child defaults)."""
    search_options = {**record.get("space_options", {}), **extra_options}
    search_space = registry.get("space", record["space"], **search_options)
    space = registry.get("space", record["space"], **{**search_options, **search_space.child_defaults(),
                                                     **extra_options})
    try:
        genotype = space.genotype_from_json(record["genotype"])
    except GenotypeError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise GenotypeError(f"genotype {record['genotype']!r} does not fit space {record['space']!r}: "
                            f"{type(exc).__name__}: {exc}") from None
    if input_shape is None:
        raise ConfigError(f"space {record['space']!r} builds a network without an image input shape; export needs "
                          "input_shape=(C, H, W) or example_input")
    with torch.random.fork_rng():
        torch.manual_seed(0)  # freshly initialised weights are the same on every export
        return space.build_child(genotype, tuple(input_shape), int(num_classes), **child_options)


def _title(record: Mapping[str, Any]) -> str:
    return f"The {record['space']} architecture {record.get('string') or record['genotype']}"


def resolve(source: Any, registry=None, input_shape=None, num_classes=None,
            space_options: Mapping[str, Any] | None = None) -> Found:
    """The network ``source`` names (an ``nn.Module``, a genotype JSON path, a search or retraining run)."""
    registry = registry or registry_module.default_registry()
    space_options = dict(space_options or {})
    if isinstance(source, nn.Module):
        return Found(source, None if input_shape is None else tuple(input_shape),
                     f"A {type(source).__name__} network", "the module's own")
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"{str(source)!r} does not exist; export takes a run directory, a genotype.json or a "
                          "torch.nn.Module")
    if path.is_dir():
        if not (path / CONFIG).exists():
            inner = [path / sub for sub in ("train", "search") if (path / sub / CONFIG).exists()]
            if inner:  # a sweep trial: its retraining if there is one
                return resolve(inner[0], registry, input_shape, num_classes, space_options)
            raise not_a_run_dir(path)
        config = read_json(path / CONFIG, "the run's configuration")
        if "train" in config and "genotype" in config:
            return _from_training(path, config, registry, input_shape, num_classes, space_options)
        genotype = path / GENOTYPE
        if not genotype.exists():
            raise RunDirError(f"{path} has no genotype yet: its search has not finished (`nasplug resume {path}` "
                              "finishes it); export takes a finished search, a retraining run or a genotype.json")
        record = read_json(genotype, "a genotype record")
        data, data_options = config.get("data"), config.get("data_options", {})
    else:
        from nasplug.train import load_genotype_record

        record = load_genotype_record(path, registry)
        sibling = path.parent / CONFIG
        sibling_config = read_json(sibling, "the run's configuration") if sibling.exists() else {}
        data, data_options = sibling_config.get("data"), sibling_config.get("data_options", {})
    _check_record(record, path)
    if input_shape is None or num_classes is None:
        if data is None:
            raise ConfigError(f"{path}: a genotype file outside a run directory does not say the input; pass "
                              "input_shape=(C, H, W) and num_classes=N (--input-shape C,H,W --num-classes N)")
        shape, classes = _data_shapes(registry, data, data_options)
        input_shape, num_classes = input_shape or shape, num_classes or classes
    model = _child(registry, record, space_options, input_shape, num_classes)
    return Found(model, tuple(input_shape), _title(record),
                 "freshly initialised (no retrained weights: retrain with `nasplug train GENOTYPE --run-dir DIR` "
                 "and export DIR to get them)", dict(record))


def _check_record(record: Mapping[str, Any], where: Path) -> None:
    for key in ("space", "genotype"):
        if key not in record:
            raise GenotypeError(f"{where}: genotype record lacks {key!r}; it needs 'space', 'genotype' and "
                                "optionally 'space_options'")


def _from_training(path: Path, config: Mapping[str, Any], registry, input_shape, num_classes,
                   space_options: Mapping[str, Any]) -> Found:
    """A retraining run: its genotype, its child options, its data's shapes and its latest weights."""
    from nasplug.checkpoint import load_checkpoint
    from nasplug.config import TrainConfig

    try:
        train = TrainConfig.from_dict(config["train"])
    except NasplugError as exc:
        raise RunDirError(f"{path / CONFIG}: {exc}") from None
    record = dict(config["genotype"])
    _check_record(record, path / CONFIG)
    if input_shape is None or num_classes is None:
        shape, classes = _data_shapes(registry, train.data, train.data_options)
        input_shape, num_classes = input_shape or shape, num_classes or classes
    model = _child(registry, record, {**train.space_options, **space_options}, input_shape, num_classes,
                   auxiliary=train.auxiliary_weight > 0)
    checkpoint = path / CHECKPOINT
    if not checkpoint.exists():
        raise RunDirError(f"{path} is a retraining run without {CHECKPOINT} yet (it has not finished an epoch); "
                          f"`nasplug resume {path}` continues it, or export its genotype instead")
    state = load_checkpoint(checkpoint, map_location="cpu")
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RunDirError(f"{checkpoint}: its weights do not fit the run's child network ({first})") from None
    epochs = int(state.get("epoch", 0))
    weights = f"retrained, {checkpoint} ({epochs} of {train.epochs} epochs)"
    return Found(model, tuple(input_shape), _title(record), weights, record)
