"""TensorBoard logging from the CLI and from Pipeline, read back with TensorBoard's own reader."""

import importlib.util
import sys

import pytest

from nasplug import Pipeline
from nasplug.cli import main

SMALL = ["--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--steps-per-epoch", "2",
         "--optimizer-option", "num_candidates=2", "--strategy", "random", "--data", "digits", "--quiet"]


def _load(log_dir):
    """The events of the one run logged under ``log_dir`` (each run writes into ``log_dir/<its run directory>``)."""
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    runs = sorted({p.parent for p in log_dir.rglob("events.out.tfevents.*")})
    assert len(runs) == 1, runs
    log_dir = runs[0]
    acc = event_accumulator.EventAccumulator(str(log_dir), size_guidance={event_accumulator.IMAGES: 0,
                                                                         event_accumulator.TENSORS: 0})
    acc.Reload()
    return acc


def test_cli_search_writes_events_tensorboard_reads(tmp_path):
    pytest.importorskip("tensorboard")
    board = tmp_path / "tb"
    assert main(["search", *SMALL, "--epochs", "2", "--run-dir", str(tmp_path / "run"),
                 "--tensorboard", str(board)]) == 0
    acc = _load(board)
    tags = set(acc.Tags()["scalars"])
    assert {"search/train_loss", "search/train_acc", "search/lr"} <= tags
    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert {f"probabilities/0->1/{op}" for op in ops} <= tags
    assert [e.step for e in acc.Scalars("search/train_loss")] == [1, 2]
    probs = [acc.Scalars(f"probabilities/0->1/{op}")[-1].value for op in ops]
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert "probabilities/0->1" in acc.Tags()["histograms"]
    texts = acc.Tags()["tensors"]
    assert any(t.startswith("final_genotype") for t in texts)
    if importlib.util.find_spec("matplotlib") is not None:
        assert "cells/final_genotype" in acc.Tags()["images"]


def test_pipeline_search_and_train_log_derived_and_retraining_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("nasplug_gdas")  # a strategy that derives a genotype every epoch
    board = tmp_path / "tb"
    pipeline = Pipeline(space="nb201", space_options={"C": 4, "N": 1}, strategy="gdas", data="digits", epochs=1,
                        steps_per_epoch=2, runs_root=str(tmp_path / "runs"), tensorboard=board)
    pipeline.search()
    tags = set(_load(board).Tags()["scalars"])
    assert {"search/derived_valid_acc", "search/arch_loss", "search/tau"} <= tags
    pipeline.train(epochs=1, batch_size=256)
    train_tags = set(_load(board / "train").Tags()["scalars"])
    assert {"train/train_loss", "train/test_acc", "train/lr"} <= train_tags


def test_missing_tensorboard_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    assert main(["search", *SMALL, "--epochs", "1", "--run-dir", str(tmp_path / "run"),
                 "--tensorboard", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == 'nasplug: error: TensorBoard logging needs the tensorboard package: ' \
                          'pip install "nasplug[tensorboard]"'
    assert not (tmp_path / "run").exists()  # refused before the search started


def test_cli_train_and_resume_attach_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    import gc

    from nasplug import SearchConfig, SearchRun

    def stop_in_second_epoch(run, event):
        if event == "step" and run.state.epoch == 1:
            raise KeyboardInterrupt

    run_dir = tmp_path / "run"
    config = SearchConfig(space="nb201", space_options={"C": 4, "N": 1}, strategy="random", data="digits", epochs=2,
                          steps_per_epoch=2, optimizer_options={"num_candidates": 2})
    with pytest.raises(KeyboardInterrupt):
        SearchRun(config, run_dir=run_dir, callbacks=[stop_in_second_epoch]).run()
    gc.collect()  # the interrupted run's lock on its directory goes with it
    assert main(["resume", str(run_dir), "--quiet", "--tensorboard", str(tmp_path / "tb-resume")]) == 0
    resumed = _load(tmp_path / "tb-resume")
    assert [e.step for e in resumed.Scalars("search/train_loss")] == [2]  # only the epoch the resume ran
    assert any(t.startswith("final_genotype") for t in resumed.Tags()["tensors"])

    assert main(["train", str(run_dir / "genotype.json"), "--space-option", "C=4", "--space-option", "N=1",
                 "--epochs", "1", "--batch-size", "128", "--data-option", "limit_train=256", "--quiet",
                 "--run-dir", str(tmp_path / "train"), "--tensorboard", str(tmp_path / "tb-train")]) == 0
    trained = _load(tmp_path / "tb-train")
    assert {"train/train_loss", "train/train_acc", "train/test_acc", "train/lr"} <= set(trained.Tags()["scalars"])


def test_two_runs_logging_to_one_folder_get_a_sub_folder_each_named_after_their_run_directory(tmp_path):
    pytest.importorskip("tensorboard")
    board = tmp_path / "tb"
    for name in ("first", "second"):
        assert main(["search", *SMALL, "--epochs", "1", "--run-dir", str(tmp_path / name),
                     "--tensorboard", str(board)]) == 0
    assert sorted(p.name for p in board.iterdir()) == ["first", "second"]
    for name in ("first", "second"):  # one curve each, not one merged curve with two points at step 1
        assert [e.step for e in _load(board / name).Scalars("search/train_loss")] == [1]
