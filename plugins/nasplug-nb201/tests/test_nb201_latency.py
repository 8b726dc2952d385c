"""The ``nb201-table`` latency model: exact prediction, additive least-squares form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasplug import registry
from nasplug.errors import ConfigError
from nasplug.spaces.nb201 import NB201Space
from nasplug_nb201.latency import TableLatencyModel, additive_fit
from nasplug_nb201.table import NB201Table


def test_additive_fit_recovers_an_additive_column(synthetic_table):
    rng = np.random.default_rng(0)
    costs = rng.uniform(0, 3, (6, 5))
    costs[:, 0] = 0.0
    column = 2.5 + costs[np.arange(6), synthetic_table.codes].sum(axis=1)
    table = NB201Table(synthetic_table.strings, latency={"add": column})
    model = TableLatencyModel(table=table, device="add")
    base, per_decision = model.decision_costs()
    assert base == pytest.approx(2.5)
    for e, name in enumerate(NB201Space().decision_names()):
        assert torch.allclose(per_decision[name], torch.tensor(costs[e], dtype=torch.float32), atol=1e-5)
    assert model.fit_r2 == pytest.approx(1.0)
    space = NB201Space()
    for i in (0, 17, 9000):
        choices = table.choices(i)
        expected = model.expected(space.selections(choices))  # one-hot: the additive form's value
        assert float(expected) == pytest.approx(model.predict(choices), rel=1e-5)


def test_fit_is_the_least_squares_optimum(synthetic_table):
    column = synthetic_table.latency["dev"]
    base, costs, _ = additive_fit(synthetic_table.codes, column)
    fitted = base + costs[np.arange(6), synthetic_table.codes].sum(axis=1)
    residual = column - fitted
    # normal equations: the residual is orthogonal to the constant and to every one-hot feature
    assert abs(residual.sum()) < 1e-6 * len(column)
    for e in range(6):
        for o in range(5):
            assert abs(residual[synthetic_table.codes[:, e] == o].sum()) < 1e-6 * len(column)


def test_real_column_through_the_registry(nb201_dir, real_table):
    model = registry.get("latency_model", "nb201-table", path=str(nb201_dir), device="raspi4")
    model.prepare(NB201Space(C=4, N=1), (3, 8, 8), 10)
    for i in (0, 123, 15624):
        assert model.predict(real_table.choices(i)) == real_table.latency["raspi4"][i]
    base, costs = model.decision_costs()
    assert 0.5 < model.fit_r2 <= 1.0  # latency is roughly additive per edge on a phone-class CPU
    assert set(costs) == set(NB201Space().decision_names())


def test_bad_device_and_space(synthetic_table):
    with pytest.raises(ConfigError, match="dev, holey"):
        TableLatencyModel(table=synthetic_table, device="pixel3")
    with pytest.raises(ConfigError, match="path="):
        TableLatencyModel()
    model = TableLatencyModel(table=synthetic_table, device="dev")
    with pytest.raises(ConfigError, match="nb201"):
        model.prepare(registry.get("space", "darts", C=4, layers=2), (3, 8, 8), 10)
