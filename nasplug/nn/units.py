"""A user model's latency units: the places of a child that a per-layer lookup table times one by one.

TuNAS's cost model is a lookup table summed over layers: a layer's time
depends on its own choices and on the shapes it receives, never on other
layers.  A model space finds its layers in the module tree of the supernet:

* a module with no choice inside (a ReLU, the pooling) is a *fixed* unit;
* a choice module (``LayerChoice``, ``InputChoice``, a Mutable layer) is one
  unit, its configuration the values of the decisions inside it (candidate,
  kernel, width);
* a plain module with choices inside (a residual block) is one unit while it
  holds no ``Repeat`` and at most :data:`UNIT_CONFIGS_LIMIT` configurations of
  its own choices: timing it whole also counts the functional code of its
  ``forward`` (``torch.relu``, the residual sum); otherwise its children are;
* a ``Repeat``'s blocks are units each, in a child while the depth reaches them.

A unit's configuration is the chosen values of its own decisions plus the
shapes it receives in the child (the input width is the one chosen upstream).
Both come from tracing a child: the supernet model with each unit wrapped in a
probe, frozen for the architecture, run once on a zero example.  The entries a
table needs (:meth:`ModelUnits.latency_units`) are every configuration of each
unit's own decisions times every input shape it can receive; which upstream
decisions change a unit's input is found by switching each decision alone over
a few backgrounds.  A unit is timed standalone as the frozen subtree, on its
real input shapes (:meth:`ModelUnits.build_unit`, :meth:`ModelUnits.unit_inputs`).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections import OrderedDict
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from nasplug.errors import ConfigError
from nasplug.nn.choices import Repeat
from nasplug.nn.freezing import freeze_tree
from nasplug.nn.mutable import Mutable

#: a plain module with choices inside is one unit up to this many configurations of its own choices
UNIT_CONFIGS_LIMIT = 64
#: backgrounds over which each decision is switched to find what changes a unit's input (the first: choice 0)
DEPENDENCY_BACKGROUNDS = 3
#: traced architectures kept (a REINFORCE search revisits its likely ones; the oldest are dropped)
MEMO_SIZE = 4096


def _own_decisions(module: nn.Module) -> dict[str, int]:
    """Decision name -> number of choices, for every decision bound inside ``module`` (itself included)."""
    found = {}
    for m in module.modules():
        if isinstance(m, Mutable):
            for role, choice in m.value_choices():
                found[m.decision_name(role)] = len(choice.root.values)
    return found


def _runs_itself(module: nn.Module) -> bool:
    """Whether ``module`` has a forward of its own (a ModuleList or ModuleDict is only indexed by its parent)."""
    return type(module).forward is not nn.Module.forward


def unit_paths(model: nn.Module) -> list[str]:
    """The module paths of ``model``'s units, in module order (the rules of this module's docstring)."""
    found: list[str] = []

    def walk(path: str, module: nn.Module) -> None:
        has_choice = any(isinstance(m, Mutable) for m in module.modules())
        if path and _runs_itself(module) and (
                not has_choice or (isinstance(module, Mutable) and not isinstance(module, Repeat)) or (
                    not any(isinstance(m, Repeat) for m in module.modules())
                    and math.prod(_own_decisions(module).values()) <= UNIT_CONFIGS_LIMIT)):
            found.append(path)
            return
        for name, child in module.named_children():
            walk(f"{path}.{name}" if path else name, child)

    walk("", model)
    return found


class _Recording(dict):
    """The choices, noting which decisions were read: freezing reads only those the child keeps."""

    def __init__(self, items):
        super().__init__(items)
        self.read: set[str] = set()

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)


class _Probe(nn.Module):
    """Runs one unit and notes the shapes it received (batch axis left out) in ``records``."""

    def __init__(self, inner: nn.Module, path: str):
        super().__init__()
        self.inner = inner
        self.path = path
        self.records: list[tuple[str, list]] = []

    def forward(self, *args):
        self.records.append((self.path, [_shapes(a) for a in args]))
        return self.inner(*args)


def _shapes(value: Any):
    if isinstance(value, torch.Tensor):
        return list(value.shape[1:])
    if isinstance(value, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in value):
        return [[list(v.shape[1:]) for v in value]]  # one list argument: its tensors' shapes, marked by nesting
    raise ConfigError(f"a latency unit received a {type(value).__name__}; units take tensors or lists of tensors")


def _shape_text(entry) -> str:
    if entry and isinstance(entry[0], list):
        return "[" + ",".join(_shape_text(e) for e in entry[0]) + "]"
    return "x".join(map(str, entry))


def unit_key(cfg: Mapping[str, Any]) -> str:
    """The table key of one unit configuration: its path, its own choices and the shapes it receives."""
    own = ",".join(f"{name}={label}" for name, label in cfg["choices"])
    return f"{cfg['unit']}|{own}|in={';'.join(_shape_text(e) for e in cfg['inputs'])}"


class ModelUnits:
    """The latency units of one supernet model (decisions bound) at one input shape."""

    def __init__(self, model: nn.Module, decisions: Sequence[Any], input_shape: Sequence[int]):
        self.model = model
        self.decisions = tuple(decisions)
        self.input_shape = tuple(input_shape)
        self.paths = unit_paths(model)
        self.own = {path: _own_decisions(model.get_submodule(path)) for path in self.paths}
        self._probed = copy.deepcopy(model)
        for path in self.paths:
            parent, _, name = path.rpartition(".")
            owner = self._probed.get_submodule(parent) if parent else self._probed
            setattr(owner, name, _Probe(owner.get_submodule(name), path))
        self._traces: OrderedDict[tuple[int, ...], tuple[list[tuple[str, list]], frozenset[str]]] = OrderedDict()

    # -- tracing --------------------------------------------------------------
    def trace(self, choices: Mapping[str, int]) -> list[tuple[str, list]]:
        """(unit path, input shapes) of every unit the child of ``choices`` runs, in the order it runs them."""
        return self._traced(choices)[0]

    def active_decisions(self, choices: Mapping[str, int]) -> frozenset[str]:
        """The decisions the child of ``choices`` keeps: not those inside an unchosen candidate or a block
        beyond the chosen depth (freezing the child reads exactly these)."""
        return self._traced(choices)[1]

    def _traced(self, choices: Mapping[str, int]) -> tuple[list[tuple[str, list]], frozenset[str]]:
        key = tuple(int(choices[d.name]) for d in self.decisions)
        if key in self._traces:
            self._traces.move_to_end(key)
            return self._traces[key]
        chosen = _Recording(zip([d.name for d in self.decisions], key))
        with torch.random.fork_rng(devices=[]), torch.no_grad():  # the search's random stream is left alone
            child = freeze_tree(copy.deepcopy(self._probed), chosen, inherit=True).eval()
            records: list[tuple[str, list]] = []
            for probe in child.modules():
                if isinstance(probe, _Probe):
                    probe.records = records
            child(torch.zeros((1,) + self.input_shape))
        if len(self._traces) >= MEMO_SIZE:
            self._traces.popitem(last=False)
        self._traces[key] = (records, frozenset(chosen.read))
        return self._traces[key]

    def _config(self, path: str, choices: Mapping[str, int], inputs: list) -> dict[str, Any]:
        labels = {d.name: d.choices for d in self.decisions}
        return {"unit": path, "choices": [[name, labels[name][int(choices[name])]] for name in self.own[path]],
                "inputs": inputs}

    def layer_configs(self, choices: Mapping[str, int]) -> list[dict[str, Any]]:
        """The configuration of every unit the child of ``choices`` runs (a unit run twice appears twice)."""
        return [self._config(path, choices, inputs) for path, inputs in self.trace(choices)]

    # -- the table's entries ----------------------------------------------------
    def _full_depth(self, choices: dict[str, int]) -> dict[str, int]:
        """``choices`` with every Repeat at its deepest, so that every block is in the child."""
        out = dict(choices)
        for m in self.model.modules():
            if isinstance(m, Repeat):
                values = m.choice.root.values
                out[m.decision_name("depth")] = max(range(len(values)), key=lambda k: m.choice.values[k])
        return out

    def input_dependencies(self, generator: torch.Generator) -> dict[str, set[str]]:
        """For each unit, the decisions that change its input shapes when switched alone, over a few backgrounds."""
        backgrounds = [self._full_depth({d.name: 0 for d in self.decisions})]
        while len(backgrounds) < DEPENDENCY_BACKGROUNDS:
            backgrounds.append(self._full_depth({d.name: int(torch.randint(len(d.choices), (1,),
                                                                           generator=generator))
                                                 for d in self.decisions}))
        found: dict[str, set[str]] = {path: set() for path in self.paths}
        for background in backgrounds:
            base = dict(self.trace(background))
            for d in self.decisions:
                for k in range(len(d.choices)):
                    if k == background[d.name]:
                        continue
                    switched = dict(self.trace({**background, d.name: k}))
                    for path, inputs in switched.items():
                        if path in base and base[path] != inputs:
                            found[path].add(d.name)
        return found

    def latency_units(self) -> dict[str, list[dict[str, Any]]]:
        """Every configuration each unit can take: its own choices times the input shapes it can receive."""
        depends = self.input_dependencies(torch.Generator().manual_seed(0))
        sizes = {d.name: len(d.choices) for d in self.decisions}
        background = self._full_depth({d.name: 0 for d in self.decisions})
        units: dict[str, list[dict[str, Any]]] = {}
        for path in self.paths:
            upstream = sorted(depends[path])
            own_only = [name for name in self.own[path] if name not in depends[path]]
            configs, seen = [], set()
            for values in itertools.product(*(range(sizes[n]) for n in upstream)):
                choices = {**background, **dict(zip(upstream, values))}
                received = [inputs for p, inputs in self.trace(choices) if p == path]
                for inputs in received:
                    for own_values in itertools.product(*(range(sizes[n]) for n in own_only)):
                        cfg = self._config(path, {**choices, **dict(zip(own_only, own_values))}, inputs)
                        key = unit_key(cfg)
                        if key not in seen:
                            seen.add(key)
                            configs.append(cfg)
            if configs:
                units[path] = configs
        return units

    # -- one unit, standalone ---------------------------------------------------
    def build_unit(self, cfg: Mapping[str, Any]) -> nn.Module:
        """The child module of one unit configuration: the unit's subtree frozen for its own choices."""
        path = cfg["unit"]
        if path not in self.own:
            raise ConfigError(f"latency unit {path!r} is not a unit of this model; its units are {self.paths}")
        labels = {d.name: d.choices for d in self.decisions}
        chosen = {name: labels[name].index(label) for name, label in cfg["choices"]}
        with torch.random.fork_rng(devices=[]):
            return freeze_tree(copy.deepcopy(self.model.get_submodule(path)), chosen, inherit=False).eval()

    @staticmethod
    def unit_inputs(cfg: Mapping[str, Any], batch_size: int) -> tuple:
        """Random inputs of the shapes the unit receives in the child, with a batch of ``batch_size``."""
        def make(entry):
            if entry and isinstance(entry[0], list):
                return [make(e) for e in entry[0]]
            return torch.randn((batch_size,) + tuple(entry))
        return tuple(make(entry) for entry in cfg["inputs"])
