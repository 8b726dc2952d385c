"""proxy-screen: a supernet search whose final pick is made among the proxy-screened candidates."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasplug.errors import NasplugError
from nasplug.search.run import SearchRun, merged_config
from nasplug.spaces.nb201 import NB201Space

from nasplug.strategies.random_search import CANDIDATE_STREAM, distinct_samples

from nasplug_zerocost.screen import proxy_screen, screened
from nasplug_zerocost.scoring import cell_key

TINY = dict(space="nb201", space_options={"C": 4, "N": 1}, data="digits", data_options={"limit_train": 128},
            batch_size=16, threads=1, epochs=1, steps_per_epoch=3, eval_batches=1)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30, unique=True), st.data())
def test_one_proxy_keeps_its_highest_scores_in_order(values, data):
    keep = data.draw(st.integers(1, len(values)))
    cells = [{"edge": k} for k in range(len(values))]
    kept = screened(cells, [{"p": v} for v in values], keep)
    assert [c["edge"] for c in kept] == sorted(range(len(values)), key=lambda k: -values[k])[:keep]


def test_distinct_samples_are_distinct_and_stop_when_the_space_runs_out():
    space = NB201Space(C=4, N=1)
    cells = distinct_samples(space, 300, torch.Generator().manual_seed(0))
    assert len(cells) == 300 and len({cell_key(c) for c in cells}) == 300

    class TwoCells:
        def sample(self, generator):
            return {"d": int(torch.randint(2, (1,), generator=generator))}

    assert sorted(c["d"] for c in distinct_samples(TwoCells(), 10, torch.Generator().manual_seed(0))) == [0, 1]
    # RSPS's 100 candidates are the first 100 of the screen's 200 (the same stream, cut shorter)
    rsps = distinct_samples(space, 100, torch.Generator().manual_seed(7), max_draws=400)
    assert rsps == distinct_samples(space, 200, torch.Generator().manual_seed(7))[:100]


def test_the_pick_is_the_supernets_best_finalist():
    config = merged_config({**TINY, "strategy": "random", "arch_optimizer": "nasplug-zerocost:proxy-screen",
                            "optimizer_options": {"proxies": "params", "cells": 20, "keep": 4, "batch_size": 8}})
    run = SearchRun(config, write_files=False)
    result = run.run()
    finalists = run.optimizer.last_screen
    assert len(finalists) == 4
    # the finalists are the 4 of the 20 candidates with the most parameters ...
    cells = distinct_samples(run.space, 20, torch.Generator().manual_seed(config.seed + CANDIDATE_STREAM))
    params = [run.optimizer.proxies["params"](run.space.build_child(run.space.genotype_from_choices(c),
                                                                    (1, 8, 8), 10), None) for c in cells]
    assert sorted(params, reverse=True)[3] <= min(
        params[[cell_key(c) for c in cells].index(cell_key(f["choices"]))] for f in finalists)
    # ... and the answer is the one the trained supernet scores best
    best = max(finalists, key=lambda f: (f["accuracy"], -f["loss"]))
    assert result.genotype == run.space.genotype_from_choices(best["choices"])
    assert run.evaluate(best["choices"]) == (best["loss"], best["accuracy"])


@pytest.mark.parametrize("options, message", [({"keep": 0}, "keep must be a positive integer"),
                                              ({"cells": 5, "keep": 6}, "keep must be at most cells (5)"),
                                              ({"proxies": ["nope"]}, "nope"),
                                              ({"weights": {"snip": 1.0}}, "not among the proxies")])
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises(NasplugError, match=message.replace("(", r"\(").replace(")", r"\)")):
        proxy_screen(**options)
