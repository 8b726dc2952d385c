import math

import pytest
from hypothesis import given, settings, strategies as st

from nasplug.errors import ConfigError
from nasplug_tunas.schedules import check_fraction, rl_lr_multiplier, warmup_probability

progress = st.floats(0.0, 0.9999, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(progress, progress)
def test_warmup_p_falls_linearly_from_one_to_zero_over_first_quarter(a, b):
    lo, hi = sorted((a, b))
    assert warmup_probability(lo) >= warmup_probability(hi)  # never rises
    assert 0.0 <= warmup_probability(a) <= 1.0
    if a >= 0.25:
        assert warmup_probability(a) == 0.0
    else:
        assert warmup_probability(a) == pytest.approx(1.0 - a / 0.25)


def test_warmup_endpoints_and_disable():
    assert warmup_probability(0.0) == 1.0
    assert warmup_probability(0.125) == pytest.approx(0.5)
    assert warmup_probability(0.25) == 0.0
    assert warmup_probability(0.0, warmup_fraction=0.0) == 0.0


@settings(max_examples=60, deadline=None)
@given(progress, progress)
def test_rl_lr_zero_then_rising_exponentially_to_ten(a, b):
    lo, hi = sorted((a, b))
    assert rl_lr_multiplier(lo) <= rl_lr_multiplier(hi)
    if a < 0.25:
        assert rl_lr_multiplier(a) == 0.0
    else:
        # log10 of the factor rises linearly from 0 at the delay to 1 at the end
        assert math.log10(rl_lr_multiplier(a)) == pytest.approx((a - 0.25) / 0.75, abs=1e-9)


def test_rl_lr_endpoints():
    assert rl_lr_multiplier(0.2499) == 0.0
    assert rl_lr_multiplier(0.25) == pytest.approx(1.0)
    assert rl_lr_multiplier(0.625) == pytest.approx(10 ** 0.5)
    assert rl_lr_multiplier(1.0) == pytest.approx(10.0)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2, "x", True])
def test_bad_fraction_is_config_error(bad):
    with pytest.raises(ConfigError):
        check_fraction("warmup_fraction", bad)
