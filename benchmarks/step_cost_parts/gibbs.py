"""GibbsNAS: one full search step (weight step + architecture step) over DARTS first order.

Both strategies run on the bench's ``darts`` configuration with the same
softmax-mixture supernet.  The mixture sampler is registered here under its
own name, so the part needs neither nasplug-amended's ``mixture`` nor its
``darts`` preset: the baseline is the kernel's ``gradient`` arch optimizer
(first-order Adam on alpha) after an SGD weight step.  Warm-up is switched
off so that the GibbsNAS step includes its draws.

Keys: ``gibbs_over_darts1st`` (2nd order, both blocks sampled, default
options; the curvature pairs cost one extra weight gradient and one extra
alpha gradient every ``curvature_every`` = 10 steps, so the step is timed
without and with them and reported amortized over the window),
``gibbs_pair_step_over_darts1st`` (a step that forms both pairs),
``gibbs_1st_over_darts1st`` (omega by SGD) and
``gibbs_same_batch_over_darts1st`` (alpha's secant pair on the same batch,
one extra alpha gradient every step).
"""

from __future__ import annotations

import inspect
import types

from nasplug import registry
from nasplug.strategies.mixture import MixtureSampler
from nasplug.hookspecs import hookimpl
from nasplug_gibbs.optimizer import GibbsArchOptimizer

#: the plugin whose components this part measures (the part is skipped without it)
PLUGIN = "nasplug_gibbs"

SAMPLER = "gibbs-bench-softmax"


@hookimpl
def nasplug_samplers():
    return {SAMPLER: MixtureSampler}


def _full_step(bench, run):
    train_batch, valid_batch = bench.batches()

    def step():
        run.optimizer.weight_step(run, *train_batch)
        run.optimizer.arch_step(run, train_batch, valid_batch)
    return step


def measure(bench) -> dict:
    if SAMPLER not in registry.names("sampler"):
        registry.reload(extra_modules=[types.SimpleNamespace(__name__="gibbs-bench", nasplug_samplers=nasplug_samplers)])
    darts = bench.run("random", sampler=SAMPLER, arch_optimizer="gradient")
    # one warm-up call and no memory profile: a darts mixture step takes seconds on a CPU
    base = bench.time("darts-1st step (SGD w + Adam alpha, mixture)", _full_step(bench, darts), warmup=1,
                      memory=False)
    out = {}

    def ratio(label, strategy, options):
        run = bench.run(strategy, sampler=SAMPLER, optimizer_options={"warmup": 0.0, **options})
        return bench.time(label, _full_step(bench, run), warmup=1, memory=False) / base

    window = inspect.signature(GibbsArchOptimizer).parameters["curvature_every"].default
    plain = ratio("gibbs step, no curvature pair", "gibbs", {"curvature_every": 10 ** 6})
    paired = ratio("gibbs step forming both curvature pairs", "gibbs", {"curvature_every": 1})
    out["gibbs_over_darts1st"] = plain + (paired - plain) / window
    out["gibbs_pair_step_over_darts1st"] = paired
    out["gibbs_1st_over_darts1st"] = ratio("gibbs-1st step, no curvature pair", "gibbs-1st",
                                           {"curvature_every": 10 ** 6})
    out["gibbs_same_batch_over_darts1st"] = ratio("gibbs step, same-batch alpha pair", "gibbs",
                                                  {"secant": "same_batch", "omega_secant": "averaged",
                                                   "curvature_every": 10 ** 6})
    return out
