"""The architecture gradients against explicit matrices and autograd through the unrolled step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st


def alpha_grad(run, optimizer, tb, vb):
    """The optimizer's architecture gradient with respect to alpha (flattened, decision order)."""
    for p in run.arch.parameters():
        p.grad = None
    g, _, step = optimizer.gradient(run, tb, vb)
    step.backward_to_alpha(g)
    return torch.cat([run.arch[k].grad.flatten() for k in run.arch.names()])


def rel(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


#: two channels, so the separable and dilated convs are grouped and their double backward takes
#: nasplug's three-product path (GroupedConv2d) instead of PyTorch's group-by-group one
GROUPED = {"C": 2, "layers": 1, "steps": 2, "stem_multiplier": 1,
           "ops": ["max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3"]}


@pytest.mark.parametrize("space_options", [None, GROUPED], ids=["one-channel", "grouped-convs"])
def test_amended_term_equals_explicit_matrix_product(tools, space_options):
    """g1 - eta * M (H + wd I) v with H and M materialised, to 1e-4 relative error (Eq. 7)."""
    make_run, batches, Explicit = tools
    run = make_run("amended", double=True, seed=3, space_options=space_options)
    tb, vb = batches(run, double=True)
    ex = Explicit(run)
    a, w = ex.a0(), ex.w0()
    wd = run.w_optimizer.param_groups[0]["weight_decay"]
    H = ex.hessian(a, w, tb) + wd * torch.eye(len(w), dtype=w.dtype)
    M = ex.mixed(a, w, tb)
    v = ex.grad_w(a, w, vb)
    g1 = ex.grad_a(a, w, vb)
    eta = run.optimizer.eta
    assert eta == pytest.approx(0.1)
    expected_g2 = -eta * M @ (H @ v)
    ours = alpha_grad(run, run.optimizer, tb, vb)
    assert expected_g2.norm() > 0.02 * g1.norm()  # the term is not negligible here, so the check has teeth
    assert rel(ours, g1 + expected_g2) < 1e-4
    run.optimizer.eta = 0.0
    assert rel(alpha_grad(run, run.optimizer, tb, vb), g1) < 1e-10


#: no max-pool: ties in max-pool windows (digits have flat backgrounds) make the gradient jump under any
#: perturbation, so central differences cannot converge there.
SMOOTH = {"C": 1, "layers": 1, "steps": 2, "stem_multiplier": 1,
          "ops": ["avg_pool_3x3", "skip_connect", "sep_conv_3x3"]}


def test_amended_finite_difference_option_converges_to_exact(tools):
    make_run, batches, _ = tools
    run = make_run("amended", seed=1, double=True, space_options=SMOOTH, optimizer_options={"epsilon": 1e-5})
    tb, vb = batches(run, double=True)
    exact = alpha_grad(run, run.optimizer, tb, vb)
    run.optimizer.hvp = "finite"
    finite = alpha_grad(run, run.optimizer, tb, vb)
    assert rel(finite, exact) < 1e-2


def unrolled_alpha_grad(run, ex, tb, vb):
    """d/d alpha L_val(w - xi (grad_w L_train(w, alpha) + m buf + wd w), alpha), by autograd through the step."""
    group = run.w_optimizer.param_groups[0]
    xi, m, wd = group["lr"], group["momentum"], group["weight_decay"]
    bufs = torch.cat([run.w_optimizer.state[p]["momentum_buffer"].flatten() for p in ex.params])
    a = ex.a0().requires_grad_(True)
    w = ex.w0().requires_grad_(True)
    g_w = torch.autograd.grad(ex.loss(a, w, tb), w, create_graph=True)[0]
    w_prime = w - xi * (m * bufs + g_w + wd * w)
    return torch.autograd.grad(ex.loss(a, w_prime, vb), a)[0]


def test_darts_2nd_exact_equals_autograd_through_the_virtual_step(tools):
    make_run, batches, Explicit = tools
    run = make_run("darts-2nd", double=True, seed=2, optimizer_options={"hvp": "exact"})
    tb, vb = batches(run, double=True)
    run.optimizer.weight_step(run, *tb)  # so that a momentum buffer exists and enters the virtual step
    ex = Explicit(run)
    truth = unrolled_alpha_grad(run, ex, tb, vb)
    assert rel(alpha_grad(run, run.optimizer, tb, vb), truth) < 1e-8


def test_darts_2nd_finite_difference_agrees_with_exact(tools):
    """DARTS's central difference (r = epsilon/||v||) vs double backward, to 1e-2.

    On a 1-channel supernet the loss bends on a scale far below the reference
    epsilon 0.01 (ReLU kinks), so the check uses epsilon 1e-4 in float64: it
    tests the difference formula, not the step size.
    """
    make_run, batches, _ = tools
    run = make_run("darts-2nd", seed=4, double=True, space_options=SMOOTH, optimizer_options={"epsilon": 1e-4})
    tb, vb = batches(run, double=True)
    run.optimizer.weight_step(run, *tb)
    assert run.optimizer.hvp == "finite"
    from nasplug_amended.second_order import ArchStep, grad, val_loss

    step = ArchStep(run)
    v = grad(val_loss(run, *vb, step.fresh())[0], step.params)
    exact = torch.cat([t.flatten() for t in step.mixed_exact(tb, v)])
    finite = torch.cat([t.flatten() for t in step.mixed_finite(tb, v, 1e-4)])
    assert exact.norm() > 0
    assert rel(finite, exact) < 1e-2
    full_fd = alpha_grad(run, run.optimizer, tb, vb)
    run.optimizer.hvp = "exact"
    full_ex = alpha_grad(run, run.optimizer, tb, vb)
    assert rel(full_fd, full_ex) < 1e-2


def test_darts_1st_is_the_validation_gradient(tools):
    make_run, batches, Explicit = tools
    run = make_run("darts", double=True, seed=5)
    tb, vb = batches(run, double=True)
    ex = Explicit(run)
    expected = ex.grad_a(ex.a0(), ex.w0(), vb)
    for p in run.arch.parameters():
        p.grad = None
    before = {k: run.arch[k].detach().clone() for k in run.arch.names()}
    run.optimizer.adam.param_groups[0]["lr"] = 0.0  # read the gradient Adam was given, without moving alpha
    run.optimizer.arch_step(run, tb, vb)
    got = torch.cat([torch.zeros_like(run.arch[k]) if run.arch[k].grad is None else run.arch[k].grad
                     for k in run.arch.names()])
    assert rel(got, expected) < 1e-10
    assert all(torch.equal(before[k], run.arch[k].detach()) for k in before)


# --- the angle between g2' and g2 (Sec. 3.4, Eq. 8) -----------------------------------------------

def _pd(rng, n, cond):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.geomspace(1.0, cond, n)) @ q.T


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 12), k=st.integers(1, 6), cond=st.floats(1.0, 1e3))
def test_similarity_step_of_the_proof_holds(seed, n, k, cond):
    """The part of the argument that is right: H M^T M H^-1 is similar to M^T M, so its eigenvalues are >= 0."""
    rng = np.random.default_rng(seed)
    H = _pd(rng, n, cond)
    M = rng.standard_normal((k, n))
    eig = np.linalg.eigvals(H @ M.T @ M @ np.linalg.inv(H))
    scale = np.linalg.norm(M) ** 2
    assert np.all(eig.real >= -1e-8 * scale * cond) and np.all(np.abs(eig.imag) <= 1e-6 * scale * cond)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 12), k=st.integers(1, 6), c=st.floats(1e-3, 1e3))
