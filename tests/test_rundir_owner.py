"""The run directory's owner in detail: appends that never tear, the pieces `show` and `--config` met, the
random states every run kind keeps, run directory names (issues 23 and 25)."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from nasplug import rundir
from nasplug.cli import main
from nasplug.errors import RunDirError
from nasplug.run_directory import RunDirectory, schema_problem
from nasplug.rundir import append_jsonl, read_jsonl
from nasplug.search.run import SearchRun, merged_config, run_dir_label

from rundir_helpers import TINY


def test_an_append_that_fails_part_way_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, [{"epoch": 0}])
    before = path.read_bytes()
    real_write = os.write

    def half_then_full_disk(fd, data):
        if len(data) > 4:
            real_write(fd, bytes(data[:4]))  # part of the line reaches the disk, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rundir.os, "write", half_then_full_disk)
    with pytest.raises(RunDirError, match="No space left on device"):
        append_jsonl(path, [{"epoch": 1, "train_loss": 0.5}])
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert read_jsonl(path) == [{"epoch": 0}]


def test_an_append_never_writes_through_a_symbolic_link(tmp_path):
    target = tmp_path / "elsewhere.jsonl"
    target.write_text("")
    (tmp_path / "metrics.jsonl").symlink_to(target)
    with pytest.raises(RunDirError):
        append_jsonl(tmp_path / "metrics.jsonl", [{"epoch": 0}])
    assert target.read_text() == ""


def test_show_leaves_out_a_torn_last_line_and_says_when_no_epoch_finished(tmp_path, capsys):
    run_dir = tmp_path / "run"
    SearchRun(merged_config({**TINY, "epochs": 2, "runs_root": str(tmp_path)}), run_dir=run_dir)  # claimed only
    assert main(["show", str(run_dir)]) == 0
    assert "epochs recorded: 0 (no epoch has finished yet)" in capsys.readouterr().out
    (run_dir / "metrics.jsonl").write_text('{"epoch": 0, "train_loss": 1.0}\n{"epoch": 1, "tra')
    assert main(["show", str(run_dir)]) == 0
    assert "epochs recorded: 1" in capsys.readouterr().out


def test_show_of_a_run_it_cannot_write_to_says_so_in_a_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    run_dir = tmp_path / "run"
    SearchRun(merged_config({**TINY, "epochs": 1, "runs_root": str(tmp_path)}), run_dir=run_dir).run()

    def read_only(self, path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(Figure, "savefig", read_only)
    assert main(["show", str(run_dir)]) == 0
    captured = capsys.readouterr()
    assert "cells.png not drawn: cannot write" in captured.out and "Read-only file system" in captured.out
    assert "Traceback" not in captured.err


def test_a_config_that_is_a_directory_is_one_line(tmp_path, capsys):
    assert main(["search", "--config", str(tmp_path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"config file {str(tmp_path)!r} is a directory, not a TOML file" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_leftover_copy_temp_file_of_a_killed_save_goes_on_resume(tmp_path):
    run_dir = tmp_path / "run"
    SearchRun(merged_config({**TINY, "epochs": 1, "runs_root": str(tmp_path)}), run_dir=run_dir).run()
    leftover = run_dir / ".checkpoint.prev.pt.copy.tmp"  # a kill between the copy and its rename
    leftover.write_bytes(b"x")
    SearchRun.resume(run_dir).run()
    assert not leftover.exists()


@pytest.mark.parametrize("kind", ["search", "train"])
def test_every_run_kinds_checkpoint_keeps_the_process_random_states(kind, tmp_path):
    from rundir_kinds import start

    run = start(kind, tmp_path / "run")
    run.run()
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["torch_rng"].dtype == torch.uint8 and "cuda_rng" in state


def test_qualified_strategy_names_never_put_a_colon_in_a_run_directory_name(tmp_path):
    assert run_dir_label("nasplug-gdas:gdas") == "nasplug-gdas.gdas"
    run = SearchRun(merged_config({**TINY, "strategy": "nasplug:random", "epochs": 1, "runs_root": str(tmp_path)}))
    assert ":" not in run.run_dir.name and "nasplug.random" in run.run_dir.name
    run.release()


def test_the_schema_check_can_fail_and_accepts_what_a_run_writes():
    template = {"epoch": 0, "w": torch.zeros(2), "history": [], "flag": False, "opt": {"state": {}}}
    good = {"epoch": 1, "w": torch.ones(2), "history": [{"epoch": 0}], "flag": True,
            "opt": {"state": {0: {"momentum_buffer": torch.zeros(2)}}}}
    params = {"opt": [torch.zeros(2)]}
    assert schema_problem(good, template, params) is None
    assert "int64" in schema_problem({**good, "w": torch.ones(2, dtype=torch.int64)}, template, params)
    assert "not true or false" in schema_problem({**good, "flag": 1}, template, params)
    assert "(3,)" in schema_problem({**good, "opt": {"state": {0: {"momentum_buffer": torch.zeros(3)}}}},
                                    template, params)
    assert "parameter 5" in schema_problem({**good, "opt": {"state": {5: {}}}}, template, params)


def test_a_run_that_writes_nothing_has_an_owner_that_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = RunDirectory.nowhere()
    files.start({"x": 1}, {"x": 1})
    files.save({"epoch": 0, "history": []})
    files.finish({"result.json": {}})
    assert os.listdir(tmp_path) == []


def test_config_json_records_the_component_defaults_actually_used(tmp_path):
    import json

    run = SearchRun(merged_config({**TINY, "epochs": 1, "runs_root": str(tmp_path),
                                   "sampler_options": {"op_warmup": False}}), run_dir=tmp_path / "run")
    run.release()
    components = json.loads((tmp_path / "run" / "config.json").read_text())["components"]
    sampler = components["sampler"]
    assert sampler["options"] == {"op_warmup": False}
    assert "op_warmup" not in sampler["defaults"] and "warmup_fraction" in sampler["defaults"]
    assert components["space"]["defaults"]  # C and N are given; the space's other defaults are recorded


def test_a_kill_between_keeping_the_previous_and_writing_the_new_checkpoint_leaves_two_files(tmp_path, monkeypatch):
    """The fallback must be a file of its own: damage written into checkpoint.pt in place (the drill's
    corrupt-ckpt-4 found it when the previous checkpoint was a hard link) must leave checkpoint.prev.pt whole."""
    from nasplug import checkpoint as checkpoint_module
    from nasplug.checkpoint import load_checkpoint, save_checkpoint

    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": 1, "weights": torch.ones(3)})

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed before the new checkpoint was written")

    monkeypatch.setattr(checkpoint_module, "atomic_torch_save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2, "weights": torch.zeros(3)})
    previous = tmp_path / "checkpoint.prev.pt"
    assert not os.path.samefile(path, previous)
    with open(path, "r+b") as fh:  # damage in place, as a bad disk or a careless tool would
        fh.write(b"\0" * 64)
    assert load_checkpoint(previous)["epoch"] == 1
