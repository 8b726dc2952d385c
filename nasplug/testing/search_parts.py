"""Conformance checks for the parts of a search step: architecture optimizers, rewards, latency models,
strategy presets, datasets and named genotypes."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import torch

from nasplug.components import ArchOptimizer, LatencyModel, Reward
from nasplug.errors import ConfigError, NasplugError
from nasplug.registry import Registry, default_registry
from nasplug.search.spec import StrategySpec
from nasplug.testing.rules import ContractViolation, Skip, require
from nasplug.testing.spaces import (build, build_instance, build_space, check_bad_option, state_round_trip,
                                    test_options)

#: the run every optimizer is checked on: the kernel's NAS-Bench-201 cell at 4 channels, 64 digits, 2x2 steps
TINY_RUN = {"space": "nasplug:nb201", "space_options": {"C": 4, "N": 1}, "data": "nasplug:digits",
            "data_options": {"limit_train": 64}, "batch_size": 8, "steps_per_epoch": 2, "epochs": 2,
            "eval_batches": 1, "strategy": "nasplug:random", "seed": 0}
#: preferred samplers for an optimizer's declared needs (the kernel's own, always installed)
SAMPLER_FOR = {"needs_differentiable_sampler": "nasplug:mixture", "needs_single_path_sampler": "nasplug:uniform"}


def _run_config(registry: Registry, name: str, optimizer, options: dict[str, Any]) -> dict[str, Any]:
    sampler = "nasplug:uniform"
    for need, candidate in SAMPLER_FOR.items():
        if getattr(optimizer, need, False):
            sampler = candidate
    cfg = {**TINY_RUN, "sampler": sampler, "arch_optimizer": name, "optimizer_options": options}
    if getattr(optimizer, "needs_latency_target", False):
        rewards = registry.names("reward")
        if not rewards:
            raise Skip("needs a latency target and a reward, and no reward is installed")
        cfg.update(reward=rewards[0], latency_target=1.0)
    return cfg


def _fingerprint(run) -> tuple[str, dict[str, torch.Tensor], list[dict[str, Any]]]:
    history = [{k: v for k, v in h.items() if k not in ("seconds", "cpu_seconds")} for h in run.history]
    return str(run.final), {k: v.detach().clone() for k, v in run.arch.state_dict().items()}, history


def _same(a, b) -> bool:
    return a[0] == b[0] and a[1].keys() == b[1].keys() and all(torch.equal(a[1][k], b[1][k]) for k in a[1]) \
        and a[2] == b[2]


def check_arch_optimizer(name: str, registry: Registry | None = None, **options: Any) -> None:
    """Declarations, a two-epoch tiny search, the same seed twice, and a resume from a state_dict."""
    from nasplug.search.run import SearchRun, merged_config

    registry = registry or default_registry()
    kind = "arch_optimizer"
    options = {**test_options(registry, kind, name), **options}
    optimizer = build_instance(registry, kind, name, ArchOptimizer, "optimizer.is-an-ArchOptimizer", **options)
    for attribute in ("arch_first", "needs_differentiable_sampler", "needs_single_path_sampler",
                      "needs_latency_target"):
        require(isinstance(getattr(optimizer, attribute, None), bool), kind, name, f"optimizer.declares-{attribute}",
                f"{attribute} must be a bool")
    check_bad_option(registry, kind, name, options)
    cfg = merged_config(_run_config(registry, name, optimizer, options), registry)

    whole = _run_to_end(SearchRun(cfg, registry, write_files=False))
    for record in whole[2]:
        bad = {k: v for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)}
        require(not bad, kind, name, "optimizer.finite-metrics", f"arch_step/weight_step metrics not finite: {bad}")
    require(_same(whole, _run_to_end(SearchRun(cfg, registry, write_files=False))), kind, name, "optimizer.seeded",
            "two runs with the same seed ended differently: take randomness only from run.state.generator "
            "(or torch's global generator, which the run seeds and checkpoints)")
    check_resume(kind, name, cfg, registry, "optimizer.state-dict-resume", whole)


def _run_to_end(run):
    run.run()
    return _fingerprint(run)


def check_resume(kind: str, name: str, cfg, registry: Registry, rule: str, whole=None) -> None:
    """A search stopped after its first epoch and resumed from its run directory ends as an uninterrupted one.

    This is what ``nasplug resume`` does after a kill: a new process rebuilds every part from the registry and
    loads the checkpoint, so a count or schedule a part keeps outside ``state_dict()`` starts over.
    """
    from nasplug.search.run import SearchRun

    whole = whole or _run_to_end(SearchRun(cfg, registry, write_files=False))
    with tempfile.TemporaryDirectory(prefix="nasplug-resume-") as tmp:
        run_dir = Path(tmp) / "run"
        first = SearchRun(cfg, registry, run_dir=run_dir)
        first.run_epoch()
        first.save()
        first.release()
        ended = _run_to_end(SearchRun.resume(run_dir, registry))
    require(_same(whole, ended), kind, name, rule,
            "a search stopped after epoch 1 and resumed from its run directory (as `nasplug resume` does after a "
            "kill) ended differently from an uninterrupted one: keep every piece of state in state_dict(), an "
            "epoch or step count of your own too (or read it from the SearchState)")


def check_sampler_resumes(name: str, registry: Registry | None = None, **options: Any) -> None:
    """The sampler's rules (:func:`nasplug.testing.spaces.check_sampler`), then a tiny search with it is stopped
    after its first epoch, resumed from its run directory and compared with an uninterrupted one."""
    from nasplug.search.run import merged_config
    from nasplug.testing.spaces import check_sampler

    registry = registry or default_registry()
    check_sampler(name, registry, **options)
    sampler = build(registry, "sampler", name, **options)
    optimizer = "nasplug:gradient" if sampler.differentiable else "nasplug:random"
    try:
        cfg = merged_config({**TINY_RUN, "sampler": name, "arch_optimizer": optimizer,
                             "sampler_options": {**test_options(registry, "sampler", name), **options}}, registry)
    except ConfigError:
        return  # no kernel optimizer runs with this sampler: the resume rule cannot run
    try:
        check_resume("sampler", name, cfg, registry, "sampler.resume")
    except ConfigError:  # the kit's tiny search does not build with this sampler: the resume rule cannot run
        return


def check_reward(name: str, registry: Registry | None = None, **options: Any) -> None:
    """``reward(Q, T)`` on floats and tensors alike, differentiable, non-decreasing in Q; the target declaration."""
    registry = registry or default_registry()
    kind = "reward"
    reward_cls = registry.factory(kind, name)
    needs_target = getattr(reward_cls, "needs_target", True)
    options = {**test_options(registry, kind, name), **options}
    reward = build_instance(registry, kind, name, Reward, "reward.is-a-Reward",
                            **({"target": 10.0} | options if needs_target else options))
    require(isinstance(reward.needs_target, bool), kind, name, "reward.declares-needs_target",
            "needs_target must be a bool")
    if reward.needs_target:
        try:
            registry.get(kind, name, **{k: v for k, v in options.items() if k != "target"})
        except ConfigError:
            pass
        else:
            raise ContractViolation(kind, name, "reward.refuses-missing-target",
                                    "declares needs_target but was built without a target")
    for quality, cost in [(0.9, 10.0), (0.5, 20.0), (0.7, 5.0)]:
        as_float = float(reward(quality, cost))
        q = torch.tensor(quality, requires_grad=True)
        as_tensor = reward(q, torch.tensor(cost))
        require(isinstance(as_tensor, torch.Tensor), kind, name, "reward.floats-and-tensors",
                f"reward(tensor Q, tensor T) returned a {type(as_tensor).__name__}, not a tensor: gradient strategies "
                "differentiate -reward through Q, so keep torch operations on tensors (no float(), .item() or math.*)")
        require(math.isclose(float(as_tensor.detach()), as_float,
                                                                     rel_tol=1e-5, abs_tol=1e-7),
                kind, name, "reward.floats-and-tensors", f"reward({quality}, {cost}) is {as_float} on floats but "
                                                        f"{as_tensor!r} on tensors")
        as_tensor.backward()
        require(q.grad is not None and float(q.grad) >= 0, kind, name, "reward.differentiable-in-quality",
                f"d reward / d Q at Q={quality} must exist and be >= 0 (gradient strategies use -reward), "
                f"got {q.grad}")
    require(float(reward(0.9, 10.0)) >= float(reward(0.5, 10.0)), kind, name, "reward.monotone-in-quality",
            "a higher quality gave a lower reward at the same cost")


def _prepared_space(model: LatencyModel, registry: Registry, spaces: list[str]):
    """The first space (tiny) the model prepares for; a model may refuse spaces it cannot cost."""
    refusals = []
    for space in spaces:
        try:
            tiny = build_space(space, registry)
            if tiny.test_input_shape is None:
                continue
            model.prepare(tiny, tiny.test_input_shape, 10)
            return tiny
        except (NasplugError, Skip, ContractViolation) as exc:
            refusals.append(f"{space}: {exc}")
    raise Skip("prepares for no installed space: " + "; ".join(refusals[:2]))


def check_latency_model(name: str, registry: Registry | None = None, spaces: list[str] | None = None,
                        **options: Any) -> None:
    """Prediction on a tiny space it accepts, its additive form, and a differentiable expected cost."""
    registry = registry or default_registry()
    kind = "latency_model"
    model = build_instance(registry, kind, name, LatencyModel, "latency.is-a-LatencyModel", **options)
    preferred = getattr(model, "test_space", None)
    tiny = _prepared_space(model, registry, spaces or [*([preferred] if preferred else []), "nasplug:nb201",
                                                       *registry.names("space")])
    choices = tiny.sample(torch.Generator().manual_seed(0))
    cost = model.predict(choices)
    require(isinstance(cost, (int, float)) and math.isfinite(cost) and cost >= 0, kind, name,
            "latency.predict-finite", f"predict() must return a finite number >= 0, got {cost!r}")
    require(model.predict(choices) == cost, kind, name, "latency.predict-deterministic",
            "predict() gave two answers for the same architecture")
    base, costs = model.decision_costs()
    require(set(costs) <= set(tiny.decision_names()), kind, name, "latency.additive-form",
            f"decision_costs() names unknown decisions {sorted(set(costs) - set(tiny.decision_names()))}")
    for decision in tiny.decisions:
        if decision.name in costs:
            require(len(costs[decision.name]) == len(decision.choices), kind, name, "latency.additive-form",
                    f"{decision.name}: {len(costs[decision.name])} costs for {len(decision.choices)} choices")
    selections = tiny.selections(choices)
    for sel in selections.values():
        sel.weights.requires_grad_(True)
    expected = model.expected(selections)
    require(torch.isfinite(expected).all() and expected.requires_grad, kind, name, "latency.expected-differentiable",
            "expected(selections) must be finite and carry gradient to the selection weights")


def check_proxy(name: str, registry: Registry | None = None, **options: Any) -> None:
    """A finite float for a tiny nb201 child on a random batch, the same twice, the network left unchanged."""
    registry = registry or default_registry()
    kind = "proxy"
    proxy = build(registry, kind, name, **options)
    require(callable(proxy), kind, name, "proxy.callable", f"the factory returned {type(proxy).__name__}, "
                                                            "not a callable (network, batch) -> float")
    space = build_space("nasplug:nb201", registry)
    torch.manual_seed(0)
    net = space.build_child(space.genotype_from_choices(space.sample(torch.Generator().manual_seed(0))),
                            (3, 8, 8), 10)
    generator = torch.Generator().manual_seed(0)
    batch = (torch.randn(8, 3, 8, 8, generator=generator), torch.randint(10, (8,), generator=generator))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    score = proxy(net, batch)
    require(isinstance(score, float) and not math.isnan(score), kind, name, "proxy.float",
            f"a proxy returns a float that is not nan (-inf for a degenerate network), got {score!r}")
    require(all(torch.equal(before[k], v) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")
                and "running_" not in k), kind, name, "proxy.leaves-weights",
            "the proxy changed the network's weights; score a copy")
    require(proxy(net, batch) == score, kind, name, "proxy.deterministic",
            "two calls on the same network and batch gave different scores")


def check_strategy(name: str, registry: Registry | None = None) -> None:
    """A StrategySpec whose parts are named by qualified name, accept the preset's options and fit together."""
    from nasplug.search.compose import compose, strategy_spec
    from nasplug.search.run import merged_config

    registry = registry or default_registry()
    kind = "strategy"
    try:
        spec = strategy_spec(name, registry)
    except NasplugError as exc:
        raise ContractViolation(kind, name, "strategy.is-a-StrategySpec", str(exc)) from exc
    require(isinstance(spec, StrategySpec), kind, name, "strategy.is-a-StrategySpec", "not a StrategySpec")
    parts = {"sampler": spec.sampler, "arch_optimizer": spec.arch_optimizer, "reward": spec.reward,
             "latency_model": spec.latency_model}
    for part, part_name in parts.items():
        if part_name is None:
            continue
        require(":" in part_name, kind, name, "strategy.qualified-parts",
                f"{part} {part_name!r} must be named distribution:name so the preset keeps working when another "
                "plugin registers the same short name")
        try:
            registry.entry(part, part_name)
        except NasplugError as exc:
            raise ContractViolation(kind, name, "strategy.parts-installed", str(exc)) from exc
    for part, opts in (("sampler", spec.sampler_options), ("arch_optimizer", spec.optimizer_options)):
        try:
            registry.get(part, parts[part], **opts)
        except ConfigError as exc:
            raise ContractViolation(kind, name, "strategy.options-accepted", str(exc)) from exc
    try:
        # a preset with a reward is composed with a latency target, which such a preset requires
        target = {"latency_target": 1.0} if spec.reward is not None else {}
        compose(merged_config({"strategy": name, "space": "nasplug:nb201", **target}, registry), registry)
    except ConfigError as exc:
        raise ContractViolation(kind, name, "strategy.parts-fit", str(exc)) from exc
    tiny = {k: v for k, v in TINY_RUN.items() if k != "strategy"}
    try:
        cfg = merged_config({**tiny, "strategy": name, **target}, registry)
        compose(cfg, registry)
        check_resume(kind, name, cfg, registry, "strategy.resume")
    except ConfigError:  # a part refuses the kit's tiny search (a latency table for another space): the
        return           # resume rule cannot run here; the rules above were checked


