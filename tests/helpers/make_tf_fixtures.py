"""Make the TensorFlow fixtures of tests/fixtures/tf/ (run by hand; the outputs are committed).

TensorFlow is never a dependency of afkit or of CI. Two steps, two processes (TensorFlow and the
``tfrecord`` package cannot live in one process; the second step imports TensorFlow only), each
run from the repository root::

    .venv/bin/python -m tests.helpers.make_tf_fixtures afkit    # 1. afkit writes afkit_*.tfrecord
    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.20.0 numpy
    /tmp/tfenv/bin/python -m tests.helpers.make_tf_fixtures tf  # 2. TensorFlow writes, and reads

Step 2 writes, with TensorFlow's own ``tf.io.TFRecordWriter`` and ``tf.train`` protos:
``tf_video_2018``, ``tf_video_2017`` (``video_id``), ``tf_frame_2018`` (1, 300, 5, 17 frames and
a video with no labels), ``tf_frame_2019`` (segment fields), the schema-breaking
``tf_bad_*`` files and the damaged ``damaged_*`` files (truncated, flipped payload byte,
flipped length byte, not a TFRecord, empty); then reads every one of them back with
``tf.data`` + ``tf.io.parse_*`` (and, for the damaged ones, notes how many records TensorFlow
yields, with ``ignore_errors`` too), and reads step 1's ``afkit_*`` files the same way.
Everything TensorFlow read goes to ``expected.json`` (ids, labels, segment fields, shapes and
the SHA-256 of every array's bytes) and ``expected_video.npz`` (the video-level floats).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys

import numpy as np

from tests.helpers.paths import TF_FIXTURES

OUT = TF_FIXTURES
SEED = 20240826


def sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


# ----------------------------------------------------------------------------- the contents


def video_contents(n: int, rng, *, labels_hi: int = 3862):
    out = []
    for i in range(n):
        nl = [0, 1, 3, 2, 5, 1, 4][i % 7]
        out.append(
            {
                "id": f"{'AbCd'[i % 4]}{i:03d}x",
                "labels": np.sort(rng.choice(labels_hi, size=nl, replace=False)).astype(np.int64),
                "mean_rgb": rng.standard_normal(1024).astype(np.float32),
                "mean_audio": (rng.standard_normal(128) * 3).astype(np.float32),
            }
        )
    out[2]["labels"] = np.array([0, 127, 128, 3861], dtype=np.int64)  # 1- and 2-byte varints, 0
    return out


def frame_contents(frame_counts, rng, *, segments: bool = False):
    out = []
    for i, t in enumerate(frame_counts):
        v = {
            "id": f"fr{i:02d}",
            "labels": np.array(
                sorted(rng.choice(3862, size=1 + i % 3, replace=False)), dtype=np.int64
            ),
            "rgb": rng.integers(0, 256, size=(t, 1024), dtype=np.uint8),
            "audio": rng.integers(0, 256, size=(t, 128), dtype=np.uint8),
        }
        if segments:
            s = 1 + i % 4
            v["segment_labels"] = rng.choice(v["labels"], size=s).astype(np.int64)
            v["segment_start_times"] = (np.arange(s) * 5 * (1 + i % 2)).astype(np.int64)
            v["segment_scores"] = rng.integers(0, 2, size=s).astype(np.float32)
        out.append(v)
    return out


AFKIT_FRAMES = [1, 3, 300]


def afkit_sets():
    rng = np.random.default_rng(SEED + 1)
    return {
        "afkit_video_2018": (video_contents(6, rng), "id"),
        "afkit_video_2017": (video_contents(3, rng, labels_hi=4716), "video_id"),
        "afkit_frame_2019": (frame_contents(AFKIT_FRAMES, rng, segments=True), "id"),
    }


# ----------------------------------------------------------------------------- step 1: afkit


def step_afkit() -> None:
    from afkit.io.records import write_records

    OUT.mkdir(parents=True, exist_ok=True)
    for name, (recs, id_key) in afkit_sets().items():
        write_records(OUT / f"{name}.tfrecord", recs, id_key=id_key)
        print("afkit wrote", name, len(recs))


# ----------------------------------------------------------------------------- step 2: TensorFlow


def step_tf() -> None:  # noqa: C901 (run by hand under TensorFlow, which CI lacks: kept as written, not restructured untested)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tr = tf.train

    def f_bytes(vals):
        return tr.Feature(bytes_list=tr.BytesList(value=list(vals)))

    def f_float(vals):
        return tr.Feature(float_list=tr.FloatList(value=np.asarray(vals, np.float32).tolist()))

    def f_int(vals):
        return tr.Feature(int64_list=tr.Int64List(value=np.asarray(vals, np.int64).tolist()))

    def video_example(v, id_key="id", drop=(), override=None):
        feats = {
            id_key: f_bytes([v["id"].encode()]),
            "labels": f_int(v["labels"]),
            "mean_rgb": f_float(v["mean_rgb"]),
            "mean_audio": f_float(v["mean_audio"]),
        }
        feats.update(override or {})
        for k in drop:
            feats.pop(k)
        return tr.Example(features=tr.Features(feature=feats)).SerializeToString()

    def frame_example(v, id_key="id", rgb_override=None):
        ctx = {id_key: f_bytes([v["id"].encode()]), "labels": f_int(v["labels"])}
        if "segment_labels" in v:
            ctx["segment_labels"] = f_int(v["segment_labels"])
            ctx["segment_start_times"] = f_int(v["segment_start_times"])
            ctx["segment_scores"] = f_float(v["segment_scores"])
        rgb = rgb_override if rgb_override is not None else [r.tobytes() for r in v["rgb"]]
        lists = {
            "rgb": tr.FeatureList(feature=[f_bytes([r]) for r in rgb]),
            "audio": tr.FeatureList(feature=[f_bytes([a.tobytes()]) for a in v["audio"]]),
        }
        return tr.SequenceExample(
            context=tr.Features(feature=ctx), feature_lists=tr.FeatureLists(feature_list=lists)
        ).SerializeToString()

    def write(name, payloads):
        with tf.io.TFRecordWriter(str(OUT / f"{name}.tfrecord")) as w:
            for p in payloads:
                w.write(p)

    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    video18 = video_contents(7, rng)
    video17 = video_contents(4, rng, labels_hi=4716)
    frame18 = frame_contents([1, 300, 5, 17, 2], rng)
    frame18[4]["labels"] = np.zeros(0, np.int64)  # a video with no labels
    frame19 = frame_contents([3, 8, 1], rng, segments=True)
    write("tf_video_2018", [video_example(v) for v in video18])
    write("tf_video_2017", [video_example(v, "video_id") for v in video17])
    write("tf_frame_2018", [frame_example(v) for v in frame18])
    write("tf_frame_2019", [frame_example(v) for v in frame19])

    # schema-breaking records: the record number k of the bad one is recorded below
    bad = {}
    good = [video_example(v) for v in video18[:3]]
    cases = {
        "tf_bad_missing_feature": (
            1,
            video_example(video18[1], drop=("mean_audio",)),
            "missing feature 'mean_audio'",
        ),
        "tf_bad_wrong_length": (
            2,
            video_example(video18[2], override={"mean_rgb": f_float(np.zeros(1000))}),
            "feature 'mean_rgb' has 1000 values, expected 1024",
        ),
        "tf_bad_wrong_type": (
            1,
            video_example(video18[1], override={"labels": f_float([1.0, 2.0])}),
            "feature 'labels' has the wrong type: float_list, expected int64_list",
        ),
        "tf_bad_label_vocab": (
            2,
            video_example(video18[2], override={"labels": f_int([5, 3862])}),
            "labels: label 3862 outside the vocabulary [0, 3862)",
        ),
    }
    for name, (k, payload, msg) in cases.items():
        recs = good[:k] + [payload] + good[k:]
        write(name, recs)
        bad[name] = {"record": k, "offset": sum(len(p) + 16 for p in recs[:k]), "message": msg}
    short = [r.tobytes() for r in frame18[2]["rgb"]]
    short[3] = short[3][:1000]
    write(
        "tf_bad_frame_length",
        [frame_example(frame18[0]), frame_example(frame18[2], rgb_override=short)],
    )
    bad["tf_bad_frame_length"] = {
        "record": 1,
        "offset": len(frame_example(frame18[0])) + 16,
        "message": "feature list 'rgb': frame 3 has 1000 bytes, expected 1024",
    }

    # damaged copies of tf_video_2018 (7 records)
    src = (OUT / "tf_video_2018.tfrecord").read_bytes()
    offsets, off = [], 0
    while off < len(src):
        offsets.append(off)
        off += struct.unpack_from("<Q", src, off)[0] + 16
    damaged = {}
    cut = offsets[4] + 100
    damaged["damaged_truncated"] = (
        src[:cut],
        {"record": 4, "offset": offsets[4], "message": "truncated file"},
    )
    b = bytearray(src)
    b[offsets[2] + 12 + 500] ^= 0x01
    damaged["damaged_payload_flip"] = (
        bytes(b),
        {"record": 2, "offset": offsets[2], "message": "payload checksum mismatch"},
    )
    b = bytearray(src)
    b[offsets[5] + 1] ^= 0x40
    damaged["damaged_length_flip"] = (
        bytes(b),
        {"record": 5, "offset": offsets[5], "message": "length checksum mismatch"},
    )
    damaged["damaged_not_tfrecord"] = (
        b"id,name\n0,Game\n1,Video game\n" * 20,
        {"record": 0, "offset": 0, "message": "not a TFRecord file"},
    )
    damaged["damaged_empty"] = (b"", {"record": 0, "offset": 0, "message": "empty file"})
    for name, (data, _) in damaged.items():
        (OUT / f"{name}.tfrecord").write_bytes(data)

    # --- read everything back with TensorFlow
    video_spec = lambda id_key: {  # noqa: E731
        id_key: tf.io.FixedLenFeature([], tf.string),
        "labels": tf.io.VarLenFeature(tf.int64),
        "mean_rgb": tf.io.FixedLenFeature([1024], tf.float32),
        "mean_audio": tf.io.FixedLenFeature([128], tf.float32),
    }

    def read_video(name, id_key):
        rows, floats = [], {"mean_rgb": [], "mean_audio": []}
        for raw in tf.data.TFRecordDataset(str(OUT / f"{name}.tfrecord")):
            p = tf.io.parse_single_example(raw, video_spec(id_key))
            rows.append(
                {
                    "id": p[id_key].numpy().decode(),
                    "labels": tf.sparse.to_dense(p["labels"]).numpy().tolist(),
                    "mean_rgb": sha(p["mean_rgb"].numpy()),
                    "mean_audio": sha(p["mean_audio"].numpy()),
                }
            )
            floats["mean_rgb"].append(p["mean_rgb"].numpy())
            floats["mean_audio"].append(p["mean_audio"].numpy())
        return rows, {k: np.stack(v) for k, v in floats.items()}

    def read_frame(name, segments):
        ctx = {"id": tf.io.FixedLenFeature([], tf.string), "labels": tf.io.VarLenFeature(tf.int64)}
        if segments:
            ctx.update(
                {
                    "segment_labels": tf.io.VarLenFeature(tf.int64),
                    "segment_start_times": tf.io.VarLenFeature(tf.int64),
                    "segment_scores": tf.io.VarLenFeature(tf.float32),
                }
            )
        seq = {
            "rgb": tf.io.FixedLenSequenceFeature([], tf.string),
            "audio": tf.io.FixedLenSequenceFeature([], tf.string),
        }
        rows = []
        for raw in tf.data.TFRecordDataset(str(OUT / f"{name}.tfrecord")):
            c, s = tf.io.parse_single_sequence_example(
                raw, context_features=ctx, sequence_features=seq
            )
            rgb = tf.io.decode_raw(s["rgb"], tf.uint8).numpy()
            audio = tf.io.decode_raw(s["audio"], tf.uint8).numpy()
            row = {
                "id": c["id"].numpy().decode(),
                "labels": tf.sparse.to_dense(c["labels"]).numpy().tolist(),
                "rgb_shape": list(rgb.shape),
                "audio_shape": list(audio.shape),
                "rgb": sha(rgb),
                "audio": sha(audio),
            }
            if segments:
                row["segment_labels"] = tf.sparse.to_dense(c["segment_labels"]).numpy().tolist()
                row["segment_start_times"] = (
                    tf.sparse.to_dense(c["segment_start_times"]).numpy().tolist()
                )
                row["segment_scores"] = tf.sparse.to_dense(c["segment_scores"]).numpy().tolist()
            rows.append(row)
        return rows

    expected: dict = {"tensorflow": tf.__version__, "files": {}, "bad": bad, "damaged": {}}
    arrays = {}
    for name, id_key in [
        ("tf_video_2018", "id"),
        ("tf_video_2017", "video_id"),
        ("afkit_video_2018", "id"),
        ("afkit_video_2017", "video_id"),
    ]:
        if not (OUT / f"{name}.tfrecord").exists():
            sys.exit(
                f"{name}.tfrecord missing: run step 1 first "
                "(.venv/bin/python -m tests.helpers.make_tf_fixtures afkit)"
            )
        rows, floats = read_video(name, id_key)
        expected["files"][name] = {"schema": "video", "id_key": id_key, "records": rows}
        for k, v in floats.items():
            arrays[f"{name}/{k}"] = v
    for name, seg in [
        ("tf_frame_2018", False),
        ("tf_frame_2019", True),
        ("afkit_frame_2019", True),
    ]:
        expected["files"][name] = {
            "schema": "frame",
            "id_key": "id",
            "records": read_frame(name, seg),
        }
    # the contents the frame files were written from are regenerated from the seed by the test
    # (tests/io/test_records.py imports this module); check here that TF read exactly those
    for name, contents in [
        ("tf_frame_2018", frame18),
        ("tf_frame_2019", frame19),
        ("afkit_frame_2019", afkit_sets()["afkit_frame_2019"][0]),
    ]:
        for row, v in zip(expected["files"][name]["records"], contents, strict=True):
            assert row["rgb"] == sha(v["rgb"]) and row["audio"] == sha(v["audio"]), name

    for name, (_, info) in damaged.items():
        path = str(OUT / f"{name}.tfrecord")
        n_ok, err = 0, None
        try:
            for _ in tf.data.TFRecordDataset(path):
                n_ok += 1
        except tf.errors.OpError as e:
            err = f"{type(e).__name__}: {e.message.splitlines()[0]}"
        ds = tf.data.TFRecordDataset(path).apply(tf.data.experimental.ignore_errors())
        n_ignore = sum(1 for _ in ds)
        expected["damaged"][name] = dict(
            info, tf_records_before_error=n_ok, tf_error=err, tf_records_ignore_errors=n_ignore
        )
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    np.savez_compressed(OUT / "expected_video.npz", **arrays)
    print(
        "TensorFlow",
        tf.__version__,
        "wrote and read",
        len(expected["files"]),
        "files;",
        sum(f.stat().st_size for f in OUT.iterdir()),
        "bytes in",
        OUT,
    )


if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    if step == "afkit":
        step_afkit()
    elif step == "tf":
        step_tf()
    else:
        sys.exit(__doc__)
