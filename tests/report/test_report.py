"""afkit.report.document: findings first (each computed answer with its headline table and
figure), a table of contents, long tables linked as CSV rather than dumped, wide tables cut to a
column subset in the findings; the timing sentence; check-report against a copied tree."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from afkit.core import provenance
from afkit.report import browser, markup, notebook, reproduce
from afkit.report import document as report
from tests.helpers.paths import REPO

ANSWER = (
    "**Answer (synthetic data).** Attend-Fusion reaches GAP 61.20 with `attend_fusion` "
    "against 60.90 for FC late fusion.\n\n- the gap is within the paper's margin\n- 3 seeds"
)


def fake_out(root: Path) -> Path:
    """An output folder: notebook 04 with an answer, a headline table, a long table, a wide
    table and two figures; notebook 00 without an answer."""
    out = notebook.paths(root / "out")
    pd.DataFrame({"model": ["fc_late", "attend_fusion"], "gap": [0.609, 0.612]}).to_csv(
        out.tables / "04_comparison.csv", index=False
    )
    pd.DataFrame({"run": range(100), "gap": [i / 100 for i in range(100)]}).to_csv(
        out.tables / "04_runs.csv", index=False
    )
    pd.DataFrame({f"a_rather_long_column_name_{i}": [i, i + 1] for i in range(30)}).to_csv(
        out.tables / "00_wide.csv", index=False
    )
    for name in ("04_comparison_f1", "04_other"):
        (out.figures / f"{name}.png").write_bytes(b"\x89PNG fake")
    (out.results / "04_comparison.json").write_text(
        json.dumps({"name": "04_comparison", "data": {"answer": ANSWER}})
    )
    meta = {
        "profile": "smoke",
        "seed": 0,
        "data_source": "synthetic",
        "data_dir": "/d",
        "git_sha": "abc123def4567",
        "tree_clean": True,
        "seconds": 600.0,
        "reused_runs": 0,
        "trained_runs": 12,
        "machine": {"cpu": "AMD EPYC", "cores": 2, "gpu": None},
        "notebooks": {
            "00_data": {
                "name": "00_data",
                "status": "ok",
                "seconds": 100.0,
                "outputs": ["tables/00_wide.csv"],
            },
            "04_comparison": {
                "name": "04_comparison",
                "status": "ok",
                "seconds": 400.0,
                "outputs": [
                    "figures/04_comparison_f1.png",
                    "figures/04_other.png",
                    "results/04_comparison.json",
                    "tables/04_comparison.csv",
                    "tables/04_runs.csv",
                ],
            },
        },
    }
    out.run_json.write_text(json.dumps(meta))
    return out.root


def test_findings_come_first_with_answer_headline_table_and_figure(tmp_path):
    md_path, html_path = report.build_report(fake_out(tmp_path))
    md = md_path.read_text()
    h2 = re.findall(r"^## (.+)$", md, re.M)
    assert h2[0] == "Findings" and h2[1] == "Details"
    assert md.index("> **Data.**") < md.index("## Findings")
    findings = md[md.index("## Findings") : md.index("## Details")]
    assert ANSWER in findings
    # the headline table and figure of HEADLINE["04_comparison"], not the others
    assert "**Table 1.**" in findings and "| attend_fusion | 61.20 |" in findings  # percent
    assert "![Figure 1. " in findings and "](figures/04_comparison_f1.png)" in findings
    assert "04_runs" not in findings and "04_other" not in findings
    # provenance and timing above the findings
    head = md[: md.index("## Findings")]
    assert (
        "commit `abc123def456`, clean tree" in head
        and "from scratch (12 training runs trained)" in head
    )
    page = html_path.read_text()
    assert (
        "<strong>Answer (synthetic data).</strong>" in page and "<code>attend_fusion</code>" in page
    )
    assert "<li>3 seeds</li>" in page
    assert page.index('id="findings"') < page.index('id="details"')


def test_table_of_contents_links_every_section(tmp_path):
    md_path, html_path = report.build_report(fake_out(tmp_path))
    md, page = md_path.read_text(), html_path.read_text()
    assert md.index("**Contents**") < md.index("## Findings")
    for anchor in ("findings", "details", "run", "notebooks", "00_data", "04_comparison"):
        assert f"(#{anchor})" in md
        assert f'href="#{anchor}"' in page and f'id="{anchor}"' in page
    assert '<nav class="toc">' in page
    # every in-page link of the Markdown names a heading's anchor (GitHub's slug)
    anchors = {markup.slug(h.strip("`")) for h in re.findall(r"^#+ (.+)$", md, re.M)}
    assert set(re.findall(r"\]\(#([^)]+)\)", md)) <= anchors


def test_long_table_is_linked_not_dumped_and_wide_table_cut_in_findings(tmp_path):
    md_path, html_path = report.build_report(fake_out(tmp_path))
    md, page = md_path.read_text(), html_path.read_text()
    assert "| 9 | 9.00 |" in md and "| 10 | 10.00 |" not in md and "| 99 | 99.00 |" not in md
    assert (
        "100 rows; shown: the first 10 rows; every row and column in "
        "[`tables/04_runs.csv`](tables/04_runs.csv)" in md
    )
    assert '<a href="tables/04_runs.csv">' in page and "<td>99</td>" not in page
    # every table scrolls inside its own box
    assert page.count('<div class="scroll"><table') == page.count("<table")


def test_wide_headline_table_shows_a_column_subset(tmp_path):
    root = fake_out(tmp_path)
    (Path(root) / "results" / "00_data.json").write_text(json.dumps({"data": {"answer": "Wide."}}))
    meta = json.loads((Path(root) / "run.json").read_text())
    meta["notebooks"]["00_data"]["outputs"].append("results/00_data.json")
    (Path(root) / "run.json").write_text(json.dumps(meta))
    md = report.build_report(root)[0].read_text()
    findings = md[md.index("## Findings") : md.index("## Details")]
    assert "shown: 8 of 30 columns" in findings and "a rather long column name 8" not in findings
    details = md[md.index("## Details") :]
    assert "shown: 12 of 30 columns" in details and "a rather long column name 11" in details


def test_reproduce_uses_the_report_and_the_browser():
    assert reproduce.build_report is report.build_report
    assert reproduce.screenshot_report is browser.screenshot_report


def test_markdown_to_html():
    h = markup.markdown_to_html(
        "A **b** `c<d>` *e*.\n\n1. one\n2. two\n\n| x | y |\n|---|---|\n| 1 | 2 |"
    )
    assert "<p>A <strong>b</strong> <code>c&lt;d&gt;</code> <em>e</em>.</p>" in h
    assert "<ol>\n<li>one</li>\n<li>two</li>\n</ol>" in h
    assert "<td>1</td>" in h and "<td>2</td>" in h and '<div class="scroll"><table' in h


# ------------------------------------------------------------------------------ timing_line
def test_timing_line_from_scratch_and_reusing():
    meta = {
        "command": "python -m afkit reproduce --profile cpu",
        "seconds": 1500.0,
        "reused_runs": 0,
        "trained_runs": 40,
        "machine": {"cpu": "AMD EPYC", "cores": 2, "gpu": None},
        "notebooks": {"04_comparison": {"seconds": 600.0}, "00_data": {"seconds": 30.0}},
    }
    line = report.timing_line(meta)
    assert line == (
        "`python -m afkit reproduce --profile cpu` took 25.0 minutes on AMD EPYC with 2 cores "
        "and no GPU; "
        "the longest of its 2 notebooks, 04_comparison, took 10.0 minutes; it ran from scratch "
        "(40 training runs trained)."
    )
    meta.update(reused_runs=38, trained_runs=2)
    assert (
        "it reused 38 finished training runs of an earlier invocation (2 trained)."
        in report.timing_line(meta)
    )
    del meta["reused_runs"]
    assert "was not recorded" in report.timing_line(meta)


def test_timing_cites_a_from_scratch_run_of_the_same_training_code_only(tmp_path):
    from afkit.report import reproduce

    meta = {"seconds": 600.0, "reused_runs": 40, "trained_runs": 0, "code_hash": "aaa"}
    scratch = {"seconds": 2400.0, "reused_runs": 0, "trained_runs": 40, "code_hash": "aaa"}
    (tmp_path / reproduce.SCRATCH_RUN).write_text(json.dumps(scratch))
    both = reproduce._timing(tmp_path, meta)
    assert "**From scratch**" in both and "took 40.0 minutes" in both
    scratch["code_hash"] = "bbb"  # an earlier training code: its time is not this code's
    (tmp_path / reproduce.SCRATCH_RUN).write_text(json.dumps(scratch))
    alone = reproduce._timing(tmp_path, meta)
    assert "From scratch" not in alone and "took 10.0 minutes" in alone


def test_timing_line_reads_a_run_json(tmp_path):
    (tmp_path / "run.json").write_text(
        json.dumps({"seconds": 60, "reused_runs": 1, "trained_runs": 0})
    )
    line = report.timing_line(tmp_path / "run.json")
    assert (
        "took 1.0 minutes on an unrecorded machine" in line
        and "it reused 1 finished training run of" in line
    )


def test_count_reuse(tmp_path):
    out = tmp_path / "out"
    (out / "runs" / "a" / "seed0").mkdir(parents=True)
    (out / "runs" / "a" / "seed0" / "results.json").write_text("{}")
    before = reproduce.run_folders(out)
    (out / "runs" / "b" / "seed0").mkdir(parents=True)
    (out / "runs" / "b" / "seed0" / "results.json").write_text("{}")
    assert reproduce.count_reuse(before, reproduce.run_folders(out)) == (1, 1)
    assert reproduce.count_reuse({}, reproduce.run_folders(out)) == (0, 2)


# ----------------------------------------------------------------------------- check-report
@pytest.fixture()
def copied_tree(tmp_path):
    """A copy of this checkout's afkit/ and notebooks/, and a published report made from it."""
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "afkit", tree / "afkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        REPO / "notebooks", tree / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    rep = tmp_path / "report"
    rep.mkdir()
    meta = {
        "git_sha": "0" * 40,
        "tree_clean": True,
        "source_hash": provenance.source_hash(tree),
        "source_files": provenance.source_files(tree),
    }
    (rep / "run.json").write_text(json.dumps(meta))
    return tree, rep


