"""``python -m nasplug_gdas.rnn [--corpus DIR] [--epochs N] ...``: search a recurrent cell, retrain it, print perplexity."""

from __future__ import annotations

import argparse
import json
import sys

from nasplug_gdas.rnn.search import search_rnn, train_rnn


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default=None, help="folder with train.txt, valid.txt, test.txt (default: bundled)")
    parser.add_argument("--epochs", type=int, default=10, help="search epochs")
    parser.add_argument("--train-epochs", type=int, default=10)
    parser.add_argument("--hidden-size", type=int, default=300)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    found = search_rnn(args.corpus, epochs=args.epochs, hidden_size=args.hidden_size, steps=args.steps,
                       batch_size=args.batch_size, bptt=args.bptt, seed=args.seed, log=log)
    print(f"found: {found.genotype}", flush=True)
    report = train_rnn(found.genotype, args.corpus, epochs=args.train_epochs, hidden_size=args.hidden_size,
                       batch_size=args.batch_size, bptt=args.bptt, seed=args.seed, log=log)
    print(f"retrained cell: valid perplexity {report.valid_perplexity:.2f}, test perplexity "
          f"{report.test_perplexity:.2f}", flush=True)
    out = {"genotype": found.genotype.to_json(), "valid_perplexity": report.valid_perplexity,
           "test_perplexity": report.test_perplexity}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
