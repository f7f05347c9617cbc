"""Scoring a model on a store split: its sigmoid scores batch by batch (:func:`split_scores`),
and every metric of :mod:`afkit.metrics.classification` streamed over the split
(:func:`evaluate_model`; under DDP each rank scores its share of each batch and rank 0 gathers
them). Used per epoch by
:mod:`afkit.training.train` and on finished runs by :mod:`afkit.training.inference`."""

from __future__ import annotations

import time

import numpy as np
import torch

from afkit.data.batches import Batches, eval_rows
from afkit.training import devices


def to_device(batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """A batch of numpy arrays
    (:meth:`afkit.data.batches.Batches.batch`) as tensors on ``device``."""
    nb = device.type == "cuda"
    return {k: torch.from_numpy(v).to(device, non_blocking=nb) for k, v in batch.items()}


def forward(model, batch: dict[str, torch.Tensor], kind: str) -> torch.Tensor:
    """The logits of a ``kind`` ("video" / "frame") model on a batch of tensors."""
    if kind == "video":
        return model(batch["visual"], batch["audio"])
    return model(batch["rgb"], batch["audio"], batch["mask"])


@torch.no_grad()
def split_scores(
    model, data: Batches, rows: np.ndarray, device, autocast
) -> tuple[np.ndarray, np.ndarray]:
    """(sigmoid scores [B, C], multi-hot labels [B, C])
    of ``model`` on rows ``rows`` of ``data``."""
    if len(rows) == 0:
        return np.zeros((0, data.num_classes), np.float32), np.zeros(
            (0, data.num_classes), np.float32
        )
    batch = data.batch(rows)
    y = batch.pop("y")
    with autocast():
        logits = forward(model, to_device(batch, device), data.kind)
    return torch.sigmoid(logits.float()).cpu().numpy(), y


def evaluate_model(  # noqa: PLR0913  (metrics.evaluate's options and the streaming ones)
    model,
    data: Batches,
    *,
    batch_size: int = 1024,
    device="cpu",
    top_k: int = 20,
    threshold: float = 0.5,
    bf16: bool = True,
    dist_info: devices.Dist | None = None,
    progress: bool = False,
) -> dict:
    """Every metric of :mod:`afkit.metrics.classification` for ``model`` on ``data``, streamed batch
    by batch.

    Under DDP each rank scores its share of each batch and rank 0 gathers them; every rank
    returns the same dict (broadcast from rank 0). Adds ``videos_per_s`` (inference rate) and
    ``eval_seconds``.
    """
    from afkit.metrics import classification as metrics

    device = torch.device(device)
    d = dist_info or devices.Dist()
    acc = metrics.MetricAccumulator(data.num_classes, top_k=top_k, threshold=threshold)
    was_training = model.training
    model.eval()
    autocast = devices.autocast_for(device, bf16)
    t0 = time.perf_counter()
    n = data.num_videos
    rows_iter = list(eval_rows(n, batch_size, d.rank, d.world_size))
    bar = progress_bar(rows_iter, desc=f"eval {n} videos", disable=not (progress and d.main))
    for rows in bar:
        s, y = split_scores(model, data, rows, device, autocast)
        if d.enabled:
            import torch.distributed as dist

            parts = [None] * d.world_size if d.main else None
            dist.gather_object((s, y), parts, dst=0)
            if d.main:
                for ps, py in parts:
                    if len(ps):
                        acc.update(ps, py)
        elif len(s):
            acc.update(s, y)
    result = dict(acc.compute()) if d.main else None
    seconds = time.perf_counter() - t0
    if d.enabled:
        import torch.distributed as dist

        box = [result]
        dist.broadcast_object_list(box, src=0)
        result = box[0]
    result = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in result.items()}
    result["eval_seconds"] = seconds
    result["videos_per_s"] = n / seconds if seconds > 0 else float("inf")
    model.train(was_training)
    return result


def progress_bar(iterable, **kw):
    """A tqdm bar that leaves no line behind."""
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, dynamic_ncols=True, **kw)
