"""The tuning protocol: early stopping and the kept best epoch, validate-chosen thresholds,
the class-frequency floor, the learning-rate choice of run_grid, and the paired bootstraps
(checked against a direct recomputation on resampled videos)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from afkit.metrics import classification as metrics
from afkit.metrics import stats
from afkit.studies import arms, experiments
from afkit.training import protocol, train
from tests.helpers.training_data import train_config


def test_early_stopping_keeps_the_best_epoch(store_dir, tmp_path):
    """A run stops ``patience`` epochs after its best validation GAP, and its final model and
    final metrics are that epoch's (the kept weights score exactly the recorded GAP)."""
    cfg = train_config(epochs=12, patience=2, keep_best=True, lr=0.05, checkpoint_every_steps=0)
    res = train.train(cfg, store_dir, tmp_path / "run")
    gaps = [h["val_gap"] for h in res["history"]]
    best = int(np.argmax(gaps)) + 1
    assert res["best_epoch"] == best
    assert res["epochs_run"] == len(gaps)
    assert len(gaps) == (best + 2 if res["stopped_early"] else 12)
    assert res["final"]["gap"] == gaps[best - 1]
    _, scores, labels = protocol.run_scores(tmp_path / "run", store_dir, "validate")
    assert metrics.gap(scores, labels) == pytest.approx(gaps[best - 1], abs=1e-9)


def test_should_stop_reads_only_the_history():
    cfg = train.TrainConfig(patience=2, select_metric="gap")
    h = [{"val_gap": g} for g in (0.1, 0.3, 0.2, 0.25)]
    assert train.best_epoch(h, cfg) == 2
    assert train.should_stop(h, cfg) and not train.should_stop(h[:3], cfg)
    assert not train.should_stop(h, train.TrainConfig(patience=None))


def test_plateau_schedule_by_hand():
    """patience 2, tolerance 0.01, one reduction: epochs 3-4 rise by less than 0.01 (a plateau:
    the rate is cut after epoch 4), epoch 5 improves, epochs 6-7 do not (stop)."""
    cfg = train.TrainConfig(schedule="plateau", patience=2, min_delta=0.01, max_decays=1)
    h = [{"val_gap": g} for g in (0.1, 0.3, 0.305, 0.31, 0.35, 0.355, 0.356)]
    assert train.plateau_state(h[:3], cfg) == (0, False)
    assert train.plateau_state(h[:4], cfg) == (1, False)
    assert train.plateau_state(h[:6], cfg) == (1, False)
    assert train.plateau_state(h, cfg) == (1, True)
    assert train.should_stop(h, cfg) and not train.should_stop(h[:6], cfg)
    c = train.convergence(h, cfg)
    assert c["stop_reason"] == "early_stop" and c["converged"] and c["lr_decays"] == 1
    assert c["plateau_gain"] == pytest.approx(0.356 - 0.35)
    capped = train.convergence(h[:6], cfg)
    assert capped["stop_reason"] == "cap" and not capped["converged"]
    # with a tolerance of 0 the same history improves every epoch: no reduction, no stop
    assert train.plateau_state(h, train.TrainConfig(schedule="plateau", patience=2)) == (0, False)


def test_plateau_schedule_cuts_the_rate_in_training(store_dir, tmp_path):
    """Each epoch's recorded rate is the configured rate times lr_decay per reduction the
    history before it had made (plateau_state), and a stopped run is recorded as converged."""
    cfg = train_config(
        epochs=12,
        schedule="plateau",
        patience=1,
        min_delta=0.02,
        keep_best=True,
        lr=0.03,
        checkpoint_every_steps=0,
    )
    res = train.train(cfg, store_dir, tmp_path / "run")
    h = res["history"]
    for k, rec in enumerate(h):
        decays = train.plateau_state(h[:k], cfg)[0]
        assert rec["lr"] == pytest.approx(0.03 * 0.1**decays)
    assert res["converged"] == (len(h) < 12) == (res["stop_reason"] == "early_stop")
    assert res["lr_decays"] == train.plateau_state(h, cfg)[0]


