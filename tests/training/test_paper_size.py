"""The paper profile's models at the paper's sizes (FC late fusion 341M, Attend-Fusion 72M, at
the release's 3862 classes) train end to end on a tiny release-like directory on CPU: two steps
at batch 4 (one an epoch); the loss falls and the checkpoint holds what a resume needs. The 72M
run is killed during its second step (after epoch 1's checkpoint) and resumed from it by the
train command (the 341M one is not, to keep the test short: the same code path, 4 GB more to
write and read)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from afkit.core import paper
from afkit.data import featurize
from afkit.io import records
from afkit.training import train
from tests.helpers.training_data import kill_after_pause
from tests.helpers.videos import make_videos

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """A release-like folder (2018 schema, no vocabulary.csv, the test split unlabelled, one
    folder per split): 4 train videos (one batch), 16 validate, 4 test; its video-level store."""
    root = tmp_path_factory.mktemp("paper")
    for split, n, start in (("train", 4, 0), ("validate", 16, 100), ("test", 4, 200)):
        videos = make_videos(n, seed=start, start=start)
        for i, v in enumerate(videos):  # every train video labelled; test ones not
            v["labels"] = np.array([] if split == "test" else [i % 7, 100 + i], np.int64)
        (root / "data" / "video" / split).mkdir(parents=True)
        records.write_records(root / "data" / "video" / split / f"{split}0000.tfrecord", videos)
    featurize.build(
        root / "stores", root / "data", feature_set="mean", source="video", progress=False
    )
    return root / "stores"


def _args(model, store_dir, out):
    return [
        *("--model", model, "--profile", "paper", "--store", str(store_dir), "--out", str(out)),
        *("--device", "cpu", "--batch-size", "4", "--epochs", "2", "--num-threads", "1"),
        *("--eval-batch-size", "16", "--no-progress"),
    ]


def _check_finished(out, model):
    results = json.loads((out / train.RESULTS).read_text())
    assert results["num_parameters"] == pytest.approx(paper.PARAMETERS[model], rel=0.01)
    assert results["epochs_run"] == 2 and len(results["history"]) == 2
    losses = [h["train_loss"] for h in results["history"]]
    assert losses[1] < losses[0], losses  # the same four videos, one AdamW step later
    ckpt = torch.load(out / train.CHECKPOINT, map_location="cpu", weights_only=False, mmap=True)
    assert ckpt["step"] == 2
    # what a resume needs: AdamW's two moments for every parameter
    state = ckpt["optimizer"]["state"]
    moments = sum(v["exp_avg"].numel() + v["exp_avg_sq"].numel() for v in state.values())
    assert moments == 2 * results["num_parameters"]


def test_paper_size_fc_late_341m_trains_two_steps(store_dir, tmp_path):
    """341M parameters, two AdamW steps (about 5.5 GB of training state, two 4 GB
    checkpoints): in this process, to keep the test short."""
    out = tmp_path / "run"
    assert train.main(_args("fc_late", store_dir, out)) == 0
    _check_finished(out, "fc_late")


def test_paper_size_attend_fusion_72m_resumes_after_a_kill(store_dir, tmp_path):
    out = tmp_path / "run"
    args = _args("attend_fusion", store_dir, out)
    # the child stops after step 2 (epoch 2's one batch): its last checkpoint is epoch 1's
    kill_after_pause(args, 2, OMP_NUM_THREADS="1")
    ckpt = torch.load(out / train.CHECKPOINT, map_location="cpu", weights_only=False, mmap=True)
    assert ckpt["step"] == 1 and not (out / train.RESULTS).exists()
    del ckpt
    assert train.main([*args, "--resume"]) == 0  # step 2 redone from epoch 1's checkpoint
    _check_finished(out, "attend_fusion")
