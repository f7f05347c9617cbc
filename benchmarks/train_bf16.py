"""bf16 autocast on the CPU: its effect on the metrics (and the wall time) of real training runs.

    nice python benchmarks/train_bf16.py                  # ~5 minutes on 2 idle cores
    python benchmarks/train_bf16.py --train-videos 1000 --epochs 2 --models fc_late   # a check

``afkit.training.devices.autocast_for`` autocasts to bf16 on CUDA only. This script trains the
same runs twice, in float32 and with bf16 autocast on the CPU as well (training and
validation: what turning it on would give a user), on a synthetic release of the cpu profile
(300 classes; ``--train-videos`` training videos, a quarter of that each for validate and
test), MF+STD, batch 128, the cpu profile's AdamW, lr 1e-3 annealed to 0 (cosine) over
``--epochs`` epochs, seed 0, one thread. The table gives the best validation GAP and micro-F1
of each run, their differences, and the runs' training seconds (optimizer steps only; the
machine is shared: the two precisions alternate model by model, read the ratio). Whether the
differences matter is read against the seed-to-seed spread of the same runs (two seeds in
float32).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import _results

MODELS = ("fc_early", "fc_late", "fcrn_gated_late", "attend_fusion")


def _autocast_on_cpu(enabled: bool) -> None:
    """Make the training loop (and its evaluation) autocast to bf16 on the CPU too."""
    import torch

    from afkit.training import devices

    def autocast_for(device, bf16):
        on = bool(bf16) and enabled
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on)

    devices.autocast_for = autocast_for


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--train-videos", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)

    import torch

    from afkit.data import featurize, synth
    from afkit.training import train

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="afkit-bf16-"))
    n_eval = max(200, a.train_videos // 4)
    synth.generate(
        tmp / "data",
        "cpu",
        progress=False,
        train_videos=a.train_videos,
        validate_videos=n_eval,
        test_videos=n_eval,
    )
    featurize.build(tmp / "store", tmp / "data", feature_set="mean_std", progress=False)
    rows, data = [], []
    for name in a.models:
        res = {}
        for key, bf16, seed in (("fp32", False, 0), ("bf16", True, 0), ("fp32 seed 1", False, 1)):
            _autocast_on_cpu(bf16)
            config = train.make_config(
                "cpu",
                model=name,
                epochs=a.epochs,
                patience=None,
                seed=seed,
                bf16=bf16,
                progress=False,
            )
            res[key] = train.train(config, tmp / "store", tmp / "runs" / f"{name}-{key}")
        best = {k: max(h["val_gap"] for h in r["history"]) for k, r in res.items()}
        f1 = {k: r["final"]["micro_f1"] for k, r in res.items()}
        sec = {k: r["train_seconds"] for k, r in res.items()}
        rows.append(
            [
                name,
                f"{best['fp32']:.4f}",
                f"{best['bf16']:.4f}",
                f"{100 * (best['bf16'] - best['fp32']):+.2f}",
                f"{100 * (best['fp32 seed 1'] - best['fp32']):+.2f}",
                f"{f1['fp32']:.4f}",
                f"{f1['bf16']:.4f}",
                f"{sec['fp32'] / sec['bf16']:.2f}x",
            ]
        )
        data.append({"model": name, "best_val_gap": best, "micro_f1": f1, "train_seconds": sec})
    notes = [
        "GAP: the best validation GAP over the epochs; micro-F1 at 0.5 of the last epoch "
        "(keep_best off). Differences in points (x 100). The seed column is the float32 run at "
        "seed 1 minus seed 0: the spread a precision difference is read against.",
        "Speed-up: float32 training seconds / bf16 training seconds of the same run (optimizer "
        "steps only, one thread; the machine is shared, so this is indicative: "
        "`train_stacked.md` measures the step side by side).",
    ]
    if a.no_write:
        for r in rows:
            print(r)
        return 0
    _results.write(
        "train_bf16",
        "bf16 autocast on the CPU: metrics and speed (`benchmarks/train_bf16.py`)",
        [
            "model",
            "val GAP fp32",
            "val GAP bf16",
            "bf16 - fp32 (points)",
            "seed 1 - seed 0, fp32 (points)",
            "micro-F1 fp32",
            "micro-F1 bf16",
            "bf16 speed-up",
        ],
        rows,
        size=f"synthetic cpu-profile release with {a.train_videos:,} training videos and "
        f"{n_eval:,} validation videos, {a.epochs} epochs, batch 128, one thread",
        notes=notes,
        data=data,
        config=vars(a),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
