"""YouTube-8M records: ``tf.train.Example`` / ``SequenceExample`` parsing and writing, schemas,
file patterns, sharding over DataLoader workers and DDP ranks, (de)quantization, ``inspect``.

Schemas (2017 / 2018 / 2019 releases), one dict per video::

    id                   str         from feature `id` (2018, 2019) or `video_id` (2017)
    labels               int64 [L]   L >= 0
    video-level (Example):
      mean_rgb           float32 [1024]
      mean_audio         float32 [128]
    frame-level (SequenceExample; context: id, labels; feature lists, one bytes value a frame):
      rgb                uint8 [T, 1024]    1 <= T <= 300
      audio              uint8 [T, 128]
    where present (2019 validate/test, context features):
      segment_labels       int64 [S]
      segment_start_times  int64 [S]
      segment_scores       float32 [S]

Why a hand-written protobuf wire-format walker, not ``tfrecord``'s parser or protobuf objects
(measured: ``benchmarks/io_read.py``, 2 shared cores, CRCs checked by afkit and TensorFlow only;
videos per CPU-second, the steadier number on a shared machine; the wall-clock table is in the
README): frame-level (150 frames) afkit ~18,000, TensorFlow ~4,400 (per-record
``parse_single_sequence_example``), protobuf (upb) ~7,600, ``tfrecord`` ~2,500; video-level
afkit ``read_video_batches`` ~170,000 and ``read_records`` ~140,000, TensorFlow (batched
``parse_example``) ~173,000, protobuf ~97,000, ``tfrecord`` ~74,000. The reasons:

- a record is walked in place (varint / length-delimited fields); no message object is built;
- the frames of a feature list are laid out by TensorFlow (and every protobuf serializer) with a
  constant stride (a 9-byte ``Feature{BytesList{value}}`` header, then the 1024 bytes), so they
  are taken as one strided numpy view, the headers checked in one vectorized comparison and the
  frames copied out in one go -- where ``tfrecord`` and protobuf build a Python ``bytes`` object
  per frame (up to 300 per video) plus message objects;
- video-level: the packed floats are one ``np.frombuffer`` each, and :func:`read_video_batches`
  walks thousands of records at once with numpy (one vectorized step per map entry), decodes all
  their label varints in one pass and gathers the floats of a batch in one copy.

Any other valid encoding (unpacked lists, other key orders, unknown fields, non-minimal
varints) takes the general (slower, still exact) path.

Writing hand-encodes the same wire format with map keys in sorted order: the bytes equal
protobuf's deterministic serialization (``SerializeToString(deterministic=True)``; tested), and
TensorFlow reads them back identically (``tests/make_tf_fixtures.py``; tested against its
committed output).

Traps of the ``tfrecord`` package that afkit does not inherit: CRCs are checked; every array
returned owns its memory (writable, no reused buffer); sharding splits the global record list
into disjoint contiguous ranges (no duplication across workers, no random start); counts are
exact (:func:`count_records`, ``len(RecordDataset)``); an empty feature (a video with no labels)
is an empty array, never an IndexError.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from afkit import tfrecord as _tfr
from afkit.tfrecord import CorruptRecordError, ReadStats

__all__ = [
    "read_records",
    "write_records",
    "dequantize",
    "quantize",
    "parse_record",
    "encode_record",
    "expand_pattern",
    "count_records",
    "Shard",
    "shard_plan",
    "read_shards",
    "read_video_batches",
    "RecordDataset",
    "InvalidRecordError",
    "inspect_main",
    "MAX_FRAMES",
    "RGB_DIM",
    "AUDIO_DIM",
]

RGB_DIM = 1024
AUDIO_DIM = 128
MAX_FRAMES = 300
SEGMENT_KEYS = ("segment_labels", "segment_start_times", "segment_scores")


class InvalidRecordError(CorruptRecordError):
    """A record whose checksums are fine but whose content breaks the YouTube-8M schema
    (a missing feature, a wrong length or type, a label outside the vocabulary). A subclass of
    :class:`~afkit.tfrecord.CorruptRecordError`: same message format (file, record, offset)."""


class _Bad(Exception):
    """Internal: a schema/wire error in one record, before the file context is known."""


# =========================================================================== (de)quantization

_Q_SCALE = np.float32(4.0 / 255.0)
_Q_BIAS = np.float32(4.0 / 512.0 - 2.0)


def dequantize(q, max_quantized_value: float = 2.0, min_quantized_value: float = -2.0) -> np.ndarray:
    """``x = q * (max - min) / 255 + (max - min) / 512 + min``; with the defaults
    ``x = q * 4/255 + (4/512 - 2)``, i.e. the 256 codes spread over [-2, 2].

    The starter code's ``utils.Dequantize`` (google/youtube-8m), computed as it is there: in
    float32, with float32 constants. ``q``: uint8 array (any shape); returns float32, same shape.
    """
    rng = max_quantized_value - min_quantized_value
    scale = np.float32(rng / 255.0)
    bias = np.float32(rng / 512.0 + min_quantized_value)
    return np.asarray(q).astype(np.float32) * scale + bias


def quantize(x, max_quantized_value: float = 2.0, min_quantized_value: float = -2.0) -> np.ndarray:
    """``q = clip(round((x - bias) / scale), 0, 255)`` as uint8: the inverse of :func:`dequantize`
    (``dequantize(quantize(x))`` is within ``scale / 2 = 2/255`` of ``clip(x, -2, 2)``, and
    ``quantize(dequantize(q)) == q`` exactly)."""
    rng = max_quantized_value - min_quantized_value
    scale = rng / 255.0
    bias = rng / 512.0 + min_quantized_value
    q = np.rint((np.asarray(x, dtype=np.float64) - bias) / scale)
    return np.clip(q, 0, 255).astype(np.uint8)


# =========================================================================== wire format: writing


def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # int64 two's complement, as protobuf encodes negative int64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


def _feature_bytes(values: Sequence[bytes]) -> bytes:
    return _ld(0x0A, b"".join(_ld(0x0A, bytes(v)) for v in values))


def _feature_float(values) -> bytes:
    a = np.ascontiguousarray(values, dtype="<f4").ravel()
    return _ld(0x12, _ld(0x0A, a.tobytes()) if a.size else b"")


def _feature_int64(values) -> bytes:
    a = np.asarray(values, dtype=np.int64).ravel()
    return _ld(0x1A, _ld(0x0A, b"".join(_varint(int(v)) for v in a)) if a.size else b"")


def _features(entries: dict[str, bytes]) -> bytes:
    return b"".join(_ld(0x0A, _ld(0x0A, k.encode()) + _ld(0x12, entries[k])) for k in sorted(entries))


def _frame_header(dim: int) -> bytes:
    """The constant prefix of one frame, ``Feature{bytes_list{value: <dim bytes>}}``."""
    v = _varint(dim)
    l2 = 1 + len(v) + dim
    l1 = 1 + len(_varint(l2)) + l2
    return b"\x0a" + _varint(l1) + b"\x0a" + _varint(l2) + b"\x0a" + v


def _feature_list_frames(frames: np.ndarray, dim: int) -> bytes:
    h = np.frombuffer(_frame_header(dim), np.uint8)
    out = np.empty((frames.shape[0], len(h) + dim), np.uint8)
    out[:, : len(h)] = h
    out[:, len(h):] = frames
    return out.tobytes()


def _check_frames(rec: dict, key: str, dim: int) -> np.ndarray:
    a = np.asarray(rec[key])
    if a.dtype != np.uint8 or a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(f"{key!r} must be uint8 [T, {dim}] (quantized; see afkit.quantize), "
                         f"got {a.dtype} {list(a.shape)}")
    if not 1 <= a.shape[0] <= MAX_FRAMES:
        raise ValueError(f"{key!r} has {a.shape[0]} frames; YouTube-8M has 1..{MAX_FRAMES}")
    return a


def encode_record(rec: dict, *, id_key: str = "id") -> bytes:
    """Serialize one video dict (the :func:`read_records` layout) to a ``tf.train.Example``
    (video-level) or, when it has ``rgb``, a ``tf.train.SequenceExample`` (frame-level).
    ``id_key="video_id"`` writes the 2017 schema."""
    missing = [k for k in ("id", "labels") if k not in rec]
    if missing:
        raise ValueError(f"record lacks {missing} (keys: {sorted(rec)})")
    vid = rec["id"]
    vid = bytes(vid) if isinstance(vid, (bytes, bytearray)) else str(vid).encode()
    ctx = {id_key: _feature_bytes([vid]), "labels": _feature_int64(rec["labels"])}
    if "segment_labels" in rec or "segment_start_times" in rec or "segment_scores" in rec:
        n = {k: len(np.ravel(rec.get(k, ()))) for k in SEGMENT_KEYS}
        if len(set(n.values())) != 1:
            raise ValueError(f"segment fields must have equal lengths, got {n}")
        ctx["segment_labels"] = _feature_int64(rec["segment_labels"])
        ctx["segment_start_times"] = _feature_int64(rec["segment_start_times"])
        ctx["segment_scores"] = _feature_float(rec["segment_scores"])
    if "rgb" in rec:
        rgb = _check_frames(rec, "rgb", RGB_DIM)
        audio = _check_frames(rec, "audio", AUDIO_DIM)
        if rgb.shape[0] != audio.shape[0]:
            raise ValueError(f"rgb has {rgb.shape[0]} frames, audio {audio.shape[0]}")
        lists = {"audio": _feature_list_frames(audio, AUDIO_DIM), "rgb": _feature_list_frames(rgb, RGB_DIM)}
        return _ld(0x0A, _features(ctx)) + _ld(0x12, _features(lists))
    for key, dim in (("mean_rgb", RGB_DIM), ("mean_audio", AUDIO_DIM)):
        if key not in rec:
            raise ValueError(f"video-level record lacks {key!r} (frame-level records need 'rgb')")
        a = np.asarray(rec[key], dtype=np.float32)
        if a.shape != (dim,):
            raise ValueError(f"{key!r} must be float32 [{dim}], got shape {list(a.shape)}")
        ctx[key] = _feature_float(a)
    return _ld(0x0A, _features(ctx))


def write_records(path, records: Iterable[dict], *, id_key: str = "id") -> int:
    """Write video dicts to one TFRecord file at ``path`` (atomically: a temp file renamed on
    success); returns the number written. Either schema, chosen per record by its keys (``rgb``
    means frame-level). ``id_key="video_id"`` writes the 2017 schema."""
    with _tfr.TFRecordWriter(path) as w:
        for rec in records:
            w.write(encode_record(rec, id_key=id_key))
    return w.count


# =========================================================================== wire format: reading


def _varint_at(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Bad("malformed protobuf: varint longer than 10 bytes")
    raise _Bad("malformed protobuf: varint runs past the end of its message")


def _skip_field(buf, pos: int, end: int) -> int:
    """Skip one field (tag and value) of any wire type; returns the position after it."""
    tag, pos = _varint_at(buf, pos, end)
    wt = tag & 7
    if wt == 0:
        _, pos = _varint_at(buf, pos, end)
    elif wt == 1:
        pos += 8
    elif wt == 2:
        n, pos = _varint_at(buf, pos, end)
        pos += n
    elif wt == 5:
        pos += 4
    else:
        raise _Bad(f"malformed protobuf: wire type {wt} (field {tag >> 3})")
    if pos > end:
        raise _Bad("malformed protobuf: a field runs past the end of its message")
    return pos


def _fields(buf, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Yield ``(tag, begin, stop)`` for each length-delimited field of a message body; other wire
    types are skipped."""
    while pos < end:
        tag = buf[pos]
        if tag < 0x80 and tag & 7 == 2:
            n = buf[pos + 1] if pos + 1 < end else 0x80
            pos += 2
            if n >= 0x80:
                n, pos = _varint_at(buf, pos - 1, end)
            stop = pos + n
            if stop > end:
                raise _Bad("malformed protobuf: a field runs past the end of its message")
            yield tag, pos, stop
            pos = stop
        else:
            tag, p2 = _varint_at(buf, pos, end)
            if tag & 7 == 2:
                n, p2 = _varint_at(buf, p2, end)
                if p2 + n > end:
                    raise _Bad("malformed protobuf: a field runs past the end of its message")
                yield tag, p2, p2 + n
                pos = p2 + n
            else:
                pos = _skip_field(buf, pos, end)


