"""Config validation: bad values give errors naming the field, the value and what is allowed."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from nasplug.cli_options import parse_options
from nasplug.config import SearchConfig, TrainConfig, load_toml
from nasplug.errors import ConfigError

POSITIVE_FIELDS = ["epochs", "batch_size", "w_lr", "arch_lr"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(POSITIVE_FIELDS),
       st.one_of(st.integers(max_value=0), st.floats(max_value=0.0), st.just(math.nan), st.text(max_size=3)))
def test_non_positive_values_are_rejected_by_name(field, value):
    with pytest.raises(ConfigError) as info:
        SearchConfig(**{field: value})
    assert field in str(info.value) and repr(value) in str(info.value)


@settings(max_examples=40, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_train_portion_must_be_strictly_inside_zero_one(value):
    if 0.0 < value < 1.0:
        assert SearchConfig(train_portion=value).train_portion == value
    else:
        with pytest.raises(ConfigError, match="train_portion must be strictly between 0 and 1"):
            SearchConfig(train_portion=value)


@settings(max_examples=40, deadline=None)
@given(st.builds(SearchConfig, epochs=st.integers(1, 500), batch_size=st.integers(1, 512),
                 seed=st.integers(0, 2**31), w_lr=st.floats(0.002, 1.0), train_portion=st.floats(0.05, 0.95),
                 space_options=st.dictionaries(st.sampled_from(["C", "N"]), st.integers(1, 64))))
def test_config_round_trips_through_dict(config):
    assert SearchConfig.from_dict(config.to_dict()) == config


def test_unknown_field_lists_allowed_fields():
    with pytest.raises(ConfigError, match=r"unknown SearchConfig field\(s\) \['epoch'\]; allowed: space, strategy"):
        SearchConfig.from_dict({"epoch": 3})


def test_lr_min_above_lr_and_bad_device_and_betas():
    with pytest.raises(ConfigError, match="w_lr_min"):
        SearchConfig(w_lr=0.01, w_lr_min=0.1)
    with pytest.raises(ConfigError, match="device must be.*'tpu'"):
        SearchConfig(device="tpu")
    with pytest.raises(ConfigError, match="betas"):
        SearchConfig(arch_betas=(0.5, 1.5))
    with pytest.raises(ConfigError, match="TrainConfig.epochs"):
        TrainConfig(epochs=0)


def test_toml_and_cli_options(tmp_path):
    path = tmp_path / "search.toml"
    path.write_text('[search]\nspace = "darts"\nepochs = 3\n[search.space_options]\nC = 8\n')
    data = load_toml(path)["search"]
    assert SearchConfig.from_dict(data).space_options == {"C": 8}
    assert parse_options(["C=8", "tau=0.5", "flag=true", "name=abc", "xs=[1,2]"]) == {
        "C": 8, "tau": 0.5, "flag": True, "name": "abc", "xs": [1, 2]}
    with pytest.raises(ConfigError, match="'C8' must look like KEY=VALUE"):
        parse_options(["C8"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")
