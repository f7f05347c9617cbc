"""YouTube-8M records: the schemas, reading and writing them (one dict per video, or video-level
batches), file patterns, (de)quantization. The bytes are walked and written by
:mod:`afkit.io.protowire` (the protobuf wire format) inside the framing of :mod:`afkit.io.tfrecord`.

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

Writing encodes map keys in sorted order: the bytes equal protobuf's deterministic
serialization (``SerializeToString(deterministic=True)``; tested), and TensorFlow reads them
back identically (``tests/helpers/make_tf_fixtures.py``; tested against its committed output).

Traps of the ``tfrecord`` package that afkit does not inherit: CRCs are checked; every array
returned owns its memory (writable, no reused buffer); counts are exact
(:func:`count_records`); an empty feature (a video with no labels) is an empty array, never an
IndexError. Splitting a file set over DDP ranks and DataLoader workers: ``afkit.io.shards``.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

from afkit.io import protowire as wire
from afkit.io import tfrecord
from afkit.io.protowire import AUDIO_DIM, PAYLOAD_ERRORS, RGB_DIM, PayloadError
from afkit.io.tfrecord import CorruptRecordError, ReadStats

__all__ = [
    "read_records",
    "read_ranges",
    "write_records",
    "dequantize",
    "quantize",
    "parse_record",
    "id_feature",
    "encode_record",
    "expand_pattern",
    "count_records",
    "release_files",
    "release_layout",
    "release_num_classes",
    "RELEASE_CLASSES",
    "read_video_batches",
    "RecordIterator",
    "InvalidRecordError",
    "MAX_FRAMES",
    "MAX_ID_BYTES",
    "RGB_DIM",
    "AUDIO_DIM",
]

MAX_FRAMES = 300
# *Our cap*: a video id longer than this is an invalid record. Real ids are 4 (2018/2019) or 11
# (2017) characters; a store keeps ids fixed-width at the longest, so one huge id would
# multiply the size of every store row's id.
MAX_ID_BYTES = 256
SEGMENT_KEYS = ("segment_labels", "segment_start_times", "segment_scores")


class InvalidRecordError(CorruptRecordError):
    """A record whose checksums are fine but whose content breaks the YouTube-8M schema
    (a missing feature, a wrong length or type, a label outside the vocabulary). A subclass of
    :class:`~afkit.io.tfrecord.CorruptRecordError`: same message format (file, record, offset)."""


def _skip_or_raise(
    err: Exception, path, rec: int, offset: int, skip_corrupt: bool, stats: ReadStats
) -> None:
    """A record that failed to parse (``err``, one of ``wire.PAYLOAD_ERRORS``): raise it as an
    :class:`InvalidRecordError`, or, in ``skip_corrupt`` mode, count it as skipped."""
    invalid = InvalidRecordError(path, rec, offset, wire.error_reason(err))
    if not skip_corrupt:
        raise invalid from None
    stats.records -= 1
    stats.skip(invalid)


# =========================================================================== (de)quantization


def dequantize(
    q, max_quantized_value: float = 2.0, min_quantized_value: float = -2.0
) -> np.ndarray:
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


# =========================================================================== writing


def _check_frames(rec: dict, key: str, dim: int) -> np.ndarray:
    a = np.asarray(rec[key])
    if a.dtype != np.uint8 or a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(
            f"{key!r} must be uint8 [T, {dim}] (quantized; see afkit.quantize), "
            f"got {a.dtype} {list(a.shape)}"
        )
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
    ctx = {id_key: wire.bytes_feature([vid]), "labels": wire.int64_feature(rec["labels"])}
    if "segment_labels" in rec or "segment_start_times" in rec or "segment_scores" in rec:
        n = {k: len(np.ravel(rec.get(k, ()))) for k in SEGMENT_KEYS}
        if len(set(n.values())) != 1:
            raise ValueError(f"segment fields must have equal lengths, got {n}")
        ctx["segment_labels"] = wire.int64_feature(rec["segment_labels"])
        ctx["segment_start_times"] = wire.int64_feature(rec["segment_start_times"])
        ctx["segment_scores"] = wire.float_feature(rec["segment_scores"])
    if "rgb" in rec:
        rgb = _check_frames(rec, "rgb", RGB_DIM)
        audio = _check_frames(rec, "audio", AUDIO_DIM)
        if rgb.shape[0] != audio.shape[0]:
            raise ValueError(f"rgb has {rgb.shape[0]} frames, audio {audio.shape[0]}")
        lists = {
            "audio": wire.frames_feature_list(audio, AUDIO_DIM),
            "rgb": wire.frames_feature_list(rgb, RGB_DIM),
        }
        return wire.length_delimited(0x0A, wire.features_body(ctx)) + wire.length_delimited(
            0x12, wire.features_body(lists)
        )
    for key, dim in (("mean_rgb", RGB_DIM), ("mean_audio", AUDIO_DIM)):
        if key not in rec:
            raise ValueError(f"video-level record lacks {key!r} (frame-level records need 'rgb')")
        a = np.asarray(rec[key], dtype=np.float32)
        if a.shape != (dim,):
            raise ValueError(f"{key!r} must be float32 [{dim}], got shape {list(a.shape)}")
        ctx[key] = wire.float_feature(a)
    return wire.length_delimited(0x0A, wire.features_body(ctx))


def write_records(path, records: Iterable[dict], *, id_key: str = "id") -> int:
    """Write video dicts to one TFRecord file at ``path`` (atomically: a temp file renamed on
    success); returns the number written. Either schema, chosen per record by its keys (``rgb``
    means frame-level). ``id_key="video_id"`` writes the 2017 schema."""
    with tfrecord.TFRecordWriter(path) as w:
        for rec in records:
            w.write(encode_record(rec, id_key=id_key))
    return w.count


# =========================================================================== parsing one record


def _check_vocab(labels: np.ndarray, num_classes: int, name: str = "labels") -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels[(labels < 0) | (labels >= num_classes)][0])
        raise PayloadError(f"{name}: label {bad} outside the vocabulary [0, {num_classes})")


def _read_id(buf, feats: dict) -> str:
    span = feats.get(b"id")
    if span is None:
        span = feats.get(b"video_id")
    if span is None:
        raise PayloadError("missing feature 'id' (2018/2019) or 'video_id' (2017)")
    vals = wire.read_bytes_values(buf, span, "id")
    if len(vals) != 1:
        raise PayloadError(f"feature 'id' has {len(vals)} values, expected 1")
    if vals[0][1] - vals[0][0] > MAX_ID_BYTES:
        raise PayloadError(
            f"feature 'id' has {vals[0][1] - vals[0][0]} bytes, more than the {MAX_ID_BYTES} "
            "afkit accepts (YouTube-8M ids have 4 or 11)"
        )
    try:
        return buf[vals[0][0] : vals[0][1]].decode()
    except UnicodeDecodeError:
        raise PayloadError("feature 'id' is not UTF-8 text") from None


def _read_segments(buf, feats: dict, out: dict) -> np.ndarray:
    """The three segment fields (all or none) into ``out``; returns the segment labels."""
    for k in SEGMENT_KEYS:
        if k.encode() not in feats:
            raise PayloadError(f"missing feature {k!r} (the other segment fields are present)")
    seg = out["segment_labels"] = wire.read_int64s(buf, feats[b"segment_labels"], "segment_labels")
    st = out["segment_start_times"] = wire.read_int64s(
        buf, feats[b"segment_start_times"], "segment_start_times"
    )
    sc = out["segment_scores"] = wire.read_floats(buf, feats[b"segment_scores"], "segment_scores")
    if not len(seg) == len(st) == len(sc):
        raise PayloadError(
            f"segment fields of unequal lengths: segment_labels {len(seg)}, "
            f"segment_start_times {len(st)}, segment_scores {len(sc)}"
        )
    return seg


def _read_context(
    buf, feats: dict, out: dict, num_classes: int | None, segments: bool = True
) -> None:
    """``id``, ``labels`` and the segment fields (context features) into ``out``."""
    out["id"] = _read_id(buf, feats)
    span = feats.get(b"labels")
    if span is None:
        raise PayloadError("missing feature 'labels'")
    labels = out["labels"] = wire.read_int64s(buf, span, "labels")
    seg = None
    if segments and any(k.encode() in feats for k in SEGMENT_KEYS):
        seg = _read_segments(buf, feats, out)
    if num_classes is not None:
        _check_vocab(labels, num_classes)
        if seg is not None:
            _check_vocab(seg, num_classes, "segment_labels")


def _read_frame_lists(buf, list_spans: list, out: dict) -> None:
    lists: dict = {}
    for b, e in list_spans:
        wire.read_map(buf, b, e, lists)
    for key, dim in (("rgb", RGB_DIM), ("audio", AUDIO_DIM)):
        span = lists.get(key.encode())
        if span is None:
            raise PayloadError(f"missing feature list {key!r}")
        out[key] = wire.read_frames(buf, span, key, dim)
    t_rgb, t_audio = len(out["rgb"]), len(out["audio"])
    if t_rgb != t_audio:
        raise PayloadError(f"'rgb' has {t_rgb} frames but 'audio' has {t_audio}")
    if not 1 <= t_rgb <= MAX_FRAMES:
        raise PayloadError(f"{t_rgb} frames; YouTube-8M videos have 1..{MAX_FRAMES}")


def _parse(
    buf, begin: int, end: int, num_classes: int | None, kind: str | None, segments: bool = True
) -> dict:
    """The video dict of the payload ``buf[begin:end]``; ``kind`` (``video`` / ``frame`` / None)
    is the file's, known after its first record. Raises one of ``wire.PAYLOAD_ERRORS``."""
    if kind != "frame":
        fast = wire.parse_canonical_video(buf, begin, end)
        if fast is not None and len(fast[0].encode()) <= MAX_ID_BYTES:  # else: general path
            vid, labels, rgb_at, audio_at = fast
            labels = np.array(labels, dtype=np.int64)
            if num_classes is not None:
                _check_vocab(labels, num_classes)
            return {
                "id": vid,
                "labels": labels,
                "mean_rgb": np.frombuffer(buf, "<f4", RGB_DIM, rgb_at).astype(np.float32),
                "mean_audio": np.frombuffer(buf, "<f4", AUDIO_DIM, audio_at).astype(np.float32),
            }
    context_spans, list_spans = [], []
    for t, b, e in wire.iter_fields(buf, begin, end):
        if t == 0x0A:
            context_spans.append((b, e))
        elif t == 0x12:
            list_spans.append((b, e))
    is_frame = bool(list_spans)
    if kind is not None and (kind == "frame") != is_frame:
        raise PayloadError(
            f"a {'frame' if is_frame else 'video'}-level record in a {kind}-level file"
            + ("" if is_frame else " (no feature lists 'rgb'/'audio')")
        )
    feats: dict = {}
    for b, e in context_spans:
        wire.read_map(buf, b, e, feats)
    out: dict = {}
    _read_context(buf, feats, out, num_classes, segments)
    if is_frame:
        _read_frame_lists(buf, list_spans, out)
        return out
    for key, dim in (("mean_rgb", RGB_DIM), ("mean_audio", AUDIO_DIM)):
        span = feats.get(key.encode())
        if span is None:
            raise PayloadError(
                f"missing feature {key!r}"
                + (
                    ""
                    if kind == "video"
                    else (
                        " (the record has no feature lists, so it is read as a video-level Example)"
                    )
                )
            )
        out[key] = wire.read_floats(buf, span, key, dim)
    return out