def _map(buf, pos: int, end: int, out: dict) -> dict:
    """Entries of a ``map<string, Message>`` body (``Features`` or ``FeatureLists``): key bytes
    -> (begin, stop) of the value message; the last occurrence of a key wins."""
    for tag, b, e in _fields(buf, pos, end):
        if tag != 0x0A:
            continue
        key = b""
        vb = ve = b
        for t, b2, e2 in _fields(buf, b, e):
            if t == 0x0A:
                key = buf[b2:e2]
            elif t == 0x12:
                vb, ve = b2, e2
        out[key] = (vb, ve)
    return out


_KIND = {0x0A: "bytes_list", 0x12: "float_list", 0x1A: "int64_list"}


def _feature(buf, span, name: str) -> tuple[int, int, int]:
    """The ``(tag, begin, stop)`` of a Feature's list (the oneof; last one wins)."""
    b, e = span
    kind = None
    for t, b2, e2 in _fields(buf, b, e):
        if t in _KIND:
            kind = (t, b2, e2)
    if kind is None:
        raise _Bad(f"feature {name!r} is empty (no bytes_list, float_list or int64_list)")
    return kind


def _expect(kind, want: int, name: str):
    if kind[0] != want:
        raise _Bad(f"feature {name!r} has the wrong type: {_KIND[kind[0]]}, expected {_KIND[want]}")


