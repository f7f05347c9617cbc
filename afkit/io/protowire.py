"""The protobuf wire format of ``tf.train.Example`` / ``SequenceExample``, walked and written by
hand: varints, the field walk, the ``Features`` map, the three ``Feature`` lists, frame lists,
and the vectorized fast paths of the canonical video-level Example. Knows messages, not the
YouTube-8M schema (``afkit.io.records`` says which features a record must have).

The messages, as far as afkit reads them (field number: content)::

    Example          1: Features                    SequenceExample  1: Features (context)
    Features         1: map entry (repeated)                         2: FeatureLists
    map entry        1: key (string), 2: value      FeatureLists     1: map entry -> FeatureList
    Feature          1: BytesList, 2: FloatList, 3: Int64List (a oneof; the last one wins)
    FeatureList      1: Feature (repeated)          *List            1: value (repeated; packed?)

Why a hand-written walker, not ``tfrecord``'s parser or protobuf objects (measured:
``benchmarks/io_read.py``, 2 shared cores, CRCs checked by afkit and TensorFlow only; videos per
CPU-second, the steadier number on a shared machine; the wall-clock table is in the README):
frame-level (150 frames) afkit ~18,000, TensorFlow ~4,400 (per-record
``parse_single_sequence_example``), protobuf (upb) ~7,600, ``tfrecord`` ~2,500; video-level
afkit ``read_video_batches`` ~170,000 and ``read_records`` ~140,000, TensorFlow (batched
``parse_example``) ~173,000, protobuf ~97,000, ``tfrecord`` ~74,000. The reasons:

- a record is walked in place (varint / length-delimited fields); no message object is built;
- the frames of a feature list are laid out by TensorFlow (and every protobuf serializer) with a
  constant stride (a 9-byte ``Feature{BytesList{value}}`` header, then the 1024 bytes), so they
  are taken as one strided numpy view, the headers checked in one vectorized comparison and the
  frames copied out in one go (:func:`read_frames`) -- where ``tfrecord`` and protobuf build a
  Python ``bytes`` object per frame (up to 300 per video) plus message objects;
- video-level: the packed floats are one ``np.frombuffer`` each (:func:`parse_canonical_video`),
  and :func:`walk_canonical_videos` walks thousands of records at once with numpy (one
  vectorized step per map entry); :func:`decode_varints` decodes all their label varints in one
  pass and :func:`gather_rows` takes the floats of a batch in one copy.

Any other valid encoding (unpacked lists, other key orders, unknown fields, non-minimal
varints) takes the general (slower, still exact) path. Writing produces the same layout with
map keys in sorted order: protobuf's deterministic serialization.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

# the widths of YouTube-8M's video-level features, which the canonical fast paths are built for
RGB_DIM = 1024
AUDIO_DIM = 128

# Feature's oneof: the tag byte of each list (field 1, 2, 3; length-delimited)
BYTES_LIST, FLOAT_LIST, INT64_LIST = 0x0A, 0x12, 0x1A
LIST_KINDS = {BYTES_LIST: "bytes_list", FLOAT_LIST: "float_list", INT64_LIST: "int64_list"}


class PayloadError(Exception):
    """One payload breaks the wire format or the schema; raised before the file and the record
    number are known (``afkit.io.records`` turns it into an ``InvalidRecordError``)."""


# what a walk over a bad payload raises: a PayloadError, or an IndexError where it ran off the end
PAYLOAD_ERRORS = (PayloadError, IndexError)


def error_reason(err: Exception) -> str:
    """The message of one of :data:`PAYLOAD_ERRORS`."""
    return str(err) if isinstance(err, PayloadError) else "malformed protobuf"


# =========================================================================== writing


def encode_varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # int64 two's complement, as protobuf encodes negative int64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def length_delimited(tag: int, payload: bytes) -> bytes:
    """One length-delimited field: its tag byte, the payload's length, the payload."""
    return bytes((tag,)) + encode_varint(len(payload)) + payload


def bytes_feature(values: Sequence[bytes]) -> bytes:
    return length_delimited(BYTES_LIST, b"".join(length_delimited(0x0A, bytes(v)) for v in values))


def float_feature(values) -> bytes:
    a = np.ascontiguousarray(values, dtype="<f4").ravel()
    return length_delimited(FLOAT_LIST, length_delimited(0x0A, a.tobytes()) if a.size else b"")