def parse_record(payload: bytes, *, num_classes: int | None = None) -> dict:
    """Parse one serialized ``Example`` / ``SequenceExample`` into the video dict (module
    docstring). Raises :class:`ValueError` on a schema violation."""
    payload = bytes(payload)
    try:
        return _parse(payload, 0, len(payload), num_classes, None)
    except PAYLOAD_ERRORS as e:
        raise ValueError(wire.error_reason(e)) from None


def id_feature(payload: bytes) -> str:
    """The name of a record's id feature: ``"id"`` (2018 / 2019 schema), else ``"video_id"``
    (2017)."""
    return "id" if b"id" in wire.context_features(payload, 0, len(payload)) else "video_id"


# =========================================================================== files, reading


def _is_side_file(p: str) -> bool:
    name = os.path.basename(p)
    return name.endswith(".idx") or ".tmp-" in name


def expand_pattern(path_or_pattern) -> list[str]:
    """Files named by a path, a glob pattern (``data/video/train*.tfrecord``), a directory (its
    ``*.tfrecord`` files) or a list of those; sorted by name, duplicates removed; a pattern does
    not match afkit's ``<file>.idx`` indexes nor its ``.tmp-<pid>`` files being written. Raises
    ``FileNotFoundError`` when nothing matches."""
    items = (
        [path_or_pattern]
        if isinstance(path_or_pattern, (str, os.PathLike))
        else list(path_or_pattern)
    )
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


