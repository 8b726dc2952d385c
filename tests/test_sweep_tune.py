"""Sweeps with [search_space] and [tune]: validation, local sampling, Ray Tune with ASHA, restore after kill -9."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from nasplug.cli import main
from nasplug.errors import ConfigError
from nasplug.sweep_tune import load_tune_sweep, sample_trials, _distribution

REPO = Path(__file__).resolve().parents[1]
TOML = """
[sweep]
root = "{root}"
num_cpus = 1

[search]
space = "nb201"
data = "digits"
space_options = {{C = 4, N = 1}}
steps_per_epoch = 2
batch_size = 16
eval_batches = 1
epochs = {epochs}

[search_space]
strategy = {{choice = ["gdas", "darts"]}}
arch_lr = {{loguniform = [1e-4, 1e-2]}}
"space_options.C" = {{choice = [4, 6]}}

[tune]
algorithm = "random"
scheduler = "asha"
metric = "derived_valid_acc"
num_samples = {samples}
grace_period = 1
seed = 0
"""


def _write(tmp_path, samples=2, epochs=1, extra="", replace=()):
    text = TOML.format(root=tmp_path / "out", samples=samples, epochs=epochs) + extra
    for old, new in replace:
        text = text.replace(old, new)
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_the_shipped_example_sweep_is_valid():
    sweep = load_tune_sweep(REPO / "examples" / "sweeps" / "sweep.toml")
    assert sweep.tune.num_samples == 16 and sweep.tune.scheduler == "asha"
    assert sweep.tune.metric == "derived_valid_acc" and sweep.tune.algorithm == "random"
    assert {d.key for d in sweep.space} >= {"strategy", "arch_lr", "space_options.C"}
    assert {d.kind for d in sweep.space} >= {"choice", "loguniform"}


@pytest.mark.parametrize("replace, message", [
    (('arch_lr = {loguniform = [1e-4, 1e-2]}', 'arch_lr = {loguniform = [0, 1e-2]}'), "loguniform needs low > 0"),
    (('arch_lr = {loguniform = [1e-4, 1e-2]}', 'arch_lr = {lognormal = [1, 2]}'),
     "must be a table with one of choice, uniform, loguniform, randint"),
    (('arch_lr = {loguniform = [1e-4, 1e-2]}', 'arch_lr = {uniform = [2, 1]}'), "uniform needs low < high"),
    (('strategy = {choice = ["gdas", "darts"]}', 'strategy = {choice = ["gdas", "gdsa"]}'), "strategy = 'gdsa'"),
    (('"space_options.C" = {choice = [4, 6]}', 'wlr = {choice = [1]}'), "sweep value wlr = 1: unknown SearchConfig"),
    (('scheduler = "asha"', 'scheduler = "median"'), "scheduler = 'median' is not one of asha, hyperband, fifo"),
    (('metric = "derived_valid_acc"', 'metric = "accuracy"'), "metric = 'accuracy' is not an epoch metric"),
    (('num_samples = 2', 'num_samples = 0'), "num_samples must be an integer >= 1"),
    (('grace_period = 1', 'grace_period = 1\nmax_t = 9'), "max_t = 9 exceeds the search's epochs"),
    (('grace_period = 1', 'grace_period = 1\nretries = 2'), "unknown [tune] key(s) ['retries']"),
])
def test_the_whole_file_is_checked_before_any_trial_with_one_line_errors(tmp_path, replace, message):
    with pytest.raises(ConfigError) as info:
        load_tune_sweep(_write(tmp_path, replace=[replace]))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bohb_without_its_packages_says_what_to_install(tmp_path, capsys):
    pytest.importorskip("ray")
    path = _write(tmp_path, replace=[('algorithm = "random"', 'algorithm = "bohb"'),
                                     ('scheduler = "asha"', 'scheduler = "hyperband"')])
    try:
        import ConfigSpace, hpbandster  # noqa: F401,E401
        pytest.skip("hpbandster and ConfigSpace are installed here")
    except ImportError:
        pass
    assert main(["sweep", str(path)]) == 2
    assert "bohb algorithm needs hpbandster and ConfigSpace" in capsys.readouterr().err
    assert not (tmp_path / "out" / "tune").exists()  # refused before Ray started


@settings(max_examples=60, deadline=None)
@given(low=st.floats(1e-6, 1.0), span=st.floats(1.01, 1e4), seed=st.integers(0, 2**31))
def test_loguniform_and_randint_draws_stay_in_their_bounds(low, span, seed):
    rng = random.Random(seed)
    log = _distribution("x", {"loguniform": [low, low * span]})
    assert all(low * (1 - 1e-12) <= log.sample(rng) <= low * span * (1 + 1e-12) for _ in range(20))
    ints = _distribution("n", {"randint": [3, 3 + int(span)]})
    assert all(3 <= ints.sample(rng) < 3 + int(span) for _ in range(20))


def test_loguniform_draws_are_uniform_in_the_log():
    rng = random.Random(0)
    dist = _distribution("x", {"loguniform": [1e-4, 1e-2]})
    logs = [math.log10(dist.sample(rng)) for _ in range(4000)]
    below = sum(v < -3 for v in logs) / len(logs)  # the midpoint in log space splits the mass in half
    assert abs(below - 0.5) < 0.03  # 4 standard errors of a fair split


def _event_hparams(folder: Path) -> dict[str, dict]:
    """Each run's HParams session (its hparam values) as TensorBoard reads it from the event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    sessions = {}
    for run in sorted(p for p in folder.iterdir() if p.is_dir()):
        acc = EventAccumulator(str(run))
        acc.Reload()
        for content in acc.PluginTagToContent("hparams").values():
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            if data.HasField("session_start_info"):
                sessions[run.name] = {k: (v.string_value or v.number_value)
                                      for k, v in data.session_start_info.hparams.items()}
    return sessions