def int64_feature(values) -> bytes:
    a = np.asarray(values, dtype=np.int64).ravel()
    packed = b"".join(encode_varint(int(v)) for v in a)
    return length_delimited(INT64_LIST, length_delimited(0x0A, packed) if a.size else b"")


def features_body(entries: dict[str, bytes]) -> bytes:
    """The body of a ``Features`` / ``FeatureLists`` map: one entry per key, in sorted key order."""
    return b"".join(
        length_delimited(
            0x0A, length_delimited(0x0A, k.encode()) + length_delimited(0x12, entries[k])
        )
        for k in sorted(entries)
    )


def frame_header(dim: int) -> bytes:
    """The constant prefix of one frame, ``Feature{bytes_list{value: <dim bytes>}}``."""
    v = encode_varint(dim)
    bytes_list_len = 1 + len(v) + dim
    feature_len = 1 + len(encode_varint(bytes_list_len)) + bytes_list_len
    return (
        b"\x0a" + encode_varint(feature_len) + b"\x0a" + encode_varint(bytes_list_len) + b"\x0a" + v
    )


def frames_feature_list(frames: np.ndarray, dim: int) -> bytes:
    """The body of a ``FeatureList`` of uint8 [T, dim] frames, one ``Feature`` a frame."""
    h = np.frombuffer(frame_header(dim), np.uint8)
    out = np.empty((frames.shape[0], len(h) + dim), np.uint8)
    out[:, : len(h)] = h
    out[:, len(h) :] = frames
    return out.tobytes()


# =========================================================================== reading: the general
# walk