# the layouts of a release folder: flat, as the download script writes it
# (DATA/video/train0000.tfrecord), or one folder per split (DATA/video/train/train0000.tfrecord)
RELEASE_LAYOUTS = {"flat": "{level}/{split}*.tfrecord", "per-split": "{level}/{split}/*.tfrecord"}
# the class count of each schema's vocabulary, used when a release has no vocabulary.csv:
# 2017 (`video_id`) 4716 classes, 2018 / 2019 (`id`) 3862
RELEASE_CLASSES = {"video_id": 4716, "id": 3862}


def release_files(data_dir, split: str, level: str) -> list[str]:
    """A release's TFRecord files of ``split`` (``train``, ``validate``, ``test``) at ``level``
    (``video`` or ``frame``), sorted, in either layout of :data:`RELEASE_LAYOUTS`; ``[]`` when
    there are none. Raises ``ValueError`` when the split has files in both layouts (which copy
    is meant cannot be told)."""
    found = {}
    for layout, pattern in RELEASE_LAYOUTS.items():
        path = os.path.join(os.fspath(data_dir), pattern.format(level=level, split=split))
        hits = [p for p in glob.glob(path) if os.path.isfile(p) and not _is_side_file(p)]
        if hits:
            found[layout] = sorted(hits)
    if len(found) > 1:
        raise ValueError(
            f"{os.fspath(data_dir)} holds {level}-level {split} files in both layouts "
            f"({level}/{split}*.tfrecord and {level}/{split}/*.tfrecord): keep one copy"
        )
    return next(iter(found.values()), [])


