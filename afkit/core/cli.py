"""What every command line of afkit shares: help text read from a config dataclass's comments,
the one ``--device`` default, ``--version`` and the terminal's help layout.

A config dataclass documents each field with a comment on its line (continued on the comment
lines below it); :func:`field_help` reads those comments from the class's source, so that
``python -m afkit train --help`` shows what the code says, written once.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import textwrap
import tokenize
from functools import lru_cache

DEVICE_DEFAULT = "auto"  # every command: CUDA when present, else the CPU
DEVICE_HELP = 'where to compute: "auto" (CUDA if present, else CPU), "cpu", "cuda", "cuda:1"'


@lru_cache(maxsize=None)
def field_help(cls) -> dict[str, str]:
    """``{field: its comment}`` of a dataclass: the comments on a field's lines and on the
    comment-only lines right below it, joined into one sentence-like line (fields without a
    comment are absent)."""
    source = textwrap.dedent(inspect.getsource(cls))
    body = ast.parse(source).body[0].body
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.add(tok.start[0])
    out = {}
    for node in body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        lines = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        n = node.end_lineno + 1
        while n in comments and n not in code_lines:  # a comment continued below the field
            lines.append(comments[n])
            n += 1
        if lines:
            out[node.target.id] = " ".join(lines)
    return out


def version() -> str:
    """afkit's version as installed (its package metadata), else ``pyproject.toml``'s."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("afkit")
    except PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        import re
        from pathlib import Path

        text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
        return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def parser(command: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``python -m afkit COMMAND``: the description and epilog kept as written
    (paragraphs, examples), every default shown beside its help, and ``--version``."""
    p = argparse.ArgumentParser(
        prog=f"python -m afkit {command}",
        description=description,
        epilog=epilog,
        formatter_class=_Formatter,
    )
    p.add_argument("--version", action="version", version=f"afkit {version()}")
    return p


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written, defaults shown (not for flags that default to nothing)."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or "%(default)" in (
            action.help or ""
        ):
            return action.help
        return super()._get_help_string(action)


def add_device(p: argparse.ArgumentParser, default: str = DEVICE_DEFAULT) -> None:
    p.add_argument("--device", default=default, help=DEVICE_HELP)


def add_config_arguments(
    p: argparse.ArgumentParser,
    cls,
    *,
    skip: tuple[str, ...] = (),
    choices: dict | None = None,
) -> list[str]:
    """One ``--flag`` per field of dataclass ``cls`` (but ``skip``), default None (= the
    profile's value), its help the field's comment (:func:`field_help`); booleans get
    ``--flag/--no-flag``. Returns the field names added."""
    import dataclasses

    helps, choices = field_help(cls), choices or {}
    types = {"int": int, "float": float, "str": str, "int | None": int, "float | None": float}
    added = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        text = helps.get(f.name)
        if not text:
            raise ValueError(f"{cls.__name__}.{f.name} has no comment to serve as its --help")
        if str(f.type) == "bool" or isinstance(f.default, bool):
            p.add_argument(
                flag, dest=f.name, default=None, help=text, action=argparse.BooleanOptionalAction
            )
        else:
            p.add_argument(
                flag,
                dest=f.name,
                type=types.get(str(f.type), str),
                default=None,
                choices=choices.get(f.name),
                help=text,
                metavar=None if f.name in choices else f.name.upper(),
            )
        added.append(f.name)
    return added
