"""Training throughput: samples/s, peak RSS and the achieved fraction of the float32 matmul rate.

    python benchmarks/train_throughput.py      # paper-size fc_late, attend_fusion + cpu profile
    python benchmarks/train_throughput.py --steps 2 --threads 2 --skip-paper

For each (model, profile, AdamW implementation) one fresh child process builds the model, runs
``--warmup`` training steps and then times ``--steps`` steps of the loop's own step (forward,
BCE-with-logits, backward, AdamW: :func:`afkit.training.train._make_optimizer`) on random inputs,
and reports its peak RSS. Achieved FLOP/s = samples/s x 3 x forward FLOPs
(``afkit.models.registry.forward_flops``: backward costs twice the forward; for these MLPs that is
the usual 6 x parameters, and for the frame-level model it counts every frame), divided by the rate
of ``torch.mm`` on 2048 x 2048 float32 matrices measured in the same run with the same threads.

``--breakdown`` adds where a paper-size step's time goes (one fresh process a row): forward,
backward and the optimizer step timed apart, and the share of forward + backward spent in matrix
products (``aten::mm`` / ``addmm`` / ``bmm`` / ``baddbmm``, self CPU time under
``torch.profiler``): the rest (element-wise ops, softmax, normalization, copies) and the
optimizer are what keep a step below the matmul rate. ``--paper-batches`` sweeps the paper-size
batch (the optimizer's cost per step is fixed, so a larger batch spreads it thinner).

On CUDA (when present) the paper profile also runs in bf16 autocast and the table adds the
projected hours for 20 epochs over the 3.9M-video train split (2018 release).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import _results

TRAIN_VIDEOS_2018 = 3_888_919  # train split of the 2018 release (video level)


def matmul_rate(threads: int, n: int = 2048, seconds: float = 2.0, device: str = "cpu") -> float:
    """FLOP/s of ``torch.mm`` on n x n float32 (2 n^3 FLOPs per product)."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
        if device != "cpu":
            torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def run_one(spec: dict) -> dict:
    """Time training steps of one model (runs in a fresh process, for a clean peak RSS)."""
    import torch
    import torch.nn.functional as F

    from afkit.models import registry as models
    from afkit.training import train

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    device = torch.device(spec["device"])
    model = models.build(spec["model"], profile=spec["profile"], dropout=0.4).to(device)
    config = train.make_config("paper", adamw=spec["adamw"], lr=1e-4)
    opt = train._make_optimizer(config, model)
    b = spec["batch"]
    inputs = [x.to(device) for x in models.example_inputs(model, b, frames=spec["frames"])]
    y = (torch.rand(b, model.config.num_classes, device=device) < 0.002).float()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=spec["bf16"])

    def step():
        with autocast:
            logits = model(*inputs)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(spec["warmup"]):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = float("inf")
    for _ in range(spec["repeats"]):  # the best of a few timings: the machine is shared
        t0 = time.perf_counter()
        for _ in range(spec["steps"]):
            loss = step()
        float(loss)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = min(seconds, time.perf_counter() - t0)
    params = models.count_parameters(model)
    return {
        "params": params,
        "samples_per_s": b * spec["steps"] / seconds,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "train_flops_per_sample": 3 * models.forward_flops(model, frames=spec["frames"]),
    }


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")


def run_breakdown(spec: dict) -> dict:
    """One paper-size step split into forward / backward / optimizer (seconds, the best of
    ``repeats``), and the matrix products' share of forward + backward (profiled once)."""
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    from afkit.models import registry as models
    from afkit.training import train

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    model = models.build(spec["model"], profile=spec["profile"], dropout=0.4)
    opt = train._make_optimizer(train.make_config("paper", adamw=spec["adamw"], lr=1e-4), model)
    inputs = models.example_inputs(model, spec["batch"])
    y = (torch.rand(spec["batch"], model.config.num_classes) < 0.002).float()

    def phases():
        t0 = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(model(*inputs), y)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    phases()  # warm-up (the optimizer's state is allocated here)
    best = min((phases() for _ in range(spec["repeats"])), key=sum)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loss = F.binary_cross_entropy_with_logits(model(*inputs), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS)
    return {
        "forward_s": best[0],
        "backward_s": best[1],
        "optimizer_s": best[2],
        "matmul_share": matmul / total if total else float("nan"),
    }


