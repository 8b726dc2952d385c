"""A search space read from a user's model: its choices are the decisions, the model itself the supernet.

``model_space(Net, input_shape=(3, 32, 32))`` collects every choice module
(:mod:`nasplug.nn.choices`, :mod:`nasplug.nn.mutable_ops`) in the module tree,
names each decision by its ``label`` or its module path (``/`` for ``.``),
dry-runs the model once with every candidate to refuse candidates whose
output shapes differ, and serves the :class:`~nasplug.spaces.base.SearchSpace`
contract, so every sampler, optimizer and latency model works on it.
``build_child`` replaces every choice by what was chosen: the child is the
user's own model class holding torch modules only.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Callable, Mapping

import attrs
import torch
from torch import nn

from nasplug.components import Selection
from nasplug.errors import ConfigError, GenotypeError
from nasplug.import_path import import_path_of, resolve
from nasplug.nn.context import selecting
from nasplug.nn.freezing import freeze_tree
from nasplug.nn.mutable import Mutable
from nasplug.nn.units import ModelUnits, unit_key
from nasplug.spaces.base import Decision, Genotype, SearchSpace, Supernet, as_probability_lists

#: containers inside choice modules left out of decision names (``stage1/0/op/conv/...``, not ``.../blocks/0/...``)
INTERNAL_CONTAINERS = ("candidates", "blocks")
#: the batch of the dry run that checks candidate shapes when a space is built
DRY_RUN_BATCH = 2


@attrs.frozen
class ModelGenotype(Genotype):
    """One choice label per decision of one model (``model`` names it, so another model's genotype is refused)."""

    model: str
    choices: tuple[tuple[str, str], ...] = attrs.field(converter=lambda items: tuple((str(k), str(v))
                                                                                      for k, v in items))

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "choices": dict(self.choices)}

    def __str__(self) -> str:
        return " ".join(f"{name}={label}" for name, label in self.choices)


def collect_decisions(model: nn.Module) -> tuple[Decision, ...]:
    """Every decision of ``model``'s choice modules, in module order; binds each module to its decisions' names.

    A choice object used twice, or two choices with one label and the same
    choices, are one decision; one label on different choices is refused.
    """
    names_of_roots: dict[int, str] = {}
    first_seen: dict[str, tuple[tuple[str, ...], str]] = {}
    decisions: list[Decision] = []
    shown = {"": ""}  # module path -> the path a decision is named by
    for path, module in model.named_modules():
        if path:
            parent, _, last = path.rpartition(".")
            hidden = isinstance(model.get_submodule(parent), Mutable) and last in INTERNAL_CONTAINERS
            shown[path] = shown[parent] if hidden else "/".join(p for p in (shown[parent], last) if p)
        if not isinstance(module, Mutable):
            continue
        names = {}
        for role, choice in module.value_choices():
            root = choice.root
            name = names_of_roots.get(id(root))
            if name is None:
                base = shown[path] or "model"
                name = root.label or (f"{base}/{role}" if module.role_in_name else base)
                where = f"{path or 'the model'} ({type(module).__name__}.{role})"
                if name in first_seen:
                    labels, other = first_seen[name]
                    if labels != root.choice_labels:
                        raise ConfigError(
                            f"two decisions are named {name!r} with different choices: {other} has "
                            f"{list(labels)}, {where} has {list(root.choice_labels)}; give them different labels, "
                            "or the same choices to share one decision")
                else:
                    first_seen[name] = (root.choice_labels, where)
                    decisions.append(Decision(name, root.choice_labels))
                names_of_roots[id(root)] = name
            names[role] = name
        module.bind(names)
    return tuple(decisions)


