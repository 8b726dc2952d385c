"""Loading a run directory never runs code from it (issue: code execution on ``nasplug resume``)."""

import os
import stat
import subprocess
import sys

import pytest
import torch

from nasplug.errors import RunDirError
from nasplug.rundir import safe_torch_load
from nasplug.search.run import SearchRun, merged_config

TINY = dict(space="nb201", strategy="random", data="digits", space_options={"C": 4, "N": 1}, batch_size=64,
            steps_per_epoch=2, epochs=1, optimizer_options={"num_candidates": 4, "screen_batches": 1, "top_k": 2})


class _Payload:
    """A pickle that, when unpickled, creates ``marker``: what a crafted checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious_checkpoint(path, marker):
    # torch.save pickles whatever it is given; the payload sits where a tensor would
    torch.save({"epoch": 0, "supernet": _Payload(marker)}, path)


def test_resume_refuses_a_malicious_checkpoint_and_names_it(tmp_path):
    run_dir = tmp_path / "run"
    SearchRun(merged_config({**TINY, "runs_root": str(tmp_path)}), run_dir=run_dir).run()
    marker = tmp_path / "pwned"
    checkpoint = run_dir / "checkpoint.pt"
    _malicious_checkpoint(checkpoint, marker)
    # the payload really would run if loaded unsafely: the test would catch a regression
    torch.load(checkpoint, weights_only=False)
    assert marker.exists()
    marker.unlink()

    proc = subprocess.run([sys.executable, "-m", "nasplug.cli", "resume", str(run_dir), "--quiet"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2, proc.stderr
    assert not marker.exists()
    error_lines = [l for l in proc.stderr.splitlines() if l.startswith("nasplug: error:")]
    assert len(error_lines) == 1 and str(checkpoint) in error_lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_safe_load_reads_what_nasplug_writes_and_refuses_pickled_objects(tmp_path):
    run = SearchRun(merged_config({**TINY, "runs_root": str(tmp_path)}), run_dir=tmp_path / "run")
    run.run()
    state = safe_torch_load(tmp_path / "run" / "checkpoint.pt")
    assert state["epoch"] == 1 and state["finished"] is True
    marker = tmp_path / "pwned"
    _malicious_checkpoint(tmp_path / "bad.pt", marker)
    with pytest.raises(RunDirError, match="refused to load"):
        safe_torch_load(tmp_path / "bad.pt")
    assert not marker.exists()


def test_no_unsafe_torch_load_anywhere_in_the_repository():
    """Every torch.load in shipped code goes through weights_only=True (a grep, so new code cannot slip)."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    offenders = []
    for path in list((repo / "nasplug").rglob("*.py")) + list((repo / "plugins").rglob("*.py")) + \
            list((repo / "benchmarks").rglob("*.py")) + list((repo / "examples").rglob("*.py")):
        text = path.read_text()
        if "weights_only=False" in text or ("pickle.load(" in text):
            offenders.append(str(path.relative_to(repo)))
    assert offenders == []


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_directory_files_honour_the_umask(tmp_path, umask):
    from nasplug.rundir import atomic_write_json

    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "config.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o666 & ~umask
