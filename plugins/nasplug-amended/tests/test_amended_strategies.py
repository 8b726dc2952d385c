"""The sampler, the presets, end-to-end searches and exact resume."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasplug import Pipeline, registry
from nasplug.components import ArchParameters, apply_selection
from nasplug.errors import ConfigError
from nasplug.search.run import SearchRun, merged_config
from nasplug.spaces.base import Decision

NB201 = {"C": 4, "N": 1}


@settings(max_examples=30, deadline=None)
@given(logits=st.lists(st.floats(-5, 5), min_size=1, max_size=8))
def test_mixture_is_the_softmax_weighted_sum_of_all_ops(logits):
    arch = ArchParameters([Decision("e", tuple(f"op{i}" for i in range(len(logits))))])
    with torch.no_grad():
        arch["e"].copy_(torch.tensor(logits))
    sel = registry.get("sampler", "mixture").sample(arch, None)["e"]
    assert sel.index is None
    assert torch.allclose(sel.weights, torch.softmax(torch.tensor(logits), -1))
    ops = [torch.nn.Identity() if i % 2 == 0 else torch.nn.Tanh() for i in range(len(logits))]
    x = torch.randn(3, 2)
    expected = sum(w * op(x) for w, op in zip(sel.weights, ops))
    out = apply_selection(ops, x, sel)
    assert torch.allclose(out, expected, atol=1e-6)
    out.sum().backward()
    assert arch["e"].grad is not None  # differentiable to alpha


@pytest.mark.parametrize("name,optimizer", [("darts", "darts-1st"), ("darts-2nd", "darts-2nd"),
                                            ("amended", "amended")])
def test_presets_carry_the_papers_settings(name, optimizer):
    cfg = merged_config({"strategy": name, "space": "darts"})
    assert (cfg.batch_size, cfg.arch_lr, cfg.arch_weight_decay, cfg.arch_betas) == (96, 3e-4, 1e-3, (0.5, 0.999))
    run = SearchRun(merged_config({"strategy": name, "space": "nb201", "space_options": NB201}), write_files=False)
    assert type(run.optimizer) is type(registry.get("arch_optimizer", optimizer))
    assert run.optimizer.arch_first
    assert type(run.sampler).__name__ == "MixtureSampler"
    if name == "amended":
        assert run.optimizer.eta == 0.1 and run.optimizer.hvp == "exact"


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="hvp"):
        registry.get("arch_optimizer", "amended", hvp="inverse")
    with pytest.raises(ConfigError, match="eta"):
        registry.get("arch_optimizer", "amended", eta=-1)
    with pytest.raises(ConfigError, match="hvp"):
        registry.get("arch_optimizer", "darts-2nd", hvp="cg")


def test_the_second_order_steps_read_lr_and_momentum_from_the_weight_optimizer():
    run = SearchRun(merged_config({"strategy": "darts-2nd", "space": "nb201", "space_options": NB201,
                                   "epochs": 1, "w_nesterov": False, "w_weight_decay": 3e-4}), write_files=False)
    tb = next(run.batches(run.train_loader))
    run.optimizer.weight_step(run, *tb)
    from nasplug_amended.second_order import ArchStep

    for group in run.w_optimizer.param_groups:
        group["lr"] = 0.0123
    step = ArchStep(run)
    xi, moves = run.optimizer.virtual_step(run, step, tb)
    assert xi == 0.0123
    from nasplug_amended.second_order import grad

    g = grad(step.loss("train", tb), step.params)
    for p, gp, move in zip(step.params, g, moves):
        buf = run.w_optimizer.state[p]["momentum_buffer"]
        assert torch.allclose(move, 0.9 * buf + gp + 3e-4 * p.detach(), atol=1e-6)  # one SGD step's displacement


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["darts", "darts-2nd", "amended"])
def test_search_end_to_end_and_resume_is_exact(strategy, tmp_path):
    common = dict(space="nb201", strategy=strategy, data="digits", space_options=NB201, epochs=2, eval_batches=1,
                  steps_per_epoch=2, batch_size=32, runs_root=str(tmp_path))
    whole = Pipeline(run_dir=tmp_path / "whole", **common).search()
    assert len(whole.history) == 2 and "derived_valid_acc" in whole.history[-1]
    # one epoch, stop, resume for the second
    cfg = merged_config({**common, "epochs": 2})
    first = SearchRun(cfg, run_dir=tmp_path / "split")
    first.run_epoch()
    first.save()
    resumed = SearchRun.resume(tmp_path / "split").run()
    assert resumed.genotype == whole.genotype
    assert json.dumps(resumed.history[-1]["distribution"]) == json.dumps(whole.history[-1]["distribution"])


@pytest.mark.slow
def test_regularised_search_on_s1_runs_and_resumes(tmp_path):
    common = dict(space="darts-s1", strategy="amended", data="digits", epochs=2, steps_per_epoch=2, batch_size=16,
                  eval_batches=1,
                  space_options={"C": 2, "layers": 3, "steps": 2, "cutout": 4, "drop_path": 0.2,
                                 "auxiliary_weight": 0.4, "ops": ["avg_pool_3x3", "skip_connect", "sep_conv_3x3"]},
                  runs_root=str(tmp_path))
    whole = Pipeline(run_dir=tmp_path / "whole", **common).search()
    first = SearchRun(merged_config(common), run_dir=tmp_path / "split")
    first.run_epoch()
    first.save()
    resumed = SearchRun.resume(tmp_path / "split").run()
    assert resumed.genotype == whole.genotype
    assert resumed.history[-1]["distribution"] == whole.history[-1]["distribution"]
    assert resumed.history[-1]["train_loss"] == whole.history[-1]["train_loss"]


@pytest.mark.parametrize("strategy", ["darts", "darts-2nd", "amended"])
def test_nb201_searches_take_the_nb201_darts_settings(strategy):
    """configs/nas-benchmark/algos/DARTS.config: batch 64, decay 5e-4, nesterov (DARTS space: 96, 3e-4, plain)."""
    nb201 = merged_config({"strategy": strategy, "space": "nb201"})
    assert (nb201.batch_size, nb201.w_weight_decay, nb201.w_nesterov) == (64, 5e-4, True)
    assert nb201.arch_lr == 3e-4 and nb201.arch_weight_decay == 1e-3 and nb201.arch_betas == (0.5, 0.999)
    darts = merged_config({"strategy": strategy, "space": "darts"})
    assert (darts.batch_size, darts.w_weight_decay, darts.w_nesterov) == (96, 3e-4, False)