def test_local_executor_samples_the_space_runs_each_to_the_end_and_lists_them_in_hparams(tmp_path, capsys):
    path = _write(tmp_path, samples=2)
    assert main(["sweep", str(path), "--executor", "local"]) == 0
    err = capsys.readouterr().err
    assert "no asha early stopping" in err
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())["trials"]
    assert [r["status"] for r in rows] == ["done", "done"]
    trials = sample_trials(load_tune_sweep(path))
    assert [r["trial"] for r in rows] == [t.name for t in trials]  # the seeded draws name the trials
    assert all(1e-4 <= r["params"]["arch_lr"] <= 1e-2 for r in rows)
    sessions = _event_hparams(tmp_path / "out" / "tensorboard-hparams")
    assert set(sessions) == {r["trial"] for r in rows}
    for row in rows:
        assert sessions[row["trial"]]["strategy"] == row["params"]["strategy"]
        assert sessions[row["trial"]]["arch_lr"] == pytest.approx(row["params"]["arch_lr"])
    assert main(["sweep", str(path), "--executor", "local"]) == 0  # the same command: nothing reruns
    assert "2 finished before, 0 to run" in capsys.readouterr().err


def _kill_session(sid: int) -> None:
    from test_sweep import _kill_session as kill

    kill(sid)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the Ray processes through /proc")
def test_ray_tune_sweep_stops_early_survives_kill_9_and_lists_every_trial(tmp_path):
    """6 samples, 3 epochs, ASHA after epoch 1; the driver and its Ray instance are killed with SIGKILL once a
    trial has finished; the same command then restores the experiment without rerunning the finished trial."""
    pytest.importorskip("ray")
    path = _write(tmp_path, samples=6, epochs=3)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "nasplug", "sweep", str(path), "--num-cpus", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_DEDUP_LOGS": "0"}
    first = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while time.time() < deadline and not list(out.glob("*/trial.json")) and first.poll() is None:
        time.sleep(1)
    finished_before = {p.parent.name: p.read_bytes() for p in out.glob("*/trial.json")}
    assert finished_before, first.communicate()[1].decode()[-3000:] if first.poll() is not None else "no trial"
    _kill_session(first.pid)
    first.wait()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "restoring the Tune experiment" in second.stderr
    for name, data in finished_before.items():  # not rerun: the very same file
        assert (out / name / "trial.json").read_bytes() == data
    rows = json.loads((out / "summary.json").read_text())["trials"]
    assert len(rows) == 6 and {r["status"] for r in rows} <= {"done", "stopped_early"}, rows
    for row in rows:
        if row["status"] == "stopped_early":
            assert 1 <= row["stopped_at_epoch"] < 3
            assert f"stopped early: {row['trial']} after epoch {row['stopped_at_epoch']}" in second.stdout
    assert set(_event_hparams(out / "tensorboard-hparams")) == {r["trial"] for r in rows}