def _floats(buf, span, name: str, dim: int | None = None) -> np.ndarray:
    kind = _feature(buf, span, name)
    _expect(kind, 0x12, name)
    _, b, e = kind
    if b == e:
        out = np.empty(0, np.float32)
    else:
        n, p = _varint_at(buf, b + 1, e) if buf[b] == 0x0A else (-1, b)
        if buf[b] == 0x0A and p + n == e and n % 4 == 0:  # one packed run: the canonical layout
            out = np.frombuffer(buf, "<f4", n // 4, p).astype(np.float32)
        else:  # unpacked or several packed runs
            vals = []
            pos = b
            while pos < e:
                tag = buf[pos]
                if tag == 0x0D:
                    vals.append(buf[pos + 1:pos + 5])
                    pos += 5
                elif tag == 0x0A:
                    n, p = _varint_at(buf, pos + 1, e)
                    if n % 4:
                        raise _Bad(f"feature {name!r}: packed float list of {n} bytes")
                    vals.append(buf[p:p + n])
                    pos = p + n
                else:
                    pos = _skip_field(buf, pos, e)
            if pos > e:
                raise _Bad(f"feature {name!r}: malformed float list")
            out = np.frombuffer(b"".join(vals), "<f4").astype(np.float32)
    if dim is not None and out.shape[0] != dim:
        raise _Bad(f"feature {name!r} has {out.shape[0]} values, expected {dim}")
    return out


def _int64s(buf, span, name: str) -> np.ndarray:
    kind = _feature(buf, span, name)
    _expect(kind, 0x1A, name)
    _, b, e = kind
    vals = []
    pos = b
    while pos < e:
        tag = buf[pos]
        if tag == 0x0A:  # packed
            n, p = _varint_at(buf, pos + 1, e)
            stop = p + n
            if stop > e:
                raise _Bad(f"feature {name!r}: malformed int64 list")
            while p < stop:
                v = buf[p]
                if v < 0x80:
                    p += 1
                else:
                    v, p = _varint_at(buf, p, stop)
                vals.append(v)
            pos = stop
        elif tag == 0x08:  # unpacked
            v, pos = _varint_at(buf, pos + 1, e)
            vals.append(v)
        else:
            pos = _skip_field(buf, pos, e)
    out = np.array(vals, dtype=np.uint64).view(np.int64) if vals else np.empty(0, np.int64)
    return out


def _bytes_values(buf, span, name: str) -> list[tuple[int, int]]:
    kind = _feature(buf, span, name)
    _expect(kind, 0x0A, name)
    return [(b, e) for t, b, e in _fields(buf, kind[1], kind[2]) if t == 0x0A]


_HEADERS = {d: np.frombuffer(_frame_header(d), np.uint8) for d in (RGB_DIM, AUDIO_DIM)}


def _frames(buf, span, name: str, dim: int) -> np.ndarray:
    """A FeatureList of 1-value BytesLists of ``dim`` bytes -> uint8 [T, dim]."""
    b, e = span
    h = _HEADERS[dim]
    stride = len(h) + dim
    n = e - b
    if n and n % stride == 0:
        view = np.frombuffer(buf, np.uint8, n, b).reshape(n // stride, stride)
        if (view[:, : len(h)] == h).all():
            return view[:, len(h):].copy()
    # general path: any valid encoding
    rows = []
    for t, fb, fe in _fields(buf, b, e):
        if t != 0x0A:
            continue
        vals = _bytes_values(buf, (fb, fe), name)
        if len(vals) != 1:
            raise _Bad(f"feature list {name!r}: frame {len(rows)} has {len(vals)} values, expected 1")
        vb, ve = vals[0]
        if ve - vb != dim:
            raise _Bad(f"feature list {name!r}: frame {len(rows)} has {ve - vb} bytes, expected {dim}")
        rows.append(buf[vb:ve])
    return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), dim).copy()


def _context(buf, feats: dict, out: dict, num_classes: int | None) -> None:
    span = feats.get(b"id")
    if span is None:
        span = feats.get(b"video_id")
    if span is None:
        raise _Bad("missing feature 'id' (2018/2019) or 'video_id' (2017)")
    vals = _bytes_values(buf, span, "id")
    if len(vals) != 1:
        raise _Bad(f"feature 'id' has {len(vals)} values, expected 1")
    try:
        out["id"] = buf[vals[0][0]:vals[0][1]].decode()
    except UnicodeDecodeError:
        raise _Bad("feature 'id' is not UTF-8 text") from None
    span = feats.get(b"labels")
    if span is None:
        raise _Bad("missing feature 'labels'")
    labels = out["labels"] = _int64s(buf, span, "labels")
    if b"segment_labels" in feats or b"segment_start_times" in feats or b"segment_scores" in feats:
        for k in SEGMENT_KEYS:
            if k.encode() not in feats:
                raise _Bad(f"missing feature {k!r} (the other segment fields are present)")
        seg = out["segment_labels"] = _int64s(buf, feats[b"segment_labels"], "segment_labels")
        st = out["segment_start_times"] = _int64s(buf, feats[b"segment_start_times"], "segment_start_times")
        sc = out["segment_scores"] = _floats(buf, feats[b"segment_scores"], "segment_scores")
        if not len(seg) == len(st) == len(sc):
            raise _Bad(f"segment fields of unequal lengths: segment_labels {len(seg)}, "
                       f"segment_start_times {len(st)}, segment_scores {len(sc)}")
    else:
        seg = None
    if num_classes is not None:
        _check_vocab(labels, num_classes)
        if seg is not None:
            _check_vocab(seg, num_classes, "segment_labels")


def _float_header(dim: int) -> bytes:
    """The constant prefix of a canonical ``Feature{float_list{value: <dim packed floats>}}``."""
    v = _varint(4 * dim)
    return b"\x12" + _varint(1 + len(v) + 4 * dim) + b"\x0a" + v


_RGB_HDR = _float_header(RGB_DIM)
_AUDIO_HDR = _float_header(AUDIO_DIM)
_RGB_LEN = len(_RGB_HDR) + 4 * RGB_DIM
_AUDIO_LEN = len(_AUDIO_HDR) + 4 * AUDIO_DIM


