"""The building blocks of second-order architecture gradients.

DARTS-2nd and Amended-DARTS both need products of second derivatives of the
training loss with vectors in weight space: the mixed term
``M u = grad_alpha(grad_w L_train . u)`` and (Amended) the Hessian-vector
product ``H v = grad_w(grad_w L_train . v)``.  This module computes both,
either exactly by double backward or by DARTS's central finite differences,
without ever materialising a matrix.

Everything is differentiated with respect to the *selection weights* (the
softmax of alpha for the mixture sampler), made leaves for the duration of
an architecture step; :meth:`ArchStep.backward_to_alpha` then pulls the
final gradient back to alpha through the sampler in one vector-Jacobian
product.  By the chain rule this equals differentiating with respect to
alpha directly, and it lets every loss evaluation rebuild its graph from the
same sample.
"""

from __future__ import annotations

import contextlib
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from nasplug.components import Selection
from nasplug.spaces.grouped_conv import second_order_graph

Tensors = list[torch.Tensor]


def weight_params(run) -> list[torch.nn.Parameter]:
    """The supernet weights omega, in a fixed order."""
    return [p for p in run.supernet.parameters() if p.requires_grad]


def dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def norm(a: Sequence[torch.Tensor]) -> torch.Tensor:
    return dot(a, a).sqrt()


def zeros_for_none(grads: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> Tensors:
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, like)]


def grad(outputs, inputs: Sequence[torch.Tensor], grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False) -> Tensors:
    """``torch.autograd.grad`` that returns zeros for inputs the output does not reach."""
    if isinstance(outputs, (list, tuple)):
        keep = [k for k, o in enumerate(outputs) if o.requires_grad]
        outputs = [outputs[k] for k in keep]
        if grad_outputs is not None:
            grad_outputs = [grad_outputs[k] for k in keep]
        if not outputs:
            return [torch.zeros_like(t) for t in inputs]
    grads = torch.autograd.grad(outputs, list(inputs), grad_outputs=grad_outputs, retain_graph=retain_graph,
                                create_graph=create_graph, allow_unused=True)
    return zeros_for_none(grads, inputs)


@contextlib.contextmanager
def shifted_weights(params: Sequence[torch.Tensor], direction: Sequence[torch.Tensor], scale: float):
    """Temporarily set w <- w + scale * direction; the old values are restored bit for bit."""
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, d in zip(params, direction):
            p.add_(d, alpha=float(scale))
    try:
        yield
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)


def train_loss(run, x: torch.Tensor, y: torch.Tensor, selections: Mapping[str, Selection]):
    """L_train (cross-entropy, plus the auxiliary tower's weighted loss when the space has one) and the logits."""
    run.supernet.train()
    logits = run.forward(x, selections)
    loss = F.cross_entropy(logits, y)
    aux_logits = getattr(run.supernet, "aux_logits", None)
    aux_weight = float(getattr(run.space, "auxiliary_weight", 0.0) or 0.0)
    if aux_logits is not None and aux_weight > 0:
        loss = loss + aux_weight * F.cross_entropy(aux_logits, y)
    return loss, logits


def val_loss(run, x: torch.Tensor, y: torch.Tensor, selections: Mapping[str, Selection]):
    """L_val (or -reward with a latency reward), and the logits."""
    run.supernet.train()
    logits = run.forward(x, selections)
    return run.arch_objective(logits, y, selections), logits


def sgd_settings(run, params: Sequence[torch.Tensor]):
    """Per-weight (lr, momentum, weight decay, nesterov, momentum buffer or None) of the run's SGD.

    Read from the optimizer itself, as DARTS's architect does, so the
    virtual step follows the cosine schedule and the momentum actually used.
    """
    group_of = {}
    for group in run.w_optimizer.param_groups:
        for p in group["params"]:
            group_of[id(p)] = group
    out = []
    for p in params:
        g = group_of[id(p)]
        buf = run.w_optimizer.state.get(p, {}).get("momentum_buffer")
        out.append((float(g["lr"]), float(g.get("momentum", 0.0)), float(g.get("weight_decay", 0.0)),
                    bool(g.get("nesterov", False)), buf))
    return out


