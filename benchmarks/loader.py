"""Loader throughput against the training step of the cpu-profile models.

    .venv/bin/python benchmarks/loader.py [--videos 20000] [--frame-videos 600] [--batch 256]

Builds (under a temp dir) a ``mean_std`` float16 feature store of ``--videos`` random videos and a
frame store of ``--frame-videos`` videos of 60..300 frames, then measures

- the samples/s that :class:`afkit.data.batches.Batches` serves (one shuffled epoch, batches
  straight from the memory maps, dense multi-hot targets, frames dequantized and padded);
- the samples/s of one training step (forward, BCE loss, backward, AdamW) of the cpu-profile
  models of :mod:`afkit.models.registry` on those batches (the torch threads are the defaults);

and prints the ratio: the loader must serve at least 10x what training consumes.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _results
import numpy as np
import torch

from afkit.data import batches as B
from afkit.data import featurize
from afkit.data import store as S
from afkit.io.records import write_records


def make_frame_data(
    root: Path, videos: int, t_range: tuple[int, int], classes: int, per_shard: int, seed: int
):
    (root / "frame").mkdir(parents=True, exist_ok=True)
    (root / "vocabulary.csv").write_text(
        "Index,Name\n" + "".join(f"{i},c{i}\n" for i in range(classes))
    )
    rng = np.random.default_rng(seed)

    def recs(shard, n):
        for i in range(n):
            t = int(rng.integers(t_range[0], t_range[1] + 1))
            yield {
                "id": f"s{shard}v{i}",
                "labels": rng.choice(classes, 3, replace=False),
                "rgb": rng.integers(0, 256, (t, 1024), dtype=np.uint8),
                "audio": rng.integers(0, 256, (t, 128), dtype=np.uint8),
            }

    for shard in range(-(-videos // per_shard)):
        n = min(per_shard, videos - shard * per_shard)
        write_records(root / "frame" / f"train{shard:04d}.tfrecord", recs(shard, n))


def loader_rate(loader: B.Batches, max_batches: int | None = None) -> float:
    n, t = 0, time.perf_counter()
    for k, batch in enumerate(loader.iter_epoch(0)):
        n += len(batch["index"])
        if max_batches and k + 1 >= max_batches:
            break
    return n / (time.perf_counter() - t)


def train_rate(model, batches: list[dict], steps: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()

    def step(b):
        if model.input_kind == "frame":
            logits = model(b["rgb"], b["audio"], b["mask"])
        else:
            logits = model(b["visual"], b["audio"])
        loss = loss_fn(logits, b["y"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(batches[0])  # warm-up
    n, t = 0, time.perf_counter()
    for k in range(steps):
        b = batches[k % len(batches)]
        step(b)
        n += len(b["index"])
    return n / (time.perf_counter() - t)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", type=int, default=20000)
    p.add_argument("--frame-videos", type=int, default=600)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--frame-batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument(
        "--quick", action="store_true", help="5,000 feature videos, 200 frame videos, 8 steps"
    )
    a = p.parse_args(argv)
    if a.quick:
        a.videos, a.frame_videos, a.steps = 5000, 200, 8
    from afkit.models import registry as M

    classes = M.PROFILES["cpu"].num_classes
    tmp = Path(tempfile.mkdtemp(prefix="afkit-loader-"))
    rows = []
    try:
        make_frame_data(tmp / "feat", a.videos, (1, 2), classes, 5000, 0)
        featurize.build(
            tmp / "fs", tmp / "feat", splits=["train"], feature_set="mean_std", progress=False
        )
        make_frame_data(tmp / "frm", a.frame_videos, (60, 300), classes, 200, 1)
        featurize.build(
            tmp / "fr",
            tmp / "frm",
            splits=["train"],
            feature_set="mean_std",
            frames=True,
            progress=False,
        )
        fs, fr = S.open_store(tmp / "fs", "train"), S.open_store(tmp / "fr", "train")

        feat_loader = B.Batches(fs, a.batch, order=B.Order(seed=0))
        served = loader_rate(feat_loader)
        batches = list(itertools.islice(feat_loader.iter_epoch(1), 8))
        for name in ("fc_late", "attend_fusion"):
            model = M.build(name, "cpu", features="mean_std")
            rows.append(
                (
                    f"features B={a.batch}",
                    name,
                    M.count_parameters(model),
                    served,
                    train_rate(model, batches, a.steps),
                )
            )
        for cap in (300, 100):
            fl = B.Batches(
                fr, a.frame_batch, B.Inputs(kind="frame", max_frames=cap), B.Order(seed=0)
            )
            served = loader_rate(fl)
            batches = list(itertools.islice(fl.iter_epoch(1), 4))
            model = M.build("attend_fusion_frames", "cpu")
            rows.append(
                (
                    f"frames B={a.frame_batch} T<={cap}",
                    "attend_fusion_frames",
                    M.count_parameters(model),
                    served,
                    train_rate(model, batches, max(4, a.steps // 4)),
                )
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cells = [
        [what, name, f"{params:,}", f"{served:,.0f}", f"{trained:,.0f}", f"{served / trained:.0f}x"]
        for what, name, params, served, trained in rows
    ]
    _results.write(
        "loader",
        "Loader vs training",
        [
            "batches",
            "model (cpu profile)",
            "parameters",
            "loader samples/s",
            "training samples/s",
            "loader / training",
        ],
        cells,
        size=f"{a.videos:,} videos feature store (float16 mean_std), "
        f"{a.frame_videos} videos frame store (60..300 frames), {a.steps} training steps"
        + (" (`--quick`)" if a.quick else ""),
        notes=[
            f"Wall clock; torch threads {torch.get_num_threads()}. The loader must serve at least "
            "10x what a training step consumes."
        ],
        data=[
            dict(zip(("batches", "model", "parameters", "loader", "training"), r, strict=True))
            for r in rows
        ],
        config=vars(a),
        align="llrrrr",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
