"""GDAS's step cost (Sec. 3.2 "Acceleration"; Sec. 4.2 "Discussion on the acceleration step").

Three forward+backward passes on the shared ``darts`` supernet and batch:

* ``gdas``: the ``gumbel`` sampler's straight-through selections (a fresh
  Gumbel draw per call, included in the time), gradient to weights and alpha;
* ``child``: the physical floor of a single-path step: the same sampled op on
  every edge as the GDAS call, as plain one-hot selections (no Gumbel, no
  alpha graph), gradient to the weights only;
* ``darts``: the DARTS mixture, ``softmax(alpha)``-weighted selections with
  ``index=None`` built here (every op of every edge runs), gradient to
  weights and alpha.

Keys: ``gdas_over_child`` (target <= 1.25), ``gdas_over_darts`` (<= 0.30),
peak memory of each step and ``gdas_memory_over_darts``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nasplug.components import Selection

#: the plugin whose components this part measures (the part is skipped without it)
PLUGIN = "nasplug_gdas"

DRAWS_SEED = 2019


def measure(bench) -> dict:
    run = bench.run("gdas")
    net, arch, sampler, state = run.supernet, run.arch, run.sampler, run.state
    net.train()
    (x, y), _ = bench.batches()
    names = arch.names()

    # the child replays exactly the op sequence the GDAS calls draw: same seed, one draw per call
    calls = 2 + bench.repeats + 1  # warmup, timed repeats, the peak-memory call
    replay = torch.Generator().manual_seed(DRAWS_SEED)
    with torch.no_grad():
        choices = []
        for _ in range(calls):
            state.generator = replay
            choices.append({k: s.index for k, s in sampler.sample(arch, state).items()})
    child_selections = [{k: Selection.one_hot(len(arch[k]), c[k], bench.device) for k in names} for c in choices]
    state.generator = torch.Generator().manual_seed(DRAWS_SEED)
    counter = {"gdas": 0, "child": 0}

    def gdas_step():
        net.zero_grad(set_to_none=True)
        arch.zero_grad(set_to_none=True)
        selections = sampler.sample(arch, state)
        counter["gdas"] += 1
        F.cross_entropy(net(x, selections), y).backward()

    def child_step():
        net.zero_grad(set_to_none=True)
        selections = child_selections[counter["child"] % calls]
        counter["child"] += 1
        F.cross_entropy(net(x, selections), y).backward()

    def darts_step():
        net.zero_grad(set_to_none=True)
        arch.zero_grad(set_to_none=True)
        selections = {k: Selection(torch.softmax(arch[k], dim=-1), None) for k in names}
        F.cross_entropy(net(x, selections), y).backward()

    t_gdas = bench.time("gdas: gumbel single-path step", gdas_step)
    peak_gdas = bench.rows[-1][2]
    t_child = bench.time("gdas floor: same ops, plain one-hot (no gumbel)", child_step)
    peak_child = bench.rows[-1][2]
    t_darts = bench.time("gdas vs: DARTS softmax mixture step", darts_step)
    peak_darts = bench.rows[-1][2]
    if counter["gdas"] != counter["child"]:
        raise RuntimeError(f"GDAS and child steps ran {counter['gdas']} vs {counter['child']} times; "
                           "the replayed op sequence no longer matches")
    out = {
        "gdas_step_ms": t_gdas * 1e3,
        "gdas_child_step_ms": t_child * 1e3,
        "gdas_darts_step_ms": t_darts * 1e3,
        "gdas_over_child": t_gdas / t_child,
        "gdas_over_darts": t_gdas / t_darts,
    }
    if peak_gdas is not None and peak_darts:
        out.update({"gdas_peak_mib": peak_gdas, "gdas_child_peak_mib": peak_child, "darts_peak_mib": peak_darts,
                    "gdas_memory_over_darts": peak_gdas / peak_darts})
    return out
