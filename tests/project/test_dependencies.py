"""The declared dependencies are the used ones: every third-party module afkit imports is a
runtime dependency of pyproject.toml (and every runtime dependency is imported, or named below
as used without an import), and environment.yml builds the same environment as ``make setup``."""

import ast
import re
import sys

import tomllib

from tests.helpers.paths import REPO

# import name -> distribution name, where they differ
DISTRIBUTION = {
    "google_crc32c": "google-crc32c",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "IPython": "ipython",
    "PIL": "pillow",
    "google": "protobuf",
}
# runtime dependencies afkit needs without importing them:
# the notebooks' Jupyter front end and kernel
USED_WITHOUT_IMPORT = {
    "jupyterlab": "the notebooks open in JupyterLab",
    "ipykernel": "the notebooks' kernel (python3)",
}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def runtime() -> set[str]:
    return {_name(r) for r in _pyproject()["project"]["dependencies"]}


def dev() -> set[str]:
    return {_name(r) for r in _pyproject()["project"]["optional-dependencies"]["dev"]}


def afkit_imports() -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere in afkit/*.py (lazy imports included) ->
    the files importing them."""
    stdlib = set(sys.stdlib_module_names)
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "afkit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top not in stdlib and top not in ("afkit", "__future__"):
                    found.setdefault(top, set()).add(path.relative_to(REPO).as_posix())
    return found


def test_every_import_of_afkit_is_a_runtime_dependency():
    deps = runtime()
    missing = {
        DISTRIBUTION.get(m, m).lower(): files
        for m, files in afkit_imports().items()
        if DISTRIBUTION.get(m, m).lower() not in deps
    }
    assert not missing, f"afkit imports these but pyproject.toml does not list them: {missing}"


def test_every_runtime_dependency_is_used():
    imported = {DISTRIBUTION.get(m, m).lower() for m in afkit_imports()}
    unused = runtime() - imported - set(USED_WITHOUT_IMPORT)
    assert not unused, (
        f"runtime dependencies afkit never imports (move them to the dev extra): {sorted(unused)}"
    )
    assert "tfrecord" not in runtime() and "tfrecord" in dev()  # tests and benchmarks only


def test_the_import_scan_sees_lazy_imports():
    found = afkit_imports()
    assert {"numpy", "torch", "papermill", "captum", "google_crc32c"} <= set(found)
    # captum is imported inside a function only
    assert found["captum"] == {"afkit/interpret/attribution.py"}


def _environment() -> dict:
    text = (REPO / "environment.yml").read_text()
    try:
        import yaml

        return yaml.safe_load(text)
    except ImportError:  # a plain parse of this file's shape: name, channels, dependencies (+ pip)
        env, key, pip = {"dependencies": []}, None, None
        for raw in text.splitlines():
            line = raw.split(" #", 1)[0].rstrip()
            if not line or line.lstrip().startswith("#"):
                continue
            if not line.startswith(" "):
                key, _, value = line.partition(":")
                env[key] = value.strip() or env.get(key, [])
                continue
            item = line.strip()[2:].strip()
            if item == "pip:":
                pip = []
                env["dependencies"].append({"pip": pip})
            elif pip is not None and raw.startswith("      "):
                pip.append(item)
            elif key == "dependencies":
                env["dependencies"].append(item)
        return env


def test_environment_yml_builds_the_same_environment():
    env = _environment()
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_names = {_name(d) for d in conda}
    # conda provides only the interpreter and pip; every package comes from pip, as in `make setup`
    assert conda_names == {"python", "pip"}, conda
    python = next(d for d in conda if _name(d) == "python").split("=", 1)[1]
    minimum = _pyproject()["project"]["requires-python"].lstrip(">=")
    assert tuple(map(int, python.split("."))) >= tuple(map(int, minimum.split(".")))
    # the project itself with the dev extra: the same packages as pyproject.toml, runtime and dev
    assert "-e .[dev]" in [p.split(" #")[0].strip() for p in pip], pip
    # any package pinned beside it is a declared dependency, pinned as the Makefile pins it on
    # Linux without a GPU (its TORCH / TORCH_INDEX defaults); an index option is the Makefile's too
    makefile = (REPO / "Makefile").read_text()
    for p in pip:
        p = p.split(" #")[0].strip()
        if p.startswith("-e"):
            continue
        if p.startswith("--"):
            assert f"TORCH_INDEX ?= {p}" in makefile, f"environment.yml's {p} is not the Makefile's"
            continue
        assert _name(p) in runtime() | dev(), (
            f"environment.yml installs {p}, which pyproject.toml does not declare"
        )
        assert f"TORCH       ?= {p}" in makefile, f"environment.yml pins {p} unlike the Makefile"
