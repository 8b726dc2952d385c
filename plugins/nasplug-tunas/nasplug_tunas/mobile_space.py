"""The three search spaces of Table 2, built on one MobileNet-style skeleton.

Skeleton: stem conv 3x3 -> a fixed first layer (kernel 3, expansion 1) ->
blocks of searchable inverted bottlenecks -> head -> classifier.  Decisions,
per searchable layer ``Lnn``: ``Lnn:kernel`` (depthwise 3/5/7),
``Lnn:expansion``, ``Lnn:se`` (MobileNetV3-like only), ``Lnn:skip`` (every
layer but a block's first: keep or skip, as ProxylessNAS's zero op); per
block ``Bn:filters`` where output filters are searched (base filters x
{1/2, 5/8, 3/4, 1, 5/4, 3/2, 2} rounded to multiples of 8, one decision per
block because its residual-connected layers must agree).

Expansion, SE and kernel of a skipped layer are *inactive* (they do not
count in log pi; :meth:`MobileSpace.active_decisions`).  Filter decisions
are listed by :meth:`MobileSpace.filter_decisions` so the ``categorical``
sampler's filter warmup can pick their largest choice.

Resolution: ``stem_stride`` None picks 2 for inputs of 64 pixels or more
(ImageNet) and 1 below (CIFAR 32x32, digits 8x8); ``width`` scales every
channel count and ``layers`` overrides the layers per block, so the spaces
run on small inputs and small budgets.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from nasplug.components import Selection
from nasplug.errors import ConfigError, GenotypeError
from nasplug.spaces.base import Decision, Genotype, SearchSpace, Supernet, as_probability_lists
from nasplug_tunas.mobile_ops import (ConvBNAct, InvertedBottleneck, SharedInvertedBottleneck, activation,
                                      active_count, make_divisible, selection_mask)

FILTER_MULTIPLIERS = (0.5, 0.625, 0.75, 1.0, 1.25, 1.5, 2.0)
KERNELS = (3, 5, 7)


@attrs.frozen
class BlockSpec:
    """One block of layers sharing output filters: count, stride of its first layer, base filters."""

    layers: int
    stride: int
    filters: int
    act: str = "relu"


@attrs.frozen
class LayerPlan:
    """Where one searchable layer sits: names of its decisions and its static shape facts."""

    index: int
    block: int
    stride: int
    residual: bool
    act: str
    kernel: str
    expansion: str
    se: str | None
    skip: str | None


@attrs.frozen
class MobileGenotype(Genotype):
    """One label per decision, in the space's decision order."""

    items: tuple[tuple[str, str], ...] = attrs.field(converter=lambda v: tuple((str(a), str(b)) for a, b in v))

    def as_dict(self) -> dict[str, str]:
        return dict(self.items)

    def to_json(self) -> dict[str, str]:
        return self.as_dict()

    def __str__(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.items)


def _positive_number(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{type(instance).__name__}.{attribute.name} must be a positive number, got {value!r}")


def _optional_stride(instance, attribute, value):
    if value is not None and value not in (1, 2):
        raise ConfigError(f"{type(instance).__name__}.stem_stride must be 1, 2 or None (auto), got {value!r}")


def _layers(value):
    if value is None:
        return None
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"layers must be a list of positive integers (layers per block), got {value!r}") from exc
    if not out or any(v < 1 for v in out):
        raise ConfigError(f"layers must be a list of positive integers (layers per block), got {value!r}")
    return out


