"""The quasi-Newton estimates: BFGS for alpha, the diagonal of L-BFGS for omega."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasplug_gibbs.bfgs import BFGSInverse
from nasplug_gibbs.diag_lbfgs import DiagonalLBFGS

floats = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def pair_sequences(draw):
    d = draw(st.integers(2, 6))
    n = draw(st.integers(1, 12))
    pairs = []
    for _ in range(n):
        s = torch.tensor(draw(st.lists(floats, min_size=d, max_size=d)), dtype=torch.float64)
        y = torch.tensor(draw(st.lists(floats, min_size=d, max_size=d)), dtype=torch.float64)
        pairs.append((s, y))
    return d, pairs


@settings(max_examples=40, deadline=None)
@given(pair_sequences(), st.sampled_from(["skip", "damp"]))
def test_bfgs_inverse_stays_symmetric_positive_definite(case, policy):
    """Any gradient sequence, negative curvature and zero steps included, leaves H SPD within its bounds."""
    d, pairs = case
    bfgs = BFGSInverse(d, h0=1.0, h_min=1e-4, h_max=10.0, policy=policy)
    for s, y in pairs:
        bfgs.update(s, y)
        H = bfgs.H
        assert torch.equal(H, H.T)
        torch.linalg.cholesky(H)  # raises unless positive definite
        lam, V = bfgs.eig()
        assert lam.min() >= 1e-4 and lam.max() <= 10.0
        torch.testing.assert_close((V * lam) @ V.T, H)


def test_bfgs_update_satisfies_the_secant_equation():
    g = torch.Generator().manual_seed(0)
    bfgs = BFGSInverse(5, h0=1.0, h_min=1e-8, h_max=1e8, policy="skip")
    A = torch.randn(5, 5, generator=g, dtype=torch.float64)
    A = A @ A.T + torch.eye(5, dtype=torch.float64)
    for _ in range(3):
        s = torch.randn(5, generator=g, dtype=torch.float64)
        y = A @ s
        assert bfgs.update(s, y)
        torch.testing.assert_close(bfgs.H @ y, s)  # H_{k+1} y_k = s_k (N&W Eq. 6.17)


def test_bfgs_policies_on_negative_curvature():
    s = torch.tensor([1.0, 0.0], dtype=torch.float64)
    y = torch.tensor([-1.0, 0.5], dtype=torch.float64)  # s.y < 0
    skip = BFGSInverse(2, policy="skip", h_max=10.0)
    assert not skip.update(s, y) and skip.skipped == 1
    torch.testing.assert_close(skip.H, torch.eye(2, dtype=torch.float64))
    damp = BFGSInverse(2, policy="damp", h_min=1e-6, h_max=10.0)
    assert damp.update(s, y) and damp.damped == 1
    Hy = torch.eye(2, dtype=torch.float64) @ y
    theta = 0.8 * float(y @ Hy) / (float(y @ Hy) - float(s @ y))
    s_damped = theta * s + (1 - theta) * Hy
    assert float(s_damped @ y) == pytest.approx(0.2 * float(y @ Hy))  # Powell's bound, met with equality
    torch.testing.assert_close(damp.H @ y, s_damped)


def test_bfgs_state_round_trip():
    bfgs = BFGSInverse(3, h_max=5.0)
    bfgs.update(torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.5, 1.0, 0.1]))
    other = BFGSInverse(3, h_max=5.0)
    other.load_state_dict(bfgs.state_dict())
    assert torch.equal(other.H, bfgs.H) and all(torch.equal(a, b) for a, b in zip(other.eig(), bfgs.eig()))


def dense_lbfgs(pairs, gamma, n):
    """The L-BFGS inverse matrix by its defining recursion H <- V^T H V + rho s s^T from gamma I."""
    H = gamma * torch.eye(n, dtype=torch.float64)
    for s, y in pairs:
        rho = 1.0 / float(s @ y)
        V = torch.eye(n, dtype=torch.float64) - rho * torch.outer(y, s)
        H = V.T @ H @ V + rho * torch.outer(s, s)
    return H


def test_diagonal_is_the_diagonal_of_the_lbfgs_matrix():
    g = torch.Generator().manual_seed(1)
    n, memory = 8, 3
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    A = A @ A.T / n + 0.5 * torch.eye(n, dtype=torch.float64)
    lbfgs = DiagonalLBFGS(memory, d0=1.0, d_min=1e-9, d_max=1e9)
    pairs = []
    for _ in range(5):
        s = torch.randn(n, generator=g, dtype=torch.float64)
        pairs.append((s, A @ s))
        assert lbfgs.update(*pairs[-1])
    kept = pairs[-memory:]
    s, y = kept[-1]
    expected = torch.diagonal(dense_lbfgs(kept, float(s @ y) / float(y @ y), n))
    torch.testing.assert_close(lbfgs.diagonal(s), expected)


@settings(max_examples=40, deadline=None)
@given(pair_sequences(), st.sampled_from(["skip", "damp"]), st.integers(1, 4))
def test_diagonal_lbfgs_stays_positive_and_bounded(case, policy, memory):
    d, pairs = case
    lbfgs = DiagonalLBFGS(memory, d0=1.0, d_min=1e-3, d_max=2.0, policy=policy)
    like = torch.zeros(d, dtype=torch.float64)
    for s, y in pairs:
        lbfgs.update(s, y)
        diag = lbfgs.diagonal(like)
        assert diag.shape == (d,) and torch.isfinite(diag).all()
        assert diag.min() >= 1e-3 and diag.max() <= 2.0
    assert all(float(s @ y) > 0 for s, y in zip(lbfgs.S, lbfgs.Y))  # only curvature-positive pairs kept
    assert len(lbfgs.S) <= memory


def test_diagonal_lbfgs_before_any_pair_is_the_sgd_scale():
    lbfgs = DiagonalLBFGS(3, d0=0.5, d_min=0.1, d_max=0.5)
    torch.testing.assert_close(lbfgs.diagonal(torch.zeros(4)), torch.full((4,), 0.5))
    with pytest.raises(ValueError, match="d_min"):
        DiagonalLBFGS(3, d0=2.0, d_min=0.1, d_max=1.0)


def test_bfgs_skips_a_pair_too_small_to_invert():
    """Found by hypothesis: s = 0 with a tiny y, damped, gave s.y ~ 1e-250 and an overflowing update (NaN H)."""
    bfgs = BFGSInverse(2, h0=1.0, h_min=1e-4, h_max=10.0, policy="damp")
    s = torch.zeros(2, dtype=torch.float64)
    y = torch.tensor([0.0, 3.9387e-125], dtype=torch.float64)
    assert bfgs.update(s, y) is False
    assert torch.equal(bfgs.H, torch.eye(2, dtype=torch.float64))
