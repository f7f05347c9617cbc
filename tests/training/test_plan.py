"""``python -m afkit plan``: disk, memory and time of a release at a profile, before a run; its
estimates checked against the stores actually built and the models actually built."""

from __future__ import annotations

import pytest

from afkit.data import featurize, synth
from afkit.io import records
from afkit.models import registry as models
from afkit.training import plan
from tests.helpers.release import make_release


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    synth.ensure_dataset(root / "synthetic", "smoke", 0, progress=False)
    return make_release(root / "synthetic", root / "release", layout="per-split")


def test_plan_prints_disk_memory_and_time_lines(release, tmp_path, capsys):
    rc = plan.main(
        [
            *("--data-dir", str(release), "--profile", "paper", "--store-dir", str(tmp_path)),
            *("--time-models", "attend_fusion", "--batch", "4", "--steps", "1", "--device", "cpu"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"release {release} (layout: per-split; 50 classes")
    assert sum(line.startswith("disk: feature store") for line in lines) == 1
    memory = [line for line in lines if line.startswith("memory: ")]
    assert [line.split()[1] for line in memory] == [
        "fc_late",
        "attend_fusion",
        "attend_fusion_frames",
    ]
    assert "measured process peak RSS" in memory[1] and "measured" not in memory[0]
    timed = [line for line in lines if line.startswith("time: attend_fusion:")]
    assert (
        len(timed) == 1 and "s a step at batch 4 on cpu" in timed[0] and "an epoch of" in timed[0]
    )
    assert lines[-1] == "everything fits"


def test_release_counts_are_the_records(release):
    rows = plan.read_release(release, sample_files=100)
    for r in rows:
        files = records.release_files(release, r["split"], r["level"])
        assert r["videos_exact"] and r["videos"] == records.count_records(files)
        assert r["files"] == len(files)
    test = [r for r in rows if r["split"] == "test"]
    assert test and all(r["labels_per_video"] == 0 for r in test)  # withheld, as in the release


def test_disk_estimate_is_close_to_the_stores_built(release, tmp_path):
    estimate = plan.store_bytes(plan.read_release(release))
    # the stores the notebooks build: train, and validate carved into validate + test
    featurize.build(tmp_path, release, feature_set="mean_std", frames=True, progress=False)
    built = {"features": 0, "frames": 0}
    for f in tmp_path.glob("*/*.npy"):
        built["frames" if f.name.startswith("frame") else "features"] += f.stat().st_size
    for kind in ("features", "frames"):
        total = sum(s[kind] for s in estimate)
        assert total == pytest.approx(built[kind], rel=0.15), kind
    assert [s["split"] for s in estimate][0] == "train" and len(estimate) == 2  # no test store


def test_memory_is_the_models_parameters(release):
    num_classes, _ = featurize.class_count(release)
    for name in plan.model_names(plan.read_release(release)):
        m = plan.model_memory(name, "smoke", num_classes)
        real = models.count_parameters(models.build(name, "smoke", num_classes=num_classes))
        assert m["params"] == real and m["train_state"] == 16 * real


def test_what_does_not_fit_is_said(release, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plan, "free_bytes", lambda path: 1000)
    rc = plan.main(["--data-dir", str(release), "--profile", "smoke", "--time-models", "none"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "does not fit: the stores need" in out and "1.0 kB free" in out


def test_a_folder_without_a_release_is_refused(tmp_path, capsys):
    assert plan.main(["--data-dir", str(tmp_path), "--profile", "paper"]) == 2
    assert "holds no release" in capsys.readouterr().err
