"""Retraining runs resume exactly with ``nasplug resume`` and ``nasplug show`` describes them (issue 14)."""

import json

import pytest

from nasplug.cli import main
from nasplug.config import TrainConfig
from nasplug.train import train

RECORD = {"space": "nb201", "space_options": {"C": 4, "N": 1},
          "genotype": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"}
CONFIG = TrainConfig(epochs=3, batch_size=128, seed=5, data_options={"limit_train": 512})


class Killed(Exception):
    pass


def test_a_killed_retraining_run_resumes_to_the_same_result_and_show_describes_it(tmp_path, capsys):
    full = train(RECORD, CONFIG, run_dir=tmp_path / "full")

    def kill_after_epoch_2(trainer, event):
        if event == "epoch" and trainer.epoch == 2:
            raise Killed  # epoch 2 trained, its checkpoint not yet written: the checkpoint holds epoch 1

    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        train(RECORD, CONFIG, run_dir=run_dir, callbacks=[kill_after_epoch_2])
    assert main(["show", str(run_dir)]) == 0
    shown = capsys.readouterr().out
    assert "retraining run of a nb201 genotype" in shown and "epochs trained: 1/3" in shown
    assert f"not finished; `nasplug resume {run_dir}` continues it" in shown

    assert main(["resume", str(run_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy: {full.test_accuracy:.4f}" in out
    result = json.loads((run_dir / "result.json").read_text())
    assert result["test_accuracy"] == full.test_accuracy and result["test_loss"] == full.test_loss
    history = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in full.history]

    assert main(["show", str(run_dir)]) == 0
    assert f"finished: test accuracy {full.test_accuracy}" in capsys.readouterr().out
    # resuming the finished run changes nothing
    before = (run_dir / "result.json").read_bytes()
    assert main(["resume", str(run_dir), "--quiet"]) == 0
    assert (run_dir / "result.json").read_bytes() == before
