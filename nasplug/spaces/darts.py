"""The DARTS CNN cell space (Liu et al., ICLR 2019), shared by DARTS, GDAS,
Amended-DARTS and GibbsNAS.

A cell has two input nodes (0 = c_{k-2}, 1 = c_{k-1}) and ``steps``
intermediate nodes (2 .. steps+1); each intermediate node may take an edge
from every earlier node (14 edges for steps=4), each edge one of ``ops``.
The derived genotype keeps, per node, the ``keep_edges`` incoming edges whose
strongest non-``none`` op is most probable (DARTS's rule) and the argmax
non-``none`` op on each.  Normal cells share one set of decisions, reduction
cells another (``alpha_scope="type"``); ``alpha_scope="cell"`` gives every
cell its own (Amended-DARTS's S2).

Subclasses change the edge set by overriding :meth:`candidate_inputs`, and
supply a fixed reduction cell (GDAS's FRC) by overriding
:meth:`fixed_reduction_cell` and setting ``search_reduction=False``.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import attrs
import torch
from torch import nn

from nasplug.components import Selection, apply_selection
from nasplug.config import int_in_range, positive_int
from nasplug.errors import ConfigError, GenotypeError
from nasplug.spaces.base import Decision, Genotype, SearchSpace, Supernet, as_probability_lists
from nasplug.spaces.ops import DARTS_OPS, FactorizedReduce, ReLUConvBN, Zero, darts_op, drop_path

NodeEdges = tuple[tuple[str, int], ...]  # the (op, input) pairs feeding one node
CellGenotype = tuple[NodeEdges, ...]  # one entry per intermediate node


def _canonical_cell(cell: Any) -> CellGenotype:
    """Accept nested per-node lists or DARTS's flat pair list; sort each node's edges by input."""
    cell = [tuple(x) for x in cell]
    if cell and len(cell[0]) == 2 and isinstance(cell[0][0], str):  # flat DARTS list: 2 pairs per node
        if len(cell) % 2:
            raise GenotypeError(f"a flat DARTS cell lists 2 (op, input) pairs per node, got {len(cell)} pairs")
        cell = [cell[i:i + 2] for i in range(0, len(cell), 2)]
    out = []
    for node in cell:
        pairs = tuple(sorted(((str(op), int(src)) for op, src in node), key=lambda p: p[1]))
        out.append(pairs)
    return tuple(out)


def _optional_cell(cell):
    return None if cell is None else _canonical_cell(cell)


def _optional_cells(cells):
    return None if cells is None else tuple(_canonical_cell(c) for c in cells)


@attrs.frozen
class DartsGenotype(Genotype):
    """A DARTS-notation genotype: per node, the (op, input) pairs it keeps.

    ``reduce`` is None when the reduction cell is fixed (GDAS's FRC);
    ``cells`` (one cell genotype per layer) replaces ``normal``/``reduce``
    when every cell was searched on its own.
    """

    normal: CellGenotype | None = attrs.field(converter=_optional_cell, default=None)
    reduce: CellGenotype | None = attrs.field(converter=_optional_cell, default=None)
    cells: tuple[CellGenotype, ...] | None = attrs.field(converter=_optional_cells, default=None)

    def __attrs_post_init__(self):
        if self.cells is None and self.normal is None:
            raise GenotypeError("a DARTS genotype needs a normal cell (or per-layer cells)")

    def concat(self, cell: CellGenotype) -> list[int]:
        return list(range(2, 2 + len(cell)))

    def __str__(self) -> str:
        def flat(cell):
            return [pair for node in cell for pair in node]

        if self.cells is not None:
            return "Genotype(cells=[" + ", ".join(str(flat(c)) for c in self.cells) + "])"
        text = f"Genotype(normal={flat(self.normal)}, normal_concat={self.concat(self.normal)}"
        if self.reduce is not None:
            text += f", reduce={flat(self.reduce)}, reduce_concat={self.concat(self.reduce)}"
        else:
            text += ", reduce=FIXED"
        return text + ")"

    def to_json(self) -> dict[str, Any]:
        def nested(cell):
            return [[list(pair) for pair in node] for node in cell]

        out: dict[str, Any] = {}
        if self.cells is not None:
            out["cells"] = [nested(c) for c in self.cells]
        else:
            out["normal"] = nested(self.normal)
            out["reduce"] = None if self.reduce is None else nested(self.reduce)
        return out


def _decision_prefix(scope: str, layer: int, reduction: bool) -> str:
    if scope == "cell":
        return f"cell{layer}"
    return "reduce" if reduction else "normal"


def _drop_path_branch(op: nn.Module, drop_prob: float, x: torch.Tensor) -> torch.Tensor:
    out = op(x)
    if isinstance(op, (nn.Identity, Zero)):  # DARTS never drops the identity branch
        return out
    return drop_path(out, drop_prob, True)


class SearchCell(nn.Module):
    """A supernet cell: every candidate edge holds every op."""

    def __init__(self, space: "DartsSpace", C_pp, C_p, C, reduction, reduction_prev, prefix):
        super().__init__()
        self.reduction, self.prefix = reduction, prefix
        self.pre0 = FactorizedReduce(C_pp, C, affine=False) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 0, False)
        self.pre1 = ReLUConvBN(C_p, C, 1, 1, 0, affine=False)
        self.steps = space.steps
        self.inputs = {dst: space.candidate_inputs(dst) for dst in range(2, 2 + space.steps)}
        self.edges = nn.ModuleDict()
        for dst, srcs in self.inputs.items():
            for src in srcs:
                stride = 2 if reduction and src < 2 else 1
                self.edges[f"{src}->{dst}"] = nn.ModuleList(
                    darts_op(op, C, stride, affine=False, in_supernet=True) for op in space.ops
                )

    def forward(self, s0, s1, selections: Mapping[str, Selection], drop_prob: float = 0.0):
        """``drop_prob`` > 0 puts every op branch but identity and none under drop-path
        (Amended-DARTS's search-stage regularisation; off in plain DARTS)."""
        states = [self.pre0(s0), self.pre1(s1)]
        for dst in range(2, 2 + self.steps):
            total = 0
            for src in self.inputs[dst]:
                key = f"{src}->{dst}"
                ops = self.edges[key]
                if drop_prob > 0 and self.training:
                    ops = [functools.partial(_drop_path_branch, op, drop_prob) for op in ops]
                total = total + apply_selection(ops, states[src], selections[f"{self.prefix}:{key}"])
            states.append(total)
        return torch.cat(states[2:], dim=1)


class ChildCell(nn.Module):
    """A derived cell: only the kept (op, input) pairs."""

    def __init__(self, cell: CellGenotype, C_pp, C_p, C, reduction, reduction_prev):
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(C_pp, C) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 0)
        self.pre1 = ReLUConvBN(C_p, C, 1, 1, 0)
        self.cell = cell
        self.ops = nn.ModuleList()
        for node in cell:
            for op, src in node:
                self.ops.append(darts_op(op, C, 2 if reduction and src < 2 else 1, affine=True))
        self.multiplier = len(cell)

    def forward(self, s0, s1, drop_prob: float = 0.0):
        states = [self.pre0(s0), self.pre1(s1)]
        k = 0
        for node in self.cell:
            total = 0
            for op_name, src in node:
                out = self.ops[k](states[src])
                if op_name != "skip_connect" or self.reduction and src < 2:
                    out = drop_path(out, drop_prob, self.training)
                total = total + out
                k += 1
            states.append(total)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Module):
    """The DARTS/NASNet auxiliary classifier, pooled adaptively so small inputs work."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(2), nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128),
            nn.ReLU(inplace=True), nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def _stem(in_channels: int, C_stem: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))


def reduction_layers(layers: int) -> set[int]:
    return {layers // 3, 2 * layers // 3}


class DartsSupernet(Supernet):
    def __init__(self, space: "DartsSpace", in_channels: int, num_classes: int):
        super().__init__()
        C_curr = space.stem_multiplier * space.C
        self.stem = _stem(in_channels, C_curr)
        C_pp, C_p, C_curr = C_curr, C_curr, space.C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for layer in range(space.layers):
            reduction = layer in reduction_layers(space.layers)
            if reduction:
                C_curr *= 2
            if reduction and not space.search_reduction:
                cell = space.fixed_reduction_cell(C_pp, C_p, C_curr, reduction_prev, affine=False)
            else:
                prefix = _decision_prefix(space.alpha_scope, layer, reduction)
                cell = SearchCell(space, C_pp, C_p, C_curr, reduction, reduction_prev, prefix)
            self.cells.append(cell)
            reduction_prev = reduction
            C_pp, C_p = C_p, cell_out_channels(cell, C_curr, space.steps)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)

    def forward(self, x, selections):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            out = cell(s0, s1, selections) if isinstance(cell, SearchCell) else cell(s0, s1)
            s0, s1 = s1, out
        return self.classifier(self.pool(s1).flatten(1))


def cell_out_channels(cell: nn.Module, C: int, steps: int) -> int:
    """Channels a cell emits: its ``multiplier`` attribute (fixed cells set it) times C."""
    return getattr(cell, "multiplier", steps) * C


class DartsChild(nn.Module):
    """NetworkCIFAR of DARTS: stem, stacked derived cells, optional auxiliary head."""

    def __init__(self, space: "DartsSpace", genotype: DartsGenotype, in_channels: int, num_classes: int,
                 auxiliary: bool = False):
        super().__init__()
        self.drop_path_prob = 0.0
        C_curr = space.stem_multiplier * space.C
        self.stem = _stem(in_channels, C_curr)
        C_pp, C_p, C_curr = C_curr, C_curr, space.C
        self.cells = nn.ModuleList()
        self.aux_layer = 2 * space.layers // 3
        self.auxiliary_head = None
        self.aux_logits = None
        reduction_prev = False
        for layer in range(space.layers):
            reduction = layer in reduction_layers(space.layers)
            if reduction:
                C_curr *= 2
            if genotype.cells is not None:
                if len(genotype.cells) != space.layers:
                    raise GenotypeError(f"genotype has {len(genotype.cells)} cells, the space {space.layers} layers")
                cell = ChildCell(genotype.cells[layer], C_pp, C_p, C_curr, reduction, reduction_prev)
            elif reduction and genotype.reduce is None:
                cell = space.fixed_reduction_cell(C_pp, C_p, C_curr, reduction_prev, affine=True)
            else:
                spec = genotype.reduce if reduction else genotype.normal
                cell = ChildCell(spec, C_pp, C_p, C_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_pp, C_p = C_p, cell_out_channels(cell, C_curr, space.steps)
            if auxiliary and layer == self.aux_layer:
                self.auxiliary_head = AuxiliaryHead(C_p, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        self.aux_logits = None
        for layer, cell in enumerate(self.cells):
            out = cell(s0, s1, self.drop_path_prob)  # fixed reduction cells take drop_prob too
            s0, s1 = s1, out
            if self.auxiliary_head is not None and self.training and layer == self.aux_layer:
                self.aux_logits = self.auxiliary_head(s1)
        return self.classifier(self.pool(s1).flatten(1))


def alpha_scope_validator(instance, attribute, value):
    """attrs validator of ``alpha_scope``, for DartsSpace and subclasses that change its default."""
    if value not in ("type", "cell"):
        raise ConfigError(f"{type(instance).__name__}.alpha_scope must be 'type' (shared per cell type) or 'cell', "
                          f"got {value!r}")


def ops_validator(instance, attribute, value):
    unknown = [op for op in value if op not in DARTS_OPS]
    if unknown or not value:
        raise ConfigError(f"DartsSpace.ops has unknown ops {unknown!r}; allowed: {', '.join(DARTS_OPS)}")


@attrs.frozen
class DartsSpace(SearchSpace):
    """The DARTS/GDAS CNN cell space; defaults are the papers' search settings (C=16, 8 cells, B=4)."""

    name = "darts"
    #: small options for the conformance kit (nasplug.testing): builds and runs in milliseconds
    test_options = {"C": 4, "layers": 3, "steps": 2}
    C: int = attrs.field(default=16, validator=positive_int)
    # sane maxima on cell counts: past them construction alone takes minutes (sizes are checked by memory)
    layers: int = attrs.field(default=8, validator=int_in_range(1, 200))
    steps: int = attrs.field(default=4, validator=int_in_range(1, 16))
    stem_multiplier: int = attrs.field(default=3, validator=positive_int)
    ops: tuple[str, ...] = attrs.field(default=DARTS_OPS, converter=tuple, validator=ops_validator)
    keep_edges: int | None = attrs.field(default=2)
    alpha_scope: str = attrs.field(default="type", validator=alpha_scope_validator)
    search_reduction: bool = attrs.field(default=True)
    child_C: int = attrs.field(default=36, validator=positive_int)
    child_layers: int = attrs.field(default=20, validator=int_in_range(1, 200))

    @keep_edges.validator
    def _keep_edges(self, attribute, value):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"DartsSpace.keep_edges must be a positive int or None (keep all), got {value!r}")

    # -- structure -------------------------------------------------------
    def candidate_inputs(self, node: int) -> tuple[int, ...]:
        """Nodes that may feed intermediate node ``node`` (all earlier nodes)."""
        return tuple(range(node))

    def fixed_reduction_cell(self, C_pp: int, C_p: int, C: int, reduction_prev: bool, affine: bool) -> nn.Module:
        """A hand-designed reduction cell used when ``search_reduction`` is False.

        Its ``forward(s0, s1, drop_prob=0.0)`` takes the two previous states and the
        child's drop-path probability; its ``multiplier`` attribute times C is its width.
        """
        raise ConfigError(f"{type(self).__name__} has no fixed reduction cell; "
                          "use a space that provides one (e.g. 'darts-frc' from nasplug-gdas)")

    def _cell_prefixes(self) -> list[str]:
        if self.alpha_scope == "cell":
            return [f"cell{i}" for i in range(self.layers)]
        return ["normal", "reduce"] if self.search_reduction else ["normal"]

    @property
    def decisions(self) -> tuple[Decision, ...]:
        out = []
        for prefix in self._cell_prefixes():
            for dst in range(2, 2 + self.steps):
                for src in self.candidate_inputs(dst):
                    out.append(Decision(f"{prefix}:{src}->{dst}", self.ops))
        return tuple(out)

    def child_defaults(self) -> dict[str, Any]:
        return {"C": self.child_C, "layers": self.child_layers} if self.alpha_scope == "type" else {}

    def build_supernet(self, input_shape, num_classes) -> DartsSupernet:
        return DartsSupernet(self, input_shape[0], num_classes)

    def build_child(self, genotype, input_shape, num_classes, auxiliary: bool = False, **_: Any) -> DartsChild:
        return DartsChild(self, self._coerce(genotype), input_shape[0], num_classes, auxiliary=auxiliary)

    # -- genotypes -------------------------------------------------------
    def _has_none(self) -> bool:
        return "none" in self.ops

    def _derive_cell(self, prefix: str, probs: dict[str, list[float]]) -> CellGenotype:
        none = self.ops.index("none") if self._has_none() else -1
        cell = []
        for dst in range(2, 2 + self.steps):
            scored = []
            for src in self.candidate_inputs(dst):
                p = probs[f"{prefix}:{src}->{dst}"]
                best = max((k for k in range(len(p)) if k != none), key=lambda k: (p[k], -k))
                scored.append((p[best], -src, src, self.ops[best]))
            scored.sort(reverse=True)
            kept = scored if self.keep_edges is None else scored[: self.keep_edges]
            cell.append(tuple((op, src) for _, _, src, op in kept))
        return _canonical_cell(cell)

    def _genotype_from_cells(self, cells: dict[str, CellGenotype]) -> DartsGenotype:
        if self.alpha_scope == "cell":
            return DartsGenotype(cells=tuple(cells[p] for p in self._cell_prefixes()))
        return DartsGenotype(normal=cells["normal"], reduce=cells.get("reduce"))

    def derive(self, probabilities) -> DartsGenotype:
        probs = as_probability_lists(probabilities)
        return self._genotype_from_cells({p: self._derive_cell(p, probs) for p in self._cell_prefixes()})

    def genotype_from_choices(self, choices: Mapping[str, int]) -> DartsGenotype:
        cells = {}
        for prefix in self._cell_prefixes():
            cell = []
            for dst in range(2, 2 + self.steps):
                node = []
                for src in self.candidate_inputs(dst):
                    key = f"{prefix}:{src}->{dst}"
                    if key not in choices:
                        raise GenotypeError(f"choices lack decision {key!r}")
                    op = self.ops[int(choices[key])]
                    if op != "none":
                        node.append((op, src))
                if self.keep_edges is not None and len(node) != self.keep_edges:
                    raise GenotypeError(
                        f"node {dst} of the {prefix} cell has {len(node)} non-none inputs; "
                        f"this space keeps exactly {self.keep_edges}"
                    )
                cell.append(tuple(node))
            cells[prefix] = tuple(cell)
        return self._genotype_from_cells(cells)

    def choices_from_genotype(self, genotype) -> dict[str, int]:
        genotype = self._coerce(genotype)
        if self.alpha_scope == "cell":
            cells = dict(zip(self._cell_prefixes(), genotype.cells or ()))
        else:
            cells = {"normal": genotype.normal, "reduce": genotype.reduce}
        out = {}
        for prefix in self._cell_prefixes():
            cell = cells.get(prefix)
            if cell is None or len(cell) != self.steps:
                raise GenotypeError(f"genotype {genotype} lacks a {self.steps}-node {prefix} cell")
            for dst, node in zip(range(2, 2 + self.steps), cell):
                kept = {src: op for op, src in node}
                for src in kept:
                    if src not in self.candidate_inputs(dst):
                        raise GenotypeError(f"node {dst} of the {prefix} cell cannot take input {src}")
                for src in self.candidate_inputs(dst):
                    op = kept.get(src, "none")
                    if op not in self.ops:
                        raise GenotypeError(f"op {op!r} on {prefix}:{src}->{dst} is not in this space's ops {self.ops}")
                    out[f"{prefix}:{src}->{dst}"] = self.ops.index(op)
        return out

    def genotype_from_json(self, data: Any) -> DartsGenotype:
        if isinstance(data, DartsGenotype):
            return data
        if not isinstance(data, Mapping):
            raise GenotypeError(f"a DARTS genotype is a mapping with 'normal' and 'reduce' (or 'cells'), got {data!r}")
        unknown = set(data) - {"normal", "reduce", "cells", "normal_concat", "reduce_concat"}
        if unknown:
            raise GenotypeError(f"unknown DARTS genotype keys {sorted(unknown)}; allowed: normal, reduce, cells")
        genotype = DartsGenotype(normal=data.get("normal"), reduce=data.get("reduce"), cells=data.get("cells"))
        self._check_ops(genotype)
        return genotype

    def _check_ops(self, genotype: DartsGenotype) -> None:
        cells = list(genotype.cells or ()) + [c for c in (genotype.normal, genotype.reduce) if c is not None]
        for cell in cells:
            for node in cell:
                for op, src in node:
                    if op not in DARTS_OPS:
                        raise GenotypeError(f"unknown op {op!r} in genotype; allowed: {', '.join(DARTS_OPS)}")

    def cell_graphs(self, genotype) -> dict[str, list[tuple[int, int, str]]]:
        """Edges (from, to, op) of each searched cell, for drawing (node 6+ is the concatenated output)."""
        genotype = self._coerce(genotype)
        if genotype.cells is not None:
            named = {f"cell{i}": c for i, c in enumerate(genotype.cells)}
        else:
            named = {"normal": genotype.normal}
            if genotype.reduce is not None:
                named["reduce"] = genotype.reduce
        graphs = {}
        for name, cell in named.items():
            out_node = 2 + len(cell)
            edges = [(src, dst, op) for dst, node in enumerate(cell, start=2) for op, src in node]
            edges += [(dst, out_node, "concat") for dst in range(2, out_node)]
            graphs[name] = edges
        return graphs

    def _coerce(self, genotype) -> DartsGenotype:
        return genotype if isinstance(genotype, DartsGenotype) else self.genotype_from_json(genotype)

    def sample(self, generator: torch.Generator | None = None) -> dict[str, int]:
        """A uniformly random valid cell: ``keep_edges`` distinct inputs per node, a non-none op on each."""
        none = self.ops.index("none") if self._has_none() else None
        real_ops = [k for k in range(len(self.ops)) if k != none]
        out = {}
        for prefix in self._cell_prefixes():
            for dst in range(2, 2 + self.steps):
                srcs = self.candidate_inputs(dst)
                if self.keep_edges is None or none is None:
                    kept = set(srcs)
                else:
                    perm = torch.randperm(len(srcs), generator=generator)[: self.keep_edges].tolist()
                    kept = {srcs[i] for i in perm}
                for src in srcs:
                    if src in kept:
                        op = real_ops[int(torch.randint(len(real_ops), (1,), generator=generator))]
                    else:
                        op = none
                    out[f"{prefix}:{src}->{dst}"] = op
        return out