class ModelSupernet(Supernet):
    """The user's model run with one selection per decision (its ``forward(x)`` is unchanged)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, selections: Mapping[str, Selection]):
        with selecting(selections):
            return self.model(x)


def _shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or not tuple(value) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ConfigError(f"input_shape must be the shape of one example, positive integers like (3, 32, 32); "
                          f"got {value!r}")
    return tuple(value)


class ModelSpace(SearchSpace):
    """The space of a model with choices inside; build it with :func:`model_space`."""

    name = "model"

    def __init__(self, model: Any, input_shape: Any = None, model_options: Mapping[str, Any] | None = None):
        target = resolve(model) if isinstance(model, str) else model
        if isinstance(target, nn.Module):
            if model_options:
                raise ConfigError("model_options are for a model class or factory; this is a built model instance")
            instance = target
            self._factory: Callable[..., nn.Module] = lambda **_: copy.deepcopy(instance)
            self.model_path = None
            self.model_label = type(target).__qualname__
        elif callable(target):
            self._factory = target
            self.model_path = model if isinstance(model, str) else import_path_of(target)
            self.model_label = self.model_path or getattr(target, "__qualname__", repr(target))
        else:
            raise ConfigError(f"model must be an nn.Module class, a function returning one, a built model or an "
                              f"import path 'package.module:Name'; got {model!r}")
        if not isinstance(model_options, (Mapping, type(None))):
            raise ConfigError(f"model_options must be a mapping of argument names to values, got {model_options!r}")
        self.model_options = dict(model_options or {})
        declared = input_shape if input_shape is not None else getattr(target, "input_shape", None)
        if declared is None:
            raise ConfigError(f"model {self.model_label} needs an example input shape for its dry run: pass "
                              "input_shape=(C, H, W), or declare input_shape on the model class")
        self.input_shape = _shape(declared)
        self.test_input_shape = self.input_shape
        probe = self._instantiate(None, self.input_shape)
        self._decisions = collect_decisions(probe)
        if not self._decisions:
            raise ConfigError(f"model {self.model_label} has no choice in it; add a LayerChoice, InputChoice, Repeat "
                              "or a Mutable layer with a ValueChoice (nasplug.nn)")
        self._dry_run(probe)

    # -- building -------------------------------------------------------------
    def _instantiate(self, num_classes: int | None, input_shape) -> nn.Module:
        kwargs = dict(self.model_options)
        try:
            parameters = inspect.signature(self._factory).parameters
        except (TypeError, ValueError):
            parameters = {}
        if num_classes is not None and "num_classes" in parameters:
            kwargs.setdefault("num_classes", num_classes)
        if "in_channels" in parameters and len(input_shape) > 1:
            kwargs.setdefault("in_channels", input_shape[0])
        try:
            model = self._factory(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"model {self.model_label} could not be built with {kwargs}: {exc}") from None
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model {self.model_label} built a {type(model).__name__}, not an nn.Module")
        return model

    def _dry_run(self, model: nn.Module) -> None:
        """Every candidate of every decision runs once (a uniform mixture) and their output shapes are compared."""
        uniform = {d.name: Selection(torch.full((len(d.choices),), 1.0 / len(d.choices))) for d in self._decisions}
        x = torch.randn((DRY_RUN_BATCH,) + self.input_shape, generator=torch.Generator().manual_seed(0))
        model.eval()
        try:
            with torch.no_grad(), selecting(uniform, check_shapes=True):
                model(x)
        except ConfigError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"model {self.model_label}: the dry run on an input of shape {list(x.shape)} failed: "
                              f"{first}") from None

    def _model(self, input_shape, num_classes: int) -> nn.Module:
        model = self._instantiate(num_classes, tuple(input_shape))
        decisions = collect_decisions(model)
        if decisions != self._decisions:
            raise ConfigError(f"model {self.model_label} built for num_classes={num_classes} has other decisions "
                              f"({[d.name for d in decisions]}) than its space ({self.decision_names()})")
        return model

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    def options(self) -> dict[str, Any]:
        return {"model": self.model_path or f"<{self.model_label}: not importable>",
                "input_shape": list(self.input_shape), "model_options": dict(self.model_options)}

    @property
    def rebuildable(self) -> bool:
        """Whether ``registry.get("space", "model", **options())`` rebuilds it (a resumed run, ``nasplug train``)."""
        return self.model_path is not None

    def build_supernet(self, input_shape, num_classes) -> ModelSupernet:
        return ModelSupernet(self._model(input_shape, num_classes))

    def build_child(self, genotype, input_shape, num_classes, supernet: ModelSupernet | None = None,
                    auxiliary: bool = False, **train_options: Any) -> nn.Module:
        """The user's model class with every choice replaced by the chosen torch module.

        With ``supernet``, the child inherits its weights (sliced to the chosen
        widths and kernels); otherwise it is freshly initialised for retraining.
        """
        if auxiliary or train_options:
            raise ConfigError(f"a model space's child takes no training options (got auxiliary={auxiliary}, "
                              f"{train_options}); retrain it without an auxiliary head or drop path")
        chosen = self.choices_from_genotype(genotype)
        if supernet is not None:
            if not isinstance(supernet, ModelSupernet):
                raise ConfigError(f"supernet must come from this space's build_supernet, got {type(supernet).__name__}")
            model = copy.deepcopy(supernet.model)
            collect_decisions(model)
        else:
            model = self._model(input_shape, num_classes)
        return freeze_tree(model, chosen, inherit=supernet is not None)

    # -- latency units (a per-layer lookup table: nasplug_tunas's ``lookup``) ---
    def _units(self, input_shape, num_classes: int | None = None) -> ModelUnits:
        """The latency units of this model at ``input_shape`` (built once per shape and class count)."""
        key = (tuple(input_shape), num_classes)
        cache = self.__dict__.setdefault("_unit_cache", {})
        if key not in cache:
            cache[key] = ModelUnits(self._model(key[0], num_classes), self._decisions, key[0])
        return cache[key]

    def layer_configs(self, choices: Mapping[str, int], input_shape) -> list[dict[str, Any]]:
        """The units the child of ``choices`` runs, each with its own choices and the shapes it receives."""
        configs = self._units(input_shape).layer_configs({d.name: self.choice_index(d, choices)
                                                           for d in self._decisions})
        return [{**cfg, "model_input": list(input_shape)} for cfg in configs]

    def latency_units(self, input_shape) -> dict[str, list[dict[str, Any]]]:
        """Every configuration each unit can take (:mod:`nasplug.nn.units`), for a per-layer lookup table."""
        return {path: [{**cfg, "model_input": list(input_shape)} for cfg in configs]
                for path, configs in self._units(input_shape).latency_units().items()}

    def active_decisions(self, choices: Mapping[str, int]) -> set[str]:
        """The decisions whose value matters for ``choices``: not those nested in an unchosen LayerChoice
        candidate or in a Repeat block beyond the chosen depth (REINFORCE's log pi and the measured latency
        table count only these)."""
        return set(self._units(self.input_shape).active_decisions({d.name: self.choice_index(d, choices)
                                                                   for d in self._decisions}))

    def unit_key(self, cfg: Mapping[str, Any]) -> str:
        return unit_key(cfg)

    def build_unit(self, cfg: Mapping[str, Any], num_classes: int) -> nn.Module:
        """The standalone child module of one unit configuration (for timing it)."""
        return self._units(cfg["model_input"], num_classes).build_unit(cfg)

    def unit_inputs(self, cfg: Mapping[str, Any], batch_size: int) -> tuple:
        return ModelUnits.unit_inputs(cfg, batch_size)

    # -- genotypes ------------------------------------------------------------
    def derive(self, probabilities) -> ModelGenotype:
        """The most probable choice of every decision (the first on a tie)."""
        probs = as_probability_lists(probabilities)
        return self.genotype_from_choices({d.name: max(range(len(d.choices)), key=lambda k: (probs[d.name][k], -k))
                                           for d in self._decisions})

    def genotype_from_choices(self, choices: Mapping[str, int]) -> ModelGenotype:
        unknown = sorted(set(choices) - set(self.decision_names()))
        if unknown:
            raise GenotypeError(f"choices name decisions {unknown} that model {self.model_label} does not have; its "
                                f"decisions are {self.decision_names()}")
        return ModelGenotype(self.model_label, [(d.name, d.choices[self.choice_index(d, choices)])
                                                for d in self._decisions])

    def choices_from_genotype(self, genotype) -> dict[str, int]:
        genotype = self._coerce(genotype)
        return {d.name: d.choices.index(dict(genotype.choices)[d.name]) for d in self._decisions}

    def genotype_from_json(self, data: Any) -> ModelGenotype:
        if not isinstance(data, Mapping) or not isinstance(data.get("choices"), Mapping) or "model" not in data:
            raise GenotypeError(f"a model genotype is {{'model': ..., 'choices': {{decision: choice}}}}, got {data!r}")
        if data["model"] != self.model_label:
            raise GenotypeError(f"the genotype is of model {data['model']!r}; this space searches model "
                                f"{self.model_label!r}")
        given = dict(data["choices"])
        if sorted(given) != sorted(self.decision_names()):
            raise GenotypeError(f"the genotype's decisions {sorted(given)} are not model {self.model_label}'s "
                                f"{sorted(self.decision_names())}")
        choices = {}
        for d in self._decisions:
            label = str(given[d.name])
            if label not in d.choices:
                raise GenotypeError(f"choice {label!r} of decision {d.name!r} is not allowed; its choices are "
                                    f"{', '.join(d.choices)}")
            choices[d.name] = d.choices.index(label)
        return self.genotype_from_choices(choices)

    def _coerce(self, genotype) -> ModelGenotype:
        if isinstance(genotype, ModelGenotype):
            return self.genotype_from_json(genotype.to_json())
        return self.genotype_from_json(genotype)


def model_space(model: Any, input_shape: Any = None, model_options: Mapping[str, Any] | None = None) -> ModelSpace:
    """The search space of ``model``: a class or factory (called with ``model_options``, plus ``num_classes``
    and ``in_channels`` where it takes them), an import path ``'package.module:Name'``, or a built model.

    ``input_shape`` is one example's shape for the dry run (else the model's
    ``input_shape`` attribute).  A class or module-level factory makes a
    space a resumed run and ``nasplug train`` can rebuild by name (``model``).
    """
    return ModelSpace(model, input_shape, model_options)


#: small options for the conformance kit (nasplug.testing): a tiny model with every kind of choice
model_space.test_options = {"model": "nasplug.testing.model:TinyChoiceNet"}  # type: ignore[attr-defined]