def check_dataset(name: str, registry: Registry | None = None, **options: Any) -> None:
    """Image tensors with labels in range, the declared input shape, the same data for the same options."""
    registry = registry or default_registry()
    kind = "dataset"
    bundle = build(registry, kind, name, **options)
    for split in ("train", "test"):
        data = getattr(bundle, split, None)
        require(data is not None and len(data) > 0, kind, name, "dataset.splits", f"{split} split is empty")
        x, y = data[0]
        require(tuple(x.shape) == tuple(bundle.input_shape) and x.dtype.is_floating_point, kind, name,
                "dataset.items", f"{split}[0] gives an image of shape {tuple(x.shape)} ({x.dtype}); "
                                 f"input_shape says {tuple(bundle.input_shape)}, floats expected")
        labels = data.labels
        require(int(labels.min()) >= 0 and int(labels.max()) < bundle.num_classes, kind, name,
                "dataset.labels-in-range", f"{split} labels span {int(labels.min())}..{int(labels.max())}, "
                                           f"num_classes is {bundle.num_classes}")
    again = build(registry, kind, name, **options)
    require(torch.equal(again.train.images, bundle.train.images), kind, name, "dataset.deterministic",
            "the same options gave different training images")


def check_genotype(name: str, registry: Registry | None = None) -> None:
    """A named genotype decodes in the space it names."""
    registry = registry or default_registry()
    record = registry.factory("genotype", name)()
    try:
        space = registry.get("space", record["space"], **record.get("space_options", {}))
        space.choices_from_genotype(space.genotype_from_json(record["genotype"]))
    except (KeyError, TypeError, NasplugError) as exc:
        raise ContractViolation("genotype", name, "genotype.decodes",
                                f"record {record!r} does not decode in its space: {exc}") from exc
