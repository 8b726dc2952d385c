"""Checkpoints prove they are intact and the previous one is kept (issue 17 item 1); metrics.jsonl is
append-only and survives kill -9 and resume without duplicates (issue 14)."""

import json
import os
import signal
import zipfile

import torch

from nasplug.checkpoint import content_digest, load_checkpoint
from nasplug.cli import main
from nasplug.search.run import SearchRun, merged_config

from rundir_helpers import TINY, TINY_ARGS, start_cli, wait_for_lines


class Killed(Exception):
    pass


def config(tmp_path, **kw):
    return merged_config({**TINY, "runs_root": str(tmp_path), **kw})


def flip_bytes_inside_largest_tensor(path, count=64):
    """Garble ``count`` bytes in the middle of the biggest tensor's storage (the zip's CRCs are not checked)."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2 - count // 2
    for k in range(start, start + count):
        data[k] ^= 0xA5
    path.write_bytes(bytes(data))


def test_flipped_bytes_are_a_one_line_error_and_the_previous_checkpoint_resumes(tmp_path, capsys):
    full = SearchRun(config(tmp_path, epochs=3, seed=2), run_dir=tmp_path / "full").run()

    def kill_in_epoch_3(run, event):
        if event == "step" and run.state.epoch == 2:
            raise Killed

    run_dir = tmp_path / "run"
    try:
        SearchRun(config(tmp_path, epochs=3, seed=2), run_dir=run_dir, callbacks=[kill_in_epoch_3]).run()
    except Killed:
        pass
    checkpoint, previous = run_dir / "checkpoint.pt", run_dir / "checkpoint.prev.pt"
    assert load_checkpoint(checkpoint)["epoch"] == 2 and load_checkpoint(previous)["epoch"] == 1
    flip_bytes_inside_largest_tensor(checkpoint)
    torch.load(checkpoint, weights_only=True)  # torch itself reads the damaged file without complaint

    assert main(["resume", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"nasplug: error: {checkpoint}: checksum mismatch"), err
    assert "--from-previous" in lines[0]

    assert main(["resume", str(run_dir), "--from-previous", "--quiet"]) == 0
    record = json.loads((run_dir / "genotype.json").read_text())
    assert record["string"] == str(full.genotype)
    history = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in full.history]
    # the damaged file did not become the fallback: the kept previous checkpoint is intact
    assert load_checkpoint(previous)["epoch"] == 3


def test_digest_covers_every_tensor_and_value():
    state = {"epoch": 1, "w": torch.arange(6.0), "history": [{"loss": 0.5}]}
    digest = content_digest(state)
    assert content_digest({**state, "w": torch.arange(6.0)}) == digest
    assert content_digest({**state, "w": torch.tensor([0.0, 1, 2, 3, 4, 5.5])}) != digest
    assert content_digest({**state, "history": [{"loss": 0.25}]}) != digest
    assert content_digest({**state, "epoch": 2}) != digest


def test_metrics_are_appended_in_place_and_survive_kill_9_and_resume_without_duplicates(tmp_path):
    inodes = []

    def watch(run, event):
        path = run.run_dir / "metrics.jsonl"
        if event == "step" and path.exists():
            inodes.append(os.stat(path).st_ino)

    full = SearchRun(config(tmp_path, epochs=4, seed=3), run_dir=tmp_path / "full", callbacks=[watch]).run()
    assert len(inodes) >= 4 and len(set(inodes)) == 1  # one file, appended to: `tail -f` follows it

    run_dir = tmp_path / "run"
    proc = start_cli("search", *TINY_ARGS, "--epochs", "4", "--seed", "3", "--run-dir", str(run_dir), "--quiet")
    try:
        wait_for_lines(run_dir / "metrics.jsonl", 2, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    metrics = run_dir / "metrics.jsonl"
    saved = load_checkpoint(run_dir / "checkpoint.pt")["epoch"]
    # a line past the checkpoint (as if appended by epochs whose checkpoint never landed) is cut on resume
    with open(metrics, "a") as fh:
        fh.write(metrics.read_text().splitlines()[-1] + "\n")
    assert main(["resume", str(run_dir), "--quiet"]) == 0
    history = [json.loads(l) for l in metrics.read_text().splitlines()]
    assert [h["epoch"] for h in history] == [0, 1, 2, 3], saved
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in full.history]
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds")} for r in rows]  # noqa: E731
    assert strip(history) == strip(json.loads(json.dumps(full.history)))
