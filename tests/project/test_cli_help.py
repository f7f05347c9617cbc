"""Every command explains itself: each flag of `python -m afkit <cmd> --help` has a help line,
train's flags come from TrainConfig's comments, --model offers the registry, one --device
default, --version, and `models` lists the registry with sizes counted independently."""

import argparse
import dataclasses
import importlib
import subprocess
import sys
from unittest import mock

import pytest

from afkit.__main__ import COMMANDS, main
from afkit.core import cli


class _Parsed(Exception):
    def __init__(self, parser):
        self.parser = parser


def parser_of(name: str) -> argparse.ArgumentParser:
    """The parser a command builds, caught when it parses (nothing runs)."""
    module, func, _ = COMMANDS[name]

    def catch(self, *a, **k):
        raise _Parsed(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_known_args", catch):
        with pytest.raises(_Parsed) as caught:
            getattr(importlib.import_module(module), func)(["--help"])
    return caught.value.parser


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_flag_of_every_command_has_help(name):
    p = parser_of(name)
    missing = [
        "/".join(a.option_strings) or a.dest
        for a in p._actions
        if not (a.help and a.help.strip() and a.help != argparse.SUPPRESS)
    ]
    assert not missing, f"python -m afkit {name}: no help for {missing}"


def test_train_flags_are_trainconfig_fields_with_their_comments():
    from afkit.training.train import TrainConfig

    p = parser_of("train")
    by_dest = {a.dest: a for a in p._actions}
    comments = cli.field_help(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("model", "profile", "model_overrides"):
            continue
        assert by_dest[f.name].help == comments[f.name]
    # a comment continued on the line below its field is read whole
    assert comments["patience"].endswith("(None: train every epoch)")
    assert "training split's per-feature mean and std" in comments["normalization"]


def test_field_help_reads_comments_only_of_fields():
    @dataclasses.dataclass
    class C:
        a: int = 1  # the first

        # a comment of nobody (a blank line ends a field's comment)
        b: str = "x"  # the second, which goes on
        # below its line
        c: float = 0.5

    assert cli.field_help(C) == {"a": "the first", "b": "the second, which goes on below its line"}
    with pytest.raises(ValueError, match="C.c has no comment"):
        cli.add_config_arguments(argparse.ArgumentParser(), C)


def test_model_choices_are_the_registry_and_a_bad_name_is_refused(capsys):
    from afkit.models.registry import list_models

    p = parser_of("train")
    model = next(a for a in p._actions if a.dest == "model")
    assert list(model.choices) == list_models()
    with pytest.raises(SystemExit):
        importlib.import_module("afkit.training.train").main(
            ["--model", "no_such_model", "--store", "s", "--out", "o"]
        )
    assert "invalid choice: 'no_such_model'" in capsys.readouterr().err


def test_one_device_default_for_single_run_commands():
    defaults = {
        name: next(a.default for a in parser_of(name)._actions if a.dest == "device")
        for name in ("eval", "predict")
    }
    from afkit.training.train import TrainConfig

    assert set(defaults.values()) == {TrainConfig().device} == {cli.DEVICE_DEFAULT}


def test_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"afkit {version('afkit')}"
    with pytest.raises(SystemExit) as e:
        parser_of("train").parse_args(["--version"])
    assert e.value.code == 0


def test_models_lists_the_registry_with_counted_sizes():
    import torch

    from afkit.models import registry

    out = subprocess.run(
        [sys.executable, "-m", "afkit", "models", "--profile", "smoke"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()[1:] if ln.strip()}
    for name in registry.list_models():
        assert name in rows, name
    # the oracle: a real (not meta) smoke-size model, its parameters summed by hand
    model = registry.build("attend_fusion", "smoke")
    n = sum(t.numel() for t in model.parameters() if t.requires_grad)
    assert isinstance(model, torch.nn.Module)
    assert rows["attend_fusion"][2] == f"{n:,}"
    assert rows["attend_fusion_frames"][1] == "frame"


def test_help_text_is_for_the_terminal():
    """No reStructuredText backquote pairs or unexpanded docstrings in what --help prints."""
    bad = [name for name in sorted(COMMANDS) if "``" in parser_of(name).format_help()]
    assert not bad
