"""afkit.training.stacked: the trials of a learning-rate search trained as one stack give each
member the run it would have had alone (the oracle: the same configs trained one by one by
afkit.training.train), within float rounding (the stack's batched products sum in another
order: see the module docstring), with the same run files; runs that cannot stack are refused
with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from afkit.training import inference, stacked, train
from tests.helpers.training_data import metric_history

# per-epoch metrics of a member and of its run alone agree to this: the stack's batched
# products (bmm) sum in another order than a run's own (addmm), a float32 rounding difference
# (measured: train loss within 3e-7, validation GAP within 2e-6 over 5 epochs at these rates,
# the same order as torch's fused vs foreach AdamW); the rates' runs differ far more
TOL = 1e-4
# run_grid's protocol holds the rate constant until a plateau (no cosine decay to damp them), so
# the batched matmuls' rounding differences grow over epochs at the grid's largest rate (1e-2):
# measured 1.4e-4 of validation GAP after 3 smoke epochs; the choices and folders stay exact
GRID_TOL = 1e-3
BASE = dict(
    epochs=5,
    batch_size=32,
    num_threads=1,
    progress=False,
    schedule="cosine",
    patience=2,
    keep_best=True,
)


def _close(a: list[dict], b: list[dict]) -> None:
    assert [h["epoch"] for h in a] == [h["epoch"] for h in b]
    for ha, hb in zip(a, b, strict=True):
        assert ha.keys() == hb.keys()
        for k in ha:
            assert ha[k] == pytest.approx(hb[k], abs=TOL), (ha["epoch"], k)


@pytest.mark.parametrize("model", ["attend_fusion", "fc_late"])
def test_stacked_members_equal_their_runs_alone(store_dir, tmp_path, model):
    lrs = (0.001, 0.003, 0.01)
    configs = [train.make_config("smoke", model=model, lr=lr, **BASE) for lr in lrs]
    alone = [train.train(c, store_dir, tmp_path / f"alone{i}") for i, c in enumerate(configs)]
    outs = [tmp_path / f"stack{i}" for i in range(len(lrs))]
    together = stacked.train_stacked(configs, store_dir, outs)
    for i, (a, s) in enumerate(zip(alone, together, strict=True)):
        assert s["config"] == a["config"]
        assert (s["best_epoch"], s["epochs_run"]) == (a["best_epoch"], a["epochs_run"])
        _close(metric_history(outs[i]), metric_history(tmp_path / f"alone{i}"))
        for name in ("config.json", "metrics.jsonl", "results.json", "model.pt", "best.pt"):
            assert (outs[i] / name).exists()
        ws = torch.load(outs[i] / train.FINAL, weights_only=False)["model"]
        # the member's weights are its own (a view of the stack would save all of it)
        assert all(t.untyped_storage().nbytes() == t.nbytes for t in ws.values())
        # its predictions on test equal its run alone's (weights are not compared one by one:
        # the attention's key biases get a gradient that is 0 but for rounding, softmax
        # ignoring a shift of every key, and AdamW scales that noise to full steps)
        scores = []
        for run in (tmp_path / f"alone{i}", outs[i]):
            model_, config_ = inference.load_run(run)  # a finished member reads back as any run
            scores.append(
                inference.predict_scores(model_, store_dir, "test", config=config_, progress=False)
            )
        assert scores[0][0] == scores[1][0]
        np.testing.assert_allclose(scores[0][1], scores[1][1], atol=TOL)
    # the control: the members really differ from each other (the tolerance is far smaller)
    last = [metric_history(o)[-1]["train_loss"] for o in outs]
    assert max(last) - min(last) > 100 * TOL


def test_runs_that_cannot_stack_are_refused(store_dir, tmp_path):
    a = train.make_config("smoke", model="attend_fusion", lr=0.01, **BASE)
    with pytest.raises(ValueError, match="differ in seed"):
        stacked.train_stacked(
            [a, train.make_config("smoke", model="attend_fusion", lr=0.01, **{**BASE, "seed": 1})],
            store_dir,
            [tmp_path / "a", tmp_path / "b"],
        )
    frames = train.make_config("smoke", model="attend_fusion_frames", **BASE)
    assert "frame-level" in stacked.stack_problem([frames, frames])
    assert "at least two" in stacked.stack_problem([a])
    with pytest.raises(ValueError, match="one distinct run folder"):
        stacked.train_stacked([a, a], store_dir, [tmp_path / "a", tmp_path / "a"])


def test_run_grid_stacked_equals_one_by_one(store_dir, tmp_path):
    """run_grid(stacked=True) trains the search as stacks and tabulates the same grid (the same
    chosen rate, the same run folders, metrics within TOL) as the one-by-one path; a rerun
    reads the stacked runs back as finished runs."""
    from afkit.studies import experiments
    from afkit.training import protocol

    p = protocol.Protocol(
        lrs=(1e-3, 1e-2), max_epochs=3, patience=1, workers=1, lr_bounds=(1e-3, 1e-2)
    )
    specs = [
        experiments.Spec("af", "attend_fusion", seeds=(0, 1)),
        experiments.Spec("late", "fc_late", seeds=(0,)),
    ]
    kw = dict(protocol=p, progress=False, batch_size=32, num_threads=1)
    one = experiments.run_grid(specs, store_dir, tmp_path / "one", "smoke", **kw)
    two = experiments.run_grid(specs, store_dir, tmp_path / "two", "smoke", stacked=True, **kw)
    assert len(one) == len(two) == 5
    for col in ("label", "seed", "lr", "chosen", "best_epoch", "epochs_run", "params"):
        assert list(one[col]) == list(two[col]), col
    for col in ("val_gap", "gap", "micro_f1", "micro_f1_tuned"):
        np.testing.assert_allclose(one[col], two[col], atol=GRID_TOL, err_msg=col)
    rel = [str(Path(d).relative_to(tmp_path / "two")) for d in two["run_dir"]]
    assert rel == [str(Path(d).relative_to(tmp_path / "one")) for d in one["run_dir"]]
    mtimes = {d: (Path(d) / train.RESULTS).stat().st_mtime_ns for d in two["run_dir"]}
    again = experiments.run_grid(specs, store_dir, tmp_path / "two", "smoke", stacked=True, **kw)
    assert {d: (Path(d) / train.RESULTS).stat().st_mtime_ns for d in again["run_dir"]} == mtimes


def test_a_member_with_a_non_finite_loss_stops_and_the_others_go_on(store_dir, tmp_path):
    """A rate so large that the weights overflow: that member stops before its optimizer step
    (no model.pt, the error raised at the end naming its folder), the other finishes and
    equals its run alone."""
    good = train.make_config("smoke", model="fc_late", lr=1e-3, **BASE)
    bad = train.make_config("smoke", model="fc_late", lr=1e30, **BASE)
    alone = train.train(good, store_dir, tmp_path / "alone")
    outs = [tmp_path / "good", tmp_path / "bad"]
    with pytest.raises(
        train.NonFiniteLossError, match=r"non-finite training loss .*/bad; it stopped"
    ):
        stacked.train_stacked([good, bad], store_dir, outs)
    assert not (outs[1] / train.FINAL).exists() and (outs[1] / train.CONFIG).exists()
    res = json.loads((outs[0] / train.RESULTS).read_text())
    assert res["stacked_with"] == 2 and res["epochs_run"] == alone["epochs_run"]
    _close(metric_history(outs[0]), metric_history(tmp_path / "alone"))


def test_a_stack_stopped_midway_resumes_one_by_one(store_dir, tmp_path, monkeypatch):
    """A stack that stops between two members' epoch ends (here: an exception at the fourth
    epoch end, member 0 checkpointed after epoch 2, member 1 after epoch 1) leaves each
    member a checkpoint that afkit.training.train resumes alone (resume=True), to the run it
    would have had alone: the checkpoint's RNG state is the stack's shared stream, which is
    each member's own."""
    lrs = (1e-3, 1e-2)
    base = {**BASE, "patience": None}
    configs = [train.make_config("smoke", model="attend_fusion", lr=lr, **base) for lr in lrs]
    for i, c in enumerate(configs):
        train.train(c, store_dir, tmp_path / f"alone{i}")
    real, calls = train._end_epoch, []

    def end_epoch(run, t):
        calls.append(run.out)
        if len(calls) == 4:
            raise KeyboardInterrupt("stopped midway")
        real(run, t)

    monkeypatch.setattr(train, "_end_epoch", end_epoch)
    outs = [tmp_path / f"stack{i}" for i in range(2)]
    with pytest.raises(KeyboardInterrupt):
        stacked.train_stacked(configs, store_dir, outs)
    monkeypatch.setattr(train, "_end_epoch", real)
    steps = [torch.load(o / train.CHECKPOINT, weights_only=False)["epoch"] for o in outs]
    assert steps == [2, 1]  # the fourth epoch end, member 1's second, was not written
    for i, c in enumerate(configs):
        train.train(c, store_dir, outs[i], resume=True)
        _close(metric_history(outs[i]), metric_history(tmp_path / f"alone{i}"))
