"""Word-level language-modelling data in the PTB layout: ``train.txt``, ``valid.txt``, ``test.txt``.

One sentence per line, space-separated tokens; every line ends with an
``<eos>`` token, as in the usual PTB pipeline (Merity et al.).  The
vocabulary is built from all three files (they are pre-processed so that
rare words are already ``<unk>``).  ``corpus_dir=None`` loads the small
public-domain corpus shipped with this package (a few thousand sentences,
for tests and examples; it is no substitute for PTB).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import attrs
import torch

from nasplug.errors import ConfigError

SPLITS = ("train", "valid", "test")


def bundled_corpus_dir() -> Path:
    """Where the shipped small corpus lives inside the installed package."""
    return Path(str(resources.files("nasplug_gdas.rnn") / "corpus"))


@attrs.frozen(eq=False)
class Corpus:
    """Token ids of the three splits and the vocabulary (index -> word)."""

    words: tuple[str, ...]
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    @property
    def vocab_size(self) -> int:
        return len(self.words)


def _read_lines(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise ConfigError(f"language-model corpus file {str(path)!r} does not exist; a corpus folder needs "
                          f"{', '.join(s + '.txt' for s in SPLITS)}")
    return [line.split() + ["<eos>"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_corpus(corpus_dir: str | Path | None = None) -> Corpus:
    """Read a PTB-style folder (``None``: the bundled corpus) into token-id tensors."""
    root = bundled_corpus_dir() if corpus_dir is None else Path(corpus_dir).expanduser()
    if not root.is_dir():
        raise ConfigError(f"language-model corpus folder {str(root)!r} does not exist")
    lines = {split: _read_lines(root / f"{split}.txt") for split in SPLITS}
    index: dict[str, int] = {}
    for split in SPLITS:
        for line in lines[split]:
            for word in line:
                index.setdefault(word, len(index))
    ids = {split: torch.tensor([index[w] for line in lines[split] for w in line], dtype=torch.long)
           for split in SPLITS}
    for split in SPLITS:
        if len(ids[split]) < 2:
            raise ConfigError(f"{split}.txt under {str(root)!r} holds fewer than 2 tokens")
    return Corpus(tuple(index), ids["train"], ids["valid"], ids["test"])


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut a token stream into ``batch_size`` parallel streams: shape (steps, batch_size)."""
    steps = len(data) // batch_size
    if steps < 2:
        raise ConfigError(f"batch size {batch_size} leaves fewer than 2 tokens per stream of a {len(data)}-token split")
    return data[: steps * batch_size].view(batch_size, steps).t().contiguous()


def bptt_windows(stream: torch.Tensor, bptt: int):
    """(input, target) windows of at most ``bptt`` steps along a batchified stream."""
    for start in range(0, stream.size(0) - 1, bptt):
        length = min(bptt, stream.size(0) - 1 - start)
        yield stream[start:start + length], stream[start + 1:start + 1 + length]