@attrs.frozen
class MobileSpace(SearchSpace):
    """Shared machinery; subclasses fix the block table and which parts are searched."""

    width: float = attrs.field(default=1.0, validator=_positive_number)
    layers: tuple[int, ...] | None = attrs.field(default=None, converter=_layers)
    stem_stride: int | None = attrs.field(default=None, validator=_optional_stride)
    divisor: int = attrs.field(default=8, validator=_positive_number)
    dropout: float = attrs.field(default=0.0)
    min_resolution: int = attrs.field(default=2, validator=_positive_number)

    # -- per-space tables (overridden) ----------------------------------------
    name = "mobile"
    #: small options for the conformance kit (nasplug.testing): builds and runs in milliseconds
    test_options = {"width": 0.25, "layers": (1, 2, 1, 1, 1, 1)}
    stem_filters = 32
    stem_act = "relu"
    first_filters = 16
    head_filters = (1280,)
    v3_head = False
    expansions = (3, 6)
    search_se = False
    search_filters = False
    base_blocks = ()

    def __attrs_post_init__(self):
        if self.layers is not None and len(self.layers) != len(self.base_blocks):
            raise ConfigError(f"{self.name} layers must give {len(self.base_blocks)} counts (one per block), "
                              f"got {list(self.layers)}")

    # -- structure -------------------------------------------------------------
    def scaled(self, channels: float) -> int:
        return make_divisible(channels * self.width, int(self.divisor))

    def blocks(self) -> list[BlockSpec]:
        counts = self.layers or tuple(b.layers for b in self.base_blocks)
        return [attrs.evolve(b, layers=n) for b, n in zip(self.base_blocks, counts)]

    def block_filter_counts(self, block: int) -> list[int]:
        """Output filter choices of block ``block`` (0 = the fixed first layer)."""
        base = self.first_filters if block == 0 else self.blocks()[block - 1].filters
        if not self.search_filters:
            return [self.scaled(base)]
        return [make_divisible(self.width * base * m, int(self.divisor)) for m in FILTER_MULTIPLIERS]

    def layer_plans(self) -> list[LayerPlan]:
        plans, index = [], 0
        for b, block in enumerate(self.blocks(), start=1):
            for j in range(block.layers):
                index += 1
                tag = f"L{index:02d}"
                plans.append(LayerPlan(index, b, block.stride if j == 0 else 1, j > 0, block.act,
                                       f"{tag}:kernel", f"{tag}:expansion",
                                       f"{tag}:se" if self.search_se else None,
                                       f"{tag}:skip" if j > 0 else None))
        return plans

    def plans_for(self, input_shape) -> list[LayerPlan]:
        """Layer plans with the strides a given input size gets.

        A stride-2 layer that would shrink the feature map below
        ``min_resolution`` keeps stride 1: on tiny inputs (digits, 8x8) the
        deep layers would otherwise run at 1x1, where a depthwise kernel is a
        single weight whose sign batch norm cannot undo, and switching kernel
        choices flips features at random.
        """
        h = input_shape[1]
        stride = self.resolve_stem_stride(input_shape)
        h = (h + stride - 1) // stride
        plans = []
        for plan in self.layer_plans():
            if plan.stride == 2 and (h + 1) // 2 < self.min_resolution:
                plan = attrs.evolve(plan, stride=1)
            h = (h + plan.stride - 1) // plan.stride
            plans.append(plan)
        return plans

    def filter_decision(self, block: int) -> str | None:
        return f"B{block}:filters" if self.search_filters else None

    @property
    def decisions(self) -> tuple[Decision, ...]:
        out: list[Decision] = []
        if self.search_filters:
            out.append(Decision("B0:filters", tuple(f"x{m:g}" for m in FILTER_MULTIPLIERS)))
        current_block = 0
        for plan in self.layer_plans():
            if plan.block != current_block:
                current_block = plan.block
                if self.search_filters:
                    out.append(Decision(f"B{plan.block}:filters", tuple(f"x{m:g}" for m in FILTER_MULTIPLIERS)))
            out.append(Decision(plan.kernel, tuple(f"k{k}" for k in KERNELS)))
            out.append(Decision(plan.expansion, tuple(f"e{e:g}" for e in self.expansions)))
            if plan.se:
                out.append(Decision(plan.se, ("none", "se")))
            if plan.skip:
                out.append(Decision(plan.skip, ("keep", "skip")))
        return tuple(out)

    def filter_decisions(self) -> dict[str, int]:
        """Filter-type decisions and the index of their largest choice (for filter warmup).

        Expansion ratios are filter masks too (Figure 2), so they warm up with
        the output filters; kernels, SE and skips are ops (op warmup).
        """
        out = {}
        for d in self.decisions:
            if d.name.endswith(":filters") or d.name.endswith(":expansion"):
                out[d.name] = len(d.choices) - 1
        return out

    def active_decisions(self, choices: Mapping[str, int]) -> set[str]:
        """All decisions except the kernel/expansion/SE of layers whose skip decision says skip."""
        active = {d.name for d in self.decisions}
        for plan in self.layer_plans():
            if plan.skip and int(choices.get(plan.skip, 0)) == 1:
                active -= {plan.kernel, plan.expansion}
                if plan.se:
                    active.discard(plan.se)
        return active

    def resolve_stem_stride(self, input_shape) -> int:
        if self.stem_stride is not None:
            return self.stem_stride
        return 2 if min(input_shape[1:]) >= 64 else 1

    # -- supernet and child -----------------------------------------------------
    def build_supernet(self, input_shape, num_classes) -> "MobileSupernet":
        return MobileSupernet(self, input_shape, num_classes)

    def build_child(self, genotype, input_shape, num_classes, **train_options: Any) -> nn.Module:
        choices = self.choices_from_genotype(self._coerce(genotype))
        return MobileChild(self, choices, input_shape, num_classes)

    # -- genotypes ---------------------------------------------------------------
    def derive(self, probabilities) -> MobileGenotype:
        """The most likely value of every decision (TuNAS's final architecture)."""
        probs = as_probability_lists(probabilities)
        choices = {d.name: max(range(len(d.choices)), key=lambda k: (probs[d.name][k], -k)) for d in self.decisions}
        return self.genotype_from_choices(choices)

    def genotype_from_choices(self, choices: Mapping[str, int]) -> MobileGenotype:
        return MobileGenotype([(d.name, d.choices[self.choice_index(d, choices)]) for d in self.decisions])

    def choices_from_genotype(self, genotype) -> dict[str, int]:
        labels = self._coerce(genotype).as_dict()
        out = {}
        for d in self.decisions:
            if d.name not in labels:
                raise GenotypeError(f"genotype lacks decision {d.name!r} of space {self.name}")
            if labels[d.name] not in d.choices:
                raise GenotypeError(f"{labels[d.name]!r} is not a choice of {d.name!r}; allowed: {', '.join(d.choices)}")
            out[d.name] = d.choices.index(labels[d.name])
        extra = set(labels) - {d.name for d in self.decisions}
        if extra:
            raise GenotypeError(f"genotype has decisions {sorted(extra)} that space {self.name} does not have")
        return out

    def genotype_from_json(self, data: Any) -> MobileGenotype:
        if isinstance(data, Mapping):
            return MobileGenotype(list(data.items()))
        if isinstance(data, str):
            try:
                return MobileGenotype([item.split("=", 1) for item in data.split(",") if item])
            except ValueError as exc:
                raise GenotypeError(f"a {self.name} genotype string looks like 'L01:kernel=k3,...', got {data!r}") from exc
        raise GenotypeError(f"a {self.name} genotype is a mapping decision -> choice label, got {data!r}")

    def _coerce(self, genotype) -> MobileGenotype:
        genotype = genotype if isinstance(genotype, MobileGenotype) else self.genotype_from_json(genotype)
        return genotype

    # -- what a discrete architecture is, layer by layer ---------------------------
    def layer_configs(self, choices: Mapping[str, int], input_shape) -> list[dict[str, Any]]:
        """Concrete layers of the child of ``choices``: channels, kernel, stride, SE, resolution.

        The list starts with the stem and the fixed first layer and ends with
        the head; skipped layers appear with ``skip=True``.  The lookup-table
        latency model and the child network are both built from it.
        """
        h = input_shape[1]
        stride = self.resolve_stem_stride(input_shape)
        stem = self.scaled(self.stem_filters)
        configs = [{"unit": "stem", "kind": "stem", "c_in": input_shape[0], "c_out": stem, "stride": stride,
                    "resolution": h, "act": self.stem_act}]
        h = (h + stride - 1) // stride
        first_counts = self.block_filter_counts(0)
        c = first_counts[int(choices.get("B0:filters", 0))] if self.search_filters else first_counts[0]
        configs.append({"unit": "first", "kind": "layer", "c_in": stem, "c_out": c, "c_expand": stem, "kernel": 3,
                        "stride": 1, "se": False, "act": "relu", "resolution": h, "skip": False, "residual": False})
        for plan in self.plans_for(input_shape):
            counts = self.block_filter_counts(plan.block)
            c_out = counts[int(choices[self.filter_decision(plan.block)])] if self.search_filters else counts[0]
            skip = bool(plan.skip and int(choices[plan.skip]) == 1)
            e = self.expansions[int(choices[plan.expansion])]
            c_expand = make_divisible(e * c, int(self.divisor)) if e != 1 else c
            configs.append({"unit": f"L{plan.index:02d}", "kind": "layer", "c_in": c, "c_out": c_out,
                            "c_expand": c_expand, "kernel": KERNELS[int(choices[plan.kernel])],
                            "stride": plan.stride, "se": bool(plan.se and int(choices[plan.se]) == 1),
                            "act": plan.act, "resolution": h, "skip": skip, "residual": plan.residual})
            if not skip:
                h = (h + plan.stride - 1) // plan.stride
                c = c_out
        configs.append({"unit": "head", "kind": "head", "c_in": c, "resolution": h,
                        "head": [self.scaled(f) for f in self.head_filters]})
        return configs

    def latency_units(self, input_shape) -> dict[str, list[dict[str, Any]]]:
        """Every configuration each unit (stem, layer, head) can take, for a per-layer lookup table.

        Layer costs depend on the layer's own choices and on its input and
        output filters, never on other layers, so the table has
        sum(per-unit configurations) entries rather than one per architecture.
        """
        configs = self.layer_configs({d.name: 0 for d in self.decisions}, input_shape)
        units: dict[str, list[dict[str, Any]]] = {"stem": [configs[0]]}
        first = configs[1]
        units["first"] = [{**first, "c_out": c} for c in self.block_filter_counts(0)]
        resolution = {c["unit"]: c["resolution"] for c in configs}
        prev_counts = self.block_filter_counts(0)
        for plan in self.plans_for(input_shape):
            counts = self.block_filter_counts(plan.block)
            in_counts = counts if plan.residual else prev_counts
            unit = f"L{plan.index:02d}"
            options = []
            for c_in in sorted(set(in_counts)):
                for c_out in sorted(set(counts)):
                    if plan.residual and c_in != c_out:
                        continue
                    for e in self.expansions:
                        c_expand = make_divisible(e * c_in, int(self.divisor)) if e != 1 else c_in
                        for k in KERNELS:
                            for se in ((False, True) if plan.se else (False,)):
                                options.append({"unit": unit, "kind": "layer", "c_in": c_in, "c_out": c_out,
                                                "c_expand": c_expand, "kernel": k, "stride": plan.stride, "se": se,
                                                "act": plan.act, "resolution": resolution[unit], "skip": False,
                                                "residual": plan.residual})
            units[unit] = options
            prev_counts = counts
        units["head"] = [{**configs[-1], "c_in": c} for c in sorted(set(prev_counts))]
        return units

    # the per-unit table's protocol (nasplug_tunas.latency): a key, a standalone module and inputs per unit
    def unit_key(self, cfg: Mapping[str, Any]) -> str:
        return unit_key(cfg)

    def build_unit(self, cfg: Mapping[str, Any], num_classes: int) -> nn.Module:
        return build_unit(cfg, self, num_classes)

    def unit_inputs(self, cfg: Mapping[str, Any], batch_size: int) -> tuple:
        """One random batch at the unit's own input channels and resolution."""
        return (torch.randn(batch_size, cfg["c_in"], cfg["resolution"], cfg["resolution"]),)


