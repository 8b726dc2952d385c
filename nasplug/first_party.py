"""Which first-party package provides which component name, for errors about names that are not installed.

``nasplug search --arch-optimizer darts-2nd`` without nasplug-amended should
say where ``darts-2nd`` lives instead of only listing what is installed.  The
table is data; a test checks it against what each installed first-party
plugin really registers, so it cannot drift.
"""

from __future__ import annotations

#: distribution -> kind -> names it registers
FIRST_PARTY: dict[str, dict[str, tuple[str, ...]]] = {
    "nasplug-amended": {
        "arch_optimizer": ("amended", "darts-1st", "darts-2nd"),
        "space": ("darts-s1", "darts-s2"),
        "strategy": ("amended", "darts", "darts-2nd"),
    },
    "nasplug-gdas": {
        "genotype": ("gdas", "gdas_frc"),
        "sampler": ("gumbel",),
        "space": ("darts-frc", "darts-rnn"),
        "strategy": ("gdas",),
    },
    "nasplug-gibbs": {
        "arch_optimizer": ("gibbs", "gibbs-1st", "gibbs-1st-mean", "gibbs-alpha-mean", "gibbs-mean"),
        "strategy": ("gibbs", "gibbs-1st", "gibbs-1st-mean", "gibbs-alpha-mean", "gibbs-mean"),
    },
    "nasplug-nb201": {
        "arch_optimizer": ("rea",),
        "benchmark": ("nb201",),
        "latency_model": ("nb201-table",),
    },
    "nasplug-tunas": {
        "arch_optimizer": ("reinforce",),
        "latency_model": ("lookup", "table-file"),
        "reward": ("absolute", "mnas-hard", "mnas-soft"),
        "sampler": ("categorical",),
        "space": ("mobilenetv3-like", "proxylessnas", "proxylessnas-enlarged"),
        "strategy": ("tunas", "tunas-accuracy"),
    },
    "nasplug-zerocost": {
        "arch_optimizer": ("proxy-quality", "proxy-screen", "proxy-warmstart", "zerocost"),
        "proxy": ("fisher", "flops", "grad_norm", "grasp", "jacob_cov", "linear_regions", "naswot", "ntk",
                  "params", "snip", "synflow"),
        "strategy": ("naswot", "tenas", "zerocost"),
    },
}


def providers_of(kind: str, name: str) -> list[str]:
    """First-party distributions that register ``name`` as a ``kind``."""
    return sorted(dist for dist, kinds in FIRST_PARTY.items() if name in kinds.get(kind, ()))
