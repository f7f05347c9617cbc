"""The command-line dispatcher: every listed command resolves to a callable."""

import importlib
import subprocess
import sys

import pytest

from afkit.__main__ import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_an_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_resolves(name):
    module, func, _ = COMMANDS[name]
    assert callable(getattr(importlib.import_module(module), func))


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "afkit", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: python -m afkit" in proc.stdout
