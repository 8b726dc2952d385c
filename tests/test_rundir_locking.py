"""One writer per run directory: an flock for the life of the process, overwrite only when asked,
stale temp files removed (issue 16 item 3)."""

import os
import signal

import pytest

from nasplug.cli import main
from nasplug.errors import RunDirError
from nasplug.runlock import RunLock
from nasplug.search.run import SearchRun, merged_config

from rundir_helpers import TINY, TINY_ARGS, start_cli, wait_for_lines


def test_second_writer_fails_at_once_naming_the_holder_and_kill_9_leaves_no_stale_lock(tmp_path, capsys):
    run_dir = tmp_path / "run"
    holder = start_cli("search", *TINY_ARGS, "--epochs", "400", "--run-dir", str(run_dir), "--quiet")
    try:
        wait_for_lines(run_dir / "metrics.jsonl", 1, holder)
        # a resume while the search runs, and a second search even with --overwrite, are refused at once
        assert main(["resume", str(run_dir), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"run directory {run_dir} is in use by process {holder.pid}" in err and "Traceback" not in err
        assert main(["search", *TINY_ARGS, "--epochs", "1", "--run-dir", str(run_dir), "--overwrite",
                     "--quiet"]) == 2
        assert f"in use by process {holder.pid}" in capsys.readouterr().err
        assert holder.poll() is None  # the holder was not disturbed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert holder.returncode == -signal.SIGKILL
    # the OS dropped the lock with the process: the directory is free again
    lock = RunLock(run_dir).acquire()
    lock.release()


def test_new_search_in_a_directory_holding_a_run_needs_overwrite(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["search", *TINY_ARGS, "--epochs", "1", "--run-dir", str(run_dir), "--quiet"]
    assert main(argv) == 0
    before = (run_dir / "genotype.json").read_bytes()
    capsys.readouterr()
    assert main(argv[:-1] + ["--seed", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{run_dir} already holds a run (config.json)" in err and "--overwrite" in err
    assert (run_dir / "genotype.json").read_bytes() == before  # the earlier run is untouched
    assert main(argv + ["--seed", "5", "--overwrite"]) == 0
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1  # the old run's metrics were replaced, not appended to
    assert '"seed": 5' in (run_dir / "config.json").read_text()


def test_library_runs_refuse_overwrite_too_and_write_files_false_writes_nothing(tmp_path, monkeypatch):
    config = merged_config({**TINY, "epochs": 1, "runs_root": str(tmp_path / "runs")})
    SearchRun(config, run_dir=tmp_path / "run").run()
    with pytest.raises(RunDirError, match="already holds a run"):
        SearchRun(config, run_dir=tmp_path / "run")
    SearchRun(config, run_dir=tmp_path / "run", overwrite=True).run()
    monkeypatch.chdir(tmp_path)
    result = SearchRun(config, write_files=False).run()
    assert result.run_dir is None and not (tmp_path / "runs").exists()


def test_stale_temp_files_are_removed_on_resume(tmp_path):
    run_dir = tmp_path / "run"
    SearchRun(merged_config({**TINY, "epochs": 1, "runs_root": str(tmp_path)}), run_dir=run_dir).run()
    stale = [run_dir / ".checkpoint.pt.k2j3h4.tmp", run_dir / ".metrics.jsonl.abc.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    assert main(["resume", str(run_dir), "--quiet"]) == 0
    assert not any(path.exists() for path in stale)
    assert not [p for p in os.listdir(run_dir) if p.endswith(".tmp")]


def test_a_value_refused_after_the_claim_leaves_no_directory_it_created(tmp_path, capsys):
    # the batch size is checked against the search split only once the data is loaded, after the claim
    refused = ["search", *TINY_ARGS, "--epochs", "1", "--batch-size", "100000", "--quiet"]
    assert main(refused + ["--run-dir", str(tmp_path / "new" / "run")]) == 2
    assert main(refused + ["--runs-root", str(tmp_path / "runs")]) == 2
    assert "batch size 100000 exceeds" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []  # neither the run directories nor the parents made for them
    # a directory that existed before stays, with the user's files in it
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    (tmp_path / "empty").mkdir()
    assert main(refused + ["--run-dir", str(tmp_path / "mine")]) == 2
    assert main(refused + ["--run-dir", str(tmp_path / "empty")]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me" and (tmp_path / "empty").is_dir()


def test_a_retraining_refused_after_the_claim_leaves_no_directory_either(tmp_path, monkeypatch):
    from nasplug.config import TrainConfig
    from nasplug.run_directory import RunDirectory
    from nasplug.train import Trainer

    record = {"space": "nb201", "space_options": {"C": 4, "N": 1},
              "genotype": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"}

    def refuse(*args):
        raise RunDirError("no space left on device")

    monkeypatch.setattr(RunDirectory, "start", refuse)  # the last step after the claim
    with pytest.raises(RunDirError, match="no space left"):
        Trainer(record, TrainConfig(data="digits", epochs=1, runs_root=str(tmp_path / "runs")))
    assert not (tmp_path / "runs").exists()
