"""Issue 25, the cases owned here: each bad sweep or search file, command line, run-directory file or
machine condition ends in one ``nasplug: error:`` line with exit 2 naming the file or value (or, for the
TensorBoard and signal cases, in the documented behaviour), where each used to give a traceback, a hang or a
silently different result.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nasplug.cli import main

TINY = ["--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--data", "digits",
        "--batch-size", "32", "--threads", "1", "--quiet"]
TINY_SEARCH = {"space": "nb201", "space_options": {"C": 4, "N": 1}, "epochs": 1, "steps_per_epoch": 1,
               "batch_size": 16, "eval_batches": 1, "threads": 1}


def run_cli(argv, timeout_s: float = 120.0):
    """(exit status, stderr) of ``nasplug ARGV`` in this process; a hang past ``timeout_s`` fails the test."""
    err = io.StringIO()

    def hang(signum, frame):
        raise TimeoutError(f"nasplug {' '.join(map(str, argv))[:100]} hung")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main([str(a) for a in argv])
            except SystemExit as exc:
                status = exc.code
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return status, err.getvalue()


def assert_one_line_error(argv, *needles, timeout_s: float = 120.0) -> str:
    status, err = run_cli(argv, timeout_s)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("usage:")]
    assert status == 2, (status, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("nasplug: error:"), err[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# -- 25.8: sweep and search TOML files ------------------------------------------------------------
SWEEP_FILES = {
    "scalar-search": ("search = 5\n", "[search] must be a table"),
    "scalar-grid": ("grid = 5\n", "[grid] must be a table"),
    "scalar-train": ("train = 5\n", "[train] must be a table"),
    "scalar-sweep": ("sweep = 5\n", "[sweep] must be a table"),
    "root-number": ("[sweep]\nroot = 5\n", "root must be a non-empty folder path"),
    "root-empty": ('[sweep]\nroot = ""\n', "root must be a non-empty folder path"),
    "dotted-not-options": ('[grid]\n"epochs.x" = [1]\n', "'epochs.x'"),
    "grid-unknown-field": ("[grid]\nbogus = [1]\n", "unknown SearchConfig field 'bogus'"),
    "date": ("[search]\nepochs = 1979-05-27\n", "1979-05-27"),
    "date-in-grid": ("[grid]\nseed = [1979-05-27]\n", "1979-05-27"),
    "w_lr-1e308": ("[search]\nw_lr = 1e308\n", "1e+308"),
    "num_cpus-inf": ("[sweep]\nnum_cpus = inf\n", "num_cpus"),
    "num_cpus-nan": ("[sweep]\nnum_cpus = nan\n", "nan"),
    "num_cpus-1e300": ("[sweep]\nnum_cpus = 1e300\n", "1e+300"),
    "num_gpus-negative": ("[sweep]\nnum_gpus = -1\n", "num_gpus"),
    "retrain-yes": ('[sweep]\nretrain = "yes"\n', "retrain must be true or false"),
    "unknown-table": ("[bogus]\nx = 1\n", "unknown table(s) ['bogus']"),
    "unknown-sweep-key": ("[sweep]\nbogus = 1\n", "'bogus'"),
    "bad-train-value": ('[train]\nlr = "fast"\n', "TrainConfig.lr"),
    "bad-train-key": ("[train]\nbogus = 1\n", "bogus"),
    "sync_batchnorm-yes": ('[search]\nsync_batchnorm = "yes"\n', "sync_batchnorm must be true or false"),
    "deep-options": ("[search]\nspace_options = {C = " + "[" * 100 + "]" * 100 + "}\n", "nested more than"),
    "huge-grid": ("[grid]\nseed = [%s]\nbatch_size = [%s]\nepochs = [%s]\n"
                  % ((",".join(map(str, range(1, 1001))),) * 3), "more than 10,000 trials"),
}


@pytest.mark.parametrize("name", sorted(SWEEP_FILES))
def test_bad_sweep_file_is_one_line(name, tmp_path):
    text, needle = SWEEP_FILES[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    line = assert_one_line_error(["sweep", path, "--executor", "local", "--root", tmp_path / "out"], needle)
    assert "sweep file" in line or "config file" in line or "SearchConfig" in line or "num_" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing ran


def test_huge_grid_is_refused_without_expanding_it(tmp_path):
    from nasplug.sweep import grid

    started = time.perf_counter()
    with pytest.raises(Exception, match="more than 10,000 trials"):
        grid({}, {"seed": list(range(1000)), "epochs": list(range(1, 1001)), "batch_size": list(range(1, 1001))})
    assert time.perf_counter() - started < 1.0  # counted, not expanded one by one


@pytest.mark.parametrize("content", [b"[search]\nspace = \"\xff\xfe\"\n", b"\x80\x81"], ids=["value", "start"])
def test_invalid_utf8_toml(content, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    assert_one_line_error(["sweep", path, "--executor", "local"], "not UTF-8", str(path))
    assert_one_line_error(["search", "--config", path, *TINY], "not UTF-8")


def test_directory_as_config_or_sweep_file(tmp_path):
    assert_one_line_error(["sweep", tmp_path, "--executor", "local"], "is a directory")
    assert_one_line_error(["search", "--config", tmp_path, *TINY], "is a directory")
    assert_one_line_error(["train", "darts_v2", "--config", tmp_path], "is a directory")


def test_sweep_root_that_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'[sweep]\nroot = "{tmp_path / "afile"}"\n')
    assert_one_line_error(["sweep", sweep, "--executor", "local"], "exists and is not a folder")
    sweep.write_text("[search]\nepochs = 1\n")
    assert_one_line_error(["sweep", sweep, "--executor", "local", "--root", tmp_path / "afile"],
                          "--root", "not a folder")


@pytest.mark.parametrize("value", ["-5", "0", "100000"])
def test_num_cpus_flag_bounded(value, tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text("[search]\nepochs = 1\n")
    assert_one_line_error(["sweep", sweep, "--num-cpus", value], "--num-cpus", value)


def test_search_config_w_lr_beyond_float32(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("w_lr = 1e308\n")
    assert_one_line_error(["search", "--config", config, *TINY, "--run-dir", tmp_path / "r"], "w_lr", "float32")


def test_sync_batchnorm_message_names_field_not_attrs_internals():
    from nasplug.config import SearchConfig, TrainConfig
    from nasplug.errors import ConfigError

    for cls in (SearchConfig, TrainConfig):
        with pytest.raises(ConfigError) as info:
            cls.from_dict({"sync_batchnorm": "yes"})
        assert str(info.value) == f"{cls.__name__}.sync_batchnorm must be true or false, got 'yes'"


@pytest.mark.parametrize("value", ["-inf", "-1e-3", "-nan"])
def test_negative_float_flag_value_is_refused_by_name(value, tmp_path):
    assert_one_line_error(["search", *TINY, "--w-lr", value, "--run-dir", tmp_path / "r"], "w_lr")


def test_train_table_is_checked_before_the_first_search(tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'[sweep]\nroot = "{tmp_path / "out"}"\n[search]\nepochs = 1\n[grid]\nseed = [0, 1]\n'
                     '[train]\nepochs = 0\n')
    assert_one_line_error(["sweep", sweep, "--executor", "local"], "[train]", "TrainConfig.epochs")
    assert not (tmp_path / "out").exists()


def test_trial_names_do_not_depend_on_the_train_table():
    from nasplug.sweep import grid

    plain = grid(TINY_SEARCH, {"seed": [0, 1]})
    retrained = grid(TINY_SEARCH, {"seed": [0, 1]}, train={"epochs": 1})
    other = grid(TINY_SEARCH, {"seed": [0, 1]}, train={"epochs": 2})
    assert [t.name for t in plain] == [t.name for t in retrained] == [t.name for t in other]
    assert retrained[0].train_dir_name != other[0].train_dir_name


@pytest.mark.slow
def test_changing_train_keeps_the_search_and_retrains(tmp_path):
    """Fixing [train] reuses every finished search and retrains with the new settings (not the old row)."""
    from nasplug.sweep import grid, run_sweep

    root = tmp_path / "sweep"
    first = run_sweep(grid(TINY_SEARCH, {"seed": [0]}, train={"epochs": 1, "batch_size": 16}), root,
                      executor="local", log=None)
    search_checkpoint = Path(first[0]["search_dir"]) / "checkpoint.pt"
    stamp = search_checkpoint.stat().st_mtime_ns
    second = run_sweep(grid(TINY_SEARCH, {"seed": [0]}, train={"epochs": 2, "batch_size": 16}), root,
                       executor="local", log=None)
    assert second[0]["trial"] == first[0]["trial"] and second[0]["genotype"] == first[0]["genotype"]
    assert second[0]["train_config"] == {"epochs": 2, "batch_size": 16}
    assert second[0]["train_dir"] != first[0]["train_dir"]
    assert search_checkpoint.stat().st_mtime_ns == stamp  # the search was not rerun
    again = run_sweep(grid(TINY_SEARCH, {"seed": [0]}, train={"epochs": 2, "batch_size": 16}), root,
                      executor="local", log=None)
    assert again[0].get("skipped") is True


# -- 25.5: hangs ---------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed once the socket is: a connection is refused at once


def test_unreachable_ray_address_is_one_line_and_bounded(tmp_path):
    sweep = tmp_path / "s.toml"
    sweep.write_text(f'[sweep]\nroot = "{tmp_path / "out"}"\n[search]\nepochs = 1\n')
    started = time.perf_counter()
    assert_one_line_error(["sweep", sweep, "--address", f"127.0.0.1:{_closed_port()}"], "did not answer",
                          timeout_s=60)
    assert time.perf_counter() - started < 30


def test_ray_address_of_a_silent_host_times_out(monkeypatch):
    from nasplug import sweep

    def silent(address, timeout):
        raise socket.timeout("timed out")

    monkeypatch.setattr(sweep.socket, "create_connection", silent)
    with pytest.raises(Exception, match="did not answer within 10 s"):
        sweep.check_reachable("10.255.255.1:6379")
    with pytest.raises(Exception, match="must look like HOST:PORT"):
        sweep.check_reachable("nowhere")


def test_trial_asking_more_cpus_than_the_cluster_has():
    from nasplug.sweep import check_feasible, grid

    trials = grid(TINY_SEARCH, {"seed": [0]}, num_cpus=4)
    with pytest.raises(Exception, match=r"num_cpus = 4 but the Ray cluster has 2 CPU"):
        check_feasible(trials, {"CPU": 2.0})
    check_feasible(trials, {"CPU": 4.0})


@pytest.mark.parametrize("nproc", ["0", "-3", "2000"])
def test_nproc_bounded_before_spawning(nproc, tmp_path):
    assert_one_line_error(["search", *TINY, "--nproc", nproc, "--run-dir", tmp_path / "r"], "--nproc", nproc)
    assert not (tmp_path / "r").exists()


# -- 25.11: distributed backend and distributed.json ---------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_nccl_without_cuda_refused_before_launch(tmp_path):
    assert_one_line_error(["search", *TINY, "--nproc", "2", "--dist-backend", "nccl", "--run-dir", tmp_path / "r"],
                          "nccl", "needs CUDA")


@pytest.mark.skipif(torch.distributed.is_mpi_available(), reason="this torch has MPI")
def test_mpi_not_built_refused_before_launch(tmp_path):
    assert_one_line_error(["search", *TINY, "--nproc", "2", "--dist-backend", "mpi", "--run-dir", tmp_path / "r"],
                          "mpi", "not built")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "r"
    status, err = run_cli(["search", *TINY, "--epochs", "1", "--steps-per-epoch", "2", "--run-dir", run_dir])
    assert status == 0, err
    return run_dir


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".lock"))
    return copy


@pytest.mark.parametrize("content,needle", [("", "empty"), ("{", "not valid JSON"), ("[1]", "JSON list"),
                                            ('{"world_size": "two"}', "'two'"), ('{"backend": "gloo"}', "has none"),
                                            ('{"world_size": 0}', "got 0")])
@pytest.mark.parametrize("nproc", [None, "2"])
def test_damaged_distributed_json(content, needle, nproc, finished_run, tmp_path):
    run_dir = _copy_run(finished_run, tmp_path)
    (run_dir / "distributed.json").write_text(content)
    argv = ["resume", run_dir, "--quiet"] + (["--nproc", nproc] if nproc else [])
    assert_one_line_error(argv, "distributed.json", needle)


# -- 25.9: nesting 100,000 deep --------------------------------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("which", ["genotype.json", "config.json", "metrics.jsonl"])
def test_deep_json_in_run_files(which, finished_run, tmp_path):
    run_dir = _copy_run(finished_run, tmp_path)
    if which == "metrics.jsonl":
        (run_dir / which).write_text((run_dir / which).read_text() + '{"epoch": ' + DEEP + "}\n")
    else:
        (run_dir / which).write_text('{"genotype": ' + DEEP + "}")
    command = ["train", run_dir / which, "--epochs", "1", "--threads", "1", "--quiet"] \
        if which == "genotype.json" else ["show", run_dir, "--out", tmp_path / "png"]
    assert_one_line_error(command, which, "nested more than")


def test_deep_json_genotype_record_for_train(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"space": "nb201", "genotype": "x", "space_options": {}})[:-1]
                    + ', "deep": ' + DEEP + "}")
    assert_one_line_error(["train", path, "--epochs", "1", "--quiet"], str(path), "nested more than")


def test_deep_toml_space_options(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[search.space_options]\nC = " + DEEP + "\n")
    assert_one_line_error(["search", "--config", config, *TINY[4:]], str(config), "nested more than")


def test_deep_space_option_flag(tmp_path):
    assert_one_line_error(["search", "--space", "nb201", "--space-option", "C=" + DEEP, "--run-dir", tmp_path / "r"],
                          "option value", "nested more than")


def test_depth_limit_property():
    from hypothesis import given, strategies as st

    from nasplug.errors import ConfigError
    from nasplug.safe_json import MAX_DEPTH, loads

    @given(st.integers(1, 3 * MAX_DEPTH))
    def check(depth):
        text = "[" * depth + "]" * depth
        if depth <= MAX_DEPTH:
            assert json.dumps(loads(text, "x")) == text
        else:
            with pytest.raises(ConfigError, match="nested more than"):
                loads(text, "x")

    check()


# -- 25.10: sizes beyond 64 bits ---------------------------------------------------------------------------
def test_genotype_with_huge_channel_count(finished_run, tmp_path):
    record = json.loads((finished_run / "genotype.json").read_text())
    record["space_options"]["C"] = 10 ** 12
    path = tmp_path / "g.json"
    path.write_text(json.dumps(record))
    line = assert_one_line_error(["train", path, "--epochs", "1", "--threads", "1", "--quiet"],
                                 "1000000000000", "too large", "8 EiB")
    assert "child network" in line


# -- 25.6: TensorBoard that cannot be written ----------------------------------------------------------
@pytest.mark.parametrize("where", ["file", "proc", "enospc-start", "enospc-mid", "readonly"])
def test_tensorboard_failure_warns_and_the_run_goes_on(where, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    import errno

    from torch.utils.tensorboard import SummaryWriter

    board = tmp_path / "tb"
    if where == "file":
        board.write_text("not a folder")
    elif where == "proc":
        board = Path("/proc/nasplug-tb")
    else:
        failing = {"enospc-start": "__init__", "enospc-mid": "add_histogram_raw", "readonly": "__init__"}[where]
        code = errno.EROFS if where == "readonly" else errno.ENOSPC
        original = getattr(SummaryWriter, failing)

        def fail(self, *args, **kwargs):
            if failing != "__init__":
                original(self, *args, **kwargs)
            raise OSError(code, "injected")

        monkeypatch.setattr(SummaryWriter, failing, fail)
    run_dir = tmp_path / "r"
    status, err = run_cli(["search", *TINY, "--epochs", "2", "--steps-per-epoch", "2", "--run-dir", run_dir,
                           "--tensorboard", board])
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 0, err
    assert len(lines) == 1 and "TensorBoard logging is off" in lines[0] and "the run goes on" in lines[0], err
    assert (run_dir / "genotype.json").exists() and len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2


# -- 25.13: a NaN input batch under --on-nonfinite skip ---------------------------------------------------
def _plain_step(run, x, y):
    selections = run.sample()
    return lambda batch: run.sgd_step(batch, y, selections)


def _fair_step(run, x, y):
    """The fairness step runs its own forwards (one per path): a skipped NaN batch must restore BN there too."""
    from nasplug.strategies.fairness import accumulated_sgd_step

    paths = [run.sample() for _ in range(3)]
    return lambda batch: accumulated_sgd_step(run, batch, y, paths)


@pytest.mark.parametrize("make_step", [_plain_step, _fair_step], ids=["sgd_step", "strict_fairness"])
def test_skipped_nan_batch_leaves_batchnorm_statistics_alone(make_step):
    from nasplug.pipeline import Pipeline  # noqa: F401  (the registry's first-party components)
    from nasplug.search.run import SearchRun, merged_config

    config = merged_config({**TINY_SEARCH, "space_options": {"C": 4, "N": 1, "track_running_stats": True,
                                                              "affine": True},
                            "on_nonfinite": "skip", "strategy": "random"})
    run = SearchRun(config)
    x, y = next(iter(run.train_loader))
    step = make_step(run, x, y)
    before = {k: v.clone() for k, v in run.supernet.state_dict().items()}
    assert step(torch.full_like(x, float("nan"))) == {}
    assert run.skipped_steps == 1
    after = run.supernet.state_dict()
    assert any("running_mean" in k for k in after)
    for key, value in before.items():
        assert torch.equal(value, after[key]), key  # weights and BatchNorm buffers untouched
    assert math.isfinite(step(x)["train_loss"])  # and the next finite batch trains as usual


def test_divergence_message_under_skip_does_not_recommend_skip():
    from nasplug.divergence import DivergenceError

    stop = str(DivergenceError("training loss", float("nan"), 2, 0))
    skip = str(DivergenceError("supernet weight 'x'", float("nan"), 2, 0, skipping=True))
    assert "--on-nonfinite skip" in stop and "--on-nonfinite skip" not in skip and "epoch 3" in skip


def test_weight_check_names_the_epoch_that_diverged():
    from nasplug.search.run import SearchRun, merged_config

    run = SearchRun(merged_config({**TINY_SEARCH, "strategy": "random", "on_nonfinite": "skip"}))
    run.state.epoch = 3  # save() runs once the counter has moved past the finished epoch 3 (1-based)
    with torch.no_grad():
        next(iter(run.supernet.parameters())).fill_(float("nan"))
    with pytest.raises(Exception) as info:
        run._check_weights_finite()
    assert "at epoch 3 " in str(info.value) and "--on-nonfinite skip" not in str(info.value)


# -- 25.13: signals while starting up -----------------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_while_starting_up_is_one_line(tmp_path):
    """A SIGTERM once main() runs (plugin loading, importing torch) stops with one line and 143."""
    code = ("import os, signal, sys\nfrom nasplug.cli import main\nos.kill(os.getpid(), signal.SIGTERM)\n"
            f"sys.exit(main({['search', *TINY, '--epochs', '1', '--run-dir', str(tmp_path / 'r')]!r}))\n")
    # the signal is sent before main() installs its handler: use a handler that forwards it the moment main starts
    code = code.replace("os.kill(os.getpid(), signal.SIGTERM)\n",
                        "import nasplug.signals as s\n_hold = s.hold_signals\n"
                        "import contextlib\n@contextlib.contextmanager\ndef held():\n"
                        "    with _hold():\n        os.kill(os.getpid(), signal.SIGTERM)\n        yield\n"
                        "s.hold_signals = held\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 143, done.stderr
    assert len(lines) == 1 and "on SIGTERM" in lines[0], done.stderr


def test_sigterm_during_ray_init_is_a_stop(monkeypatch, tmp_path):
    pytest.importorskip("ray")
    import ray

    from nasplug import signals, sweep

    def init(**kwargs):
        raise SystemExit(signal.SIGTERM)  # what ray.init's own SIGTERM handler does

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    with pytest.raises(sweep.SweepStopped) as info:
        sweep._ray(sweep.grid(TINY_SEARCH, {"seed": [0]}), tmp_path, lambda row: None, None, None)
    assert info.value.exit_code == 143 and "stopped on SIGTERM" in str(info.value)
    assert signals.requested() is None


def test_trial_stops_when_its_driver_dies(monkeypatch):
    from nasplug import signals, sweep

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        monkeypatch.setattr(signals, "_requested", None)
        sweep._watch_driver((child.pid, socket.gethostname()), interval=0.05)
        time.sleep(0.3)
        assert signals.requested() is None  # the driver lives: the trial goes on
        child.kill()
        child.wait()
        deadline = time.time() + 5
        while signals.requested() is None and time.time() < deadline:
            time.sleep(0.05)
        assert signals.requested() == signal.SIGTERM
    finally:
        child.kill()
        monkeypatch.setattr(signals, "_requested", None)


# -- 25.13: an unreadable class folder --------------------------------------------------------------------
def test_unreadable_class_folder_is_reported_as_unreadable(tmp_path, monkeypatch):
    import os

    from nasplug.data import folder_scan
    from nasplug.errors import ConfigError

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"")
    locked = str(tmp_path / "b")
    real = os.scandir

    def scandir(path="."):
        if str(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real(path)

    monkeypatch.setattr(folder_scan.os, "scandir", scandir)  # root ignores folder permissions: simulate them
    with pytest.raises(ConfigError, match=r"cannot read .*/b' \(permission denied\)"):
        folder_scan.scan_image_folder(tmp_path)


# -- a SIGTERM after the command has finished (the interpreter's exit) --------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_exit_does_not_turn_a_finished_command_into_a_silent_kill(signum):
    """The drill's `--nproc 2` trials: a SIGTERM in the half second the launcher spends exiting (torch's
    teardown) after the search had finished and written everything ended it with 143 and no line. Once the
    command's status is decided, the exit is no longer interruptible: the status stands."""
    code = ("import atexit, os, signal, sys, time, runpy\n"
            f"atexit.register(lambda: (os.kill(os.getpid(), {int(signum)}), time.sleep(0.5)))\n"
            "sys.argv = ['nasplug', 'plugins']\n"
            "runpy.run_module('nasplug', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
