"""Discovery and registries: names, providers, and failures reported by plugin name."""

import json
import sys

import pytest
from hypothesis import assume, given, settings, strategies as st

from nasplug import registry
from nasplug.errors import AmbiguousComponentError, ConfigError, UnknownComponentError
from nasplug.first_party import FIRST_PARTY
from nasplug.plugins import load_plugins
from nasplug.registry import KINDS, Registry
from nasplug.search.run import SearchRun, merged_config

TINY = {"space": "nb201", "space_options": {"C": 4, "N": 1}, "data": "digits", "batch_size": 16}


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


CLASHING_GUMBEL = """
    from nasplug import hookimpl
    from nasplug.strategies.random_search import UniformSampler

    @hookimpl
    def nasplug_samplers():
        return {"gumbel": UniformSampler}
"""


def test_a_clash_keeps_both_usable_by_qualified_name_and_the_preset_working(fake_distribution):
    """Issue 15, item 2: a second ``gumbel`` used to make ``--strategy gdas`` unusable."""
    pytest.importorskip("nasplug_gdas")
    fake_distribution("nasplug-clash", "nasplug_clash_mod", CLASHING_GUMBEL)
    reg = Registry(load_plugins())
    assert reg.entry("sampler", "nasplug-gdas:gumbel").plugin == "nasplug-gdas"
    assert reg.entry("sampler", "nasplug-clash:gumbel").plugin == "nasplug-clash"
    assert reg.entry("sampler", "nasplug_clash:gumbel").plugin == "nasplug-clash"  # spelled as its module
    with pytest.raises(AmbiguousComponentError) as info:
        reg.entry("sampler", "gumbel")
    assert "nasplug-gdas:gumbel" in str(info.value) and "nasplug-clash:gumbel" in str(info.value)
    assert {"nasplug-gdas:gumbel", "nasplug-clash:gumbel"} <= set(reg.names("sampler"))
    assert not any("gumbel" in str(e) for e in reg.errors)  # a clash is not a load error
    # the gdas preset names its own sampler by qualified name, so it still composes
    run = SearchRun(merged_config({"strategy": "gdas", **TINY}, reg), reg, write_files=False)
    assert type(run.sampler).__module__ == "nasplug_gdas.sampler"


def test_qualified_names_work_in_a_search_config(fake_distribution, tmp_path):
    fake_distribution("nasplug-clash", "nasplug_clash_mod", CLASHING_GUMBEL.replace("gumbel", "uniform"))
    reg = Registry(load_plugins())
    cfg = merged_config({"strategy": "nasplug:random", **TINY, "space": "nasplug:nb201", "data": "nasplug:digits",
                         "sampler": "nasplug-clash:uniform"}, reg)
    assert SearchRun(cfg, reg, write_files=False).composition.entries["sampler"].plugin == "nasplug-clash"
    with pytest.raises(AmbiguousComponentError, match="nasplug:uniform or nasplug-clash:uniform|"
                                                      "nasplug-clash:uniform or nasplug:uniform"):
        SearchRun(merged_config({"strategy": "random", "sampler": "uniform", **TINY}, reg), reg, write_files=False)


def test_the_shortest_name_is_the_short_one_unless_another_plugin_shares_it(fake_distribution):
    assert Registry(load_plugins(entry_points=False)).shortest_name("dataset", "nasplug:digits") == "digits"
    fake_distribution("nasplug-clash", "nasplug_clash_mod", CLASHING_GUMBEL.replace("gumbel", "uniform"))
    reg = Registry(load_plugins())
    assert reg.shortest_name("sampler", "nasplug:uniform") == "nasplug:uniform"
    assert reg.shortest_name("sampler", "nasplug_clash:uniform") == "nasplug-clash:uniform"
    assert reg.shortest_name("dataset", "nasplug:digits") == reg.shortest_name("dataset", "digits") == "digits"


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_every_component_resolves_by_its_qualified_name_however_the_distribution_is_spelled(data):
    reg = registry.default_registry()
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    entries = reg.entries(kind)
    assume(entries)
    entry = data.draw(st.sampled_from(entries))
    spelling = data.draw(st.sampled_from([entry.plugin, entry.plugin.replace("-", "_"), entry.plugin.upper()]))
    assert reg.entry(kind, f"{spelling}:{entry.name}") == entry
    if not reg.is_ambiguous(kind, entry.name):
        assert reg.entry(kind, entry.name) == entry and entry.name in reg.names(kind)