def unit_key(cfg: Mapping[str, Any]) -> str:
    """The lookup-table key of one unit configuration (channel counts, not choice indices)."""
    if cfg["kind"] == "stem":
        return f"stem:{cfg['c_in']}>{cfg['c_out']}:s{cfg['stride']}:r{cfg['resolution']}"
    if cfg["kind"] == "head":
        return f"head:{cfg['c_in']}>{'>'.join(str(f) for f in cfg['head'])}:r{cfg['resolution']}"
    if cfg["skip"]:
        return f"{cfg['unit']}:skip"
    return (f"{cfg['unit']}:{cfg['c_in']}>{cfg['c_expand']}>{cfg['c_out']}:k{cfg['kernel']}:s{cfg['stride']}"
            f":se{int(cfg['se'])}:{cfg['act']}:r{cfg['resolution']}")


def build_unit(cfg: Mapping[str, Any], space: "MobileSpace", num_classes: int) -> nn.Module:
    """The child module of one unit configuration (public for latency measurement)."""
    return _build_layer(cfg, space, num_classes)


def _build_layer(cfg: Mapping[str, Any], space: MobileSpace, num_classes: int) -> nn.Module:
    """The exact child module of one entry of :meth:`MobileSpace.layer_configs`."""
    if cfg["kind"] == "stem":
        return ConvBNAct(cfg["c_in"], cfg["c_out"], 3, cfg["stride"], cfg["act"])
    if cfg["kind"] == "layer":
        if cfg["skip"]:
            return nn.Identity()
        return InvertedBottleneck(cfg["c_in"], cfg["c_out"], cfg["c_expand"], cfg["kernel"], cfg["stride"],
                                  cfg["se"], cfg["act"], int(space.divisor), cfg["residual"])
    return Head(cfg["c_in"], cfg["head"], num_classes, space.v3_head, "swish" if space.v3_head else "relu",
                space.dropout)


