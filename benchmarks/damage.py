"""Every single-byte flip and every truncation of two small TFRecord files, through every reader.

    .venv/bin/python benchmarks/damage.py [--masks 1,128,255] [--chunked]

The files and the oracle are those of tests/io/test_damage.py
(tests/helpers/damage_oracle.py: a small
frame-level and a small video-level file of 3 videos each). Here no offset is sampled: for each
file, each byte offset is flipped with each mask of ``--masks`` (XOR; default 0x01, 0x80, 0xFF),
and the file is cut at every length 0 .. size-1; every damaged copy is read by
``read_records`` (strict and ``skip_corrupt``), ``build_index`` + ``read_record`` and, for the
video-level file, ``read_video_batches`` (strict and skipping). ``--chunked`` repeats the flips
and cuts on the no-mmap path with 64-byte chunks. Any deviation from the oracle (a wrong error,
a missing error, a yielded record that differs from the clean one) stops the run with the
message. Writes ``benchmarks/results/damage.{md,json}`` with the number of cases tried
(``--quick``: one mask, the mmap path: a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _results  # noqa: E402

from afkit.io import tfrecord as T  # noqa: E402
from tests.helpers import damage_oracle as D  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--masks", default="1,128,255", help="XOR masks, comma-separated (1-255)")
    ap.add_argument("--chunked", action="store_true", help="also the no-mmap path, 64-byte chunks")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--quick", action="store_true", help="one mask (0x01), the mmap path only")
    args = ap.parse_args(argv)
    if args.quick:
        args.masks, args.chunked = "1", False
    masks = [int(m, 0) for m in args.masks.split(",")]
    os.environ.setdefault("AFKIT_CACHE_DIR", tempfile.mkdtemp(prefix="afkit-cache-"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = D.clean_files(tmp / "clean")
        modes = [("mmap", True, T._CHUNK)] + ([("chunked-64", False, 64)] if args.chunked else [])
        for mode, use_mmap, chunk in modes:
            T._USE_MMAP, T._CHUNK = use_mmap, chunk
            for kind, path in files.items():
                c = D.Clean(path)
                size = len(c.data)
                readers = [r for r in D.READERS if c.video or not r.startswith("batches")]
                if not use_mmap:  # the index path does not depend on mmap
                    readers = [r for r in readers if r != "index"]
                t0 = time.perf_counter()
                flips = [(p, m) for p in range(size) for m in masks]
                n_flip = D.run_cases(c, tmp, flips, [], readers=readers)
                n_cut = D.run_cases(c, tmp, [], range(size), readers=readers)
                n_stale = 0
                if use_mmap:
                    for p in range(size):
                        D.stale_index_case(c, tmp, p, masks[0])
                        n_stale += 1
                dt = time.perf_counter() - t0
                rows.append(
                    {
                        "file": f"{kind}-level",
                        "mode": mode,
                        "bytes": size,
                        "records": len(c.offsets),
                        "masks": masks,
                        "flip_cases": n_flip,
                        "cut_cases": n_cut,
                        "stale_index_cases": n_stale,
                        "readers": readers,
                        "deviations": 0,
                        "seconds": round(dt, 1),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    total = sum(r["flip_cases"] + r["cut_cases"] + r["stale_index_cases"] for r in rows)
    cells = [
        [
            r["file"],
            r["mode"],
            r["bytes"],
            r["records"],
            r["flip_cases"],
            r["cut_cases"],
            r["stale_index_cases"],
            ", ".join(r["readers"]),
            r["deviations"],
            f"{r['seconds']:.1f}",
        ]
        for r in rows
    ]
    _results.RESULTS = Path(args.out)
    _results.write(
        "damage",
        "Damaged-file sweep",
        [
            "file",
            "path",
            "bytes",
            "records",
            "flip cases",
            "cut cases",
            "stale-index cases",
            "readers",
            "deviations",
            "s",
        ],
        cells,
        size=f"every byte flipped with masks {', '.join(hex(m) for m in masks)}, "
        "every truncation length"
        + (", also the no-mmap path" if args.chunked else "")
        + (" (`--quick`)" if args.quick else ""),
        notes=[
            "Each damaged copy read by every reader listed and checked against the clean records "
            "(tests/helpers/damage_oracle.py). Deviations: a case that silently yielded a wrong "
            f"record or raised the wrong error. Total: {total:,} damaged files, 0 deviations."
        ],
        data={"rows": rows, "total_cases": total},
        config=vars(args),
        align="llrrrrrlrr",
    )
    out = Path(args.out)
    print(f"{total} cases, 0 deviations; wrote {out / 'damage.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