def _video_fast(buf, b: int, e: int):
    """The canonical video-level Example, walked flat: ``(id, labels list, rgb offset, audio
    offset)``, or None for anything else (then the general parser decides, and raises the
    precise error). Canonical = one ``features`` field, map entries ``key`` then ``value``,
    each list packed once; the map keys in any order."""
    if buf[b] != 0x0A:
        return None
    n = buf[b + 1]
    p = b + 2
    if n >= 0x80:
        n, p = _varint_at(buf, b + 1, e)
    if p + n != e:
        return None
    feats = {}
    while p < e:
        if buf[p] != 0x0A:
            return None
        n = buf[p + 1]
        p += 2
        if n >= 0x80:
            m = buf[p]
            if m < 0x80:
                n = (n & 0x7F) | (m << 7)
                p += 1
            else:
                n, p = _varint_at(buf, p - 1, e)
        q = p + n
        kl = buf[p + 1]
        if buf[p] != 0x0A or kl >= 0x80:
            return None
        ke = p + 2 + kl
        if buf[ke] != 0x12:
            return None
        vl = buf[ke + 1]
        vb = ke + 2
        if vl >= 0x80:
            m = buf[vb]
            if m < 0x80:
                vl = (vl & 0x7F) | (m << 7)
                vb += 1
            else:
                vl, vb = _varint_at(buf, ke + 1, q)
        if vb + vl != q:
            return None
        feats[buf[p + 2:ke]] = (vb, q)
        p = q
    if p != e:
        return None
    try:
        rb, re_ = feats[b"mean_rgb"]
        ab, ae = feats[b"mean_audio"]
        lb, le = feats[b"labels"]
        ib, ie = feats[b"id"] if b"id" in feats else feats[b"video_id"]
    except KeyError:
        return None
    if re_ - rb != _RGB_LEN or buf[rb:rb + len(_RGB_HDR)] != _RGB_HDR:
        return None
    if ae - ab != _AUDIO_LEN or buf[ab:ab + len(_AUDIO_HDR)] != _AUDIO_HDR:
        return None
    # id: Feature{bytes_list{value}} = 0x0a L1 0x0a L2 <id>, L1 = L2 + 2, ids are short
    if ie - ib < 4 or buf[ib] != 0x0A or buf[ib + 2] != 0x0A:
        return None
    L2 = buf[ib + 3]
    if L2 >= 0x80 or ib + 4 + L2 != ie or buf[ib + 1] != L2 + 2:
        return None
    vid = buf[ib + 4:ie]
    # labels: Feature{int64_list{packed}} = 0x1a L1 [0x0a L2 <varints>]
    if buf[lb] != 0x1A:
        return None
    labels = []
    if le - lb > 2:
        n = buf[lb + 1]
        p = lb + 2
        if n >= 0x80 or buf[p] != 0x0A:
            return None
        n = buf[p + 1]
        p += 2
        if n >= 0x80:
            n, p = _varint_at(buf, p - 1, le)
        if p + n != le:
            return None
        while p < le:
            v = buf[p]
            if v < 0x80:
                p += 1
            else:
                m = buf[p + 1]
                if m < 0x80:
                    v = (v & 0x7F) | (m << 7)
                    p += 2
                else:
                    v, p = _varint_at(buf, p, le)
                    if v >= 1 << 63:
                        return None
            labels.append(v)
        if p != le:
            return None
    elif le - lb != 2 or buf[lb + 1] != 0:
        return None
    try:
        vid = vid.decode()
    except UnicodeDecodeError:
        return None
    return vid, labels, rb + len(_RGB_HDR), ab + len(_AUDIO_HDR)


def _check_vocab(labels: np.ndarray, num_classes: int, name: str = "labels") -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels[(labels < 0) | (labels >= num_classes)][0])
        raise _Bad(f"{name}: label {bad} outside the vocabulary [0, {num_classes})")


def _parse(buf, begin: int, end: int, num_classes: int | None, kind: str | None) -> dict:
    if kind != "frame":
        fast = _video_fast(buf, begin, end)
        if fast is not None:
            vid, labels, ro, ao = fast
            labels = np.array(labels, dtype=np.int64)
            if num_classes is not None:
                _check_vocab(labels, num_classes)
            return {"id": vid, "labels": labels,
                    "mean_rgb": np.frombuffer(buf, "<f4", RGB_DIM, ro).astype(np.float32),
                    "mean_audio": np.frombuffer(buf, "<f4", AUDIO_DIM, ao).astype(np.float32)}
    ctx_spans, list_spans = [], []
    for t, b, e in _fields(buf, begin, end):
        if t == 0x0A:
            ctx_spans.append((b, e))
        elif t == 0x12:
            list_spans.append((b, e))
    is_frame = bool(list_spans)
    if kind is not None and (kind == "frame") != is_frame:
        raise _Bad(f"a {'frame' if is_frame else 'video'}-level record in a {kind}-level file"
                   + ("" if is_frame else " (no feature lists 'rgb'/'audio')"))
    feats: dict = {}
    for b, e in ctx_spans:
        _map(buf, b, e, feats)
    out: dict = {}
    _context(buf, feats, out, num_classes)
    if is_frame:
        lists: dict = {}
        for b, e in list_spans:
            _map(buf, b, e, lists)
        for key, dim in (("rgb", RGB_DIM), ("audio", AUDIO_DIM)):
            span = lists.get(key.encode())
            if span is None:
                raise _Bad(f"missing feature list {key!r}")
            out[key] = _frames(buf, span, key, dim)
        t_rgb, t_audio = len(out["rgb"]), len(out["audio"])
        if t_rgb != t_audio:
            raise _Bad(f"'rgb' has {t_rgb} frames but 'audio' has {t_audio}")
        if not 1 <= t_rgb <= MAX_FRAMES:
            raise _Bad(f"{t_rgb} frames; YouTube-8M videos have 1..{MAX_FRAMES}")
    else:
        for key, dim in (("mean_rgb", RGB_DIM), ("mean_audio", AUDIO_DIM)):
            span = feats.get(key.encode())
            if span is None:
                raise _Bad(f"missing feature {key!r}" + ("" if kind == "video" else
                           " (the record has no feature lists, so it is read as a video-level Example)"))
            out[key] = _floats(buf, span, key, dim)
    return out


def parse_record(payload: bytes, *, num_classes: int | None = None) -> dict:
    """Parse one serialized ``Example`` / ``SequenceExample`` into the video dict (module
    docstring). Raises :class:`ValueError` on a schema violation."""
    payload = bytes(payload)
    try:
        return _parse(payload, 0, len(payload), num_classes, None)
    except (_Bad, IndexError) as e:
        raise ValueError(str(e) if isinstance(e, _Bad) else "malformed protobuf") from None


# =========================================================================== files, patterns


def _is_side_file(p: str) -> bool:
    name = os.path.basename(p)
    return name.endswith(".idx") or ".tmp-" in name


