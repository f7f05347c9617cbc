"""Every notebook runs to its end (smoke profile) on a release-like directory (frame/ and
video/ with one folder per split, no ground truth, the test split unlabelled), through the same
``python -m afkit reproduce`` a user runs; then on the same records in the flat layout (the
download script's), reading back the runs of the first. Every table and answer of a scored
notebook names the split it is evaluated on: validate's held-out part."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from tests.helpers.release import make_release

from afkit.data import synth
from afkit.report.notebook import find_notebooks

pytestmark = pytest.mark.slow

HOLDOUT = "validate-holdout (20% by id hash)"
# the tables of the notebooks that score runs (04-06, 10), each naming its evaluation split
SCORED_TABLES = [
    "04_runs",
    "04_comparison",
    "04_intervals",
    "05_runs",
    "05_fusion_ablation",
    "06_runs",
    "06_attention_config",
    "10_runs",
    "10_arms",
    "10_readings",
]
ANSWERS = ["04_comparison", "05_fusion_ablation", "06_attention_config", "10_readings"]


def _reproduce(data, out, stores):
    return subprocess.run(
        [
            *(sys.executable, "-m", "afkit", "reproduce", "--profile", "smoke"),
            *("--out", str(out), "--data-dir", str(data), "--store-dir", str(stores)),
            *("--no-publish", "--no-screenshot"),
        ],
        capture_output=True,
        text=True,
        timeout=2400,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("release-notebooks")
    synth.ensure_dataset(root / "synthetic", "smoke", 0, progress=False)
    out = root / "out"
    done = {}
    for layout in ("per-split", "flat"):
        data = make_release(root / "synthetic", root / layout, layout=layout)
        proc = _reproduce(data, out, root / f"stores-{layout}")
        done[layout] = (
            proc,
            json.loads((out / "run.json").read_text()) if proc.returncode == 0 else None,
        )
    return out, done


@pytest.mark.parametrize("layout", ["per-split", "flat"])
def test_every_notebook_runs_on_a_release_like_directory(runs, layout):
    _, done = runs
    proc, meta = done[layout]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    names = [p.stem for p in find_notebooks()]
    assert {k: v["status"] for k, v in meta["notebooks"].items()} == {k: "ok" for k in names}
    assert meta["data_source"] == "real"


def test_the_second_layout_reads_back_the_first_ones_runs(runs):
    _, done = runs
    meta = done["flat"][1]
    assert meta["reused_runs"] > 0 and meta["trained_runs"] == 0


@pytest.mark.parametrize("table", SCORED_TABLES)
def test_every_scored_table_names_its_evaluation_split(runs, table):
    out, _ = runs
    df = pd.read_csv(out / "tables" / f"{table}.csv")
    assert len(df) and set(df["evaluated_on"]) == {HOLDOUT}, table


def test_runs_tables_say_which_runs_were_read_back(runs):
    out, _ = runs
    for table in ("04_runs", "05_runs", "06_runs", "10_runs"):
        df = pd.read_csv(out / "tables" / f"{table}.csv")
        assert set(df["run"]) == {"reused"}, table  # the flat run trained nothing


@pytest.mark.parametrize("name", ANSWERS)
def test_every_answer_names_its_evaluation_split(runs, name):
    out, _ = runs
    answer = json.loads((out / "results" / f"{name}.json").read_text())["data"]["answer"]
    assert f"evaluated on {HOLDOUT}" in answer and "test split" not in answer