def release_layout(data_dir) -> str | None:
    """``"flat"``, ``"per-split"`` (see :data:`RELEASE_LAYOUTS`), ``"mixed"`` (splits in
    different layouts), or None when ``data_dir`` holds no release files."""
    layouts = set()
    for level in ("video", "frame"):
        for split in ("train", "validate", "test"):
            for layout, pattern in RELEASE_LAYOUTS.items():
                path = os.path.join(os.fspath(data_dir), pattern.format(level=level, split=split))
                if any(not _is_side_file(p) for p in glob.glob(path)):
                    layouts.add(layout)
    if not layouts:
        return None
    return layouts.pop() if len(layouts) == 1 else "mixed"


def release_num_classes(files) -> int:
    """The vocabulary size of the release ``files`` belong to, from their schema
    (:data:`RELEASE_CLASSES`: the first record's id feature), for a release without a
    vocabulary.csv."""
    for path in files:
        for payload in tfrecord.iter_records(path):
            return RELEASE_CLASSES[id_feature(payload)]
    raise ValueError(f"no records in {list(files)[:3]}: cannot tell the release's schema")


def split_has_labels(files, probe: int = 64) -> bool:
    """Whether the first ``probe`` records of ``files`` carry any label (the real release's test
    split has none)."""
    seen = 0
    for rec in read_records(files):
        if len(rec["labels"]):
            return True
        seen += 1
        if seen >= probe:
            break
    return False


def count_records(path_or_pattern) -> int:
    """Exact number of records in a file set (each file's cached index)."""
    return sum(tfrecord.count_records(p) for p in expand_pattern(path_or_pattern))


class RecordIterator:
    """What :func:`read_records` returns: an iterator of video dicts that also reports
    ``skipped`` (corrupt records skipped in ``skip_corrupt`` mode), ``errors`` (their messages)
    and ``stats`` (a :class:`~afkit.io.tfrecord.ReadStats`)."""

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


@dataclasses.dataclass(frozen=True)
class _Checks:
    """The checks of a read, as :func:`read_records` takes them: both CRC32Cs (``verify``), skip
    or raise on a bad record (``skip_corrupt``), the label range (``num_classes``), a 0-byte file
    as 0 records (``allow_empty``)."""

    verify: bool = True
    skip_corrupt: bool = False
    num_classes: int | None = None
    allow_empty: bool = False


