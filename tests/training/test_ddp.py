"""DDP: two gloo processes under torchrun take the same steps as one process on the same
global batches (DDP averages the gradients of equal-size per-rank batches whose loss is a mean),
and rank 0 gathers the validation metrics of all ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from afkit.data import featurize
from afkit.io.records import write_records
from afkit.models import registry as models
from afkit.training import inference as runs
from afkit.training import train
from tests.helpers.training_data import final_weights, write_vocabulary

NUM_CLASSES = 8
# plain SGD, so that the update is linear in the gradient (an AdamW first step is nearly
# lr * sign(g) and would hide a wrong gradient scale); no dropout, whose masks differ per rank
SETTINGS = dict(
    model="fc_late",
    features="mean",
    epochs=1,
    batch_size=16,
    max_steps_per_epoch=2,
    dropout=0.0,
    optimizer="sgd",
    lr=0.5,
    num_threads=1,
    progress=False,
    eval_batch_size=10,
)


@pytest.fixture(scope="module")
def video_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    rng = np.random.default_rng(0)
    (root / "data" / "video").mkdir(parents=True)
    write_vocabulary(root / "data", NUM_CLASSES)
    for split, n in (("train", 64), ("validate", 47)):  # 47: the ranks get 24 and 23 videos
        recs = [
            {
                "id": f"{split}{i}",
                "labels": np.unique(rng.integers(0, NUM_CLASSES, 2)),
                "mean_rgb": rng.normal(0, 1, 1024).astype(np.float32),
                "mean_audio": rng.normal(0, 1, 128).astype(np.float32),
            }
            for i in range(n)
        ]
        write_records(root / "data" / "video" / f"{split}0000.tfrecord", recs)
    featurize.build(
        root / "store", root / "data", feature_set="mean", dtype="float32", progress=False
    )
    return root / "store"


def test_two_gloo_ranks_equal_one_process(video_store, tmp_path):
    ddp_run, one_run = tmp_path / "ddp", tmp_path / "one"
    args = [
        "--model",
        "fc_late",
        "--profile",
        "smoke",
        "--features",
        "mean",
        "--store",
        str(video_store),
        "--out",
        str(ddp_run),
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--max-steps-per-epoch",
        "2",
        "--dropout",
        "0",
        "--optimizer",
        "sgd",
        "--lr",
        "0.5",
        "--num-threads",
        "1",
        "--no-progress",
        "--eval-batch-size",
        "10",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nnodes",
            "1",
            "--nproc-per-node",
            "2",
            "-m",
            "afkit",
            "train",
            *args,
        ],
        env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "x2 ranks" in proc.stderr  # really two processes

    config = train.make_config("smoke", **SETTINGS)
    single = train.train(config, video_store, one_run)
    ddp, one = final_weights(ddp_run), final_weights(one_run)
    assert ddp.keys() == one.keys()
    initial = models.build(
        "fc_late", "smoke", **torch.load(one_run / train.FINAL, weights_only=False)["model_args"]
    )
    moved = 0
    for name in one:
        torch.testing.assert_close(ddp[name], one[name], rtol=0, atol=1e-6, msg=name)
        if one[name].is_floating_point():
            moved += int(not torch.allclose(one[name], initial.state_dict()[name]))
    assert moved > 0, "the steps changed no weight: the comparison would be vacuous"

    # rank 0's gathered validation metrics = those of the DDP weights on all 47 videos
    results = json.loads((ddp_run / train.RESULTS).read_text())
    assert results["world_size"] == 2 and results["steps"] == 2
    assert results["final"]["num_videos"] == 47
    again = runs.evaluate_run(ddp_run, video_store, "validate", progress=False)
    for key in ("gap", "map", "hit_at_one", "perr", "micro_f1", "macro_f1"):
        assert results["final"][key] == pytest.approx(again[key], abs=1e-6)
        assert results["final"][key] == pytest.approx(single["final"][key], abs=1e-4)
