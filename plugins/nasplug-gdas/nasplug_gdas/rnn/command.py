"""``nasplug rnn-search`` (and ``python -m nasplug_gdas.rnn``): search a recurrent cell, retrain it, print perplexity.

Light to import (argparse only), because ``nasplug --help`` lists this
command; the search itself imports torch when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "GDAS recurrent-cell search on a language-model corpus, then retrain the cell and print perplexity"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", default=None, help="folder with train.txt, valid.txt, test.txt (default: bundled)")
    parser.add_argument("--epochs", type=int, default=10, help="search epochs")
    parser.add_argument("--train-epochs", type=int, default=10, help="epochs of retraining the found cell")
    parser.add_argument("--hidden-size", type=int, default=300, help="embedding and hidden size")
    parser.add_argument("--steps", type=int, default=8, help="intermediate nodes of the recurrent cell")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per batch")
    parser.add_argument("--bptt", type=int, default=35, help="tokens per truncated back-propagation window")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)")


def search_and_retrain(args: argparse.Namespace) -> dict:
    """Run the search and the retraining; print progress to stderr and the result to stdout."""
    from nasplug_gdas.rnn.search import search_rnn, train_rnn

    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    found = search_rnn(args.corpus, epochs=args.epochs, hidden_size=args.hidden_size, steps=args.steps,
                       batch_size=args.batch_size, bptt=args.bptt, seed=args.seed, log=log,
                       device=args.device)
    print(f"found: {found.genotype}", flush=True)
    report = train_rnn(found.genotype, args.corpus, epochs=args.train_epochs, hidden_size=args.hidden_size,
                       batch_size=args.batch_size, bptt=args.bptt, seed=args.seed, log=log, device=args.device)
    print(f"retrained cell: valid perplexity {report.valid_perplexity:.2f}, test perplexity "
          f"{report.test_perplexity:.2f}", flush=True)
    out = {"genotype": found.genotype.to_json(), "valid_perplexity": report.valid_perplexity,
           "test_perplexity": report.test_perplexity}
    print(json.dumps(out))
    return out


def run(args: argparse.Namespace) -> int:
    search_and_retrain(args)
    return 0
