"""Training loop: exact resume after SIGKILL, seeded determinism, NaN stop, eval and predict.

Every run here trains the smoke-size models on a tiny store built from hand-written frame-level
records (24 classes, so that the top-20 of a submission really cuts; tests/training/conftest.py
and tests/helpers/training_data.py), single-threaded.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from afkit.data import batches, store
from afkit.metrics import classification as metrics
from afkit.training import inference as runs
from afkit.training import train
from tests.helpers.training_data import (
    NUM_CLASSES,
    SPLITS,
    assert_same_weights,
    final_weights,
    kill_after_pause,
    metric_history,
    train_config,
)


@pytest.fixture(scope="module")
def reference_run(store_dir, tmp_path_factory) -> Path:
    """An uninterrupted run: the oracle of the resume and determinism tests."""
    out = tmp_path_factory.mktemp("ref") / "run"
    train.train(train_config(), store_dir, out)
    return out


def _cli_args(store_dir, out, *extra) -> list[str]:
    return [
        "--model",
        "attend_fusion",
        "--profile",
        "smoke",
        "--store",
        str(store_dir),
        "--out",
        str(out),
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--lr",
        "0.01",
        "--num-threads",
        "1",
        "--no-progress",
        "--checkpoint-every-steps",
        "4",
        *extra,
    ]


def test_reference_run_files(reference_run, store_dir):
    results = json.loads((reference_run / train.RESULTS).read_text())
    history = metric_history(reference_run)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert [h["step"] for h in history] == [6, 12, 18]
    for key in metrics.METRIC_KEYS:
        assert results["final"][key] == pytest.approx(history[-1][f"val_{key}"])
    assert results["config"]["seed"] == 0 and results["versions"]["torch"] == torch.__version__
    assert "git_sha" in results and results["train_samples_per_s"] > 0
    assert results["videos_per_s"] > 0 and results["train_seconds"] > 0
    # learning happened: the loss fell and GAP beats the chance level of random scores
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    ids = [store.open_store(store_dir, "validate").labels(i) for i in range(SPLITS["validate"])]
    labels = np.zeros((len(ids), NUM_CLASSES))
    for i, lab in enumerate(ids):
        labels[i, lab] = 1
    chance = metrics.evaluate(np.random.default_rng(0).random(labels.shape), labels)["gap"]
    assert results["final"]["gap"] > chance + 0.1


def test_killed_run_resumes_identically(reference_run, store_dir, tmp_path):
    out = tmp_path / "run"
    # the child stops after step 10 (epoch 2, batch 4); the last checkpoint is that of step 8,
    # so steps 9 and 10 are lost with the process and must be redone identically
    proc = kill_after_pause(_cli_args(store_dir, out), 10)
    assert proc.returncode == -signal.SIGKILL
    ckpt = torch.load(out / train.CHECKPOINT, map_location="cpu", weights_only=False)
    assert (ckpt["epoch"], ckpt["batch"], ckpt["step"]) == (1, 2, 8)
    assert not (out / train.FINAL).exists() and len(metric_history(out)) == 1
    assert not list(out.glob(".*tmp*")), "a temporary checkpoint file was left behind"

    assert train.main(_cli_args(store_dir, out, "--resume")) == 0
    assert_same_weights(final_weights(reference_run), final_weights(out))
    assert metric_history(out) == metric_history(reference_run)


def test_resume_refuses_a_changed_config(reference_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(reference_run, out)
    with pytest.raises(ValueError, match=r"differs from the checkpoint's in lr \(0.01 vs 0.02\)"):
        train.train(train_config(lr=0.02), "unused", out, resume=True)
    with pytest.raises(FileExistsError, match="already holds a run"):
        train.train(train_config(), "unused", out)


def test_seeded_runs_agree_and_seeds_differ(reference_run, store_dir, tmp_path):
    train.train(train_config(), store_dir, tmp_path / "same")
    assert_same_weights(final_weights(reference_run), final_weights(tmp_path / "same"))
    assert metric_history(tmp_path / "same") == metric_history(reference_run)
    train.train(train_config(seed=1, epochs=1), store_dir, tmp_path / "other")
    first = final_weights(tmp_path / "other")
    w = next(k for k in first if k.endswith("weight"))
    assert not torch.equal(first[w], final_weights(reference_run)[w])


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(store_dir, tmp_path):
    bad = tmp_path / "store"
    shutil.copytree(store_dir, bad)
    # an infinite feature in one training video: the loss of the batch holding it is NaN
    row = 77
    feats = np.load(bad / "train" / "features.npy", mmap_mode="r+")
    feats[row, 3] = np.inf
    feats.flush()
    del feats
    first_epoch = batches.epoch_batches(store.open_store(bad, "train"), 32, seed=0, epoch=0)
    step = next(i + 1 for i, rows in enumerate(first_epoch) if row in rows)
    out = tmp_path / "run"
    with pytest.raises(train.NonFiniteLossError) as err:
        train.train(train_config(checkpoint_every_steps=1, normalization="none"), bad, out)
    # with standardization the statistics are already infinite: refused before any step
    with pytest.raises(ValueError, match="non-finite feature statistics"):
        train.train(train_config(), bad, tmp_path / "standardized")
    msg = str(err.value)
    assert re.search(
        rf"non-finite training loss \((nan|inf)\) at epoch 1, step {step} "
        rf"\(batch {step} of 6\); the run stopped before the optimizer step",
        msg,
    )
    if step > 1:
        assert f"a checkpoint at step {step - 1} is left in {out / train.CHECKPOINT}" in msg
        ckpt = torch.load(out / train.CHECKPOINT, map_location="cpu", weights_only=False)
        assert ckpt["step"] == step - 1
        assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())
    else:
        assert "no checkpoint was written yet" in msg
    assert not (out / train.FINAL).exists()


def test_predict_writes_the_submission_format(reference_run, store_dir, tmp_path):
    csv = tmp_path / "sub.csv"
    assert (
        runs.predict_main(
            [
                "--run",
                str(reference_run),
                "--store",
                str(store_dir),
                "--split",
                "test",
                "--out",
                str(csv),
            ]
        )
        == 0
    )
    model, config = runs.load_run(reference_run)
    ids, scores = runs.predict_scores(model, store_dir, "test", config=config, progress=False)
    lines = csv.read_text().splitlines()
    assert lines[0] == "VideoId,LabelConfidencePairs"
    assert len(lines) == 1 + SPLITS["test"] and ids == [f"test-{i:04d}" for i in range(40)]
    for line, vid, s in zip(lines[1:], ids, scores, strict=True):
        got_id, pairs = line.split(",")
        toks = pairs.split(" ")
        classes, values = [int(t) for t in toks[0::2]], [float(t) for t in toks[1::2]]
        assert got_id == vid and len(classes) == 20
        assert classes == list(np.argsort(-s, kind="stable")[:20])  # highest first
        assert values == [float("%g" % s[c]) for c in classes]
    parsed = runs.read_submission(csv)
    assert list(parsed) == ids and parsed[ids[0]][0][0] == int(np.argmax(scores[0]))


def test_write_submission_by_hand(tmp_path):
    path = tmp_path / "s.csv"
    scores = np.array([[0.1, 0.9, 0.5], [0.7, 0.2, 0.30000001]], dtype=np.float32)
    runs.write_submission(path, ["a", "b"], scores, top_k=2)
    assert path.read_text() == "VideoId,LabelConfidencePairs\na,1 0.9 2 0.5\nb,0 0.7 2 0.3\n"
    with pytest.raises(ValueError, match=r"scores must be \[len\(ids\)=3, C\]"):
        runs.write_submission(path, ["a", "b", "c"], scores)


def test_eval_cli_prints_every_metric(reference_run, store_dir, capsys):
    assert (
        runs.eval_main(
            ["--run", str(reference_run), "--store", str(store_dir), "--split", "validate"]
        )
        == 0
    )
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines())
    # oracle: the one-shot metrics on the scores of predict_scores
    model, config = runs.load_run(reference_run)
    ids, scores = runs.predict_scores(model, store_dir, "validate", config=config, progress=False)
    val = store.open_store(store_dir, "validate")
    expected = metrics.evaluate(scores, [val.labels(i) for i in range(len(val))])
    for key in metrics.METRIC_KEYS:
        assert float(printed[key]) == pytest.approx(expected[key], abs=1e-6)
    final = json.loads((reference_run / train.RESULTS).read_text())["final"]
    assert final["gap"] == pytest.approx(expected["gap"], abs=1e-9)


def test_frame_model_trains_on_the_frame_store(store_dir, tmp_path):
    config = train_config(model="attend_fusion_frames", epochs=1, max_frames=4)
    results = train.train(config, store_dir, tmp_path / "frames")
    assert np.isfinite(results["history"][0]["train_loss"])
    model, cfg = runs.load_run(tmp_path / "frames")
    assert model.input_kind == "frame" and cfg.max_frames == 4
    assert bool(model.norm.stats_set)
    ids, scores = runs.predict_scores(model, store_dir, "test", config=cfg, progress=False)
    assert scores.shape == (40, NUM_CLASSES) and ((scores > 0) & (scores < 1)).all()


def test_bad_inputs_are_clear_errors(store_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown profile 'laptop'"):
        train.make_config("laptop")
    with pytest.raises(ValueError, match="unknown TrainConfig fields: bogus"):
        train.make_config("smoke", bogus=1)
    with pytest.raises(ValueError, match="fewer than one batch of 512"):
        train.train(train_config(batch_size=512), store_dir, tmp_path / "big")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        train.train(train_config(), store_dir, tmp_path / "none", resume=True)


def test_adamw_implementations_agree():
    """The default fused AdamW (fastest on CPU, benchmarks/train_throughput.py) takes the same
    steps as torch's reference for-loop implementation."""
    from afkit.models import registry as models

    weights = []
    for impl in ("fused", "foreach", "for-loop"):
        torch.manual_seed(0)
        model = models.build("attend_fusion", profile="smoke", dropout=0.0)
        opt = train._make_optimizer(train_config(adamw=impl), model)
        gen = torch.Generator().manual_seed(1)
        for _ in range(3):
            visual, audio = torch.randn(8, 1024, generator=gen), torch.randn(8, 128, generator=gen)
            y = (torch.rand(8, 50, generator=gen) < 0.1).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(visual, audio), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        weights.append(model.state_dict())
    for other in weights[1:]:
        for name in weights[0]:
            # rounding differences, amplified where g ~ sqrt(v) ~ 0, stay far below one step (lr)
            torch.testing.assert_close(weights[0][name], other[name], rtol=0, atol=1e-3 * 0.05)
