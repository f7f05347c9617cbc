"""The report reads like a results section: headers a reader understands, with units (metrics in
percent, parameters with thousands separators, "—" where one seed gave no spread), every table
and figure numbered and captioned with what it shows and on what data, the protocol once at the
top, and no absolute path of the machine that made it. Checked on the HTML as parsed (always)
and as headless chromium renders it (where chromium is installed; on CI it must be)."""

import json
import os
import re
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from afkit.report import browser, columns, notebook
from afkit.report.document import build_report
from afkit.viz import plots

PROTOCOL = "learning rate from {0.001, 0.003} chosen on validate"
ANSWER = "**Answer (synthetic data).** Attend-Fusion reaches GAP 83.13%."


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """An output folder with a comparison table in the CSV's own units (fractions, raw counts,
    a one-seed row with std 0) and a figure; the report built from it."""
    out = notebook.paths(tmp_path_factory.mktemp("reader") / "out")
    plots.set_style()
    plots.save_figure(
        plots.plot_label_frequency([5, 3, 1]),
        "04_comparison_f1",
        out.figures,
        formats=("png",),
        close=True,
    )
    table = pd.DataFrame(
        {
            "label": ["fc_late", "attend_fusion", "logistic"],
            "params": [3501400, 737810, 691500],
            "seeds": [3, 3, 1],
            "gap_mean": [0.825312, 0.831345, 0.806031],
            "gap_std": [0.0024, 0.0009, 0.0],
            "micro_f1_tuned_mean": [0.7924, 0.8023, 0.7553],
            "micro_f1_tuned_std": [0.0032, 0.0012, 0.0],
            "run_dir": [str(out.root / "runs" / f"r{i}" / "seed0") for i in range(3)],
        }
    )
    table.to_csv(out.tables / "04_comparison.csv", index=False)
    (out.results / "04_comparison.json").write_text(
        json.dumps({"data": {"answer": ANSWER, "protocol": f"every arm: {PROTOCOL}."}})
    )
    meta = {
        "profile": "smoke",
        "seed": 0,
        "data_source": "synthetic",
        "data_dir": str(out.root / "data"),  # (a folder outside both would be shown as given)
        "git_sha": "b" * 40,
        "tree_clean": True,
        "seconds": 3.0,
        "command": f"python -m afkit reproduce --profile smoke --out {out.root}",
        "notebooks": {
            "04_comparison": {
                "name": "04_comparison",
                "status": "ok",
                "seconds": 3.0,
                "input": str(out.root.parent / "nb" / "04_comparison.ipynb"),
                "outputs": [
                    "figures/04_comparison_f1.png",
                    "results/04_comparison.json",
                    "tables/04_comparison.csv",
                ],
            }
        },
    }
    out.run_json.write_text(json.dumps(meta))
    md, page = build_report(out.root)
    return out, table, md, page


class _Page(HTMLParser):
    """The data tables (caption, headers, rows of cells) and the figures (caption, alt)."""

    def __init__(self):
        super().__init__()
        self.tables, self.figures, self._at, self._cell = [], [], [], None
        self._in_data = False  # inside a data table (not a metadata table)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._in_data = "data" in (attrs.get("class") or "").split()
            if self._in_data:
                self.tables.append({"caption": "", "headers": [], "rows": []})
        elif tag == "figure":
            self.figures.append({"caption": "", "alt": None})
        elif tag == "img" and self.figures:
            self.figures[-1]["alt"] = attrs.get("alt")
        elif tag == "tr" and self._in_data:
            self.tables[-1]["rows"].append([])
        if tag in ("th", "td", "caption") and not self._in_data:
            return
        if tag in ("caption", "th", "td", "figcaption"):
            self._cell = tag
            self._at = []

    def handle_data(self, data):
        if self._cell:
            self._at.append(data)

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_data = False
        if tag != self._cell:
            return
        text = "".join(self._at).strip()
        if tag == "figcaption":
            self.figures[-1]["caption"] = text
        elif self.tables and tag == "caption":
            self.tables[-1]["caption"] = text
        elif self.tables and tag == "th":
            self.tables[-1]["headers"].append(text)
        elif self.tables and tag == "td":
            self.tables[-1]["rows"][-1].append(text)
        self._cell = None


