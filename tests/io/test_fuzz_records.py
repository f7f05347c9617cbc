"""Property-based fuzzing of the record parser (hypothesis): structured mutations of valid
``Example`` / ``SequenceExample`` payloads, framed with valid CRCs, read by both read paths.

The property: the mutated record either parses to exactly the values protobuf's own parser
gives (the oracle: upb, with the schema of ``tf.train.Example`` declared proto2, so that it
does not refuse a map key that is not UTF-8, which afkit ignores like any key it does not
read), or raises ``CorruptRecordError`` naming the file, the record and its offset; never any
other exception; with ``skip_corrupt=True`` never an exception, and the records around it come
through. The only inputs afkit refuses that upb reads are the ones it refuses on purpose
(``ALLOWED_REFUSALS``: a varint over 64 bits, which upb truncates; groups, which a
``tf.train.Example`` never holds).

The mutations work on the payload's field tree (every length-delimited field that parses as a
message is a subtree): non-minimal varints (tags, lengths, values, up to and past their
limits), values over 63 and 64 bits, wire types and field numbers changed, nested lengths
off by a few bytes, fields repeated (protobuf merges them), dropped or swapped, leaf bytes cut,
extended or flipped. A fixed seed (``derandomize``) and example budget bound the CI time;
``make fuzz`` runs the same property with ``AFKIT_FUZZ_EXAMPLES`` examples.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from afkit.io import records as R  # noqa: E402
from afkit.io import tfrecord as T  # noqa: E402
from afkit.io.tfrecord import CorruptRecordError  # noqa: E402

# examples per test: 2000 video-level (each read by both read paths), 1000 frame-level
EXAMPLES = int(os.environ.get("AFKIT_FUZZ_EXAMPLES", "2000"))
ALLOWED_REFUSALS = ("more than 64 bits", "wire type 3", "wire type 4")
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ----------------------------------------------------------------------------- the oracle


def _proto2_classes():
    """``Example`` and ``SequenceExample`` of tensorflow's example.proto, declared proto2."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from tfrecord import example_pb2

    fp = descriptor_pb2.FileDescriptorProto()
    example_pb2.DESCRIPTOR.CopyToProto(fp)
    fp.name, fp.package, fp.syntax = "afkit_fuzz_example.proto", "afkitfuzz", "proto2"
    for m in fp.message_type:
        for msg in (m, *m.nested_type):
            for f in msg.field:
                if f.type_name:
                    f.type_name = f.type_name.replace(".tensorflow.", ".afkitfuzz.")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fp)
    get = lambda n: message_factory.GetMessageClass(pool.FindMessageTypeByName(n))  # noqa: E731
    return get("afkitfuzz.SequenceExample")


SequenceExample = _proto2_classes()


class Bad(Exception):
    """The oracle's verdict: not a valid YouTube-8M record."""


def _kind(feature, want: str):
    if feature.WhichOneof("kind") != want:
        raise Bad(want)
    return getattr(feature, want).value


def oracle(payload: bytes, file_kind: str, segments: bool = True) -> dict:
    """The video dict protobuf's parser and the schema (afkit.io.records' docstring) give
    (``segments=False``: as ``read_video_batches``, which does not read the segment fields)."""
    m = SequenceExample()
    try:
        m.ParseFromString(payload)
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError, any flavour
        raise Bad(str(e)) from None
    is_frame = m.HasField("feature_lists")
    if is_frame != (file_kind == "frame"):
        raise Bad("kind")
    out = _context(m.context.feature, segments)
    if is_frame:
        out.update(_frames(m.feature_lists.feature_list))
    else:
        for k, dim in (("mean_rgb", R.RGB_DIM), ("mean_audio", R.AUDIO_DIM)):
            v = _kind(feats_get(m.context.feature, k), "float_list")
            if len(v) != dim:
                raise Bad(k)
            out[k] = np.array(v, np.float32).tobytes()
    return out


def feats_get(feats, key: str):
    if key not in feats:
        raise Bad(f"no {key}")
    return feats[key]


