"""The gdas preset end to end: config merging, a tiny search, resume equal to an uninterrupted run."""

import pytest
import torch

from nasplug import Pipeline, registry
from nasplug.search.run import SearchRun, merged_config, strategy_spec

TINY = dict(space="nb201", strategy="gdas", data="digits", space_options={"C": 4, "N": 1}, epochs=2,
            steps_per_epoch=3, eval_batches=1)


def test_preset_carries_the_papers_settings_and_user_values_win():
    spec = strategy_spec("gdas", registry.default_registry())
    assert (spec.sampler, spec.arch_optimizer) == ("nasplug-gdas:gumbel", "nasplug:gradient")
    cfg = merged_config({"strategy": "gdas", "space": "darts", "w_lr": 0.05})
    assert cfg.w_lr == 0.05 and cfg.w_lr_min == 0.001 and cfg.w_momentum == 0.9
    assert cfg.w_weight_decay == 3e-4 and cfg.arch_lr == 3e-4 and cfg.arch_betas == (0.5, 0.999)
    assert cfg.arch_weight_decay == 1e-3 and cfg.grad_clip == 5.0 and not cfg.w_nesterov


def test_nb201_searches_take_the_authors_nb201_settings_and_user_values_still_win():
    """configs/nas-benchmark/algos/GDAS.config: decay 5e-4, nesterov; the rest as on DARTS spaces."""
    cfg = merged_config({"strategy": "gdas", "space": "nb201"})
    assert cfg.w_weight_decay == 5e-4 and cfg.w_nesterov
    assert cfg.w_lr == 0.025 and cfg.w_lr_min == 0.001 and cfg.batch_size == 64 and cfg.arch_lr == 3e-4
    assert cfg.arch_betas == (0.5, 0.999) and cfg.arch_weight_decay == 1e-3 and cfg.grad_clip == 5.0
    cfg = merged_config({"strategy": "gdas", "space": "nb201", "w_weight_decay": 1e-4, "w_nesterov": False})
    assert cfg.w_weight_decay == 1e-4 and not cfg.w_nesterov


def test_gumbel_carries_unselected_weights_on_nb201_only_unless_told():
    """search_cells.py NAS201SearchCell.forward_gdas adds the unselected hard weights; the NASNet cell does not."""
    gumbel = registry.get("sampler", "gumbel")
    assert gumbel.carry_unselected_for("nb201") and not gumbel.carry_unselected_for("darts")
    run = SearchRun(merged_config(TINY), write_files=False)
    assert all(sel.carry_unselected for sel in run.sample().values())
    forced = registry.get("sampler", "gumbel", carry_unselected=False)
    assert not forced.carry_unselected_for("nb201")


def test_tiny_search_anneals_tau_and_returns_an_nb201_cell(tmp_path):
    result = Pipeline(runs_root=str(tmp_path), **TINY).search()
    assert [h["tau"] for h in result.history] == pytest.approx([10.0, 0.1])
    assert str(result.genotype).count("~") == 6
    assert (result.run_dir / "genotype.json").exists()


def test_sampler_options_reach_the_sampler(tmp_path):
    cfg = merged_config({**TINY, "sampler_options": {"tau_min": 2.0, "carry_unselected": True}})
    run = SearchRun(cfg, write_files=False)
    assert run.sampler.tau_min_for("nb201") == 2.0 and run.sampler.carry_unselected


@pytest.mark.slow
def test_resume_equals_uninterrupted(tmp_path):
    cfg = merged_config(TINY)
    whole = SearchRun(cfg, run_dir=tmp_path / "whole")
    whole.run()
    part = SearchRun(cfg, run_dir=tmp_path / "part")
    part.run_epoch()
    part.save()
    resumed = SearchRun.resume(tmp_path / "part")
    resumed.run()
    for name in whole.arch.names():
        assert torch.equal(whole.arch[name], resumed.arch[name])
    assert str(whole.final) == str(resumed.final)
