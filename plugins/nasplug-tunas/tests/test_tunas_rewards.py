import pytest
import torch
from hypothesis import given, settings, strategies as st

from nasplug import registry
from nasplug.errors import ConfigError

quality = st.floats(0.0, 1.0, allow_nan=False)
cost = st.floats(0.01, 100.0, allow_nan=False)
target = st.floats(0.1, 50.0, allow_nan=False)
beta = st.floats(-1.0, -0.001, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(quality, cost, target, beta)
def test_absolute_reward_formula(q, t, t0, b):
    r = registry.get("reward", "absolute", target=t0, beta=b)
    assert r(q, t) == pytest.approx(q + b * abs(t / t0 - 1))
    # largest at the target, for any quality
    assert r(q, t0) >= r(q, t)


@settings(max_examples=60, deadline=None)
@given(quality, cost, target, beta)
def test_mnas_soft_reward_formula(q, t, t0, b):
    r = registry.get("reward", "mnas-soft", target=t0, beta=b)
    assert r(q, t) == pytest.approx(q * (t / t0) ** b)


@settings(max_examples=60, deadline=None)
@given(quality, cost, target, beta)
def test_mnas_hard_reward_is_equation_1(q, t, t0, b):
    r = registry.get("reward", "mnas-hard", target=t0, beta=b)
    expected = q if t <= t0 else q * (t / t0) ** b
    assert r(q, t) == pytest.approx(expected)


@settings(max_examples=30, deadline=None)
@given(quality, cost, target, beta, st.sampled_from(["absolute", "mnas-soft", "mnas-hard"]))
def test_tensor_and_float_agree_and_are_differentiable(q, t, t0, b, name):
    r = registry.get("reward", name, target=t0, beta=b)
    qt = torch.tensor(q, dtype=torch.float64, requires_grad=True)
    tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    out = r(qt, tt)
    assert isinstance(out, torch.Tensor)
    assert float(out.detach()) == pytest.approx(r(q, t), rel=1e-9, abs=1e-12)
    out.backward()
    assert torch.isfinite(qt.grad) and torch.isfinite(tt.grad)


def test_cost_gradient_matches_finite_difference():
    r = registry.get("reward", "mnas-soft", target=5.0, beta=-0.07)
    t = torch.tensor(7.0, dtype=torch.float64, requires_grad=True)
    r(torch.tensor(0.8, dtype=torch.float64), t).backward()
    eps = 1e-6
    fd = (r(0.8, 7.0 + eps) - r(0.8, 7.0 - eps)) / (2 * eps)
    assert float(t.grad) == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("name", ["absolute", "mnas-soft", "mnas-hard"])
@pytest.mark.parametrize("kwargs", [{}, {"target": 0}, {"target": -3.0}, {"target": 5.0, "beta": 0.5}])
def test_bad_target_or_beta_is_config_error(name, kwargs):
    with pytest.raises(ConfigError):
        registry.get("reward", name, **kwargs)
