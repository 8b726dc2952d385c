"""``python -m nasplug_gdas.rnn [--corpus DIR] [--epochs N] ...``: the same as ``nasplug rnn-search``."""

from __future__ import annotations

import argparse

from nasplug_gdas.rnn.command import HELP, add_arguments, search_and_retrain


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m nasplug_gdas.rnn", description=HELP)
    add_arguments(parser)
    return search_and_retrain(parser.parse_args(argv))


if __name__ == "__main__":
    main()
