"""The HTML report as a reader sees it: headless chromium loads it, every figure decodes
(naturalWidth > 0) and every table has rows; every notebook's computed answer is on the page; no
table (however many columns) widens the page at 1280 px; a broken image, an empty table and a
page-widening table are caught; the first screen is screenshotted next to the report.

Needs Debian's chromium (``apt-get install -y chromium chromium-driver``; ``make chromium``).
Skips without it, except on CI (``CI`` set), where it must run."""

import json
import os
import re
import struct

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from afkit.report import browser, notebook
from afkit.report.document import build_report
from afkit.viz import plots

if browser.find_chromium() is None:
    if os.environ.get("CI"):
        raise RuntimeError(
            "CI is set but chromium is not installed: the report browser test must run on CI "
            "(apt-get install -y chromium chromium-driver)"
        )
    pytest.skip(
        "chromium is not installed (apt-get install -y chromium chromium-driver); "
        "the report browser test runs on CI",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report built from a fake output folder: two figures, two tables, a run.json."""
    out = notebook.paths(tmp_path_factory.mktemp("browser") / "out")
    plots.set_style()
    plots.save_figure(
        plots.plot_frame_counts(np.arange(1, 100)), "00_frames", out.figures, close=True
    )
    plots.save_figure(
        plots.plot_label_frequency([5, 3, 1]),
        "00_labels",
        out.figures,
        formats=("png",),
        close=True,
    )
    pd.DataFrame({"model": ["fc_late", "attend_fusion"], "micro_f1": [61.2, 60.9]}).to_csv(
        out.tables / "04_cmp.csv", index=False
    )
    pd.DataFrame({"split": ["train", "validate", "test"], "videos": [300, 100, 80]}).to_csv(
        out.tables / "00_counts.csv", index=False
    )
    meta = {
        "profile": "smoke",
        "seed": 0,
        "data_source": "synthetic",
        "data_dir": "/d",
        "notebooks": {
            "00_data": {
                "name": "00_data",
                "status": "ok",
                "seconds": 1.0,
                "outputs": [
                    "figures/00_frames.png",
                    "figures/00_frames.svg",
                    "figures/00_labels.png",
                    "tables/00_counts.csv",
                ],
            }
        },
    }
    import json

    out.run_json.write_text(json.dumps(meta))
    md, html = build_report(out.root)
    return html


def test_every_figure_loads_and_every_table_renders(report):
    seen = browser.check_report_in_browser(report)
    srcs = sorted(i["src"] for i in seen["images"])
    assert srcs == ["figures/00_frames.png", "figures/00_labels.png"]
    for img in seen["images"]:
        png = (report.parent / img["src"]).read_bytes()
        width, height = struct.unpack(">II", png[16:24])  # the browser decoded the real file
        assert img["complete"] and (img["width"], img["height"]) == (width, height)
    data_tables = [t for t in seen["tables"] if "data" in t["cls"].split()]
    assert sorted(t["rows"] for t in data_tables) == [2, 3]  # 04_cmp.csv, 00_counts.csv
    assert all(t["rows"] > 0 and t["height"] > 0 for t in seen["tables"])
    assert not list(report.parent.glob(".afkit-check-*"))  # the probe copy is removed


def test_broken_image_and_empty_table_are_detected(tmp_path):
    good = tmp_path / "ok.png"
    fig = plots.plot_label_frequency([2, 1])
    plots.save_figure(fig, "ok", tmp_path, formats=("png",), close=True)
    page = tmp_path / "page.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="ok.png"><img src="missing.png">'
        "<table><thead><tr><th>a</th></tr></thead><tbody></tbody></table></body></html>"
    )
    seen = browser.check_report_in_browser(page)
    widths = {i["src"]: i["width"] for i in seen["images"]}
    assert (
        widths["missing.png"] == 0
        and widths["ok.png"] == struct.unpack(">I", good.read_bytes()[16:20])[0]
    )
    assert [t["rows"] for t in seen["tables"]] == [0]


def test_screenshot_of_first_screen(report):
    png = browser.screenshot_report(report)
    assert png == report.with_suffix(".png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 900)


ANSWERS = {
    "04_comparison": (
        "**Answer (synthetic data).** Attend-Fusion reaches GAP `61.20`, FC late fusion 60.90."
    ),
    "05_fusion_ablation": (
        "**Answer.** Attention fusion helps:\n\n- by 0.4 points\n- over 3 seeds\n\n"
        "*All on synthetic data.*"
    ),
}


def _plain(markdown: str) -> str:
    """The text a reader sees of a Markdown answer (markers dropped, spaces collapsed)."""
    text = re.sub(r"^\s*[-*+] ", "", markdown, flags=re.M).replace("*", "").replace("`", "")
    return " ".join(text.split())


@pytest.fixture(scope="module")
def findings_report(tmp_path_factory):
    """A report with two computed answers, their figures, a 40-column table and a 100-row table."""
    out = notebook.paths(tmp_path_factory.mktemp("findings") / "out")
    plots.set_style()
    outputs = {}
    for name, answer in ANSWERS.items():
        fig = f"{name[:2]}_figure"
        plots.save_figure(
            plots.plot_label_frequency([5, 3, 1]), fig, out.figures, formats=("png",), close=True
        )
        wide = pd.DataFrame(
            {f"a_long_column_name_number_{i}": [1.5 * i, 2.25 * i] for i in range(40)}
        )
        wide.to_csv(out.tables / f"{name[:2]}_wide.csv", index=False)
        pd.DataFrame({"run": range(100), "gap": np.linspace(0, 1, 100)}).to_csv(
            out.tables / f"{name[:2]}_runs.csv", index=False
        )
        (out.results / f"{name}.json").write_text(
            json.dumps({"name": name, "data": {"answer": answer}})
        )
        outputs[name] = {
            "name": name,
            "status": "ok",
            "seconds": 2.0,
            "outputs": [
                f"figures/{fig}.png",
                f"results/{name}.json",
                f"tables/{name[:2]}_runs.csv",
                f"tables/{name[:2]}_wide.csv",
            ],
        }
    meta = {
        "profile": "smoke",
        "seed": 0,
        "data_source": "synthetic",
        "data_dir": "/d",
        "git_sha": "a" * 40,
        "tree_clean": True,
        "seconds": 4.0,
        "reused_runs": 0,
        "trained_runs": 2,
        "command": "python -m afkit reproduce --profile smoke --out /a/very/long/path/" + "x" * 200,
        "notebooks": outputs,
    }
    out.run_json.write_text(json.dumps(meta))
    md, html = build_report(out.root)
    return html


def test_every_answer_shown_every_image_loaded_and_nothing_widens_the_page(findings_report):
    seen = browser.check_report_in_browser(findings_report, window="1280,900")
    text = " ".join(seen["text"].split())
    results = sorted((findings_report.parent / "results").glob("*.json"))
    assert len(results) == len(ANSWERS)
    for path in results:
        assert _plain(json.loads(path.read_text())["data"]["answer"]) in text, path.name
    assert seen["images"] and all(i["complete"] and i["width"] > 0 for i in seen["images"])
    # each figure appears in the findings and in its notebook's section
    assert sorted({i["src"] for i in seen["images"]}) == [
        "figures/04_figure.png",
        "figures/05_figure.png",
    ]
    page = seen["page"]
    assert page["inner_width"] == 1280
    assert page["scroll_width"] <= page["inner_width"] + 4, page
    assert (
        max(t["rows"] for t in seen["tables"] if "data" in t["cls"].split()) <= 10
    )  # long tables summarised


def test_a_page_widening_table_is_detected(tmp_path):
    page = tmp_path / "wide.html"
    cells = "".join(f"<td>column_{i}_with_a_long_name</td>" for i in range(60))
    page.write_text(
        f"<!DOCTYPE html><html><body><table><tbody><tr>{cells}</tr></tbody></table></body></html>"
    )
    seen = browser.check_report_in_browser(page, window="1280,900")
    assert seen["page"]["scroll_width"] > seen["page"]["inner_width"] + 4
