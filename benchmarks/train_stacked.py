"""Training the cpu profile's video-level models one by one vs stacked, in float32 and bf16.

    nice python benchmarks/train_stacked.py            # ~2 minutes on 2 idle cores
    python benchmarks/train_stacked.py --steps 4 --rounds 2 --models attend_fusion   # a check

For each model of the cpu profile (300 classes, MF+STD inputs, batch 128, dropout 0.4, fused
AdamW: the protocol's trials) one process times the training step of

- ``alone``: one model, the loop's own step (forward, BCE-with-logits, backward, AdamW);
- ``stack K``: K members of a learning-rate search as one stack
  (:class:`afkit.training.stacked.Stack`, each member its own AdamW, K = 2 and 4);
- each in float32 and under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (bf16 matmuls:
  this CPU's ``avx512_bf16`` instructions, where it has them).

All in one thread, as the protocol trains (each trial single-threaded, two at once on two
cores): a member-sample rate at one thread is the rate each of the two processes gets. The
machine is shared and noisy, so the variants are interleaved (round after round, each
variant timed ``--steps`` steps a round, the best round kept) and the table gives ratios
measured side by side; the float32 (and bf16) ``torch.mm`` rate is measured in the same
rounds, at one thread. Share of the matmul rate = member samples/s x 3 x forward FLOPs
(``afkit.models.registry.forward_flops``) / the float32 rate. Inputs are random tensors (the
batch read, which a stack does once for K members, is not in these numbers).
"""

from __future__ import annotations

import argparse
import time

import _results

MODELS = ("fc_early", "fc_late", "fcrn_gated_late", "attend_fusion")
BATCH, CLASSES = 128, 300