def _check(rep, tree):
    return subprocess.run(
        [sys.executable, "-m", "afkit", "check-report", str(rep), "--repo", str(tree)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_report_passes_then_fails_after_a_change(copied_tree):
    tree, rep = copied_tree
    ok = _check(rep, tree)
    assert ok.returncode == 0 and ok.stdout.startswith("check-report: OK"), ok.stderr
    with open(tree / "afkit" / "training" / "train.py", "a") as f:
        f.write("\n# a change after the report\n")
    bad = _check(rep, tree)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and "afkit/ or notebooks/ changed since the report was made (afkit/training/train.py)"
        in lines[0]
    )


def test_check_report_notebook_outputs_do_not_count_but_sources_do(copied_tree):
    tree, rep = copied_tree
    nb_path = sorted((tree / "notebooks").glob("*.ipynb"))[0]
    nb = json.loads(nb_path.read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran"}]
    code["execution_count"] = 1
    nb_path.write_text(json.dumps(nb))
    assert report.check_report(rep, tree) is None
    code["source"] = "print('changed')"
    nb_path.write_text(json.dumps(nb))
    assert f"notebooks/{nb_path.name}" in report.check_report(rep, tree)


def test_check_report_fails_on_a_dirty_tree_and_without_provenance(copied_tree):
    tree, rep = copied_tree
    meta = json.loads((rep / "run.json").read_text())
    (rep / "run.json").write_text(
        json.dumps({**meta, "tree_clean": False, "git_sha": "1" * 40 + "+dirty"})
    )
    bad = _check(rep, tree)
    assert (
        bad.returncode == 1
        and "made from a dirty tree" in bad.stderr
        and len(bad.stderr.strip().splitlines()) == 1
    )
    (rep / "run.json").write_text(json.dumps({"git_sha": "1" * 40, "tree_clean": True}))
    assert "records no source_hash" in report.check_report(rep, tree)
    (rep / "run.json").unlink()
    assert _check(rep, tree).returncode == 1


def test_findings_name_the_world_and_baseline_of_every_claim_map_row():
    """Notebook 09's findings table shows its row names (world, baseline) and the verdict's
    columns, however wide the CSV; another wide table keeps the preferred columns."""
    import pandas as pd

    from afkit.report import document

    cols = ["group", "params_af", "params_fc", "lr_af", "lr_fc", "gap_af", "gap_fc", "learned_af"]
    wide = pd.DataFrame(
        [dict.fromkeys(cols + list(document.FINDINGS_OF["09_claim_map"]), 1)]
    ).assign(gap_mean=0.5, seeds=1, learned=True)
    shown = document.findings_columns(wide, stem="09_claim_map")
    assert shown[:3] == ["world", "videos_per_class", "baseline"]
    assert {"f1_diff", "f1_lo", "f1_hi", "outcome", "status"} <= set(shown)
    assert "world" not in document.findings_columns(wide)  # no stem: the generic choice
