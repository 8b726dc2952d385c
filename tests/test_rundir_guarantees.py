"""Every promise of the README's "What a run directory guarantees", for each kind of run that keeps one.

A search, a retraining and nasplug-nb201's tabular run share one owner of their run directory
(:class:`nasplug.run_directory.RunDirectory`); each test here is parametrized over the three, so a promise kept
by one kind and broken by another fails.  Runs that must die die for real, in their own process
(tests/rundir_kinds.py kills itself with SIGKILL or SIGTERM at a chosen epoch).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import rundir_kinds
from nasplug.checkpoint import content_digest
from nasplug.errors import RunDirError
from rundir_kinds import outcome, resume, start

KINDS = ("search", "train", "tabular")
DRIVER = Path(__file__).with_name("rundir_kinds.py")


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory):
    return rundir_kinds.write_table(tmp_path_factory.mktemp("nb201"))


@pytest.fixture(autouse=True)
def _table_env(table_dir, monkeypatch):
    monkeypatch.setenv(rundir_kinds.TABLE_DIR_ENV, str(table_dir))


@pytest.fixture(scope="module")
def finished(tmp_path_factory, table_dir):
    """One uninterrupted run of each kind (the reference every resumed run must equal)."""
    os.environ[rundir_kinds.TABLE_DIR_ENV] = str(table_dir)
    runs = {}
    for kind in KINDS:
        run_dir = tmp_path_factory.mktemp(kind) / "run"
        start(kind, run_dir).run()
        runs[kind] = run_dir
    return runs


def driver(kind, run_dir, action, *flags, env_table) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", rundir_kinds.TABLE_DIR_ENV: str(env_table),
           "PYTHONPATH": os.pathsep.join([str(DRIVER.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(DRIVER), kind, str(run_dir), action, *flags], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    (target / ".lock").unlink(missing_ok=True)
    return target


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["KILL", "TERM"])
def test_a_run_killed_or_stopped_mid_way_resumes_to_the_uninterrupted_result(kind, how, tmp_path, finished,
                                                                            table_dir):
    run_dir = tmp_path / "run"
    proc = driver(kind, run_dir, "start", "--signal", how, "--at-epoch", "2", env_table=table_dir)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == (-signal.SIGKILL if how == "KILL" else 128 + signal.SIGTERM), err
    assert "Traceback" not in err
    resumed = resume(kind, run_dir)
    assert rundir_kinds.epoch_of(resumed) in (1, 2)  # the last epoch whose checkpoint was written
    resumed.run()
    assert outcome(run_dir) == outcome(finished[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_a_deleted_checkpoint_is_refused_not_restarted_over_the_results(kind, tmp_path, finished):
    run_dir = copy_run(finished[kind], tmp_path / "run")
    metrics = (run_dir / "metrics.jsonl").read_bytes()
    (run_dir / "checkpoint.pt").unlink()
    with pytest.raises(RunDirError, match="checkpoint.pt: file not found, but metrics.jsonl records finished"):
        resume(kind, run_dir)
    assert (run_dir / "metrics.jsonl").read_bytes() == metrics  # nothing recorded was lost
    # the previous checkpoint is the way back, and ends where the uninterrupted run did
    resume(kind, run_dir, from_previous=True).run()
    assert outcome(run_dir) == outcome(finished[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_a_garbled_checkpoint_is_refused_and_the_previous_one_continues(kind, tmp_path, finished):
    run_dir = copy_run(finished[kind], tmp_path / "run")
    data = bytearray((run_dir / "checkpoint.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (run_dir / "checkpoint.pt").write_bytes(bytes(data))
    with pytest.raises(RunDirError, match="checkpoint.pt"):
        resume(kind, run_dir)
    resume(kind, run_dir, from_previous=True).run()
    assert outcome(run_dir) == outcome(finished[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_another_runs_checkpoint_is_refused(kind, tmp_path, finished):
    run_dir = copy_run(finished[kind], tmp_path / "run")
    other = {"search": dict(rundir_kinds.SEARCH, seed=9), "train": dict(rundir_kinds.TRAIN, seed=9),
             "tabular": dict(rundir_kinds.TABULAR, seed=9)}[kind]
    saved = {"search": rundir_kinds.SEARCH, "train": rundir_kinds.TRAIN, "tabular": rundir_kinds.TABULAR}[kind]
    try:
        saved_copy = dict(saved)
        saved.update(other)
        start(kind, tmp_path / "other").run()
    finally:
        saved.clear()
        saved.update(saved_copy)
    shutil.copyfile(tmp_path / "other" / "checkpoint.pt", run_dir / "checkpoint.pt")
    with pytest.raises(RunDirError, match="written by another configuration .*seed.*belongs to a different run"):
        resume(kind, run_dir)


def _crafted(run_dir: Path, change) -> None:
    """Rewrite the checkpoint with ``change`` applied and a valid digest (a crafted, not a damaged, file)."""
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    state.pop("sha256")
    change(state)
    state["sha256"] = content_digest(state)
    torch.save(state, run_dir / "checkpoint.pt")


def _weights_key(state):
    return next(k for k in ("supernet", "model", "arch") if k in state)


CRAFTED = {
    "float16 weights": (lambda s: s.update({_weights_key(s): {k: v.half() if v.is_floating_point() else v
                                                               for k, v in s[_weights_key(s)].items()}}),
                        "float16 tensor"),
    "a fractional epoch": (lambda s: s.update(epoch=1.5), "'epoch' is 1.5, not a whole number"),
    "history as a string": (lambda s: s.update(history="abc"), "'history' is not a list"),
    "an epoch the history does not match": (lambda s: s.update(epoch=1), "'epoch' is 1 but 'history' records 3"),
    "no digest": (None, "carries no checksum"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("craft", CRAFTED)
def test_a_crafted_checkpoint_is_refused_before_anything_uses_it(kind, craft, tmp_path, finished):
    run_dir = copy_run(finished[kind], tmp_path / "run")
    change, message = CRAFTED[craft]
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    if change is None:  # the pre-digest format: accepted only when asked for
        state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
        state.pop("sha256")
        torch.save(state, run_dir / "checkpoint.pt")
        before["checkpoint.pt"] = (run_dir / "checkpoint.pt").read_bytes()
    else:
        _crafted(run_dir, change)
        before["checkpoint.pt"] = (run_dir / "checkpoint.pt").read_bytes()
    with pytest.raises(RunDirError, match=message):
        resume(kind, run_dir)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.name != ".lock"} == \
        {k: v for k, v in before.items() if k != ".lock"}
    if change is None:
        resume(kind, run_dir, unverified_ok=True).run()
        assert outcome(run_dir) == outcome(finished[kind])


def test_a_search_checkpoint_that_says_finished_without_a_genotype_is_refused(tmp_path, finished):
    run_dir = copy_run(finished["search"], tmp_path / "run")
    _crafted(run_dir, lambda s: s.update(final=None))
    with pytest.raises(RunDirError, match="finished, without a final genotype"):
        resume("search", run_dir)


@pytest.mark.parametrize("kind", ["search", "train"])
def test_an_optimizer_buffer_of_the_wrong_shape_is_refused(kind, tmp_path, finished):
    run_dir = copy_run(finished[kind], tmp_path / "run")
    key = {"search": "w_optimizer", "train": "optimizer"}[kind]

    def reshape_first_buffer(state):
        buffers = state[key]["state"][0]
        buffers["momentum_buffer"] = torch.zeros(3, 3)

    _crafted(run_dir, reshape_first_buffer)
    with pytest.raises(RunDirError, match="momentum_buffer of parameter 0 is torch.float32 \\(3, 3\\)"):
        resume(kind, run_dir)


@pytest.mark.parametrize("kind", KINDS)
def test_one_writer_even_when_the_lock_file_is_deleted(kind, tmp_path, table_dir):
    run_dir = tmp_path / "run"
    hold = tmp_path / "release"
    proc = driver(kind, run_dir, "start", "--hold", str(hold), "--at-epoch", "1", env_table=table_dir)
    try:
        deadline = time.time() + 300
        while not Path(str(hold) + ".waiting").exists():
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() else "timeout"
            time.sleep(0.05)
        with pytest.raises(RunDirError, match=f"in use by process {proc.pid}"):
            resume(kind, run_dir)
        (run_dir / ".lock").unlink()  # the lock is on the directory, not on this file
        with pytest.raises(RunDirError, match="is in use by"):
            resume(kind, run_dir)
    finally:
        hold.write_text("go")
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


@pytest.mark.parametrize("kind", KINDS)
def test_resuming_a_finished_copy_writes_nothing(kind, tmp_path, finished):
    """A read-only copy works: resuming a finished run rewrites no file (nor makes one, beyond the lock's PID)."""
    run_dir = copy_run(finished[kind], tmp_path / "run")
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in run_dir.iterdir()}
    resume(kind, run_dir).run()
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in run_dir.iterdir() if p.name != ".lock"}
    assert after == before


@pytest.mark.parametrize("kind", KINDS)
def test_a_symlinked_copy_resumes_into_its_own_files(kind, tmp_path, finished, table_dir):
    """`cp -rs RUN COPY`: the copy's files become its own before anything is written; RUN is never touched."""
    original = tmp_path / "original"
    proc = driver(kind, original, "start", "--signal", "KILL", "--at-epoch", "2", env_table=table_dir)
    proc.communicate(timeout=300)
    (original / ".lock").unlink(missing_ok=True)
    snapshot = {p.name: p.read_bytes() for p in original.iterdir()}
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in original.iterdir():
        (copy / path.name).symlink_to(path)
    resume(kind, copy).run()
    assert {p.name: p.read_bytes() for p in original.iterdir()} == snapshot
    assert not any((copy / name).is_symlink() for name in ("metrics.jsonl", "checkpoint.pt", "config.json"))
    assert outcome(copy) == outcome(finished[kind])
