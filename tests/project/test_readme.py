"""The README's results section is the published cpu run's results, regenerated (no drift), and
the README's two commands are the ones CI and a newcomer run."""

from afkit.report import reproduce
from tests.helpers.paths import REPO


def test_results_section_matches_published_results():
    report = REPO / "report"
    assert (report / "results" / "04_comparison.json").exists(), (
        "no published cpu run: run `make reproduce` and commit figures/ and report/"
    )
    text = (REPO / "README.md").read_text()
    assert reproduce.update_readme(text, report) == text, (
        "README results drifted from report/results: rerun `make reproduce` (or publish) and commit"
    )


def test_every_readme_figure_exists():
    text = (REPO / "README.md").read_text()
    start = text.index(reproduce.README_START)
    for line in text[start:].splitlines():
        if line.startswith("!["):
            target = line.split("](", 1)[1].rstrip(")")
            assert (REPO / target).is_file(), target


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and "make reproduce" in readme
    assert [ln for ln in ci.splitlines() if ln and not ln.startswith("#")][-1] == "make test"
