"""Each proxy's formula on a tiny network against a hand computation or an independent direct formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nasplug_zerocost import proxies as P


def linear(in_features: int, out_features: int, weight, bias=None) -> nn.Linear:
    layer = nn.Linear(in_features, out_features, bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return layer


def test_hamming_kernel_on_a_known_pattern():
    codes = torch.tensor([[1, 0, 1, 1], [1, 1, 0, 1], [0, 0, 0, 0]], dtype=torch.bool)
    # K[i, j] = N_A - Hamming(c_i, c_j), N_A = 4: d(0,1) = 2, d(0,2) = 3, d(1,2) = 3
    expected = torch.tensor([[4, 2, 1], [2, 4, 1], [1, 1, 4]], dtype=torch.float64)
    assert torch.equal(P.hamming_kernel(codes), expected)


def test_naswot_is_the_log_determinant_of_the_hand_computed_kernel():
    # one ReLU over 3 units: pre-activations are x @ W^T
    net = nn.Sequential(linear(2, 3, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), nn.ReLU(), linear(3, 2, [[1, 1, 1]] * 2))
    x = torch.tensor([[1.0, -2.0], [-1.0, 2.0], [1.0, 2.0]])
    # codes: (1,0,0), (0,1,1), (1,1,1) -> agreements: K = [[3,0,1],[0,3,2],[1,2,3]]
    k = np.array([[3, 0, 1], [0, 3, 2], [1, 2, 3]], dtype=float)
    assert P.naswot(net, (x, torch.zeros(3, dtype=torch.long))) == pytest.approx(math.log(np.linalg.det(k)))


@settings(max_examples=15, deadline=None)
@given(st.permutations(list(range(6))))
def test_naswot_does_not_depend_on_the_order_of_the_batch(order):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(6, dtype=torch.long)
    assert P.naswot(net, (x[list(order)], y)) == pytest.approx(P.naswot(net, (x, y)), abs=1e-9)


def chain(a: float, b: float, c: float, d: float) -> nn.Sequential:
    """1 -> 2 -> 1 linear chain without biases."""
    return nn.Sequential(nn.Flatten(), linear(1, 2, [[a], [b]]), linear(2, 1, [[c, d]]))


def test_synflow_is_the_sign_free_path_product_on_a_linear_chain():
    a, b, c, d = -2.0, 0.5, 3.0, -1.5
    batch = (torch.randn(4, 1, 1, 1), torch.zeros(4, dtype=torch.long))
    # R = |a||c| + |b||d|; each weight's dR/dW * |W| is its path's product, and every path has two weights
    assert P.synflow(chain(a, b, c, d), batch) == pytest.approx(2 * (abs(a * c) + abs(b * d)))


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from([-1.0, 1.0]), min_size=4, max_size=4))
def test_synflow_ignores_the_signs_of_the_weights(signs):
    weights = [-2.0, 0.5, 3.0, -1.5]
    batch = (torch.randn(2, 1, 1, 1), torch.zeros(2, dtype=torch.long))
    flipped = [s * w for s, w in zip(signs, weights)]
    assert P.synflow(chain(*flipped), batch) == pytest.approx(P.synflow(chain(*weights), batch))


def test_synflow_leaves_the_network_unchanged():
    net = chain(-2.0, 0.5, 3.0, -1.5)
    P.synflow(net, (torch.randn(2, 1, 1, 1), torch.zeros(2, dtype=torch.long)))
    assert net[1].weight[0, 0].item() == -2.0


def softmax_regression():
    """logits = W x (3 inputs, 2 classes), a batch of 4, and the CE gradient by hand: (p - onehot) x^T / n."""
    w = np.array([[0.3, -0.2, 0.5], [-0.4, 0.1, 0.2]])
    x = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 1.0], [-2.0, 0.3, 0.7], [1.5, 1.0, 0.0]])
    y = np.array([0, 1, 1, 0])
    logits = x @ w.T
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    delta = (p - np.eye(2)[y]) / len(y)  # dL/dlogits of the mean cross-entropy
    grad = delta.T @ x
    net = nn.Sequential(linear(3, 2, w.tolist()))
    batch = (torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    return net, batch, w, x, y, p, delta, grad


def test_snip_and_grad_norm_against_the_hand_gradient():
    net, batch, w, _, _, _, _, grad = softmax_regression()
    assert P.snip(net, batch) == pytest.approx(np.abs(grad * w).sum(), rel=1e-5)
    assert P.grad_norm(net, batch) == pytest.approx(np.linalg.norm(grad), rel=1e-5)


def test_fisher_against_the_hand_formula():
    net, batch, _, x, _, _, delta, _ = softmax_regression()
    activations = x @ softmax_regression()[2].T  # the linear layer's output a, (n, 2)
    # 0.5 * mean over the batch of (a * dL/da)^2, summed over the 2 output channels
    expected = 0.5 * ((activations * delta) ** 2).mean(0).sum()
    assert P.fisher(net, batch) == pytest.approx(expected, rel=1e-4)


def test_grasp_against_an_explicit_hessian():
    net, batch, w, x, y, _, _, grad = softmax_regression()
    wt = torch.tensor(w, dtype=torch.float64)

    def loss(flat):
        logits = torch.tensor(x) @ flat.reshape(2, 3).T
        return nn.functional.cross_entropy(logits, torch.tensor(y))

    hessian = torch.autograd.functional.hessian(loss, wt.reshape(-1)).numpy()
    expected = float(-(w.reshape(-1) * (hessian @ grad.reshape(-1))).sum())
    assert P.grasp(net, batch) == pytest.approx(expected, rel=1e-4)


def test_jacob_cov_against_numpy():
    w = np.array([[1.0, -1.0], [0.5, 2.0], [-1.0, 0.3]])
    net = nn.Sequential(linear(2, 3, w.tolist()), nn.ReLU(), linear(3, 1, [[1.0, 1.0, 1.0]]))
    x = np.array([[1.0, 0.5], [-1.0, 2.0], [0.3, -1.0], [2.0, 1.0]])
    # d(sum of outputs)/dx_i = sum of the rows w_j whose unit is active for x_i
    jac = np.stack([(w * ((w @ xi) > 0)[:, None]).sum(0) for xi in x])
    v = np.linalg.eigvalsh(np.corrcoef(jac)).clip(0)
    expected = -np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))
    assert P.jacob_cov(net, (torch.tensor(x, dtype=torch.float32), torch.zeros(4, dtype=torch.long))) == \
        pytest.approx(expected, rel=1e-4)


def test_ntk_of_a_linear_layer_is_the_gram_matrix_times_the_outputs():
    # logits = W x, J_i = d(sum_k logit_k)/dW = 1 x_i^T, so Theta_ij = K * x_i . x_j (K = 3 outputs)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3, bias=False))
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(2))
    gram = (x @ x.T).to(torch.float64)
    assert torch.allclose(P.ntk_matrix(net, x), 3 * gram, rtol=1e-5, atol=1e-6)
    eig = torch.linalg.eigvalsh(3 * gram[:4, :4])
    assert P.ntk_condition(net, (x[:4], torch.zeros(4, dtype=torch.long))) == pytest.approx(-float(eig[-1] / eig[0]),
                                                                                            rel=1e-4)


def test_ntk_matrix_against_an_explicit_jacobian_of_a_relu_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 2, bias=False))
    x = torch.randn(3, 3, generator=torch.Generator().manual_seed(3))
    w1, w2 = (p.detach().clone() for p in net.parameters())

    def summed_logits(a, b):
        return (torch.relu(x @ a.T) @ b.T).sum(1)  # one number per input

    ja, jb = torch.autograd.functional.jacobian(summed_logits, (w1, w2))
    jac = torch.cat([ja.reshape(3, -1), jb.reshape(3, -1)], 1).to(torch.float64)
    assert torch.allclose(P.ntk_matrix(net, x), jac @ jac.T, rtol=1e-5, atol=1e-6)


def test_linear_regions_on_a_one_dimensional_toy():
    # three ReLUs with kinks at 0, 1, 2 cut the line into 4 pieces; Gaussian inputs reach all four
    net = nn.Sequential(nn.Flatten(), linear(1, 3, [[1.0], [1.0], [1.0]], [0.0, -1.0, -2.0]), nn.ReLU(),
                        linear(3, 1, [[1.0, 1.0, 1.0]]))
    batch = (torch.zeros(2, 1, 1, 1), torch.zeros(2, dtype=torch.long))
    assert P.linear_regions(net, batch, samples=4000, side=1) == 4.0


def test_linear_regions_on_a_two_dimensional_toy():
    # three lines in general position (x = 0, y = 0, x + y = 0.5) cut the plane into 7 regions
    net = nn.Sequential(nn.Flatten(), linear(2, 3, [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.0, -0.5]),
                        nn.ReLU(), linear(3, 1, [[1.0, 1.0, 1.0]]))
    batch = (torch.zeros(2, 2, 1, 1), torch.zeros(2, dtype=torch.long))
    assert P.linear_regions(net, batch, samples=4000, side=1) == 7.0


def test_params_and_flops_of_a_linear_layer():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    batch = (torch.randn(3, 3, 2, 2), torch.zeros(3, dtype=torch.long))
    assert P.params(net, batch) == 12 * 5 + 5
    assert P.flops(net, batch) == 12 * 5


def test_a_disconnected_network_scores_worst():
    class Zero(nn.Module):
        def forward(self, x):
            return torch.relu(torch.zeros(x.shape[0], 3, requires_grad=True) * x.sum())

    batch = (torch.randn(4, 2), torch.zeros(4, dtype=torch.long))
    assert P.naswot(Zero(), batch) == float("-inf")
