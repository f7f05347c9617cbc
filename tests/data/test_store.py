"""Feature store and frame store: build, resume after SIGKILL, atomicity, verify, loader."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from afkit.data import batches as B
from afkit.data import featurize as FZ
from afkit.data import store as S
from afkit.data import store_writer as store_files
from afkit.io.records import dequantize, read_records, write_records


def reference_features(rec) -> np.ndarray:
    """mean_rgb, std_rgb, mean_audio, std_audio of the dequantized frames, float64 numpy."""
    out = []
    for m in ("rgb", "audio"):
        x = dequantize(rec[m]).astype(np.float64)
        out += [x.mean(0), x.std(0)]
    return np.concatenate(out)


def tree_bytes(root: Path) -> dict:
    """{relative path: sha256} of every file under root."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The smoke synthetic release (train: 5 shards of 64 videos, 5..40 frames)."""
    from afkit.data import synth

    d = tmp_path_factory.mktemp("synth")
    synth.generate(d, "smoke", seed=0, progress=False)
    return d


@pytest.fixture(scope="module")
def built(data_dir, tmp_path_factory):
    """train split, mean_std float32 + frames, built in one process."""
    out = tmp_path_factory.mktemp("store")
    FZ.build(
        out,
        data_dir,
        splits=["train"],
        feature_set="mean_std",
        dtype="float32",
        frames=True,
        progress=False,
        chunk=16,
    )
    return out


@pytest.fixture(scope="module")
def train_records(data_dir):
    return list(read_records(str(data_dir / "frame" / "train*.tfrecord")))


# ------------------------------------------------------------------------------------ building


def test_store_matches_records_and_numpy(built, train_records):
    st = S.open_store(built, "train")
    assert len(st) == len(train_records) == 320
    assert list(st.ids) == [r["id"] for r in train_records]
    assert st.num_classes == 50  # rows of the synthetic vocabulary.csv
    assert st.features.shape == (320, 2304) and st.features.dtype == np.float32
    assert isinstance(st.features, np.memmap)
    ref = np.stack([reference_features(r) for r in train_records])
    np.testing.assert_allclose(st.features, ref, rtol=0, atol=2e-6)
    for i in (0, 63, 64, 319):
        r = train_records[i]
        assert np.array_equal(st.labels(i), r["labels"]) and st.labels(i).dtype == np.int64
        rgb, audio = st.frames(i)
        assert np.array_equal(rgb, r["rgb"]) and np.array_equal(audio, r["audio"])
        assert st.num_frames[i] == len(r["rgb"])
    assert list(st.columns) == ["mean_rgb", "std_rgb", "mean_audio", "std_audio"]
    assert st.columns == {
        "mean_rgb": slice(0, 1024),
        "std_rgb": slice(1024, 2048),
        "mean_audio": slice(2048, 2176),
        "std_audio": slice(2176, 2304),
    }
    v, a = st.split_visual_audio(np.asarray(st.features[:3]))
    assert v.shape == (3, 2048) and a.shape == (3, 256)
    assert np.array_equal(a, st.features[:3, 2048:])
    m = st.manifest
    assert m["schema_version"] == S.SCHEMA_VERSION and m["num_videos"] == 320
    assert [s["name"] for s in m["sources"]] == [f"train{k:04d}.tfrecord" for k in range(5)]
    assert all(s["size"] == os.path.getsize(s["path"]) for s in m["sources"])
    assert not (built / "train" / S.PARTS).exists()  # parts removed once complete


def test_float16_default_and_parallel_build_identical(data_dir, built, tmp_path):
    FZ.build(tmp_path / "w1", data_dir, splits=["train"], progress=False)
    FZ.build(tmp_path / "w2", data_dir, splits=["train"], progress=False, workers=2)
    assert tree_bytes(tmp_path / "w1") == tree_bytes(tmp_path / "w2")
    st16 = S.open_store(tmp_path / "w1" / "train")
    st32 = S.open_store(built / "train")
    assert st16.features.dtype == np.float16 and st16.manifest["dtype"] == "float16"
    # float16 of the float64 features: rounding error <= half an ulp at |x| <= 2 (2^-11)
    np.testing.assert_allclose(st16.features.astype(np.float64), st32.features, rtol=0, atol=2**-11)


