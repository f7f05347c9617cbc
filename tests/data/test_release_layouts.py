"""Every layout of a real release is read the same: flat (as the download script writes it) and
one folder per split, video- and frame-level alone or together, the 2017 and 2018 schemas, with
or without vocabulary.csv; and a release whose test split has no labels is evaluated on a
held-out part of validate, carved by video id, disjoint from the part that tunes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from afkit.data import featurize, store, synth
from afkit.io import inspect, records
from afkit.report import notebook
from afkit.training import protocol
from tests.helpers.release import make_release

SPLITS = ("train", "validate", "test")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    d = tmp_path_factory.mktemp("synthetic") / "data"
    synth.ensure_dataset(d, "smoke", 0, progress=False)
    return d


def _release_ids(synthetic, split):
    return [r["id"] for r in records.read_records(str(synthetic / "video" / f"{split}*.tfrecord"))]


def _setup(release, tmp_path, name):
    return notebook.setup(
        "smoke",
        data_dir=release,
        store_dir=tmp_path / f"stores-{name}",
        out_dir=tmp_path / f"out-{name}",
    )


def _snapshot(store_dir, columns=None):
    """Per store split: ids, labels, features (the given columns) and, with frames, the frames."""
    out = {}
    for split in SPLITS:
        st = store.open_store(store_dir, split)
        feats = np.asarray(st.features, dtype=np.float32)
        if columns is not None:
            feats = np.concatenate([feats[:, st.columns[c]] for c in columns], axis=1)
        out[split] = {
            "ids": list(st.ids),
            "labels": [st.labels(i).tolist() for i in range(len(st))],
            "features": feats,
            "frames": np.asarray(st.frames_rgb).copy() if st.has_frames else None,
            "num_classes": st.num_classes,
        }
    return out


def _assert_same(a, b, frames=True):
    for split in SPLITS:
        assert a[split]["ids"] == b[split]["ids"], split
        assert a[split]["labels"] == b[split]["labels"], split
        np.testing.assert_array_equal(a[split]["features"], b[split]["features"])
        if frames:
            np.testing.assert_array_equal(a[split]["frames"], b[split]["frames"])


def test_flat_and_per_split_layouts_set_up_the_same_splits(synthetic, tmp_path):
    flat = make_release(synthetic, tmp_path / "flat", layout="flat")
    nested = make_release(synthetic, tmp_path / "nested", layout="per-split")
    assert records.release_layout(flat) == "flat"
    assert records.release_layout(nested) == "per-split"
    ctx_flat, ctx_nested = _setup(flat, tmp_path, "flat"), _setup(nested, tmp_path, "nested")
    assert ctx_flat.source == ctx_nested.source == "real"
    a, b = _snapshot(ctx_flat.store_dir), _snapshot(ctx_nested.store_dir)
    _assert_same(a, b)
    # the class count comes from vocabulary.csv (the synthetic set's 50 rows)
    assert a["train"]["num_classes"] == len(open(synthetic / "vocabulary.csv").readlines()) - 1
    # notebook 00's view of the release reads both layouts alike
    o_flat, o_nested = inspect.overview(flat), inspect.overview(nested)
    assert o_flat.splits.drop(columns=[]).equals(o_nested.splits)


def test_evaluation_split_is_validates_held_out_part_by_id_hash(synthetic, tmp_path):
    release = make_release(synthetic, tmp_path / "release", layout="per-split")
    ctx = _setup(release, tmp_path, "r")
    validate_ids = _release_ids(synthetic, "validate")
    # the oracle: SHA-256 of the id, first 8 bytes, below 20% of 2**64 (written out here)
    held = [
        i
        for i in validate_ids
        if int.from_bytes(hashlib.sha256(i.encode()).digest()[:8], "big") < 0.2 * 2**64
    ]
    rest = [i for i in validate_ids if i not in set(held)]
    assert 0 < len(held) < len(validate_ids)
    test = store.open_store(ctx.store_dir, "test")
    tune = store.open_store(ctx.store_dir, "validate")
    assert list(test.ids) == held and list(tune.ids) == rest  # disjoint, together all of validate
    assert all(len(test.labels(i)) for i in range(len(test)))  # labelled: it can be scored
    assert ctx.evaluation == "validate-holdout (20% by id hash)"
    assert store.tuning_name(ctx.store_dir) == "validate minus holdout (80%)"
    assert "validate-holdout (20% by id hash)" in protocol.protocol_for("smoke").describe(
        ctx.evaluation
    )
    # the release's unlabelled test videos are in no store split the notebooks score
    test_ids = set(_release_ids(synthetic, "test"))
    assert not test_ids & set(test.ids) and not test_ids & set(tune.ids)


def test_labelled_test_split_is_kept(synthetic, tmp_path):
    release = make_release(synthetic, tmp_path / "release", layout="flat", labelled_test=True)
    ctx = _setup(release, tmp_path, "l")
    assert list(store.open_store(ctx.store_dir, "test").ids) == _release_ids(synthetic, "test")
    assert ctx.evaluation == "test"
    assert protocol.protocol_for("smoke").describe().endswith("reported on the test split")


@pytest.mark.parametrize("schema, classes", [(2018, 3862), (2017, 4716)])
def test_without_vocabulary_the_schemas_known_size(synthetic, tmp_path, schema, classes):
    release = make_release(
        synthetic, tmp_path / "release", layout="flat", schema=schema, vocabulary=False
    )
    assert featurize.class_count(release) == (classes, "the release's known vocabulary size")
    assert featurize.class_count(release, 77) == (77, "the num_classes parameter")
    ref = make_release(synthetic, tmp_path / "ref", layout="flat")
    built = _setup(release, tmp_path, "nv")
    a, b = _snapshot(built.store_dir), _snapshot(_setup(ref, tmp_path, "ref").store_dir)
    assert a["train"]["num_classes"] == classes
    _assert_same(a, b)  # same ids (from `video_id` in 2017), labels, features, frames


def test_video_level_alone_and_frame_level_alone(synthetic, tmp_path):
    both = _snapshot(_setup(make_release(synthetic, tmp_path / "b"), tmp_path, "b").store_dir)
    frame = make_release(synthetic, tmp_path / "f", levels=("frame",))
    _assert_same(_snapshot(_setup(frame, tmp_path, "f").store_dir), both)
    video = make_release(synthetic, tmp_path / "v", levels=("video",), layout="flat")
    vid = _snapshot(_setup(video, tmp_path, "v").store_dir)
    for split in SPLITS:  # the video-level store: the same videos and splits, the means only
        assert vid[split]["ids"] == both[split]["ids"]
        assert vid[split]["labels"] == both[split]["labels"]
        assert vid[split]["features"].shape[1] == 1024 + 128 and vid[split]["frames"] is None


def test_a_split_in_both_layouts_is_refused(synthetic, tmp_path):
    release = make_release(synthetic, tmp_path / "release", layout="per-split")
    (release / "video" / "train0000.tfrecord").write_bytes(
        (release / "video" / "train" / "train0000.tfrecord").read_bytes()
    )
    with pytest.raises(ValueError, match="both layouts"):
        records.release_files(release, "train", "video")
    with pytest.raises(store.StoreError, match="keep one copy"):
        featurize.build(tmp_path / "s", release, feature_set="mean", source="video", progress=False)


def test_a_folder_without_release_files_is_refused_naming_both_layouts(tmp_path):
    (tmp_path / "video" / "train").mkdir(parents=True)
    (tmp_path / "video" / "train" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="one folder per split"):
        notebook.check_parameters("smoke", data_dir=tmp_path)


def test_notebook_01s_mean_agreement_reads_either_layout(synthetic, tmp_path):
    """The store's frame-derived means against the release's video-level means, matched by id:
    every video of the split (the carved test split's from validate's files)."""
    release = make_release(synthetic, tmp_path / "release", layout="per-split")
    ctx = _setup(release, tmp_path, "m")
    for split in ("train", "test"):
        st = store.open_store(ctx.store_dir, split)
        table = store.compare_video_level(st, release, max_videos=None)
        assert list(table["videos"]) == [len(st), len(st)] and table["agrees"].all(), split
