"""A preset's per-space defaults: defaults < space_defaults[space] < the user's settings."""

from nasplug import registry
from nasplug.search.run import merged_config
from nasplug.search.spec import StrategySpec


def test_defaults_for_layers_space_overrides_on_the_presets_defaults():
    spec = StrategySpec("uniform", "random", defaults={"epochs": 3, "w_lr": 0.1},
                        space_defaults={"nb201": {"w_lr": 0.2, "w_nesterov": True}})
    assert spec.defaults_for("nb201") == {"epochs": 3, "w_lr": 0.2, "w_nesterov": True}
    assert spec.defaults_for("darts") == {"epochs": 3, "w_lr": 0.1}
    assert spec.defaults == {"epochs": 3, "w_lr": 0.1}  # not mutated


def test_rsps_on_nb201_uses_the_nb201_authors_settings_and_the_user_still_wins():
    """configs/nas-benchmark/algos/RANDOM.config: decay 5e-4, nesterov; other spaces keep the kernel's."""
    reg = registry.default_registry()
    nb201 = merged_config({"strategy": "random", "space": "nb201"}, reg)
    assert nb201.w_weight_decay == 5e-4 and nb201.w_nesterov and nb201.batch_size == 64
    darts = merged_config({"strategy": "random", "space": "darts"}, reg)
    assert darts.w_weight_decay == 3e-4 and not darts.w_nesterov
    mine = merged_config({"strategy": "random", "space": "nb201", "w_nesterov": False}, reg)
    assert not mine.w_nesterov and mine.w_weight_decay == 5e-4