def test_a_named_genotype_loads_by_its_qualified_name():
    from nasplug.train import load_genotype_record

    pytest.importorskip("nasplug_gdas")
    assert load_genotype_record("nasplug-gdas:gdas") == load_genotype_record("gdas")


def test_unknown_name_mentions_plugins_that_failed_to_load(fake_distribution):
    """Issue 15, item 6: ``unknown sampler 'x'`` hid the load failure of the plugin that has it."""
    fake_distribution("nasplug-broken", "nasplug_broken_mod", "raise ImportError('needs libfoo')\n")
    reg = Registry(load_plugins())
    with pytest.raises(UnknownComponentError) as info:
        reg.entry("sampler", "snas")
    assert "nasplug-broken 0.0.1" in str(info.value) and "needs libfoo" in str(info.value)


def test_unknown_first_party_name_says_which_package_to_install():
    reg = Registry(load_plugins(entry_points=False))
    with pytest.raises(UnknownComponentError, match="darts-2nd is in nasplug-amended: pip install nasplug-amended"):
        reg.entry("arch_optimizer", "darts-2nd")


def test_first_party_table_matches_what_each_installed_plugin_registers():
    reg = registry.default_registry()
    installed = {info.distribution for info in reg.loaded.plugins.values()}
    checked = 0
    for dist, kinds in FIRST_PARTY.items():
        if dist in installed:
            assert reg.provided_by(dist) == {k: list(v) for k, v in kinds.items()}, dist
            checked += 1
    if not checked:
        pytest.skip("no first-party plugin installed")


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


def test_plugins_command_marks_clashes_once_and_strict_fails_on_load_errors(fake_distribution, capsys, tmp_path):
    """Item 7: ``nasplug plugins`` printed a clash twice, exited 0 with load errors, and its JSON errors
    changed shape by kind."""
    from nasplug.cli import main

    fake_distribution("nasplug-clash", "nasplug_clash_mod", CLASHING_GUMBEL.replace("gumbel", "uniform"))
    fake_distribution("nasplug-broken", "nasplug_broken_mod", "raise ImportError('needs libfoo')\n")
    fake_distribution("nasplug-raiser", "nasplug_raiser_mod", """
        from nasplug import hookimpl

        @hookimpl
        def nasplug_rewards():
            raise RuntimeError("boom")
    """)
    registry.reload()
    try:
        assert main(["plugins"]) == 0
        text = capsys.readouterr().out
        assert text.count("'uniform': nasplug:uniform or nasplug-clash:uniform") == 1
        assert "uniform*" in text and "needs libfoo" in text
        assert main(["plugins", "--strict"]) == 1
        capsys.readouterr()
        assert main(["plugins", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert len(data["errors"]) == 2
        assert all(set(e) == {"distribution", "version", "stage", "exception", "message"} for e in data["errors"])
        assert {e["distribution"] for e in data["errors"]} == {"nasplug-broken", "nasplug-raiser"}
        assert data["clashes"] == [{"kind": "sampler", "name": "uniform", "providers": ["nasplug", "nasplug-clash"],
                                    "qualified": ["nasplug:uniform", "nasplug-clash:uniform"]}]
        assert main(["plugins", "--verbose"]) == 0
        verbose = capsys.readouterr().out
        assert "random(num_candidates: 'int' = 100" in verbose
        assert "No architecture update; the final pick ranks sampled architectures" in verbose
    finally:
        capsys.readouterr()
        sys.path.remove(str(tmp_path))  # the fake distributions leave the process-wide registry with it
        registry.reload()
        assert "nasplug-clash:uniform" not in registry.names("sampler")
