"""The proxy component kind, the training-free searches and proxies inside other strategies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasplug import Pipeline
from nasplug.errors import ConfigError, NasplugError
from nasplug.registry import default_registry
from nasplug.search.run import SearchRun, merged_config
from nasplug.spaces.nb201 import NB201Genotype, NB201Space
from nasplug.testing import cases

from nasplug_zerocost.driven import ProxyQuality, warm_logits
from nasplug_zerocost.proxies import PROXIES
from nasplug_zerocost.scoring import score_cell, vote
from nasplug_zerocost.search import CellScorer

TINY = dict(space="nb201", space_options={"C": 4, "N": 1}, data="digits", data_options={"limit_train": 128},
            batch_size=16, threads=1)


def test_every_proxy_is_registered_and_listed(capsys):
    from nasplug.cli import main

    assert set(PROXIES) <= set(default_registry().names("proxy"))
    main(["plugins"])
    listing = capsys.readouterr().out
    assert "proxy:" in listing and "naswot" in listing and "nasplug-zerocost" in listing


@pytest.mark.slow
@pytest.mark.parametrize("case", cases("nasplug-zerocost"), ids=str)
def test_conformance(case):
    case.run_in_pytest()


def test_vote_sums_ranks_and_puts_degenerate_networks_last():
    table = {"a": [3.0, 1.0, 2.0], "b": [10.0, 30.0, float("-inf")]}
    # ranks (0 = worst): a -> 2, 0, 1; b -> 1, 2, 0
    assert vote(table).tolist() == [3.0, 2.0, 1.0]
    assert vote(table, {"a": 2.0}).tolist() == [5.0, 2.0, 2.0]
    with pytest.raises(ConfigError, match="same candidates"):
        vote({"a": [1.0], "b": [1.0, 2.0]})


def test_a_cell_scores_the_same_whatever_else_was_scored_before():
    space = NB201Space(C=4, N=1)
    batch = (torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 10)
    cells = [space.sample(torch.Generator().manual_seed(k)) for k in range(3)]
    proxies = {"naswot": PROXIES["naswot"]}
    alone = score_cell(space, cells[2], proxies, [batch], 10, seed=5)
    for c in cells[:2]:
        score_cell(space, c, proxies, [batch], 10, seed=5)
    assert score_cell(space, cells[2], proxies, [batch], 10, seed=5) == alone


def test_training_free_search_is_deterministic_and_returns_a_valid_cell(tmp_path):
    def search():
        return Pipeline(strategy="zerocost", optimizer_options={"cells": 4, "batch_size": 16}, epochs=2,
                        steps_per_epoch=2, seed=7, runs_root=str(tmp_path), **TINY).search()

    first, second = search(), search()
    assert isinstance(first.genotype, NB201Genotype)
    assert str(first.genotype) == str(second.genotype)
    NB201Space().choices_from_genotype(first.genotype)  # decodes in the space


def test_the_answer_is_the_best_scored_cell_by_the_vote(tmp_path):
    config = merged_config({**TINY, "strategy": "zerocost", "optimizer_options": {
        "proxies": ["naswot", "synflow"], "cells": 5, "batch_size": 16}, "epochs": 2, "steps_per_epoch": 3, "seed": 1})
    run = SearchRun(config, write_files=False)
    result = run.run()
    history = run.optimizer.history
    assert len(history) == 5
    votes = vote({n: [s[n] for _, s in history] for n in ("naswot", "synflow")})
    assert str(result.genotype) == str(run.space.genotype_from_choices(history[int(np.argmax(votes))][0]))


@pytest.mark.parametrize("options, message", [
    ({"proxies": ["nasowt"]}, "unknown proxy 'nasowt'.*naswot"),
    ({"cells": 0}, "cells must be a positive integer, got 0"),
    ({"proxies": ["naswot"], "proxy_options": {"synflow": {}}}, "not among the proxies"),
    ({"proxies": ["linear_regions"], "proxy_options": {"linear_regions": {"sample": 3}}}, "sample"),
])
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(NasplugError, match=message):
        default_registry().get("arch_optimizer", "zerocost", **options)


def test_too_few_steps_for_the_cells_is_refused_before_scoring():
    config = merged_config({**TINY, "strategy": "zerocost", "optimizer_options": {"cells": 50}, "epochs": 1,
                            "steps_per_epoch": 2})
    with pytest.raises(ConfigError, match="cells=50 needs at least that many steps"):
        SearchRun(config, write_files=False)


def test_proxy_quality_is_the_percentile_among_the_reference():
    space = NB201Space(C=4, N=1)
    batch = (torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 10)
    scorer = CellScorer(space, {"params": PROXIES["params"]}, [batch], 10, seed=0)
    reference = [space.sample(torch.Generator().manual_seed(k)) for k in range(6)]
    quality = ProxyQuality(scorer, "params", reference)
    scores = sorted(scorer(c)["params"] for c in reference)
    all_conv = {d.name: 3 for d in space.decisions}  # nor_conv_3x3 everywhere: the most parameters
    none = {d.name: 0 for d in space.decisions}
    assert quality(all_conv) == 1.0 and quality(none) == 0.0
    middle = next(c for c in reference if scorer(c)["params"] == scores[2])
    ties = scores.count(scores[2])
    assert quality(middle) == pytest.approx((scores.index(scores[2]) + 0.5 * ties) / 6)


def test_rea_evolves_by_proxy_fitness_without_training(tmp_path):
    result = Pipeline(strategy="random", arch_optimizer="proxy-quality",
                      optimizer_options={"search": "nasplug-nb201:rea", "proxy": "params", "reference": 4,
                                         "batch_size": 16, "search_options": {"population_size": 3}},
                      epochs=1, steps_per_epoch=8, seed=0, runs_root=str(tmp_path), **TINY).search()
    # params is maximal for nor_conv_3x3; REA's answer is the fittest cell it queried, by params
    ops = result.genotype.ops
    assert ops.count("nor_conv_3x3") >= 2


def test_reinforce_with_a_proxy_quality_and_a_latency_target(tmp_path):
    config = merged_config({**TINY, "strategy": "tunas", "arch_optimizer": "proxy-quality",
                            "latency_model": "flops", "latency_target": 0.05, "epochs": 1, "steps_per_epoch": 4, "valid_batch_size": 16,
                            "optimizer_options": {"search": "reinforce", "proxy": "synflow", "reference": 4,
                                                  "batch_size": 16}})
    run = SearchRun(config, write_files=False)
    record = run.run_epoch()
    assert 0.0 <= record["quality"] <= 1.0  # the proxy's percentile is REINFORCE's Q
    assert "reward" in record and np.isfinite(record["reward"])


def test_warm_start_logits_follow_the_proxy():
    space = NB201Space(C=4, N=1)
    batch = (torch.randn(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))
    scorer = CellScorer(space, {"params": PROXIES["params"]}, [batch], 10, seed=0)
    logits = warm_logits(space, scorer, "params", cells=300, scale=2.0, seed=0)
    conv3 = space.decisions[0].choices.index("nor_conv_3x3")
    for name, values in logits.items():
        assert int(np.argmax(values)) == conv3, name  # the op with the most parameters leads on every edge
        assert np.std(values) == pytest.approx(2.0)


def test_a_differentiable_search_starts_from_the_warm_logits():
    config = merged_config({**TINY, "strategy": "darts", "arch_optimizer": "proxy-warmstart", "epochs": 1,
                            "steps_per_epoch": 1, "optimizer_options": {"proxy": "params", "cells": 30,
                                                                        "batch_size": 16, "scale": 1.5}})
    run = SearchRun(config, write_files=False)
    for name, values in run.optimizer.initial_logits.items():
        assert torch.allclose(run.arch[name].detach(), torch.tensor(values, dtype=torch.float32))
    run.run()  # and the search runs on from there
