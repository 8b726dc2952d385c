"""Training-free proxies: each is a function of (a network at initialisation, one batch) -> float.

Higher is better for every proxy, so a search can take the maximum of any
of them (a proxy whose paper ranks "lower is better", TE-NAS's NTK condition
number, returns the negative).  A proxy never changes the network it is
given: those that must (synflow takes |weights|) work on a copy.  Each
function's docstring cites the formula it implements; the references are
the papers' own code (BayesWatch/nas-without-training,
SamsungLabs/zero-cost-nas, VITA-Group/TENAS), re-written here.

Conventions shared with those implementations:

* the network is in training mode (batch statistics) unless the paper says
  otherwise (synflow: evaluation mode, so BN is the identity at init);
* "weights" are the weights of ``Conv2d`` and ``Linear`` layers, the layers
  Abdelfattah et al. prune and score (BN's scale and shift are left out);
* the loss is the cross-entropy of the batch's labels.
"""

from __future__ import annotations

import copy
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

Batch = tuple[torch.Tensor, torch.Tensor]
#: jacob_cov's eigenvalue offset (Mellor et al. v1, the ``k = 1e-5`` of their ``eval_score``)
JACOB_COV_K = 1e-5


def scored_layers(net: nn.Module) -> Iterator[nn.Module]:
    """The Conv2d and Linear layers (with a weight) a gradient proxy sums over."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and module.weight is not None:
            yield module


def _loss_backward(net: nn.Module, batch: Batch) -> torch.Tensor:
    x, y = batch
    net.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    return loss


def _finite(value: float) -> float:
    """A number the caller can rank: nan (a degenerate network) becomes -inf, the worst."""
    return float(value) if not np.isnan(value) else float("-inf")


# -- activation-pattern proxies ------------------------------------------------------------------------------

def relu_codes(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Binary activation codes c_i (one row per input): 1 where a ReLU's input is positive, over every ReLU."""
    codes: list[torch.Tensor] = []

    def hook(module, inputs, output):
        codes.append((inputs[0].detach().reshape(inputs[0].shape[0], -1) > 0))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for handle in handles:
            handle.remove()
    if not codes:
        return torch.zeros(x.shape[0], 0, dtype=torch.bool)
    return torch.cat(codes, dim=1)


def hamming_kernel(codes: torch.Tensor) -> torch.Tensor:
    """K_H[i, j] = N_A - d_H(c_i, c_j): the number of units on which inputs i and j agree (Mellor et al. eq. 2)."""
    c = codes.to(torch.float64)
    return c @ c.T + (1 - c) @ (1 - c).T


def naswot(net: nn.Module, batch: Batch) -> float:
    """NASWOT (Mellor et al., ICML 2021): log|K_H| of the batch's ReLU codes; inputs a network tells apart
    (codes far in Hamming distance) make K_H close to diagonal and the log-determinant large."""
    net.train()
    sign, logdet = torch.linalg.slogdet(hamming_kernel(relu_codes(net, batch[0])))
    return _finite(float(logdet)) if float(sign) > 0 else float("-inf")


def linear_regions(net: nn.Module, batch: Batch, samples: int = 1000, side: int = 4, units: int = 64,
                   seed: int = 0) -> float:
    """TE-NAS's expressivity term (Chen et al., ICLR 2021, sec. 3.2): the number of linear regions, counted as
    the distinct ReLU activation patterns of ``samples`` Gaussian ``side`` x ``side`` inputs.

    TE-NAS counts 1,000 Gaussian 3x3 inputs through a thin copy of the network (C=3): through a full-width
    one every input gets a pattern of its own and the count saturates at ``samples`` (checked: it does for
    every NB201 cell at C=8).  A proxy gets the network as built, so the thin network is imitated by
    reading the patterns on ``units`` ReLU units drawn at random (seeded) from all of them; ``side`` 4 is
    the smallest input the NB201 skeleton's two stride-2 pools accept."""
    net.train()
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((samples, batch[0].shape[1], side, side), generator=generator, dtype=batch[0].dtype)
    codes = relu_codes(net, x)
    if codes.shape[1] == 0:  # no nn.ReLU module to read (a model calling torch.relu): every input shares one pattern
        return 1.0
    if codes.shape[1] > units:
        codes = codes[:, torch.randperm(codes.shape[1], generator=generator)[:units]]
    return float(torch.unique(codes, dim=0).shape[0])


