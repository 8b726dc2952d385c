"""SIGTERM and SIGINT stop a search at a consistent point, say how to continue, and exit 143/130
(issue 17 item 2); the resumed search ends exactly where an uninterrupted one does."""

import json
import signal

import pytest

from nasplug.checkpoint import load_checkpoint
from nasplug.cli import main
from nasplug.distributed import DistContext
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


class _OneRankWorld(DistContext):
    """A one-process world that takes the distributed code paths and counts the small all-reduces
    (``sum``: stop flags, losses); as the only rank, every collective is the identity."""

    active = True

    def __init__(self):
        super().__init__(world_size=1, backend="gloo")
        self.sums = 0

    def sum(self, values):
        self.sums += 1
        return super().sum(values)

    def _collective(self, fn, *args, **kwargs):
        if fn.__name__ == "all_gather_object":
            args[0][0] = args[1]


@pytest.mark.parametrize("strategy", ["random", "gibbs"])
def test_a_distributed_step_agrees_on_its_stop_and_its_loss_in_one_all_reduce(strategy):
    """The stop flags and the training loss shared one step's only small all-reduce (they were two);
    gibbs's weight step is its own (no sgd_step), so the stop is checked when the step is done."""
    config = {**TINY, "strategy": strategy, "epochs": 1, "steps_per_epoch": 3}
    if strategy == "gibbs":
        pytest.importorskip("nasplug_gibbs")
        config["optimizer_options"] = {}
    run = SearchRun(merged_config(config), write_files=False)
    run.dist = world = _OneRankWorld()
    per_step = []
    run.callbacks.append(lambda run, event: per_step.append(world.sums) if event == "step" else None)
    run.run_epoch()
    assert [b - a for a, b in zip([0] + per_step, per_step)] == [1, 1, 1]


def test_a_distributed_retraining_step_agrees_on_its_stop_and_its_loss_in_one_all_reduce():
    from nasplug.config import TrainConfig
    from nasplug.train import Trainer

    record = {"space": "nb201", "space_options": {"C": 4, "N": 1},
              "genotype": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"}
    trainer = Trainer(record, TrainConfig(epochs=1, batch_size=32, data_options={"limit_train": 96}),
                      write_files=False)
    trainer.dist = world = _OneRankWorld()
    loader, at_batch = trainer.train_loader, []

    class Counting:  # the loader, noting the all-reduces so far as each batch is taken
        generator = loader.generator

        def __len__(self):
            return len(loader)

        def __iter__(self):
            for batch in loader:
                at_batch.append(world.sums)
                yield batch

    trainer.train_loader = Counting()
    trainer._epoch()
    assert [b - a for a, b in zip(at_batch, at_batch[1:])] == [1, 1]
