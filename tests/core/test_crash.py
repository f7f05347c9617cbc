"""Every crash point: a store build (features, and features + frames) and a training run (cosine
schedule with warmup) are ended with ``os._exit`` at each of their write points in turn
(:mod:`afkit.core.faults`, driven by tests/helpers/crash_driver.py in a subprocess), each resumed,
and each result compared with an uninterrupted one built here: the store byte for byte, the run's
final weights exactly and its metrics history without the wall-clock fields. Also a full disk
(``ENOSPC`` from a patched writer) in a build and in a checkpoint: a clear error, the last complete
state intact and readable, and a resume to the identical result once space is back.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from afkit.core import faults, locks
from afkit.data import featurize, store
from afkit.data import store_writer as store_files
from afkit.training import train
from tests.helpers.paths import REPO
from tests.helpers.training_data import (
    TIMING,
    assert_same_weights,
    final_weights,
    make_frame_data,
    metric_history,
)

NUM_CLASSES = 12
# 64 train videos, batch 16: 4 steps per epoch, 2 epochs, a checkpoint every 2 steps (step 2,
# end of epoch 1, step 6, end of epoch 2); the LR warms up for 3 steps then decays (cosine)
RUN = dict(
    model="attend_fusion",
    profile="smoke",
    epochs=2,
    batch_size=16,
    lr=0.01,
    num_threads=1,
    progress=False,
    checkpoint_every_steps=2,
    schedule="cosine",
    warmup_steps=3,
)


def _tree(root: Path) -> dict:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_frame_data(
        tmp_path_factory.mktemp("crash") / "data",
        seed=7,
        num_classes=NUM_CLASSES,
        splits={"train": 64, "validate": 16},
        shards={"train": 3},
        max_labels=2,
        frames=(1, 4),
    )


def _drive(kind, root, src, opts) -> int:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.helpers.crash_driver",
            kind,
            str(root),
            str(src),
            json.dumps(opts),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["points"]


@pytest.mark.parametrize("frames", [False, True], ids=["features", "frames"])
def test_build_crashed_at_every_write_point_resumes_identically(data, tmp_path, frames):
    opts = dict(splits=["train"], feature_set="mean_std", frames=frames, chunk=4, progress=False)
    ref = tmp_path / "ref"
    faults.reset()
    featurize.build(ref, data, **opts)
    # plan, 3 shards (chunks, meta, part files, marker), 5 or 8 arrays, manifest, cleanup; with
    # frames: the 2 preallocated frame arrays and each shard's frame rows (written in place)
    assert faults.count() == (48 if frames else 40)
    points = _drive("store", tmp_path / "crashed", data, opts)
    assert points == faults.count()  # the driver crashed the build at every one of them
    want = _tree(ref / "train")
    runs = sorted((tmp_path / "crashed").iterdir())
    assert len(runs) == points
    for run in runs:
        assert _tree(run / "train") == want, f"{run.name}: the resumed store differs"


@pytest.fixture(scope="module")
def store_dir(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("crash-store")
    featurize.build(out, data, feature_set="mean_std", progress=False)
    return out


@pytest.fixture(scope="module")
def reference_run(store_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("crash-ref") / "run"
    train.train(train.TrainConfig(**RUN), store_dir, out)
    return out


def _same_run(run, ref):
    assert_same_weights(final_weights(run), final_weights(ref), run.name)
    assert metric_history(run) == metric_history(ref), f"{run.name}: metrics differ"
    res, want = (json.loads((r / train.RESULTS).read_text()) for r in (run, ref))
    assert res["steps"] == 8
    assert {k: v for k, v in res["final"].items() if not k.endswith(TIMING)} == {
        k: v for k, v in want["final"].items() if not k.endswith(TIMING)
    }


def test_training_crashed_at_every_write_point_resumes_identically(
    reference_run, store_dir, tmp_path
):
    lrs = [h["lr"] for h in metric_history(reference_run)]
    assert 0 < lrs[0] < RUN["lr"] and lrs[-1] == 0.0  # the schedule really moves the LR
    points = _drive("train", tmp_path / "crashed", store_dir, train.TrainConfig(**RUN).to_dict())
    # config, metrics, 4 checkpoints, model, results: 2 points each
    assert points == 16
    for run in sorted((tmp_path / "crashed").iterdir()):
        _same_run(run, reference_run)
        assert not list(run.glob(".*tmp*")) and not (run / locks.LOCK_NAME).exists()


def _enospc_after(n_ok: int, real):
    calls = {"n": 0}

    def write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    return write


def test_build_on_a_full_disk_fails_clearly_keeps_finished_shards_and_resumes(
    data, tmp_path, monkeypatch
):
    opts = dict(splits=["train"], feature_set="mean_std", frames=True, chunk=4, progress=False)
    ref = tmp_path / "ref"
    featurize.build(ref, data, **opts)
    out = tmp_path / "s"
    # the disk fills while shard 1 writes its meta file (shard 0 is done)
    monkeypatch.setattr(store_files, "atomic_savez", _enospc_after(1, store_files.atomic_savez))
    with pytest.raises(
        store.StoreError,
        match=r"no space left on device while building .*s/train.*"
        r"free some space and run the same build again to resume",
    ):
        featurize.build(out, data, **opts)
    parts = out / "train" / store.PARTS
    assert sorted(p.name for p in parts.glob("*.done.json")) == ["00000.done.json"]
    assert not list(parts.glob("*tmp*")), "temporary part files were left, holding the space"
    assert not (out / "train" / locks.LOCK_NAME).exists()
    # now the final concatenation hits the full disk: the parts stay, the partial arrays go
    monkeypatch.undo()
    real_write = store_files._NpyWriter.write
    monkeypatch.setattr(store_files._NpyWriter, "write", _enospc_after(3, real_write))
    with pytest.raises(store.StoreError, match="no space left on device"):
        featurize.build(out, data, **opts)
    assert len(list(parts.glob("*.done.json"))) == 3 and not list((out / "train").glob("*.partial"))
    monkeypatch.undo()
    report = featurize.build(out, data, **opts)["train"]
    assert report.shards_skipped == [0, 1, 2] and report.shards_built == []
    assert _tree(out / "train") == _tree(ref / "train")


def test_checkpoint_on_a_full_disk_fails_clearly_keeps_the_last_one_and_resumes(
    reference_run, store_dir, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    real_save = torch.save
    # the 3rd torch.save (the checkpoint of step 6) hits the full disk
    monkeypatch.setattr(torch, "save", _enospc_after(2, real_save))
    with pytest.raises(
        OSError,
        match=r"no space left on device writing .*last.pt.*the previous last.pt "
        r"\(if any\) is intact.*resume",
    ) as e:
        train.train(train.TrainConfig(**RUN), store_dir, out)
    assert e.value.errno == errno.ENOSPC
    monkeypatch.undo()
    ckpt = torch.load(out / train.CHECKPOINT, map_location="cpu", weights_only=False)
    assert (ckpt["epoch"], ckpt["batch"], ckpt["step"]) == (1, 0, 4)  # the end of epoch 1
    assert not list(out.glob(".*tmp*")) and not (out / locks.LOCK_NAME).exists()
    train.train(train.TrainConfig(**RUN), store_dir, out, resume=True)
    _same_run(out, reference_run)


def test_crash_point_counts_and_is_inert_without_the_variable(monkeypatch):
    monkeypatch.delenv(faults.CRASH_ENV, raising=False)
    faults.reset()
    for _ in range(3):
        faults.crash_point("x")
    assert faults.count() == 3
    faults.reset()
