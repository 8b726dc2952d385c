"""What a supernet's module tree becomes in a child: every choice module replaced by its chosen plain module.

Its own module so that both the space (``build_child``) and the latency units
(:mod:`nasplug.nn.units`, which freeze one unit at a time) use the one rule.
"""

from __future__ import annotations

from typing import Mapping

from torch import nn

from nasplug.nn.mutable import Mutable


def freeze_tree(module: nn.Module, chosen: Mapping[str, int], inherit: bool) -> nn.Module:
    """``module`` with every choice module replaced by its chosen plain module (in place where it can be)."""
    if isinstance(module, Mutable):
        values = {role: choice.values[chosen[module.decision_name(role)]] for role, choice in module.value_choices()}
        return freeze_tree(module.freeze(values, inherit), chosen, inherit)
    for name, child in list(module.named_children()):
        frozen = freeze_tree(child, chosen, inherit)
        if frozen is not child:
            setattr(module, name, frozen)
    return module
