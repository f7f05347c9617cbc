"""The data set at hand: as tables, what notebook ``00_data`` shows of a data directory
(:func:`overview`), and the ``inspect`` command's summary of a file set (:func:`inspect`).

Works the same on the embedded synthetic set and on a real YouTube-8M download laid out as in
``DESIGN.md`` (``video/``, ``frame/``, ``vocabulary.csv``). Video-level files give the labels
(fast); frame-level files give the frame counts, read up to ``frame_limit`` videos per split
(the real frame-level release is 1.5 TB: a sample is what a notebook should look at).
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from afkit.core import cli
from afkit.io import records, tfrecord

SPLITS = ("train", "validate", "test")


@dataclass
class Overview:
    """``splits``: one row a split (files, videos, labels per video, frames); ``videos``: one row
    a video read (split, id, num_labels, num_frames or NaN); ``label_counts``: videos per class
    in the train split [C]; ``vocabulary``: ``vocabulary.csv`` as read (or None)."""

    splits: pd.DataFrame
    videos: pd.DataFrame
    label_counts: np.ndarray
    vocabulary: pd.DataFrame | None

    def vertical_counts(self) -> pd.Series:
        """Train videos' labels per vertical (``Vertical1`` of ``vocabulary.csv``), descending."""
        if self.vocabulary is None or "Vertical1" not in self.vocabulary:
            return pd.Series(dtype=float)
        vert = self.vocabulary.set_index("Index")["Vertical1"].reindex(
            range(len(self.label_counts))
        )
        return (
            pd.Series(self.label_counts, index=vert.fillna("(none)").values)
            .groupby(level=0)
            .sum()
            .sort_values(ascending=False)
        )

    def examples(self, n: int = 5, split: str = "train") -> pd.DataFrame:
        """The first ``n`` videos of ``split`` with their label names."""
        rows = self.videos[self.videos["split"] == split].head(n).copy()
        names = None
        if self.vocabulary is not None and "Name" in self.vocabulary:
            names = self.vocabulary.set_index("Index")["Name"]
        rows["label_names"] = [
            ", ".join(str(names.get(int(c), c)) if names is not None else str(c) for c in labs)
            for labs in rows["labels"]
        ]
        return rows


def read_vocabulary(data_dir) -> pd.DataFrame | None:
    path = Path(data_dir) / "vocabulary.csv"
    return pd.read_csv(path) if path.is_file() else None


def _read_split(vfiles, ffiles, frame_limit: int | None, num_classes: int | None):
    """``(ids, labels, frames)`` of one split: the ids and labels of its video-level files (of its
    frame-level files when it has none) and ``{id: frame count}`` of at most ``frame_limit``
    frame-level records."""
    ids, labels = [], []
    if vfiles:
        for batch in records.read_video_batches(vfiles, 1024, num_classes=num_classes):
            ids += batch["id"]
            labels += [np.asarray(x).copy() for x in batch["labels"]]
    frames: dict[str, int] = {}
    if ffiles:
        for i, rec in enumerate(records.read_records(ffiles, num_classes=num_classes)):
            if frame_limit is not None and i >= frame_limit:
                break
            frames[rec["id"]] = len(rec["rgb"])
            if not vfiles:
                ids.append(rec["id"])
                labels.append(rec["labels"])
    return ids, labels, frames


