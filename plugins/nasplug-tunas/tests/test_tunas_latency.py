import json
import os
from pathlib import Path

import pytest
import torch

from nasplug import registry
from nasplug.errors import ConfigError
from nasplug_tunas.latency import LookupLatencyModel, additive_fit
from nasplug_tunas.mobile_space import unit_key

SHAPE = (1, 8, 8)
NB201_DIR = Path(os.environ.get("NASPLUG_NB201_DIR", "/work/shared/data/nb201"))


def _space(**kw):
    return registry.get("space", "proxylessnas", width=0.25, layers=(1, 2, 1, 1, 1, 1), **kw)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    path = tmp_path_factory.mktemp("lat") / "table.json"
    model = registry.get("latency_model", "lookup", path=str(path), repeats=2, warmup=1)
    model.prepare(_space(), SHAPE, 10)
    return model, path


def test_prediction_is_sum_of_layer_entries(measured):
    model, _ = measured
    space = _space()
    choices = space.sample(torch.Generator().manual_seed(0))
    choices["L03:skip"] = 1
    configs = space.layer_configs(choices, SHAPE)
    expected = sum(model.table[unit_key(c)] for c in configs if not (c["kind"] == "layer" and c["skip"]))
    assert model.predict(choices) == pytest.approx(expected)
    # every unit configuration the space can produce was timed, and only those
    units = space.latency_units(SHAPE)
    assert set(model.table) == {unit_key(c) for cs in units.values() for c in cs}
    assert all(v > 0 for v in model.table.values())


def test_saved_table_is_reused_with_device_description(measured, monkeypatch):
    model, path = measured
    data = json.loads(path.read_text())
    assert data["device"]["threads"] == 1 and "cpu" in data["device"] and data["space"] == "proxylessnas"
    again = LookupLatencyModel(path=str(path))
    monkeypatch.setattr(again, "measure", lambda: pytest.fail("a matching table must not be re-measured"))
    again.prepare(_space(), SHAPE, 10)
    choices = _space().sample(torch.Generator().manual_seed(5))
    assert again.predict(choices) == model.predict(choices)


def test_table_for_another_space_is_not_reused(measured, monkeypatch):
    _, path = measured
    other = LookupLatencyModel(path=str(path))
    called = []
    monkeypatch.setattr(other, "measure", lambda: called.append(1))
    monkeypatch.setattr(other, "save", lambda p: None)
    other.prepare(_space(stem_stride=2), SHAPE, 10)
    assert called == [1]


def test_table_file_reads_a_lookup_table(measured):
    model, path = measured
    table = registry.get("latency_model", "table-file", path=str(path))
    table.prepare(_space(), SHAPE, 10)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        c = _space().sample(g)
        assert table.predict(c) == model.predict(c)


def test_additive_fit_is_exact_for_an_additive_cost():
    space = _space()
    weights = {d.name: torch.arange(len(d.choices), dtype=torch.float64) * (i + 1) for i, d in enumerate(space.decisions)}
    predict = lambda c: 3.0 + sum(float(weights[k][v]) for k, v in c.items())
    base, costs = additive_fit(space, predict)
    assert base == pytest.approx(3.0, abs=1e-6)
    for name, row in costs.items():
        assert torch.allclose(row.double(), weights[name], atol=1e-4)


def test_expected_cost_is_differentiable(measured):
    model, _ = measured
    space = _space()
    from nasplug.components import Selection
    logits = {d.name: torch.zeros(len(d.choices), requires_grad=True) for d in space.decisions}
    sel = {k: Selection(torch.softmax(v, -1)) for k, v in logits.items()}
    model.expected(sel).backward()
    assert any(float(v.grad.abs().sum()) > 0 for v in logits.values())


def test_lookup_on_a_cell_space_is_a_config_error():
    with pytest.raises(ConfigError, match="flops"):
        registry.get("latency_model", "lookup").prepare(registry.get("space", "nb201", C=4, N=1), SHAPE, 10)


def test_table_file_errors(tmp_path):
    with pytest.raises(ConfigError):
        registry.get("latency_model", "table-file")
    with pytest.raises(ConfigError):
        registry.get("latency_model", "table-file", path=str(tmp_path / "missing.csv"))


@pytest.mark.skipif(not (NB201_DIR / "latency_ms.csv").exists(), reason="NAS-Bench-201 latency table not available")
def test_table_file_nb201_device_csv_matched_by_index():
    space = registry.get("space", "nb201", C=4, N=1)
    model = registry.get("latency_model", "table-file", path=str(NB201_DIR / "latency_ms.csv"), column="pixel3",
                         names=str(NB201_DIR / "accuracy.csv"), index_column="arch_idx")
    model.prepare(space, (3, 32, 32), 10)
    assert len(model.by_genotype) == 15625
    # row 0 of both files
    genotype = space.genotype_from_json(
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
    assert model.predict(space.choices_from_genotype(genotype)) == pytest.approx(3.60585)
    base, costs = model.decision_costs()
    assert set(costs) == set(space.decision_names())


def test_measuring_a_table_reports_progress_with_rate_and_eta(caplog, monkeypatch):
    from nasplug import progress

    monkeypatch.setattr(progress, "MIN_SECONDS", 0.0)  # a tiny table takes under a second
    caplog.set_level("INFO", logger="nasplug_tunas")
    LookupLatencyModel(repeats=1, warmup=0, rounds=1).prepare(_space(), SHAPE, 10)
    lines = [r.getMessage() for r in caplog.records if r.name == "nasplug_tunas.latency"]
    assert len(lines) == 9, lines
    assert lines[0].startswith("measuring the proxylessnas latency table 5/45 (11%)")
    assert "unit/s" in lines[0] or "s/unit" in lines[0]
    assert "left" in lines[0]
