"""The CI-sized drill (benchmarks/drills.py --small): a few kills, signals, full disks, races and damaged
files on real runs, a deleted lock under a running search, a `cp -rs` copy resumed, and a sample of bad inputs
from every surface (image folders and crafted checkpoints included); every outcome must be an identical resumed
result or a one-line error (no silent wrong result, no hang, no traceback).  The full drill (hundreds of
trials) runs on demand: ``python benchmarks/drills.py --out drills-out``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DRILLS = Path(__file__).resolve().parents[1] / "benchmarks" / "drills.py"


@pytest.mark.slow
def test_small_drill_has_only_identical_results_and_one_line_errors(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(DRILLS), "--out", str(tmp_path), "--small"], capture_output=True,
                          text=True, timeout=600, env=env, cwd=tmp_path)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["not_ok"] == [], done.stdout[-4000:]
    assert summary["fault_total"] >= 6 and summary["input_total"] >= 60, summary
    assert set(summary["fault_trials"]) <= {"identical"} and set(summary["bad_inputs"]) == {"one-line error"}
    assert done.returncode == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    surfaces = {(row["kind"], row["surface"]) for row in rows}
    assert {("input", "image folder"), ("fault", "image folder"), ("input", "crafted checkpoint"),
            ("fault", "run dir symlinks"), ("fault", "lock deleted")} <= surfaces, sorted(surfaces)
    assert not any("skipped" in row["detail"] for row in rows if row["surface"] == "lock deleted")
