"""The TuNAS policy's sampler: one independent categorical per decision, plus op and filter warmup.

pi is a collection of independent multinomials, one per decision
(Sec. 4): each step draws ``a_d ~ softmax(logits_d)`` and runs the single
path of the draw (a one-hot :class:`~nasplug.components.Selection` with its
index set, so only that choice is computed).

Warmup (Sec. 4.3) changes what the *shared weights* see, never what the
policy drew: with probability ``p`` (1 falling linearly to 0 over the first
``warmup_fraction`` of the search, :func:`~nasplug.strategies.op_warmup.warmup_probability`)
an op decision becomes the uniform mixture (every branch runs and their
outputs are averaged) and a filter decision becomes its largest choice
(every filter enabled).  The draw itself stays on the selection as
``sampled`` so that REINFORCE scores and credits the architecture the
policy actually proposed.
"""

from __future__ import annotations

import torch

from nasplug.components import Sampler, Selection, drawn_choice
from nasplug.strategies.op_warmup import SampledSelection, check_fraction, filter_decisions, uniform_mixture, \
    warmup_probability

#: the policy's selection: the kernel's selection that remembers its draw
PolicySelection = SampledSelection


def policy_choice(selection: Selection) -> int:
    """The choice the policy drew for one decision: ``sampled`` if warmup replaced it, else ``index``."""
    choice = drawn_choice(selection)
    if choice is None:
        raise ValueError("a mixture selection without a recorded draw has no single choice to score")
    return choice


class CategoricalSampler(Sampler):
    """Independent categorical draws from softmax(logits); single path; optional op/filter warmup.

    ``op_warmup`` / ``filter_warmup`` switch the two techniques of Sec. 4.3
    on or off; ``warmup_fraction`` is the part of the search over which their
    probability falls from 1 to 0 (the paper's 25%; it must end before the
    controller's learning-rate delay ends, which it does with both at 0.25).
    """

    differentiable = False
    # warmup widens what the weights see, but every selection records the policy's one draw (``sampled``)
    single_path = True

    def __init__(self, op_warmup: bool = True, filter_warmup: bool = True, warmup_fraction: float = 0.25):
        self.op_warmup = bool(op_warmup)
        self.filter_warmup = bool(filter_warmup)
        self.warmup_fraction = check_fraction("warmup_fraction", warmup_fraction)

    def warmup_p(self, state) -> float:
        return warmup_probability(state.progress, self.warmup_fraction)

    def sample(self, arch, state) -> dict[str, Selection]:
        generator = state.generator
        p = self.warmup_p(state) if (self.op_warmup or self.filter_warmup) else 0.0
        filters = filter_decisions(getattr(state, "space", None))
        out: dict[str, Selection] = {}
        for name in arch.names():
            logits = arch[name].detach()
            probs = torch.softmax(logits.float().cpu(), dim=-1)
            n = probs.numel()
            index = int(torch.multinomial(probs, 1, generator=generator))
            weights = torch.zeros(n, device=logits.device)
            if p > 0.0:
                # one Bernoulli(p) per decision, drawn for every decision so the
                # random stream does not depend on which technique is enabled
                warm = float(torch.rand((), generator=generator)) < p
                if warm and name in filters and self.filter_warmup:
                    largest = int(filters[name])
                    weights[largest] = 1.0
                    out[name] = PolicySelection(weights, largest, False, index)
                    continue
                if warm and name not in filters and self.op_warmup and n > 1:
                    out[name] = uniform_mixture(weights, index)
                    continue
            weights[index] = 1.0
            out[name] = PolicySelection(weights, index, False, index)
        return out

    def metrics(self, state) -> dict[str, float]:
        return {"warmup_p": self.warmup_p(state) if (self.op_warmup or self.filter_warmup) else 0.0}
