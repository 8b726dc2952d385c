"""The weight step of DARTS-style search, with the paper's search-stage regularisers.

Sec. 3.5 / 4.1.2 of Bi et al. move the retraining regularisers into the
search so that search and evaluation see the same network: Cutout on the
training images, drop-path on the op branches, and an auxiliary tower.  The
spaces of this plugin carry the switches (``cutout``, ``drop_path``,
``auxiliary_weight``); this weight step applies them.  With every switch off
it is exactly the kernel's step (:meth:`SearchRun.sgd_step`).

Drop-path and Cutout are used in the weight step only: the architecture
step's losses stay deterministic functions of (w, alpha), which is what its
second derivatives and finite differences assume.
"""

from __future__ import annotations

import contextlib

import torch

from nasplug import accuracy
from nasplug_amended.second_order import train_loss


def cutout(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one ``length`` x ``length`` square per image, centred uniformly (DeVries & Taylor, 2017).

    As in the reference transform the square may extend past the border and
    is clipped there.  Draws from ``generator`` (the search's checkpointed one).
    """
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (n,), generator=generator).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top = (cy - length // 2).view(n, 1, 1)
    left = (cx - length // 2).view(n, 1, 1)
    inside = (rows >= top) & (rows < top + length) & (cols >= left) & (cols < left + length)
    return x * (~inside).unsqueeze(1).to(x.dtype)


@contextlib.contextmanager
def drop_path_active(supernet, prob: float):
    """Let the supernet drop op branches with ``prob`` for the duration (weight steps only)."""
    if not hasattr(supernet, "drop_path_prob"):
        yield
        return
    old = supernet.drop_path_prob
    supernet.drop_path_prob = float(prob)
    try:
        yield
    finally:
        supernet.drop_path_prob = old


def regularised(space) -> bool:
    return bool(getattr(space, "cutout", 0) or getattr(space, "drop_path", 0.0)
                or getattr(space, "auxiliary_weight", 0.0))


def search_weight_step(run, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """One SGD step on the training batch with the mixture's weights held fixed."""
    selections = {k: s.detach() for k, s in run.sample().items()}
    space = run.space
    if not regularised(space):
        return run.sgd_step(x, y, selections)
    if space.cutout:
        x = cutout(x, space.cutout, run.state.generator)
    # DARTS's schedule: drop_path_prob * epoch / epochs, here per step
    prob = space.drop_path * run.state.progress
    run.w_optimizer.zero_grad(set_to_none=True)
    with drop_path_active(run.supernet, prob):
        loss, logits = train_loss(run, x, y, selections)
    loss.backward()
    run.average_gradients(run.supernet.parameters())
    if run.config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.supernet.parameters(), run.config.grad_clip)
    run.w_optimizer.step()
    return {"train_loss": loss.item(), "train_acc": accuracy(logits.detach(), y)}
