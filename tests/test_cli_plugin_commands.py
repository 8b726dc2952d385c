"""Plugins add ``nasplug`` subcommands through the hook ``nasplug_cli_commands``; a broken one never breaks the CLI."""

from __future__ import annotations

import pytest

from nasplug.cli import main

GOOD = """
from nasplug import hookimpl
from nasplug.cli_commands import CliCommand

def add_arguments(parser):
    parser.add_argument("--times", type=int, default=1, help="how often")

def run(args):
    print("hello " * args.times)
    return 3

@hookimpl
def nasplug_cli_commands():
    return {"hello": CliCommand("say hello", add_arguments, run),
            "tuple-form": ("a command given as a tuple", lambda p: None, lambda args: None)}
"""

BROKEN_HOOK = """
from nasplug import hookimpl

@hookimpl
def nasplug_cli_commands():
    raise RuntimeError("boom in the hook")
"""

BROKEN_ARGUMENTS = """
from nasplug import hookimpl

def add_arguments(parser):
    raise ValueError("boom in add_arguments")

@hookimpl
def nasplug_cli_commands():
    return {"fragile": ("breaks while adding flags", add_arguments, lambda args: 0),
            "search": ("tries to take a kernel command", lambda p: None, lambda args: 0),
            "not-a-command": 42}
"""


def test_a_plugin_command_runs_with_its_flags_and_exit_status(fake_distribution, capsys):
    fake_distribution("nasplug-hello", "nasplug_hello_cmd", GOOD)
    assert main(["hello", "--times", "2"]) == 3
    assert capsys.readouterr().out.strip() == "hello hello"
    assert main(["tuple-form"]) == 0
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "hello" in text and "say hello [nasplug-hello]" in text


def test_broken_plugin_commands_are_reported_by_name_and_the_rest_works(fake_distribution, capsys):
    fake_distribution("nasplug-hello", "nasplug_hello_cmd", GOOD)
    fake_distribution("nasplug-badhook", "nasplug_badhook_cmd", BROKEN_HOOK)
    fake_distribution("nasplug-badargs", "nasplug_badargs_cmd", BROKEN_ARGUMENTS)
    assert main(["hello"]) == 3
    capsys.readouterr()
    assert main(["fragile", "--whatever"]) == 2
    err = capsys.readouterr().err
    assert "nasplug-badargs" in err and "'fragile'" in err and "boom in add_arguments" in err
    assert "Traceback" not in err
    assert main(["search", "--strategy", "no-such-strategy"]) == 2  # still the kernel's search
    assert "unknown strategy 'no-such-strategy'" in capsys.readouterr().err
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "nasplug-badhook" in out and "boom in the hook" in out
    assert "command 'search' is provided by more than one plugin: nasplug and nasplug-badargs" in out
    assert "nasplug-badargs" in out and "'not-a-command'" in out
