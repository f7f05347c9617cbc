"""afkit.io.records against TensorFlow's own files and reads, the protobuf library, hand
computation; schema errors; patterns; sharding (with a real DataLoader); inspect."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from afkit.io import inspect as dataset
from afkit.io import protowire as wire
from afkit.io import records as R
from afkit.io import shards
from afkit.io.records import InvalidRecordError, read_records, write_records
from afkit.io.tfrecord import CorruptRecordError
from tests.helpers import make_tf_fixtures as mk


def sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _expected(tf_fixtures):
    return json.loads((tf_fixtures / "expected.json").read_text())


def _tf_contents():
    """The contents step 2 of make_tf_fixtures.py handed to TensorFlow's writer (same seed and
    draw order)."""
    rng = np.random.default_rng(mk.SEED)
    v18, v17 = mk.video_contents(7, rng), mk.video_contents(4, rng, labels_hi=4716)
    f18 = mk.frame_contents([1, 300, 5, 17, 2], rng)
    f18[4]["labels"] = np.zeros(0, np.int64)
    f19 = mk.frame_contents([3, 8, 1], rng, segments=True)
    return {"tf_video_2018": v18, "tf_video_2017": v17, "tf_frame_2018": f18, "tf_frame_2019": f19}


def _same(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for k in a:
        if k == "id":
            assert a[k] == b[k]
        else:
            assert a[k].dtype == np.asarray(b[k]).dtype, k
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ----------------------------------------------------------------------------- TensorFlow files


@pytest.mark.parametrize(
    "name",
    [
        "tf_video_2018",
        "tf_video_2017",
        "tf_frame_2018",
        "tf_frame_2019",
        "afkit_video_2018",
        "afkit_video_2017",
        "afkit_frame_2019",
    ],
)
def test_every_field_equals_what_tensorflow_read(tf_fixtures, name):
    exp = _expected(tf_fixtures)["files"][name]
    floats = np.load(tf_fixtures / "expected_video.npz")
    got = list(read_records(tf_fixtures / f"{name}.tfrecord"))
    assert len(got) == len(exp["records"]) > 0
    for i, (g, e) in enumerate(zip(got, exp["records"], strict=True)):
        assert g["id"] == e["id"]
        assert g["labels"].dtype == np.int64 and g["labels"].tolist() == e["labels"]
        if exp["schema"] == "video":
            assert sorted(g) == ["id", "labels", "mean_audio", "mean_rgb"]
            for k in ("mean_rgb", "mean_audio"):
                assert g[k].dtype == np.float32 and sha(g[k]) == e[k]
                np.testing.assert_array_equal(g[k], floats[f"{name}/{k}"][i])
        else:
            assert g["rgb"].dtype == g["audio"].dtype == np.uint8
            assert (
                list(g["rgb"].shape) == e["rgb_shape"]
                and list(g["audio"].shape) == e["audio_shape"]
            )
            assert sha(g["rgb"]) == e["rgb"] and sha(g["audio"]) == e["audio"]
            seg = [k for k in R.SEGMENT_KEYS if k in e]
            assert sorted(g) == sorted(["id", "labels", "rgb", "audio", *seg])
            for k in seg:
                assert g[k].tolist() == e[k]
            if seg:
                assert (
                    g["segment_scores"].dtype == np.float32
                    and g["segment_labels"].dtype == np.int64
                )


@pytest.mark.parametrize(
    "name", ["tf_video_2018", "tf_video_2017", "tf_frame_2018", "tf_frame_2019"]
)
def test_tf_written_files_hold_the_contents_given_to_tensorflow(tf_fixtures, name):
    want = _tf_contents()[name]
    got = list(read_records(tf_fixtures / f"{name}.tfrecord"))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        _same(g, w)


def test_tf_fixture_frame_counts_cover_1_and_300_and_no_labels(tf_fixtures):
    got = list(read_records(tf_fixtures / "tf_frame_2018.tfrecord"))
    assert [len(g["rgb"]) for g in got] == [1, 300, 5, 17, 2]
    assert got[4]["labels"].shape == (0,)  # tfrecord's trap: IndexError on an empty feature


def test_afkit_writer_output_is_stable_and_tensorflow_read_it_identically(tf_fixtures, tmp_path):
    exp = _expected(tf_fixtures)["files"]
    for name, (recs, id_key) in mk.afkit_sets().items():
        p = tmp_path / f"{name}.tfrecord"
        write_records(p, recs, id_key=id_key)
        # byte for byte what TensorFlow was given in make_tf_fixtures.py
        assert p.read_bytes() == (tf_fixtures / f"{name}.tfrecord").read_bytes()
        assert exp[name]["id_key"] == id_key
        for r, e in zip(recs, exp[name]["records"], strict=True):  # what TensorFlow read
            assert r["id"] == e["id"] and r["labels"].tolist() == e["labels"]
            for k in ("mean_rgb", "mean_audio", "rgb", "audio"):
                if k in r:
                    assert sha(r[k]) == e[k]
            for k in R.SEGMENT_KEYS:
                if k in r:
                    assert r[k].tolist() == e[k]


# ----------------------------------------------------------------------------- protobuf oracle


def _pb_example(v, deterministic=True):
    from tfrecord import example_pb2 as pb

    def fill(feats, key, kind, vals):
        getattr(feats.feature[key], kind).value.extend(vals)

    if "rgb" in v:
        m = pb.SequenceExample()
        ctx = m.context
        m.feature_lists.feature_list["rgb"].SetInParent()  # present even with 0 frames
        m.feature_lists.feature_list["audio"].SetInParent()
        for t in range(len(v["rgb"])):
            m.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.append(
                v["rgb"][t].tobytes()
            )
            m.feature_lists.feature_list["audio"].feature.add().bytes_list.value.append(
                v["audio"][t].tobytes()
            )
    else:
        m = pb.Example()
        ctx = m.features
        fill(ctx, "mean_rgb", "float_list", v["mean_rgb"].tolist())
        fill(ctx, "mean_audio", "float_list", v["mean_audio"].tolist())
    fill(ctx, "id", "bytes_list", [v["id"].encode()])
    ctx.feature["labels"].int64_list.SetInParent()
    fill(ctx, "labels", "int64_list", [int(x) for x in v["labels"]])
    return m.SerializeToString(deterministic=deterministic)


def test_encoding_equals_protobuf_deterministic_serialization(videos):
    vids = videos(4) + videos(3, frames=[1, 2, 300], seed=1)
    vids[0]["labels"] = np.array([-1, 0, 2**40], dtype=np.int64)  # 10-byte and long varints
    for v in vids:
        b = R.encode_record(v)
        assert b == _pb_example(v)
        _same(R.parse_record(b), v)


def test_general_path_unpacked_lists_and_unknown_fields(videos):
    """Valid encodings other than the canonical one (unpacked repeated fields, an unknown field,
    keys in reverse order) parse to the same values."""
    v = videos(4, seed=5)[3]
    enc = lambda tag, body: bytes([tag]) + wire.encode_varint(len(body)) + body  # noqa: E731
    floats = lambda a: b"".join(b"\x0d" + np.float32(x).tobytes() for x in a)  # noqa: E731
    feats = {
        b"mean_rgb": enc(0x12, floats(v["mean_rgb"])),
        b"mean_audio": enc(0x12, enc(0x0A, v["mean_audio"].tobytes())),
        b"labels": enc(0x1A, b"".join(b"\x08" + wire.encode_varint(int(x)) for x in v["labels"])),
        b"id": enc(0x0A, enc(0x0A, v["id"].encode())),
    }
    body = b"".join(
        enc(0x0A, enc(0x0A, k) + enc(0x12, feats[k])) for k in sorted(feats, reverse=True)
    )
    payload = enc(0x0A, body) + b"\x28\x07"  # + field 5 varint 7: unknown, ignored
    _same(R.parse_record(payload), v)


def test_general_path_frames(videos):
    v = videos(1, frames=4, seed=6)[0]
    payload = _pb_example(v, deterministic=False)
    _same(R.parse_record(payload), v)
    # non-minimal varint lengths (valid protobuf) defeat the stride fast path; the walker reads them
    enc = lambda tag, body: bytes([tag]) + wire.encode_varint(len(body)) + body  # noqa: E731

    def enc_pad(tag, body):  # the length as a varint one byte longer than needed
        v = bytearray(wire.encode_varint(len(body)))
        v[-1] |= 0x80
        return bytes([tag]) + bytes(v) + b"\x00" + body

    def flist(frames):
        return b"".join(enc(0x0A, enc(0x0A, enc_pad(0x0A, f.tobytes()))) for f in frames)

    ctx = b"".join(
        enc(0x0A, enc(0x0A, k) + enc(0x12, val))
        for k, val in [(b"id", enc(0x0A, enc(0x0A, v["id"].encode()))), (b"labels", enc(0x1A, b""))]
    )
    lists = b"".join(
        enc(0x0A, enc(0x0A, k) + enc(0x12, flist(v[k.decode()]))) for k in (b"rgb", b"audio")
    )
    payload = enc(0x0A, ctx) + enc(0x12, lists)
    assert len(payload) == len(R.encode_record(v)) + 2 * 4  # one extra byte a frame
    _same(R.parse_record(payload), v)


# ----------------------------------------------------------------------------- bad records


@pytest.mark.parametrize(
    "name",
    [
        "tf_bad_missing_feature",
        "tf_bad_wrong_length",
        "tf_bad_wrong_type",
        "tf_bad_label_vocab",
        "tf_bad_frame_length",
    ],
)
def test_schema_errors_name_file_record_offset(tf_fixtures, name):
    info = _expected(tf_fixtures)["bad"][name]
    path = tf_fixtures / f"{name}.tfrecord"
    with pytest.raises(InvalidRecordError) as ei:
        list(read_records(path, num_classes=3862))
    assert (
        str(ei.value)
        == f"{path}: record {info['record']} at byte offset {info['offset']}: {info['message']}"
    )
    assert isinstance(ei.value, CorruptRecordError) and isinstance(ei.value, ValueError)


def test_label_vocab_is_checked_only_when_asked(tf_fixtures):
    got = list(read_records(tf_fixtures / "tf_bad_label_vocab.tfrecord"))
    assert got[2]["labels"].tolist() == [5, 3862]
    with pytest.raises(InvalidRecordError, match="label 3862 outside"):
        list(R.read_video_batches(tf_fixtures / "tf_bad_label_vocab.tfrecord", num_classes=3862))


def test_skip_corrupt_skips_invalid_records_and_counts(tf_fixtures):
    it = read_records(tf_fixtures / "tf_bad_wrong_type.tfrecord", skip_corrupt=True)
    ids = [r["id"] for r in it]
    assert len(ids) == 3 and it.skipped == 1 and "record 1 at byte offset" in it.errors[0]


def test_skip_corrupt_over_a_damaged_set(tf_fixtures):
    paths = [
        tf_fixtures / f"{n}.tfrecord"
        for n in ("damaged_empty", "damaged_payload_flip", "tf_video_2018")
    ]
    with pytest.warns(UserWarning):
        it = read_records(paths, skip_corrupt=True)
        got = [r["id"] for r in it]
    good = [r["id"] for r in read_records(tf_fixtures / "tf_video_2018.tfrecord")]
    assert got == good[:2] + good[3:] + good and it.skipped == 2  # the empty file, record 2


@pytest.mark.parametrize("frames,match", [(0, "0 frames"), (301, "301 frames")])
def test_frame_count_outside_1_to_300(videos, frames, match):
    v = videos(1, frames=1)[0]
    v["rgb"] = np.zeros((frames, 1024), np.uint8)
    v["audio"] = np.zeros((frames, 128), np.uint8)
    with pytest.raises(ValueError, match=match):  # the writer refuses
        R.encode_record(v)
    with pytest.raises(ValueError, match=match):  # and the reader too (TF-style protobuf input)
        R.parse_record(_pb_example(v))


def test_write_refuses_bad_input(videos, tmp_path):
    v = videos(1)[0]
    del v["mean_audio"]
    with pytest.raises(ValueError, match="lacks 'mean_audio'"):
        write_records(tmp_path / "x.tfrecord", [v])
    assert not list(tmp_path.iterdir())  # nothing half-written
    f = videos(1, frames=3)[0]
    f["rgb"] = f["rgb"].astype(np.float32)
    with pytest.raises(ValueError, match="must be uint8"):
        R.encode_record(f)


# ----------------------------------------------------------------------------- (de)quantize


def test_dequantize_is_the_starter_code_formula():
    q = np.arange(256, dtype=np.uint8)
    hand = [
        np.float32(np.float32(i) * np.float32(4 / 255) + np.float32(4 / 512 - 2))
        for i in range(256)
    ]
    x = R.dequantize(q)
    assert x.dtype == np.float32 and x.tolist() == hand
    assert x[0] == np.float32(-1.9921875) and abs(float(x[255]) - 2.0078125) < 1e-6
    np.testing.assert_array_equal(R.quantize(x), q)  # exact inverse on the 256 codes
    assert R.quantize([-10.0, 10.0]).tolist() == [0, 255]  # clipped
    y = np.linspace(-1.99, 2.0, 1001)
    assert np.abs(R.dequantize(R.quantize(y)) - y).max() <= 2 / 255 + 1e-6


# ----------------------------------------------------------------------------- patterns, sharding


def _shard_set(tmp_path, videos, counts=(5, 7, 3, 9)):
    vids, k = [], 0
    for f, n in enumerate(counts):
        part = videos(n, seed=f, start=k)
        write_records(tmp_path / f"train{f:04d}.tfrecord", part)
        vids += part
        k += n
    return vids


def test_expand_pattern_sorted_and_clear_errors(tmp_path, videos):
    _shard_set(tmp_path, videos, counts=(1, 1, 1))
    (tmp_path / "other.txt").write_text("x")
    names = [Path(p).name for p in R.expand_pattern(str(tmp_path / "train*.tfrecord"))]
    assert names == ["train0000.tfrecord", "train0001.tfrecord", "train0002.tfrecord"]
    assert R.expand_pattern(tmp_path) == R.expand_pattern(
        [tmp_path / "train0002.tfrecord", str(tmp_path / "t*")]
    )
    R.count_records(tmp_path)  # writes train000N.tfrecord.idx beside the files
    assert (tmp_path / "train0000.tfrecord.idx").is_file()
    assert [Path(p).name for p in R.expand_pattern(str(tmp_path / "train*"))] == names
    with pytest.raises(FileNotFoundError, match="no TFRecord files match"):
        R.expand_pattern(str(tmp_path / "validate*.tfrecord"))


@pytest.mark.parametrize("world_size,num_workers", [(1, 1), (1, 2), (2, 2), (3, 4), (4, 7)])
def test_shard_plan_no_overlap_no_loss(tmp_path, videos, world_size, num_workers):
    vids = _shard_set(tmp_path, videos)
    assert R.count_records(tmp_path) == len(vids) == 24
    ids, sizes = [], []
    for rank in range(world_size):
        rank_ids = []
        for w in range(num_workers):
            plan = shards.shard_plan(
                tmp_path, rank=rank, world_size=world_size, worker=w, num_workers=num_workers
            )
            got = [r["id"] for r in shards.read_shards(plan)]
            assert len(got) == sum(len(s) for s in plan)
            rank_ids += got
            sizes.append(len(got))
        # a rank's records do not depend on the number of workers
        assert rank_ids == [
            r["id"]
            for r in shards.read_shards(
                shards.shard_plan(tmp_path, rank=rank, world_size=world_size)
            )
        ]
        ids += rank_ids
    assert ids == [v["id"] for v in vids]  # every record once, in order
    assert max(sizes) - min(sizes) <= 1 or world_size * num_workers > 24


def test_record_dataset_with_a_real_dataloader(tmp_path, videos):
    import torch

    vids = _shard_set(tmp_path, videos)
    seen = []
    for rank in range(2):
        ds = shards.RecordDataset(
            str(tmp_path / "train*.tfrecord"), rank=rank, world_size=2, transform=lambda r: r["id"]
        )
        assert isinstance(ds, torch.utils.data.IterableDataset) and len(ds) == 12
        dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
        got = list(dl)
        assert len(got) == len(set(got)) == 12  # the tfrecord package would give 2 x 24
        seen += got
    assert sorted(seen) == [v["id"] for v in vids]


def test_import_records_does_not_import_torch():
    code = (
        "import sys, afkit.io.records; "
        "assert 'torch' not in sys.modules and 'tfrecord' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- traps, batches


def test_arrays_are_owned_and_writable(tf_fixtures):
    a, b = list(read_records(tf_fixtures / "tf_frame_2018.tfrecord"))[:2]
    for r in (a, b):
        for k in ("labels", "rgb", "audio"):
            assert r[k].flags.writeable and r[k].flags.c_contiguous
    before = b["rgb"].copy()
    a["rgb"][:] = 0  # no shared buffer between records
    np.testing.assert_array_equal(b["rgb"], before)


def test_video_batches_equal_per_record_reads(tf_fixtures, tmp_path, videos):
    vids = videos(10, seed=9)
    write_records(tmp_path / "a.tfrecord", vids[:6])
    write_records(tmp_path / "b.tfrecord", vids[6:])
    paths = [
        tmp_path / "a.tfrecord",
        tmp_path / "b.tfrecord",
        tf_fixtures / "tf_video_2017.tfrecord",
    ]
    ref = list(read_records(paths))
    batches = list(R.read_video_batches(paths, batch_size=4))
    assert [len(b["id"]) for b in batches] == [4, 4, 4, 2]
    flat = [{k: (b[k][i]) for k in b} for b in batches for i in range(len(b["id"]))]
    assert len(flat) == len(ref)
    for f, r in zip(flat, ref, strict=True):
        _same(f, r)
    assert batches[0]["mean_rgb"].shape == (4, 1024) and batches[0]["mean_rgb"].flags.writeable


# ----------------------------------------------------------------------------- inspect


def test_inspect_cli(tf_fixtures, capsys):
    from afkit.__main__ import main

    assert main(["inspect", str(tf_fixtures / "tf_frame_*.tfrecord"), "--top", "2"]) == 0
    out = capsys.readouterr().out
    exp = _expected(tf_fixtures)["files"]
    recs = exp["tf_frame_2018"]["records"] + exp["tf_frame_2019"]["records"]
    frames = [r["rgb_shape"][0] for r in recs]
    nl = [len(r["labels"]) for r in recs]
    assert "frame-level" in out and "segment labels in 3 videos" in out
    assert "files:           2\n" in out and f"records:         {len(recs)}\n" in out
    assert f"frames/video:    {min(frames)}..{max(frames)}\n" in out
    assert f"min {min(nl)}, mean {np.mean(nl):.2f}, max {max(nl)}; 1 videos without labels" in out
    assert f"distinct labels: {len({x for r in recs for x in r['labels']})}" in out


def test_inspect_cli_on_corrupt_input(tf_fixtures, capsys):
    info = _expected(tf_fixtures)["damaged"]["damaged_payload_flip"]
    assert dataset.inspect_main([str(tf_fixtures / "damaged_payload_flip.tfrecord")]) == 1
    err = capsys.readouterr().err
    assert f"record 2 at byte offset {info['offset']}: payload checksum mismatch" in err
    assert dataset.inspect_main([str(tf_fixtures / "nothing*.tfrecord")]) == 1


def test_inspect_limit(tf_fixtures, capsys):
    assert dataset.inspect_main([str(tf_fixtures / "tf_frame_2018.tfrecord"), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "records:         2 (stopped at --limit)" in out and "frames/video:    1..300" in out


def test_bytes_and_str_ids_encode_alike(videos):
    v = videos(1)[0]
    w = dict(v, id=v["id"].encode())
    assert R.encode_record(v) == R.encode_record(w)


def test_video_batches_mixed_layouts_and_errors(tmp_path, videos):
    from afkit.io import tfrecord as T

    vids = videos(9, seed=11)
    vids[1]["labels"] = np.array([-1, 2**40, 0, 300000], dtype=np.int64)  # long varints
    vids[2]["id"] = "x" * 200  # an id too long for the canonical fast path
    payloads = [R.encode_record(v) for v in vids]
    payloads[4] = _pb_example(vids[4], deterministic=False)  # protobuf's own key order
    payloads[5] = payloads[5] + b"\x28\x07"  # an unknown field: the general path
    T.write_tfrecord(tmp_path / "m.tfrecord", payloads)
    ref = list(read_records(tmp_path / "m.tfrecord"))
    for v, r in zip(vids, ref, strict=True):
        _same(r, v)
    for bs in (1, 4, 256):
        flat = [
            {k: b[k][i] for k in b}
            for b in R.read_video_batches(tmp_path / "m.tfrecord", bs)
            for i in range(len(b["id"]))
        ]
        assert len(flat) == 9
        for f, r in zip(flat, ref, strict=True):
            _same(f, r)
    # errors: the same message as read_records, and skip_corrupt counts
    with pytest.raises(
        InvalidRecordError, match=r"record 1 at byte offset \d+: labels: label -1 outside"
    ):
        list(R.read_video_batches(tmp_path / "m.tfrecord", num_classes=3862))
    bad = payloads[:3] + [payloads[3][:-20]]  # a field runs past the end of the message
    T.write_tfrecord(tmp_path / "b.tfrecord", bad)
    with pytest.raises(InvalidRecordError, match="record 3 at byte offset"):
        list(R.read_video_batches(tmp_path / "b.tfrecord"))
    got = [
        i for b in R.read_video_batches(tmp_path / "b.tfrecord", skip_corrupt=True) for i in b["id"]
    ]
    assert got == [v["id"] for v in vids[:3]]
