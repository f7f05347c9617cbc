"""Benchmark: every registered model at paper and cpu size: parameters, forward FLOPs per video,
and measured forward throughput (videos/s; CPU fp32, or CUDA bf16 autocast where a GPU is present).

    .venv/bin/python benchmarks/models.py                      # all models, paper + cpu
    .venv/bin/python benchmarks/models.py --names fc_late attend_fusion --profiles paper

Paper-size models are built on the meta device and materialized with constant weights (timing
does not depend on the values, and this skips seconds of random init per 100M parameters).
Frame-level models are timed at 300 frames a video. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import pandas as pd
import torch
from tqdm import tqdm

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import _results  # noqa: E402

from afkit.models import registry as M  # noqa: E402
from afkit.models.baselines import MAX_FRAMES  # noqa: E402


def materialize(name: str, profile: str, device: str) -> torch.nn.Module:
    model = M.build(name, profile, device="meta").to_empty(device=device)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1e-3)
        for b in model.buffers():
            b.fill_(1 if b.dtype == torch.bool else 0)
    return model.eval()


def throughput(model, batch: int, iters: int, frames: int, device: str, repeats: int = 3) -> float:
    """Videos per second: the best of ``repeats`` timings of ``iters`` forward passes (the
    machine is shared, so the best timing is the least disturbed one)."""
    inputs = [x.to(device) for x in M.example_inputs(model, batch, frames)]
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device == "cuda"
        else torch.autocast("cpu", enabled=False)
    )
    best = 0.0
    with torch.inference_mode(), autocast:
        model(*inputs)  # warm-up
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(iters):
                model(*inputs)
            if device == "cuda":
                torch.cuda.synchronize()
            best = max(best, batch * iters / (time.perf_counter() - start))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="*", default=M.list_models())
    parser.add_argument("--profiles", nargs="*", default=["paper", "cpu"])
    parser.add_argument("--batch", type=int, default=32, help="videos a forward pass (default 32)")
    parser.add_argument("--iters", type=int, default=20, help="timed forward passes at cpu size")
    parser.add_argument(
        "--paper-iters", type=int, default=2, help="timed forward passes at paper size"
    )
    parser.add_argument(
        "--frames", type=int, default=MAX_FRAMES, help="frames a video (frame-level models)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--quick", action="store_true", help="5 timed passes at cpu size, 1 at paper size"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.iters, args.paper_iters = 5, 1

    rows = []
    jobs = [(p, n) for p in args.profiles for n in args.names]
    for profile, name in tqdm(jobs, desc="models", file=sys.stderr):
        meta = M.build(name, profile, device="meta")
        params, flops = M.count_parameters(meta), M.forward_flops(meta, frames=args.frames)
        model = materialize(name, profile, args.device)
        iters = args.paper_iters if profile == "paper" else args.iters
        vps = throughput(
            model,
            args.batch,
            iters,
            args.frames,
            args.device,
            repeats=1 if profile == "paper" else 3,
        )
        rows.append(
            dict(
                profile=profile,
                model=name,
                params=params,
                gflops_per_video=flops / 1e9,
                videos_per_s=vps,
                gflop_per_s=vps * flops / 1e9,
            )
        )
        del model
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    pd.set_option("display.float_format", lambda x: f"{x:,.4g}")
    dtype = "bf16 autocast" if args.device == "cuda" else f"fp32, {torch.get_num_threads()} threads"
    print(f"device: {args.device} ({dtype}); batch {args.batch}; torch {torch.__version__}")
    print(table.to_string(index=False))
    cells = [
        [
            r["model"],
            r["profile"],
            f"{r['params']:,}",
            f"{r['gflops_per_video']:.4g}",
            f"{r['videos_per_s']:,.1f}",
            f"{r['gflop_per_s']:,.1f}",
        ]
        for r in rows
    ]
    _results.write(
        "models",
        "Models",
        [
            "model",
            "profile",
            "parameters",
            "GFLOPs / video (forward)",
            "videos/s (forward)",
            "GFLOP/s",
        ],
        cells,
        size=f"every registered model, profiles {', '.join(args.profiles)}, batch {args.batch}, "
        f"{args.iters} timed passes at cpu size and {args.paper_iters} at paper size"
        + (" (`--quick`)" if args.quick else ""),
        notes=[
            f"Device {args.device} ({dtype}). Parameters and FLOPs are exact (see notebook 03 and "
            "`python -m afkit params`); frame-level models at "
            f"{args.frames} frames. The forward rates are the best of a few timings, wall clock. "
            + (
                ""
                if args.device == "cuda"
                else "The GPU (bf16) is unmeasured: no GPU was lent to this run."
            )
        ],
        data=rows,
        config={k: v for k, v in vars(args).items()},
        align="llrrrr",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