class Head(nn.Module):
    """ProxylessNAS head (1x1 conv, pool, classifier) or the MobileNetV3 head (1x1 conv, pool, 1x1 conv, classifier)."""

    def __init__(self, c_in: int, filters: Sequence[int], num_classes: int, v3: bool, act: str, dropout: float = 0.0):
        super().__init__()
        self.conv = ConvBNAct(c_in, filters[0], 1, 1, act)
        self.v3 = v3
        if v3:
            self.post = nn.Sequential(nn.Conv2d(filters[0], filters[1], 1), activation(act))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(filters[-1], num_classes)

    def forward(self, x):
        conv = self.conv[0]
        if x.shape[1] < conv.in_channels:  # a supernet's head on the live channels of a narrower architecture
            x = F.conv2d(x, conv.weight[:, :x.shape[1]], conv.bias)
            for module in list(self.conv)[1:]:  # batch norm, activation
                x = module(x)
        else:
            x = self.conv(x)
        x = F.adaptive_avg_pool2d(x, 1)
        if self.v3:
            x = self.post(x)
        return self.classifier(self.dropout(x.flatten(1)))


class MobileChild(nn.Module):
    """A standalone network of one architecture (skipped layers removed)."""

    def __init__(self, space: MobileSpace, choices: Mapping[str, int], input_shape, num_classes: int):
        super().__init__()
        configs = space.layer_configs(choices, input_shape)
        self.layers = nn.Sequential(*[_build_layer(c, space, num_classes) for c in configs
                                      if not (c["kind"] == "layer" and c["skip"])])

    def forward(self, x):
        return self.layers(x)


