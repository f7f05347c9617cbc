"""Benchmark: the interpretability pass (afkit.interpret.attribution, afkit.interpret.evidence) on
the synthetic release, per step: seconds, explained (video, label) pairs per second and table rows.

    .venv/bin/python benchmarks/interpret.py          # 64 test videos, cpu-profile sizes
    .venv/bin/python benchmarks/interpret.py --videos 256 --n-steps 32

Builds a small synthetic set (cpu profile: 300 classes, 20..100 frames a video; only the test
split is sized by --videos) and its frame store in a temporary folder, then times each step on an
untrained cpu-size ``attend_fusion_frames`` (timings do not depend on the weights) and the
video-level steps on ``attend_fusion`` (mean_std inputs). Prints one table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import _results  # noqa: E402

from afkit.data import (
    batches,
    featurize,
    store,
    synth,  # noqa: E402
)
from afkit.interpret import attribution as I  # noqa: E402
from afkit.interpret import evidence as E  # noqa: E402
from afkit.models import registry as models


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--n-steps", type=int, default=16, help="Integrated Gradients steps")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="32 videos, 8 IG steps")
    args = ap.parse_args(argv)
    if args.quick:
        args.videos, args.n_steps = 32, 8
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synth.generate(
            root / "data",
            "cpu",
            seed=0,
            progress=False,
            train_videos=8,
            validate_videos=8,
            test_videos=args.videos,
            videos_per_shard=max(args.videos, 8),
        )
        featurize.build(
            root / "store",
            root / "data",
            splits=["test"],
            feature_set="mean_std",
            frames=True,
            progress=False,
        )
        split = store.open_store(root / "store" / "test")
        in_order = batches.Order(shuffle=False)
        frames = batches.Batches(split, args.batch_size, batches.Inputs(kind="frame"), in_order)
        features = batches.Batches(split, args.batch_size, batches.Inputs(kind="video"), in_order)
        _, spans = synth.load_ground_truth(root / "data", "test")
        pairs = sum(len(split.labels(i)) for i in range(len(split)))
        fmodel = models.build("attend_fusion_frames", "cpu").eval()
        vmodel = models.build("attend_fusion", "cpu", features="mean_std").eval()

        rows, tables = [], {}

        def timed(step, fn, n):
            t = time.perf_counter()
            out = fn()
            s = time.perf_counter() - t
            rows.append(
                {
                    "step": step,
                    "seconds": round(s, 3),
                    "pairs/s": round(n / s, 1),
                    "rows": len(out) if isinstance(out, pd.DataFrame) else None,
                }
            )
            return out

        kw = dict(ids=split.ids, progress=False)
        stream = I.Stream(**kw)
        tables["attention"] = timed(
            "attention_table (frames)", lambda: I.attention_table(fmodel, frames, **kw), len(split)
        )
        timed(
            "attention_table (video)", lambda: I.attention_table(vmodel, features, **kw), len(split)
        )
        timed(
            "attention_entropy (frames)",
            lambda: I.attention_entropy(tables["attention"]),
            len(split),
        )
        tables["integrated_gradients"] = timed(
            f"IG, n_steps={args.n_steps} (frames)",
            lambda: I.attribution_table(
                fmodel,
                frames,
                I.Method(n_steps=args.n_steps, internal_batch_size=256),
                stream=stream,
            ),
            pairs,
        )
        tables["input_x_gradient"] = timed(
            "InputXGradient (frames)",
            lambda: I.attribution_table(fmodel, frames, "input_x_gradient", stream=stream),
            pairs,
        )
        timed(
            "FeatureAblation (frames)",
            lambda: I.attribution_table(fmodel, frames, "feature_ablation", stream=stream),
            pairs,
        )
        timed(
            f"IG, n_steps={args.n_steps} (video)",
            lambda: I.attribution_table(
                vmodel, features, I.Method(n_steps=args.n_steps), stream=stream
            ),
            pairs,
        )
        timed(
            "FeatureAblation (video)",
            lambda: I.attribution_table(vmodel, features, "feature_ablation", stream=stream),
            pairs,
        )
        scores = timed(
            "evidence_auroc (3 methods + random)", lambda: E.evidence_auroc(tables, spans), pairs
        )
        timed("means_with_ci (bootstrap)", lambda: E.means_with_ci(scores), pairs)
        timed(
            "deletion_test (3 methods, k=5)",
            lambda: E.deletion_test(
                fmodel, frames, tables, E.Deletion(k=5, n_random=3), stream=stream
            ),
            pairs,
        )

    print(
        f"afkit.interpret.attribution + evidence: {len(split)} videos, {pairs} (video, label) "
        f"pairs, {int(split.num_frames.sum())} frames; torch threads {args.threads}, CPU fp32"
    )
    print(pd.DataFrame(rows).to_string(index=False))
    _results.write(
        "interpret",
        "Interpretability pass",
        ["step", "seconds", "pairs/s", "table rows"],
        [
            [
                r["step"],
                f"{r['seconds']:.3f}",
                f"{r['pairs/s']:,.1f}",
                r["rows"] if r["rows"] is not None else "-",
            ]
            for r in rows
        ],
        size=f"{len(split)} test videos, {pairs} (video, label) pairs, "
        f"{int(split.num_frames.sum()):,} frames, IG with {args.n_steps} steps"
        + (" (`--quick`)" if args.quick else ""),
        notes=[
            "Untrained cpu-size models (timings do not depend on the weights); torch threads "
            f"{args.threads}, CPU fp32, wall clock."
        ],
        data=rows,
        config=vars(args),
        align="lrrr",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