def _child(spec: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True
    )
    if proc.returncode:
        raise RuntimeError(f"{spec}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _specs(args, base: dict) -> list[dict]:
    """The runs to time: paper size (each AdamW implementation at the first batch, fused at the
    others) unless ``--skip-paper``, then the cpu profile of each model."""
    specs = []
    if not args.skip_paper:
        batches = [int(b) for b in args.paper_batches.split(",")]
        for model in ("fc_late", "attend_fusion"):
            for batch in batches:
                for adamw in args.adamw.split(",") if batch == batches[0] else ["fused"]:
                    specs.append(
                        {
                            **base,
                            "model": model,
                            "profile": "paper",
                            "adamw": adamw,
                            "batch": batch,
                            "steps": args.steps,
                        }
                    )
    for model in (
        "fc_late",
        "fc_early",
        "fcrn_gated_late",
        "attend_fusion",
        "attend_fusion_frames",
    ):
        specs.append(
            {
                **base,
                "model": model,
                "profile": "cpu",
                "adamw": "fused",
                "batch": args.cpu_batch,
                "steps": args.cpu_steps,
                "repeats": args.cpu_repeats,
                "frames": 100,
            }
        )
    return specs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2, help="timings per model (the best is kept)")
    p.add_argument("--paper-batches", default="256", help="paper-size batches, e.g. 256,1024")
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="also time forward / backward / optimizer of a paper-size step apart",
    )
    p.add_argument("--cpu-batch", type=int, default=128, help="cpu-profile batch")
    p.add_argument("--skip-paper", action="store_true")
    p.add_argument("--adamw", default="foreach,fused", help="AdamW implementations at paper size")
    p.add_argument("--cpu-steps", type=int, default=50)
    p.add_argument("--cpu-repeats", type=int, default=5)
    p.add_argument(
        "--quick",
        action="store_true",
        help="paper size with fused AdamW only, 2 timed steps once; cpu profile 20 steps twice",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        spec = json.loads(args.one)
        print(json.dumps(run_breakdown(spec) if spec.get("breakdown") else run_one(spec)))
        return 0
    if args.quick:
        args.steps, args.repeats, args.adamw, args.cpu_steps, args.cpu_repeats = (
            2,
            1,
            "fused",
            20,
            2,
        )

    import torch

    rates = [matmul_rate(args.threads)]
    base = dict(
        threads=args.threads,
        device="cpu",
        bf16=False,
        frames=300,
        warmup=args.warmup,
        repeats=args.repeats,
    )
    specs = _specs(args, base)
    results = []
    for spec in specs:
        results.append((spec, _child(spec)))
        print(
            f"  done {spec['model']} {spec['profile']} {spec['adamw']}", file=sys.stderr, flush=True
        )
    # the rate before and after the models (the best: other load only lowers it)
    rates.append(matmul_rate(args.threads))
    rate = max(rates)
    print(
        f"torch {torch.__version__}, {args.threads} threads: float32 mm rate {rate / 1e9:.1f} "
        f"GFLOP/s (2048 x 2048; measured {', '.join(f'{r / 1e9:.0f}' for r in rates)})\n"
    )
    rows = []
    for spec, r in results:
        frac = r["samples_per_s"] * r["train_flops_per_sample"] / rate
        rows.append(
            (
                spec["model"],
                spec["profile"],
                spec["adamw"],
                spec["batch"],
                r["params"],
                r["samples_per_s"],
                r["peak_rss_gb"],
                frac,
            )
        )

    gpu_note = "No GPU was lent to this run: the bf16 CUDA rows are unmeasured."
    if torch.cuda.is_available():
        gpu_rate = matmul_rate(1, n=8192, device="cuda")
        print(f"CUDA {torch.cuda.get_device_name()}: float32 mm {gpu_rate / 1e12:.1f} TFLOP/s")
        for model in ("fc_late", "attend_fusion"):
            r = _child(
                {
                    **base,
                    "device": "cuda",
                    "bf16": True,
                    "model": model,
                    "profile": "paper",
                    "adamw": "fused",
                    "batch": 1024,
                    "steps": 20,
                    "warmup": 3,
                    "repeats": 3,
                }
            )
            hours = 20 * TRAIN_VIDEOS_2018 / r["samples_per_s"] / 3600
            print(
                f"  {model} paper bf16 batch 1024: {r['samples_per_s']:.0f} samples/s, "
                f"20 epochs on {TRAIN_VIDEOS_2018:,} videos: {hours:.1f} h"
            )
            rows.append(
                (
                    model,
                    "paper",
                    "fused, bf16 CUDA",
                    1024,
                    r["params"],
                    r["samples_per_s"],
                    r["peak_rss_gb"],
                    r["samples_per_s"] * r["train_flops_per_sample"] / gpu_rate,
                )
            )
        gpu_note = f"CUDA rows: {torch.cuda.get_device_name()}, fraction of its float32 mm rate."

    head = (
        "model",
        "profile",
        "AdamW",
        "batch",
        "params",
        "samples/s",
        "peak RSS GB",
        "of mm rate",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for m, prof, adamw, b, n, sps, rss, frac in rows:
        print(f"| {m} | {prof} | {adamw} | {b} | {n:,} | {sps:,.0f} | {rss:.2f} | {frac:.0%} |")
    _results.write(
        "train_throughput",
        "Training throughput",
        [
            "model",
            "profile",
            "AdamW",
            "batch",
            "parameters",
            "samples/s",
            "peak RSS (GB)",
            "of the matmul rate",
        ],
        [
            [m, prof, adamw, b, f"{n:,}", f"{sps:,.0f}", f"{rss:.2f}", f"{frac:.0%}"]
            for m, prof, adamw, b, n, sps, rss, frac in rows
        ],
        size=(
            (
                "cpu profile only"
                if args.skip_paper
                else f"paper size ({args.adamw} AdamW) {args.steps} timed steps x {args.repeats}, "
                f"after {args.warmup} warm-up"
            )
            + f"; cpu profile {args.cpu_steps} steps x {args.cpu_repeats}"
            + (" (`--quick`)" if args.quick else "")
        ),
        notes=[
            f"float32 `torch.mm` rate measured in the same run: {rate / 1e9:.0f} GFLOP/s "
            f"({args.threads} threads; the best of before and after). Training FLOPs = 3 x the "
            "forward FLOPs. Wall clock, the best "
            "of the repeats, one fresh process a row. " + gpu_note
        ],
        data=[
            dict(
                zip(
                    (
                        "model",
                        "profile",
                        "adamw",
                        "batch",
                        "params",
                        "samples_per_s",
                        "peak_rss_gb",
                        "of_mm_rate",
                    ),
                    r,
                    strict=True,
                )
            )
            for r in rows
        ],
        config={k: v for k, v in vars(args).items() if k != "one"},
        align="lllrrrrr",
    )
    if args.breakdown and not args.skip_paper:
        breakdown(base, [int(b) for b in args.paper_batches.split(",")], args)
    return 0


def breakdown(base: dict, batches: list[int], args) -> None:
    """The ``train_breakdown`` table: where a paper-size step's time goes (see the docstring)."""
    rows, data = [], []
    for model in ("fc_late", "attend_fusion"):
        for batch in batches:
            spec = {
                **base,
                "model": model,
                "profile": "paper",
                "adamw": "fused",
                "batch": batch,
                "breakdown": True,
                "repeats": args.repeats,
            }
            r = _child(spec)
            step = r["forward_s"] + r["backward_s"] + r["optimizer_s"]
            rows.append(
                [
                    model,
                    batch,
                    f"{r['forward_s']:.2f}",
                    f"{r['backward_s']:.2f}",
                    f"{r['optimizer_s']:.2f}",
                    f"{r['optimizer_s'] / step:.0%}",
                    f"{r['matmul_share']:.0%}",
                ]
            )
            data.append({"model": model, "batch": batch, **r})
            print(f"  breakdown {model} batch {batch}: {r}", file=sys.stderr, flush=True)
    _results.write(
        "train_breakdown",
        "Where a paper-size training step's time goes",
        [
            "model",
            "batch",
            "forward (s)",
            "backward (s)",
            "AdamW step (s)",
            "AdamW share of the step",
            "matrix products' share of forward + backward",
        ],
        rows,
        size=f"one step a row, the best of {args.repeats} after a warm-up, fused AdamW, "
        f"{args.threads} threads "
        "(written by `train_throughput.py --breakdown`)",
        notes=[
            "The matrix products' share is their self CPU time over all ops' self CPU time of one "
            "forward + backward under `torch.profiler` (aten::mm, addmm, bmm, baddbmm); the rest "
            "is element-wise work (activations, dropout, normalization, softmax), copies and the "
            "loss. The AdamW step reads and writes every parameter and both moments: a fixed cost "
            "per step, so its share falls as the batch grows."
        ],
        data=data,
        config={k: v for k, v in vars(args).items() if k != "one"},
        align="lrrrrrr",
        script="train_throughput",
    )


if __name__ == "__main__":
    sys.exit(main())
