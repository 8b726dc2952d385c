"""The DARTS recurrent cell space searched by GDAS (Sec. 4.3).

Node 0 is ``s0 = h + sigmoid(c0) * (tanh(h0) - h)`` with ``[c0, h0] = [x, h] W0``
(h is the previous hidden state).  Each of the ``steps`` further nodes i
(B = steps + 1 = 9 nodes in the paper, counting node 0) may take an edge
from every earlier node j; an edge applies one function f of
{zeroize, tanh, relu, sigmoid, identity} as the highway step
``s_j + sigmoid(c) * (f(h) - s_j)`` with ``[c, h] = s_j W_i`` (W_i shared by
node i's edges, as in DARTS).  The cell output (the new hidden state) is the
mean of nodes 1..steps.  The derived cell keeps T=1 input per node (the
edge whose strongest non-zero function is most probable) with its argmax
function, the paper's rule for RNNs.

Decisions are named ``rnn:j->i``.  The supernet runs each edge through the
kernel's :func:`~nasplug.components.apply_selection`, so a GDAS (Gumbel)
sample computes only the sampled function of every edge, and a mixture
selection gives the DARTS relaxation.
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs
import torch
from torch import nn

from nasplug.components import Selection, apply_selection
from nasplug.errors import ConfigError, GenotypeError
from nasplug.config import positive_int
from nasplug.spaces.base import Decision, Genotype, SearchSpace, Supernet, as_probability_lists

RNN_OPS = ("none", "tanh", "relu", "sigmoid", "identity")
_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "identity": lambda h: h}


def _canonical(recurrent) -> tuple[tuple[str, int], ...]:
    try:
        return tuple((str(op), int(src)) for op, src in recurrent)
    except (TypeError, ValueError) as exc:
        raise GenotypeError(f"a recurrent genotype is a list of (function, input) pairs, got {recurrent!r}") from exc


@attrs.frozen
class RNNGenotype(Genotype):
    """DARTS notation: ``recurrent[i-1] = (function, input node)`` of node i; output = mean of nodes 1..steps."""

    recurrent: tuple[tuple[str, int], ...] = attrs.field(converter=_canonical)

    def __attrs_post_init__(self):
        for i, (op, src) in enumerate(self.recurrent, start=1):
            if op not in _ACTIVATIONS:
                raise GenotypeError(f"node {i} uses {op!r}; a derived recurrent cell allows "
                                    f"{', '.join(_ACTIVATIONS)}")
            if not 0 <= src < i:
                raise GenotypeError(f"node {i} cannot take input {src}; inputs are 0..{i - 1}")

    def __str__(self) -> str:
        return f"Genotype(recurrent={[tuple(p) for p in self.recurrent]}, concat={list(range(1, len(self.recurrent) + 1))})"

    def to_json(self) -> dict[str, Any]:
        return {"recurrent": [list(p) for p in self.recurrent]}


class _HighwayOp(nn.Module):
    """One edge function: ``s + sigmoid(c) * (f(h) - s)`` with ``[c, h] = s W`` (x = (s, W))."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.fn = _ACTIVATIONS[name]

    def forward(self, x):
        s, W = x
        c, h = torch.chunk(s @ W, 2, dim=-1)
        return s + torch.sigmoid(c) * (self.fn(h) - s)


class _ZeroOp(nn.Module):
    def forward(self, x):
        s, _ = x
        return s.mul(0.0)


def _edge_ops(ops: tuple[str, ...]) -> nn.ModuleList:
    return nn.ModuleList(_ZeroOp() if op == "none" else _HighwayOp(op) for op in ops)


