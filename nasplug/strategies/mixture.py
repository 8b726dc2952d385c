"""DARTS's continuous relaxation (Liu et al., 2019, Eq. 2) as a sampler.

Every edge outputs sum_o softmax(alpha)_o * o(x): the selection holds the
softmax weights and no index, so :func:`nasplug.components.apply_selection`
runs every op.  Nothing is random, so a mixture step is a deterministic
function of alpha and the weights (which is what second-order architecture
gradients differentiate).  The kernel keeps the class so that first-order
tests and benchmarks share one definition; nasplug-amended registers it as
the ``mixture`` sampler.
"""

from __future__ import annotations

from nasplug.components import ArchParameters, Sampler, Selection


class MixtureSampler(Sampler):
    """softmax(alpha) per decision, with gradient to alpha."""

    differentiable = True
    single_path = False

    def sample(self, arch: ArchParameters, state) -> dict[str, Selection]:
        return {name: Selection(arch[name].softmax(dim=-1)) for name in arch.names()}