def _read_file(path, stats, checks: _Checks, start=0, stop=None):
    kind = None
    for buf, begin, length, rec, offset in tfrecord.iter_spans(
        path,
        verify=checks.verify,
        skip_corrupt=checks.skip_corrupt,
        allow_empty=checks.allow_empty,
        start=start,
        stop=stop,
        stats=stats,
    ):
        try:
            out = _parse(buf, begin, begin + length, checks.num_classes, kind)
        except PAYLOAD_ERRORS as e:
            _skip_or_raise(e, path, rec, offset, checks.skip_corrupt, stats)
            continue
        if kind is None:
            kind = "frame" if "rgb" in out else "video"
        yield out


def read_ranges(
    ranges: Iterable[tuple[str, int, int | None]],
    *,
    verify: bool = True,
    skip_corrupt: bool = False,
    num_classes: int | None = None,
    allow_empty: bool = False,
) -> RecordIterator:
    """The video dicts of records ``[start, stop)`` (``stop`` None: to the end) of each
    ``(path, start, stop)``, in order; the options as :func:`read_records`."""
    stats = ReadStats()
    checks = _Checks(verify, skip_corrupt, num_classes, allow_empty)

    def gen():
        for path, start, stop in ranges:
            yield from _read_file(path, stats, checks, start, stop)

    return RecordIterator(gen(), stats)


def read_records(
    path_or_pattern,
    *,
    verify: bool = True,
    skip_corrupt: bool = False,
    num_classes: int | None = None,
    allow_empty: bool = False,
) -> RecordIterator:
    """Yield one dict per video (module docstring), files in sorted name order, records in file
    order.

    ``verify``: check both CRC32Cs of every record (default). ``skip_corrupt``: skip (and count,
    in ``.skipped``) corrupt or invalid records instead of raising :class:`CorruptRecordError`.
    ``num_classes``: check every label is in ``[0, num_classes)`` (None: no check).
    ``allow_empty``: read a 0-byte file as 0 records (TensorFlow's behaviour) instead of raising.
    """
    return read_ranges(
        [(p, 0, None) for p in expand_pattern(path_or_pattern)],
        verify=verify,
        skip_corrupt=skip_corrupt,
        num_classes=num_classes,
        allow_empty=allow_empty,
    )


# =========================================================================== batched video-level


def _cut_bounds(cuts: list) -> list[tuple[int, int]]:
    """Cumulative ends ``[c1, c2, ...]`` -> the spans ``[(0, c1), (c1, c2), ...]``."""
    return list(zip([0, *cuts[:-1]] if cuts else [], cuts, strict=True))


class _SpanGroup(NamedTuple):
    """One group of records of a file, as :func:`afkit.io.tfrecord.span_groups` yields it: the
    bytes ``buf`` and, per record, its payload's ``begins`` and ``lengths`` in it, its number
    ``recs`` in the file and its byte ``offsets``."""

    buf: bytes
    begins: np.ndarray
    lengths: np.ndarray
    recs: np.ndarray
    offsets: np.ndarray


@dataclasses.dataclass
class _Walk:
    """What the vectorized walk of a group found: the ``spans`` of each record's fields, which
    records are ``canonical`` (taken from the walk), their ``labels`` (one array) and each one's
    ``(begin, stop)`` in it (``label_bounds``; None when the general path must check them)."""

    spans: wire.VideoSpans
    canonical: list
    labels: np.ndarray
    label_bounds: list | None


class _VideoGroup(NamedTuple):
    """Decoded videos, in order: ``ids`` (list of str), the labels of all of them in one int64
    array ``labels`` with each video's ``(begin, stop)`` in ``label_bounds``, ``rgb`` float32
    [k, 1024], ``audio`` float32 [k, 128]."""

    ids: list
    labels: np.ndarray
    label_bounds: list
    rgb: np.ndarray
    audio: np.ndarray

    def head(self, k: int) -> _VideoGroup:
        return _VideoGroup(
            self.ids[:k], self.labels, self.label_bounds[:k], self.rgb[:k], self.audio[:k]
        )

    def tail(self, k: int) -> _VideoGroup:
        return _VideoGroup(
            self.ids[k:], self.labels, self.label_bounds[k:], self.rgb[k:], self.audio[k:]
        )