class RNNCell(nn.Module):
    """A recurrent cell; ``edges`` maps node i to its candidate inputs (all j < i in the supernet)."""

    def __init__(self, hidden: int, steps: int, ops: tuple[str, ...], genotype: RNNGenotype | None,
                 dropoutx: float, dropouth: float, batch_norm: bool):
        super().__init__()
        self.hidden, self.steps, self.genotype = hidden, steps, genotype
        self.dropoutx, self.dropouth = dropoutx, dropouth
        init = 0.04  # DARTS's uniform init range for the cell matrices
        self.W0 = nn.Parameter(torch.empty(2 * hidden, 2 * hidden).uniform_(-init, init))
        self.Ws = nn.ParameterList(nn.Parameter(torch.empty(hidden, 2 * hidden).uniform_(-init, init))
                                   for _ in range(steps))
        if genotype is None:
            self.edge_ops = nn.ModuleDict({f"{j}->{i}": _edge_ops(ops) for i in range(1, steps + 1) for j in range(i)})
        else:
            self.edge_ops = nn.ModuleDict({f"{src}->{i}": _edge_ops((op,))
                                           for i, (op, src) in enumerate(genotype.recurrent, start=1)})
        # DARTS's search cell normalises every node (affine-free BN) to keep the mixture stable
        self.bn = nn.BatchNorm1d(hidden, affine=False) if batch_norm else None

    def _norm(self, s):
        return self.bn(s) if self.bn is not None else s

    def step(self, x, h, x_mask, h_mask, selections: Mapping[str, Selection] | None):
        if self.training:
            x, h_in = x * x_mask, h * h_mask
        else:
            h_in = h
        c0, h0 = torch.chunk(torch.cat([x, h_in], dim=-1) @ self.W0, 2, dim=-1)
        states = [self._norm(h + torch.sigmoid(c0) * (torch.tanh(h0) - h))]
        for i in range(1, self.steps + 1):
            W = self.Ws[i - 1]
            if selections is None:
                op, src = self.genotype.recurrent[i - 1]
                s = states[src] * h_mask if self.training else states[src]
                total = self.edge_ops[f"{src}->{i}"][0]((s, W))
            else:
                total = 0
                for j in range(i):
                    s = states[j] * h_mask if self.training else states[j]
                    total = total + apply_selection(self.edge_ops[f"{j}->{i}"], (s, W), selections[f"rnn:{j}->{i}"])
            states.append(self._norm(total))
        return torch.stack(states[1:], dim=0).mean(dim=0)

    def forward(self, inputs, hidden, selections=None):
        """inputs (T, B, hidden) -> outputs (T, B, hidden), last hidden (B, hidden)."""
        T, B, _ = inputs.shape
        x_mask = h_mask = None
        if self.training:  # variational dropout: one mask per sequence
            x_mask = _mask(inputs.new_empty(B, inputs.shape[2]), self.dropoutx)
            h_mask = _mask(inputs.new_empty(B, self.hidden), self.dropouth)
        outputs = []
        h = hidden
        for t in range(T):
            h = self.step(inputs[t], h, x_mask, h_mask, selections)
            outputs.append(h)
        return torch.stack(outputs), h


def _mask(like: torch.Tensor, p: float) -> torch.Tensor:
    if p <= 0:
        return torch.ones_like(like)
    return like.bernoulli_(1 - p) / (1 - p)


class RNNLanguageModel(Supernet):
    """Embedding, one recurrent cell, tied decoder (DARTS/GDAS language model)."""

    def __init__(self, vocab: int, hidden: int, steps: int, ops: tuple[str, ...], genotype: RNNGenotype | None,
                 dropout: float, dropouth: float, dropoutx: float, dropouti: float):
        super().__init__()
        self.hidden, self.dropout, self.dropouti = hidden, dropout, dropouti
        self.encoder = nn.Embedding(vocab, hidden)
        self.encoder.weight.data.uniform_(-0.1, 0.1)
        self.cell = RNNCell(hidden, steps, ops, genotype, dropoutx, dropouth, batch_norm=genotype is None)
        self.decoder = nn.Linear(hidden, vocab)
        self.decoder.weight = self.encoder.weight  # tied (Inan et al.; as DARTS)
        self.decoder.bias.data.zero_()

    def init_hidden(self, batch: int) -> torch.Tensor:
        return self.encoder.weight.new_zeros(batch, self.hidden)

    def forward_with_hidden(self, tokens: torch.Tensor, hidden: torch.Tensor | None,
                            selections: Mapping[str, Selection] | None = None):
        """tokens (T, B) -> logits (T*B, vocab), final hidden (B, hidden)."""
        emb = self.encoder(tokens)
        if self.training and self.dropouti > 0:
            emb = emb * _mask(emb.new_empty(1, emb.shape[1], emb.shape[2]), self.dropouti)
        if hidden is None:
            hidden = self.init_hidden(tokens.shape[1])
        out, hidden = self.cell(emb, hidden, selections)
        if self.training and self.dropout > 0:
            out = out * _mask(out.new_empty(1, out.shape[1], out.shape[2]), self.dropout)
        return self.decoder(out.reshape(-1, self.hidden)), hidden

    def forward(self, tokens, selections=None):
        return self.forward_with_hidden(tokens, None, selections)[0]


def _probability(instance, attribute, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"DartsRNNSpace.{attribute.name} must be a dropout rate in [0, 1), got {value!r}")


def _ops(instance, attribute, value):
    unknown = [op for op in value if op not in RNN_OPS]
    if unknown or not any(op != "none" for op in value):
        raise ConfigError(f"DartsRNNSpace.ops {value!r}: allowed {', '.join(RNN_OPS)} with at least one non-none")