# -- gradient proxies (Abdelfattah et al., ICLR 2021) --------------------------------------------------------

def grad_norm(net: nn.Module, batch: Batch) -> float:
    """grad_norm: sum over layers of ||dL/dW||_2 (the Euclidean norm of each layer's weight gradient)."""
    net.train()
    _loss_backward(net, batch)
    return _finite(sum(float(m.weight.grad.norm()) for m in scored_layers(net) if m.weight.grad is not None))


def snip(net: nn.Module, batch: Batch) -> float:
    """SNIP (Lee et al., ICLR 2019): sum of |dL/dW * W| over the weights, the saliency of removing each."""
    net.train()
    _loss_backward(net, batch)
    return _finite(sum(float((m.weight.grad * m.weight.detach()).abs().sum())
                       for m in scored_layers(net) if m.weight.grad is not None))


def grasp(net: nn.Module, batch: Batch) -> float:
    """GraSP (Wang et al., ICLR 2020): sum of -W * (H g), g = dL/dW, H the Hessian; computed as the gradient
    of g_detached . dL/dW (a Hessian-vector product), so it costs two backward passes, not a Hessian."""
    net.train()
    weights = [m.weight for m in scored_layers(net)]
    x, y = batch
    net.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x), y)
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    pairs = [(w, g.detach()) for w, g in zip(weights, grads) if g is not None]
    loss = F.cross_entropy(net(x), y)
    grads = torch.autograd.grad(loss, [w for w, _ in pairs], create_graph=True)
    z = sum((g * g0).sum() for g, (_, g0) in zip(grads, pairs))
    hg = torch.autograd.grad(z, [w for w, _ in pairs])
    return _finite(sum(float((-w.detach() * h).sum()) for (w, _), h in zip(pairs, hg)))


def fisher(net: nn.Module, batch: Batch) -> float:
    """Fisher (Theis et al. 2018; Turner et al. 2020): per channel c of every conv/linear output a,
    0.5 * mean_n (sum_{h,w} a * dL/da)^2, summed over channels and layers."""
    net.train()
    acts: list[torch.Tensor] = []

    def hook(module, inputs, output):
        output.retain_grad()
        acts.append(output)

    handles = [m.register_forward_hook(hook) for m in scored_layers(net)]
    try:
        _loss_backward(net, batch)
    finally:
        for handle in handles:
            handle.remove()
    total = 0.0
    for a in acts:
        if a.grad is None:
            continue
        g_nc = (a.detach() * a.grad).sum(dim=tuple(range(2, a.dim()))) if a.dim() > 2 else a.detach() * a.grad
        total += float(0.5 * g_nc.pow(2).mean(0).sum())
    return _finite(total)


