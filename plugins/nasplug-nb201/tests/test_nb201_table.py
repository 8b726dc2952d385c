"""Table loading and genotype <-> index agreement with the benchmark's strings."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nasplug.errors import ConfigError, GenotypeError
from nasplug.spaces.nb201 import NB201Genotype, NB201Space
from nasplug_nb201.loading import load_csv, load_table
from nasplug_nb201.table import NB201Table

SPACE = NB201Space(C=4, N=1)


def test_real_table_rows_are_the_benchmark_strings(real_table, nb201_dir):
    assert len(real_table) == 15625
    assert sorted(real_table.datasets) == sorted(["cifar10", "cifar100", "ImageNet16-120"])
    assert {"pixel3", "raspi4", "gold_6226", "titanxp_1"} <= set(real_table.devices)
    with open(nb201_dir / "accuracy.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i in range(0, len(rows), 97):  # row i of the file is topology index i
        string = rows[i]["ArchitectureString"]
        assert real_table.strings[i] == string
        genotype = NB201Genotype.from_string(string)
        assert real_table.index(genotype) == i
        assert real_table.index(string) == i
        assert real_table.index(SPACE.choices_from_genotype(genotype)) == i
        assert SPACE.genotype_from_choices(real_table.choices(i)).to_string() == string
        assert real_table.accuracy_of(i, "cifar10") == pytest.approx(float(rows[i]["CIFAR10TestAccuracy200Epochs"]))


def test_real_table_anchors(real_table):
    """The optima the data README and the NAS-Bench-201 paper give."""
    assert real_table.best("cifar10").accuracy == pytest.approx(94.37, abs=0.005)
    assert real_table.best("cifar100").accuracy == pytest.approx(73.51, abs=0.005)
    assert real_table.best("ImageNet16-120").accuracy == pytest.approx(47.31, abs=0.005)


def test_latency_rows_follow_arch_idx(real_table, nb201_dir):
    with open(nb201_dir / "latency_ms.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows[::211]:
        i = int(row["arch_idx"])
        assert real_table.latency_of(i, "pixel3") == pytest.approx(float(row["pixel3"]))


def test_every_index_round_trips(synthetic_table):
    codes = synthetic_table.codes
    rows = synthetic_table.indices(codes)
    assert np.array_equal(rows, np.arange(len(synthetic_table)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=6, max_size=6))
def test_choices_string_index_agree(synthetic_table, ops):
    choices = dict(zip(SPACE.decision_names(), ops))
    genotype = SPACE.genotype_from_choices(choices)
    i = synthetic_table.index(choices)
    assert synthetic_table.strings[i] == genotype.to_string()
    assert synthetic_table.index(genotype.to_string()) == i
    assert synthetic_table.choices(i) == choices


def _write(path, header, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def test_user_latency_table_by_string_in_any_order(tmp_path, synthetic_table):
    """A user's own table in the same form: rows matched by ArchitectureString, whatever their order."""
    strings = synthetic_table.strings[:50]
    _write(tmp_path / "accuracy.csv", ["CIFAR10TestAccuracy200Epochs", "ArchitectureString"],
           [[float(k), s] for k, s in enumerate(strings)])
    order = np.random.default_rng(3).permutation(50)
    _write(tmp_path / "mine.csv", ["ArchitectureString", "jetson"], [[strings[k], 100.0 + k] for k in order])
    table = load_csv(tmp_path, latency_path=tmp_path / "mine.csv")
    for k in range(50):
        assert table.latency_of(strings[k], "jetson") == 100.0 + k
        assert table.accuracy_of(strings[k]) == float(k)
    with pytest.raises(GenotypeError, match="not in the table"):
        table.index(synthetic_table.strings[60])


def test_bad_inputs_name_what_is_wrong(tmp_path, synthetic_table):
    with pytest.raises(ConfigError, match="does not exist"):
        load_table(tmp_path / "nope")
    _write(tmp_path / "latency_ms.csv", ["arch_idx", "pixel3"], [[0, 1.0]])
    with pytest.raises(ConfigError, match="accuracy.csv"):
        load_csv(tmp_path)  # arch_idx alone cannot be mapped to cells
    with pytest.raises(ConfigError, match="allowed: cifar10, cifar100, ImageNet16-120"):
        synthetic_table.accuracy_of(0, "svhn")
    with pytest.raises(ConfigError, match="columns: dev, holey"):
        synthetic_table.latency_of(0, "pixel3")
    with pytest.raises(ConfigError, match="twice"):
        NB201Table([synthetic_table.strings[0]] * 2, {"cifar10": [1.0, 2.0]})
    with pytest.raises(GenotypeError):
        synthetic_table.index({"0->1": 7, "0->2": 0, "1->2": 0, "0->3": 0, "1->3": 0, "2->3": 0})


def test_pth_layout_without_the_official_package(tmp_path, synthetic_table):
    """The guarded .pth reader: test accuracy = mean over seeds of ori-test (cifar10) / x-test (others) at the last epoch."""
    import importlib.util

    import torch

    if importlib.util.find_spec("nats_bench") or importlib.util.find_spec("nas_201_api"):
        pytest.skip("an official NAS-Bench-201 package is installed; load_table would use it instead")
    strings = synthetic_table.strings[:3]

    def counts(split, acc):
        return {"epochs": 200, "eval_acc1es": {f"{split}@199": acc, f"{split}@10": 1.0}}

    infos = {}
    for i in range(3):
        infos[i] = {"full": {"all_results": {
            ("cifar10", 777): counts("ori-test", 90.0 + i), ("cifar10", 888): counts("ori-test", 92.0 + i),
            ("cifar100", 777): counts("x-test", 70.0 + i),
            ("ImageNet16-120", 777): counts("x-test", 40.0 + i)}}}
    path = tmp_path / "NAS-Bench-201-v1_0-tiny.pth"
    torch.save({"meta_archs": strings, "arch2infos": infos}, path)
    table = load_table(path)
    assert table.strings == strings
    for i in range(3):
        assert table.accuracy_of(i, "cifar10") == pytest.approx(91.0 + i)
        assert table.accuracy_of(i, "cifar100") == pytest.approx(70.0 + i)
        assert table.accuracy_of(i, "ImageNet16-120") == pytest.approx(40.0 + i)
