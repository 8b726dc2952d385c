"""The search loop: determinism, exact resume after a kill, the run directory, the gradient step."""

import json
import os
import signal
import subprocess
import sys
import time
import types

import pytest
import torch

from nasplug import Pipeline, Reward, hookimpl
from nasplug.errors import ConfigError
from nasplug.plugins import load_plugins
from nasplug.registry import Registry
from nasplug.search.run import SearchRun, merged_config
from nasplug.strategies.mixture import MixtureSampler

TINY = dict(space="nb201", data="digits", space_options={"C": 4, "N": 1}, batch_size=64, steps_per_epoch=4,
            optimizer_options={"num_candidates": 8, "screen_batches": 1, "top_k": 3})


def config(tmp_path, **kw):
    return merged_config({**TINY, "runs_root": str(tmp_path), **kw})


def test_same_seed_same_genotype_and_history(tmp_path):
    a = SearchRun(config(tmp_path, epochs=2, seed=3)).run()
    b = SearchRun(config(tmp_path, epochs=2, seed=3)).run()
    c = SearchRun(config(tmp_path, epochs=2, seed=4)).run()
    assert a.genotype == b.genotype
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    assert [h["train_loss"] for h in a.history] != [h["train_loss"] for h in c.history]


class Killed(Exception):
    pass


def test_run_killed_mid_epoch_resumes_to_the_same_genotype(tmp_path):
    full = SearchRun(config(tmp_path, epochs=3, seed=1), run_dir=tmp_path / "full").run()

    def kill_in_epoch_2(run, event):
        if event == "step" and run.state.epoch == 1 and run.state.step_in_epoch == 2:
            raise Killed

    run_dir = tmp_path / "killed"
    with pytest.raises(Killed):
        SearchRun(config(tmp_path, epochs=3, seed=1), run_dir=run_dir, callbacks=[kill_in_epoch_2]).run()
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1  # only epoch 1 was saved
    resumed_run = SearchRun.resume(run_dir)
    assert resumed_run.state.epoch == 1
    resumed = resumed_run.run()
    assert resumed.genotype == full.genotype
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    full_state = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["supernet"]
    resumed_state = torch.load(run_dir / "checkpoint.pt", weights_only=True)["supernet"]
    assert all(torch.equal(full_state[k], resumed_state[k]) for k in full_state)


def test_run_directory_contents(tmp_path):
    result = SearchRun(config(tmp_path, epochs=2), run_dir=tmp_path / "run").run()
    run_dir = result.run_dir
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 2
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [0, 1]
    assert set(lines[0]["distribution"]) == {"0->1", "0->2", "1->2", "0->3", "1->3", "2->3"}
    record = json.loads((run_dir / "genotype.json").read_text())
    assert record["space"] == "nb201" and record["string"] == str(result.genotype)
    assert not [p for p in os.listdir(run_dir) if p.endswith(".tmp")]


def test_resume_of_a_finished_run_returns_its_result(tmp_path):
    result = SearchRun(config(tmp_path, epochs=1), run_dir=tmp_path / "run").run()
    again = SearchRun.resume(tmp_path / "run").run()
    assert again.genotype == result.genotype and len(again.history) == 1


class LinearPenalty(Reward):
    def __call__(self, quality, cost):
        return quality + self.beta * cost / self.target


def _test_registry():
    module = types.ModuleType("test_components_hooks")
    module.nasplug_samplers = hookimpl(lambda: {"test-mixture": MixtureSampler})
    module.nasplug_rewards = hookimpl(lambda: {"test-linear": LinearPenalty})
    return Registry(load_plugins([module], entry_points=False))


def test_gradient_optimizer_moves_alpha_and_rejects_non_differentiable_sampler(tmp_path):
    reg = _test_registry()
    cfg = config(tmp_path, strategy="random", sampler="test-mixture", arch_optimizer="gradient",
                 optimizer_options={}, epochs=1, arch_lr=0.05)
    run = SearchRun(cfg, registry=reg, write_files=False)
    before = {k: v.clone() for k, v in run.arch.state_dict().items()}
    run.run()
    assert any(not torch.equal(before[k], v) for k, v in run.arch.state_dict().items())
    with pytest.raises(ConfigError, match="needs a differentiable sampler"):
        SearchRun(config(tmp_path, arch_optimizer="gradient", optimizer_options={}), registry=reg, write_files=False)


def test_reward_objective_pushes_towards_cheaper_ops(tmp_path):
    """With a strong latency penalty and nothing else, alpha moves towards the zero-MAC ops."""
    reg = _test_registry()
    cfg = config(tmp_path, strategy="random", sampler="test-mixture", arch_optimizer="gradient",
                 optimizer_options={}, epochs=1, arch_lr=0.1, reward="test-linear", latency_model="flops",
                 latency_target=0.01, reward_options={"beta": -10.0})
    run = SearchRun(cfg, registry=reg, write_files=False)
    run.run()
    ops = run.space.decisions[0].choices
    probs = run.arch.probabilities()["0->1"]
    assert float(probs[ops.index("nor_conv_3x3")]) < 0.2 < float(probs[ops.index("none")])
    assert "derived_latency" in run.history[-1]


def test_latency_target_without_reward_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no reward is chosen"):
        SearchRun(config(tmp_path, latency_target=5.0), write_files=False)


def test_batch_larger_than_split_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="batch size 5000 exceeds"):
        SearchRun(config(tmp_path, batch_size=5000), write_files=False)


def test_pipeline_search_then_train_reports_accuracy_params_flops(tmp_path):
    pipe = Pipeline(**TINY, epochs=1, runs_root=str(tmp_path))
    pipe.search()
    report = pipe.train(epochs=2, batch_size=64)
    assert 0.0 <= report.test_accuracy <= 1.0
    assert report.parameters > 0 and report.macs > 0
    assert (report.run_dir / "result.json").exists()


@pytest.mark.slow
def test_cli_search_killed_with_sigkill_resumes_to_same_genotype(tmp_path):
    args = [sys.executable, "-m", "nasplug.cli", "search", "--space", "nb201", "--strategy", "random",
            "--data", "digits", "--space-option", "C=4", "--space-option", "N=1", "--steps-per-epoch", "3",
            "--optimizer-option", "num_candidates=6", "--epochs", "6", "--seed", "2", "--quiet"]
    subprocess.run(args + ["--run-dir", str(tmp_path / "full")], check=True, capture_output=True, timeout=300)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--run-dir", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        metrics = killed / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run([sys.executable, "-m", "nasplug.cli", "resume", str(killed), "--quiet"], check=True,
                   capture_output=True, timeout=300)
    full = json.loads((tmp_path / "full" / "genotype.json").read_text())
    resumed = json.loads((killed / "genotype.json").read_text())
    assert resumed["string"] == full["string"]
