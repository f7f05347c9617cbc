"""Hostile data and tampered stores (issue 28, points 2, 4, 5, 6, 9 and 10): labels beyond
int32 or any vocabulary, huge ids, non-finite features, duplicate ids, a manifest that points
outside its store or lies, bit rot, a split named ``..``, and the durability of renames. Each is
refused with a clear error before anything is lost."""

from __future__ import annotations

import errno
import json
import os
import shutil

import numpy as np
import pytest

from afkit.core import provenance
from afkit.data import featurize as FZ
from afkit.data import store as S
from afkit.data import store_writer as SW
from afkit.io import tfrecord as T
from afkit.io.records import RELEASE_CLASSES, write_records
from tests.helpers.videos import make_videos

OPTS = dict(feature_set="mean_std", frames=True, chunk=4, progress=False)


def _data(root, shards=((0, 6),), vocab=50, edit=None):
    """A data dir of frame-level shards (``(start, n)`` videos each), ``edit(videos)`` applied."""
    (root / "frame").mkdir(parents=True)
    if vocab:
        (root / "vocabulary.csv").write_text(
            "Index,Name\n" + "".join(f"{i},c{i}\n" for i in range(vocab))
        )
    for k, (start, n) in enumerate(shards):
        vids = make_videos(n, seed=k, frames=[2, 3], start=start, num_classes=50)
        if edit is not None:
            edit(k, vids)
        write_records(root / "frame" / f"train{k:04d}.tfrecord", vids)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    data = _data(root / "data")
    FZ.build(root / "store", data, splits=["train"], **OPTS)
    return root / "store" / "train"


@pytest.fixture
def copy(built, tmp_path):
    dst = tmp_path / "train"
    shutil.copytree(built, dst)
    return dst


def _manifest(path):
    return json.loads((path / S.MANIFEST).read_text())


def _write_manifest(path, m):
    (path / S.MANIFEST).write_text(json.dumps(m))


# ----------------------------------------------------------------------------- point 2: labels


@pytest.mark.parametrize("label", [2**31, 2**32 - 1, 2**32 + 1])
def test_labels_beyond_int32_are_refused_at_build(tmp_path, label):
    def edit(k, vids):
        vids[3]["labels"] = np.array([1, label], np.int64)

    data = _data(tmp_path / "d", vocab=0, edit=edit)  # no vocabulary: the release's known size
    known = RELEASE_CLASSES["id"]  # the 2018 schema's 3862 classes
    with pytest.raises(S.StoreError, match=rf"label ids \[1, {label}\] outside \[0, {known}\)"):
        FZ.build(tmp_path / "s", data, splits=["train"], **OPTS)
    with pytest.raises(S.StoreError, match=rf"label ids \[1, {label}\] outside \[0, {2**31 - 1}\)"):
        FZ.build(tmp_path / "s2", data, splits=["train"], num_classes=2**31 - 1, **OPTS)
    assert not (tmp_path / "s" / "train" / S.MANIFEST).exists()