class MobileSupernet(Supernet):
    """Every searchable layer at its largest width; selections become masks and single paths."""

    def __init__(self, space: MobileSpace, input_shape, num_classes: int):
        super().__init__()
        self.space = space
        self.plans = space.plans_for(input_shape)
        stem = space.scaled(space.stem_filters)
        self.stem = ConvBNAct(input_shape[0], stem, 3, space.resolve_stem_stride(input_shape), space.stem_act)
        first_counts = space.block_filter_counts(0)
        self.first_counts = first_counts
        self.first = SharedInvertedBottleneck(stem, max(first_counts), 1, (3,), (1,), False, "relu", False,
                                              int(space.divisor))
        self.layers = nn.ModuleList()
        self.block_counts = {0: first_counts}
        c_in_max = max(first_counts)
        for plan in self.plans:
            counts = space.block_filter_counts(plan.block)
            self.block_counts[plan.block] = counts
            self.layers.append(SharedInvertedBottleneck(
                c_in_max, max(counts), plan.stride, KERNELS, space.expansions, space.search_se, plan.act,
                plan.residual, int(space.divisor)))
            c_in_max = max(counts)
        head_filters = [space.scaled(f) for f in space.head_filters]
        self.head = Head(c_in_max, head_filters, num_classes, space.v3_head, "swish" if space.v3_head else "relu",
                         space.dropout)

    def _filters(self, block: int, selections: Mapping[str, Selection], device):
        """(mask, live channels, single-path count or None, scale) of a block's output filters."""
        counts = self.block_counts[block]
        name = self.space.filter_decision(block)
        sel = selections.get(name) if name else None
        if sel is None:
            single, scale = max(counts), None
        elif sel.index is not None:
            single, scale = counts[sel.index], sel.weights[sel.index]
        else:
            single, scale = None, None
        return selection_mask(sel, counts, max(counts), device), active_count(sel, counts), single, scale

    def forward(self, x, selections: Mapping[str, Selection]):
        out = self.stem(x)
        mask, count, single, scale = self._filters(0, selections, x.device)
        out = self.first(out, out.shape[1], None, None, None, None, mask, single, scale)
        masks = {0: (mask, count, single, scale)}
        for plan, layer in zip(self.plans, self.layers):
            if plan.block not in masks:
                masks[plan.block] = self._filters(plan.block, selections, x.device)
            out_mask, out_count, single, scale = masks[plan.block]
            out = layer(out, count, selections.get(plan.kernel), selections.get(plan.expansion),
                        selections.get(plan.se) if plan.se else None,
                        selections.get(plan.skip) if plan.skip else None, out_mask, single, scale)
            if not (plan.skip and selections.get(plan.skip) is not None and selections[plan.skip].index == 1):
                count = out_count
        return self.head(out[:, :count])  # the live channels only: the rest are zero, the child has none


