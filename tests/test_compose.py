"""How a run's components are chosen, checked and recorded (issue 15, items 1, 3, 5 and the Reward contract).

The components here are registered in-process, the way CONTRIBUTING documents
for tests (``Registry(load_plugins([module]))``), so the kernel's tests do not
depend on any plugin being installed.
"""

from __future__ import annotations

import json
import logging
import types

import pytest
import torch

from nasplug import ArchOptimizer, Reward, StrategySpec, hookimpl
from nasplug.cli import main
from nasplug.plugins import load_plugins
from nasplug.registry import Registry
from nasplug.search.run import SearchRun, merged_config
from nasplug.strategies.mixture import MixtureSampler

TINY = {"space": "nb201", "space_options": {"C": 4, "N": 1}, "data": "digits", "data_options": {"limit_train": 96},
        "batch_size": 16, "steps_per_epoch": 2, "epochs": 1, "eval_batches": 1}


class TemperedMixture(MixtureSampler):
    """A relaxed sampler with a temperature option, as SNAS's would have."""

    def __init__(self, tau: float = 1.0):
        self.tau = tau


class FirstDrawOnly(ArchOptimizer):
    """Scores the drawn architecture, as REINFORCE does: a mixture has none, and it fails at its first step."""

    needs_single_path_sampler = True

    def arch_step(self, run, train_batch, valid_batch):
        for selection in run.sample().values():
            if selection.index is None:
                raise ValueError("a mixture selection has no single choice to score")
        return {}


class LinearPenalty(Reward):
    """Q - 0.01 T: a reward with no target."""

    needs_target = False

    def __call__(self, quality, cost):
        return quality - 0.01 * cost


HOOKS = types.SimpleNamespace(
    __name__="contract-hooks",
    nasplug_samplers=hookimpl(lambda: {"tempered": TemperedMixture, "tempered-too": TemperedMixture}),
    nasplug_arch_optimizers=hookimpl(lambda: {"first-draw": FirstDrawOnly}),
    nasplug_rewards=hookimpl(lambda: {"linear": LinearPenalty}),
    nasplug_strategies=hookimpl(lambda: {
        "tempered": StrategySpec(sampler="contract-hooks:tempered", arch_optimizer="nasplug:gradient",
                                 sampler_options={"tau": 5.0}, optimizer_options={"arch_first": True}),
        "first-draw": StrategySpec(sampler="nasplug:uniform", arch_optimizer="contract-hooks:first-draw"),
    }),
)


@pytest.fixture(scope="module")
def reg():
    return Registry(load_plugins([HOOKS]))


def make_run(reg, tmp_path, **config):
    return SearchRun(merged_config({**TINY, **config}, reg), reg, run_dir=tmp_path / "run")


def test_preset_options_reach_only_the_presets_own_components(reg, tmp_path, caplog):
    """Item 1: ``--strategy X --sampler Y`` handed X's sampler_options to Y."""
    assert make_run(reg, tmp_path / "own", strategy="tempered").sampler.tau == 5.0
    with caplog.at_level(logging.WARNING):
        run = make_run(reg, tmp_path / "swapped", strategy="tempered", sampler="tempered-too",
                       arch_optimizer="gradient")
    assert run.sampler.tau == 1.0  # not the preset's 5.0, which meant something for its own sampler only
    assert run.optimizer.arch_first is True  # the optimizer is still the preset's own: its options apply
    record = json.loads((tmp_path / "swapped" / "run" / "config.json").read_text())
    assert record["dropped_options"] == {"sampler_options": {"tau": 5.0}}
    assert "sampler_options {'tau': 5.0}" in caplog.text and "contract-hooks:tempered-too" in caplog.text
    # a swapped-in component that takes no options is not handed the preset's
    assert make_run(reg, tmp_path / "uniform", strategy="tempered", sampler="uniform",
                    arch_optimizer="random").sampler.__class__.__name__ == "UniformSampler"


def test_incompatible_parts_fail_before_the_run_directory_exists(reg, tmp_path):
    """Item 3: a single-path optimizer with a relaxed sampler used to die at its first step, after mkdir."""
    with pytest.raises(Exception) as info:
        make_run(reg, tmp_path, strategy="first-draw", sampler="tempered")
    message = str(info.value)
    assert type(info.value).__name__ == "ConfigError", message
    assert "single-path" in message and "uniform (nasplug)" in message and "tempered" not in message.split("fit:")[1]
    assert not (tmp_path / "run").exists()