def _context(feats, segments: bool) -> dict:
    """id, labels and (with ``segments``) the segment fields."""
    ids = _kind(feats_get(feats, "id" if "id" in feats else "video_id"), "bytes_list")
    if len(ids) != 1 or len(ids[0]) > R.MAX_ID_BYTES:
        raise Bad("id")
    try:
        out = {"id": ids[0].decode()}
    except UnicodeDecodeError:
        raise Bad("id utf-8") from None
    out["labels"] = list(_kind(feats_get(feats, "labels"), "int64_list"))
    if segments and any(k in feats for k in R.SEGMENT_KEYS):
        labels, starts = (
            list(_kind(feats_get(feats, k), "int64_list"))
            for k in ("segment_labels", "segment_start_times")
        )
        scores = np.array(_kind(feats_get(feats, "segment_scores"), "float_list"), np.float32)
        if not len(labels) == len(starts) == len(scores):
            raise Bad("segment lengths")
        out.update(
            segment_labels=labels, segment_start_times=starts, segment_scores=scores.tobytes()
        )
    return out


def _frames(lists) -> dict:
    out = {}
    for k, dim in (("rgb", R.RGB_DIM), ("audio", R.AUDIO_DIM)):
        frames = [_kind(f, "bytes_list") for f in feats_get(lists, k).feature]
        if any(len(v) != 1 or len(v[0]) != dim for v in frames):
            raise Bad("frame")
        out[k] = b"".join(v[0] for v in frames)
    t = len(out["rgb"]) // R.RGB_DIM
    if t != len(out["audio"]) // R.AUDIO_DIM or not 1 <= t <= R.MAX_FRAMES:
        raise Bad("frames")
    return out


def _fields(data: bytes):
    """``(number, wire type, field bytes, value bytes)`` of each field of a message body;
    ValueError where the body is malformed."""
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = _read(data, pos)
        num, wt = tag >> 3, tag & 7
        if pos - start > 5 or tag >> 32 or num == 0:  # as protobuf: a bad tag
            raise ValueError
        if wt == 0:
            _, end = _read(data, pos)
            value = data[pos:end]
        elif wt in (1, 5):
            end = pos + (8 if wt == 1 else 4)
            value = data[pos:end]
        elif wt == 2:
            n, at = _read(data, pos)
            if at - pos > 5 or n >> 31:  # as protobuf: a bad length
                raise ValueError
            end = at + n
            value = data[at:end]
        else:
            raise ValueError
        if end > len(data):
            raise ValueError
        pos = end
        yield num, wt, data[start:end], value


def _rebuilt(field: bytes, value: bytes, new: bytes) -> bytes:
    """``field`` (a length-delimited field holding ``value``) holding ``new``: its tag bytes
    kept, its length as long as it was (padded), so that only the content changes."""
    if new == value:
        return field
    _, tag_end = _read(field, 0)
    width = len(field) - tag_end - len(value)
    return field[:tag_end] + varint(len(new), max(0, width - len(varint(len(new))))) + new


def _entry_parts(entry: bytes) -> tuple[bytes, bytes]:
    """A map entry's key and its fields reduced to the key and value fields."""
    key, kept = b"", []
    for num, wt, field, value in _fields(entry):
        if wt == 2 and num in (1, 2):
            kept.append(field)
            key = value if num == 1 else key
    return key, b"".join(kept)


def _entries(payload: bytes):
    """``(i, num, field, body, [(j, entry field, entry, key, reduced entry) or (j, field)])``
    of each top-level field (map entries for the maps, fields 1 and 2)."""
    for i, (num, wt, field, body) in enumerate(_fields(payload)):
        if wt != 2 or num not in (1, 2):
            yield i, num, field, body, None
            continue
        inner = []
        for j, (n, w, f, e) in enumerate(_fields(body)):
            inner.append((j, f, e, *_entry_parts(e)) if (n, w) == (1, 2) else (j, f))
        yield i, num, field, body, inner


