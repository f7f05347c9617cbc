"""Training the trials of one learning-rate search together: K runs that differ only in their
learning rate, as one stacked model.

The runs of a search (:mod:`afkit.training.protocol`: one arm, its learning rates, the tuning
seed) share everything but the rate: the same seed gives the same initial weights, the same
data order (:func:`afkit.data.batches.epoch_batches` depends on the seed alone) and the same
dropout masks (one RNG stream, drawn in the same order). :func:`train_stacked` trains them as
one model whose parameters are stacked ``[K, ...]`` (``torch.func.vmap`` of
``torch.func.functional_call``, dropout drawn once per call and shared, ``randomness="same"``):
each batch is read once and each layer is one batched product for the K members, which spends
the per-operation overhead that dominates small models once instead of K times.

Each member keeps what a run of its own has: its own optimizer (:func:`afkit.training.train.
_make_optimizer`, its own rate) and schedule, its own early stopping and best epoch, its run
folder written by :mod:`afkit.training.train`'s own functions (``config.json``,
``metrics.jsonl``, ``last.pt``, ``best.pt``, ``model.pt``, ``results.json``: the same files,
formats and config, so :func:`afkit.training.inference.load_run`, reuse and ``resume=True``
read them as any run's). A member that stops early leaves the stack; the others go on.

Equality with one-by-one training (``tests/training/test_stacked.py``): the initial weights, the
data order, the dropout masks and the optimizer are the same; the stacked layers are batched
matrix products (``bmm``) where a run of its own computes ``addmm``, whose float32 sums are
ordered differently, so a member's logits differ from its run alone by float rounding (about
1e-7 after one step) and the difference grows over a run like any rounding difference: the
per-epoch metrics agree to about 1e-3, not bit for bit.
``train_seconds`` of a member is its share (1/K of the stack's step time while K members
train). Only video-level models on one CPU process (no DDP) are stacked: a frame-level batch's
padding and the DDP gradient hooks are per model.

Measured (``benchmarks/results/train_stacked.md``, one thread, variants interleaved on a shared
machine): a stack of 2 trains the cpu profile's FC models at 0.8-0.9x the member samples/s of
one by one (vmap's batched products are slower than their single ``addmm`` at these sizes) and
Attend-Fusion at 1.0-1.2x; so :func:`afkit.studies.experiments.run_grid` trains one by one
unless asked (``stacked=True``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from afkit.core import locks
from afkit.core.provenance import write_json
from afkit.data.batches import epoch_batches
from afkit.models import registry as models
from afkit.training import devices
from afkit.training import train as T
from afkit.training.evaluation import to_device

# TrainConfig fields members may differ in (the learning rate) or that change nothing
# computed (where progress is shown)
MEMBER_FREE = {"lr", "progress"}


def stack_problem(configs: list[T.TrainConfig]) -> str | None:
    """Why ``configs`` cannot be trained as one stack (None: they can): they must differ only
    in ``lr``, be video-level, on the CPU and at least two."""
    if len(configs) < 2:
        return "a stack needs at least two runs"
    first = {k: v for k, v in configs[0].to_dict().items() if k not in MEMBER_FREE}
    for c in configs[1:]:
        other = {k: v for k, v in c.to_dict().items() if k not in MEMBER_FREE}
        if other != first:
            diff = sorted(k for k in first if first[k] != other[k])
            return f"the runs differ in {', '.join(diff)} (only lr may differ)"
    if models.input_kind(configs[0].model) != "video":
        return f"{configs[0].model} is a frame-level model (only video-level models stack)"
    if devices.resolve_device(configs[0].device).type != "cpu":
        return "stacks train on the CPU only"
    return None


class Stack:
    """The members' parameters as stacked leaves ``[K, ...]``; each member's parameters are
    views of its slice, so its own optimizer updates the stack in place."""

    def __init__(self, members: list[torch.nn.Module]):
        self.members = members
        self.base = copy.deepcopy(members[0]).to("meta")
        self.base.train()
        self.names = [n for n, _ in members[0].named_parameters()]
        self.params = {
            n: torch.stack([dict(m.named_parameters())[n].detach() for m in members])
            for n in self.names
        }
        for t in self.params.values():
            t.requires_grad_(True)
        # buffers (the input statistics of the training split) are the members' common ones,
        # shared unbatched: the model reads them in Python control flow, which vmap forbids
        # on batched tensors
        self.buffers = dict(members[0].named_buffers())
        for m in members[1:]:
            for n, t in m.named_buffers():
                if not torch.equal(t, self.buffers[n]):
                    raise ValueError(f"stacked members differ in buffer {n} (only weights may)")
        for k, m in enumerate(members):
            for n, p in m.named_parameters():
                p.data = self.params[n].data[k]

        def one(params, buffers, visual, audio):
            return torch.func.functional_call(self.base, (params, buffers), (visual, audio))

        self._forward = torch.func.vmap(one, in_dims=(0, None, None, None), randomness="same")

    def __call__(self, visual: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """The members' logits ``[K, B, C]`` on one batch (dropout masks shared)."""
        return self._forward(self.params, self.buffers, visual, audio)

    def zero_grad(self) -> None:
        for t in self.params.values():
            t.grad = None

    def member_grads(self) -> None:
        """Each member's ``.grad``: its slice of the stack's gradient (a view, no copy)."""
        for k, m in enumerate(self.members):
            for n, p in m.named_parameters():
                p.grad = self.params[n].grad[k]

    def release(self) -> None:
        """Gives every member its own storage (before it is saved, evaluated or left)."""
        for m in self.members:
            for p in m.parameters():
                p.data = p.data.clone()
                p.grad = None


