"""afkit.report.reproduce: papermill over a fixture notebook set (one writes a figure and a table,
one raises), failure reporting by name and cell, the report, publishing, and the notebook rules."""

import json
import sys
import types
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import afkit.data
from afkit.report import document as report
from afkit.report import notebook, reproduce
from tests.helpers.paths import NOTEBOOK_FIXTURES, REPO


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One reproduce run over the fixtures (seed 2), with a stand-in for afkit.data.synth that
    records its call and marks the data folder synthetic."""
    tmp = tmp_path_factory.mktemp("reproduce")
    calls = []

    def ensure_dataset(data_dir, profile, seed):
        calls.append((Path(data_dir), profile, seed))
        (Path(data_dir) / "ground_truth").mkdir(parents=True, exist_ok=True)

    fake = types.ModuleType("afkit.data.synth")
    fake.ensure_dataset = ensure_dataset
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "afkit.data.synth", fake)
        # the package attribute, which `from afkit.data import synth` reads first once any
        # test has imported the real module
        mp.setattr(afkit.data, "synth", fake, raising=False)
        import io
        from contextlib import redirect_stderr, redirect_stdout

        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            rc = reproduce.main(
                [
                    "--profile",
                    "smoke",
                    "--notebooks-dir",
                    str(NOTEBOOK_FIXTURES),
                    "--out",
                    str(tmp / "out"),
                    "--data-dir",
                    str(tmp / "data"),
                    "--store-dir",
                    str(tmp / "store"),
                    "--seed",
                    "2",
                    "--no-screenshot",
                    "--publish",
                    "--publish-dir",
                    str(tmp / "pub"),
                ]
            )
    return types.SimpleNamespace(
        rc=rc, stdout=out.getvalue(), stderr=err.getvalue(), out=tmp / "out", tmp=tmp, calls=calls
    )


def test_failed_notebook_reported_by_name_and_cell_and_exit_code(run):
    assert run.rc == 1
    # cell 4 of the stored notebook (markdown, parameters, `answer = 41`, the raise)
    line = (
        "01_raises: failed at cell 4 (In [4]) "
        '`raise ValueError(f"planted failure: answer is {answer}")`: '
        "ValueError: planted failure: answer is 41"
    )
    assert line in run.stderr
    assert "1 of 2 notebook(s) failed" in run.stderr
    meta = json.loads((run.out / "run.json").read_text())
    assert meta["notebooks"]["01_raises"]["status"] == "failed"
    assert meta["notebooks"]["01_raises"]["error"]["cell"] == 4
    assert meta["notebooks"]["00_figure_table"]["status"] == "ok"


def test_data_ensured_and_parameters_injected(run):
    assert run.calls == [((run.tmp / "data").resolve(), "smoke", 2)]
    # the fixture writes [8, 4, 2, 1] * (seed + 1): seed 2 must reach the notebook
    table = pd.read_csv(run.out / "tables" / "00_fixture_counts.csv")
    assert table.to_dict("list") == {"class": ["a", "b", "c", "d"], "videos": [24, 12, 6, 3]}
    executed = nbformat.read(run.out / "notebooks" / "00_figure_table.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "seed = 2" in injected[0].source
    assert f'out_dir = "{run.out.resolve()}"' in injected[0].source
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    spec = json.loads(
        (run.out / "kernels" / "kernels" / reproduce.KERNEL_NAME / "kernel.json").read_text()
    )
    assert spec["argv"][0] == sys.executable


def test_outputs_attributed_and_report_gathers_table_and_figure(run):
    meta = json.loads((run.out / "run.json").read_text())
    assert meta["notebooks"]["00_figure_table"]["outputs"] == [
        "figures/00_fixture_label_frequency.png",
        "figures/00_fixture_label_frequency.svg",
        "tables/00_fixture_counts.csv",
    ]
    assert meta["profile"] == "smoke" and meta["seed"] == 2 and meta["data_source"] == "synthetic"
    assert (run.out / "figures" / "00_fixture_label_frequency.png").stat().st_size > 1000
    md = (run.out / "REPORT.md").read_text()
    assert "**synthetic** data" in md
    assert "| a | 24 |" in md and "| d | 3 |" in md
    assert "](figures/00_fixture_label_frequency.png)" in md and "![Figure 1. " in md
    assert "--notebooks 00 --seed 2" in md  # the regenerating command
    assert "> **Failed.** 01_raises: failed at cell 4" in md
    page = (run.out / "report.html").read_text()
    assert '<img src="figures/00_fixture_label_frequency.png"' in page
    assert '<td class="l">a</td><td class="r">24</td>' in page
    # a notebook failed: nothing published over what is there (the report stays in OUT/)
    assert not (run.tmp / "pub").exists()
    assert "not published to" in run.stderr and "a notebook failed" in run.stderr


def test_publish_copies_figures_and_links_them_from_report(run, tmp_path):
    pub = tmp_path / "pub"
    reproduce.publish(run.out, pub)
    assert (pub / "figures" / "00_fixture_label_frequency.png").read_bytes() == (
        run.out / "figures" / "00_fixture_label_frequency.png"
    ).read_bytes()
    assert (
        "](../figures/00_fixture_label_frequency.png)" in (pub / "report" / "REPORT.md").read_text()
    )


def test_build_report_on_a_fake_out_dir(tmp_path):
    out = notebook.paths(tmp_path / "out")
    pd.DataFrame({"model": ["x", "y|z"], "f1": [0.5, 0.123456]}).to_csv(
        out.tables / "t.csv", index=False
    )
    (out.figures / "f.png").write_bytes(b"\x89PNG fake")
    md_path, html_path = report.build_report(out.root)
    md = md_path.read_text()
    assert "not recorded" in md  # no run.json: the data source is unknown and said so
    assert "## Outputs" in md
    assert "| y\\|z | 0.1235 |" in md  # pipes escaped, 4 significant digits
    assert "![Figure 1. F (data of an unrecorded source).](figures/f.png)" in md
    assert '<td class="l">y|z</td><td class="r">0.1235</td>' in html_path.read_text()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.build_report(tmp_path / "missing")


def test_timeout_stops_the_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(60)")]
    path = tmp_path / "nbs" / "00_sleep.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    out = notebook.paths(tmp_path / "out")
    rec = reproduce.run_notebook(
        path, out, {}, timeout_s=3, jupyter_path=reproduce.write_kernelspec(out.kernels)
    )
    assert rec["status"] == "timeout" and 3 <= rec["seconds"] < 30
    assert (
        report.describe_failure(rec) == "00_sleep: timeout at before any cell ran: "
        "Timeout: notebook ran past 3 s and was stopped"
    )
    assert "Rerunning the same command goes on" in report.resume_hint(rec)
    assert report.resume_hint({**rec, "status": "failed"}) == ""
    # the report of a run whose notebook timed out says how to go on
    (out.run_json).write_text(json.dumps({"profile": "smoke", "notebooks": {"00_sleep": rec}}))
    md = report.build_report(out.root)[0].read_text()
    assert (
        "notebook ran past 3 s and was stopped" in md and "Rerunning the same command goes on" in md
    )


def test_find_notebooks_selection():
    assert [p.name for p in notebook.find_notebooks(NOTEBOOK_FIXTURES)] == [
        "00_figure_table.ipynb",
        "01_raises.ipynb",
    ]
    assert [p.name for p in notebook.find_notebooks(NOTEBOOK_FIXTURES, "1")] == ["01_raises.ipynb"]
    with pytest.raises(ValueError, match="no notebook numbered 07"):
        notebook.find_notebooks(NOTEBOOK_FIXTURES, "00,07")


@pytest.mark.parametrize(
    "path",
    sorted((REPO / "notebooks").glob("*.ipynb")) + sorted(NOTEBOOK_FIXTURES.glob("*.ipynb")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_stored_notebooks_follow_the_rules(path):
    assert reproduce.check_notebook(path) == []


def test_check_notebook_catches_each_rule(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'profile = "smoke"\nseed = 1 + 1', metadata={"tags": ["parameters"]}
    )
    dirty = nbformat.v4.new_code_cell(
        "def f():\n    pass\nclass K: pass\n%matplotlib inline",
        execution_count=3,
        outputs=[nbformat.v4.new_output("stream", text="hi")],
    )
    nb.cells = [params, dirty]
    path = tmp_path / "00_bad.ipynb"
    nbformat.write(nb, path)
    nb.cells = [dirty]
    nbformat.write(nb, tmp_path / "01_noparams.ipynb")
    assert (
        "01_noparams.ipynb: needs exactly one cell tagged 'parameters', has 0"
        in reproduce.check_notebook(tmp_path / "01_noparams.ipynb")
    )
    assert reproduce.check_notebook(path) == [
        "00_bad.ipynb: cell 2 is stored with outputs",
        "00_bad.ipynb: cell 2 is stored with an execution count",
        "00_bad.ipynb: cell 2 defines function 'f'",
        "00_bad.ipynb: cell 2 defines class 'K'",
        "00_bad.ipynb: parameter 'seed' (cell 1) is not a literal",
        "00_bad.ipynb: parameters cell 1 lacks data_dir, store_dir, out_dir, device",
    ]


def test_gitattributes_strips_notebooks():
    text = (REPO / ".gitattributes").read_text()
    assert "*.ipynb filter=nbstripout" in text and "*.ipynb diff=ipynb" in text


def test_run_json_records_provenance_and_timing(run):
    from afkit.core import provenance

    meta = json.loads((run.out / "run.json").read_text())
    assert isinstance(meta["tree_clean"], bool)
    assert (
        meta["tree_clean"] == (not str(meta["git_sha"]).endswith("+dirty"))
        or meta["source_changed_during_run"]
    )
    assert meta["source_hash"] == provenance.source_hash(REPO)
    assert (
        meta["source_files"] == provenance.source_files(REPO)
        and "afkit/report/document.py" in meta["source_files"]
    )
    assert meta["code_hash"] == provenance.code_hash()
    assert (meta["reused_runs"], meta["trained_runs"]) == (0, 0)  # the fixtures train nothing
    per_notebook = [r["seconds"] for r in meta["notebooks"].values()]
    # each value is rounded to 0.1 s: the total may read up to 0.05 s less a notebook
    assert meta["seconds"] + 0.05 * len(per_notebook) >= sum(per_notebook) > 0
    md = (run.out / "REPORT.md").read_text()
    assert "from scratch (0 training runs trained)" in md
    assert [ln for ln in md.splitlines() if ln.startswith("## ")][:2] == [
        "## Findings",
        "## Details",
    ]