def read_varint(buf, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos``: (value, position after it). At most 10 bytes and 64 bits."""
    result = shift = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if result >> 64:  # a 10th byte above 1 (upb would silently drop the high bits)
                raise PayloadError("malformed protobuf: varint of more than 64 bits")
            return result, pos
        shift += 7
        if shift > 63:
            raise PayloadError("malformed protobuf: varint longer than 10 bytes")
    raise PayloadError("malformed protobuf: varint runs past the end of its message")


def read_tag(buf, pos: int, end: int) -> tuple[int, int]:
    """A field's tag at ``pos``: (tag, position after it). As protobuf: at most 5 bytes, a
    32-bit value, field number >= 1."""
    tag, after = read_varint(buf, pos, end)
    if after - pos > 5 or tag >> 32 or tag < 8:
        raise PayloadError(
            f"malformed protobuf: invalid tag {tag} (field number {tag >> 3}, {after - pos} bytes)"
        )
    return tag, after


def read_length(buf, pos: int, end: int) -> tuple[int, int]:
    """A length-delimited field's length at ``pos``: (length, position after it). As protobuf:
    at most 5 bytes, below 2^31."""
    n, after = read_varint(buf, pos, end)
    if after - pos > 5 or n >> 31:
        raise PayloadError(f"malformed protobuf: invalid length {n} ({after - pos} bytes)")
    return n, after


def skip_field(buf, pos: int, end: int) -> int:
    """Skip one field (tag and value) of any wire type; returns the position after it. Groups
    (wire types 3 and 4, deprecated; never in a ``tf.train.Example``) are refused."""
    tag, pos = read_tag(buf, pos, end)
    wire_type = tag & 7
    if wire_type == 0:
        _, pos = read_varint(buf, pos, end)
    elif wire_type == 1:
        pos += 8
    elif wire_type == 2:
        n, pos = read_length(buf, pos, end)
        pos += n
    elif wire_type == 5:
        pos += 4
    else:
        raise PayloadError(f"malformed protobuf: wire type {wire_type} (field {tag >> 3})")
    if pos > end:
        raise PayloadError("malformed protobuf: a field runs past the end of its message")
    return pos


def iter_fields(buf, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield ``(tag, begin, stop)`` for each length-delimited field of a message body; other wire
    types are skipped."""
    while pos < end:
        tag = buf[pos]
        if tag < 0x80 and tag & 7 == 2 and tag > 7:  # a one-byte tag: the common case, inline
            n = buf[pos + 1] if pos + 1 < end else 0x80
            pos += 2
            if n >= 0x80:
                n, pos = read_length(buf, pos - 1, end)
            stop = pos + n
            if stop > end:
                raise PayloadError("malformed protobuf: a field runs past the end of its message")
            yield tag, pos, stop
            pos = stop
        else:
            tag, value_at = read_tag(buf, pos, end)
            if tag & 7 == 2:
                n, value_at = read_length(buf, value_at, end)
                if value_at + n > end:
                    raise PayloadError(
                        "malformed protobuf: a field runs past the end of its message"
                    )
                yield tag, value_at, value_at + n
                pos = value_at + n
            else:
                pos = skip_field(buf, pos, end)


# A message is read from one span ``(begin, stop)`` of the buffer or, where protobuf merges
# several occurrences of an embedded message field (the value of a map entry given twice, a
# Feature's list given twice), from a list of spans: parsing the pieces in order is parsing
# their concatenation, which is how protobuf merges.


def _pieces(span) -> list:
    return [span] if isinstance(span, tuple) else span


def _iter_pieces(buf, span) -> Iterator[tuple[int, int, int]]:
    for b, e in _pieces(span):
        yield from iter_fields(buf, b, e)


def read_map(buf, pos: int, end: int, out: dict) -> dict:
    """Add the entries of a ``map<string, Message>`` body (``Features`` or ``FeatureLists``) to
    ``out``: key bytes -> the value message (a span, or a list of spans where the entry gives its
    value more than once: merged); the last entry of a key wins, as in protobuf."""
    for tag, entry_at, entry_end in iter_fields(buf, pos, end):
        if tag != 0x0A:
            continue
        key = b""
        values = []
        for t, b, e in iter_fields(buf, entry_at, entry_end):
            if t == 0x0A:
                key = buf[b:e]
            elif t == 0x12:
                values.append((b, e))
        out[key] = values[0] if len(values) == 1 else values  # [] : the default (empty) value
    return out


def context_features(buf, begin: int, end: int) -> dict:
    """The ``Features`` map of an ``Example``, or the context of a ``SequenceExample`` (field 1,
    every occurrence merged): key bytes -> (begin, stop) of its ``Feature``."""
    feats: dict = {}
    for tag, b, e in iter_fields(buf, begin, end):
        if tag == 0x0A:
            read_map(buf, b, e, feats)
    return feats


def _feature_list(buf, span, name: str, want: int) -> list:
    """The pieces of a Feature's list of kind ``want`` (the oneof: a list of another kind given
    later replaces it; the same kind given again is merged into it, as in protobuf)."""
    kind, pieces = None, []
    for t, lb, le in _iter_pieces(buf, span):
        if t in LIST_KINDS:
            if t != kind:
                kind, pieces = t, []
            pieces.append((lb, le))
    if kind is None:
        raise PayloadError(f"feature {name!r} is empty (no bytes_list, float_list or int64_list)")
    if kind != want:
        raise PayloadError(
            f"feature {name!r} has the wrong type: {LIST_KINDS[kind]}, expected {LIST_KINDS[want]}"
        )
    return pieces


def read_floats(buf, span, name: str, dim: int | None = None) -> np.ndarray:
    """A float ``Feature`` -> float32 [n] (of ``dim`` values, when given)."""
    runs = [_floats(buf, b, e, name) for b, e in _feature_list(buf, span, name, FLOAT_LIST)]
    out = runs[0] if len(runs) == 1 else np.concatenate(runs)
    if dim is not None and out.shape[0] != dim:
        raise PayloadError(f"feature {name!r} has {out.shape[0]} values, expected {dim}")
    return out


def _floats(buf, b: int, e: int, name: str) -> np.ndarray:
    """One FloatList body -> float32 [n]."""
    if b == e:
        return np.empty(0, np.float32)
    n, p = read_length(buf, b + 1, e) if buf[b] == 0x0A else (-1, b)
    if buf[b] == 0x0A and p + n == e and n % 4 == 0:  # one packed run: the canonical layout
        return np.frombuffer(buf, "<f4", n // 4, p).astype(np.float32)
    return _unpacked_floats(buf, b, e, name)


def _list_tag(buf, pos: int, end: int) -> tuple[int, int]:
    """The tag of a field in a list body: (tag, position after it); one byte inline."""
    tag = buf[pos]
    return (tag, pos + 1) if 7 < tag < 0x80 else read_tag(buf, pos, end)


def _unpacked_floats(buf, pos: int, end: int, name: str) -> np.ndarray:
    """A FloatList body of unpacked values or several packed runs -> float32 [n]."""
    runs = []
    while pos < end:
        tag, p = _list_tag(buf, pos, end)
        if tag == 0x0D:  # one fixed32 value
            runs.append(buf[p : p + 4])
            pos = p + 4
        elif tag == 0x0A:  # a packed run
            n, p = read_length(buf, p, end)
            if n % 4:
                raise PayloadError(f"feature {name!r}: packed float list of {n} bytes")
            runs.append(buf[p : p + n])
            pos = p + n
        else:
            pos = skip_field(buf, pos, end)
    if pos > end:
        raise PayloadError(f"feature {name!r}: malformed float list")
    return np.frombuffer(b"".join(runs), "<f4").astype(np.float32)


def read_int64s(buf, span, name: str) -> np.ndarray:
    """An int64 ``Feature`` (packed or not) -> int64 [n]."""
    vals = []
    for b, e in _feature_list(buf, span, name, INT64_LIST):
        pos = b
        while pos < e:
            tag, p = _list_tag(buf, pos, e)
            if tag == 0x0A:  # packed
                n, p = read_length(buf, p, e)
                stop = p + n
                if stop > e:
                    raise PayloadError(f"feature {name!r}: malformed int64 list")
                while p < stop:
                    v = buf[p]
                    if v < 0x80:
                        p += 1
                    else:
                        v, p = read_varint(buf, p, stop)
                    vals.append(v)
                pos = stop
            elif tag == 0x08:  # unpacked
                v, pos = read_varint(buf, p, e)
                vals.append(v)
            else:
                pos = skip_field(buf, pos, e)
    return np.array(vals, dtype=np.uint64).view(np.int64) if vals else np.empty(0, np.int64)


def read_bytes_values(buf, span, name: str) -> list[tuple[int, int]]:
    """A bytes ``Feature`` -> the (begin, stop) of each of its values."""
    pieces = _feature_list(buf, span, name, BYTES_LIST)
    return [(vb, ve) for t, vb, ve in _iter_pieces(buf, pieces) if t == 0x0A]


_FRAME_HEADERS: dict[int, np.ndarray] = {}  # dim -> frame_header(dim) as uint8


def read_frames(buf, span, name: str, dim: int) -> np.ndarray:
    """A FeatureList of 1-value BytesLists of ``dim`` bytes -> uint8 [T, dim]."""
    h = _FRAME_HEADERS.get(dim)
    if h is None:
        h = _FRAME_HEADERS[dim] = np.frombuffer(frame_header(dim), np.uint8)
    stride = len(h) + dim
    if isinstance(span, tuple):
        b, e = span
        n = e - b
        if n and n % stride == 0:  # the constant stride of every serializer: one strided view
            view = np.frombuffer(buf, np.uint8, n, b).reshape(n // stride, stride)
            if (view[:, : len(h)] == h).all():
                return view[:, len(h) :].copy()
    rows = []  # any other valid encoding
    for t, fb, fe in _iter_pieces(buf, span):
        if t != 0x0A:
            continue
        vals = read_bytes_values(buf, (fb, fe), name)
        if len(vals) != 1:
            raise PayloadError(
                f"feature list {name!r}: frame {len(rows)} has {len(vals)} values, expected 1"
            )
        vb, ve = vals[0]
        if ve - vb != dim:
            raise PayloadError(
                f"feature list {name!r}: frame {len(rows)} has {ve - vb} bytes, expected {dim}"
            )
        rows.append(buf[vb:ve])
    return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), dim).copy()


# =========================================================================== the canonical
# video-level Example


def _float_feature_header(dim: int) -> bytes:
    """The constant prefix of a canonical ``Feature{float_list{value: <dim packed floats>}}``."""
    v = encode_varint(4 * dim)
    return b"\x12" + encode_varint(1 + len(v) + 4 * dim) + b"\x0a" + v


_RGB_HEADER = _float_feature_header(RGB_DIM)
_AUDIO_HEADER = _float_feature_header(AUDIO_DIM)
_RGB_FEATURE_LEN = len(_RGB_HEADER) + 4 * RGB_DIM
_AUDIO_FEATURE_LEN = len(_AUDIO_HEADER) + 4 * AUDIO_DIM


def _length_at(buf, at: int, end: int) -> tuple[int, int]:
    """A length varint of one or two bytes read inline (longer ones by :func:`read_length`)."""
    n = buf[at]
    if n < 0x80:
        return n, at + 1
    m = buf[at + 1]
    if m < 0x80:
        return (n & 0x7F) | (m << 7), at + 2
    return read_length(buf, at, end)


def parse_canonical_video(buf, b: int, e: int):  # noqa: C901  (hot path: one flat pass a record)
    """The canonical video-level Example, walked flat: ``(id, labels list, rgb offset, audio
    offset)``, or None for anything else (then the general parser decides, and raises the
    precise error). Canonical = one ``features`` field, map entries ``key`` then ``value``,
    each list packed once; the map keys in any order."""
    if buf[b] != 0x0A:
        return None
    n, p = buf[b + 1], b + 2
    if n >= 0x80:
        n, p = read_length(buf, b + 1, e)
    if p + n != e:
        return None
    feats = {}
    while p < e:  # the map entries: 0x0a len (0x0a key_len key) (0x12 value_len value)
        if buf[p] != 0x0A:
            return None
        n, p = _length_at(buf, p + 1, e)
        entry_end = p + n
        key_len = buf[p + 1]
        if buf[p] != 0x0A or key_len >= 0x80:
            return None
        key_end = p + 2 + key_len
        if buf[key_end] != 0x12:
            return None
        value_len, value_at = _length_at(buf, key_end + 1, entry_end)
        if value_at + value_len != entry_end:
            return None
        feats[buf[p + 2 : key_end]] = (value_at, entry_end)
        p = entry_end
    if p != e:
        return None
    if b"segment_labels" in feats or b"segment_start_times" in feats or b"segment_scores" in feats:
        return None  # the 2019 segment fields: read (and checked) by the general path
    try:
        rgb_at, rgb_end = feats[b"mean_rgb"]
        audio_at, audio_end = feats[b"mean_audio"]
        labels_at, labels_end = feats[b"labels"]
        id_at, id_end = feats[b"id"] if b"id" in feats else feats[b"video_id"]
    except KeyError:
        return None
    if (
        rgb_end - rgb_at != _RGB_FEATURE_LEN
        or buf[rgb_at : rgb_at + len(_RGB_HEADER)] != _RGB_HEADER
    ):
        return None
    if (
        audio_end - audio_at != _AUDIO_FEATURE_LEN
        or buf[audio_at : audio_at + len(_AUDIO_HEADER)] != _AUDIO_HEADER
    ):
        return None
    vid = _canonical_id(buf, id_at, id_end)
    if vid is None:
        return None
    labels = _canonical_labels(buf, labels_at, labels_end)
    if labels is None:
        return None
    try:
        vid = vid.decode()
    except UnicodeDecodeError:
        return None
    return vid, labels, rgb_at + len(_RGB_HEADER), audio_at + len(_AUDIO_HEADER)


def _canonical_id(buf, b: int, e: int) -> bytes | None:
    """``Feature{bytes_list{value}}`` = 0x0a L1 0x0a L2 <id>, L1 = L2 + 2 (ids are short):
    the id's bytes."""
    if e - b < 4 or buf[b] != 0x0A or buf[b + 2] != 0x0A:
        return None
    id_len = buf[b + 3]
    if id_len >= 0x80 or b + 4 + id_len != e or buf[b + 1] != id_len + 2:
        return None
    return buf[b + 4 : e]


def _canonical_labels(buf, b: int, e: int) -> list | None:
    """``Feature{int64_list{packed}}`` = 0x1a L1 [0x0a L2 <varints>] -> the label list."""
    if buf[b] != 0x1A:
        return None
    labels = []
    if e - b > 2:
        p = b + 2
        if buf[b + 1] >= 0x80 or buf[p] != 0x0A:
            return None
        n = buf[p + 1]
        p += 2
        if n >= 0x80:
            n, p = read_length(buf, p - 1, e)
        if p + n != e:
            return None
        while p < e:
            v = buf[p]
            if v < 0x80:
                p += 1
            else:
                m = buf[p + 1]
                if m < 0x80:
                    v = (v & 0x7F) | (m << 7)
                    p += 2
                else:
                    v, p = read_varint(buf, p, e)
                    if v >= 1 << 63:
                        return None
            labels.append(v)
        if p != e:
            return None
    elif e - b != 2 or buf[b + 1] != 0:
        return None
    return labels


def _short_varints(u8: np.ndarray, at: np.ndarray):
    """Vectorized varints of at most 3 bytes at positions ``at``: (value, next position, ok)."""
    last = len(u8) - 1
    b0 = u8[np.minimum(at, last)].astype(np.int64)
    b1 = u8[np.minimum(at + 1, last)].astype(np.int64)
    b2 = u8[np.minimum(at + 2, last)].astype(np.int64)
    one = b0 < 0x80
    two = ~one & (b1 < 0x80)
    three = ~one & ~two & (b2 < 0x80)
    val = np.where(
        one,
        b0,
        np.where(two, (b0 & 0x7F) | (b1 << 7), (b0 & 0x7F) | ((b1 & 0x7F) << 7) | (b2 << 14)),
    )
    return val, at + np.where(one, 1, np.where(two, 2, 3)), one | two | three


class VideoSpans(NamedTuple):
    """What :func:`walk_canonical_videos` finds in B records (int64 [B] each): ``ok`` (bool: the
    record has the canonical layout), the id's bytes ``[id_at, id_end)``, the packed label
    varints ``[labels_at, labels_end)``, the offsets of the mean_rgb and mean_audio floats."""

    ok: np.ndarray
    id_at: np.ndarray
    id_end: np.ndarray
    labels_at: np.ndarray
    labels_end: np.ndarray
    rgb_at: np.ndarray
    audio_at: np.ndarray


_VIDEO_KEYS = (b"id", b"video_id", b"labels", b"mean_rgb", b"mean_audio")
_KEY_PROBE = np.arange(max(map(len, _VIDEO_KEYS)))  # offsets of a map key's bytes compared at once


def walk_canonical_videos(buf, begins: np.ndarray, ends: np.ndarray) -> VideoSpans:
    """Walk B canonical video-level Examples of one buffer at once, with numpy (one step per map
    entry for all records together): their :class:`VideoSpans` (the records not ``ok`` go to
    the general parser)."""
    u8 = np.frombuffer(buf, np.uint8)
    last = len(u8) - 1

    def byte(at):  # the bytes at positions `at` (clamped to the buffer: `ok` rules those out)
        return u8[np.minimum(at, last)]

    n = len(begins)
    ok = u8[begins] == 0x0A
    body_len, pos, short = _short_varints(u8, begins + 1)
    ok &= short & (pos + body_len == ends)
    spans = {k: (np.full(n, -1, np.int64), np.full(n, -1, np.int64)) for k in _VIDEO_KEYS}
    keys = {k: np.frombuffer(k, np.uint8) for k in _VIDEO_KEYS}
    for _ in range(16):  # one map entry of every record a step
        active = ok & (pos < ends)
        if not active.any():
            break
        entry_len, key_tag_at, short_entry = _short_varints(u8, pos + 1)
        entry_end = key_tag_at + entry_len
        key_len = byte(key_tag_at + 1).astype(np.int64)
        key_at = key_tag_at + 2
        value_len, value_at, short_value = _short_varints(u8, key_at + key_len + 1)
        good = (
            (byte(pos) == 0x0A)
            & short_entry
            & (byte(key_tag_at) == 0x0A)
            & (key_len < 0x80)
            & (byte(key_at + key_len) == 0x12)
            & short_value
            & (value_at + value_len == entry_end)
            & (entry_end <= ends)
        )
        ok &= ~active | good
        active &= good
        key_bytes = byte(key_at[:, None] + _KEY_PROBE)
        for k, kb in keys.items():
            m = active & (key_len == len(kb)) & (key_bytes[:, : len(kb)] == kb).all(1)
            spans[k][0][m] = value_at[m]
            spans[k][1][m] = entry_end[m]
        pos = np.where(active, entry_end, pos)
    ok &= pos == ends
    id_at, id_end = spans[b"id"]
    use17 = id_at < 0
    id_at, id_end = (
        np.where(use17, spans[b"video_id"][0], id_at),
        np.where(use17, spans[b"video_id"][1], id_end),
    )
    labels_at, labels_end = spans[b"labels"]
    rgb_at, rgb_end = spans[b"mean_rgb"]
    audio_at, audio_end = spans[b"mean_audio"]
    ok &= (id_at >= 0) & (labels_at >= 0) & (rgb_at >= 0) & (audio_at >= 0)
    for at, end, header, length in (
        (rgb_at, rgb_end, _RGB_HEADER, _RGB_FEATURE_LEN),
        (audio_at, audio_end, _AUDIO_HEADER, _AUDIO_FEATURE_LEN),
    ):
        h = np.frombuffer(header, np.uint8)
        ok &= (end - at == length) & (byte(at[:, None] + np.arange(len(h))) == h).all(1)
    # id: 0x0a L1 0x0a L2 <id>
    id_len = byte(id_at + 3).astype(np.int64)
    ok &= (
        (byte(id_at) == 0x0A)
        & (byte(id_at + 2) == 0x0A)
        & (id_len < 0x80)
        & (byte(id_at + 1) == id_len + 2)
        & (id_at + 4 + id_len == id_end)
    )
    # labels: 0x1a 0x00, or 0x1a L1 0x0a L2 <varints>
    empty = (labels_end - labels_at == 2) & (byte(labels_at + 1) == 0)
    list_len, list_at, short_list = _short_varints(u8, labels_at + 1)
    packed_len, packed_at, short_packed = _short_varints(u8, list_at + 1)
    full = (
        short_list
        & (list_at + list_len == labels_end)
        & (byte(list_at) == 0x0A)
        & short_packed
        & (packed_at + packed_len == labels_end)
    )
    ok &= (byte(labels_at) == 0x1A) & (empty | full)
    return VideoSpans(
        ok,
        id_at + 4,
        id_end,
        np.where(empty, labels_end, packed_at),
        labels_end,
        rgb_at + len(_RGB_HEADER),
        audio_at + len(_AUDIO_HEADER),
    )


def decode_varints(data: bytes, counts_from: np.ndarray):
    """All varints in ``data`` (int64, two's complement for negatives) and, for the
    consecutive spans starting at ``counts_from`` (with ``len(data)`` as the last end), how
    many varints each holds; None if a span does not end on a varint boundary."""
    a = np.frombuffer(data, np.uint8)
    if a.size == 0:
        return np.zeros(0, np.int64), np.zeros(len(counts_from) - 1, np.int64)
    last_byte = a < 0x80
    ends_before = np.concatenate(([0], np.cumsum(last_byte)))  # varints ended before each byte
    bounds = counts_from[1:]
    nonempty = bounds > counts_from[:-1]
    if not last_byte[bounds[nonempty] - 1].all():
        return None
    ends = np.flatnonzero(last_byte)
    starts = np.concatenate(([0], ends[:-1] + 1))
    if (ends - starts).max() > 9:
        return None
    tenth = ends - starts == 9  # a 10-byte varint holds 64 bits only if its last byte is 0 or 1
    if tenth.any() and (a[ends[tenth]] > 1).any():
        return None  # the general walk raises the precise error (read_varint)
    pos = np.arange(a.size) - np.repeat(starts, ends - starts + 1)
    contrib = (a & 0x7F).astype(np.uint64) << (7 * pos).astype(np.uint64)
    vals = np.add.reduceat(contrib, starts).view(np.int64)
    return vals, ends_before[counts_from[1:]] - ends_before[counts_from[:-1]]


def gather_rows(u8: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes at each offset ``at`` of ``u8``, gathered in one copy: [k, width]."""
    if not len(at):
        return np.zeros((0, width), np.uint8)
    return np.lib.stride_tricks.sliding_window_view(u8, width)[at]


def gather_spans(u8: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The bytes of the spans ``[starts[i], stops[i])`` of ``u8`` joined (one gather), and the
    bounds of each span in the result (int64 [k+1])."""
    lens = stops - starts
    bounds = np.zeros(len(lens) + 1, np.int64)
    np.cumsum(lens, out=bounds[1:])
    idx = np.arange(bounds[-1], dtype=np.int64) + np.repeat(starts - bounds[:-1], lens)
    return u8[idx].tobytes(), bounds