def _variant(name: str, k: int, bf16: bool, batch: int = BATCH):
    """A step function training ``k`` members of ``name`` (k = 1: the plain loop's step) on
    batches of ``batch``."""
    import torch
    import torch.nn.functional as F

    from afkit.models import registry as models
    from afkit.training import stacked, train

    def build():
        torch.manual_seed(0)
        return models.build(name, "cpu", num_classes=CLASSES, dropout=0.4, features="mean_std")

    config = train.make_config("cpu", model=name)
    g = torch.Generator().manual_seed(1)
    visual, audio = torch.randn(batch, 2048, generator=g), torch.randn(batch, 256, generator=g)
    y = (torch.rand(batch, CLASSES, generator=g) < 0.01).float()

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    if k == 1:
        model = build().train()
        opt = train._make_optimizer(config, model)

        def step():
            with autocast():
                logits = model(visual, audio)
            loss = F.binary_cross_entropy_with_logits(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step, build()
    members = [build().train() for _ in range(k)]
    stack = stacked.Stack(members)
    opts = [train._make_optimizer(config, m) for m in members]

    def step():
        with autocast():
            logits = stack(visual, audio)
        losses = [F.binary_cross_entropy_with_logits(logits[i].float(), y) for i in range(k)]
        stack.zero_grad()
        torch.stack(losses).sum().backward()
        stack.member_grads()
        for o in opts:
            o.step()

    return step, members[0]


def _mm(dtype):
    import torch

    a = torch.randn(1024, 1024).to(dtype)
    b = torch.randn(1024, 1024).to(dtype)

    def step():
        a @ b

    return step


def _time_model(name, variants, mm, mm_best, rounds, steps_a_round) -> list[dict]:
    """The best step time of each variant of model ``name``, variants and the matmuls
    interleaved round by round (``mm_best`` updated in place)."""
    from afkit.models import registry as models

    steps = {v: _variant(name, *v) for v in variants}
    flops = models.forward_flops(steps[variants[0]][1])
    params = models.count_parameters(steps[variants[0]][1])
    best = {v: float("inf") for v in variants}
    for fn, _ in steps.values():  # warm-up
        for _ in range(2):
            fn()
    for _ in range(rounds):
        for v, (fn, _) in steps.items():
            t0 = time.perf_counter()
            for _ in range(steps_a_round):
                fn()
            best[v] = min(best[v], (time.perf_counter() - t0) / steps_a_round)
        for key, fn in mm.items():
            t0 = time.perf_counter()
            for _ in range(4):
                fn()
            mm_best[key] = min(mm_best[key], (time.perf_counter() - t0) / 4)
    out = []
    for v in variants:
        k, bf, batch = v
        out.append(
            {
                "model": name,
                "members": k,
                "bf16": bf,
                "batch": batch,
                "step_s": best[v],
                "member_samples_per_s": k * batch / best[v],
                "forward_flops": flops,
                "params": params,
            }
        )
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--steps", type=int, default=8, help="timed steps a variant a round")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best kept)")
    p.add_argument("--no-write", action="store_true", help="print only")
    a = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    bf16_cpu = "avx512_bf16" in open("/proc/cpuinfo").read()
    # (members, bf16, batch): the batch rows show what a larger batch buys (its learning rate
    # would have to be searched again: not a default changed here)
    variants = [
        (1, False, BATCH),
        (2, False, BATCH),
        (4, False, BATCH),
        (1, True, BATCH),
        (2, True, BATCH),
        (1, False, 2 * BATCH),
        (1, False, 4 * BATCH),
    ]
    mm = {"fp32": _mm(torch.float32), "bf16": _mm(torch.bfloat16)}
    mm_best = {k: float("inf") for k in mm}
    rows, data = [], []
    for name in a.models:
        data.extend(_time_model(name, variants, mm, mm_best, a.rounds, a.steps))
    fp32_rate = 2 * 1024**3 / mm_best["fp32"]
    bf16_rate = 2 * 1024**3 / mm_best["bf16"]
    for d in data:
        alone = next(
            x["member_samples_per_s"]
            for x in data
            if x["model"] == d["model"]
            and x["members"] == 1
            and not x["bf16"]
            and x["batch"] == BATCH
        )
        d["share_of_fp32_matmul"] = d["member_samples_per_s"] * 3 * d["forward_flops"] / fp32_rate
        d["vs_alone_fp32"] = d["member_samples_per_s"] / alone
        rows.append(
            [
                d["model"],
                d["params"],
                "alone" if d["members"] == 1 else f"stack of {d['members']}",
                d["batch"],
                "bf16 autocast" if d["bf16"] else "float32",
                round(d["member_samples_per_s"]),
                f"{100 * d['share_of_fp32_matmul']:.0f}%",
                f"{d['vs_alone_fp32']:.2f}x",
            ]
        )
    notes = [
        f"One thread (the protocol's trials: one thread each, two at once on two cores). "
        f"float32 `torch.mm` rate at one thread, measured in the same rounds: "
        f"{fp32_rate / 1e9:.0f} GFLOP/s; bf16: {bf16_rate / 1e9:.0f} GFLOP/s "
        f"(avx512_bf16 {'present' if bf16_cpu else 'absent'}).",
        "Member samples/s: samples trained per second summed over a stack's members. The "
        "machine is shared by several processes: variants are interleaved round by round and "
        "the best round kept; read the ratio column (side by side), not the absolute rates.",
        "Share = member samples/s x 3 x forward FLOPs / the float32 matmul rate (bf16 rows "
        "too, against float32: what a user gains). Inputs are random tensors: the batch read "
        "(once per stack, once per run alone) is not included.",
    ]
    if a.no_write:
        for r in rows:
            print(r)
        print("\n".join(notes))
        return 0
    _results.write(
        "train_stacked",
        "Training one by one vs stacked, float32 vs bf16 (`benchmarks/train_stacked.py`)",
        [
            "model",
            "parameters",
            "how",
            "batch",
            "precision",
            "member samples/s",
            "of the fp32 matmul rate",
            "vs alone fp32",
        ],
        rows,
        size=f"cpu profile, batch {BATCH} (and 256, 512 alone), {CLASSES} classes, MF+STD; "
        f"{a.rounds} rounds x {a.steps} steps a variant, after 2 warm-up steps",
        notes=notes,
        data={"rows": data, "fp32_matmul_flops": fp32_rate, "bf16_matmul_flops": bf16_rate},
        config=vars(a),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
