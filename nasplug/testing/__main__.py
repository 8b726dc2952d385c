"""``python -m nasplug.testing DIST [DIST ...]``: check every component of installed distributions.

The verdict is about the named distributions only: another installed plugin
that fails to load, or a broken component of another distribution, is
reported beside it ("other plugins: ..."), never counted against it.

Exit status: 0 every check of the named distributions passed (or was
skipped); 1 a component broke a rule (or, with no distribution named, some
installed plugin failed to load); 2 a named distribution provides nothing,
or failed to load itself.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from nasplug.registry import canonical, default_registry
from nasplug.testing.runner import CHECKS, cases, run_cases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nasplug.testing",
                                     description="Check that installed nasplug plugins keep the component contracts.",
                                     epilog=EXIT_CODES)
    parser.add_argument("distributions", nargs="*", help="distributions to check (default: every installed one)")
    parser.add_argument("--kind", action="append", choices=sorted(CHECKS), help="only these kinds (repeatable)")
    args = parser.parse_args(argv)
    registry = default_registry()
    named = {canonical(d) for d in args.distributions}
    own_errors = [e for e in registry.errors if not named or canonical(getattr(e, "plugin", "") or "") in named]
    foreign_errors = [e for e in registry.errors if e not in own_errors]
    for error in own_errors:
        print(f"load error: {error}")
    if named and own_errors:
        print(f"nasplug.testing: {', '.join(args.distributions)} failed to load; fix the load error above first",
              file=sys.stderr)
        return 2
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
    if foreign_errors:  # beside the verdict, never against it
        print(f"other plugins (not judged here): {len(foreign_errors)} failed to load: "
              + "; ".join(str(e) for e in foreign_errors))
    return 1 if failures or (registry.errors and not args.distributions) else 0


EXIT_CODES = ("exit status: 0 every check of the named distributions passed or was skipped; 1 a component broke a "
              "rule (with no distribution named: or an installed plugin failed to load); 2 a named distribution "
              "provides nothing or failed to load itself. Other plugins' load errors are reported beside the "
              "verdict, never counted against it.")


if __name__ == "__main__":
    sys.exit(main())