def input_jacobian(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """d(sum of the outputs)/dx per input, flattened: one row per input (Mellor et al. v1's J)."""
    x = x.detach().clone().requires_grad_(True)
    net.zero_grad(set_to_none=True)
    out = net(x)
    (jac,) = torch.autograd.grad(out.sum(), x)
    return jac.reshape(x.shape[0], -1)


def jacob_cov(net: nn.Module, batch: Batch) -> float:
    """jacob_cov (Mellor et al. 2020, v1): -sum_i [log(v_i + k) + 1/(v_i + k)] over the eigenvalues v_i of the
    correlation matrix of the input Jacobians, k = 1e-5; uncorrelated Jacobians (v_i near 1) score highest."""
    net.train()
    jac = input_jacobian(net, batch[0]).to(torch.float64)
    corr = torch.corrcoef(jac)
    if not torch.isfinite(corr).all():
        return float("-inf")
    v = torch.linalg.eigvalsh(corr).clamp_min(0.0)  # symmetric: real eigenvalues; round-off below 0 clipped
    return _finite(float(-(torch.log(v + JACOB_COV_K) + 1.0 / (v + JACOB_COV_K)).sum()))


def synflow(net: nn.Module, batch: Batch) -> float:
    """SynFlow (Tanaka et al., NeurIPS 2020; as a proxy, Abdelfattah et al.): R = 1^T (prod_l |W_l|) 1, the
    network's output summed for an all-ones input with every parameter replaced by its absolute value; the
    score is sum over weights of (dR/dW) * |W|.  Sign-free (no parameter's sign matters), data-free (only the
    input's shape is used), in float64 (the products overflow float32 in deep nets) and with BN in evaluation
    mode: at init its running mean 0 and variance 1 make it the identity, as the paper linearises the net."""
    work = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        for p in work.parameters():
            p.abs_()
    ones = torch.ones((1,) + tuple(batch[0].shape[1:]), dtype=torch.float64)
    work.zero_grad(set_to_none=True)
    work(ones).sum().backward()
    return _finite(sum(float((m.weight.grad * m.weight.detach()).sum())
                       for m in scored_layers(work) if m.weight.grad is not None))


# -- TE-NAS trainability ---------------------------------------------------------------------------------------

def ntk_matrix(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The empirical NTK Theta = J J^T, J[i] = d(sum of logits of input i)/d(weights) (TE-NAS's ``get_ntk_n``)."""
    weights = [m.weight for m in scored_layers(net)]
    net.zero_grad(set_to_none=True)
    out = net(x)
    rows = []
    for i in range(x.shape[0]):
        grads = torch.autograd.grad(out[i].sum(), weights, retain_graph=i + 1 < x.shape[0], allow_unused=True)
        rows.append(torch.cat([g.reshape(-1) if g is not None else torch.zeros(w.numel())
                               for g, w in zip(grads, weights)]))
    jac = torch.stack(rows).to(torch.float64)
    return jac @ jac.T


def ntk_condition(net: nn.Module, batch: Batch, samples: int = 32) -> float:
    """TE-NAS trainability (Chen et al., ICLR 2021, sec. 3.1): the NTK's condition number lambda_max/lambda_min
    on the first ``samples`` inputs; a small one trains fast, so the proxy is its negative."""
    net.train()
    eig = torch.linalg.eigvalsh(ntk_matrix(net, batch[0][:samples]))
    if eig[0] <= 0 or not torch.isfinite(eig).all():
        return float("-inf")
    return _finite(-float(eig[-1] / eig[0]))


# -- trivial baselines -------------------------------------------------------------------------------------------

def params(net: nn.Module, batch: Batch) -> float:
    """The number of trainable parameters (a baseline every proxy must beat to be worth its cost)."""
    from nasplug.metrics import count_parameters

    return float(count_parameters(net))


def flops(net: nn.Module, batch: Batch) -> float:
    """Multiply-accumulates of one forward pass of one input of the batch's shape (:func:`nasplug.metrics.count_macs`)."""
    from nasplug.metrics import count_macs

    return float(count_macs(net, batch[0][:1]))


#: name -> proxy; each is registered under this name by the plugin's ``nasplug_proxies`` hook
PROXIES: dict[str, Callable[[nn.Module, Batch], float]] = {
    "naswot": naswot, "synflow": synflow, "snip": snip, "grasp": grasp, "fisher": fisher,
    "jacob_cov": jacob_cov, "grad_norm": grad_norm, "ntk": ntk_condition, "linear_regions": linear_regions,
    "params": params, "flops": flops,
}
