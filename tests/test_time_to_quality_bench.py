"""benchmarks/time_to_quality.py: seeds, anytime statistics and the supernet trials it reads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
spec = importlib.util.spec_from_file_location("time_to_quality", BENCHMARKS / "time_to_quality.py")
ttq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ttq)


def test_seed_lists():
    assert ttq.parse_seeds("0-3") == [0, 1, 2, 3]
    assert ttq.parse_seeds("100-101,7") == [100, 101, 7]


def test_anytime_mean_worst_and_time_to_levels():
    results = [{"seed": 0, "accuracy": 93.5, "cpu_seconds": 30.0, "clock": "process CPU",
                "curve": [(10.0, 89.0), (20.0, 92.5), (30.0, 93.5)]},
               {"seed": 1, "accuracy": 91.0, "cpu_seconds": 40.0, "clock": "process CPU",
                "curve": [(15.0, 90.0), (40.0, 91.0)]}]
    s = ttq.summarise("row", results)
    # at t=10 seed 1 has no answer yet; at 15: (89+90)/2; at 20: (92.5+90)/2; at 30: (93.5+90)/2; at 40: (93.5+91)/2
    assert s["curve"]["mean"] == [None, 89.5, 91.25, 91.75, 92.25]
    assert s["curve"]["worst"][-1] == 91.0
    assert s["cpu_seconds_to"] == {"90": 20.0, "91": 20.0, "92": 40.0, "93": None}
    assert s["worst"] == 91.0 and s["worst_seed"] == 1 and s["mean"] == pytest.approx(92.25)
    low, high = s["ci95"]
    assert 91.0 <= low <= high <= 93.5


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_seeds():
    rng = np.random.default_rng(0)
    few, many = rng.normal(92, 1, 5), rng.normal(92, 1, 200)
    a, b = ttq.bootstrap_interval(few)
    c, d = ttq.bootstrap_interval(many)
    assert a <= few.mean() <= b and c <= many.mean() <= d and d - c < b - a


def test_supernet_trials_read_each_epochs_cell_and_the_final_pick_at_cumulative_cpu_seconds(tmp_path):
    def trial(strategy, seed, history, final, cpu_seconds=None):
        path = tmp_path / "C8N1-e2" / strategy / f"seed{seed}"
        path.mkdir(parents=True)
        (path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in history) + "\n")
        (path / "genotype.json").write_text("{}")
        (path / "config.json").write_text("{}")
        (path / "result.json").write_text(json.dumps({"genotype": {"string": "g"}, "history": history,
                                                      "benchmark": {"cifar10_test_accuracy": final}}))
        if cpu_seconds is not None:
            (path / "timing.json").write_text(json.dumps({"cpu_seconds": cpu_seconds, "final_seconds": 1.0}))

    trial("gdas", 0, [{"epoch": 0, "seconds": 5.0, "cpu_seconds": 4.0, "benchmark": {"test_accuracy": 80.0}},
                      {"epoch": 1, "seconds": 5.0, "cpu_seconds": 9.0, "benchmark": {"test_accuracy": 85.0}}],
          85.0, cpu_seconds=10.0)
    # RSPS derives no cell per epoch: its only point is the final pick, at the trial's CPU seconds
    trial("random", 0, [{"epoch": 0, "seconds": 5.0, "cpu_seconds": 4.0}, {"epoch": 1, "seconds": 6.0,
                                                                          "cpu_seconds": 8.0}], 91.0, 12.5)
    # a trial from before CPU seconds were recorded: its wall seconds, flagged
    trial("old", 0, [{"epoch": 0, "seconds": 5.0, "benchmark": {"test_accuracy": 88.0}}], 88.0)
    unfinished = tmp_path / "C8N1-e2" / "gdas" / "seed1"
    unfinished.mkdir()
    (unfinished / "metrics.jsonl").write_text(json.dumps({"epoch": 0, "cpu_seconds": 1.0}) + "\n")
    rows = ttq.supernet_trials(tmp_path)
    assert [r["seed"] for r in rows["C8N1-e2/gdas"]] == [0]  # the unfinished trial is never averaged in
    assert rows["C8N1-e2/gdas"][0]["curve"] == [(4.0, 80.0), (9.0, 85.0), (10.0, 85.0)]
    assert rows["C8N1-e2/gdas"][0]["clock"] == "process CPU"
    assert rows["C8N1-e2/random"][0]["curve"] == [(12.5, 91.0)]
    assert rows["C8N1-e2/random"][0]["accuracy"] == 91.0
    assert rows["C8N1-e2/old"][0]["clock"] == "wall"