def test_learned_rule_against_logistic():
    """The bar is half of logistic regression's gain over the class-frequency predictor."""
    assert protocol.learned_bar(0.1, 0.9) == pytest.approx(0.5)
    got = protocol.learned([0.2, 0.2, 0.0], [0.5, 0.4999, 0.9], 0.1, 0.9)
    assert list(got) == [True, False, False]
    assert protocol.learned_bar(0.1) == pytest.approx(0.1 + protocol.LEARNED_MARGIN)


def test_run_grid_extends_the_grid_until_the_choice_is_interior(store_dir, tmp_path):
    """A grid whose best rate is its top edge is extended x3 past it until a rate tried above
    the chosen one is worse (interior) or the bound forbids more (upper bound)."""
    p = protocol.Protocol(
        lrs=(1e-4, 3e-4), max_epochs=3, patience=1, workers=1, lr_bounds=(1e-4, 0.1)
    )
    specs = [experiments.Spec("af", "attend_fusion", seeds=(0,))]
    kw = dict(protocol=p, progress=False, batch_size=32, num_threads=1, checkpoint_every_steps=0)
    grid = experiments.run_grid(specs, store_dir, tmp_path / "runs", "smoke", **kw)
    tried = sorted(grid["lr"])
    assert len(tried) > 2  # 1e-4 barely moves in 3 epochs: the top edge wins at first
    np.testing.assert_allclose(tried, [1e-4 * 3**k for k in range(len(tried))], rtol=1e-2)
    chosen = grid.loc[grid["chosen"], "lr"].item()
    assert chosen == grid.loc[grid["val_gap"].idxmax(), "lr"]
    position = grid["lr_position"].iloc[0]
    if chosen < max(tried):
        assert position == "interior" and chosen > min(tried)
    else:
        assert position == "upper bound" and chosen * 3 > 0.1
    assert protocol.lr_position(tried, chosen, p) == position


def test_score_run_threshold_is_validates_best(store_dir, tmp_path):
    train.train(train_config(epochs=2, checkpoint_every_steps=0), store_dir, tmp_path / "run")
    sc = protocol.score_run(tmp_path / "run", store_dir)
    _, val, val_labels = protocol.run_scores(tmp_path / "run", store_dir, "validate")
    grid = np.arange(101) / 100
    f1s = [metrics.f1_at_threshold(val, val_labels, t)[0] for t in grid]
    assert sc["threshold"] == pytest.approx(grid[int(np.argmax(f1s))])
    _, test, test_labels = protocol.run_scores(tmp_path / "run", store_dir, "test")
    assert sc["test_micro_f1_tuned"] == pytest.approx(
        metrics.f1_at_threshold(test, test_labels, sc["threshold"])[0]
    )
    assert sc["test"]["gap"] == pytest.approx(metrics.gap(test, test_labels))
    assert (
        json.loads((tmp_path / "run" / protocol.SCORES).read_text())["threshold"] == sc["threshold"]
    )


def test_prior_gap_is_the_frequency_predictor(store_dir):
    from afkit.data import store

    tr, te = store.open_store(store_dir / "train"), store.open_store(store_dir / "test")
    freq = np.bincount(
        np.concatenate([tr.labels(i) for i in range(len(tr))]), minlength=tr.num_classes
    )
    scores = np.tile(freq / len(tr), (len(te), 1)).astype(np.float32)
    assert protocol.prior_gap(store_dir) == pytest.approx(
        metrics.gap(scores, [te.labels(i) for i in range(len(te))])
    )