def outer(payload: bytes, keep: set | None = None) -> bytes | None:
    """The payload with its map entries (``Features``, ``FeatureLists``) reduced to their key and
    value fields, and with ``keep``, without the entries whose key is not in it; None where the
    outer structure is malformed.

    Two differences from upb that the oracle removes this way: upb drops a map entry that holds
    an unknown field (it keeps the entry as an unknown field of the map's message), where afkit
    skips the unknown field as protobuf's wire format says; and afkit does not parse the value of
    a feature it does not read, nor of an entry that a later one of the same key
    replaces (skipped by its length, as TensorFlow's parser skips features outside its spec),
    where upb parses every value."""
    try:
        tops = list(_entries(payload))
    except ValueError:
        return None
    last = {}  # (map, key) -> the entry that wins (protobuf: the last one)
    for i, num, _, _, inner in tops:
        for x in inner or ():
            if len(x) == 5:
                last[num, x[3]] = (i, x[0])
    out = []
    for i, num, field, body, inner in tops:
        if inner is None:
            out.append(field)
            continue
        kept = [
            x[1] if len(x) == 2 else _rebuilt(x[1], x[2], x[4])
            for x in inner
            if len(x) == 2 or keep is None or (x[3] in keep and last[num, x[3]] == (i, x[0]))
        ]
        out.append(_rebuilt(field, body, b"".join(kept)))
    return b"".join(out)


def read_keys(payload: bytes, segments: bool) -> set:
    """The map keys afkit reads (``video_id`` only without an ``id``)."""
    read = {b"id", b"video_id", b"labels", b"mean_rgb", b"mean_audio", b"rgb", b"audio"}
    if segments:
        read |= {k.encode() for k in R.SEGMENT_KEYS}
    m = SequenceExample()
    try:
        m.ParseFromString(outer(payload) or payload)
        if "id" in m.context.feature:
            read.discard(b"video_id")
    except Exception:  # noqa: BLE001
        pass
    return read


def as_plain(r: dict) -> dict:
    """afkit's video dict in the oracle's terms (lists and bytes)."""
    out = {"id": r["id"], "labels": [int(x) for x in r["labels"]]}
    for k in ("mean_rgb", "mean_audio", "rgb", "audio", "segment_scores"):
        if k in r:
            out[k] = np.ascontiguousarray(r[k]).tobytes()
    for k in ("segment_labels", "segment_start_times"):
        if k in r:
            out[k] = [int(x) for x in r[k]]
    return out


# ----------------------------------------------------------------------------- field trees


def varint(n: int, pad: int = 0) -> bytes:
    """``n`` (any size; negative as int64) as a varint, ``pad`` bytes longer than minimal."""
    if n < 0:
        n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    for _ in range(pad):
        out[-1] |= 0x80
        out.append(0)
    return bytes(out)


def _read(data: bytes, pos: int):
    n = shift = 0
    start = pos
    while True:
        if pos >= len(data) or pos - start > 9:
            raise ValueError
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, pos


def tree(data: bytes, depth: int = 0):
    """The fields of a message body as a list of nodes, or None when ``data`` is not one
    (length-delimited fields that parse are subtrees, the others leaf bytes)."""
    nodes, pos = [], 0
    try:
        while pos < len(data):
            tag, pos = _read(data, pos)
            num, wt = tag >> 3, tag & 7
            if num == 0 or wt not in (0, 1, 2, 5):
                return None
            node = {"num": num, "wt": wt, "tag_pad": 0, "len_pad": 0, "val_pad": 0, "delta": 0}
            if wt == 0:
                node["val"], pos = _read(data, pos)
            elif wt in (1, 5):
                w = 8 if wt == 1 else 4
                if pos + w > len(data):
                    return None
                node["val"], pos = data[pos : pos + w], pos + w
            else:
                n, pos = _read(data, pos)
                if pos + n > len(data):
                    return None
                body = data[pos : pos + n]
                pos += n
                sub = tree(body, depth + 1) if depth < 8 and n else None
                node["val"] = sub if sub is not None else body
            nodes.append(node)
    except ValueError:
        return None
    return nodes


def serialize(nodes) -> bytes:
    out = []
    for n in nodes:
        head = varint((n["num"] << 3) | n["wt"], n["tag_pad"])
        out.append(head + _value(n))  # "raw": the wire type changed, the old value's bytes
    return b"".join(out)


def _value(n) -> bytes:
    if "raw" in n:
        return n["raw"]
    v = n["val"]
    if n["wt"] == 0:
        return varint(v, n["val_pad"])
    if n["wt"] in (1, 5):
        return v
    body = serialize(v) if isinstance(v, list) else v
    return varint(max(0, len(body) + n["delta"]), n["len_pad"]) + body


def flatten(nodes, out=None):
    """Every node with its sibling list: ``[(siblings, index), ...]``, depth first."""
    out = [] if out is None else out
    for i, n in enumerate(nodes):
        out.append((nodes, i))
        if n["wt"] == 2 and isinstance(n.get("val"), list) and "raw" not in n:
            flatten(n["val"], out)
    return out


