"""Curvature pairs from averaged iterates (Byrd et al. 2016) against the consecutive-step pairs they replace."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasplug_gibbs.diag_lbfgs import DiagonalLBFGS
from nasplug_gibbs.secant import IterateAverager, averaged_pair, evaluated_at


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5), st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=30))
def test_averager_returns_the_displacement_of_consecutive_window_means(every, values):
    averager = IterateAverager(every)
    outputs = [averager.add(torch.tensor([v], dtype=torch.float64)) for v in values]
    means = [sum(values[k:k + every]) / every for k in range(0, len(values) - every + 1, every)]
    closing = [k for k in range(len(values)) if (k + 1) % every == 0]
    for k, out in enumerate(outputs):
        window = closing.index(k) if k in closing else None
        if window is None or window == 0:
            assert out is None
        else:
            assert abs(float(out) - (means[window] - means[window - 1])) < 1e-9


def noisy_quadratic(curvatures: torch.Tensor, noise: float, seed: int = 0):
    """Minibatch gradients of 0.5 x^T A x: the exact gradient plus a noise vector fixed per batch."""
    generator = torch.Generator().manual_seed(seed)

    def batch():
        xi = noise * torch.randn(len(curvatures), generator=generator, dtype=torch.float64)
        return lambda x: curvatures * x + xi
    return batch


def run_pairs(kind: str, steps: int = 400, lr: float = 0.05):
    curvatures = torch.linspace(1.0, 4.0, 50, dtype=torch.float64)
    next_batch = noisy_quadratic(curvatures, noise=1.0)
    lbfgs = DiagonalLBFGS(memory=5, d0=1.0, d_min=1e-3, d_max=10.0)
    windows = IterateAverager(10)
    x = torch.full((50,), 5.0, dtype=torch.float64)
    previous = None
    for _ in range(steps):
        gradient = next_batch()
        g = gradient(x)
        if kind == "consecutive":
            if previous is not None:
                lbfgs.update(x - previous[0], g - previous[1])
            previous = (x.clone(), g.clone())
        else:
            pair = averaged_pair(windows, x, g, gradient, decay=0.0)
            if pair is not None:
                lbfgs.update(*pair)
        x = x - lr * g
    return lbfgs.diagonal(x), 1.0 / curvatures


def test_averaged_pairs_find_the_curvature_that_consecutive_pairs_lose_in_noise():
    """The measured failure on digits, reproduced on a quadratic: noisy consecutive pairs drive the L-BFGS
    diagonal to its floor; same-batch pairs along averaged iterates keep it within the true inverse curvatures."""
    averaged, inverse = run_pairs("averaged")
    assert float(averaged.min()) >= float(inverse.min()) * 0.9
    assert float(averaged.max()) <= float(inverse.max()) * 1.1
    consecutive, _ = run_pairs("consecutive")
    assert float(consecutive.mean()) < 0.5 * float(inverse.min())


def test_evaluated_at_restores_weights_and_batch_norm_statistics_bit_for_bit():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    params = list(net.parameters())
    before = [t.detach().clone() for t in params] + [b.clone() for b in net.buffers()]
    point = torch.randn(sum(p.numel() for p in params))
    with evaluated_at(params, point, net):
        assert torch.equal(torch.cat([p.reshape(-1) for p in params]), point)
        net(torch.randn(8, 3)).sum().backward()  # a training-mode forward moves the running statistics
    after = [t.detach() for t in params] + list(net.buffers())
    assert all(torch.equal(a, b) for a, b in zip(before, after))
