"""Epsilon-greedy path sampling: exploit the current argmax, explore uniformly with probability epsilon."""

from __future__ import annotations

import torch

from nasplug import ConfigError, Sampler, Selection


class EpsilonGreedySampler(Sampler):
    """With probability ``epsilon`` a uniformly random choice per decision, else the current argmax."""

    # declared capabilities, checked before a run is built: no gradient reaches alpha, one choice per decision
    differentiable = False
    single_path = True

    def __init__(self, epsilon: float = 0.2):
        if not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"epsilon-greedy epsilon must be in [0, 1], got {epsilon!r}")
        self.epsilon = float(epsilon)

    def sample(self, arch, state):
        out = {}
        for name, logits in arch.logits.items():
            n = logits.numel()
            if float(torch.rand((), generator=state.generator)) < self.epsilon:
                index = int(torch.randint(n, (1,), generator=state.generator))
            else:
                index = int(torch.argmax(logits.detach()))
            out[name] = Selection.one_hot(n, index, logits.device)
        return out
