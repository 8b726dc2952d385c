"""The real images a training-free search scores on: a few fixed batches from a registered dataset."""

from __future__ import annotations

from typing import Any, Mapping

import torch

from nasplug.errors import ConfigError


def scoring_data(data: str, data_options: Mapping[str, Any], registry=None):
    """The dataset bundle, built without augmentation: a score must see the same pixels every time."""
    from nasplug import registry as registry_module

    registry = registry or registry_module.default_registry()
    options = dict(data_options)
    options.setdefault("augment", False)
    return registry.get("dataset", data, **options)


def fixed_batches(dataset, batches: int, batch_size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``batches`` disjoint batches of ``batch_size`` examples drawn without replacement with ``seed``."""
    for name, value in (("batches", batches), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"scoring {name} must be a positive integer, got {value!r}")
    if batches * batch_size > len(dataset):
        raise ConfigError(f"scoring needs {batches} x {batch_size} examples, the dataset has {len(dataset)}")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    out = []
    for b in range(batches):
        items = [dataset[int(i)] for i in order[b * batch_size:(b + 1) * batch_size]]
        out.append((torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])))
    return out
