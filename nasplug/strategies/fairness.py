"""Strict fairness for any single-path sampler (FairNAS, Chu et al., ICCV 2021, Algorithm 1).

A single-path supernet trains one choice per decision per step, so after
``T`` steps each op of a five-way NAS-Bench-201 edge has had about ``T/5``
updates, at random: the parameter-free ops need none, the convolutions lag,
and the shared-weight ranking favours parameter-free cells (see
``plugins/nasplug-nb201/README.md``).  FairNAS removes the lag by
construction.  Each step draws, per decision, an independent random
permutation of its ``m`` choices; sub-step ``k`` runs the single path made of
the ``k``-th entry of every permutation; the ``m`` paths' gradients are
accumulated on one batch and the weights take ONE update (the paper's
Eq. 5 and Algorithm 1; the authors' code clips the accumulated gradient
before the step, as here).  Every choice of every decision is then trained
exactly once per step, at ``m`` forward/backward passes per step.

A space whose decisions have different numbers of choices uses ``m`` = the
largest; a decision with ``n < m`` choices fills its ``m`` slots with
successive permutations, so each of its choices runs ``floor(m/n)`` or
``ceil(m/n)`` times a step (exactly once when ``n == m``).  Spaces whose
decisions constrain each other (a space that overrides ``sample``, as the
DARTS space does for its two inputs per node) are refused: independent
permutations would build paths the space does not allow.

Only the weight step changes: an architecture step (GDAS's) still draws its
own sample from the sampler.  The permutations come from the run's
``state.generator``, which the checkpoint keeps, so a resumed search replays
them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from nasplug.divergence import restore, running_statistics
from nasplug.errors import ConfigError


def fair_paths(decisions: Sequence[Any], generator: torch.Generator) -> list[dict[str, int]]:
    """The ``m`` single paths of one strictly fair step: path ``k`` takes the ``k``-th entry of each permutation."""
    m = max(len(d.choices) for d in decisions)
    slots: dict[str, list[int]] = {}
    for decision in decisions:
        order: list[int] = []
        while len(order) < m:
            order.extend(int(i) for i in torch.randperm(len(decision.choices), generator=generator))
        slots[decision.name] = order[:m]
    return [{name: order[k] for name, order in slots.items()} for k in range(m)]


def check_independent_decisions(space: Any) -> None:
    """Refuse a space whose ``sample`` is its own: its decisions constrain each other (DARTS's node inputs)."""
    from nasplug.spaces.base import SearchSpace

    if type(space).sample is not SearchSpace.sample:
        raise ConfigError(f"sampler option strict_fairness needs a space whose decisions are independent; space "
                          f"{getattr(space, 'name', type(space).__name__)!r} constrains its choices "
                          "(it draws its own architectures); use a space such as nb201")


def accumulated_sgd_step(run, x: torch.Tensor, y: torch.Tensor,
                         paths: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """One SGD update of the supernet from the summed gradients of ``paths`` on one batch.

    The run's :meth:`~nasplug.search.run.SearchRun.sgd_step` for several
    paths: the same non-finite checks, gradient averaging over ranks and
    clipping, on the sum of the paths' gradients.  Reports the paths' mean
    loss and accuracy.
    """
    from nasplug.components import accuracy

    run.supernet.train()
    run.w_optimizer.zero_grad(set_to_none=True)
    statistics = running_statistics(run.supernet) if run.config.on_nonfinite == "skip" else None
    losses, accuracies = [], []
    for selections in paths:
        logits = run.supernet(x, selections)
        loss = F.cross_entropy(logits, y)
        losses.append(loss.item())
        accuracies.append(accuracy(logits.detach(), y))
        loss.backward()
    total = run.check_stop([sum(losses)])[0] / run.dist.world_size
    if not run.finite_or_skip("training loss", total):
        run.w_optimizer.zero_grad(set_to_none=True)
        restore(statistics)  # as in sgd_step: the skipped forwards must not leave NaN in BatchNorm's statistics
        return {}
    if not run.step_weights():
        return {}
    return {"train_loss": sum(losses) / len(losses), "train_acc": sum(accuracies) / len(accuracies)}


class StrictFairness:
    """The ``strict_fairness`` option of a single-path sampler (off by default).

    :meth:`weight_step` returns None when the option is off (the run then
    takes its usual one-path step from the sampler's draw) and draws
    nothing, so a search without the option is bit-identical to one from
    before it existed.
    """

    def __init__(self, strict_fairness: bool = False, owner: str = "sampler"):
        if not isinstance(strict_fairness, bool):
            raise ConfigError(f"{owner} option strict_fairness must be true or false, got {strict_fairness!r}")
        self.enabled = strict_fairness

    def weight_step(self, run, x: torch.Tensor, y: torch.Tensor) -> dict[str, float] | None:
        if not self.enabled:
            return None
        space = run.state.space
        check_independent_decisions(space)
        device = next(iter(run.arch.parameters())).device
        paths = fair_paths(space.decisions, run.state.generator)
        return accumulated_sgd_step(run, x, y, [space.selections(p, device) for p in paths])

    def options(self) -> dict[str, Any]:
        """What a checkpoint records (nothing when off, so checkpoints from before the option still resume)."""
        return {"strict_fairness": True} if self.enabled else {}