def expand_pattern(path_or_pattern) -> list[str]:
    """Files named by a path, a glob pattern (``data/video/train*.tfrecord``), a directory (its
    ``*.tfrecord`` files) or a list of those; sorted by name, duplicates removed; a pattern does
    not match afkit's ``<file>.idx`` indexes nor its ``.tmp-<pid>`` files being written. Raises
    ``FileNotFoundError`` when nothing matches."""
    items = [path_or_pattern] if isinstance(path_or_pattern, (str, os.PathLike)) else list(path_or_pattern)
    found: set[str] = set()
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            hits = glob.glob(os.path.join(glob.escape(item), "*.tfrecord"))
        elif glob.has_magic(item):  # not afkit's own index and temp files (`train*` matches them)
            hits = [p for p in glob.glob(item) if os.path.isfile(p) and not _is_side_file(p)]
        else:
            hits = [item] if os.path.isfile(item) else []
        if not hits:
            raise FileNotFoundError(f"no TFRecord files match {item!r}")
        found.update(hits)
    return sorted(found)


def count_records(path_or_pattern) -> int:
    """Exact number of records in a file set (each file's cached index)."""
    return sum(_tfr.count_records(p) for p in expand_pattern(path_or_pattern))


class RecordIterator:
    """What :func:`read_records` returns: an iterator of video dicts that also reports
    ``skipped`` (corrupt records skipped in ``skip_corrupt`` mode), ``errors`` (their messages)
    and ``stats`` (a :class:`~afkit.tfrecord.ReadStats`)."""

    def __init__(self, gen, stats: ReadStats):
        self._gen = gen
        self.stats = stats

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        return next(self._gen)

    @property
    def skipped(self) -> int:
        return self.stats.skipped

    @property
    def errors(self) -> list:
        return self.stats.errors


def _read_file(path, stats, *, verify, skip_corrupt, num_classes, allow_empty, start=0, stop=None):
    kind = None
    for buf, begin, length, rec, offset in _tfr.iter_spans(
            path, verify=verify, skip_corrupt=skip_corrupt, allow_empty=allow_empty,
            start=start, stop=stop, stats=stats):
        try:
            out = _parse(buf, begin, begin + length, num_classes, kind)
        except (_Bad, IndexError) as e:
            err = InvalidRecordError(path, rec, offset, str(e) if isinstance(e, _Bad) else "malformed protobuf")
            if not skip_corrupt:
                raise err from None
            stats.records -= 1
            stats.skip(err)
            continue
        if kind is None:
            kind = "frame" if "rgb" in out else "video"
        yield out


def read_records(path_or_pattern, *, verify: bool = True, skip_corrupt: bool = False,
                 num_classes: int | None = None, allow_empty: bool = False) -> RecordIterator:
    """Yield one dict per video (module docstring), files in sorted name order, records in file
    order.

    ``verify``: check both CRC32Cs of every record (default). ``skip_corrupt``: skip (and count,
    in ``.skipped``) corrupt or invalid records instead of raising :class:`CorruptRecordError`.
    ``num_classes``: check every label is in ``[0, num_classes)`` (None: no check).
    ``allow_empty``: read a 0-byte file as 0 records (TensorFlow's behaviour) instead of raising.
    """
    paths = expand_pattern(path_or_pattern)
    stats = ReadStats()

    def gen():
        for p in paths:
            yield from _read_file(p, stats, verify=verify, skip_corrupt=skip_corrupt,
                                  num_classes=num_classes, allow_empty=allow_empty)

    return RecordIterator(gen(), stats)


# =========================================================================== sharding


@dataclasses.dataclass(frozen=True)
class Shard:
    """Records ``[start, stop)`` of file ``path``."""

    path: str
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def shard_plan(path_or_pattern, *, rank: int = 0, world_size: int = 1, worker: int = 0,
               num_workers: int = 1) -> list[Shard]:
    """The part of a file set that DDP rank ``rank`` of ``world_size``, DataLoader worker
    ``worker`` of ``num_workers``, reads.

    The files' records, in order, form one global list of N (exact, from the indexes); part
    ``k = rank * num_workers + worker`` of ``K = world_size * num_workers`` is the contiguous
    range ``[k*N//K, (k+1)*N//K)``: the K parts are disjoint, cover every record once, differ in
    size by at most one, and each rank's workers together read one contiguous range (so a
    rank's records do not depend on ``num_workers``). Returned as per-file :class:`Shard`\\ s.
    """
    if not (0 <= rank < world_size and 0 <= worker < num_workers):
        raise ValueError(f"need 0 <= rank < world_size and 0 <= worker < num_workers, got rank={rank}, "
                         f"world_size={world_size}, worker={worker}, num_workers={num_workers}")
    paths = expand_pattern(path_or_pattern)
    counts = [_tfr.count_records(p) for p in paths]
    n = sum(counts)
    world_lo, world_hi = rank * n // world_size, (rank + 1) * n // world_size
    m = world_hi - world_lo
    lo = world_lo + worker * m // num_workers
    hi = world_lo + (worker + 1) * m // num_workers
    plan, first = [], 0
    for p, c in zip(paths, counts):
        a, b = max(lo, first), min(hi, first + c)
        if a < b:
            plan.append(Shard(p, a - first, b - first))
        first += c
    return plan


def read_shards(plan: Sequence[Shard], *, verify: bool = True, skip_corrupt: bool = False,
                num_classes: int | None = None) -> RecordIterator:
    """Read the records of a :func:`shard_plan`, in order (video dicts, as :func:`read_records`)."""
    stats = ReadStats()

    def gen():
        for s in plan:
            yield from _read_file(s.path, stats, verify=verify, skip_corrupt=skip_corrupt,
                                  num_classes=num_classes, allow_empty=False, start=s.start, stop=s.stop)

    return RecordIterator(gen(), stats)


def _torch_dataset_base():
    import torch.utils.data  # lazy: `import afkit.records` does not import torch

    return torch.utils.data.IterableDataset


_DATASET_DOC = """A ``torch.utils.data.IterableDataset`` of video dicts (numpy arrays; pass a ``transform``
    to turn them into tensors) over a file set, split with :func:`shard_plan` across the
    DataLoader's workers and the DDP ranks: no record is read twice, none is lost.

    ``rank`` / ``world_size`` default to ``torch.distributed``'s when it is initialized, else
    0 / 1. ``len()`` is this rank's exact record count. Order: file order within each worker;
    a DataLoader interleaves its workers' outputs. The class is created on first access of
    ``afkit.records.RecordDataset`` (a module ``__getattr__``), so that ``import afkit.records``
    does not import torch.
    """


def __getattr__(name: str):
    if name == "RecordDataset":
        return _real_record_dataset()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_REAL_DATASET = None


