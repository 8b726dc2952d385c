"""Damaged or hand-edited run files give one line naming the file, for resume, train and show; files that
can be rebuilt from the checkpoint are rebuilt exactly (issue 16 item 4)."""

import shutil

import pytest
import torch

from nasplug.cli import main
from nasplug.search.run import SearchRun, merged_config

from rundir_helpers import TINY

FILES = ("config.json", "metrics.jsonl", "genotype.json", "checkpoint.pt")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished search, and the checkpoint of a search with another seed (same shapes)."""
    root = tmp_path_factory.mktemp("runs")
    SearchRun(merged_config({**TINY, "epochs": 2, "seed": 0, "runs_root": str(root)}), run_dir=root / "run").run()
    SearchRun(merged_config({**TINY, "epochs": 2, "seed": 1, "runs_root": str(root)}), run_dir=root / "other").run()
    return root


def damage(path, how, other_run):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbled":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0x5A for b in data[middle:middle + 64]) + data[middle + 64:])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "deleted":
        path.unlink()
    elif how == "wrong-shape":
        if path.suffix == ".pt":
            torch.save([1, 2, 3], path)
        elif path.suffix == ".jsonl":
            path.write_text('[1, 2]\n{"epoch": 1}\n')
        else:
            path.write_text("[1, 2, 3]\n")
    elif how == "wrong-fields":
        if path.name == "config.json":
            path.write_text('{"epochs": "many", "space": "nb201"}\n')
        elif path.name == "genotype.json":
            path.write_text('{"space": "nb201", "genotype": "|not_an_op~0|"}\n')
        elif path.suffix == ".pt":
            torch.save({"epoch": 1, "history": []}, path)
        else:
            path.write_text('{"epoch": 0}\n')  # one epoch of two: truncated at a line boundary
    elif how == "other-run":
        shutil.copyfile(other_run / path.name, path)


DAMAGES = ("truncated", "garbled", "empty", "deleted", "wrong-shape", "wrong-fields", "other-run")

# (command, damaged file) -> the file the error must name, or None: the command succeeds and leaves the run intact
EXPECT = {
    ("resume", "config.json"): "config.json",
    ("resume", "metrics.jsonl"): None,  # rebuilt from the checkpoint's history
    ("resume", "genotype.json"): None,  # rebuilt from the checkpoint's final genotype
    ("resume", "checkpoint.pt"): "checkpoint.pt",
    ("show", "config.json"): "config.json",
    ("show", "metrics.jsonl"): "metrics.jsonl",
    ("show", "genotype.json"): "genotype.json",
    ("show", "checkpoint.pt"): None,  # show does not read it
    ("train", "genotype.json"): "genotype.json",
}
CASES = [(command, name, how) for (command, name) in EXPECT for how in DAMAGES]
# cases where the damage leaves a file the command reads perfectly valid, with the same content
SAME_CONTENT = {("metrics.jsonl", "other-run"), ("genotype.json", "other-run")}
# a deleted genotype.json is what an unfinished search looks like (show says so); another run's config.json
# contradicts the checkpoint, which resume names
SPECIAL = {("show", "genotype.json", "deleted"): None, ("resume", "config.json", "other-run"): "checkpoint.pt",
           ("show", "config.json", "other-run"): None}  # show does not read the checkpoint it would contradict
# another run's valid genotype.json or metrics.jsonl is a valid file to a command that does not read the
# checkpoint (show, train): nothing in it can tell; resume, which has the checkpoint, rebuilds them
SPECIAL.update({(c, f, "other-run"): None for c in ("show", "train") for f in ("genotype.json", "metrics.jsonl")})


@pytest.mark.parametrize("command, name, how", CASES, ids=["-".join(c) for c in CASES])
def test_damaged_run_file(finished, tmp_path, capsys, command, name, how):
    run_dir = tmp_path / "run"
    shutil.copytree(finished / "run", run_dir)
    original = {f: (run_dir / f).read_bytes() for f in FILES}
    damage(run_dir / name, how, finished / "other")
    argv = {"resume": ["resume", str(run_dir), "--quiet"], "show": ["show", str(run_dir), "--out", str(tmp_path)],
            "train": ["train", str(run_dir), "--epochs", "1", "--quiet", "--run-dir", str(tmp_path / "t")]}[command]
    expect = SPECIAL.get((command, name, how), EXPECT[(command, name)])
    if (name, how) in SAME_CONTENT and (run_dir / name).read_bytes() == original[name]:
        expect = None
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if expect is None:
        assert code == 0, err
        if command == "resume":  # rebuilt exactly, nothing else touched
            assert {f: (run_dir / f).read_bytes() for f in FILES if f != "checkpoint.pt"} == \
                {f: b for f, b in original.items() if f != "checkpoint.pt"}
        return
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("nasplug: error: "), err
    assert expect in lines[0], err