def test_featurize_pattern_bounds_labels_without_a_vocabulary(tmp_path, capsys):
    def edit(k, vids):
        vids[2]["labels"] = np.array([10**9], np.int64)

    data = _data(tmp_path / "d", vocab=0, edit=edit)
    pattern = str(data / "frame" / "train*.tfrecord")
    rc = FZ.main(["--pattern", pattern, "--out", str(tmp_path / "s"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "label ids [1000000000] outside [0, 100000)" in err
    assert "pass --num-classes" in err
    # with the release's vocabulary beside the pattern's folder, its bound applies
    (data / "vocabulary.csv").write_text("Index,Name\n" + "".join(f"{i},c\n" for i in range(50)))
    rc = FZ.main(["--pattern", pattern, "--out", str(tmp_path / "s2"), "--no-progress"])
    assert rc == 1 and "outside [0, 50)" in capsys.readouterr().err


def test_num_classes_beyond_int32_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"num_classes must be an integer in \[1, 2147483647\]"):
        FZ.build(tmp_path / "s", tmp_path, num_classes=2**31, **OPTS)


# ----------------------------------------------------------------------------- point 4: ids


def test_one_huge_id_does_not_inflate_the_store(tmp_path):
    def edit(k, vids):
        vids[4]["id"] = "x" * 100_000

    data = _data(tmp_path / "d", edit=edit)
    with pytest.raises(ValueError, match=r"record 4 .*100000 bytes, more than the 256"):
        FZ.build(tmp_path / "s", data, splits=["train"], **OPTS)
    assert not (tmp_path / "s" / "train" / S.MANIFEST).exists()


# ----------------------------------------------------------------------------- point 5


def test_non_finite_features_are_refused_at_build(tmp_path, monkeypatch):
    real = SW.F.video_features

    def poisoned(record, feature_set, out):
        real(record, feature_set, out=out)
        if record["id"] == "vid00003":
            out[7] = np.nan

    monkeypatch.setattr(SW.F, "video_features", poisoned)
    data = _data(tmp_path / "d")
    with pytest.raises(S.StoreError, match=r"train0000.tfrecord: video 'vid00003' has non-finite"):
        FZ.build(tmp_path / "s", data, splits=["train"], **OPTS)
    assert not (tmp_path / "s" / "train" / S.MANIFEST).exists()


def test_float16_overflow_is_refused(tmp_path, monkeypatch):
    real = SW.F.video_features

    def big(record, feature_set, out):
        real(record, feature_set, out=out)
        out[0] = 1e6  # finite in float64, inf in float16

    monkeypatch.setattr(SW.F, "video_features", big)
    data = _data(tmp_path / "d")
    with pytest.raises(S.StoreError, match=r"beyond float16's range .*dtype='float32'"):
        FZ.build(tmp_path / "s", data, splits=["train"], **OPTS)
    rep = FZ.build(tmp_path / "s32", data, splits=["train"], **{**OPTS, "dtype": "float32"})
    assert rep["train"].videos == 6


def test_duplicate_ids_across_shards_are_refused(tmp_path):
    data = _data(tmp_path / "d", shards=((0, 6), (4, 6)))  # vid00004, vid00005 twice
    with pytest.raises(
        S.StoreError,
        match=r"video id 'vid00004' appears twice \(in train0000.tfrecord and train0001",
    ):
        FZ.build(tmp_path / "s", data, splits=["train"], **OPTS)
    assert not (tmp_path / "s" / "train" / S.MANIFEST).exists()
    assert (tmp_path / "s" / "train" / S.PARTS).exists()  # the shards' work is kept


def test_featurize_verifies_what_it_wrote(tmp_path, monkeypatch):
    calls = []
    real = FZ.verify

    def spy(path, **kw):
        calls.append(path)
        # the build's own bytes, damaged between the write and the check
        idx = np.load(path / "labels_indices.npy", mmap_mode="r+")
        idx[0] = 10**6
        idx.flush()
        return real(path, **kw)

    monkeypatch.setattr(FZ, "verify", spy)
    data = _data(tmp_path / "d")
    with pytest.raises(S.StoreError, match=r"fails verification: .*label ids outside \[0, 50\)"):
        FZ.build(tmp_path / "s", data, splits=["train"], **OPTS)
    assert calls and not (tmp_path / "s" / "train" / S.MANIFEST).exists()


# ----------------------------------------------------------------------------- point 6


@pytest.mark.parametrize("file", ["../../foreign.npy", "/tmp/foreign.npy", "labels_indptr.npy"])
def test_manifest_paths_are_confined_to_the_store(copy, file):
    foreign = copy.parent / "foreign.npy"
    np.save(foreign, np.load(copy / "features.npy"))
    m = _manifest(copy)
    m["arrays"]["features"]["file"] = file
    _write_manifest(copy, m)
    with pytest.raises(S.StoreError, match=r"array 'features' names the file .*inside its own"):
        S.open_store(copy)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.pop("num_classes"),
        lambda m: m.pop("arrays"),
        lambda m: m["arrays"]["ids"].pop("shape"),
        lambda m: m["arrays"]["ids"].pop("crc32c"),
        lambda m: m.update(num_videos="6"),
        lambda m: m.update(feature_set="nope"),
    ],
)
def test_a_manifest_missing_keys_is_a_store_error(copy, edit):
    m = _manifest(copy)
    edit(m)
    _write_manifest(copy, m)
    with pytest.raises(S.StoreError, match="rebuild the store"):
        S.open_store(copy)


def test_lying_frame_offsets_are_refused_at_open(copy):
    off = np.load(copy / "frame_offsets.npy", mmap_mode="r+")
    off[3] = off[-1] + 10**9  # a video of a billion frames
    off.flush()
    del off
    with pytest.raises(S.StoreError, match="frame_offsets do not index the frame arrays"):
        S.open_store(copy)


