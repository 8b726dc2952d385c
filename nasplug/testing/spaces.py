"""Conformance checks for search spaces and samplers (and the two together)."""

from __future__ import annotations

import io
import json
from typing import Any, Mapping

import torch

from nasplug.components import ArchParameters, Sampler, drawn_choice
from nasplug.errors import ConfigError, NasplugError
from nasplug.registry import Registry, default_registry
from nasplug.spaces.base import SearchSpace
from nasplug.testing.rules import ContractViolation, Skip, require

NUM_CLASSES = 10
BATCH = 2


def test_options(registry: Registry, kind: str, name: str) -> dict[str, Any]:
    """The small options a component declares for the kit (a ``test_options`` class attribute), else none."""
    return dict(getattr(registry.factory(kind, name), "test_options", None) or {})


def build(registry: Registry, kind: str, name: str, **options: Any) -> Any:
    """The component with its declared ``test_options``, then ``options``."""
    tiny = test_options(registry, kind, name)
    try:
        return registry.get(kind, name, **{**tiny, **options})
    except ConfigError as exc:
        if tiny:
            raise ContractViolation(kind, name, "component.builds-with-test-options",
                                    f"could not be built with its test_options {tiny}: {exc}") from exc
        raise Skip(f"needs options to build ({exc}); declare test_options or pass options") from exc


def build_instance(registry: Registry, kind: str, name: str, base: type, rule: str, **options: Any) -> Any:
    """:func:`build`, then check that the factory made an instance of the contract's base class."""
    component = build(registry, kind, name, **options)
    require(isinstance(component, base), kind, name, rule,
            f"the factory returned {type(component).__name__}, not a nasplug.{base.__name__}")
    return component


def build_space(name: str, registry: Registry, **options: Any) -> SearchSpace:
    """The space with its declared ``test_options`` (small enough to run in milliseconds), then ``options``."""
    return build(registry, "space", name, **options)


def input_shape(space: SearchSpace) -> tuple[int, ...] | None:
    return getattr(space, "test_input_shape", (1, 8, 8))


