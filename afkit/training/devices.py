"""Where a run computes: the device, seeds and RNG states, bf16 autocast, and the DDP process
group that ``torchrun`` describes (joining it, gathering and averaging over its ranks)."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` (CUDA if present, else CPU), ``"cpu"``, ``"cuda"`` (this rank's GPU),
    ``"cuda:1"``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} asked for but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def autocast_for(device: torch.device, bf16: bool):
    """A factory of the run's autocast context: bf16 on CUDA when asked, else a no-op."""
    enabled = bf16 and device.type == "cuda"
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every RNG state of this process (torch, numpy, python, CUDA once initialized), as tensors
    and plain values only, so that a checkpoint holding it loads with ``weights_only=True``."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss_next],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal.tolist()), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Dist:
    """This process's place in the DDP process group (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> Dist:
    """Join the process group that ``torchrun`` describes in the environment (if any).

    Backend: ``nccl`` when the device is CUDA, ``gloo`` on CPU.
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), local, False)
    cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://")
    return Dist(dist.get_rank(), dist.get_world_size(), local, True)


def gather_rng(d: Dist) -> list:
    """Every rank's :func:`rng_state`, in rank order (on every rank)."""
    state = rng_state()
    if not d.enabled:
        return [state]
    import torch.distributed as dist

    out = [None] * d.world_size
    dist.all_gather_object(out, state)
    return out


def all_mean(value: torch.Tensor, d: Dist) -> torch.Tensor:
    """The mean of ``value`` over the ranks (``value`` itself in one process)."""
    if not d.enabled:
        return value
    import torch.distributed as dist

    value = value.clone()
    dist.all_reduce(value)
    return value / d.world_size


def unwrap(model):
    """The model inside a DDP wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model
