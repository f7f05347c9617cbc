"""The tiny labelled data sets the training tests train on, and what a finished run leaves.

``make_frame_data`` writes frame-level records whose frames carry their labels' prototypes plus
noise (so a model can learn them); the training and protocol tests share one store built from
its defaults (24 classes, so that the top-20 of a submission really cuts; ``BASE`` and
``train_config`` are that store's training settings), and the crash test builds its own smaller
set with it. ``final_weights``, ``metric_history`` and ``assert_same_weights`` read a run back;
``kill_after_pause`` kills a ``python -m afkit train`` child at a chosen step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from afkit.io.records import write_records
from afkit.training import train

NUM_CLASSES = 24
SPLITS = {"train": 192, "validate": 48, "test": 40}
# 192 train videos / batch 32 = 6 steps per epoch; checkpoints every 4 steps
BASE = dict(
    epochs=3, batch_size=32, lr=0.01, num_threads=1, progress=False, checkpoint_every_steps=4
)
TIMING = ("seconds", "videos_per_s")  # the wall-clock fields of a run's metrics


def write_vocabulary(root: Path, num_classes: int) -> None:
    """``root/vocabulary.csv`` naming ``num_classes`` classes."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocabulary.csv").write_text(
        "Index,Name\n" + "".join(f"{i},class{i}\n" for i in range(num_classes))
    )


def make_frame_data(
    root: Path,
    *,
    seed: int = 0,
    num_classes: int = NUM_CLASSES,
    splits: dict[str, int] | None = None,
    shards: dict[str, int] | None = None,
    max_labels: int = 3,
    frames: tuple[int, int] = (2, 7),
) -> Path:
    """Frame-level records under ``root/frame`` (and ``root/vocabulary.csv``): ``splits`` maps a
    split to its number of videos (default ``SPLITS``), ``shards`` a split to its number of files
    (default 1; videos dealt round-robin). A video has 1 to ``max_labels`` labels and
    ``frames[0]`` to ``frames[1] - 1`` frames: its labels' prototypes plus noise."""
    rng = np.random.default_rng(seed)
    proto_v = rng.normal(0, 30, (num_classes, 1024))
    proto_a = rng.normal(0, 30, (num_classes, 128))
    (root / "frame").mkdir(parents=True)
    write_vocabulary(root, num_classes)
    for split, n in (SPLITS if splits is None else splits).items():
        recs = []
        for i in range(n):
            size = rng.integers(1, max_labels + 1)
            labels = np.unique(rng.integers(0, num_classes, size)).astype(np.int64)
            t = int(rng.integers(*frames))
            rgb = 128 + proto_v[labels].sum(0) + rng.normal(0, 30, (t, 1024))
            aud = 128 + proto_a[labels].sum(0) + rng.normal(0, 30, (t, 128))
            recs.append(
                {
                    "id": f"{split}-{i:04d}",
                    "labels": labels,
                    "rgb": np.clip(rgb, 0, 255).astype(np.uint8),
                    "audio": np.clip(aud, 0, 255).astype(np.uint8),
                }
            )
        k = (shards or {}).get(split, 1)
        for s in range(k):
            write_records(root / "frame" / f"{split}{s:04d}.tfrecord", recs[s::k])
    return root


def train_config(**kw) -> train.TrainConfig:
    """The smoke-size Attend-Fusion config of ``BASE``, with ``kw`` overriding."""
    return train.make_config("smoke", **{"model": "attend_fusion", **BASE, **kw})


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    """The final model's state dict of a finished run."""
    return torch.load(run / train.FINAL, map_location="cpu", weights_only=False)["model"]


def metric_history(run: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock fields (timings differ from run to run)."""
    lines = (run / train.METRICS).read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if not k.endswith(TIMING)} for line in lines]


def assert_same_weights(a: dict, b: dict, what: str = "") -> None:
    """Two state dicts hold the same names and exactly equal tensors."""
    assert a.keys() == b.keys(), f"{what}: parameter names differ"
    for name in a:
        assert torch.equal(a[name], b[name]), f"{what}{': ' if what else ''}{name} differs"


def kill_after_pause(args: list[str], step: int, **env) -> subprocess.Popen:
    """Runs ``python -m afkit train ARGS`` with ``train.PAUSE_ENV`` set to ``step`` (the child
    pauses after that step), SIGKILLs it there and returns the finished process. ``env``: more
    environment variables for the child."""
    env = {**os.environ, train.PAUSE_ENV: str(step), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "afkit", "train", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stderr:
            if f"paused after step {step}" in line:
                break
        else:
            pytest.fail(f"the training process ended (rc {proc.wait()}) without pausing")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    return proc