class _DecodedVideos:
    """The videos decoded and not handed out yet: a queue of groups, taken a batch at a time."""

    def __init__(self):
        self.groups: list[_VideoGroup] = []
        self.count = 0

    def add(self, group: _VideoGroup | None) -> None:
        if group is not None:
            self.groups.append(group)
            self.count += len(group.ids)

    def take(self, n: int) -> dict:
        """The next ``n`` videos as a batch (views into the decoded group where the batch lies in
        one group, the common case)."""
        parts = []
        while n:
            group = self.groups[0]
            k = min(n, len(group.ids))
            parts.append(group.head(k))
            if k == len(group.ids):
                self.groups.pop(0)
            else:
                self.groups[0] = group.tail(k)
            n -= k
            self.count -= k
        if len(parts) == 1:
            ids, labels, bounds, rgb, audio = parts[0]
            return {
                "id": ids,
                "labels": [labels[a:b] for a, b in bounds],
                "mean_rgb": rgb,
                "mean_audio": audio,
            }
        video_labels = [p.labels[a:b] for p in parts for a, b in p.label_bounds]
        labels = np.concatenate(video_labels) if video_labels else np.zeros(0, np.int64)
        bounds = _cut_bounds(np.cumsum([len(x) for x in video_labels]).tolist())
        return {
            "id": [i for p in parts for i in p.ids],
            "labels": [labels[a:b] for a, b in bounds],
            "mean_rgb": np.concatenate([p.rgb for p in parts]),
            "mean_audio": np.concatenate([p.audio for p in parts]),
        }


def _decode_group(path, group: _SpanGroup, checks: _Checks, stats: ReadStats) -> _VideoGroup | None:
    """The videos of one group of records (:func:`afkit.io.tfrecord.span_groups`): walked together
    (``wire.walk_canonical_videos``), their label varints decoded in one pass."""
    buf, begins, num_classes = group.buf, group.begins, checks.num_classes
    ends = begins + group.lengths
    spans = wire.walk_canonical_videos(buf, begins, ends)
    u8 = np.frombuffer(buf, np.uint8)
    canonical = spans.ok.tolist()
    fast = np.flatnonzero(spans.ok)
    joined, bounds = wire.gather_spans(u8, spans.labels_at[fast], spans.labels_end[fast])
    decoded = (
        wire.decode_varints(joined, bounds)
        if len(fast)
        else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    )
    if decoded is None:  # a malformed label list in a canonical frame (e.g. > 64 bits)
        canonical = [False] * len(canonical)
        decoded = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    labels, counts = decoded
    label_bounds = None
    if (
        num_classes is not None
        and len(labels)
        and (labels.min() < 0 or labels.max() >= num_classes)
    ):
        canonical = [False] * len(canonical)  # let the general path raise the precise error
    else:
        label_bounds = _cut_bounds(np.cumsum(counts).tolist())
    if all(canonical):  # the common case: no Python branch per record, one gather per array
        videos = _canonical_group(buf, u8, spans, labels, label_bounds)
        if videos is not None:
            return videos
    return _record_by_record(
        path, group, _Walk(spans, canonical, labels, label_bounds), checks, stats
    )


def _canonical_group(buf, u8, spans: wire.VideoSpans, labels, label_bounds) -> _VideoGroup | None:
    """A group of canonical records, gathered with numpy; None if an id is not UTF-8."""
    if len(spans.id_at) and (spans.id_end - spans.id_at).max() > MAX_ID_BYTES:
        return None  # record by record: the general parser raises (or skips) the long id
    text, cut = wire.gather_spans(u8, spans.id_at, spans.id_end)
    if text.isascii():  # one decode for the group (then character offsets = byte offsets)
        text = text.decode()
        cl = cut.tolist()
        ids = [text[a:b] for a, b in zip(cl[:-1], cl[1:], strict=True)]
    else:
        try:
            ids = [
                buf[a:b].decode()
                for a, b in zip(spans.id_at.tolist(), spans.id_end.tolist(), strict=True)
            ]
        except UnicodeDecodeError:
            return None
    return _VideoGroup(
        ids,
        labels,
        label_bounds,
        wire.gather_rows(u8, spans.rgb_at, 4 * RGB_DIM).view("<f4"),
        wire.gather_rows(u8, spans.audio_at, 4 * AUDIO_DIM).view("<f4"),
    )