def train_stacked(configs: list[T.TrainConfig], store_dir, out_dirs) -> list[dict]:
    """Train the runs ``configs`` (differing only in ``lr``: :func:`stack_problem`) into the new
    run folders ``out_dirs`` as one stack; returns each run's results (as
    :func:`afkit.training.train.train` does, with ``stacked_with``: the stack's size). A member
    whose loss turns non-finite stops there (its last checkpoint left, as
    :func:`afkit.training.train.train` leaves it) and the others go on; the first such error is
    raised once every other member has finished."""
    configs, outs = _checked(configs, out_dirs)
    d = devices.Dist()  # one process
    with contextlib.ExitStack() as held:
        for out in outs:
            held.enter_context(locks.hold(out / locks.LOCK_NAME, f"train {out}"))
        # each member opened as a run of its own (seeded, built, its optimizer and schedule):
        # the same seed gives every member the same initial weights and leaves the RNG where
        # a run of its own has it after building
        runs = [
            T._open_run(c, Path(store_dir), out, T._checkpoint_to_resume(c, out, False, d), d)
            for c, out in zip(configs, outs, strict=True)
        ]
        for run in runs:
            T._start_folder(run)
        errors: dict[int, BaseException] = {}  # id(run) -> why it stopped
        active = list(runs)
        while active:
            active = _train_epoch(active, errors)
        results = []
        for run in runs:
            if id(run) not in errors:
                res = T._finish(run)
                res["stacked_with"] = len(runs)
                write_json(run.out / T.RESULTS, res)
                results.append(res)
    if errors:
        raise next(iter(errors.values()))
    return results


def _checked(configs, out_dirs) -> tuple[list[T.TrainConfig], list[Path]]:
    """The configs (as ``TrainConfig``) and run folders of a stack, or a ``ValueError`` saying
    why they cannot train as one."""
    configs = [T.TrainConfig.from_dict(c) if isinstance(c, dict) else c for c in configs]
    problem = stack_problem(configs)
    if problem:
        raise ValueError(f"cannot stack these runs: {problem}")
    outs = [Path(o) for o in out_dirs]
    if len(set(outs)) != len(outs) or len(outs) != len(configs):
        raise ValueError("train_stacked needs one distinct run folder per config")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("cannot stack runs under DDP: train them one by one")
    return configs, outs


def _train_epoch(active: list, errors: dict) -> list:
    """One epoch of the ``active`` members (one stack; a member whose loss turns non-finite
    leaves it, its error in ``errors``), each member's epoch end
    (:func:`afkit.training.train._end_epoch`); returns the members that go on."""
    lead, config = active[0], active[0].config
    stack = Stack([r.model for r in active])
    t_epoch = time.perf_counter()
    batches = epoch_batches(
        lead.train_data.store, config.batch_size, config.seed, lead.progress.epoch
    )[: lead.steps_per_epoch]
    for b, rows in enumerate(batches):
        rng = torch.get_rng_state()
        failed = _stacked_step(stack, active, rows, b, len(batches))
        while failed:  # the others redo the step without them, with the same dropout masks
            errors.update({id(active[i]): e for i, e in failed.items()})
            stack.release()
            active = [r for i, r in enumerate(active) if i not in failed]
            if not active:
                return []
            stack = Stack([r.model for r in active])
            torch.set_rng_state(rng)
            failed = _stacked_step(stack, active, rows, b, len(batches))
    stack.release()
    for run in active:
        T._end_epoch(run, t_epoch)
    return [
        r
        for r in active
        if r.progress.epoch < config.epochs and not T.should_stop(r.progress.history, config)
    ]


def _stacked_step(stack: Stack, active: list, rows, b: int, num_batches: int) -> dict:
    """One optimizer step of every active member on the training rows ``rows``; returns the
    members (index -> :class:`afkit.training.train.NonFiniteLossError`) whose loss was not
    finite: they took no step."""
    t0 = time.perf_counter()
    lead = active[0]
    batch = to_device(lead.train_data.batch(rows), lead.device)
    y = batch.pop("y")
    with lead.autocast():
        logits = stack(batch["visual"], batch["audio"])
    losses = [F.binary_cross_entropy_with_logits(logits[k].float(), y) for k in range(len(active))]
    values = [float(loss.detach()) for loss in losses]
    failed = {}
    for k, (run, value) in enumerate(zip(active, values, strict=True)):
        if not math.isfinite(value):
            p = run.progress
            failed[k] = T.NonFiniteLossError(
                f"non-finite training loss ({value}) at epoch {p.epoch + 1}, step {p.step + 1} "
                f"(batch {b + 1} of {num_batches}) of the stacked run {run.out}; it stopped "
                f"before the optimizer step"
            )
    if failed:
        return failed
    stack.zero_grad()
    torch.stack(losses).sum().backward()
    stack.member_grads()
    share = (time.perf_counter() - t0) / len(active)
    for run, value in zip(active, values, strict=True):
        t1 = time.perf_counter()
        if run.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.config.grad_clip)
        run.optimizer.step()
        run.scheduler.step()
        p = run.progress
        p.step += 1
        p.batch = b + 1
        p.loss_sum += value
        p.loss_count += 1
        p.samples += run.config.batch_size
        p.train_seconds += share + time.perf_counter() - t1
    return {}
