"""GibbsNAS inside a real (tiny) search: registration, the DARTS correspondence, resume, bad options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parameters_to_vector

from nasplug.errors import ConfigError
from nasplug.search.run import SearchRun, merged_config

from nasplug_gibbs.presets import PAPER_DEFAULTS, VARIANTS


def make_run(registry, cfg, **kw):
    return SearchRun(merged_config(cfg, registry), registry=registry, write_files=False, **kw)


def test_every_table2_variant_is_registered_with_the_paper_settings(gibbs_registry):
    for name, (omega, alpha, _) in VARIANTS.items():
        spec = gibbs_registry.factory("strategy", name)
        assert spec.sampler == "nasplug:mixture" and spec.arch_optimizer == f"nasplug-gibbs:{name}"
        assert spec.defaults == PAPER_DEFAULTS
        opt = gibbs_registry.get("arch_optimizer", name)
        assert (opt.omega, opt.alpha) == (omega, alpha)
    assert PAPER_DEFAULTS == {"w_lr": 0.1, "batch_size": 64, "w_weight_decay": 1e-4, "arch_lr": 0.1,
                              "arch_weight_decay": 1e-4}


def alpha_gradient(run, x, y):
    with run.frozen_weights():
        loss = F.cross_entropy(run.forward(x, run.sample()), y)
        grads = torch.autograd.grad(loss, list(run.arch.parameters()))
    return torch.cat([g.reshape(-1) for g in grads])


def test_first_mean_step_is_darts_gradient_descent(gibbs_registry, tiny_config):
    """With H = lr-scale identity before any curvature pair, the mean update is DARTS-1st's step (paper, GibbsNAS vs DARTS)."""
    run = make_run(gibbs_registry, tiny_config("gibbs-mean"))
    x, y = next(iter(run.batches(run.valid_loader)))
    xt, yt = next(iter(run.batches(run.train_loader)))
    run._set_lr(0)
    w0 = parameters_to_vector(run.supernet.parameters()).detach().clone()
    a0 = parameters_to_vector(run.arch.parameters()).detach().clone()
    # omega: -mean with the diagonal at d_max = 1 is plain SGD with the run's lr and weight decay
    with torch.no_grad():
        sel = {k: s.detach() for k, s in run.sample().items()}
    run.supernet.train()
    loss = F.cross_entropy(run.forward(xt, sel), yt)
    gw = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(run.supernet.parameters()))])
    gw = gw * min(1.0, run.config.grad_clip / (float(gw.norm()) + 1e-6))
    run.optimizer.weight_step(run, xt, yt)
    expected_w = w0 - 0.1 * (gw + 1e-4 * w0)
    torch.testing.assert_close(parameters_to_vector(run.supernet.parameters()), expected_w, rtol=1e-5, atol=1e-6)
    ga = alpha_gradient(run, x, y)
    run.optimizer.arch_step(run, (xt, yt), (x, y))
    torch.testing.assert_close(parameters_to_vector(run.arch.parameters()), a0 - 0.1 * (ga + 1e-4 * a0),
                               rtol=1e-5, atol=1e-7)


def test_first_order_variant_trains_weights_with_the_runs_sgd(gibbs_registry, tiny_config):
    run = make_run(gibbs_registry, tiny_config("gibbs-1st"))
    assert run.optimizer.lbfgs is None
    before = run.w_optimizer.state_dict()["state"]
    assert not before
    run.optimizer.weight_step(run, *next(iter(run.batches(run.train_loader))))
    assert run.w_optimizer.state_dict()["state"]  # momentum buffers: the SGD optimizer took the step


def test_sampling_starts_after_warmup_and_mean_variants_never_sample(gibbs_registry, tiny_config):
    def alphas(strategy, warmup):
        run = make_run(gibbs_registry, tiny_config(strategy, optimizer_options={"warmup": warmup}, epochs=1))
        run.run()
        return parameters_to_vector(run.arch.parameters()).detach(), run.generator.get_state()

    a_mean, gen_mean = alphas("gibbs-mean", 0.0)
    a_sample, gen_sample = alphas("gibbs", 0.0)
    a_late, gen_late = alphas("gibbs", 0.99)  # warm-up longer than this search: no draw at all
    assert torch.equal(gen_mean, gen_late)  # neither drew from the run's generator
    assert not torch.equal(gen_sample, gen_mean)
    assert torch.equal(a_mean, a_late)  # warm-up is exactly the mean chain
    assert not torch.allclose(a_mean, a_sample)


@pytest.mark.slow
def test_resume_equals_uninterrupted(gibbs_registry, tiny_config, tmp_path):
    cfg = tiny_config("gibbs", optimizer_options={"warmup": 0.0, "curvature_every": 2}, runs_root=str(tmp_path))
    whole = SearchRun(merged_config(cfg, gibbs_registry), registry=gibbs_registry, run_dir=tmp_path / "whole")
    whole.run()
    half = SearchRun(merged_config(cfg, gibbs_registry), registry=gibbs_registry, run_dir=tmp_path / "half")
    half.run_epoch()
    half.save()
    resumed = SearchRun.resume(tmp_path / "half", registry=gibbs_registry)
    result = resumed.run()
    assert resumed.optimizer.bfgs.updates + resumed.optimizer.bfgs.skipped > 0
    assert resumed.optimizer.lbfgs.updates + resumed.optimizer.lbfgs.skipped > 0
    for a, b in zip(whole.arch.parameters(), resumed.arch.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(whole.supernet.parameters(), resumed.supernet.parameters()):
        assert torch.equal(a, b)
    assert str(result.genotype) == str(whole.final)


@pytest.mark.parametrize("options, word", [
    ({"omega": "newton"}, "omega"), ({"alpha": "gibbs"}, "alpha"), ({"policy": "clip"}, "policy"),
    ({"lr": 2.5}, "lr"), ({"clip": -1.0}, "clip"), ({"warmup": 1.0}, "warmup"), ({"memory": 0}, "memory"),
    ({"h_min": 2.0, "h_max": 1.0}, "h_min"), ({"temperature": -1}, "temperature"), ({"secant": "x"}, "secant"),
    ({"omega_secant": "same_batch"}, "omega_secant"), ({"curvature_every": 0}, "curvature_every"),
])
def test_bad_options_are_config_errors_naming_the_value(gibbs_registry, options, word):
    with pytest.raises(ConfigError, match=word):
        gibbs_registry.get("arch_optimizer", "gibbs", **options)


def test_non_differentiable_sampler_and_unstable_lr_are_refused(gibbs_registry, tiny_config):
    with pytest.raises(ConfigError, match="differentiable"):
        make_run(gibbs_registry, tiny_config("gibbs", sampler="uniform"))
    with pytest.raises(ConfigError, match="w_lr"):
        make_run(gibbs_registry, tiny_config("gibbs", w_lr=3.0))


@pytest.mark.slow
def test_search_fits_the_data_and_derives_an_argmax_genotype(gibbs_registry, tiny_config):
    run = make_run(gibbs_registry, tiny_config("gibbs", epochs=4, steps_per_epoch=6,
                                               optimizer_options={"secant": "same_batch"}))
    result = run.run()
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]
    assert run.optimizer.bfgs.updates > 0  # same-batch secant pairs were folded in
    argmax = {k: int(torch.argmax(p)) for k, p in run.arch.logits.items()}
    assert run.space.choices_from_genotype(result.genotype) == argmax  # Algorithm 1 line 8
