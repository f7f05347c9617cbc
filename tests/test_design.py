"""DESIGN.md's module table is true to the code: every module listed, and every afkit import allowed.

The table's "may import" column names the afkit modules a module may import (``everything above``
allows any module listed before it); names of third-party packages in it are not checked here
(tests/test_dependencies.py checks those against pyproject). Imports inside functions count.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "afkit"
ENTRY_POINTS = {"__init__", "__main__"}   # the package's front doors: they may name any module
MAX_LINES = 600


def design_table() -> dict[str, str]:
    """module name -> its "may import" cell, in table order."""
    text = (REPO / "DESIGN.md").read_text()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`afkit/(\w+)\.py`\s*\|.*\|\s*([^|]*)\|\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    return rows


def allowed(table: dict[str, str], module: str) -> set[str]:
    names = list(table)
    cell = table[module]
    out = {w for w in re.findall(r"[a-z_]+", cell) if w in table}
    if "everything above" in cell:
        out |= set(names[:names.index(module)])
    return out


def afkit_imports(path: Path) -> set[str]:
    """The afkit modules a file imports (``import afkit.x``, ``from afkit import x``, ``from afkit.x import``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "afkit" and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "afkit":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found |= {a.name for a in node.names}
    return found


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ENTRY_POINTS)


def test_the_table_lists_every_module_and_no_other():
    assert sorted(design_table()) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_a_module_imports_only_what_the_table_allows(module):
    table = design_table()
    extra = afkit_imports(PACKAGE / f"{module}.py") - allowed(table, module) - {module}
    assert not extra, f"afkit/{module}.py imports {sorted(extra)}, which DESIGN.md does not allow"


@pytest.mark.parametrize("module", MODULES)
def test_a_module_fits_in_a_head(module):
    lines = len((PACKAGE / f"{module}.py").read_text().splitlines())
    assert lines <= MAX_LINES, f"afkit/{module}.py has {lines} lines (at most {MAX_LINES})"


def test_the_checker_catches_a_forbidden_import(tmp_path):
    """The oracle: a file importing a module its row does not allow is caught."""
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from afkit import reproduce\n    import afkit.train\n")
    assert afkit_imports(bad) == {"reproduce", "train"}
    table = {"metrics": "numpy", "train": "metrics", "reproduce": "everything above"}
    assert allowed(table, "metrics") == set()
    assert allowed(table, "reproduce") == {"metrics", "train"}
