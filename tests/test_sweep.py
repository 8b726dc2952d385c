"""Sweeps: grids of trials on a local Ray instance (one for the module) or one by one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nasplug.cli import main
from nasplug.errors import ConfigError
from nasplug.sweep import grid, load_sweep, run_sweep

from rundir_helpers import stderr_after

TINY = {"space": "nb201", "data": "digits", "space_options": {"C": 4, "N": 1}, "steps_per_epoch": 3,
        "batch_size": 16, "eval_batches": 1}
SWEEP_TOML = """
[sweep]
root = "{root}"
num_cpus = 1

[search]
space = "nb201"
data = "digits"
space_options = {{C = 4, N = 1}}
steps_per_epoch = 3
batch_size = 16
eval_batches = 1
epochs = 4

[grid]
strategy = ["gdas", "random"]
seed = [0, 1]
"""


def test_grid_crosses_axes_into_deterministically_named_trials():
    trials = grid(TINY, {"strategy": ["gdas", "random"], "seed": [0, 1], "space_options.C": [4, 8]})
    assert len(trials) == 8
    assert {t.search["space_options"]["C"] for t in trials} == {4, 8}
    assert all(t.search["space_options"]["N"] == 1 for t in trials)  # the base options are kept
    names = [t.name for t in trials]
    assert len(set(names)) == 8
    assert names == [t.name for t in grid(TINY, {"strategy": ["gdas", "random"], "seed": [0, 1],
                                                 "space_options.C": [4, 8]})]
    assert trials[0].name.startswith("strategy_gdas-seed_0-C_4-")
    assert trials[0].search["threads"] == 1  # one torch thread per CPU of the trial
    with pytest.raises(ConfigError, match="'seed' must be a non-empty list"):
        grid(TINY, {"seed": 3})
    with pytest.raises(ConfigError, match="unknown SearchConfig field"):
        grid(TINY, {"sede": [1]})


def test_without_ray_the_sweep_says_how_to_install_it_and_runs_locally(tmp_path, monkeypatch, capsys):
    toml = tmp_path / "sweep.toml"
    toml.write_text(SWEEP_TOML.format(root=tmp_path / "out").replace('["gdas", "random"]', '["random"]')
                    .replace("[0, 1]", "[0]").replace("epochs = 4", "epochs = 1"))
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    assert main(["sweep", str(toml)]) == 2
    assert 'pip install "nasplug[ray]"' in capsys.readouterr().err
    assert main(["sweep", str(toml), "--executor", "local"]) == 0
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["trials"]
    assert [r["status"] for r in rows] == ["done"]
    assert main(["sweep", str(toml), "--executor", "local"]) == 0  # a rerun skips the finished trial
    assert "1 finished before, 0 to run" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_sweep(ray_instance, tmp_path_factory):
    """Four tiny trials (2 strategies x 2 seeds), each retrained for one epoch, on the local Ray instance."""
    root = tmp_path_factory.mktemp("sweep")
    trials = grid({**TINY, "epochs": 4}, {"strategy": ["gdas", "random"], "seed": [0, 1]},
                  train={"epochs": 1, "batch_size": 64})
    return root, run_sweep(trials, root, executor="ray", log=None)


def test_ray_sweep_of_four_trials_writes_four_run_directories_and_a_summary(ray_sweep):
    root, rows = ray_sweep
    assert [r["status"] for r in rows] == ["done"] * 4, rows
    assert {(r["params"]["strategy"], r["params"]["seed"]) for r in rows} == \
        {("gdas", 0), ("gdas", 1), ("random", 0), ("random", 1)}
    for row in rows:
        trial = root / row["trial"]
        assert (trial / "search" / "genotype.json").exists() and (Path(row["train_dir"]) / "result.json").exists()
        assert 0.0 <= row["search_valid_acc"] <= 1.0 and 0.0 <= row["retrain_test_acc"] <= 1.0
        assert row["seconds"] > 0
    summary = json.loads((root / "summary.json").read_text())["trials"]
    assert [r["trial"] for r in summary] == [r["trial"] for r in rows]
    lines = (root / "summary.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("trial,status,genotype,search_valid_acc,retrain_test_acc")


def _snapshot(root: Path) -> tuple[dict[str, bytes], dict[str, int]]:
    """Finished trials (their trial.json) and unfinished ones with a checkpoint (its epoch)."""
    finished, partial = {}, {}
    for trial in root.iterdir() if root.exists() else ():
        if (trial / "trial.json").exists():
            finished[trial.name] = (trial / "trial.json").read_bytes()
        elif (trial / "search" / "checkpoint.pt").exists():
            partial[trial.name] = torch.load(trial / "search" / "checkpoint.pt", weights_only=True)["epoch"]
    return finished, partial


def _kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid``: the sweep's driver and the Ray instance it started."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the Ray processes through /proc")
def test_a_killed_ray_sweep_rerun_finishes_only_what_was_missing(ray_instance, ray_sweep, tmp_path):
    root = tmp_path / "out"
    toml = tmp_path / "sweep.toml"
    toml.write_text(SWEEP_TOML.format(root=root))
    # the sweep with its own local Ray instance, all killed once one trial is done and another half done
    proc = subprocess.Popen([sys.executable, "-m", "nasplug", "sweep", str(toml), "--num-cpus", "2"],
                            cwd=tmp_path, start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not all(_snapshot(root)):
            assert time.time() < deadline and proc.poll() is None, "the sweep never had a finished and a half-done trial"
            time.sleep(0.05)
    finally:
        _kill_session(proc.pid)
        proc.wait()
    time.sleep(0.5)
    finished, partial = _snapshot(root)
    assert finished and partial and len(finished) < 4

    rows = run_sweep(load_sweep(toml).trials, root, executor="ray", log=None)  # the same sweep again
    assert [r["status"] for r in rows] == ["done"] * 4
    by_name = {r["trial"]: r for r in rows}
    for name, saved in finished.items():
        assert by_name[name].get("skipped") is True
        assert (root / name / "trial.json").read_bytes() == saved  # not recomputed
    for name, epoch in partial.items():
        assert by_name[name]["search_resumed_at_epoch"] == epoch > 0  # continued from its checkpoint
    for name in set(by_name) - set(finished) - set(partial):
        assert by_name[name]["search_resumed_at_epoch"] in (None, 0)
    # nothing lost: the same genotypes as the uninterrupted sweep of the same searches
    uninterrupted = {(r["params"]["strategy"], r["params"]["seed"]): r["genotype"] for r in ray_sweep[1]}
    assert {(r["params"]["strategy"], r["params"]["seed"]): r["genotype"] for r in rows} == uninterrupted


def test_a_signal_stops_a_local_sweep_instead_of_failing_every_trial(tmp_path):
    """SIGTERM during a local sweep: the trial stops at a step boundary and the sweep with it (a rerun resumes)."""
    from nasplug.signals import Stopped, stop_on_signals

    trials = grid({**TINY, "strategy": "gdas"}, {"seed": [0, 1]})
    with stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)  # arrives before the first step: the flag is set, nothing dies
        with pytest.raises(Stopped):
            run_sweep(trials, tmp_path, executor="local", log=None)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["trials"] == []  # no trial recorded as failed
    rows = run_sweep(trials, tmp_path, executor="local", log=None)
    assert [row["status"] for row in rows] == ["done", "done"]



def test_sigterm_to_the_driver_stops_a_ray_sweep_with_one_line(tmp_path):
    """ray.init installs its own SIGTERM handler (a stack dump and death); the CLI's stop must win."""
    pytest.importorskip("ray")
    toml = tmp_path / "sweep.toml"
    toml.write_text(SWEEP_TOML.format(root=tmp_path / "out").replace('["gdas", "random"]', '["gdas"]')
                    .replace("[0, 1]", "[0]").replace("steps_per_epoch = 3", "steps_per_epoch = 500"))
    proc = subprocess.Popen([sys.executable, "-m", "nasplug", "sweep", str(toml), "--num-cpus", "1"], cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)

    def term_once_a_trial_runs() -> None:
        deadline = time.time() + 240
        while not list((tmp_path / "out").glob("*/search/config.json")):
            assert proc.poll() is None and time.time() < deadline, "the trial did not start"
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)

    stderr = stderr_after(proc, term_once_a_trial_runs)
    assert proc.returncode == 143, stderr[-2000:]
    assert "rerun the same command" in stderr and "SIGTERM received" not in stderr, stderr[-2000:]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["trials"] == []  # none recorded as failed


def test_a_trial_killed_while_retraining_finishes_its_retraining_on_rerun(tmp_path):
    """The retraining's run directory exists on the rerun: it resumes (checksummed checkpoint) instead of refusing."""
    [trial] = grid({**TINY, "strategy": "gdas", "epochs": 1}, train={"epochs": 2, "batch_size": 16})
    [first] = run_sweep([trial], tmp_path, executor="local", log=None)
    assert first["status"] == "done"
    # as if killed after the retraining's last checkpoint, before its result and the trial's row were written
    (tmp_path / trial.name / "trial.json").unlink()
    (tmp_path / trial.name / trial.train_dir_name / "result.json").unlink()
    [again] = run_sweep([trial], tmp_path, executor="local", log=None)
    assert again["status"] == "done", again.get("error")
    assert again["train_resumed_at_epoch"] == 2
    assert again["retrain_test_acc"] == pytest.approx(first["retrain_test_acc"])
