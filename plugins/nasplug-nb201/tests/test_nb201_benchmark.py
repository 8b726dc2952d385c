"""The ``nb201`` benchmark component, alone and inside a weight-sharing search."""

from __future__ import annotations

import pytest

from nasplug import Pipeline, registry
from nasplug.errors import ConfigError
from nasplug.spaces.nb201 import NB201Space


def test_query_answers_from_the_table(nb201_dir, real_table):
    bench = registry.get("benchmark", "nb201", path=str(nb201_dir))
    space = NB201Space(C=4, N=1)
    assert bench.supports(space)
    assert not bench.supports(registry.get("space", "darts", C=4, layers=2))
    best = real_table.best("cifar10")
    genotype = space.genotype_from_json(best.string)
    answer = bench.query(space, genotype)
    assert answer["index"] == best.index
    assert answer["test_accuracy"] == answer["cifar10_test_accuracy"] == best.accuracy
    assert answer["cifar100_test_accuracy"] == real_table.accuracy["cifar100"][best.index]
    assert answer["pixel3_latency_ms"] == real_table.latency["pixel3"][best.index]
    assert bench.accuracy(genotype, "ImageNet16-120") == real_table.accuracy["ImageNet16-120"][best.index]
    entry = bench.best_under_budget(real_table.latency_percentile("pixel3", 50), "pixel3")
    assert entry.accuracy <= best.accuracy
    c100 = registry.get("benchmark", "nb201", path=str(nb201_dir), dataset="cifar100")
    assert c100.query(space, genotype)["test_accuracy"] == real_table.accuracy["cifar100"][best.index]


def test_bad_options():
    with pytest.raises(ConfigError, match="path="):
        registry.get("benchmark", "nb201")


@pytest.mark.slow
def test_weight_sharing_search_reports_table_accuracy(nb201_dir, real_table, tmp_path):
    """The kernel's SearchRun records the benchmark's answer every epoch and for the final genotype."""
    result = Pipeline(space="nb201", strategy="random", data="digits", epochs=2, steps_per_epoch=2,
                      batch_size=16, space_options={"C": 4, "N": 1}, runs_root=str(tmp_path), data_options={"limit_train": 64},
                      optimizer_options={"num_candidates": 3, "screen_batches": 1, "top_k": 1},
                      benchmark="nb201", benchmark_options={"path": str(nb201_dir)}).search()
    assert [("benchmark" in r) for r in result.history] == [False, False]  # random search has no per-epoch genotype
    assert result.benchmark["test_accuracy"] == real_table.accuracy_of(result.genotype, "cifar10")
    assert result.benchmark["index"] == real_table.index(result.genotype.to_string())
