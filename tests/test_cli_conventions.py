"""Conventions a user of other Python tools expects from ``nasplug``: --version, python -m, fast help, help texts."""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import subprocess
import sys

from nasplug.cli import build_parser, main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_version_names_the_kernel_and_every_installed_plugin(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("nasplug ") and lines[0].split()[1][0].isdigit()
    plugins = {ep.dist.name: ep.dist.version for ep in metadata.entry_points(group="nasplug") if ep.dist}
    assert {f"{name} {version}" for name, version in plugins.items()} <= set(lines[1:])


def test_python_dash_m_nasplug_is_the_command():
    done = _run("-m", "nasplug", "--version")
    assert done.returncode == 0 and done.stdout.startswith("nasplug "), done.stderr
    done = _run("-m", "nasplug", "search", "--strategy", "no-such-strategy", "--quiet")
    assert done.returncode == 2 and "nasplug: error: unknown strategy 'no-such-strategy'" in done.stderr


def test_importing_the_cli_and_printing_help_do_not_import_torch():
    code = ("import sys\nimport nasplug, nasplug.cli\nassert 'torch' not in sys.modules, 'import'\n"
            "try:\n    nasplug.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'help'\nprint('ok')")
    done = _run("-c", code)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_the_lazy_public_names_still_import():
    import nasplug

    assert nasplug.SearchRun.__name__ == "SearchRun" and nasplug.Selection.__module__ == "nasplug.components"
    assert set(nasplug.__all__) <= set(dir(nasplug))


def _subparsers(parser: argparse.ArgumentParser):
    yield "nasplug", parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub


def test_every_flag_and_argument_has_help_text():
    missing = [f"{command} {action.option_strings or action.dest}"
               for command, parser in _subparsers(build_parser())
               for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction) and not action.help]
    assert not missing, missing
