"""The posterior draws of Eq. 15/16 on quadratic losses, whose Gaussian posteriors are known exactly.

For U(x) = 1/2 (x - mu)^T A (x - mu) the conditional posterior at temperature
T is N(mu, T A^{-1}); with the exact inverse Hessian, one draw at eta = 1 is
that Gaussian, the mean is the Newton step to mu, and the damped chain keeps
it as its stationary law.
"""

from __future__ import annotations

import math

import pytest
import torch

from nasplug_gibbs.bfgs import BFGSInverse
from nasplug_gibbs.gaussian_step import diagonal_step, full_step, noise_variance_factor


def quadratic(d: int, seed: int, cond: float = 10.0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    lam = torch.logspace(0, math.log10(cond), d, dtype=torch.float64)
    A = (Q * lam) @ Q.T
    mu = torch.randn(d, generator=g, dtype=torch.float64)
    return 0.5 * (A + A.T), mu


def check_gaussian(samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, n_eff: float,
                   cov_tol: float = 0.1) -> None:
    """Sample mean within 5 standard errors per coordinate; covariance within cov_tol (relative Frobenius)."""
    se = (torch.diagonal(cov) / n_eff).sqrt()
    assert ((samples.mean(0) - mean).abs() <= 5 * se).all(), (samples.mean(0), mean)
    emp = torch.cov(samples.T)
    rel = float(torch.linalg.norm(emp - cov) / torch.linalg.norm(cov))
    assert rel < cov_tol, rel


def test_one_draw_is_the_laplace_posterior_of_eq16():
    A, mu = quadratic(4, seed=0)
    lam, V = torch.linalg.eigh(torch.linalg.inv(A))
    x = torch.tensor([3.0, -2.0, 0.5, 1.0], dtype=torch.float64)
    g = A @ (x - mu)
    gen = torch.Generator().manual_seed(1)
    draws = torch.stack([full_step(x, g, lam, V, eta=1.0, temperature=1.0, generator=gen) for _ in range(6000)])
    check_gaussian(draws, mu, torch.linalg.inv(A), n_eff=6000)


def test_mean_without_sampling_is_a_newton_step():
    A, mu = quadratic(5, seed=2, cond=100.0)
    lam, V = torch.linalg.eigh(torch.linalg.inv(A))
    x = torch.randn(5, dtype=torch.float64)
    g = A @ (x - mu)
    newton = x - torch.linalg.solve(A, g)
    out = full_step(x, g, lam, V, eta=1.0, temperature=1.0, sample=False)
    torch.testing.assert_close(out, newton)
    torch.testing.assert_close(out, mu)
    # a damped mean step goes the fraction eta of the way
    torch.testing.assert_close(full_step(x, g, lam, V, eta=0.3, temperature=1.0, sample=False),
                               x + 0.3 * (mu - x))


@pytest.mark.parametrize("policy", ["skip", "damp"])
def test_damped_chain_with_online_bfgs_samples_the_tempered_posterior(policy):
    """The full alpha sampler: BFGS learns A^{-1} from the chain's own secant pairs, the chain keeps N(mu, T A^-1)."""
    d, T, eta = 3, 0.5, 0.5
    A, mu = quadratic(d, seed=4, cond=8.0)
    bfgs = BFGSInverse(d, h0=1.0, h_min=1e-6, h_max=1e3, policy=policy)
    gen = torch.Generator().manual_seed(5)
    x = torch.zeros(d, dtype=torch.float64)
    prev = None
    samples = []
    for step in range(5500):
        g = A @ (x - mu)
        if prev is not None:
            bfgs.update(x - prev[0], g - prev[1])
        prev = (x, g)
        lam, V = bfgs.eig()
        x = full_step(x, g, lam, V, eta=eta, temperature=T, generator=gen)
        if step >= 500:
            samples.append(x)
    torch.testing.assert_close(bfgs.H, torch.linalg.inv(A), rtol=1e-3, atol=1e-3)
    rho = 1 - eta  # AR(1) coefficient of the chain on a quadratic
    check_gaussian(torch.stack(samples), mu, T * torch.linalg.inv(A), n_eff=len(samples) * (1 - rho) / (1 + rho),
                   cov_tol=0.15)


def test_diagonal_draws_match_eq15():
    D = torch.tensor([0.5, 0.1, 0.02, 1.0], dtype=torch.float64)
    x = torch.tensor([1.0, 2.0, -1.0, 0.0], dtype=torch.float64)
    g = torch.tensor([0.3, -1.0, 4.0, 0.2], dtype=torch.float64)
    eta, T = 0.4, 0.25
    gen = torch.Generator().manual_seed(7)
    draws = torch.stack([diagonal_step(x, g, D, eta, T, generator=gen) for _ in range(6000)])
    check_gaussian(draws, x - eta * D * g, torch.diag(T * eta * (2 - eta) * D), n_eff=6000)
    torch.testing.assert_close(diagonal_step(x, g, D, eta, T, sample=False), x - eta * D * g)


@pytest.mark.parametrize("kind", ["full", "diagonal"])
def test_sampling_clipping_bounds_every_deviation(kind):
    d, clip, eta, T = 6, 1.5, 0.7, 2.0
    A, _ = quadratic(d, seed=8)
    P = torch.linalg.inv(A) if kind == "full" else torch.diag(torch.linspace(0.1, 1.0, d, dtype=torch.float64))
    lam, V = torch.linalg.eigh(P)
    x = torch.zeros(d, dtype=torch.float64)
    g = torch.ones(d, dtype=torch.float64)
    std = (T * noise_variance_factor(eta) * torch.diagonal(P)).sqrt()
    gen = torch.Generator().manual_seed(9)
    devs = []
    for _ in range(3000):
        if kind == "full":
            out = full_step(x, g, lam, V, eta, T, clip=clip, generator=gen)
            mean = full_step(x, g, lam, V, eta, T, sample=False)
        else:
            out = diagonal_step(x, g, torch.diagonal(P), eta, T, clip=clip, generator=gen)
            mean = diagonal_step(x, g, torch.diagonal(P), eta, T, sample=False)
        devs.append((out - mean) / std)
    devs = torch.stack(devs)
    assert devs.abs().max() <= clip + 1e-9
    assert devs.abs().max() > 0.95 * clip  # the bound is reached, so it really acts


@pytest.mark.parametrize("eta", [0.0, 2.0, -0.1, 2.5])
def test_step_scale_outside_the_stable_range_is_refused(eta):
    with pytest.raises(ValueError, match="eta"):
        noise_variance_factor(eta)
