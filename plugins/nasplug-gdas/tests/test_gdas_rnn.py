"""The recurrent cell space, the bundled corpus, and the RNN search/train loop."""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from nasplug import registry
from nasplug.errors import ConfigError, GenotypeError
from nasplug import SearchState
from nasplug.components import ArchParameters

from nasplug_gdas.rnn import DartsRNNSpace, RNNGenotype, batchify, load_corpus, search_rnn, train_rnn
from nasplug_gdas.sampler import GumbelSampler


def test_bundled_corpus_is_ptb_style():
    corpus = load_corpus()
    assert "<unk>" in corpus.words and "<eos>" in corpus.words
    assert all(w == w.lower() for w in corpus.words)
    assert len(corpus.train) > 3000 and len(corpus.valid) > 300 and len(corpus.test) > 300
    assert 100 < corpus.vocab_size < 1000


def test_corpus_folder_errors_name_the_path(tmp_path):
    with pytest.raises(ConfigError, match="train.txt"):
        load_corpus(tmp_path)
    (tmp_path / "train.txt").write_text("a b c\n")
    (tmp_path / "valid.txt").write_text("a b\n")
    (tmp_path / "test.txt").write_text("c a\n")
    corpus = load_corpus(tmp_path)
    assert corpus.words == ("a", "b", "c", "<eos>")
    assert corpus.train.tolist() == [0, 1, 2, 3]
    assert batchify(torch.arange(10), 3).shape == (3, 3)


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(1, 8), seed=st.integers(0, 2**31 - 1))
def test_choices_genotype_roundtrip(steps, seed):
    space = DartsRNNSpace(hidden_size=8, steps=steps)
    choices = space.sample(torch.Generator().manual_seed(seed))
    genotype = space.genotype_from_choices(choices)
    assert space.choices_from_genotype(genotype) == choices
    assert space.genotype_from_json(genotype.to_json()) == genotype
    assert len(space.decisions) == steps * (steps + 1) // 2


def test_derive_keeps_one_input_per_node_with_the_strongest_function():
    space = DartsRNNSpace(hidden_size=8, steps=3)
    probs = {d.name: [0.2] * 5 for d in space.decisions}
    probs["rnn:1->2"] = [0.9, 0.01, 0.03, 0.05, 0.01]  # 'none' is ignored: best real op is sigmoid (0.05)
    probs["rnn:0->2"] = [0.1, 0.1, 0.6, 0.1, 0.1]      # relu 0.6 wins node 2
    assert space.derive(probs).recurrent[1] == ("relu", 0)
    with pytest.raises(GenotypeError):
        RNNGenotype([("tanh", 1)])  # node 1 can only read node 0


def test_gumbel_supernet_runs_only_sampled_functions_and_gets_alpha_gradient():
    space = registry.get("space", "darts-rnn", hidden_size=8, steps=3)
    model = space.build_supernet((), 20)
    arch = ArchParameters(space.decisions, 1e-3, torch.Generator().manual_seed(0))
    state = SearchState(space, torch.Generator().manual_seed(0), 5, 1)
    selections = GumbelSampler().sample(arch, state)
    tokens = torch.randint(0, 20, (4, 2))
    logits = model(tokens, selections)
    assert logits.shape == (8, 20)
    logits.logsumexp(-1).mean().backward()
    assert all(arch[n].grad is not None and (arch[n].grad != 0).all() for n in arch.names())


@pytest.mark.slow
def test_rnn_search_then_retrain_beats_a_uniform_guess():
    corpus = load_corpus()
    found = search_rnn(corpus, epochs=2, hidden_size=16, steps=3, batch_size=32, bptt=20, seed=0)
    assert len(found.genotype.recurrent) == 3 and len(found.history) == 2
    assert found.history[-1]["tau"] == pytest.approx(1.0)
    report = train_rnn(found.genotype, corpus, epochs=4, hidden_size=16, batch_size=32, bptt=20, seed=0)
    assert math.isfinite(report.valid_perplexity)
    assert report.valid_perplexity < corpus.vocab_size / 2  # a uniform model scores vocab_size


def test_nasplug_rnn_search_command_runs_the_search_and_retraining(tmp_path, capsys):
    """The RNN search is a ``nasplug`` subcommand (hook nasplug_cli_commands), on a user's corpus folder."""
    import json

    from nasplug.cli import main

    words = "the cat sat on the mat . a dog ran to the cat . the mat was red".split()
    for name, lines in (("train.txt", 40), ("valid.txt", 8), ("test.txt", 8)):
        (tmp_path / name).write_text("\n".join(" ".join(words[i % 7:] + words[:i % 7]) for i in range(lines)))
    assert main(["rnn-search", "--corpus", str(tmp_path), "--epochs", "1", "--train-epochs", "1",
                 "--hidden-size", "8", "--steps", "2", "--batch-size", "4", "--bptt", "8"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("found: ") and out[1].startswith("retrained cell: valid perplexity")
    result = json.loads(out[-1])
    assert len(result["genotype"]["recurrent"]) == 2 and math.isfinite(result["test_perplexity"])


def test_nasplug_rnn_search_takes_a_device_and_names_one_it_lacks(tmp_path, capsys):
    import torch

    from nasplug.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal is not reachable")
    assert main(["rnn-search", "--epochs", "1", "--train-epochs", "1", "--hidden-size", "8", "--steps", "2",
                 "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "device 'cuda' asked for, but torch sees no CUDA device" in err and "\n" not in err