def test_tf_written_fixture_frames(tf_fixtures, tmp_path):
    """Frames as TensorFlow wrote them (1, 300, 5, 17 frames, a video without labels)."""
    expected = json.loads((tf_fixtures / "expected.json").read_text())["files"]["tf_frame_2018"]
    FZ.build(
        tmp_path,
        pattern=str(tf_fixtures / "tf_frame_2018.tfrecord"),
        split="fx",
        dtype="float32",
        frames=True,
        num_classes=3862,
        progress=False,
    )
    st = S.open_store(tmp_path / "fx")
    assert list(st.ids) == [r["id"] for r in expected["records"]]
    for i, r in enumerate(expected["records"]):
        rgb, audio = st.frames(i)
        assert hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest() == r["rgb"]
        assert hashlib.sha256(np.ascontiguousarray(audio).tobytes()).hexdigest() == r["audio"]
        assert st.labels(i).tolist() == r["labels"]
        ref = reference_features({"rgb": np.asarray(rgb), "audio": np.asarray(audio)})
        np.testing.assert_allclose(st.features[i], ref, rtol=0, atol=2e-6)
        if len(rgb) == 1:
            assert np.all(st.features[i, st.columns["std_rgb"]] == 0)


def test_mean_from_frames_agrees_with_video_level_files(data_dir, tmp_path):
    FZ.build(
        tmp_path / "f",
        data_dir,
        splits=["validate"],
        feature_set="mean",
        source="frame",
        dtype="float32",
        progress=False,
    )
    FZ.build(
        tmp_path / "v",
        data_dir,
        splits=["validate"],
        feature_set="mean",
        dtype="float32",
        progress=False,
    )
    f, v = S.open_store(tmp_path / "f" / "validate"), S.open_store(tmp_path / "v" / "validate")
    assert v.manifest["source_level"] == "video" and f.manifest["source_level"] == "frame"
    assert list(f.ids) == list(v.ids)
    # the synthetic video-level mean is the float32 mean of the dequantized frames
    np.testing.assert_allclose(f.features, v.features, rtol=0, atol=1e-6)
    assert v.num_frames.max() == 0 and f.num_frames.min() >= 1


