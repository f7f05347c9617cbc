"""Finished runs are never deleted (a stale one is moved aside, its name saying why), and a run
trained anywhere (the train command, torchrun, another machine) is found where the notebooks
look: the train command's default folder, or ``import-run``."""

from __future__ import annotations

import hashlib
import json

import pytest

from afkit.core import provenance
from afkit.data import featurize, synth
from afkit.studies import experiments
from afkit.training import inference, train

SPEC = experiments.Spec("fc_late", "fc_late", train={"lr": 1e-3})


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs-data")
    synth.ensure_dataset(root / "data", "smoke", 0, progress=False)
    featurize.build(root / "stores", root / "data", feature_set="mean_std", progress=False)
    return root / "stores"


def _digest(folder):
    """SHA-256 of every file of a run folder, by name."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


def test_a_finished_run_survives_a_code_change(store_dir, tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    first = experiments.train_one(SPEC, 0, store_dir, runs, "smoke", progress=False)
    out = experiments.run_dir(runs, SPEC, 0)
    before = _digest(out)
    old_hash = first["code_hash"]
    # the training code changes (a docstring edit is enough to change the hash)
    monkeypatch.setattr(provenance, "code_hash", lambda *a, **k: "0" * 16)
    experiments.train_one(SPEC, 0, store_dir, runs, "smoke", progress=False)
    kept = tmp_path / "runs.stale" / out.parent.name / f"seed0.code-{old_hash[:12]}-to-{'0' * 12}"
    assert kept.is_dir(), sorted(p.name for p in (tmp_path / "runs.stale").rglob("*"))
    assert _digest(kept) == before  # the finished run, byte for byte
    assert (out / train.RESULTS).exists()  # and the new one trained in its place
    assert str(kept) in capsys.readouterr().out
    # a second change keeps both earlier runs: the name is numbered, nothing is overwritten
    monkeypatch.setattr(provenance, "code_hash", lambda *a, **k: "1" * 16)
    experiments.train_one(SPEC, 0, store_dir, runs, "smoke", progress=False)
    stale = sorted(p.name for p in kept.parent.iterdir())
    assert len(stale) == 2 and _digest(kept) == before


def test_a_run_of_another_config_is_kept_aside(store_dir, tmp_path):
    runs = tmp_path / "runs"
    experiments.train_one(SPEC, 0, store_dir, runs, "smoke", progress=False)
    out = experiments.run_dir(runs, SPEC, 0)
    before = _digest(out)
    res = experiments.train_one(SPEC, 0, store_dir, runs, "smoke", progress=False, epochs=1)
    assert res["epochs_run"] == 1
    kept = tmp_path / "runs.stale" / out.parent.name / "seed0.config"
    assert _digest(kept) == before


def test_the_train_command_writes_where_the_notebooks_look(store_dir, tmp_path):
    out_dir = tmp_path / "out"
    args = ["--model", "fc_late", "--profile", "smoke", "--store", str(store_dir)]
    assert train.main([*args, "--out-dir", str(out_dir), "--lr", "0.001", "--no-progress"]) == 0
    expected = experiments.run_dir(out_dir / "runs", SPEC, 0)
    assert (expected / train.RESULTS).exists()
    mtime = (expected / train.RESULTS).stat().st_mtime_ns
    # the notebooks' arm of the same model and rate reads it back instead of training it
    grid_row = experiments._trial((SPEC, 0, store_dir, out_dir / "runs", "smoke", {}))
    assert grid_row["run"] == "reused" and grid_row["run_dir"] == str(expected)
    assert (expected / train.RESULTS).stat().st_mtime_ns == mtime
    assert grid_row["scores"]["evaluated_on"] == "test"


def test_import_run_files_a_run_trained_elsewhere(store_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "my_run"
    args = ["--model", "fc_late", "--profile", "smoke", "--store", str(store_dir)]
    assert train.main([*args, "--out", str(elsewhere), "--no-progress"]) == 0
    out_dir = tmp_path / "out"
    assert inference.import_main([str(elsewhere), "--out-dir", str(out_dir)]) == 0
    dest = experiments.run_dir(out_dir / "runs", SPEC, 0)  # smoke's default lr is 1e-3
    assert _digest(dest) == _digest(elsewhere)
    assert json.loads((dest / train.RESULTS).read_text())["config"]["lr"] == 1e-3
    # a second import never overwrites; a folder that is not a finished run is refused
    with pytest.raises(FileExistsError, match="already holds a run"):
        inference.import_run(elsewhere, out_dir)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / train.CONFIG).write_text("{}")
    with pytest.raises(ValueError, match="not a finished run: it has no results.json, model.pt"):
        inference.import_run(tmp_path / "half", out_dir)
