"""A NaN or infinity stops the search at the step where it appears (issue 16 item 2)."""

import json
import math

import pytest
import torch

from nasplug.checkpoint import load_checkpoint
from nasplug.cli import main
from nasplug.divergence import DivergenceError
from nasplug.rundir import json_text
from nasplug.search.run import SearchRun, merged_config

from rundir_helpers import TINY, TINY_ARGS


def config(tmp_path, **kw):
    return merged_config({**TINY, "runs_root": str(tmp_path), "epochs": 3, "seed": 4, **kw})


def strict_json(text):
    return json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


def poison_once(kind):
    """A callback that, after epoch 2 step 1, makes the next training forward (kind="loss") or backward
    (kind="gradient") produce NaN once: a transient blow-up at a known step (epoch 2, step 2)."""
    state = {"armed": False}

    def callback(run, event):
        if event != "step" or run.state.epoch != 1 or run.state.step_in_epoch != 0 or state["armed"]:
            return
        state["armed"] = True
        if kind == "loss":
            def hook(module, inputs, output):
                handle.remove()
                return output * float("nan")
            handle = run.supernet.register_forward_hook(hook)
        else:
            param = next(p for p in run.supernet.parameters() if p.requires_grad)

            def grad_hook(grad):
                handle.remove()
                return grad * float("inf")
            handle = param.register_hook(grad_hook)
    return callback


@pytest.mark.parametrize("kind, quantity", [("loss", "training loss"), ("gradient", "weight gradient norm")])
def test_nan_stops_at_its_step_keeps_the_checkpoint_and_resumes(tmp_path, kind, quantity):
    full = SearchRun(config(tmp_path), run_dir=tmp_path / "full").run()
    run_dir = tmp_path / "run"
    with pytest.raises(DivergenceError) as info:
        SearchRun(config(tmp_path), run_dir=run_dir, callbacks=[poison_once(kind)]).run()
    message = str(info.value)
    assert f"non-finite {quantity}" in message and "at epoch 2 step 2" in message, message
    assert str(run_dir / "checkpoint.pt") in message
    state = load_checkpoint(run_dir / "checkpoint.pt")  # the last finite checkpoint, untouched: epoch 1's
    assert state["epoch"] == 1
    assert all(bool(torch.isfinite(t).all()) for t in state["supernet"].values() if t.is_floating_point())
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1
    resumed = SearchRun.resume(run_dir).run()
    assert resumed.genotype == full.genotype
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]


def test_skip_drops_the_bad_step_and_counts_it(tmp_path):
    result = SearchRun(config(tmp_path, on_nonfinite="skip"), run_dir=tmp_path / "run",
                       callbacks=[poison_once("loss")]).run()
    assert [h.get("skipped_steps", 0) for h in result.history] == [0, 1, 0]
    assert all(math.isfinite(h["train_loss"]) for h in result.history)
    for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines():
        strict_json(line)


def test_a_huge_learning_rate_ends_in_a_one_line_error_and_exit_2(tmp_path, capsys):
    toml = tmp_path / "diverge.toml"
    toml.write_text("grad_clip = 0\nw_momentum = 0.0\n")
    run_dir = tmp_path / "run"
    code = main(["search", *TINY_ARGS, "--config", str(toml), "--w-lr", "1e30", "--epochs", "3",
                 "--run-dir", str(run_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("nasplug: error: non-finite ") and "at epoch 1 step " in err, err
    assert "Traceback" not in err and not (run_dir / "genotype.json").exists()


def test_non_finite_numbers_are_written_as_null():
    assert strict_json(json_text({"loss": float("nan"), "values": [1.0, float("inf"), -float("inf")]})) == \
        {"loss": None, "values": [1.0, None, None]}


def test_on_nonfinite_is_validated_and_reachable_from_the_cli(capsys):
    assert main(["search", "--on-nonfinite", "sometimes"]) == 2
    assert "on_nonfinite must be one of 'stop', 'skip'; got 'sometimes'" in capsys.readouterr().err
