"""benchmarks/README.md's performance block is generated from benchmarks/results/ (no drift), every
benchmark script has its committed result files, and each .md is its .json rendered."""

import importlib.util
import json

from tests.helpers.paths import REPO

BENCH = REPO / "benchmarks"


def _results_module():
    spec = importlib.util.spec_from_file_location("_bench_results", BENCH / "_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_performance_block_matches_result_files():
    R = _results_module()
    text = R.README.read_text()
    assert R.START in text and R.END in text, "benchmarks/README.md has no performance markers"
    assert R.update_readme(text) == text, (
        "README performance tables drifted from benchmarks/results: "
        "run `python benchmarks/_results.py --readme`"
    )


def test_every_benchmark_has_result_files_rendered_from_its_json():
    R = _results_module()
    scripts = sorted(p.stem for p in BENCH.glob("*.py") if not p.name.startswith("_"))
    assert scripts, "no benchmark scripts"
    for name in scripts:
        js, md = R.RESULTS / f"{name}.json", R.RESULTS / f"{name}.md"
        assert js.is_file() and md.is_file(), (
            f"benchmarks/{name}.py has no committed results ({js.name}, {md.name})"
        )
        obj = json.loads(js.read_text())
        assert obj["name"] == name and obj["rows"] and obj["size"]
        assert {"date", "machine", "versions"} <= set(obj)
        assert md.read_text() == R.render(obj), f"{md.name} is not {js.name} rendered"
        assert set(obj["rows"][0]) is not None and all(
            len(r) == len(obj["columns"]) for r in obj["rows"]
        )
