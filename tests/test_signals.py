"""SIGTERM and SIGINT stop a search at a consistent point, say how to continue, and exit 143/130
(issue 17 item 2); the resumed search ends exactly where an uninterrupted one does."""

import json
import signal

from nasplug.checkpoint import load_checkpoint
from nasplug.cli import main
from nasplug.search.run import SearchRun, merged_config

from rundir_helpers import TINY, TINY_ARGS, start_cli, wait_for_lines

EPOCHS = 6


def stop_with(signum, run_dir):
    """Start a search, send ``signum`` once it has saved an epoch; return (exit code, stderr)."""
    proc = start_cli("search", *TINY_ARGS, "--epochs", str(EPOCHS), "--seed", "7", "--run-dir", str(run_dir),
                     "--quiet")
    try:
        wait_for_lines(run_dir / "metrics.jsonl", 1, proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, err


def test_sigterm_stops_with_message_and_143_and_resume_is_exact(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, err = stop_with(signal.SIGTERM, run_dir)
    assert code == 143, err
    assert "Traceback" not in err
    line = next(l for l in err.splitlines() if "stopped at epoch" in l)
    assert f"; nasplug resume {run_dir} continues" in line, err
    saved = load_checkpoint(run_dir / "checkpoint.pt")["epoch"]
    assert 1 <= saved < EPOCHS, "the signal must land mid-search for the test to mean anything"
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == saved
    assert not (run_dir / "genotype.json").exists()

    assert main(["resume", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()
    full = SearchRun(merged_config({**TINY, "epochs": EPOCHS, "seed": 7, "runs_root": str(tmp_path)}),
                     run_dir=tmp_path / "full").run()
    assert json.loads((run_dir / "genotype.json").read_text())["string"] == str(full.genotype)
    history = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in full.history]


def test_sigint_stops_with_message_and_130(tmp_path):
    run_dir = tmp_path / "run"
    code, err = stop_with(signal.SIGINT, run_dir)
    assert code == 130 and "Traceback" not in err, err
    assert "stopped at epoch" in err and f"; nasplug resume {run_dir} continues" in err
    assert load_checkpoint(run_dir / "checkpoint.pt")["epoch"] < EPOCHS