@attrs.frozen
class ProxylessSpace(MobileSpace):
    """ProxylessNAS space (Table 2, row 1): MobileNetV2 layers, expansion {3, 6}, kernel {3, 5, 7}, fixed filters."""

    name = "proxylessnas"
    base_blocks = (BlockSpec(4, 2, 24), BlockSpec(4, 2, 40), BlockSpec(4, 2, 80), BlockSpec(4, 1, 96),
                   BlockSpec(4, 2, 192), BlockSpec(1, 1, 320))


@attrs.frozen
class ProxylessEnlargedSpace(MobileSpace):
    """ProxylessNAS-Enlarged (Table 2, row 2): output filters searched, base 16 doubled at every stride 2."""

    name = "proxylessnas-enlarged"
    search_filters = True
    base_blocks = (BlockSpec(4, 2, 32), BlockSpec(4, 2, 64), BlockSpec(4, 2, 128), BlockSpec(4, 1, 128),
                   BlockSpec(4, 2, 256), BlockSpec(1, 1, 256))


@attrs.frozen
class MobileNetV3LikeSpace(MobileSpace):
    """MobileNetV3-like (Table 2, row 3): expansion 1..6, kernel 3/5/7, optional SE, ReLU/swish, the V3 head."""

    name = "mobilenetv3-like"
    test_options = {"width": 0.25, "layers": (1, 2, 1, 1, 1)}
    stem_filters = 16
    stem_act = "swish"
    head_filters = (960, 1280)
    v3_head = True
    expansions = (1, 2, 3, 4, 5, 6)
    search_se = True
    search_filters = True
    base_blocks = (BlockSpec(2, 2, 32, "relu"), BlockSpec(3, 2, 64, "relu"), BlockSpec(4, 2, 128, "swish"),
                   BlockSpec(2, 1, 128, "swish"), BlockSpec(3, 2, 256, "swish"))