def _real_record_dataset():
    global _REAL_DATASET
    if _REAL_DATASET is not None:
        return _REAL_DATASET
    base = _torch_dataset_base()

    class _RecordDataset(base):
        __doc__ = _DATASET_DOC

        def __init__(self, path_or_pattern, *, verify: bool = True, skip_corrupt: bool = False,
                     num_classes: int | None = None, rank: int | None = None,
                     world_size: int | None = None, transform=None):
            super().__init__()
            self.paths = expand_pattern(path_or_pattern)
            self.verify, self.skip_corrupt, self.num_classes = verify, skip_corrupt, num_classes
            self.transform = transform
            if rank is None or world_size is None:
                import torch.distributed as dist

                ready = dist.is_available() and dist.is_initialized()
                rank = dist.get_rank() if ready else 0 if rank is None else rank
                world_size = dist.get_world_size() if ready else 1 if world_size is None else world_size
            self.rank, self.world_size = rank, world_size

        def plan(self, worker: int = 0, num_workers: int = 1) -> list[Shard]:
            return shard_plan(self.paths, rank=self.rank, world_size=self.world_size,
                              worker=worker, num_workers=num_workers)

        def __len__(self) -> int:
            return sum(len(s) for s in self.plan())

        def __iter__(self):
            import torch.utils.data

            info = torch.utils.data.get_worker_info()
            worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
            it = read_shards(self.plan(worker, num_workers), verify=self.verify,
                             skip_corrupt=self.skip_corrupt, num_classes=self.num_classes)
            for rec in it:
                yield rec if self.transform is None else self.transform(rec)

    _RecordDataset.__name__ = _RecordDataset.__qualname__ = "RecordDataset"
    _RecordDataset.__module__ = __name__
    _REAL_DATASET = _RecordDataset
    return _RecordDataset


# =========================================================================== batched video-level


def _vvarint(u8: np.ndarray, q: np.ndarray):
    """Vectorized varints of at most 3 bytes at positions ``q``: (value, next position, ok)."""
    hi = len(u8) - 1
    b0 = u8[np.minimum(q, hi)].astype(np.int64)
    b1 = u8[np.minimum(q + 1, hi)].astype(np.int64)
    b2 = u8[np.minimum(q + 2, hi)].astype(np.int64)
    one = b0 < 0x80
    two = ~one & (b1 < 0x80)
    three = ~one & ~two & (b2 < 0x80)
    val = np.where(one, b0, np.where(two, (b0 & 0x7F) | (b1 << 7), (b0 & 0x7F) | ((b1 & 0x7F) << 7) | (b2 << 14)))
    return val, q + np.where(one, 1, np.where(two, 2, 3)), one | two | three


_VEC_KEYS = (b"id", b"video_id", b"labels", b"mean_rgb", b"mean_audio")
_AR10 = np.arange(10)


def _video_vec(buf, begins: np.ndarray, ends: np.ndarray):
    """Walk B canonical video-level Examples of one buffer at once, with numpy (one step per map
    entry for all records together). Returns ``ok`` (bool [B]: the record has the canonical
    layout; the others go to the general parser) and, per record, the spans of the id bytes,
    of the packed label varints, and the offsets of the mean_rgb / mean_audio floats."""
    u8 = np.frombuffer(buf, np.uint8)
    hi = len(u8) - 1
    P, E = begins, ends
    n = len(P)
    ok = u8[P] == 0x0A
    tl, q, o = _vvarint(u8, P + 1)
    ok &= o & (q + tl == E)
    spans = {k: (np.full(n, -1, np.int64), np.full(n, -1, np.int64)) for k in _VEC_KEYS}
    keys = {k: np.frombuffer(k, np.uint8) for k in _VEC_KEYS}
    for _ in range(16):
        act = ok & (q < E)
        if not act.any():
            break
        t = u8[np.minimum(q, hi)] == 0x0A
        el, q1, o1 = _vvarint(u8, q + 1)
        ee = q1 + el
        kt = u8[np.minimum(q1, hi)] == 0x0A
        kl = u8[np.minimum(q1 + 1, hi)].astype(np.int64)
        ks = q1 + 2
        vt = u8[np.minimum(ks + kl, hi)] == 0x12
        vl, vb, o3 = _vvarint(u8, ks + kl + 1)
        good = t & o1 & kt & (kl < 0x80) & vt & o3 & (vb + vl == ee) & (ee <= E)
        ok &= ~act | good
        act &= good
        g = u8[np.minimum(ks[:, None] + _AR10, hi)]
        for k, kb in keys.items():
            m = act & (kl == len(kb)) & (g[:, : len(kb)] == kb).all(1)
            spans[k][0][m] = vb[m]
            spans[k][1][m] = ee[m]
        q = np.where(act, ee, q)
    ok &= q == E
    ib, ie = spans[b"id"]
    use17 = ib < 0
    ib, ie = np.where(use17, spans[b"video_id"][0], ib), np.where(use17, spans[b"video_id"][1], ie)
    lb, le = spans[b"labels"]
    rb, re_ = spans[b"mean_rgb"]
    ab, ae = spans[b"mean_audio"]
    ok &= (ib >= 0) & (lb >= 0) & (rb >= 0) & (ab >= 0)
    for vb_, ve_, hdr, ln in ((rb, re_, _RGB_HDR, _RGB_LEN), (ab, ae, _AUDIO_HDR, _AUDIO_LEN)):
        h = np.frombuffer(hdr, np.uint8)
        ok &= (ve_ - vb_ == ln) & (u8[np.minimum(vb_[:, None] + np.arange(len(h)), hi)] == h).all(1)
    # id: 0x0a L1 0x0a L2 <id>
    l2 = u8[np.minimum(ib + 3, hi)].astype(np.int64)
    ok &= ((u8[np.minimum(ib, hi)] == 0x0A) & (u8[np.minimum(ib + 2, hi)] == 0x0A) & (l2 < 0x80)
           & (u8[np.minimum(ib + 1, hi)] == l2 + 2) & (ib + 4 + l2 == ie))
    # labels: 0x1a 0x00, or 0x1a L1 0x0a L2 <varints>
    empty = (le - lb == 2) & (u8[np.minimum(lb + 1, hi)] == 0)
    l1, p, o1 = _vvarint(u8, lb + 1)
    l2b, p2, o2 = _vvarint(u8, p + 1)
    full = o1 & (p + l1 == le) & (u8[np.minimum(p, hi)] == 0x0A) & o2 & (p2 + l2b == le)
    ok &= (u8[np.minimum(lb, hi)] == 0x1A) & (empty | full)
    return ok, ib + 4, ie, np.where(empty, le, p2), le, rb + len(_RGB_HDR), ab + len(_AUDIO_HDR)