def _kill_build(out, data_dir, point: str, **opts):
    code = (
        "import sys; from afkit.data.featurize import build; "
        f"build(sys.argv[1], sys.argv[2], splits=['train'], progress=False, chunk=16, **{opts!r})"
    )
    env = dict(os.environ, **{store_files.KILL_ENV: point})
    proc = subprocess.run(
        [sys.executable, "-c", code, str(out), str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.mark.parametrize("point", ["shard:2", "concat"])
def test_killed_build_resumes_to_identical_store(data_dir, built, tmp_path, point):
    out = tmp_path / "s"
    opts = {"feature_set": "mean_std", "dtype": "float32", "frames": True}
    _kill_build(out, data_dir, point, **opts)
    split = out / "train"
    assert not (split / S.MANIFEST).exists()
    with pytest.raises(S.StoreError, match="incomplete store: no manifest.json .*resume"):
        S.open_store(split)
    done = sorted(p.name for p in (split / S.PARTS).glob("*.done.json"))
    if point == "shard:2":
        # shards 0 and 1 done; shard 2 died after its first chunk, leaving temporary files
        assert done == ["00000.done.json", "00001.done.json"]
        assert list((split / S.PARTS).glob("00002.*.tmp*"))
    else:
        assert len(done) == 5 and (split / "features.npy").exists()
    report = FZ.build(out, data_dir, splits=["train"], progress=False, chunk=16, **opts)["train"]
    if point == "shard:2":
        assert report.shards_skipped == [0, 1] and report.shards_built == [2, 3, 4]
    else:
        assert report.shards_skipped == [0, 1, 2, 3, 4] and report.shards_built == []
    assert tree_bytes(split) == tree_bytes(built / "train")
    again = FZ.build(out, data_dir, splits=["train"], progress=False, **opts)["train"]
    assert again.already_complete and again.shards_built == []


def test_rebuild_with_other_settings_is_refused(built, data_dir):
    with pytest.raises(
        S.StoreError, match=r"already holds a complete store that differs: dtype \('float32' before"
    ):
        FZ.build(
            built,
            data_dir,
            splits=["train"],
            feature_set="mean_std",
            dtype="float16",
            frames=True,
            progress=False,
        )


# ------------------------------------------------------------------------- refusing bad stores


@pytest.fixture
def copy(built, tmp_path):
    dst = tmp_path / "train"
    shutil.copytree(built / "train", dst)
    return dst


def test_missing_manifest_refused(copy):
    (copy / S.MANIFEST).unlink()
    with pytest.raises(S.StoreError, match="not a complete afkit store: no manifest.json"):
        S.open_store(copy)


def test_truncated_array_refused(copy):
    p = copy / "features.npy"
    with open(p, "r+b") as f:
        f.truncate(p.stat().st_size - 100)
    with pytest.raises(
        S.StoreError, match=r"features.npy: \d+ bytes, expected \d+ \(truncated or damaged\)"
    ):
        S.open_store(copy)


def test_wrong_shape_refused(copy):
    np.save(copy / "num_frames.npy", np.zeros(319, np.int32))
    with pytest.raises(S.StoreError, match=r"num_frames.npy: shape \[319\], manifest says \[320\]"):
        S.open_store(copy)


def test_missing_array_and_schema_version_refused(copy):
    m = json.loads((copy / S.MANIFEST).read_text())
    m["schema_version"] = 99
    (copy / S.MANIFEST).write_text(json.dumps(m))
    with pytest.raises(S.StoreError, match="schema version 99"):
        S.open_store(copy)
    m["schema_version"] = S.SCHEMA_VERSION
    (copy / S.MANIFEST).write_text(json.dumps(m))
    (copy / "frames_audio.npy").unlink()
    with pytest.raises(S.StoreError, match="array file frames_audio.npy is missing"):
        S.open_store(copy)


def test_verify_catches_changed_source_and_content(copy, data_dir, tmp_path):
    assert S.verify(copy)["videos"] == 320
    m = json.loads((copy / S.MANIFEST).read_text())
    src = tmp_path / "train0000.tfrecord"
    shutil.copy(m["sources"][0]["path"], src)
    m["sources"][0]["path"] = str(src)
    (copy / S.MANIFEST).write_text(json.dumps(m))
    assert S.verify(copy)["sources"] == 5
    with open(src, "ab") as f:
        f.write(b"\0" * 7)
    with pytest.raises(
        S.StoreError, match=r"train0000.tfrecord has \d+ bytes, the store was built from \d+ bytes"
    ):
        S.verify(copy)
    assert S.verify(copy, check_sources=False)["videos"] == 320
    # content: a label id outside the vocabulary, same shapes
    idx = np.load(copy / "labels_indices.npy", mmap_mode="r+")
    idx[0] = 50
    idx.flush()
    del idx
    with pytest.raises(S.StoreError, match=r"label ids outside \[0, 50\)"):
        S.verify(copy, check_sources=False)


def test_cli_featurize_and_verify(data_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = FZ.main(
        [
            "--data",
            str(data_dir),
            "--features",
            "mean",
            "--out",
            str(out),
            "--splits",
            "test",
            "--no-progress",
        ]
    )
    assert rc == 0 and "test: 64 videos" in capsys.readouterr().out
    assert S.open_store(out, "test").features.shape == (64, 1152)
    assert S.verify_main([str(out)]) == 0 and "OK" in capsys.readouterr().out
    (out / "test" / S.MANIFEST).unlink()
    assert S.verify_main([str(out / "test")]) == 1
    assert "no manifest.json" in capsys.readouterr().err
    assert FZ.main(["--data", str(tmp_path / "nope"), "--out", str(out), "--no-progress"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_videos_without_labels(tmp_path):
    rng = np.random.default_rng(0)
    recs = [
        {
            "id": f"t{i}",
            "labels": [],
            "rgb": rng.integers(0, 256, (3, 1024), dtype=np.uint8),
            "audio": rng.integers(0, 256, (3, 128), dtype=np.uint8),
        }
        for i in range(4)
    ]
    write_records(tmp_path / "test0000.tfrecord", recs)
    FZ.build(
        tmp_path / "s",
        pattern=str(tmp_path / "test*.tfrecord"),
        split="test",
        num_classes=7,
        progress=False,
    )
    st = S.open_store(tmp_path / "s" / "test")
    assert st.labels_indices.shape == (0,) and st.labels(3).tolist() == []
    assert st.multi_hot([0, 1]).shape == (2, 7) and st.multi_hot([0, 1]).sum() == 0
    assert S.verify(st.path)["labels"] == 0


# ------------------------------------------------------------------------------------- loading


@pytest.fixture(scope="module")
def store(built):
    return S.open_store(built, "train")


def _indices(loader, epoch):
    return [b["index"].numpy() for b in loader.iter_epoch(epoch)]


def test_loader_epoch_covers_every_row_once_and_is_deterministic(store):
    loader = B.Batches(store, 48, order=B.Order(seed=3, block_rows=8, window_blocks=4))
    assert len(loader) == 7  # ceil(320 / 48)
    e0 = _indices(loader, 0)
    assert len(e0) == 7 and [len(i) for i in e0] == [48] * 6 + [32]
    assert np.array_equal(np.sort(np.concatenate(e0)), np.arange(320))
    again = _indices(B.Batches(store, 48, order=B.Order(seed=3, block_rows=8, window_blocks=4)), 0)
    assert all(np.array_equal(a, b) for a, b in zip(e0, again, strict=True))
    e1 = _indices(loader, 1)
    assert not all(np.array_equal(a, b) for a, b in zip(e0, e1, strict=True))
    assert np.array_equal(np.sort(np.concatenate(e1)), np.arange(320))
    plain = B.Batches(store, 100, order=B.Order(shuffle=False))
    assert np.array_equal(np.concatenate(_indices(plain, 5)), np.arange(320))


@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_ranks_disjoint_and_covering(store, drop_last):
    world, b = 3, 32
    loaders = [
        B.Batches(store, b, order=B.Order(seed=1, rank=r, world_size=world, drop_last=drop_last))
        for r in range(world)
    ]
    assert len({len(x) for x in loaders}) == 1  # the same number of batches on every rank
    per_rank = [np.concatenate(_indices(x, 2)) for x in loaders]
    assert all(len(list(x.iter_epoch(2))) == len(x) for x in loaders)
    allidx = np.concatenate(per_rank)
    if drop_last:
        # 320 // 3 = 106 a rank -> 3 batches of 32 = 96; all distinct
        assert len(loaders[0]) == 3 and len(allidx) == 288 and len(np.unique(allidx)) == 288
    else:
        # padded to 3 * 107 = 321: one repeated row, every row served
        assert len(loaders[0]) == 4 and len(allidx) == 321
        assert np.array_equal(np.unique(allidx), np.arange(320))
        for r in range(world):
            for q in range(r + 1, world):
                assert len(np.intersect1d(per_rank[r], per_rank[q])) <= 1


def test_loader_start_batch_resumes_the_tail(store):
    loader = B.Batches(store, 40, order=B.Order(seed=7))
    full = list(loader.iter_epoch(4))
    tail = list(loader.iter_epoch(4, start_batch=5))
    assert len(tail) == len(full) - 5
    for a, b in zip(full[5:], tail, strict=True):
        assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert list(loader.iter_epoch(4, start_batch=len(loader))) == []
    with pytest.raises(ValueError, match="start_batch"):
        next(loader.iter_epoch(4, start_batch=len(loader) + 1))


def test_loader_feature_batches(store, train_records):
    loader = B.Batches(store, 50, order=B.Order(seed=0))
    batch = next(iter(loader))
    idx = batch["index"].numpy()
    assert np.all(np.diff(idx) >= 0)  # rows of a batch read in order
    assert batch["visual"].shape == (50, 2048) and batch["audio"].shape == (50, 256)
    assert batch["visual"].dtype.is_floating_point and str(batch["visual"].dtype) == "torch.float32"
    feats = np.stack([reference_features(train_records[i]) for i in idx])
    np.testing.assert_allclose(batch["visual"].numpy(), feats[:, :2048], atol=2e-6)
    np.testing.assert_allclose(batch["audio"].numpy(), feats[:, 2048:], atol=2e-6)
    y = batch["y"].numpy()
    assert y.shape == (50, 50) and y.dtype == np.float32
    for row, i in enumerate(idx):
        assert set(np.flatnonzero(y[row])) == set(train_records[i]["labels"].tolist())


@pytest.mark.parametrize("max_frames,sampling", [(None, "first"), (12, "first"), (12, "uniform")])
def test_loader_frame_batches(store, train_records, max_frames, sampling):
    loader = B.Batches(
        store,
        16,
        B.Inputs(kind="frame", max_frames=max_frames, frame_sampling=sampling),
        B.Order(seed=2),
    )
    batch = next(iter(loader.iter_epoch(0, start_batch=3)))
    idx = batch["index"].numpy()
    lens = np.array([len(train_records[i]["rgb"]) for i in idx])
    kept = np.minimum(lens, max_frames) if max_frames else lens
    t = kept.max()
    assert batch["rgb"].shape == (16, t, 1024) and batch["audio"].shape == (16, t, 128)
    mask = batch["mask"].numpy()
    assert mask.dtype == bool and np.array_equal(mask.sum(1), kept)
    assert np.array_equal(mask, np.arange(t)[None] < kept[:, None])
    for row, i in enumerate(idx):
        r = train_records[i]
        rows = np.arange(lens[row])
        if max_frames and lens[row] > max_frames:
            rows = (
                rows[:max_frames]
                if sampling == "first"
                else np.linspace(0, lens[row] - 1, max_frames).round().astype(int)
            )
        assert np.array_equal(batch["rgb"][row, : kept[row]].numpy(), dequantize(r["rgb"][rows]))
        assert np.array_equal(
            batch["audio"][row, : kept[row]].numpy(), dequantize(r["audio"][rows])
        )
        assert (
            not batch["rgb"][row, kept[row] :].any() and not batch["audio"][row, kept[row] :].any()
        )
        assert set(np.flatnonzero(batch["y"][row].numpy())) == set(r["labels"].tolist())


def test_feature_stats_chunked(store):
    x = np.asarray(store.features, dtype=np.float64)
    mean, std = S.feature_stats(store, chunk_rows=37)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, x.std(0), rtol=1e-5, atol=1e-6)
    m2, s2 = S.feature_stats(store, ["std_audio", "mean_rgb"], chunk_rows=100)
    cols = np.r_[2176:2304, 0:1024]
    np.testing.assert_allclose(m2, x[:, cols].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s2, x[:, cols].std(0), rtol=1e-5, atol=1e-6)
    with pytest.raises(KeyError, match="unknown columns"):
        S.feature_stats(store, ["std_video"])


def test_frames_written_in_place_and_compacted_when_estimate_is_high(tmp_path):
    """Frames go straight to their preallocated rows; a video whose labels take more bytes
    than one frame makes the estimate from the record lengths too high (a gap), and the final
    step then compacts: the store is the same as ever."""
    rng = np.random.default_rng(1)
    recs = [
        {
            "id": f"v{i}",
            "labels": np.arange(1000) if i == 1 else [i],
            "rgb": rng.integers(0, 256, (t, 1024), dtype=np.uint8),
            "audio": rng.integers(0, 256, (t, 128), dtype=np.uint8),
        }
        for i, t in enumerate((3, 5, 2))
    ]
    write_records(tmp_path / "train0000.tfrecord", recs[:2])
    write_records(tmp_path / "train0001.tfrecord", recs[2:])
    est = [store_files.frame_estimate(str(tmp_path / f"train000{k}.tfrecord")) for k in (0, 1)]
    assert est == [3 + 6, 2]  # shard 0: 1872 bytes of labels count as one more frame
    FZ.build(
        tmp_path / "s",
        pattern=str(tmp_path / "train*.tfrecord"),
        split="train",
        num_classes=1000,
        frames=True,
        progress=False,
    )
    st = S.open_store(tmp_path / "s" / "train")
    assert st.frames_rgb.shape == (10, 1024) and list(st.num_frames) == [3, 5, 2]
    for i, r in enumerate(recs):
        rgb, audio = st.frames(i)
        assert np.array_equal(rgb, r["rgb"]) and np.array_equal(audio, r["audio"])
    assert sorted(p.name for p in (tmp_path / "s" / "train").iterdir() if "frames_" in p.name) == [
        "frames_audio.npy",
        "frames_rgb.npy",
    ]
    assert S.verify(st.path)["videos"] == 3


def test_parallel_frame_store_identical(data_dir, built, tmp_path):
    """Two processes write their shards' frame rows into the same preallocated arrays."""
    FZ.build(
        tmp_path / "w2",
        data_dir,
        splits=["train"],
        feature_set="mean_std",
        dtype="float32",
        frames=True,
        progress=False,
        chunk=16,
        workers=2,
    )
    assert tree_bytes(tmp_path / "w2" / "train") == tree_bytes(built / "train")


def test_more_workers_than_shards_left(tmp_path):
    """workers=2 with a single shard to build is a serial build, not an empty process pool."""
    from afkit.data import synth

    data = tmp_path / "data"
    synth.ensure_dataset(
        data, "smoke", 0, progress=False, train_videos=20, validate_videos=8, test_videos=8
    )
    FZ.build(
        tmp_path / "s",
        data,
        feature_set="mean_std",
        splits=("validate",),
        workers=2,
        progress=False,
    )
    assert S.open_store(tmp_path / "s" / "validate").features.shape[0] == 8
