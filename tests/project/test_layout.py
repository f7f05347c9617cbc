"""The test suite is laid out as the package is (tests/__init__.py): every test file sits in the
folder of an afkit layer, or in notebooks/ or project/; every folder is a package; no test module
imports another (shared code lives in tests/helpers/, shared fixtures in a conftest.py); afkit's
own modules are imported, never ``pytest.importorskip``-ed (a broken import must fail, not skip).
"""

import ast
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

EXTRA = {"notebooks", "project"}  # test folders that are not a layer
SUPPORT = {"helpers", "fixtures"}  # folders without tests


def layers(package: Path) -> set[str]:
    return {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}


def _imported(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):  # from . import name
            out += [a.name for a in node.names]
    return out


def _skipped_imports(tree: ast.AST) -> list[str]:
    """The string arguments of every ``*.importorskip(...)`` call."""
    return [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "importorskip"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]


def problems(tests: Path, package: Path) -> list[str]:
    """Every way the tree ``tests`` breaks the layout, one sentence each."""
    allowed = layers(package) | EXTRA
    out = []
    for path in sorted(tests.rglob("*.py")):
        rel = path.relative_to(tests.parent).as_posix()
        parts = path.relative_to(tests).parts
        if "__pycache__" in parts or parts[0] == "fixtures":
            continue
        if path.name.startswith("test_") and (len(parts) != 2 or parts[0] not in allowed):
            out.append(f"{rel} is not in a folder tests/<layer>/ ({sorted(allowed)})")
        tree = ast.parse(path.read_text(), filename=str(path))
        for name in _imported(tree):
            last = name.split(".")[-1]
            if last.startswith("test_") or last == "conftest":
                out.append(f"{rel} imports the test module {name}")
        for name in _skipped_imports(tree):
            if name.split(".")[0] == package.name:
                out.append(f"{rel} skips when {name} does not import (import it)")
    for folder in sorted(p for p in tests.rglob("*") if p.is_dir()):
        parts = folder.relative_to(tests).parts
        if "__pycache__" in parts or parts[0] == "fixtures":
            continue
        if not (folder / "__init__.py").is_file():
            out.append(f"{folder.relative_to(tests.parent).as_posix()} has no __init__.py")
        if len(parts) == 1 and parts[0] not in allowed | SUPPORT:
            out.append(f"tests/{parts[0]} is neither a layer of afkit nor one of {sorted(EXTRA)}")
    return out


def test_the_suite_follows_the_layout():
    assert problems(REPO / "tests", REPO / "afkit") == []


def test_every_layer_has_its_test_folder():
    assert layers(REPO / "afkit") <= {p.name for p in (REPO / "tests").iterdir() if p.is_dir()}


def _small_suite(tmp_path: Path) -> Path:
    """tests/ with a conftest, a helper, a layer folder and a project folder, laid out right."""
    tests = tmp_path / "tests"
    files = {
        "__init__.py": "",
        "conftest.py": "from tests.helpers.paths import REPO\n",
        "helpers/__init__.py": "",
        "helpers/paths.py": "REPO = None\n",
        "io/__init__.py": "",
        "io/test_tfrecord.py": "from afkit.io import tfrecord\nfrom tests.helpers import paths\n",
        "project/__init__.py": "",
        "project/test_cli.py": "import afkit.__main__\n",
    }
    for name, text in files.items():
        (tests / name).parent.mkdir(parents=True, exist_ok=True)
        (tests / name).write_text(text)
    return tests


@pytest.mark.parametrize(
    "where, text, caught",
    [
        ("test_loose.py", "", "tests/test_loose.py is not in a folder tests/<layer>/"),
        ("io/deeper/test_x.py", "", "tests/io/deeper/test_x.py is not in a folder"),
        ("misc/test_x.py", "", "tests/misc is neither a layer of afkit"),
        ("io/test_x.py", "from tests.io.test_tfrecord import _expected\n", "imports the test"),
        ("io/test_x.py", "import test_tfrecord\n", "imports the test module test_tfrecord"),
        ("io/test_x.py", "from tests.io import test_tfrecord\n", "imports the test module"),
        ("io/test_x.py", "from tests import conftest\n", "imports the test module tests.conftest"),
        ("io/test_x.py", "from . import test_tfrecord\n", "imports the test module test_tfrecord"),
        (
            "io/test_x.py",
            'import pytest\nR = pytest.importorskip("afkit.io.records")\n',
            "tests/io/test_x.py skips when afkit.io.records does not import",
        ),
    ],
)
def test_the_checker_catches_a_planted_break(tmp_path, where, text, caught):
    """The oracle: a small suite laid out right passes; with one file planted it fails with one
    sentence naming the break."""
    tests = _small_suite(tmp_path)
    assert problems(tests, REPO / "afkit") == []
    planted = tests / where
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(text)
    found = problems(tests, REPO / "afkit")
    assert any(caught in f for f in found), found
    assert all(f.startswith("tests/" + where.split("/")[0]) for f in found), found


def test_a_third_party_importorskip_is_allowed(tmp_path):
    tests = _small_suite(tmp_path)
    (tests / "io" / "test_x.py").write_text(
        'import pytest\ntf = pytest.importorskip("tensorflow")\n'
    )
    assert problems(tests, REPO / "afkit") == []