def weight_decay_of(run, params: Sequence[torch.Tensor]) -> list[float]:
    """Per-parameter weight decay (the Hessian of wd/2 ||w||^2 is wd * I)."""
    return [s[2] for s in sgd_settings(run, params)]


class ArchStep:
    """One architecture step's sample, with leaf selection weights to differentiate against."""

    def __init__(self, run):
        self.run = run
        self.selections = run.sample()
        self.names = list(self.selections)
        self.leaves = [self.selections[k].weights.detach().requires_grad_(True) for k in self.names]
        self.params = weight_params(run)

    def fresh(self) -> dict[str, Selection]:
        """Selections for one more forward pass: same values, graph ending at the leaves."""
        return {k: Selection(leaf, self.selections[k].index, self.selections[k].carry_unselected)
                for k, leaf in zip(self.names, self.leaves)}

    def loss(self, kind: str, batch) -> torch.Tensor:
        x, y = batch
        if kind == "train":
            return train_loss(self.run, x, y, self.fresh())[0]
        return val_loss(self.run, x, y, self.fresh())[0]

    def weight_gradient_graph(self, batch) -> Tensors:
        """grad_w L_train with its graph kept, for exact products by double backward.

        The forward pass runs inside :func:`second_order_graph`, so the
        depthwise convs' double backward is three native products rather than
        PyTorch's loop over groups (1.1-1.2x on a whole amended step on CPU).
        """
        with second_order_graph():
            loss = self.loss("train", batch)
        return grad(loss, self.params, create_graph=True)

    def mixed_exact(self, batch, u: Sequence[torch.Tensor]) -> Tensors:
        """grad_alpha(grad_w L_train . u) by double backward."""
        return grad(self.weight_gradient_graph(batch), self.leaves, grad_outputs=u)

    def central_difference(self, batch, direction: Sequence[torch.Tensor], wrt: Sequence[torch.Tensor],
                           epsilon: float = 0.01) -> Tensors:
        """DARTS's central difference of grad_wrt L_train along a weight direction d:
        [grad L(w + r d) - grad L(w - r d)] / 2r with r = eps/||d||, never a second derivative."""
        r = epsilon / float(norm(direction).clamp_min(1e-12))
        with shifted_weights(self.params, direction, r):
            plus = grad(self.loss("train", batch), wrt)
        with shifted_weights(self.params, direction, -r):
            minus = grad(self.loss("train", batch), wrt)
        return [(p - m) / (2 * r) for p, m in zip(plus, minus)]

    def mixed_finite(self, batch, u: Sequence[torch.Tensor], epsilon: float = 0.01) -> Tensors:
        """grad_alpha(grad_w L_train . u) by central differences (the DARTS reference code's method)."""
        return self.central_difference(batch, u, self.leaves, epsilon)

    def hvp_finite(self, batch, v: Sequence[torch.Tensor], epsilon: float = 0.01) -> Tensors:
        """H v by central differences of grad_w L_train."""
        return self.central_difference(batch, v, self.params, epsilon)

    def backward_to_alpha(self, leaf_grads: Sequence[torch.Tensor]) -> None:
        """alpha.grad <- (d selection weights / d alpha)^T leaf_grads (one vector-Jacobian product)."""
        outputs = [self.selections[k].weights for k in self.names]
        pairs = [(o, g) for o, g in zip(outputs, leaf_grads) if o.requires_grad]
        if pairs:
            torch.autograd.backward([o for o, _ in pairs], grad_tensors=[g for _, g in pairs])


def check_non_negative(name: str, value, owner: str) -> float:
    import math

    from nasplug.errors import ConfigError

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{owner} option {name} must be a finite number >= 0, got {value!r}")
    return float(value)

