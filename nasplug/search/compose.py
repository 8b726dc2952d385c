"""Which components a search runs, with which options: decided, checked and recorded before anything is built.

A config names components by short or qualified name and a strategy preset
fills the gaps.  This module turns that into one resolved choice per part:

* every name is resolved to one registry entry and recorded by its qualified
  name (``nasplug-gdas:gumbel``), so a resumed run finds the same code even
  after another plugin reuses the short name;
* a preset's ``sampler_options``/``optimizer_options`` are meant for the
  preset's own sampler/optimizer: they apply only when that component is the
  one used, and what was dropped is logged and recorded;
* declared capabilities are checked (a REINFORCE optimizer needs a sampler
  that draws one choice per decision, a gradient optimizer needs one that
  carries gradient), with an error that lists the installed components that
  would fit, before the run builds a network or writes a file.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Mapping

import attrs

from nasplug.config import SearchConfig
from nasplug.errors import ConfigError, NasplugError, UnknownComponentError
from nasplug.provenance import distributions, provenance, version_changes
from nasplug.registry import KINDS, Entry, Registry
from nasplug.search.spec import StrategySpec

logger = logging.getLogger(__name__)

#: the keys of ``config.json`` that are a record, not SearchConfig fields
RECORD_KEYS = ("components", "dropped_options", "provenance")

#: SearchConfig field holding each component's options
OPTION_FIELDS = {"space": "space_options", "data": "data_options", "sampler": "sampler_options",
                 "arch_optimizer": "optimizer_options", "reward": "reward_options",
                 "latency_model": "latency_options", "benchmark": "benchmark_options"}
#: the component the kernel falls back to when a reward is used without a latency model
DEFAULT_LATENCY_MODEL = "nasplug:flops"


def strategy_spec(name: str, registry: Registry) -> StrategySpec:
    """The preset registered as ``name`` (a StrategySpec, or a callable returning one)."""
    spec = registry.factory("strategy", name)
    if not isinstance(spec, StrategySpec):
        spec = spec()
    if not isinstance(spec, StrategySpec):
        raise NasplugError(f"strategy {name!r} did not produce a StrategySpec (got {type(spec).__name__})")
    return spec


@attrs.frozen
class Composition:
    """The resolved choice of every component of one search."""

    #: the config with every name qualified and every option merged: what ``config.json`` records
    config: SearchConfig
    spec: StrategySpec
    #: config field -> the registry entry it resolved to
    entries: dict[str, Entry]
    #: ``{"sampler_options": {...}}``: preset options not applied because the user swapped the component
    dropped: dict[str, dict[str, Any]]

    def distributions(self, registry: Registry) -> dict[str, str | None]:
        """Each distribution that contributes a component, with its installed version."""
        versions = distributions(registry)
        return {e.plugin: versions.get(e.plugin) for e in self.entries.values()}

    def record(self, registry: Registry, provenance: Mapping[str, Any]) -> dict[str, Any]:
        """``config.json``: the resolved config, each component's provider and options, what was dropped."""
        versions = self.distributions(registry)
        options = self.config.to_dict()
        components = {
            field: {"name": entry.qualified, "distribution": entry.plugin, "version": versions[entry.plugin],
                    **({"options": options[OPTION_FIELDS[field]],
                        "defaults": defaults_used(entry.factory, options[OPTION_FIELDS[field]])}
                       if field in OPTION_FIELDS else {})}
            for field, entry in self.entries.items()
        }
        return {**options, "components": components, "dropped_options": self.dropped,
                "provenance": dict(provenance)}


