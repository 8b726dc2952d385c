"""GDAS recurrent-cell search and retraining for word-level language modelling (Sec. 4.3).

The kernel's :class:`~nasplug.search.run.SearchRun` is built for image
classification, so the language-model loop lives here, reusing the kernel's
:class:`~nasplug.components.ArchParameters` and :class:`SearchState` and this
plugin's ``gumbel`` sampler.  Algorithm 1 as for CNNs: per BPTT window, a
weight step on the training stream with a Gumbel sample (SGD, lr 20, clip
0.25, wd 5e-7 as DARTS's RNN search; the paper's "Adam with a learning rate
of 20" can only be SGD at that rate), then an alpha step on the validation
stream with a fresh sample (Adam, lr 3e-3, wd 1e-3, Sec. 4.3).  Hidden
states are carried across windows and detached (truncated BPTT).

    from nasplug_gdas.rnn import search_rnn, train_rnn
    found = search_rnn(epochs=3, hidden_size=64)
    report = train_rnn(found.genotype, epochs=5, hidden_size=64)
    print(report.valid_perplexity)
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import attrs
import torch
import torch.nn.functional as F

from nasplug.components import ArchParameters
from nasplug.devices import resolve_device
from nasplug.errors import ConfigError
from nasplug import SearchState

from nasplug_gdas.rnn.data import Corpus, batchify, bptt_windows, load_corpus
from nasplug_gdas.rnn.space import DartsRNNSpace, RNNGenotype
from nasplug_gdas.sampler import GumbelSampler

Log = Callable[[str], None]


@attrs.frozen(eq=False)
class RNNSearchResult:
    genotype: RNNGenotype
    space: DartsRNNSpace
    history: list[dict[str, Any]]
    distribution: dict[str, list[float]]

    def genotype_record(self) -> dict[str, Any]:
        return {"space": self.space.name, "space_options": self.space.options(), "genotype": self.genotype.to_json(),
                "string": str(self.genotype)}


@attrs.frozen(eq=False)
class RNNTrainResult:
    valid_perplexity: float
    test_perplexity: float
    history: list[dict[str, Any]]
    genotype: str


def _check_positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"RNN option {name} must be positive, got {value!r}")


def _corpus(corpus: Corpus | str | None) -> Corpus:
    return corpus if isinstance(corpus, Corpus) else load_corpus(corpus)


@torch.no_grad()
def perplexity(model, stream: torch.Tensor, bptt: int, selections=None) -> float:
    """exp of the mean per-token cross-entropy over a batchified stream (hidden carried along)."""
    model.eval()
    hidden, total, count = None, 0.0, 0
    for x, y in bptt_windows(stream, bptt):
        logits, hidden = model.forward_with_hidden(x, hidden, selections)
        total += float(F.cross_entropy(logits, y.reshape(-1), reduction="sum"))
        count += y.numel()
    return math.exp(total / max(1, count))


def search_rnn(corpus: Corpus | str | None = None, *, epochs: int = 10, batch_size: int = 32, bptt: int = 35,
               hidden_size: int = 300, steps: int = 8, w_lr: float = 20.0, w_weight_decay: float = 5e-7,
               grad_clip: float = 0.25, arch_lr: float = 3e-3, arch_weight_decay: float = 1e-3,
               arch_betas: tuple[float, float] = (0.9, 0.999), tau_max: float = 10.0, tau_min: float | None = None,
               seed: int = 0, space_options: dict[str, Any] | None = None, log: Log | None = None,
               device: str = "cpu") -> RNNSearchResult:
    """Search a recurrent cell with GDAS on ``corpus`` (a PTB-style folder, a Corpus, or None = bundled).

    Weights train on the train split, alpha on the valid split (as DARTS and
    GDAS search on PTB).  Returns the derived cell (T=1 input per node).
    ``device`` (cpu, cuda, cuda:N, mps) holds the supernet, alpha and the batches.
    """
    _check_positive(epochs=epochs, batch_size=batch_size, bptt=bptt, w_lr=w_lr, arch_lr=arch_lr)
    where = resolve_device(device)  # a device this machine lacks is a one-line error before any work
    data = _corpus(corpus)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    space = DartsRNNSpace(hidden_size=hidden_size, steps=steps, **(space_options or {}))
    model = space.build_supernet((), data.vocab_size).to(where)
    arch = ArchParameters(space.decisions, 1e-3, generator).to(where)
    sampler = GumbelSampler(tau_max=tau_max, tau_min=tau_min)
    w_opt = torch.optim.SGD(model.parameters(), lr=w_lr, weight_decay=w_weight_decay)
    a_opt = torch.optim.Adam(arch.parameters(), lr=arch_lr, betas=tuple(arch_betas), weight_decay=arch_weight_decay)
    train, valid = batchify(data.train, batch_size).to(where), batchify(data.valid, batch_size).to(where)
    windows = min(len(list(bptt_windows(train, bptt))), len(list(bptt_windows(valid, bptt))))
    state = SearchState(space, generator, epochs, windows)
    history: list[dict[str, Any]] = []
    for epoch in range(epochs):
        state.epoch, started = epoch, time.time()
        h_train = h_valid = None
        loss_sum = arch_sum = 0.0
        pairs = zip(bptt_windows(train, bptt), bptt_windows(valid, bptt))
        for step, ((x, y), (vx, vy)) in enumerate(pairs):
            state.step_in_epoch = step
            # weight step (Alg. 1 line 3-5): one sampled cell, alpha untouched
            model.train()
            selections = {k: s.detach() for k, s in sampler.sample(arch, state).items()}
            w_opt.zero_grad(set_to_none=True)
            logits, h_train = model.forward_with_hidden(x, h_train, selections)
            loss = F.cross_entropy(logits, y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            w_opt.step()
            h_train = h_train.detach()
            # architecture step (line 6-8): a fresh sample, gradient to alpha only
            a_opt.zero_grad(set_to_none=True)
            for p in model.parameters():
                p.requires_grad_(False)
            try:
                logits, h_valid = model.forward_with_hidden(vx, h_valid, sampler.sample(arch, state))
                arch_loss = F.cross_entropy(logits, vy.reshape(-1))
                arch_loss.backward()
            finally:
                for p in model.parameters():
                    p.requires_grad_(True)
            a_opt.step()
            h_valid = h_valid.detach()
            loss_sum += loss.item()
            arch_sum += arch_loss.item()
        genotype = space.derive(arch.probabilities())
        record = {"epoch": epoch, "train_ppl": math.exp(loss_sum / max(1, windows)),
                  "arch_ppl": math.exp(arch_sum / max(1, windows)), "tau": sampler.tau(state),
                  "genotype": str(genotype), "seconds": time.time() - started}
        history.append(record)
        if log is not None:
            log(f"search epoch {epoch + 1}/{epochs} | train ppl {record['train_ppl']:.1f} | arch ppl "
                f"{record['arch_ppl']:.1f} | tau {record['tau']:.2f} | {record['seconds']:.1f}s")
    distribution = {k: v.cpu().tolist() for k, v in arch.probabilities().items()}
    return RNNSearchResult(space.derive(arch.probabilities()), space, history, distribution)


def train_rnn(genotype: RNNGenotype | dict | list, corpus: Corpus | str | None = None, *, epochs: int = 10,
              batch_size: int = 32, bptt: int = 35, hidden_size: int = 300, lr: float = 20.0,
              weight_decay: float = 8e-7, grad_clip: float = 0.25, seed: int = 0,
              space_options: dict[str, Any] | None = None, log: Log | None = None,
              device: str = "cpu") -> RNNTrainResult:
    """Train the derived cell from scratch (SGD at a fixed lr, as the paper's A-SGD before averaging).

    Reports validation and test perplexity of the final weights.  The
    paper's evaluation (hidden 850, 2000 epochs of averaged SGD) is far
    beyond a CPU; the defaults here are a scaled-down version.
    """
    _check_positive(epochs=epochs, batch_size=batch_size, bptt=bptt, lr=lr)
    where = resolve_device(device)
    data = _corpus(corpus)
    torch.manual_seed(seed)
    options = {**(space_options or {}), "hidden_size": hidden_size}
    genotype = DartsRNNSpace(**options).genotype_from_json(genotype)
    space = DartsRNNSpace(**{**options, "steps": len(genotype.recurrent)})
    model = space.build_child(genotype, (), data.vocab_size).to(where)
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay)
    train = batchify(data.train, batch_size).to(where)
    valid, test = batchify(data.valid, 10).to(where), batchify(data.test, 10).to(where)
    history: list[dict[str, Any]] = []
    for epoch in range(epochs):
        started = time.time()
        model.train()
        hidden, loss_sum, windows = None, 0.0, 0
        for x, y in bptt_windows(train, bptt):
            opt.zero_grad(set_to_none=True)
            logits, hidden = model.forward_with_hidden(x, hidden)
            loss = F.cross_entropy(logits, y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
            hidden = hidden.detach()
            loss_sum += loss.item()
            windows += 1
        valid_ppl = perplexity(model, valid, bptt)
        record = {"epoch": epoch, "train_ppl": math.exp(loss_sum / max(1, windows)), "valid_ppl": valid_ppl,
                  "seconds": time.time() - started}
        history.append(record)
        if log is not None:
            log(f"train epoch {epoch + 1}/{epochs} | train ppl {record['train_ppl']:.1f} | valid ppl "
                f"{valid_ppl:.1f} | {record['seconds']:.1f}s")
    return RNNTrainResult(perplexity(model, valid, bptt), perplexity(model, test, bptt), history, str(genotype))
