"""Any notebook can run first: notebooks 04 and 08, each run alone with papermill (through
``reproduce.run_notebook``, the runner of ``python -m afkit reproduce``) on a fresh output folder
and a missing store, build what they need in ``notebook.setup`` (the feature and frame store;
their training runs) and succeed."""

import pytest

from afkit.data import store
from afkit.report import document as report
from afkit.report import notebook, reproduce

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The embedded synthetic set (smoke), made beforehand as ``reproduce`` does."""
    d = tmp_path_factory.mktemp("alone-data") / "data"
    assert notebook.ensure_data(d, "smoke", 0) == "synthetic"
    return d


@pytest.mark.parametrize("stem", ["04_comparison", "08_interpretability"])
def test_notebook_runs_first_and_alone(tmp_path, data, stem):
    out = notebook.paths(tmp_path / "out")
    stores = tmp_path / "stores"
    assert not stores.exists()
    params = {
        "profile": "smoke",
        "data_dir": str(data),
        "store_dir": str(stores),
        "out_dir": str(out.root),
        "seed": 0,
        "device": "cpu",
    }
    rec = reproduce.run_notebook(
        notebook.NOTEBOOKS_DIR / f"{stem}.ipynb",
        out,
        params,
        600,
        reproduce.write_kernelspec(out.kernels),
    )
    log = (out.root / rec["log"]).read_text(errors="replace")
    assert rec["status"] == "ok", report.describe_failure(rec) + "\n" + log[-3000:]
    # setup built the whole store, frames included, and the notebook trained its own runs
    for split in ("train", "validate", "test"):
        s = store.open_store(stores / split)
        assert s.has_frames and s.feature_set == "mean_std"
    assert "featurize train" in log  # the build's progress bar
    assert list((out.root / "runs").glob("*/seed0/results.json"))
    assert list(out.tables.glob(f"{stem[:2]}_*.csv"))
    assert list(out.figures.glob(f"{stem[:2]}_*.png"))


def test_setup_confirms_a_built_store_without_rebuilding(tmp_path, data):
    stores = tmp_path / "stores"
    notebook.setup("smoke", data_dir=data, store_dir=stores, out_dir=tmp_path / "out")
    manifests = {p: p.stat().st_mtime_ns for p in stores.glob("*/manifest.json")}
    assert sorted(p.parent.name for p in manifests) == ["test", "train", "validate"]
    ctx = notebook.setup("smoke", data_dir=data, store_dir=stores, out_dir=tmp_path / "out")
    assert {p: p.stat().st_mtime_ns for p in stores.glob("*/manifest.json")} == manifests
    assert ctx.store_dir == stores.resolve() and ctx.source == "synthetic"
