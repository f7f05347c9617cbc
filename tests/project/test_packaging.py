"""The package as pip installs it, not as the checkout holds it: the install has every module of
afkit/ (subpackages found recursively), and each layer subpackage imports from the installed
copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

LAYERS = ("core", "io", "metrics", "viz", "data", "models", "training", "interpret", "studies")
SUBPACKAGES = (*LAYERS, "report")

pytestmark = pytest.mark.slow  # a pip install: ~15 s


def _modules(root: Path) -> set[str]:
    """The ``afkit/**/*.py`` files under ``root``, as paths relative to it."""
    return {
        p.relative_to(root).as_posix()
        for p in (root / "afkit").rglob("*.py")
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``pip install --target`` of a copy of the project (a copy, so that the build's ``build/``
    and ``*.egg-info`` folders are not written into the checkout)."""
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "afkit", src / "afkit", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-compile",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
    )
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    return target


def test_the_install_holds_every_module_of_the_source_tree(installed):
    source = _modules(REPO)
    assert {f"afkit/{p}/__init__.py" for p in SUBPACKAGES} <= source
    assert _modules(installed) == source


def test_every_subpackage_imports_from_the_installed_copy(installed):
    names = ["afkit", *(f"afkit.{p}" for p in SUBPACKAGES)]
    code = (
        "import importlib, json, sys\n"
        f"names = {names!r}\n"
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n"
    )
    # the install first on the path, and a working folder outside the checkout: the editable
    # install of the checkout (in the venv's site-packages) must not be the one imported
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(installed)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=installed.parent,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(files) == set(names)
    for name, file in files.items():
        path = Path(file).resolve()
        assert installed.resolve() in path.parents, f"{name} imported from {path}, not the install"
        assert path.relative_to(installed.resolve()).as_posix() == (
            name.replace(".", "/") + "/__init__.py"
        )
