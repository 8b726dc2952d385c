"""End-to-end: the tunas preset on a MobileNet space, resume, and a TuNAS reward inside a gradient search."""

import types

import pytest
import torch

from nasplug import registry
from nasplug.components import Sampler, Selection
from nasplug.hookspecs import hookimpl
from nasplug.plugins import load_plugins
from nasplug.registry import Registry
from nasplug.search.run import SearchRun, merged_config

TINY = {"width": 0.25, "layers": [1, 2, 1, 1, 1, 1]}


def _config(table, **kw):
    base = dict(space="proxylessnas", strategy="tunas", data="digits", epochs=4, steps_per_epoch=3,
                space_options=TINY, latency_options={"path": str(table), "repeats": 2}, latency_target=1.0,
                eval_batches=1, runs_root="unused")
    base.update(kw)
    return merged_config(base)


@pytest.mark.slow
def test_tunas_preset_search_and_resume_equals_uninterrupted(tmp_path):
    config = _config(tmp_path / "table.json")
    assert config.valid_batch_size == 4 * config.batch_size and config.arch_init_std == 0.0
    full = SearchRun(config, run_dir=tmp_path / "full")
    result = full.run()
    assert full.optimizer.reward_count == 12 and full.reward is not None
    assert type(full.latency_model).__name__ == "LookupLatencyModel"
    assert "reward" in result.history[-1] and "derived_latency" in result.history[-1]
    assert result.history[0]["warmup_p"] > 0 and result.history[-1]["rl_lr"] > 0

    part = SearchRun(config, run_dir=tmp_path / "part")
    part.run_epoch()
    part.run_epoch()
    part.save()
    resumed = SearchRun.resume(tmp_path / "part")
    again = resumed.run()
    assert str(again.genotype) == str(result.genotype)
    for name in full.arch.names():
        assert torch.equal(full.arch[name].detach(), resumed.arch[name].detach())
    assert resumed.optimizer.reward_ema == full.optimizer.reward_ema


def test_lookup_table_without_path_is_kept_in_the_run_directory_and_reused_on_resume(tmp_path, monkeypatch):
    from nasplug_tunas.latency import RUN_TABLE, LookupLatencyModel

    config = _config(None, epochs=2, steps_per_epoch=2,
                     latency_options={"repeats": 1, "warmup": 0, "rounds": 1})
    run = SearchRun(config, run_dir=tmp_path / "run")
    run.run_epoch()
    run.save()
    assert (tmp_path / "run" / RUN_TABLE).exists()
    table = dict(run.latency_model.table)
    monkeypatch.setattr(LookupLatencyModel, "measure", lambda self: pytest.fail("resume measured a new table"))
    resumed = SearchRun.resume(tmp_path / "run")
    assert resumed.latency_model.table == table
    assert resumed.run().history[-1]["epoch"] == 1


class _StraightThroughGumbel(Sampler):
    """A minimal differentiable single-path sampler (GDAS-style hard one-hot with soft gradient)."""

    differentiable = True

    def sample(self, arch, state):
        out = {}
        for name in arch.names():
            logits = arch[name]
            u = torch.rand(logits.shape, generator=state.generator).clamp_(1e-9, 1 - 1e-9)
            probs = torch.softmax((torch.log_softmax(logits, -1) - torch.log(-torch.log(u))) / 1.0, -1)
            index = int(probs.argmax())
            hard = torch.zeros_like(probs)
            hard[index] = 1.0
            out[name] = Selection(hard - probs.detach() + probs, index)
        return out


@pytest.mark.slow
def test_absolute_reward_drives_a_gradient_search_on_nb201(tmp_path):
    module = types.ModuleType("tunas_test_hooks")
    module.nasplug_samplers = hookimpl(lambda: {"test-st-gumbel": _StraightThroughGumbel})
    reg = Registry(load_plugins([module]))
    config = merged_config(dict(space="nb201", strategy="random", sampler="test-st-gumbel", arch_optimizer="gradient",
                                reward="absolute", latency_target=0.2, data="digits", epochs=2, steps_per_epoch=4,
                                space_options={"C": 4, "N": 1}, eval_batches=1, runs_root=str(tmp_path)), reg)
    run = SearchRun(config, registry=reg, write_files=False)
    assert run.latency_model is not None and run.reward is not None
    # the latency part of -reward carries gradient to alpha
    selections = run.sample()
    cost = run.expected_cost(selections)
    (-run.reward(torch.tensor(0.5), cost)).backward()
    assert any(float(run.arch[n].grad.abs().sum()) > 0 for n in run.arch.names())
    run.arch.zero_grad()
    before = {n: run.arch[n].detach().clone() for n in run.arch.names()}
    run.run()
    assert any(not torch.equal(before[n], run.arch[n].detach()) for n in run.arch.names())


@pytest.mark.slow
@pytest.mark.skipif("gdas" not in registry.names("strategy"), reason="nasplug-gdas not installed")
def test_gdas_strategy_with_absolute_reward(tmp_path):
    from nasplug import Pipeline

    result = Pipeline(space="nb201", strategy="gdas", data="digits", epochs=2, steps_per_epoch=3, reward="absolute",
                      latency_target=0.2, space_options={"C": 4, "N": 1}, eval_batches=1,
                      runs_root=str(tmp_path)).search()
    assert "derived_latency" in result.history[-1]


def test_tunas_accuracy_preset_searches_without_a_latency_target():
    """The TuNAS controller on Q alone: the same settings as tunas, no reward, no target needed."""
    from nasplug.search.run import SearchRun, merged_config

    cfg = merged_config({"space": "nb201", "strategy": "tunas-accuracy", "data": "digits",
                         "space_options": {"C": 2, "N": 1}, "epochs": 1, "steps_per_epoch": 2})
    assert (cfg.arch_lr, cfg.batch_size, cfg.valid_batch_size, cfg.arch_init_std) == (0.06, 32, 128, 0.0)
    run = SearchRun(cfg, write_files=False)
    assert run.reward is None and run.latency_model is None
    assert type(run.optimizer).__name__ == "Reinforce"
    record = run.run_epoch()
    assert record["genotype"].count("~") == 6
