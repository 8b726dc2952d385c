"""Discovery and registries: names, providers, and failures reported by plugin name."""

import pytest

from nasplug import registry
from nasplug.errors import ConfigError, DuplicateComponentError, UnknownComponentError
from nasplug.plugins import load_plugins
from nasplug.registry import Registry


def test_kernel_components_are_registered_through_hooks():
    reg = Registry(load_plugins(entry_points=False))
    assert {"darts", "nb201"} <= set(reg.names("space"))
    assert "random" in reg.names("strategy")
    assert reg.entry("space", "nb201").plugin == "nasplug"


def test_unknown_name_lists_known_names_and_providers():
    reg = Registry(load_plugins(entry_points=False))
    with pytest.raises(UnknownComponentError) as info:
        reg.get("sampler", "gumble")
    message = str(info.value)
    assert "unknown sampler 'gumble'" in message
    assert "uniform (nasplug)" in message


def test_unknown_kind_is_an_error_naming_the_kinds():
    reg = Registry(load_plugins(entry_points=False))
    with pytest.raises(UnknownComponentError, match="samplr.*sampler"):
        reg.names("samplr")


def test_bad_option_names_the_option_and_the_accepted_ones():
    reg = Registry(load_plugins(entry_points=False))
    with pytest.raises(ConfigError, match=r"\['channels'\].*accepts: C, N"):
        reg.get("space", "nb201", channels=4)


def test_broken_plugin_is_reported_by_name_and_others_still_load(fake_distribution):
    fake_distribution("nasplug-broken", "nasplug_broken_mod", "raise ImportError('missing dependency xyz')\n")
    fake_distribution("nasplug-fine", "nasplug_fine_mod", """
        from nasplug import hookimpl
        from nasplug.strategies.random_search import UniformSampler

        @hookimpl
        def nasplug_samplers():
            return {"fine-uniform": UniformSampler}
    """)
    reg = Registry(load_plugins())
    assert "fine-uniform" in reg.names("sampler")
    assert reg.entry("sampler", "fine-uniform").plugin == "nasplug-fine"
    errors = [str(e) for e in reg.errors]
    assert any("nasplug-broken 0.0.1" in e and "missing dependency xyz" in e for e in errors), errors
    assert "nb201" in reg.names("space")


def test_misspelled_hook_is_rejected_loudly_without_breaking_the_rest(fake_distribution):
    fake_distribution("nasplug-typo", "nasplug_typo_mod", """
        from nasplug import hookimpl

        @hookimpl
        def nasplug_sampler():  # missing 's'
            return {}
    """)
    reg = Registry(load_plugins())
    assert any("nasplug-typo" in str(e) and "nasplug_sampler" in str(e) for e in reg.errors)
    assert "uniform" in reg.names("sampler")


def test_hook_that_raises_is_reported_by_plugin(fake_distribution):
    fake_distribution("nasplug-raiser", "nasplug_raiser_mod", """
        from nasplug import hookimpl

        @hookimpl
        def nasplug_rewards():
            raise RuntimeError("boom")
    """)
    reg = Registry(load_plugins())
    assert any("nasplug-raiser" in str(e) and "boom" in str(e) for e in reg.errors)
    assert "random" in reg.names("strategy")


def test_duplicate_name_is_an_error_naming_both_plugins(fake_distribution):
    fake_distribution("nasplug-clash", "nasplug_clash_mod", """
        from nasplug import hookimpl
        from nasplug.spaces.nb201 import NB201Space

        @hookimpl
        def nasplug_search_spaces():
            return {"nb201": NB201Space}
    """)
    reg = Registry(load_plugins())
    with pytest.raises(DuplicateComponentError) as info:
        reg.get("space", "nb201")
    assert "nasplug" in info.value.providers and "nasplug-clash" in info.value.providers
    assert "darts" in reg.names("space")  # the rest of the registry still works
    assert "nb201" not in reg.names("space")
    assert any(isinstance(e, DuplicateComponentError) for e in reg.errors)


def test_extra_modules_register_like_plugins():
    import types

    from nasplug import hookimpl
    from nasplug.strategies.random_search import UniformSampler

    module = types.ModuleType("my_hooks")
    module.nasplug_samplers = hookimpl(lambda: {"mine": UniformSampler})
    reg = Registry(load_plugins([module], entry_points=False))
    assert reg.entry("sampler", "mine").plugin == "my_hooks"


def test_default_registry_is_shared_and_reloadable():
    assert registry.default_registry() is registry.default_registry()
    assert "nb201" in registry.reload().names("space")