def _record_by_record(
    path, group: _SpanGroup, walk: _Walk, checks: _Checks, stats: ReadStats
) -> _VideoGroup | None:
    """A group with records of other layouts: the canonical ones taken from the walk, the others
    through the general parser (which raises, or skips, with the precise error)."""
    buf, begins, recs, offsets = group.buf, group.begins, group.recs, group.offsets
    ends = begins + group.lengths
    spans, canonical, labels, label_bounds = (
        walk.spans,
        walk.canonical,
        walk.labels,
        walk.label_bounds,
    )
    mv = memoryview(buf)
    next_bounds = iter(label_bounds if label_bounds is not None else ())
    id_at, id_end = spans.id_at.tolist(), spans.id_end.tolist()
    rgb_at, audio_at = spans.rgb_at.tolist(), spans.audio_at.tolist()
    ids, video_labels, rgb, audio = [], [], [], []
    for i, (begin, end, rec, offset) in enumerate(
        zip(begins.tolist(), ends.tolist(), recs.tolist(), offsets.tolist(), strict=True)
    ):
        if canonical[i]:
            try:
                vid = buf[id_at[i] : id_end[i]].decode()
            except UnicodeDecodeError:
                canonical[i] = False
            if id_end[i] - id_at[i] > MAX_ID_BYTES:  # the general parser raises the error
                canonical[i] = False
        try:
            if canonical[i]:
                a, b = next(next_bounds)
                ids.append(vid)
                video_labels.append(labels[a:b])
                rgb.append(mv[rgb_at[i] : rgb_at[i] + 4 * RGB_DIM])
                audio.append(mv[audio_at[i] : audio_at[i] + 4 * AUDIO_DIM])
            else:
                if spans.ok[i]:
                    next(next_bounds, None)  # the walk decoded this record's labels: pass them
                r = _parse(buf, begin, end, checks.num_classes, "video", segments=False)
                ids.append(r["id"])
                video_labels.append(r["labels"])
                rgb.append(r["mean_rgb"].tobytes())
                audio.append(r["mean_audio"].tobytes())
        except PAYLOAD_ERRORS as e:
            _skip_or_raise(e, path, rec, offset, checks.skip_corrupt, stats)
    if not ids:
        return None
    joined = np.concatenate(video_labels).astype(np.int64, copy=False)
    return _VideoGroup(
        ids,
        joined,
        _cut_bounds(np.cumsum([len(x) for x in video_labels]).tolist()),
        np.frombuffer(bytearray().join(rgb), np.float32).reshape(-1, RGB_DIM),
        np.frombuffer(bytearray().join(audio), np.float32).reshape(-1, AUDIO_DIM),
    )


def read_video_batches(
    path_or_pattern,
    batch_size: int = 256,
    *,
    verify: bool = True,
    skip_corrupt: bool = False,
    num_classes: int | None = None,
    allow_empty: bool = False,
) -> Iterator[dict]:
    """Video-level files read ``batch_size`` videos at a time (the last batch may be smaller):
    dicts of ``id`` (list of B str), ``labels`` (list of B int64 arrays, views into one owned
    array), ``mean_rgb`` float32 [B, 1024], ``mean_audio`` float32 [B, 128]. Same checks,
    order and errors as :func:`read_records` (CRCs verified by default).

    Faster than one dict per video: the files' records are found and checked a group at a time
    (:func:`afkit.io.tfrecord.span_groups`: header checksums vectorized), the records of a group
    are walked together with numpy (``wire.walk_canonical_videos``: one vectorized step per map
    entry, for every record at once), the label varints of the group are decoded in one
    vectorized pass and the floats gathered in one copy; a record with any other layout goes
    through the general parser, with the same result.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    stats = ReadStats()
    decoded = _DecodedVideos()
    # records are walked in groups of up to `group` (numpy's per-call cost is paid per group:
    # afkit.io.tfrecord.span_groups), then handed out `batch_size` at a time
    group = max(batch_size, 8192)
    checks = _Checks(verify, skip_corrupt, num_classes, allow_empty)
    for path in expand_pattern(path_or_pattern):
        for spans in tfrecord.span_groups(
            path,
            group,
            verify=verify,
            skip_corrupt=skip_corrupt,
            allow_empty=allow_empty,
            stats=stats,
        ):
            decoded.add(_decode_group(path, _SpanGroup(*spans), checks, stats))
            while decoded.count >= batch_size:
                yield decoded.take(batch_size)
    if decoded.count:
        yield decoded.take(decoded.count)