def test_angle_below_90_degrees_when_hessian_is_isotropic(seed, n, k, c):
    """<g2', g2> = eta * c * c^-1 * ||M v||^2 >= 0 when H = c I: the case where Eq. 8's conclusion is guaranteed."""
    rng = np.random.default_rng(seed)
    M, v = rng.standard_normal((k, n)), rng.standard_normal(n)
    H = c * np.eye(n)
    g2 = -M @ np.linalg.solve(H, v)
    g2_amended = -0.1 * M @ H @ v
    assert g2_amended @ g2 >= -1e-12 * np.linalg.norm(g2_amended) * np.linalg.norm(g2)


@settings(max_examples=40, deadline=None)
@given(delta=st.floats(1e-3, 1e3))
def test_angle_can_exceed_90_degrees_for_any_anisotropic_hessian(delta):
    """Eq. 8 does not imply <g2', g2> >= 0: a positive-semi-definite *similar* matrix is not a PSD quadratic form.

    With H = diag(1, 1 + delta) (positive definite, any delta > 0), M = [1, 1] and
    v = (-(1 + delta / 2), 1), g2' and g2 point in opposite directions.
    """
    H = np.diag([1.0, 1.0 + delta])
    M = np.array([[1.0, 1.0]])
    v = np.array([-(1.0 + delta / 2), 1.0])
    g2 = -M @ np.linalg.solve(H, v)
    g2_amended = -0.1 * M @ H @ v
    assert float(g2_amended @ g2) < 0
