"""GibbsNAS: one full search step (weight step + architecture step) over DARTS first order.

Both strategies run on the bench's ``darts`` configuration with the same
softmax-mixture supernet.  The mixture sampler is registered here under its
own name, so the part needs neither nasplug-amended's ``mixture`` nor its
``darts`` preset: the baseline is the kernel's ``gradient`` arch optimizer
(first-order Adam on alpha) after an SGD weight step.  Warm-up is switched
off so that the GibbsNAS step includes its draws.

Keys: ``gibbs_over_darts1st`` (2nd order, both blocks sampled, default
options), ``gibbs_1st_over_darts1st`` (omega by SGD) and
``gibbs_same_batch_over_darts1st`` (alpha's secant pair on the same batch,
one extra alpha gradient per step).
"""

from __future__ import annotations

import types


from nasplug import registry
from nasplug.strategies.mixture import MixtureSampler
from nasplug.hookspecs import hookimpl

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
    for key, strategy, options in [
        ("gibbs_over_darts1st", "gibbs", {"warmup": 0.0}),
        ("gibbs_1st_over_darts1st", "gibbs-1st", {"warmup": 0.0}),
        ("gibbs_same_batch_over_darts1st", "gibbs", {"warmup": 0.0, "secant": "same_batch"}),
    ]:
        run = bench.run(strategy, sampler=SAMPLER, optimizer_options=options)
        label = f"{strategy} step ({', '.join(f'{k}={v}' for k, v in options.items())})"
        out[key] = bench.time(label, _full_step(bench, run), warmup=1, memory=False) / base
    return out