def state_round_trip(state: Mapping[str, Any]) -> Any:
    """A component's state as a resumed run reads it: saved with torch.save, loaded with weights_only=True."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def search_state(space: SearchSpace, seed: int = 0, epoch: int = 0):
    from nasplug.components import SearchState

    return SearchState(space, torch.Generator().manual_seed(seed), epochs=2, steps_per_epoch=2, epoch=epoch)


def check_space(name: str, registry: Registry | None = None, **options: Any) -> None:
    """Decisions, genotype round trips, seeded sampling, derivation, supernet and child forward passes, bad options."""
    registry = registry or default_registry()
    kind = "space"
    space = build_instance(registry, kind, name, SearchSpace, "space.is-a-SearchSpace", **options)
    require(isinstance(space.name, str) and space.name, kind, name, "space.has-a-name",
            "SearchSpace.name must be a non-empty string (it is written to genotype.json)")
    decisions = space.decisions
    names = [d.name for d in decisions]
    require(decisions and len(set(names)) == len(names), kind, name, "space.decisions-unique",
            f"decisions must be non-empty with unique names, got {names}")
    # genotype.json records space.name: that is the name `nasplug train` rebuilds from (a space built by
    # another factory, like a plugin's model space, is rebuilt through the factory its name gives)
    rebuild_name = name if space.name == name.rpartition(":")[2] else space.name
    rebuilt = registry.get("space", rebuild_name, **space.options())
    require(rebuilt.options() == space.options(), kind, name, "space.options-rebuild",
            "registry.get(space.name, **space.options()) must rebuild the same space (nasplug train relies on it)")
    first = space.sample(torch.Generator().manual_seed(3))
    again = space.sample(torch.Generator().manual_seed(3))
    require(first == again, kind, name, "space.sample-seeded",
            "sample(generator) must depend only on the generator: the same seed gave different choices")
    for seed in range(3):
        choices = space.sample(torch.Generator().manual_seed(seed))
        require(set(choices) == set(names), kind, name, "space.sample-covers-decisions",
                f"sample() keys {sorted(choices)} differ from the decisions")
        genotype = space.genotype_from_choices(choices)
        encoded = json.loads(json.dumps(genotype.to_json()))
        try:
            back = space.choices_from_genotype(space.genotype_from_json(encoded))
        except Exception as exc:  # noqa: BLE001 - the round trip is the rule; say what it did to the genotype
            raise ContractViolation(kind, name, "space.genotype-round-trip",
                                    f"genotype_from_json(json.loads(json.dumps(genotype.to_json()))) raised "
                                    f"{type(exc).__name__}: {exc} for {genotype.to_json()!r}, which JSON turns into "
                                    f"{encoded!r}: to_json() must give what JSON keeps (string keys, lists, not "
                                    "tuples or int keys)") from exc
        require(back == choices, kind, name, "space.genotype-round-trip",
                f"choices -> genotype -> JSON -> genotype -> choices gave {back}, expected {choices}")
    uniform = {d.name: [1.0 / len(d.choices)] * len(d.choices) for d in decisions}
    derived = space.derive(uniform)
    space.choices_from_genotype(space.genotype_from_json(json.loads(json.dumps(derived.to_json()))))
    check_bad_option(registry, kind, name, space.options())
    shape = input_shape(space)
    if shape is None:
        return
    x = torch.randn(BATCH, *shape)
    net = space.build_supernet(shape, NUM_CLASSES)
    out = net(x, space.selections(first))
    require(tuple(out.shape) == (BATCH, NUM_CLASSES), kind, name, "space.supernet-forward",
            f"supernet(x, one-hot selections) gave shape {tuple(out.shape)}, expected {(BATCH, NUM_CLASSES)}")
    child = space.build_child(space.genotype_from_choices(first), shape, NUM_CLASSES)
    out = child(x)
    require(tuple(out.shape) == (BATCH, NUM_CLASSES), kind, name, "space.child-forward",
            f"build_child(...)(x) gave shape {tuple(out.shape)}, expected {(BATCH, NUM_CLASSES)}")


def check_bad_option(registry: Registry, kind: str, name: str, options: Mapping[str, Any]) -> None:
    """An unknown option must be refused with a ConfigError that names it, never ignored or a TypeError."""
    try:
        registry.get(kind, name, **options, no_such_option_xyz=1)
    except ConfigError as exc:
        require("no_such_option_xyz" in str(exc), kind, name, "component.bad-option-named",
                f"an unknown option must be refused with an error naming it, got: {exc}")
    except Exception as exc:  # noqa: BLE001 - any other exception is the violation
        raise ContractViolation(kind, name, "component.bad-option-named",
                                f"an unknown option raised {type(exc).__name__}: {exc}, not a ConfigError") from exc
    else:
        raise ContractViolation(kind, name, "component.bad-option-named",
                                "an unknown option no_such_option_xyz=1 was accepted silently")


def _selections(sampler: Sampler, space: SearchSpace, seed: int):
    arch = ArchParameters(space.decisions, 0.5, torch.Generator().manual_seed(11))
    return arch, sampler.sample(arch, search_state(space, seed))


def check_sampler(name: str, registry: Registry | None = None, spaces: list[str] | None = None,
                  **options: Any) -> None:
    """Declarations, every installed space that accepts it, seeds, differentiability, state_dict round trip."""
    registry = registry or default_registry()
    kind = "sampler"
    sampler = build_instance(registry, kind, name, Sampler, "sampler.is-a-Sampler", **options)
    for attribute in ("differentiable", "single_path"):
        require(isinstance(getattr(sampler, attribute, None), bool), kind, name, f"sampler.declares-{attribute}",
                f"{attribute} must be a bool class attribute (the run checks it against the optimizer's needs)")
        declared = any(attribute in vars(cls) for cls in type(sampler).__mro__ if cls is not Sampler)
        require(declared, kind, name, f"sampler.declares-{attribute}",
                f"declare {attribute} = True or False on the class: the run matches it against the optimizer's "
                "needs, and the base class's default is only a guess")
    accepted = []
    for space_name in spaces if spaces is not None else registry.names("space"):
        # a stateful sampler (its state kept in state_dict, as CONTRIBUTING asks) may change as it samples:
        # "the same seed, the same selections" is checked against a twin restored to the state before the draw
        before = state_round_trip(sampler.state_dict())
        try:
            space = build_space(space_name, registry)
        except Exception:  # noqa: BLE001 - a space the kit cannot build is that space's failure, never this sampler's
            continue
        try:
            arch, selections = _selections(sampler, space, seed=5)
        except (ContractViolation, Skip, NasplugError):
            continue  # a space this sampler refuses with a clear error
        except Exception as exc:  # noqa: BLE001 - a crash on a space is this sampler's, named by its rule
            raise ContractViolation(kind, name, "sampler.samples-on-a-space",
                                    f"sample() on space {space_name!r} crashed: {type(exc).__name__}: {exc}") from exc
        twin = build(registry, kind, name, **options)
        twin.load_state_dict(before)
        accepted.append(space)
        _check_selections(name, sampler, space, arch, selections, twin)
    require(accepted, kind, name, "sampler.works-on-a-space", "no installed space accepted this sampler")
    check_bad_option(registry, kind, name, {**test_options(registry, kind, name), **options})
    fresh = build(registry, kind, name, **options)
    fresh.load_state_dict(state_round_trip(sampler.state_dict()))
    space = accepted[0]
    _, a = _selections(sampler, space, seed=9)
    _, b = _selections(fresh, space, seed=9)
    require(all(torch.equal(a[k].weights.detach(), b[k].weights.detach()) and a[k].index == b[k].index for k in a),
            kind, name, "sampler.state-dict-round-trip",
            "a sampler rebuilt from state_dict() (saved and loaded with weights_only=True) samples differently")


def _check_selections(name: str, sampler: Sampler, space: SearchSpace, arch, selections, twin: Sampler) -> None:
    kind, where = "sampler", f"on space {space.name!r}: "
    require(set(selections) == set(space.decision_names()), kind, name, "sampler.covers-decisions",
            where + f"selections for {sorted(selections)}, decisions are {space.decision_names()}")
    for decision in space.decisions:
        sel = selections[decision.name]
        require(tuple(sel.weights.shape) == (len(decision.choices),) and torch.isfinite(sel.weights).all(),
                kind, name, "sampler.weights-shape",
                where + f"{decision.name}: weights must be finite with one entry per choice")
        require(sel.index is None or 0 <= sel.index < len(decision.choices), kind, name, "sampler.index-in-range",
                where + f"{decision.name}: index {sel.index} out of range")
        if sampler.single_path:
            require(drawn_choice(sel) is not None, kind, name, "sampler.single-path-declared",
                    where + f"declares single_path but {decision.name} has neither index nor a recorded draw")
    _, again = _selections(twin, space, seed=5)
    require(all(torch.equal(selections[k].weights.detach(), again[k].weights.detach())
                and selections[k].index == again[k].index for k in selections),
            kind, name, "sampler.seeded", where + "the same state.generator seed and the same state_dict() gave "
                                                  "different selections; draw only from state.generator")
    if sampler.differentiable:
        total = sum((sel.weights * torch.arange(1.0, len(sel.weights) + 1)).sum() for sel in selections.values())
        require(total.requires_grad, kind, name, "sampler.differentiable-declared",
                where + "declares differentiable but its weights carry no gradient to the architecture logits")
        total.backward()
        require(any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in arch.parameters()),
                kind, name, "sampler.differentiable-declared", where + "no architecture logit received a gradient")
    shape = input_shape(space)
    if shape is not None:
        out = space.build_supernet(shape, NUM_CLASSES)(torch.randn(BATCH, *shape),
                                                       {k: s.detach() for k, s in selections.items()})
        require(tuple(out.shape) == (BATCH, NUM_CLASSES), kind, name, "sampler.runs-the-supernet",
                where + f"the supernet gave shape {tuple(out.shape)} with these selections")

