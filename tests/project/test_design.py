"""DESIGN.md's layer table is true to the code: every module sits in a listed layer, and no
module imports a layer its layer may not import (imports inside functions count).

The table's "may import" cell names the afkit layers a layer may use (``every layer above``: all
layers listed before it); a module may always import its own layer. Third-party packages are
checked by tests/project/test_dependencies.py.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

PACKAGE = REPO / "afkit"
FRONT_DOORS = {"afkit/__init__.py", "afkit/__main__.py"}  # they may name any module


def layer_table(design: Path = REPO / "DESIGN.md") -> dict[str, set[str]]:
    """layer -> the layers it may import (its own included), in table order."""
    rows: dict[str, str] = {}
    for line in design.read_text().splitlines():
        m = re.match(r"\|\s*`afkit/(\w+)/`\s*\|([^|]*)\|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    names = list(rows)
    table = {}
    for i, (layer, cell) in enumerate(rows.items()):
        allowed = {w for w in re.findall(r"[a-z_]+", cell) if w in rows}
        if "every layer above" in cell:
            allowed |= set(names[:i])
        table[layer] = allowed | {layer}
    return table


def afkit_imports(path: Path) -> set[str]:
    """Dotted afkit names a file imports: ``import afkit.x.y`` (as ``afkit.x.y``), ``from afkit.x
    import y`` (as ``afkit.x``), ``from afkit import x`` (as ``afkit.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("afkit.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "afkit":
                found |= {f"afkit.{a.name}" for a in node.names}
            elif node.module.startswith("afkit."):
                found.add(node.module)
    return found


def violations(package: Path, table: dict[str, set[str]]) -> list[str]:
    """Every import of a layer that the importing module's layer may not import."""
    out = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).as_posix()
        if rel in FRONT_DOORS or "__pycache__" in path.parts:
            continue
        own = path.relative_to(package).parts[0]
        for name in sorted(afkit_imports(path)):
            target = name.split(".")[1]
            if (package / target).is_dir() and target not in table.get(own, set()):
                out.append(
                    f"{rel} imports {name} (layer {target!r}; {own!r} may import "
                    f"{sorted(table.get(own, set()))})"
                )
    return out


MODULES = sorted(
    p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts
)


def test_every_module_sits_in_a_layer_of_the_table():
    table = layer_table()
    loose = [m for m in MODULES if m not in FRONT_DOORS and m.split("/")[1] not in table]
    assert not loose, f"modules outside the layers of DESIGN.md: {loose}"
    assert sorted(table) == sorted(
        p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"
    )


def test_design_lists_every_module_and_no_other():
    listed = set(re.findall(r"\|\s*`(afkit/\w+/\w+\.py)`\s*\|", (REPO / "DESIGN.md").read_text()))
    modules = {m for m in MODULES if m not in FRONT_DOORS and not m.endswith("/__init__.py")}
    assert listed == modules


def test_no_import_goes_up_a_layer():
    assert violations(PACKAGE, layer_table()) == []


def test_every_layer_says_what_it_is_for_and_may_import():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import:" in doc, f"{init.relative_to(REPO)} has no 'May import:' line"


@pytest.mark.parametrize(
    "planted, caught",
    [
        ("from afkit.studies import arms\n", "afkit.studies"),
        ("def f():\n    import afkit.report.reproduce\n", "afkit.report.reproduce"),
        ("def f():\n    from afkit import training\n", "afkit.training"),
    ],
)
def test_the_checker_catches_a_planted_upward_import(tmp_path, planted, caught):
    """The oracle: a copy of the package with one upward import planted in io fails the rule;
    the untouched copy passes."""
    copy = tmp_path / "afkit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    table = layer_table()
    assert violations(copy, table) == []
    with open(copy / "io" / "records.py", "a") as f:
        f.write("\n" + planted)
    found = violations(copy, table)
    assert len(found) == 1 and found[0].startswith(f"afkit/io/records.py imports {caught} ")


def test_the_table_reader_on_a_hand_written_table(tmp_path):
    design = tmp_path / "DESIGN.md"
    design.write_text(
        "| layer | may import | what |\n|---|---|---|\n| `afkit/core/` | nothing | a |\n"
        "| `afkit/io/` | core | b |\n| `afkit/top/` | every layer above | c |\n"
    )
    assert layer_table(design) == {
        "core": {"core"},
        "io": {"io", "core"},
        "top": {"top", "core", "io"},
    }