def overview(
    data_dir, *, frame_limit: int | None = 20_000, splits=SPLITS, num_classes: int | None = None
) -> Overview:
    """Read ``data_dir`` into an :class:`Overview` (labels from every video-level record, frame
    counts from at most ``frame_limit`` frame-level records per split)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    vocab = read_vocabulary(data_dir)
    if num_classes is None:
        num_classes = len(vocab) if vocab is not None else None
    per_split, videos = [], []
    label_counts = None
    for split in splits:
        vfiles = records.release_files(data_dir, split, "video")  # either layout of a release
        ffiles = records.release_files(data_dir, split, "frame")
        if not vfiles and not ffiles:
            continue
        ids, labels, frames = _read_split(vfiles, ffiles, frame_limit, num_classes)
        nlab = np.array([len(x) for x in labels])
        df = pd.DataFrame(
            {
                "split": split,
                "id": ids,
                "labels": labels,
                "num_labels": nlab,
                "num_frames": [frames.get(v, np.nan) for v in ids],
            }
        )
        videos.append(df)
        nf = np.array(list(frames.values()))
        per_split.append(
            {
                "split": split,
                "video_files": len(vfiles),
                "frame_files": len(ffiles),
                "videos": len(ids),
                "labels_per_video": float(nlab.mean()) if len(nlab) else 0.0,
                "videos_without_labels": int((nlab == 0).sum()),
                "distinct_labels": int(len(np.unique(np.concatenate(labels)))) if labels else 0,
                "frames_read": len(nf),
                "frames_min": int(nf.min()) if len(nf) else None,
                "frames_mean": float(nf.mean()) if len(nf) else None,
                "frames_max": int(nf.max()) if len(nf) else None,
            }
        )
        if split == "train" or label_counts is None:
            c = num_classes or (int(max((x.max() for x in labels if len(x)), default=-1)) + 1)
            flat = np.concatenate(labels) if labels else np.zeros(0, np.int64)
            label_counts = np.bincount(flat, minlength=c)
    if not per_split:
        raise FileNotFoundError(
            f"no {{video,frame}}/{{{','.join(splits)}}}*.tfrecord under {data_dir}"
        )
    return Overview(
        pd.DataFrame(per_split), pd.concat(videos, ignore_index=True), label_counts, vocab
    )


def modality_summary(classes: pd.DataFrame | None) -> pd.DataFrame | None:
    """Classes per true evidence modality (visual / audio / both) of a synthetic set's ground
    truth (``afkit.data.synth.load_ground_truth``), with their share of the train labels; None for a
    real release (no truth)."""
    if classes is None:
        return None
    g = classes.groupby("modality")
    out = pd.DataFrame({"classes": g.size(), "train_labels": g["train_count"].sum()})
    out["share_of_labels"] = out["train_labels"] / out["train_labels"].sum()
    return out.reindex([m for m in ("visual", "audio", "both") if m in out.index]).reset_index()


# =========================================================================== the inspect command


def inspect(
    path_or_pattern,
    *,
    verify: bool = True,
    num_classes: int | None = None,
    top: int = 10,
    limit: int | None = None,
) -> dict:
    """Summary of a file set (reads every record, checks every CRC): ``schema`` (``video`` /
    ``frame``, with ``id_key`` and whether segment fields occur), ``files``, ``records``,
    ``frames`` (min, max) for frame-level sets, ``labels_per_video`` (min, mean, max),
    ``videos_without_labels``, ``distinct_labels``, ``top_labels`` [(label, videos)].
    ``limit``: stop after that many records (a quick look at a 1.5 TB frame-level set)."""
    from tqdm.auto import tqdm

    paths = records.expand_pattern(path_or_pattern)
    kinds, id_keys = set(), set()
    n = with_segments = no_labels = 0
    counts: Counter = Counter()
    nlab: list[int] = []
    frames_min, frames_max = None, 0
    bar = tqdm(paths, desc="inspect", unit="file", disable=len(paths) < 2)
    for path in bar:
        if limit is not None and n >= limit:
            break
        for buf, begin, length, rec, offset in tfrecord.iter_spans(path, verify=verify):
            if limit is not None and n >= limit:
                break
            payload = buf[begin : begin + length]
            try:
                r = records.parse_record(payload, num_classes=num_classes)
            except ValueError as e:
                raise records.InvalidRecordError(path, rec, offset, str(e)) from None
            if rec == 0:
                id_keys.add(records.id_feature(payload))
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
    ap = cli.parser(
        "inspect",
        "Print a TFRecord file set's schema, file and record counts, frame-count range and label\n"
        "statistics; exit 1 with the error on a damaged or invalid file.\n\n"
        "example:\n  python -m afkit inspect 'DATA/video/train*.tfrecord' --limit 1000",
    )
    ap.add_argument("pattern", nargs="+", help="files, glob patterns (quote them) or directories")
    ap.add_argument("--num-classes", type=int, default=None, help="check labels are < this")
    ap.add_argument("--top", type=int, default=10, help="how many top labels to show")
    ap.add_argument("--no-verify", action="store_true", help="skip the CRC32C checks")
    ap.add_argument("--limit", type=int, default=None, help="read only the first N records")
    args = ap.parse_args(argv)
    pattern = args.pattern if len(args.pattern) > 1 else args.pattern[0]
    try:
        s = inspect(
            pattern,
            verify=not args.no_verify,
            num_classes=args.num_classes,
            top=args.top,
            limit=args.limit,
        )
    except (tfrecord.CorruptRecordError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    kind = {
        "video": "video-level (tf.train.Example: mean_rgb[1024], mean_audio[128])",
        "frame": "frame-level (tf.train.SequenceExample: rgb[T,1024], audio[T,128] uint8)",
        "empty": "no records",
    }[s["schema"]]
    lines = [
        f"schema:          {kind}, id feature '{s['id_key']}'"
        + (
            f", segment labels in {s['videos_with_segments']} videos"
            if s["videos_with_segments"]
            else ""
        ),
        f"files:           {s['files']}",
        f"records:         {s['records']}" + (" (stopped at --limit)" if s["limited"] else ""),
    ]
    if s["frames"] is not None:
        lines.append(f"frames/video:    {s['frames'][0]}..{s['frames'][1]}")
    lo, mean, hi = s["labels_per_video"]
    lines += [
        f"labels/video:    min {lo}, mean {mean:.2f}, max {hi}; {s['videos_without_labels']} "
        "videos without labels",
        f"distinct labels: {s['distinct_labels']}"
        + (f" (ids {s['label_range'][0]}..{s['label_range'][1]})" if s["label_range"] else ""),
        "top labels:      " + (", ".join(f"{k} ({v})" for k, v in s["top_labels"]) or "-"),
    ]
    print("\n".join(lines))
    return 0