def test_differentiability_hint_lists_installed_samplers_not_a_fixed_pair(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = main(["search", "--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--strategy",
                 "random", "--arch-optimizer", "gradient", "--epochs", "1", "--run-dir", str(run_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "differentiable" in err and "mixture (nasplug)" in err and "use gumbel or mixture" not in err
    assert not run_dir.exists()


def test_tunas_with_a_relaxed_sampler_is_refused_before_anything_is_written(tmp_path, capsys):
    """The issue's own case: ``--strategy tunas --sampler mixture``."""
    pytest.importorskip("nasplug_tunas")
    run_dir = tmp_path / "run"
    code = main(["search", "--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--strategy",
                 "tunas", "--sampler", "mixture", "--epochs", "1", "--run-dir", str(run_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "categorical (nasplug-tunas)" in err and "Traceback" not in err
    assert not run_dir.exists()


def test_config_json_records_resolved_components_options_and_versions(tmp_path):
    """Item 5 and issue 14's provenance: config.json used to say ``"sampler": null``."""
    run_dir = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--strategy",
                 "random", "--optimizer-option", "num_candidates=3", "--steps-per-epoch", "2", "--epochs", "1",
                 "--eval-batches", "1", "--run-dir", str(run_dir), "--quiet"]) == 0
    record = json.loads((run_dir / "config.json").read_text())
    assert record["sampler"] == "nasplug:uniform" and record["arch_optimizer"] == "nasplug:random"
    assert record["strategy"] == "nasplug:random" and record["space"] == "nasplug:nb201"
    assert record["optimizer_options"] == {"num_candidates": 3}
    assert record["components"]["sampler"]["distribution"] == "nasplug"
    assert record["components"]["arch_optimizer"]["options"] == {"num_candidates": 3}
    provenance = record["provenance"]
    assert provenance["torch"] == torch.__version__ and provenance["python"] and provenance["host"]
    assert provenance["device"].startswith("cpu")
    assert "nasplug" in provenance["distributions"]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["provenance"]["torch"] == torch.__version__


def test_a_reward_model_chosen_by_default_is_recorded(reg, tmp_path):
    """A reward without a latency model ran the flops model; config.json said ``"latency_model": null``.
    A reward with ``needs_target = False`` needs no --latency-target (the base class used to refuse it)."""
    run = make_run(reg, tmp_path, strategy="tempered", reward="linear")
    assert run.reward.target is None
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["latency_model"] == "nasplug:flops" and record["reward"] == "contract-hooks:linear"


def test_resume_warns_or_refuses_when_a_version_changed(tmp_path, capsys, caplog):
    run_dir = tmp_path / "run"
    args = ["--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--strategy", "random",
            "--optimizer-option", "num_candidates=3", "--steps-per-epoch", "2", "--epochs", "1",
            "--eval-batches", "1", "--run-dir", str(run_dir), "--quiet"]
    assert main(["search", *args]) == 0
    path = run_dir / "config.json"
    record = json.loads(path.read_text())
    record["components"]["sampler"]["version"] = "0.0.1"
    path.write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["resume", str(run_dir), "--strict", "--quiet"]) == 2
    assert "nasplug 0.0.1 ->" in capsys.readouterr().err
    with caplog.at_level(logging.WARNING):
        assert main(["resume", str(run_dir), "--quiet"]) == 0
    assert "nasplug 0.0.1 ->" in caplog.text


def test_a_retraining_run_records_its_provenance(tmp_path):
    """Issue 14: training run directories recorded no versions, host or device either."""
    assert main(["search", "--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--strategy",
                 "random", "--optimizer-option", "num_candidates=3", "--steps-per-epoch", "2", "--epochs", "1",
                 "--eval-batches", "1", "--run-dir", str(tmp_path / "search"), "--quiet"]) == 0
    assert main(["train", str(tmp_path / "search" / "genotype.json"), "--data", "digits", "--epochs", "1",
                 "--batch-size", "64", "--run-dir", str(tmp_path / "train"), "--quiet"]) == 0
    for name in ("config.json", "result.json"):
        provenance = json.loads((tmp_path / "train" / name).read_text())["provenance"]
        assert provenance["torch"] == torch.__version__ and provenance["device"].startswith("cpu")
        assert provenance["distributions"]["nasplug"] == provenance["nasplug"]


def test_a_run_directory_written_before_names_were_resolved_still_resumes(tmp_path):
    """config.json and the checkpoint used to hold the config as given (short names, ``"sampler": null``)."""
    from nasplug.checkpoint import save_checkpoint
    from nasplug.config import SearchConfig
    from nasplug.search.run import config_fingerprint

    user = {**TINY, "strategy": "random", "optimizer_options": {"num_candidates": 3}, "epochs": 2}
    config = merged_config(user)
    whole = SearchRun(config, write_files=False).run()
    first = SearchRun(config, write_files=False)
    first.run_epoch()
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps(config.to_dict()))
    save_checkpoint(old / "checkpoint.pt", {**first.state_dict(), "config": config_fingerprint(config)})
    resumed = SearchRun.resume(old)
    assert resumed.state.epoch == 1
    assert str(resumed.run().genotype) == str(whole.genotype)
    assert SearchConfig.from_dict(json.loads((old / "config.json").read_text())) == config  # not rewritten
