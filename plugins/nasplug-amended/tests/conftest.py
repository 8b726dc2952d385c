"""Shared fixtures: tiny runs small enough to materialise Hessians."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from nasplug.components import Selection
from nasplug.search.run import SearchRun, merged_config

TINY_S1 = {"C": 1, "layers": 1, "steps": 2, "stem_multiplier": 1,
           "ops": ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3"]}


def make_run(strategy="amended", space="darts-s1", space_options=None, batch_size=16, double=False, **config):
    """A search run on digits with nothing written to disk."""
    cfg = merged_config({"space": space, "strategy": strategy, "data": "digits",
                         "space_options": dict(TINY_S1 if space_options is None else space_options),
                         "batch_size": batch_size, "epochs": 1, **config})
    run = SearchRun(cfg, write_files=False)
    if double:
        run.supernet.double()
        run.arch.double()
    return run


def batches(run, double=False):
    tb = next(run.batches(run.train_loader))
    vb = next(run.batches(run.valid_loader))
    if double:
        tb, vb = (tb[0].double(), tb[1]), (vb[0].double(), vb[1])
    return tb, vb


class Explicit:
    """L(alpha, w) as a function of flat vectors, for materialising H and the mixed matrix."""

    def __init__(self, run):
        self.run = run
        self.names = [n for n, p in run.supernet.named_parameters() if p.requires_grad]
        self.params = [p for n, p in run.supernet.named_parameters() if p.requires_grad]
        self.shapes = [p.shape for p in self.params]
        self.decisions = run.arch.names()

    def w0(self):
        return torch.cat([p.detach().flatten() for p in self.params])

    def a0(self):
        return torch.cat([self.run.arch[k].detach().flatten() for k in self.decisions])

    def unflat_w(self, w):
        out, k = {}, 0
        for n, s in zip(self.names, self.shapes):
            size = s.numel()
            out[n] = w[k:k + size].view(s)
            k += size
        return out

    def selections(self, a):
        out, k = {}, 0
        for name in self.decisions:
            n = self.run.arch[name].numel()
            out[name] = Selection(torch.softmax(a[k:k + n], -1))
            k += n
        return out

    def loss(self, a, w, batch, kind="train"):
        x, y = batch
        self.run.supernet.train()
        logits = functional_call(self.run.supernet, self.unflat_w(w), (x, self.selections(a)))
        return F.cross_entropy(logits, y)

    def hessian(self, a, w, batch):
        return torch.autograd.functional.hessian(lambda ww: self.loss(a, ww, batch), w, vectorize=True)

    def mixed(self, a, w, batch):
        """grad2_{alpha,w} L: (|alpha|, |w|), row i = d/d alpha_i of grad_w L."""
        def grad_w(aa):
            ww = w.detach().requires_grad_(True)
            return torch.autograd.grad(self.loss(aa, ww, batch), ww, create_graph=True)[0]
        return torch.autograd.functional.jacobian(grad_w, a, vectorize=True).T

    def grad_w(self, a, w, batch, kind="val"):
        ww = w.detach().requires_grad_(True)
        return torch.autograd.grad(self.loss(a, ww, batch, kind), ww)[0]

    def grad_a(self, a, w, batch):
        aa = a.detach().requires_grad_(True)
        return torch.autograd.grad(self.loss(aa, w, batch), aa)[0]


@pytest.fixture
def tools():
    """make_run, batches and Explicit, for tests (conftest modules cannot be imported under importlib mode)."""
    return make_run, batches, Explicit