def _decode_varints(data: bytes, counts_from: np.ndarray):
    """All varints in ``data`` (int64, two's complement for negatives) and, for the
    consecutive spans starting at ``counts_from`` (with ``len(data)`` as the last end), how
    many varints each holds; None if a span does not end on a varint boundary."""
    a = np.frombuffer(data, np.uint8)
    if a.size == 0:
        return np.zeros(0, np.int64), np.zeros(len(counts_from) - 1, np.int64)
    term = a < 0x80
    c = np.concatenate(([0], np.cumsum(term)))
    bounds = counts_from[1:]
    nonempty = bounds > counts_from[:-1]
    if not term[bounds[nonempty] - 1].all():
        return None
    ends = np.flatnonzero(term)
    starts = np.concatenate(([0], ends[:-1] + 1))
    if (ends - starts).max() > 9:
        return None
    pos = np.arange(a.size) - np.repeat(starts, ends - starts + 1)
    contrib = (a & 0x7F).astype(np.uint64) << (7 * pos).astype(np.uint64)
    vals = np.add.reduceat(contrib, starts).view(np.int64)
    return vals, c[counts_from[1:]] - c[counts_from[:-1]]


def read_video_batches(path_or_pattern, batch_size: int = 256, *, verify: bool = True,
                       skip_corrupt: bool = False, num_classes: int | None = None,
                       allow_empty: bool = False) -> Iterator[dict]:
    """Video-level files read ``batch_size`` videos at a time (the last batch may be smaller):
    dicts of ``id`` (list of B str), ``labels`` (list of B int64 arrays, views into one owned
    array), ``mean_rgb`` float32 [B, 1024], ``mean_audio`` float32 [B, 128]. Same checks,
    order and errors as :func:`read_records` (CRCs verified by default).

    Faster than one dict per video: the files' records are found and checked a group at a time
    (:func:`afkit.tfrecord.span_groups`: header checksums vectorized), the records of a group are walked together with numpy
    (:func:`_video_vec`: one vectorized step per map entry, for every record at once), the label
    varints of the batch are decoded in one vectorized pass and the floats gathered in one copy;
    a record with any other layout goes through the general parser, with the same result.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    stats = ReadStats()
    chunks: list = []  # decoded groups: [ids, labels flat, label bounds, rgb [k,1024], audio [k,128]]
    have = [0]  # videos decoded and not handed out yet

    def rows(u8, at, width):
        """The ``width`` bytes at each offset ``at`` of ``u8``, gathered in one copy: [k, width]."""
        if not len(at):
            return np.zeros((0, width), np.uint8)
        return np.lib.stride_tricks.sliding_window_view(u8, width)[at]

    def spans_gather(u8, starts, stops):
        """The bytes of the spans ``[starts[i], stops[i])`` of ``u8`` joined (one gather), and the
        bounds of each span in the result (int64 [k+1])."""
        lens = stops - starts
        bounds = np.zeros(len(lens) + 1, np.int64)
        np.cumsum(lens, out=bounds[1:])
        idx = np.arange(bounds[-1], dtype=np.int64) + np.repeat(starts - bounds[:-1], lens)
        return u8[idx].tobytes(), bounds

    def add(ids, flat, bounds, rgb, audio):
        chunks.append([ids, flat, bounds, rgb, audio])
        have[0] += len(ids)

    def process(buf, path, begins, lengths, recs, offsets):
        ends = begins + lengths
        ok, ib, ie, lb, le, ro, ao = _video_vec(buf, begins, ends)
        mv = memoryview(buf)
        u8 = np.frombuffer(buf, np.uint8)
        okl = ok.tolist()
        fast = np.flatnonzero(ok)
        joined, bounds = spans_gather(u8, lb[fast], le[fast])
        dec = _decode_varints(joined, bounds) if len(fast) else (np.zeros(0, np.int64), np.zeros(0, np.int64))
        if dec is None:  # pragma: no cover (a malformed label list in a canonical frame)
            okl = [False] * len(okl)
            fast = fast[:0]
            dec = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        flat, counts = dec
        cuts = None
        if num_classes is not None and len(flat) and (flat.min() < 0 or flat.max() >= num_classes):
            okl = [False] * len(okl)  # let the general path raise the precise error
        else:
            cuts = np.cumsum(counts).tolist()
        ibl, iel = ib.tolist(), ie.tolist()
        if all(okl):  # the common case: no Python branch per record, one gather per array
            ids = None
            text, cut = spans_gather(u8, ib, ie)
            if text.isascii():  # one decode for the group (then character offsets = byte offsets)
                text = text.decode()
                cl = cut.tolist()
                ids = [text[a:b] for a, b in zip(cl[:-1], cl[1:])]
            else:
                try:
                    ids = [buf[a:b].decode() for a, b in zip(ibl, iel)]
                except UnicodeDecodeError:
                    ids = None
            if ids is not None:
                add(ids, flat, list(zip([0] + cuts[:-1], cuts)),
                    rows(u8, ro, 4 * RGB_DIM).view("<f4"), rows(u8, ao, 4 * AUDIO_DIM).view("<f4"))
                return
        lab_iter = iter(list(zip([0] + cuts[:-1], cuts))) if cuts is not None else iter(())
        rol, aol = ro.tolist(), ao.tolist()
        ids, labels, rgb, audio = [], [], [], []
        for i, (begin, end, rec, offset) in enumerate(zip(begins.tolist(), ends.tolist(), recs.tolist(),
                                                          offsets.tolist())):
            if okl[i]:
                try:
                    vid = buf[ibl[i]:iel[i]].decode()
                except UnicodeDecodeError:
                    okl[i] = False
            try:
                if okl[i]:
                    a, b = next(lab_iter)
                    ids.append(vid)
                    labels.append(flat[a:b])
                    rgb.append(mv[rol[i]:rol[i] + 4 * RGB_DIM])
                    audio.append(mv[aol[i]:aol[i] + 4 * AUDIO_DIM])
                else:
                    if ok[i]:
                        next(lab_iter, None)
                    r = _parse(buf, begin, end, num_classes, "video")
                    ids.append(r["id"])
                    labels.append(r["labels"])
                    rgb.append(r["mean_rgb"].tobytes())
                    audio.append(r["mean_audio"].tobytes())
            except (_Bad, IndexError) as e:
                err = InvalidRecordError(path, rec, offset, str(e) if isinstance(e, _Bad) else "malformed protobuf")
                if not skip_corrupt:
                    raise err from None
                stats.records -= 1
                stats.skip(err)
        if ids:
            lf = np.concatenate(labels).astype(np.int64, copy=False)
            c = np.cumsum([len(x) for x in labels]).tolist()
            add(ids, lf, list(zip([0] + c[:-1], c)),
                np.frombuffer(bytearray().join(rgb), np.float32).reshape(-1, RGB_DIM),
                np.frombuffer(bytearray().join(audio), np.float32).reshape(-1, AUDIO_DIM))

    def flush(n):
        """The next ``n`` decoded videos as a batch (views into the decoded group where the
        batch lies in one group, the common case)."""
        parts = []
        while n:
            ids, flat, bounds, rgb, audio = chunks[0]
            k = min(n, len(ids))
            parts.append((ids[:k], flat, bounds[:k], rgb[:k], audio[:k]))
            if k == len(ids):
                chunks.pop(0)
            else:
                chunks[0] = [ids[k:], flat, bounds[k:], rgb[k:], audio[k:]]
            n -= k
            have[0] -= k
        if len(parts) == 1:
            ids, flat, bounds, rgb, audio = parts[0]
            return {"id": ids, "labels": [flat[a:b] for a, b in bounds], "mean_rgb": rgb, "mean_audio": audio}
        lab = [p[1][a:b] for p in parts for a, b in p[2]]
        flat = np.concatenate(lab) if lab else np.zeros(0, np.int64)
        cuts = np.cumsum([len(x) for x in lab]).tolist()
        return {"id": [i for p in parts for i in p[0]],
                "labels": [flat[a:b] for a, b in zip([0] + cuts[:-1], cuts)],
                "mean_rgb": np.concatenate([p[3] for p in parts]),
                "mean_audio": np.concatenate([p[4] for p in parts])}

    # records are walked in groups of up to `group` (numpy's per-call cost is paid per group:
    # afkit.tfrecord.span_groups), then handed out `batch_size` at a time
    group = max(batch_size, 8192)
    for path in expand_pattern(path_or_pattern):
        for buf, begins, lengths, recs, offsets in _tfr.span_groups(
                path, group, verify=verify, skip_corrupt=skip_corrupt, allow_empty=allow_empty, stats=stats):
            process(buf, path, begins, lengths, recs, offsets)
            while have[0] >= batch_size:
                yield flush(batch_size)
    if have[0]:
        yield flush(have[0])


# =========================================================================== inspect CLI


def _id_key(buf, begin: int, end: int) -> str:
    feats: dict = {}
    for t, b, e in _fields(buf, begin, end):
        if t == 0x0A:
            _map(buf, b, e, feats)
    return "id" if b"id" in feats else "video_id"


def inspect(path_or_pattern, *, verify: bool = True, num_classes: int | None = None,
            top: int = 10, limit: int | None = None) -> dict:
    """Summary of a file set (reads every record, checks every CRC): ``schema`` (``video`` /
    ``frame``, with ``id_key`` and whether segment fields occur), ``files``, ``records``,
    ``frames`` (min, max) for frame-level sets, ``labels_per_video`` (min, mean, max),
    ``videos_without_labels``, ``distinct_labels``, ``top_labels`` [(label, videos)].
    ``limit``: stop after that many records (a quick look at a 1.5 TB frame-level set)."""
    from tqdm.auto import tqdm

    paths = expand_pattern(path_or_pattern)
    kinds, id_keys = set(), set()
    n = with_segments = no_labels = 0
    counts: Counter = Counter()
    nlab: list[int] = []
    frames_min, frames_max = None, 0
    bar = tqdm(paths, desc="inspect", unit="file", disable=len(paths) < 2)
    for path in bar:
        if limit is not None and n >= limit:
            break
        for buf, begin, length, rec, offset in _tfr.iter_spans(path, verify=verify):
            if limit is not None and n >= limit:
                break
            try:
                r = _parse(buf, begin, begin + length, num_classes, None)
            except (_Bad, IndexError) as e:
                raise InvalidRecordError(path, rec, offset, str(e) if isinstance(e, _Bad)
                                         else "malformed protobuf") from None
            if rec == 0:
                id_keys.add(_id_key(buf, begin, begin + length))
            n += 1
            kinds.add("frame" if "rgb" in r else "video")
            if "rgb" in r:
                t = len(r["rgb"])
                frames_min = t if frames_min is None else min(frames_min, t)
                frames_max = max(frames_max, t)
            with_segments += "segment_labels" in r
            lab = r["labels"]
            nlab.append(len(lab))
            no_labels += len(lab) == 0
            counts.update(lab.tolist())
    if len(kinds) > 1:
        raise ValueError(f"{path_or_pattern}: mixes video-level and frame-level files")
    nl = np.array(nlab, dtype=np.int64)
    return {
        "schema": (kinds.pop() if kinds else "empty"),
        "id_key": "/".join(sorted(id_keys)),
        "files": len(paths),
        "limited": limit is not None and n >= limit,
        "records": n,
        "frames": (frames_min, frames_max) if frames_min is not None else None,
        "videos_with_segments": with_segments,
        "labels_per_video": (int(nl.min()), float(nl.mean()), int(nl.max())) if n else (0, 0.0, 0),
        "videos_without_labels": no_labels,
        "distinct_labels": len(counts),
        "label_range": (min(counts), max(counts)) if counts else None,
        "top_labels": counts.most_common(top),
    }


def inspect_main(argv: list[str] | None = None) -> int:
    """``python -m afkit inspect PATH_OR_PATTERN``: print a file set's schema, file and record
    counts, frame-count range and label statistics; exit code 1 (and the error) on bad input."""
    ap = argparse.ArgumentParser(prog="python -m afkit inspect", description=inspect_main.__doc__)
    ap.add_argument("pattern", nargs="+", help="files, glob patterns (quote them) or directories")
    ap.add_argument("--num-classes", type=int, default=None, help="check labels are < this")
    ap.add_argument("--top", type=int, default=10, help="how many top labels to show")
    ap.add_argument("--no-verify", action="store_true", help="skip the CRC32C checks")
    ap.add_argument("--limit", type=int, default=None, help="read only the first N records")
    args = ap.parse_args(argv)
    pattern = args.pattern if len(args.pattern) > 1 else args.pattern[0]
    try:
        s = inspect(pattern, verify=not args.no_verify, num_classes=args.num_classes, top=args.top,
                    limit=args.limit)
    except (CorruptRecordError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    kind = {"video": "video-level (tf.train.Example: mean_rgb[1024], mean_audio[128])",
            "frame": "frame-level (tf.train.SequenceExample: rgb[T,1024], audio[T,128] uint8)",
            "empty": "no records"}[s["schema"]]
    lines = [
        f"schema:          {kind}, id feature '{s['id_key']}'"
        + (f", segment labels in {s['videos_with_segments']} videos" if s["videos_with_segments"] else ""),
        f"files:           {s['files']}",
        f"records:         {s['records']}" + (" (stopped at --limit)" if s["limited"] else ""),
    ]
    if s["frames"] is not None:
        lines.append(f"frames/video:    {s['frames'][0]}..{s['frames'][1]}")
    lo, mean, hi = s["labels_per_video"]
    lines += [
        f"labels/video:    min {lo}, mean {mean:.2f}, max {hi}; {s['videos_without_labels']} videos without labels",
        f"distinct labels: {s['distinct_labels']}"
        + (f" (ids {s['label_range'][0]}..{s['label_range'][1]})" if s["label_range"] else ""),
        "top labels:      " + (", ".join(f"{k} ({v})" for k, v in s["top_labels"]) or "-"),
    ]
    print("\n".join(lines))
    return 0
