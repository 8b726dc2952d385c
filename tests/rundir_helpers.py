"""Shared pieces of the run-directory tests: a tiny search config and a way to run the CLI as a process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

TINY = dict(space="nb201", strategy="random", data="digits", space_options={"C": 4, "N": 1}, batch_size=32,
            steps_per_epoch=2, optimizer_options={"num_candidates": 3, "screen_batches": 1, "top_k": 2},
            eval_batches=1)

#: the same search as CLI flags
TINY_ARGS = ["--space", "nb201", "--strategy", "random", "--data", "digits", "--space-option", "C=4",
             "--space-option", "N=1", "--batch-size", "32", "--steps-per-epoch", "2", "--eval-batches", "1",
             "--optimizer-option", "num_candidates=3", "--optimizer-option", "screen_batches=1",
             "--optimizer-option", "top_k=2"]

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def start_cli(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nasplug.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for_lines(path: Path, lines: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Wait until ``path`` has ``lines`` lines (the process must still be running)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= lines:
            return
        if proc.poll() is not None:
            raise AssertionError(f"process ended early ({proc.returncode}): {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"{path} never reached {lines} lines")