def test_bit_rot_inside_a_finite_array_is_caught_by_verify(copy):
    assert S.verify(copy, check_sources=False)["videos"] == 6
    feats = np.load(copy / "features.npy", mmap_mode="r+")
    feats[2, 5] = np.float16(feats[2, 5]) + np.float16(0.5)  # finite, plausible, wrong
    feats.flush()
    del feats
    S.open_store(copy)  # opens (shapes and dtypes hold)
    with pytest.raises(S.StoreError, match=r"features.npy: CRC32C [0-9a-f]{8}, the manifest says"):
        S.verify(copy, check_sources=False)


def test_an_old_schema_is_refused_with_its_reason(copy):
    m = _manifest(copy)
    m["schema_version"] = 1
    _write_manifest(copy, m)
    with pytest.raises(S.StoreError, match="version 1 stores have no array checksums"):
        S.open_store(copy)


# ----------------------------------------------------------------------------- point 9


def test_a_split_named_dotdot_never_empties_the_parent(tmp_path):
    data = _data(tmp_path / "d")
    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    pattern = str(data / "frame" / "train*.tfrecord")
    rc = FZ.main(
        ["--pattern", pattern, "--split", "..", "--out", str(tmp_path / "s"), "--overwrite"]
    )
    assert rc == 1 and keep.read_text() == "precious" and (data / "frame").is_dir()
    for bad in ("..", ".", "a/b", "/abs", "-x"):
        with pytest.raises(ValueError, match="not a plain folder name"):
            FZ.build(tmp_path / "s", pattern=pattern, split=bad, overwrite=True, **OPTS)
        with pytest.raises(ValueError, match="not a plain folder name"):
            S.open_store(tmp_path / "s", bad)
    assert keep.read_text() == "precious"


# ----------------------------------------------------------------------------- point 10


def test_renames_are_followed_by_a_directory_fsync(tmp_path, monkeypatch):
    synced = []
    real = provenance.fsync_dir
    monkeypatch.setattr(provenance, "fsync_dir", lambda p: (synced.append(str(p)), real(p)))
    monkeypatch.setattr(T, "fsync_dir", provenance.fsync_dir)
    monkeypatch.setattr(SW, "fsync_dir", provenance.fsync_dir)
    provenance.atomic_write_text(tmp_path / "a.txt", "x")
    assert synced == [str(tmp_path)]
    T.write_tfrecord(tmp_path / "r.tfrecord", [b"abc"])
    assert synced[-1] == str(tmp_path)
    synced.clear()
    FZ.build(tmp_path / "s", _data(tmp_path / "d"), splits=["train"], **OPTS)
    assert str(tmp_path / "s" / "train") in synced  # the final arrays' renames
    assert str(tmp_path / "s" / "train" / S.PARTS) in synced  # a part's rename


def test_the_fsync_of_a_directory_really_happens(tmp_path, monkeypatch):
    """fsync_dir opens the directory and fsyncs that descriptor."""
    seen = []
    real = os.fsync

    def spy(fd):
        seen.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    provenance.atomic_write_text(tmp_path / "a.txt", "x")
    assert str(tmp_path.resolve()) in seen


def _enospc_after(n_ok: int, real):
    calls = {"n": 0}

    def f(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    return f


@pytest.mark.parametrize("where", ["features", "frames"])
def test_a_full_disk_in_the_streamed_writes_keeps_nothing_half_written(
    tmp_path, monkeypatch, where
):
    data = _data(tmp_path / "d", shards=((0, 6), (6, 6)))
    out = tmp_path / "s"
    if where == "frames":  # the frame rows' pwrite, in the second shard
        monkeypatch.setattr(os, "pwrite", _enospc_after(13, os.pwrite))
    else:  # the features' chunked writes of the second shard (its first chunk)
        real = SW._PartRows.write_chunk
        monkeypatch.setattr(SW._PartRows, "write_chunk", _enospc_after(2, real))
    with pytest.raises(S.StoreError, match="no space left on device while building"):
        FZ.build(out, data, splits=["train"], **OPTS)
    parts = out / "train" / S.PARTS
    assert sorted(p.name for p in parts.glob("*.done.json")) == ["00000.done.json"]
    assert not list(parts.glob("*tmp*")) and not list(parts.glob("00001.*"))
    monkeypatch.undo()
    rep = FZ.build(out, data, splits=["train"], **OPTS)["train"]
    assert rep.shards_skipped == [0] and rep.shards_built == [1] and rep.videos == 12
    assert S.verify(out / "train")["videos"] == 12
