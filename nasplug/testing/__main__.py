"""``python -m nasplug.testing DIST [DIST ...]``: check every component of installed distributions.

Exit status 0 when every check passes (or is skipped), 1 when a component
breaks a rule, 2 when a named distribution provides nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from nasplug.registry import default_registry
from nasplug.testing.runner import CHECKS, cases, run_cases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nasplug.testing",
                                     description="Check that installed nasplug plugins keep the component contracts.")
    parser.add_argument("distributions", nargs="*", help="distributions to check (default: every installed one)")
    parser.add_argument("--kind", action="append", choices=sorted(CHECKS), help="only these kinds (repeatable)")
    args = parser.parse_args(argv)
    registry = default_registry()
    for error in registry.errors:
        print(f"load error: {error}")
    selected = []
    for distribution in args.distributions or [None]:
        found = [c for c in cases(distribution, registry) if not args.kind or c.kind in args.kind]
        if distribution is not None and not found:
            installed = sorted({info.distribution for info in registry.loaded.plugins.values()})
            print(f"nasplug.testing: {distribution!r} provides no component; installed: {', '.join(installed)}",
                  file=sys.stderr)
            return 2
        selected += found
    failures = run_cases(selected, registry)
    print(f"{len(selected)} components checked, {failures} broke a rule")
    return 1 if failures or (registry.errors and args.distributions) else 0


if __name__ == "__main__":
    sys.exit(main())