MUTATIONS = (
    "tag_pad",
    "len_pad",
    "val_pad",
    "value",
    "wire",
    "number",
    "delta",
    "dup",
    "drop",
    "swap",
    "bytes",
)
BIG = st.one_of(
    st.integers(0, 4000),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(2**63, 2**64 - 1),
    st.integers(2**64, 2**70),  # over 64 bits: 10 bytes with a last byte above 1, or 11
)


def _mutate_field(draw, n: dict, what: str) -> None:
    """One mutation of the field ``n`` itself (its encoding or its value)."""
    if what == "tag_pad":
        n["tag_pad"] = draw(st.integers(1, 5))
    elif what == "len_pad" and n["wt"] == 2:
        n["len_pad"] = draw(st.integers(1, 5))
    elif what == "val_pad" and n["wt"] == 0:
        n["val_pad"] = draw(st.integers(1, 10))
    elif what == "value" and n["wt"] == 0:
        n["val"] = draw(BIG)
    elif what == "wire":
        raw = _value(n)
        n["wt"] = draw(st.integers(0, 7))
        n["raw"] = raw
    elif what == "number":
        n["num"] = draw(st.integers(0, 6))
    elif what == "delta" and n["wt"] == 2:
        n["delta"] = draw(st.sampled_from([-3, -2, -1, 1, 2, 3]))
    elif what == "bytes" and n["wt"] == 2 and isinstance(n["val"], bytes):
        n["val"] = _mutate_bytes(draw, bytearray(n["val"]))


