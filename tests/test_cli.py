"""The nasplug command, run in-process as a user runs it."""

import json
import os
from pathlib import Path

import pytest

from nasplug import registry
from nasplug.cli import main

SHARED_DATA = Path(os.environ.get("NASPLUG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SMALL = ["--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--steps-per-epoch", "3",
         "--optimizer-option", "num_candidates=5", "--quiet"]


def test_plugins_lists_kernel_components_as_text_and_json(capsys):
    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "darts, model, nb201" in text and "random" in text
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    kernel = next(p for p in data["plugins"] if p["distribution"] == "nasplug")
    assert {"darts", "nb201"} <= set(kernel["provides"]["space"])
    assert "random" in kernel["provides"]["strategy"]
    assert isinstance(data["errors"], list)


def test_the_retrain_hint_is_the_same_after_a_search_and_after_a_resume(tmp_path, capsys):
    """After ``nasplug resume`` the hint said ``--data nasplug:digits``, the qualified name config.json keeps."""
    run_dir = tmp_path / "run"

    def hint():
        return [line for line in capsys.readouterr().out.splitlines() if line.startswith("retrain it with:")]

    assert main(["search", *SMALL, "--strategy", "random", "--data", "digits", "--epochs", "1",
                 "--run-dir", str(run_dir)]) == 0
    fresh = hint()
    assert main(["resume", str(run_dir), "--quiet"]) == 0
    assert hint() == fresh == [f"retrain it with: nasplug train {run_dir}/genotype.json --data digits"]


def test_the_retrain_hint_carries_the_data_options_and_runs_as_printed(tmp_path, capsys):
    """An image-folder search's hint once left out ``--data-option root=...``: the printed command must rebuild
    the same data options (a path with a space in it included)."""
    import shlex

    from nasplug.cli_options import parse_options

    run_dir = tmp_path / "a run"
    assert main(["search", *SMALL, "--strategy", "random", "--data", "digits", "--epochs", "1", "--data-option",
                 "limit_train=160", "--data-option", "test_fraction=0.25", "--run-dir", str(run_dir), "--quiet"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("retrain it with:")]
    argv = shlex.split(line.removeprefix("retrain it with: "))
    assert argv[:3] == ["nasplug", "train", f"{run_dir}/genotype.json"]
    options = parse_options(argv[k + 1] for k, a in enumerate(argv) if a == "--data-option")
    assert options == {"limit_train": 160, "test_fraction": 0.25}
    assert main([*argv[1:], "--epochs", "1", "--quiet", "--run-dir", str(tmp_path / "train")]) == 0


def test_search_train_show(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["search", *SMALL, "--strategy", "random", "--data", "digits", "--epochs", "2",
                 "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"run directory: {run_dir}" in out
    assert main(["train", str(run_dir / "genotype.json"), "--data", "digits", "--epochs", "1", "--quiet",
                 "--run-dir", str(tmp_path / "train")]) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "parameters:" in out and f"run directory: {tmp_path / 'train'}" in out
    pytest.importorskip("matplotlib", reason="nasplug show draws with matplotlib (pip install 'nasplug[plot]')")
    assert main(["show", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "genotype: |" in out
    assert (run_dir / "cells.png").stat().st_size > 1000
    assert (run_dir / "distribution.png").stat().st_size > 1000


def test_search_from_toml_config(tmp_path, capsys):
    config = tmp_path / "search.toml"
    config.write_text('[search]\nspace = "nb201"\nstrategy = "random"\nepochs = 1\nsteps_per_epoch = 2\n'
                      f'runs_root = "{tmp_path}"\n[search.space_options]\nC = 4\nN = 1\n'
                      '[search.optimizer_options]\nnum_candidates = 3\n')
    assert main(["search", "--config", str(config), "--quiet"]) == 0
    assert "genotype: |" in capsys.readouterr().out


@pytest.mark.parametrize("argv, fragment", [
    (["search", "--strategy", "gdass"], "unknown strategy 'gdass'; known:"),
    (["search", "--space", "nb201", "--space-option", "C=0"], "NB201Space.C must be a positive integer, got 0"),
    (["search", "--epochs", "0"], "SearchConfig.epochs must be an integer in [1, 1000000], got 0"),
    (["train", "no_such_genotype"], "neither a genotype JSON file"),
])
def test_bad_input_exits_2_with_a_one_line_error(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


@pytest.mark.skipif(not (SHARED_DATA / "cifar10-jpeg").is_dir(), reason="shared CIFAR-10 JPEG folder not found")
def test_search_on_a_real_image_folder(tmp_path, capsys):
    assert main(["search", *SMALL, "--strategy", "random", "--data", "imagefolder",
                 "--data-root", str(SHARED_DATA / "cifar10-jpeg"), "--data-option", "limit_train=512",
                 "--data-option", "limit_test=128", "--epochs", "1", "--batch-size", "32",
                 "--run-dir", str(tmp_path / "img")]) == 0
    record = json.loads((tmp_path / "img" / "genotype.json").read_text())
    assert record["space"] == "nb201" and record["string"].startswith("|")


def test_train_honours_child_width_and_depth_options(tmp_path, capsys):
    """``--space-option child_C=8`` retrains a named DARTS genotype at 8 channels (it was ignored: C=36)."""
    if "gdas" not in registry.names("genotype"):
        pytest.skip("the named genotype 'gdas' comes from nasplug-gdas, which is not installed")
    assert main(["train", "gdas", "--data", "digits", "--data-option", "limit_train=128", "--epochs", "1",
                 "--batch-size", "64", "--quiet", "--space-option", "child_C=8", "--space-option", "child_layers=3",
                 "--run-dir", str(tmp_path / "train")]) == 0
    capsys.readouterr()
    from nasplug.metrics import count_parameters
    from nasplug.train import Trainer, load_genotype_record
    from nasplug.config import TrainConfig
    trainer = Trainer(load_genotype_record("gdas"), TrainConfig(space_options={"child_C": 8, "child_layers": 3},
                                                                data_options={"limit_train": 128}), write_files=False)
    assert (trainer.space.C, trainer.space.layers) == (8, 3)
    expected = registry.get("space", "darts", C=8, layers=3).build_child(trainer.genotype, (1, 8, 8), 10)
    assert count_parameters(trainer.model) == count_parameters(expected)
    result = json.loads((tmp_path / "train" / "result.json").read_text())
    assert result["parameters"] == count_parameters(expected)


def test_train_rejects_an_unknown_space_option(capsys):
    if "gdas" not in registry.names("genotype"):
        pytest.skip("the named genotype 'gdas' comes from nasplug-gdas, which is not installed")
    assert main(["train", "gdas", "--data", "digits", "--epochs", "1", "--space-option", "child_width=8"]) == 2
    err = capsys.readouterr().err
    assert "child_width" in err and "child_C" in err and "Traceback" not in err
