"""Release-like data directories for the real-data tests: the records of a synthetic set
rewritten as a real YouTube-8M download holds them (no ground truth, no synthetic marks, the test
split's labels withheld), in either layout of the release and either schema.

    make_release(synthetic_dir, dest, layout="per-split", levels=("video", "frame"),
                 schema=2018, vocabulary=True, labelled_test=False)
"""

from __future__ import annotations

import shutil
from pathlib import Path

from afkit.io import records

SPLITS = ("train", "validate", "test")


def make_release(
    synthetic_dir,
    dest,
    *,
    layout: str = "per-split",
    levels=("video", "frame"),
    schema: int = 2018,
    vocabulary: bool = True,
    labelled_test: bool = False,
) -> Path:
    """``dest`` made from ``synthetic_dir``'s records, file by file (the same shard names):
    ``layout`` ``"flat"`` (``video/train0000.tfrecord``, as the download script writes) or
    ``"per-split"`` (``video/train/train0000.tfrecord``); the 2018 schema (``id``) or 2017
    (``video_id``); ``vocabulary.csv`` copied or not; the test split's labels removed unless
    ``labelled_test``."""
    src, dest = Path(synthetic_dir), Path(dest)
    id_key = "id" if schema == 2018 else "video_id"
    for level in levels:
        for split in SPLITS:
            for path in sorted((src / level).glob(f"{split}*.tfrecord")):
                folder = dest / level / (split if layout == "per-split" else "")
                folder.mkdir(parents=True, exist_ok=True)
                recs = list(records.read_records(path))
                if split == "test" and not labelled_test:
                    for r in recs:
                        r["labels"] = r["labels"][:0]
                records.write_records(folder / path.name, recs, id_key=id_key)
    if vocabulary:
        shutil.copy2(src / "vocabulary.csv", dest / "vocabulary.csv")
    return dest
