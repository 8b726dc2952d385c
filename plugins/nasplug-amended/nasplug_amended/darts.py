"""DARTS's architecture steps (Liu et al., ICLR 2019, Sec. 2.3), first and second order.

Both update alpha before the weights (``arch_first``), as DARTS's search
loop does, with Adam on alpha (the kernel's :class:`GradientArchOptimizer`
supplies it and its checkpointed state).

* ``darts-1st``: g = grad_alpha L_val(w, alpha) at the current weights
  (the paper's g1; Amended-DARTS calls dropping g2 the first-order DARTS).
* ``darts-2nd``: the unrolled gradient (DARTS Eq. 7-8) at the virtual step
  w' = w - xi * (grad_w L_train(w) + momentum * buffer + wd * w):
  g = grad_alpha L_val(w', alpha) - xi * grad2_{alpha,w} L_train(w, alpha) v,
  v = grad_w' L_val(w', alpha).  The mixed product is DARTS's central finite
  difference with r = 0.01 / ||v|| (``hvp="finite"``, the reference code) or
  exact by double backward (``hvp="exact"``).  Amended-DARTS calls this
  identity-Hessian approximation g2''.
"""

from __future__ import annotations

import torch

from nasplug.errors import check_choice
from nasplug import accuracy
from nasplug.strategies.gradient import GradientArchOptimizer
from nasplug_amended.search_stage import search_weight_step
from nasplug_amended.second_order import ArchStep, grad, norm, sgd_settings, shifted_weights, val_loss


class DartsFirstOrder(GradientArchOptimizer):
    """First-order DARTS: the kernel's gradient step on alpha, taken before the weight step."""

    def __init__(self, lr: float | None = None, betas=None, weight_decay: float | None = None):
        super().__init__(arch_first=True, lr=lr, betas=betas, weight_decay=weight_decay)

    def weight_step(self, run, x, y):
        return search_weight_step(run, x, y)


class ComposedGradientOptimizer(GradientArchOptimizer):
    """An alpha step whose gradient is assembled term by term (``gradient``) and then
    pulled back through the mixture weights to alpha; the search-stage weight step."""

    data_parallel = ()
    data_parallel_refusal = (
        "its unrolled / Hessian-vector term multiplies gradients of whole batches (the virtual step's "
        "grad_w L_train and v = grad_w' L_val), so averaging per-shard results is not the global batch's "
        "step; a data-parallel version must all-reduce those inner gradients, which is not implemented")

    def weight_step(self, run, x, y):
        return search_weight_step(run, x, y)

    def gradient(self, run, train_batch, valid_batch):  # pragma: no cover - abstract
        raise NotImplementedError

    def arch_step(self, run, train_batch, valid_batch):
        self.adam.zero_grad(set_to_none=True)
        g, metrics, step = self.gradient(run, train_batch, valid_batch)
        step.backward_to_alpha(g)
        self.adam.step()
        return metrics


class DartsSecondOrder(ComposedGradientOptimizer):
    """Second-order DARTS (unrolled one SGD step)."""

    def __init__(self, hvp: str = "finite", epsilon: float = 0.01, lr: float | None = None, betas=None,
                 weight_decay: float | None = None):
        check_choice("darts-2nd", "hvp", hvp, ("finite", "exact"))
        super().__init__(arch_first=True, lr=lr, betas=betas, weight_decay=weight_decay)
        self.hvp, self.epsilon = hvp, float(epsilon)

    def virtual_step(self, run, step: ArchStep, train_batch) -> tuple[float, list[torch.Tensor]]:
        """xi and the displacement d with w' = w - xi * d, exactly one SGD step of the run's optimizer."""
        g_w = grad(step.loss("train", train_batch), step.params)
        settings = sgd_settings(run, step.params)
        xi = settings[0][0]
        moves = []
        for p, g, (lr, momentum, wd, nesterov, buf) in zip(step.params, g_w, settings):
            d = g + wd * p.detach()
            if momentum > 0 and buf is not None:
                new_buf = momentum * buf + d
                d = d + momentum * new_buf if nesterov else new_buf
            elif momentum > 0 and nesterov:
                d = d + momentum * d
            # per-group learning rates are folded in so that one xi scales all moves
            moves.append(d * (lr / xi) if xi > 0 else d)
        return xi, moves

    def gradient(self, run, train_batch, valid_batch) -> tuple[list[torch.Tensor], dict[str, float]]:
        """The unrolled gradient with respect to the selection weights, and metrics."""
        step = ArchStep(run)
        xi, moves = self.virtual_step(run, step, train_batch)
        with shifted_weights(step.params, moves, -xi):
            loss, logits = val_loss(run, *valid_batch, step.fresh())
            grads = grad(loss, step.leaves + step.params)
        g1, v = grads[: len(step.leaves)], grads[len(step.leaves):]
        if self.hvp == "exact":
            implicit = step.mixed_exact(train_batch, v)
        else:
            implicit = step.mixed_finite(train_batch, v, self.epsilon)
        g = [a - xi * b for a, b in zip(g1, implicit)]
        metrics = {"arch_loss": loss.item(), "arch_acc": accuracy(logits.detach(), valid_batch[1]),
                   "g1_norm": float(norm(g1)), "g2_norm": float(xi * norm(implicit))}
        return g, metrics, step