def _parsed(page):
    p = _Page()
    p.feed(page.read_text())
    return p


def test_headers_have_words_and_units_and_cells_their_unit(made):
    out, table, md, page = made
    (t,) = [t for t in _parsed(page).tables if t["caption"].startswith("Table 1.")][:1]
    headers = t["headers"]
    assert not [h for h in headers if "_" in h], headers  # no snake_case column name
    assert "GAP@20, mean (%)" in headers and "GAP@20, std (points)" in headers
    assert "parameters" in headers and "arm" in headers
    rows = {r[headers.index("arm")]: dict(zip(headers, r, strict=True)) for r in t["rows"] if r}
    # the oracle: the CSV's fraction times 100, the count with separators, no spread of one seed
    assert rows["attend_fusion"]["GAP@20, mean (%)"] == f"{100 * 0.831345:.2f}" == "83.13"
    assert rows["fc_late"]["parameters"] == "3,501,400"
    assert rows["logistic"]["GAP@20, std (points)"] == columns.MISSING
    assert rows["fc_late"]["GAP@20, std (points)"] == "0.24"
    # the CSV keeps its machine-readable names and values
    assert list(pd.read_csv(out.tables / "04_comparison.csv").columns) == list(table.columns)


def test_every_table_and_figure_numbered_and_captioned_with_its_data(made):
    out, _, md, page = made
    parsed = _parsed(page)
    assert parsed.tables and parsed.figures
    for t in parsed.tables:
        assert re.match(r"Table \d+\. .+", t["caption"]), t["caption"]
    assert all(t["caption"] for t in parsed.tables)
    for f in parsed.figures:
        assert re.match(r"Figure \d+\. .*synthetic set", f["caption"]), f["caption"]
        assert f["alt"] and f["alt"].startswith("Figure ") and "04_comparison_f1" not in f["alt"]
    assert "**Table 1.** Every arm on the test split of the synthetic set" in md.read_text()
    assert "![Figure 1. Test micro-F1 per arm" in md.read_text()


def test_the_protocol_is_stated_once_at_the_top(made):
    _, _, md, _ = made
    text = md.read_text()
    assert text.count(PROTOCOL) == 1
    assert text.index("## Protocol") < text.index("## Findings")
    assert "- [Protocol](#protocol)" in text


def test_no_absolute_path_of_the_machine(made):
    out, _, md, page = made
    for path in (md, page):
        text = path.read_text()
        assert str(out.root) not in text and str(out.root.parent) not in text
        assert not re.search(r"(?<![\w.])/(tmp|work|home|root)/", text), path.name
    # paths are read relative to the output folder instead
    assert "runs/r0/seed0" in md.read_text()


needs_chromium = pytest.mark.skipif(
    browser.find_chromium() is None and not os.environ.get("CI"),
    reason="chromium is not installed (apt-get install -y chromium); runs on CI",
)


@needs_chromium
def test_in_the_browser_headers_captions_and_no_path(made):
    out, _, _, page = made
    seen = browser.check_report_in_browser(page)
    data = [t for t in seen["tables"] if "data" in t["cls"].split()]
    assert data and all(re.match(r"Table \d+\. ", t["caption"]) for t in data)
    assert all(h and "_" not in h for t in data for h in t["headers"])
    assert seen["figures"] and all(
        re.match(r"Figure \d+\. ", f["caption"]) and f["alt"] for f in seen["figures"]
    )
    assert str(out.root) not in seen["text"]
    assert not re.search(r"(?<![\w.])/(tmp|work|home|root)/", seen["text"])
