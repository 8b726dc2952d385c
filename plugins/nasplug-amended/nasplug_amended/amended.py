"""Amended-DARTS's architecture step (Bi et al., 2019, Sec. 3.3-3.4).

The true gradient (Eq. 6) is g = g1 + g2 with
  g1 = grad_alpha L_val(w*, alpha),
  g2 = -grad2_{alpha,w} L_train . H^-1 . grad_w L_val,   H = grad2_w L_train.
H^-1 is out of reach, so Eq. 7 replaces it by eta * H:
  g2' = -eta * grad2_{alpha,w} L_train . H . grad_w L_val,
evaluated at the current weights (w^est in place of w*, as the paper says).

Computed here without any matrix: v = grad_w L_val (the same backward pass
that gives g1), u = H v by double backward, then the mixed product
grad_alpha(grad_w L_train . u) by a second double backward.  Both products
come from one graph of grad_w L_train.  ``hvp="finite"`` replaces the two
products by central differences (the third-party port's method).

H includes the weight decay the run's SGD applies (+ wd * I): the weights
converge to the optimum of L_train + wd/2 ||w||^2, so that is the Hessian
whose optimality condition Eq. 4-5 differentiate; the mixed term is
unaffected because wd/2 ||w||^2 does not depend on alpha.  Pass
``include_weight_decay=False`` for the bare loss Hessian.
"""

from __future__ import annotations

from nasplug.errors import check_choice
from nasplug import accuracy
from nasplug_amended.darts import ComposedGradientOptimizer
from nasplug_amended.second_order import (ArchStep, check_non_negative, grad, norm, val_loss,
                                          weight_decay_of)


class AmendedArchOptimizer(ComposedGradientOptimizer):
    """g = g1 + g2' (Eq. 7) with the amending coefficient ``eta`` (0.1 in the paper; 0 gives first-order DARTS)."""

    def __init__(self, eta: float = 0.1, hvp: str = "exact", epsilon: float = 0.01,
                 include_weight_decay: bool = True, lr: float | None = None, betas=None,
                 weight_decay: float | None = None):
        check_choice("amended", "hvp", hvp, ("exact", "finite"))
        super().__init__(arch_first=True, lr=lr, betas=betas, weight_decay=weight_decay)
        self.eta = check_non_negative("eta", eta, "amended")
        self.hvp = hvp
        self.epsilon = check_non_negative("epsilon", epsilon, "amended")
        self.include_weight_decay = bool(include_weight_decay)

    def hessian_product(self, run, step: ArchStep, train_batch, v):
        """u = (H + wd I) v and the amending product grad2_{alpha,w} L_train . u."""
        if self.hvp == "exact":
            g_w = step.weight_gradient_graph(train_batch)
            u = grad(g_w, step.params, grad_outputs=v, retain_graph=True)
        else:
            g_w = None
            u = step.hvp_finite(train_batch, v, self.epsilon)
        if self.include_weight_decay:
            u = [a + wd * b for a, b, wd in zip(u, v, weight_decay_of(run, step.params))]
        u = [t.detach() for t in u]
        if g_w is not None:
            mixed = grad(g_w, step.leaves, grad_outputs=u)
        else:
            mixed = step.mixed_finite(train_batch, u, self.epsilon)
        return u, mixed

    def gradient(self, run, train_batch, valid_batch):
        """g1 + g2' with respect to the selection weights, the ArchStep, and metrics."""
        step = ArchStep(run)
        loss, logits = val_loss(run, *valid_batch, step.fresh())
        metrics = {"arch_loss": loss.item(), "arch_acc": accuracy(logits.detach(), valid_batch[1])}
        if self.eta == 0.0:
            g1 = grad(loss, step.leaves)
            metrics.update(g1_norm=float(norm(g1)), g2_norm=0.0)
            return g1, metrics, step
        grads = grad(loss, step.leaves + step.params)
        g1, v = grads[: len(step.leaves)], grads[len(step.leaves):]
        _, mixed = self.hessian_product(run, step, train_batch, v)
        amending_term = [-self.eta * m for m in mixed]  # g2', Eq. 7
        g = [a + b for a, b in zip(g1, amending_term)]
        metrics.update(g1_norm=float(norm(g1)), g2_norm=float(norm(amending_term)))
        return g, metrics, step