def _mutate_bytes(draw, v: bytearray) -> bytes:
    how = draw(st.sampled_from(["cut", "extend", "flip", "empty"]))
    if how == "cut" and v:
        del v[draw(st.integers(0, len(v) - 1))]
    elif how == "extend":
        v.insert(draw(st.integers(0, len(v))), draw(st.integers(0, 255)))
    elif how == "flip" and v:
        v[draw(st.integers(0, len(v) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif how == "empty":
        v = bytearray()
    return bytes(v)


@st.composite
def mutated(draw, nodes):
    """1 to 3 mutations of the field tree ``nodes``, serialized."""
    nodes = copy.deepcopy(nodes)
    for _ in range(draw(st.integers(1, 3))):
        flat = flatten(nodes)
        if not flat:
            break
        siblings, i = flat[draw(st.integers(0, len(flat) - 1))]
        what = draw(st.sampled_from(MUTATIONS))
        if what == "dup":
            siblings.insert(i + 1, copy.deepcopy(siblings[i]))
        elif what == "drop":
            del siblings[i]
        elif what == "swap" and i + 1 < len(siblings):
            siblings[i], siblings[i + 1] = siblings[i + 1], siblings[i]
        else:
            _mutate_field(draw, siblings[i], what)
    return serialize(nodes)


# ----------------------------------------------------------------------------- valid records

IDS = st.one_of(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=11),
    st.text(min_size=1, max_size=6),
)
LABELS = st.lists(st.one_of(st.integers(0, 4000), st.integers(-(2**63), 2**63 - 1)), max_size=5)


@st.composite
def video(draw, kind: str):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    v = {"id": draw(IDS), "labels": np.array(draw(LABELS), np.int64)}
    if kind == "frame":
        t = draw(st.integers(1, 2))
        v["rgb"] = rng.integers(0, 256, (t, R.RGB_DIM), dtype=np.uint8)
        v["audio"] = rng.integers(0, 256, (t, R.AUDIO_DIM), dtype=np.uint8)
    else:
        v["mean_rgb"] = rng.standard_normal(R.RGB_DIM).astype(np.float32)
        v["mean_audio"] = rng.standard_normal(R.AUDIO_DIM).astype(np.float32)
    if draw(st.booleans()):
        s = draw(st.integers(0, 3))
        v["segment_labels"] = rng.integers(0, 4000, s)
        v["segment_start_times"] = rng.integers(0, 300, s)
        v["segment_scores"] = rng.random(s).astype(np.float32)
    return v


def _neighbours(kind: str) -> list[bytes]:
    """The valid records before and after the mutated one."""
    rng = np.random.default_rng(7)
    out = []
    for vid in ("aaaa", "bbbb"):
        v = {"id": vid, "labels": np.array([1, 2], np.int64)}
        if kind == "frame":
            v["rgb"] = rng.integers(0, 256, (2, R.RGB_DIM), dtype=np.uint8)
            v["audio"] = rng.integers(0, 256, (2, R.AUDIO_DIM), dtype=np.uint8)
        else:
            v["mean_rgb"] = rng.standard_normal(R.RGB_DIM).astype(np.float32)
            v["mean_audio"] = rng.standard_normal(R.AUDIO_DIM).astype(np.float32)
        out.append(R.encode_record(v))
    return out


NEIGHBOURS = {kind: _neighbours(kind) for kind in ("video", "frame")}


@st.composite
def case(draw, kind: str):
    """The file's three payloads: valid, mutated, valid."""
    x = R.encode_record(draw(video(kind)))
    nodes = tree(x)
    assert nodes is not None and serialize(nodes) == x
    a, b = NEIGHBOURS[kind]
    return [a, draw(mutated(nodes)), b]


# ----------------------------------------------------------------------------- the property


def _verdict(payload: bytes, kind: str, segments: bool) -> tuple[dict | Bad, bool]:
    """``(verdict, refusal_allowed)``: the oracle's dict, or its :class:`Bad`, on the payload as
    :func:`outer` reduces it; where protobuf refuses that but reads the payload without the
    features afkit does not read, that dict, and afkit may refuse or read it."""
    base = outer(payload)
    base = payload if base is None else base
    try:
        return oracle(base, kind, segments), False
    except Bad as e:
        inner = outer(payload, read_keys(payload, segments))
        if inner is None or inner == base:
            return e, True
        try:
            return oracle(inner, kind, segments), True
        except Bad as e2:
            return e2, True


def _check_strict(read, path, payloads, offset, verdict) -> dict | None:
    """The mutated record as ``read`` (one of the two read paths) returns it, or None when it
    raised the error the property allows."""
    expected, may_refuse = verdict
    try:
        got = read(path)
    except CorruptRecordError as e:
        assert (e.path, e.record, e.offset) == (str(path), 1, offset), str(e)
        assert str(e).startswith(f"{path}: record 1 at byte offset {offset}: ")
        if not may_refuse and not isinstance(expected, Bad):  # upb reads it: a stated refusal
            assert any(r in e.reason for r in ALLOWED_REFUSALS), (e.reason, expected)
        hypothesis.event("refused (CorruptRecordError)")  # --hypothesis-show-statistics
        return None
    if isinstance(expected, Bad) and os.environ.get("AFKIT_FUZZ_DUMP"):
        open(os.environ["AFKIT_FUZZ_DUMP"], "wb").write(payloads[1])
    assert not isinstance(expected, Bad), f"afkit read what protobuf refuses ({expected})"
    assert len(got) == 3
    assert as_plain(got[1]) == expected
    hypothesis.event("parsed, equal to protobuf's values")
    return got[1]


_COUNT = iter(range(1 << 62))


def _check(tmp_path_factory, payloads, kind):
    path = tmp_path_factory.getbasetemp() / f"fuzz{next(_COUNT)}.tfrecord"
    T.write_tfrecord(path, payloads)
    offset = 16 + len(payloads[0])
    paths = [(lambda p, **kw: list(R.read_records(p, **kw)), True)]
    if kind == "video":
        paths.append(
            (
                lambda p, **kw: [
                    {k: b[k][i] for k in b}
                    for b in R.read_video_batches(p, 2, **kw)
                    for i in range(len(b["id"]))
                ],
                False,
            )
        )
    for read, segments in paths:
        expected = _verdict(payloads[1], kind, segments)
        parsed = _check_strict(read, path, payloads, offset, expected)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            salvaged = read(path, skip_corrupt=True)  # never raises: the framing is intact
        ids = [r["id"] for r in salvaged]
        assert ids == (["aaaa", parsed["id"], "bbbb"] if parsed is not None else ["aaaa", "bbbb"])
    path.unlink()


@FUZZ
@given(payloads=case("video"))
def test_fuzz_video_level_records_both_read_paths(tmp_path_factory, payloads):
    _check(tmp_path_factory, payloads, "video")


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
@given(payloads=case("frame"))
def test_fuzz_frame_level_records(tmp_path_factory, payloads):
    _check(tmp_path_factory, payloads, "frame")