def defaults_used(factory: Callable[..., Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword defaults of ``factory`` that ``given`` leaves in force: what the component ran with beyond the
    user's and the preset's options, recorded so a later change of a default is visible in ``config.json``."""
    import inspect

    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or C factory without a signature
        return {}
    return {p.name: p.default for p in parameters
            if p.default is not p.empty and p.name not in given and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _preset_part(registry: Registry, kind: str, name: str | None) -> Entry | None:
    """The preset's own component, or None when it has none or it is not installed (the user swapped it)."""
    if name is None:
        return None
    try:
        return registry.entry(kind, name)
    except UnknownComponentError:
        return None


def _part(registry: Registry, kind: str, chosen: str | None, preset: str | None, user_options: Mapping[str, Any],
          preset_options: Mapping[str, Any], owner: str, dropped: dict[str, dict[str, Any]],
          option_field: str) -> tuple[Entry, dict[str, Any]]:
    """Resolve one of the preset's parts; its options apply only if the preset's own component is used."""
    own = _preset_part(registry, kind, preset)
    entry = registry.entry(kind, chosen) if chosen is not None else registry.entry(kind, preset)
    if own is not None and entry == own:
        return entry, {**preset_options, **user_options}
    if preset_options:
        dropped[option_field] = dict(preset_options)
        logger.warning("strategy %r sets %s %s for its own %s %s; %s replaces it, so they are not applied",
                       owner, option_field, dict(preset_options), KINDS[kind][1], preset, entry.qualified)
    return entry, dict(user_options)


def compose(config: SearchConfig, registry: Registry) -> Composition:
    """Resolve every component ``config`` names; raise before anything is built if they cannot work together."""
    cfg = config
    strategy = registry.entry("strategy", cfg.strategy)
    spec = strategy_spec(cfg.strategy, registry)
    dropped: dict[str, dict[str, Any]] = {}
    entries = {"strategy": strategy, "space": registry.entry("space", cfg.space),
               "data": registry.entry("dataset", cfg.data)}
    entries["sampler"], sampler_options = _part(
        registry, "sampler", cfg.sampler, spec.sampler, cfg.sampler_options, spec.sampler_options,
        strategy.qualified, dropped, "sampler_options")
    entries["arch_optimizer"], optimizer_options = _part(
        registry, "arch_optimizer", cfg.arch_optimizer, spec.arch_optimizer, cfg.optimizer_options,
        spec.optimizer_options, strategy.qualified, dropped, "optimizer_options")
    # a preset's reward (TuNAS) applies only when there is a target to aim at
    reward = cfg.reward or (spec.reward if cfg.latency_target is not None else None)
    if cfg.latency_target is not None and reward is None:
        raise ConfigError("latency_target is set but no reward is chosen; pass reward= (installed: "
                          f"{', '.join(registry.names('reward')) or 'none'})")
    if reward is not None:
        entries["reward"] = registry.entry("reward", reward)
        entries["latency_model"] = registry.entry(
            "latency_model", cfg.latency_model or spec.latency_model or DEFAULT_LATENCY_MODEL)
    if cfg.benchmark is not None:
        entries["benchmark"] = registry.entry("benchmark", cfg.benchmark)

    resolved = {field: entry.qualified for field, entry in entries.items()}
    resolved.setdefault("reward", None)
    resolved.setdefault("latency_model", None)
    resolved.update(sampler_options=sampler_options, optimizer_options=optimizer_options)
    composition = Composition(attrs.evolve(cfg, **resolved), spec, entries, dropped)
    check_capabilities(composition, registry)
    if reward is None:  # after the capability check, whose error names the components that would fit
        check_cost_parts_unused(cfg, spec, registry)
    return composition


def check_cost_parts_unused(cfg: SearchConfig, spec: StrategySpec, registry: Registry) -> None:
    """Without a latency target no reward or latency model runs: every name or option given for them is an error.

    Unknown names are reported as such; known ones, and options, say what is
    missing, so ``--latency-model bogus`` or ``--reward-option beta=abc`` is
    never silently ignored, and a preset whose reward needs a target
    (``tunas``) is not silently downgraded to a plain search.
    """
    for kind, name in (("reward", cfg.reward), ("latency_model", cfg.latency_model)):
        if name is not None:
            registry.entry(kind, name)  # an unknown name: the registry's error, listing the known ones
    given = [f"{field}={value!r}" for field, value in (
        ("reward", cfg.reward), ("latency_model", cfg.latency_model), ("reward_options", cfg.reward_options),
        ("latency_options", cfg.latency_options)) if value]
    if given:
        raise ConfigError(f"{', '.join(given)} given, but no latency target: a reward and latency model only run "
                          "with --latency-target T0 (latency_target=T0)")
    preset_reward = _preset_part(registry, "reward", spec.reward)
    if preset_reward is not None and declared(preset_reward, "needs_target") is not False:
        raise ConfigError(f"strategy {cfg.strategy!r} optimises a latency reward ({spec.reward!r}) and needs "
                          "--latency-target T0 (latency_target=T0); it was not given")


# -- capabilities -------------------------------------------------------------

def component_class(factory: Callable[..., Any]) -> type | None:
    """The class a factory builds, where it can be told without calling it (a class, a partial of one)."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    return factory if isinstance(factory, type) else None


def declared(entry: Entry, attribute: str, options: Mapping[str, Any] | None = None) -> Any:
    """A capability a component declares as a class attribute; a factory function is built to ask its product.

    Returns None when the answer cannot be had (a factory that needs options it was not given).
    """
    cls = component_class(entry.factory)
    if cls is not None:
        return getattr(cls, attribute, None)
    try:
        return getattr(entry.factory(**dict(options or {})), attribute, None)
    except Exception:  # noqa: BLE001 - a factory that cannot be built here simply does not answer
        return None


#: optimizer declaration -> (sampler attribute it requires, what that means in an error)
SAMPLER_NEEDS = {
    "needs_differentiable_sampler": ("differentiable", "a differentiable sampler (its selections carry "
                                                       "gradient to the architecture parameters)"),
    "needs_single_path_sampler": ("single_path", "a single-path sampler (one drawn choice per decision)"),
}


def fitting(registry: Registry, kind: str, attribute: str) -> list[str]:
    """Installed components of ``kind`` that declare ``attribute`` true, as ``name (distribution)``."""
    found = []
    for entry in registry.entries(kind):
        if declared(entry, attribute):
            name = entry.qualified if registry.is_ambiguous(kind, entry.name) else entry.name
            found.append(f"{name} ({entry.plugin})")
    return sorted(found)


def check_capabilities(composition: Composition, registry: Registry) -> None:
    """Refuse a combination of components that cannot work, naming the installed ones that would."""
    cfg = composition.config
    optimizer, sampler = composition.entries["arch_optimizer"], composition.entries["sampler"]
    for need, (attribute, meaning) in SAMPLER_NEEDS.items():
        if declared(optimizer, need, cfg.optimizer_options) and not declared(sampler, attribute, cfg.sampler_options):
            raise ConfigError(
                f"architecture optimizer {optimizer.qualified!r} needs {meaning}; sampler {sampler.qualified!r} "
                f"does not declare {attribute} = True. Installed samplers that fit: "
                f"{', '.join(fitting(registry, 'sampler', attribute)) or 'none'}")
    if declared(optimizer, "needs_latency_target", cfg.optimizer_options) and cfg.latency_target is None:
        raise ConfigError(f"architecture optimizer {optimizer.qualified!r} needs a latency target: pass "
                          f"--latency-target (latency_target=) and a reward (installed: "
                          f"{', '.join(registry.names('reward')) or 'none'})")
    reward = composition.entries.get("reward")
    if reward is not None and cfg.latency_target is None and declared(reward, "needs_target", cfg.reward_options):
        raise ConfigError(f"reward {reward.qualified!r} needs a latency target T0: pass --latency-target "
                          f"(latency_target=)")


# -- reading config.json back -------------------------------------------------

def split_record(data: Mapping[str, Any]) -> tuple[SearchConfig, dict[str, Any]]:
    """``config.json`` -> the SearchConfig to run and the record kept beside it (empty for older run dirs)."""
    record = {k: data[k] for k in RECORD_KEYS if k in data}
    fields = {k: v for k, v in data.items() if k not in RECORD_KEYS}
    return SearchConfig.from_dict(fields), record


def check_versions(record: Mapping[str, Any], registry: Registry, device: str, strict: bool) -> None:
    """Say (or, with ``strict``, refuse) when code that a recorded run used has changed since it started."""
    recorded = record.get("provenance")
    if not recorded:
        return
    contributing = [(c["distribution"], c.get("version")) for c in record.get("components", {}).values()]
    changes = version_changes(recorded, provenance(registry, device), contributing)
    if not changes:
        return
    message = "this run was started with other versions: " + "; ".join(changes)
    if strict:
        raise ConfigError(message + " (resume without --strict to continue anyway)")
    logger.warning("%s; the resumed search may not match an uninterrupted one", message)