def test_run_grid_chooses_the_best_validation_lr_and_reuses_runs(store_dir, tmp_path):
    p = protocol.Protocol(lrs=(1e-4, 3e-2), max_epochs=3, patience=1, workers=1)
    specs = [experiments.Spec("af", "attend_fusion", seeds=(0, 1))]
    kw = dict(protocol=p, progress=False, batch_size=32, num_threads=1, checkpoint_every_steps=0)
    grid = experiments.run_grid(specs, store_dir, tmp_path / "runs", "smoke", **kw)
    search = grid[grid["seed"] == 0]
    best_lr = search.loc[search["val_gap"].idxmax(), "lr"]
    chosen = grid[grid["chosen"]]
    assert set(chosen["lr"]) == {best_lr} and sorted(chosen["seed"]) == [0, 1]
    assert len(grid) == 3  # two trials at seed 0, one more seed at the chosen rate
    again = experiments.run_grid(specs, store_dir, tmp_path / "runs", "smoke", **kw)
    assert again.drop(columns=["train_seconds", "run"]).equals(
        grid.drop(columns=["train_seconds", "run"])
    )
    assert set(grid["run"]) == {"trained"} and set(again["run"]) == {"reused"}


def test_pipelined_workers_give_the_table_of_one_process(store_dir, tmp_path):
    """Two processes start an arm's next trial as soon as its own search ends (no barrier
    between arms): the same runs, hence the same table, as one process in order."""
    p = protocol.Protocol(lrs=(1e-4, 3e-4), max_epochs=2, patience=1, lr_bounds=(1e-4, 1e-2))
    specs = [
        experiments.Spec("af", "attend_fusion", seeds=(0, 1)),
        experiments.Spec("lr", "logistic", seeds=(0, 1)),
    ]
    kw = dict(protocol=p, progress=False, batch_size=32, num_threads=1, checkpoint_every_steps=0)
    one = experiments.run_grid(specs, store_dir, tmp_path / "one", "smoke", workers=1, **kw)
    two = experiments.run_grid(specs, store_dir, tmp_path / "two", "smoke", workers=2, **kw)
    drop = ["train_seconds", "videos_per_s", "run", "run_dir"]
    pd.testing.assert_frame_equal(one.drop(columns=drop), two.drop(columns=drop))
    assert len(one) > 4  # both searches extended past an edge before the second seed


def test_weighted_gap_equals_gap_on_the_resample():
    rng = np.random.default_rng(3)
    x = rng.random((60, 25)).astype(np.float32)
    y = [rng.choice(25, rng.integers(0, 4), replace=False) for _ in range(60)]
    parts = stats.gap_parts(x, y)
    w = stats.bootstrap_weights(60, 5, seed=1)
    got = stats.weighted_gap(parts, w)
    for r in range(5):
        idx = np.repeat(np.arange(60), w[r])
        assert got[r] == pytest.approx(metrics.gap(x[idx], [y[i] for i in idx]), abs=1e-12)


def test_paired_difference_matches_a_direct_bootstrap():
    rng = np.random.default_rng(4)
    y = [rng.choice(10, rng.integers(1, 3), replace=False) for _ in range(40)]
    a, b = rng.random((40, 10)).astype(np.float32), rng.random((40, 10)).astype(np.float32)
    out = protocol.paired_difference([a], [b], y, stats.Bootstrap(n_boot=50, seed=7))
    w = stats.bootstrap_weights(40, 50, seed=7)
    d = []
    for r in range(50):
        idx = np.repeat(np.arange(40), w[r])
        yy = [y[i] for i in idx]
        d.append(
            metrics.f1_at_threshold(a[idx], yy, 0.5)[0]
            - metrics.f1_at_threshold(b[idx], yy, 0.5)[0]
        )
    assert (out["micro_f1_lo"], out["micro_f1_hi"]) == pytest.approx(stats.percentile_interval(d))
    assert out["gap_diff"] == pytest.approx(metrics.gap(a, y) - metrics.gap(b, y))
    assert out["micro_f1_lo"] <= out["micro_f1_diff"] <= out["micro_f1_hi"]


def test_reference_models_train(store_dir, tmp_path):
    for name in arms.REFERENCES:
        res = train.train(
            train_config(model=name, epochs=2, checkpoint_every_steps=0), store_dir, tmp_path / name
        )
        assert np.isfinite(res["final"]["gap"]) and res["num_parameters"] > 0