@attrs.frozen
class DartsRNNSpace(SearchSpace):
    """The DARTS/GDAS recurrent cell space (5 functions, B = steps + 1 = 9 nodes).

    ``hidden_size`` is both the embedding and the hidden width (tied
    weights); the paper searches with 300 and evaluates with 850.  A
    supernet's ``num_classes`` is the vocabulary size; ``input_shape`` is
    unused (token sequences of any length).
    """

    name = "darts-rnn"
    #: small options for the conformance kit (nasplug.testing): builds and runs in milliseconds
    test_options = {"hidden_size": 8, "steps": 2}
    #: its networks read token sequences, not images: the kit skips its image forward passes
    test_input_shape = None
    hidden_size: int = attrs.field(default=300, validator=positive_int)
    steps: int = attrs.field(default=8, validator=positive_int)
    ops: tuple[str, ...] = attrs.field(default=RNN_OPS, converter=tuple, validator=_ops)
    dropout: float = attrs.field(default=0.25, validator=_probability)
    dropouth: float = attrs.field(default=0.1, validator=_probability)
    dropoutx: float = attrs.field(default=0.1, validator=_probability)
    dropouti: float = attrs.field(default=0.1, validator=_probability)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(Decision(f"rnn:{j}->{i}", self.ops) for i in range(1, self.steps + 1) for j in range(i))

    def _model(self, vocab: int, genotype: RNNGenotype | None) -> RNNLanguageModel:
        return RNNLanguageModel(vocab, self.hidden_size, self.steps, self.ops, genotype, self.dropout,
                                self.dropouth, self.dropoutx, self.dropouti)

    def build_supernet(self, input_shape, num_classes) -> RNNLanguageModel:
        return self._model(int(num_classes), None)

    def build_child(self, genotype, input_shape, num_classes, **_: Any) -> RNNLanguageModel:
        genotype = self._coerce(genotype)
        if len(genotype.recurrent) != self.steps:
            raise GenotypeError(f"genotype has {len(genotype.recurrent)} nodes, the space {self.steps} steps")
        return self._model(int(num_classes), genotype)

    def derive(self, probabilities) -> RNNGenotype:
        probs = as_probability_lists(probabilities)
        real = [k for k, op in enumerate(self.ops) if op != "none"]
        recurrent = []
        for i in range(1, self.steps + 1):
            scored = []
            for j in range(i):
                p = probs[f"rnn:{j}->{i}"]
                best = max(real, key=lambda k: (p[k], -k))
                scored.append((p[best], -j, j, self.ops[best]))
            _, _, src, op = max(scored)
            recurrent.append((op, src))
        return RNNGenotype(tuple(recurrent))

    def genotype_from_choices(self, choices: Mapping[str, int]) -> RNNGenotype:
        recurrent = []
        for i in range(1, self.steps + 1):
            kept = []
            for j in range(i):
                key = f"rnn:{j}->{i}"
                if key not in choices:
                    raise GenotypeError(f"choices lack decision {key!r}")
                op = self.ops[int(choices[key])]
                if op != "none":
                    kept.append((op, j))
            if len(kept) != 1:
                raise GenotypeError(f"node {i} has {len(kept)} non-none inputs; a derived recurrent cell keeps 1")
            recurrent.append(kept[0])
        return RNNGenotype(tuple(recurrent))

    def choices_from_genotype(self, genotype) -> dict[str, int]:
        genotype = self._coerce(genotype)
        if len(genotype.recurrent) != self.steps:
            raise GenotypeError(f"genotype has {len(genotype.recurrent)} nodes, the space {self.steps} steps")
        if "none" not in self.ops:
            raise GenotypeError("a single-input recurrent genotype needs 'none' among the space's ops")
        out = {}
        for i, (op, src) in enumerate(genotype.recurrent, start=1):
            if op not in self.ops:
                raise GenotypeError(f"function {op!r} of node {i} is not in this space's ops {self.ops}")
            for j in range(i):
                out[f"rnn:{j}->{i}"] = self.ops.index(op if j == src else "none")
        return out

    def genotype_from_json(self, data: Any) -> RNNGenotype:
        if isinstance(data, RNNGenotype):
            return data
        if isinstance(data, Mapping):
            if set(data) - {"recurrent", "concat"}:
                raise GenotypeError(f"unknown recurrent genotype keys {sorted(set(data) - {'recurrent', 'concat'})}")
            data = data.get("recurrent")
        if not isinstance(data, (list, tuple)):
            raise GenotypeError(f"a recurrent genotype is {{'recurrent': [[function, input], ...]}}, got {data!r}")
        return RNNGenotype(data)

    def _coerce(self, genotype) -> RNNGenotype:
        return self.genotype_from_json(genotype)

    def sample(self, generator: torch.Generator | None = None) -> dict[str, int]:
        """A uniformly random derived cell: one input per node, a non-none function on it."""
        real = [k for k, op in enumerate(self.ops) if op != "none"]
        none = self.ops.index("none") if "none" in self.ops else None
        out = {}
        for i in range(1, self.steps + 1):
            src = int(torch.randint(i, (1,), generator=generator))
            for j in range(i):
                if j == src or none is None:
                    out[f"rnn:{j}->{i}"] = real[int(torch.randint(len(real), (1,), generator=generator))]
                else:
                    out[f"rnn:{j}->{i}"] = none
        return out
