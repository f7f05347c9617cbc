"""afkit.metrics.classification against independent oracles: scikit-learn, hand computation, a dense
reference.

The reference below (`reference_metrics`) is written from the definitions, not from
afkit.metrics.classification: a full stable argsort per video (lower class index first among equal
scores), precision of a positive = #(positives scoring >= it) / #(entries scoring >= it) (which is
scikit-learn's handling of tied scores), Python loops over videos and classes.
"""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score

from afkit.metrics.classification import (
    METRIC_KEYS,
    MetricAccumulator,
    best_threshold_f1,
    evaluate,
    f1_at_threshold,
    gap,
    hit_at_one,
    mean_average_precision,
    perr,
)
from afkit.metrics.stats import Bootstrap, paired_bootstrap

# --------------------------------------------------------------------------------------------
# the independent reference


def _ap_reference(scores, labels, num_positives):
    """(1 / P) * sum over positives of #(pos with score >= s) / #(with score >= s)."""
    if num_positives == 0:
        return 0.0
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    asc = np.sort(scores)
    pos_asc = np.sort(scores[labels])
    total = 0.0
    for s in scores[labels]:
        n_ge = asc.size - np.searchsorted(asc, s, side="left")
        p_ge = pos_asc.size - np.searchsorted(pos_asc, s, side="left")
        total += p_ge / n_ge
    return total / num_positives


def reference_metrics(s, y, top_k=20, threshold=0.5, grid_size=100):
    s = np.asarray(s, np.float64)
    y = np.asarray(y).astype(bool)
    n, c = s.shape
    order = np.argsort(-s, axis=1, kind="stable")
    k = min(top_k, c)
    top = order[:, :k]
    pool_s = np.take_along_axis(s, top, 1).ravel()
    pool_y = np.take_along_axis(y, top, 1).ravel()
    pool_c = top.ravel()
    pos_per_class = y.sum(0)
    out = {"gap": _ap_reference(pool_s, pool_y, y.sum())}
    by_class = np.argsort(pool_c, kind="stable")
    bounds = np.searchsorted(pool_c[by_class], np.arange(c + 1))
    aps = []
    for cls in range(c):
        sel = by_class[bounds[cls] : bounds[cls + 1]]
        aps.append(_ap_reference(pool_s[sel], pool_y[sel], pos_per_class[cls]))
    aps = np.array(aps)
    out["map"] = aps[pos_per_class > 0].mean() if (pos_per_class > 0).any() else 0.0
    out["map_all"] = aps.mean()
    out["hit_at_one"] = np.mean([y[i, np.argmax(s[i])] for i in range(n)])
    precisions = []
    for i in range(n):
        num = int(y[i].sum())
        if num == 0:
            precisions.append(0.0)
            continue
        idx = order[i, :num]
        precisions.append(np.sum(y[i, idx] & (s[i, idx] > 0)) / num)
    out["perr"] = np.mean(precisions)
    pred = s >= threshold
    out["micro_f1"] = f1_score(y, pred, average="micro", zero_division=0)
    out["macro_f1"] = f1_score(y, pred, average="macro", zero_division=0)
    # best micro-F1 over the grid, by counting with binary search in the sorted scores
    grid = np.arange(grid_size + 1) / grid_size
    all_sorted, pos_sorted = np.sort(s.ravel()), np.sort(s[y])
    pp = all_sorted.size - np.searchsorted(all_sorted, grid, side="left")
    tp = pos_sorted.size - np.searchsorted(pos_sorted, grid, side="left")
    den = pp + pos_sorted.size  # 2 TP + FP + FN
    f1s = np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)
    out["best_f1"] = f1s.max()
    out["best_threshold"] = grid[int(np.argmax(f1s))]
    return out


def _sparse(y):
    return [np.flatnonzero(row) for row in y]


def _random_case(rng, n, c, rate=0.1, dtype=np.float32):
    s = rng.random((n, c)).astype(dtype)
    y = (rng.random((n, c)) < rate).astype(np.int64)
    return s, y


def _assert_close(
    got,
    want,
    keys=("gap", "map", "hit_at_one", "perr", "micro_f1", "macro_f1", "best_f1", "best_threshold"),
):
    for key in keys:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


# --------------------------------------------------------------------------------------------
# scikit-learn where it defines the same quantity


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.77, 0.333])  # 0.333: off the grid
def test_f1_matches_sklearn(threshold):
    rng = np.random.default_rng(0)
    s, y = _random_case(rng, 200, 30, rate=0.2)
    s[0, :5] = threshold  # exactly at the threshold: predicted positive (>=)
    pred = s.astype(np.float64) >= threshold
    micro, macro = f1_at_threshold(s, y, threshold)
    assert micro == pytest.approx(f1_score(y, pred, average="micro"), abs=1e-12)
    assert macro == pytest.approx(f1_score(y, pred, average="macro", zero_division=0), abs=1e-12)
    r = evaluate(s, y, threshold=threshold)
    assert r["micro_f1"] == pytest.approx(micro, abs=1e-12)
    assert r["macro_f1"] == pytest.approx(macro, abs=1e-12)


def test_threshold_is_inclusive():
    s = np.array([[0.5, 0.4999]], np.float32)
    y = np.array([[1, 0]])
    assert f1_at_threshold(s, y, 0.5) == (1.0, pytest.approx(0.5))  # class 1: 0/0 -> 0


@pytest.mark.parametrize("zero_division", [0.0, 1.0, math.nan])
def test_macro_f1_zero_division_matches_sklearn(zero_division):
    rng = np.random.default_rng(1)
    s, y = _random_case(rng, 50, 8, rate=0.3)
    y[:, 3] = 0
    s[:, 3] = 0.1  # class 3: no positives, no predictions -> zero_division
    y[:, 5] = 0  # class 5: no positives but predictions -> F1 = 0 (not zero_division)
    pred = s >= 0.5
    want = f1_score(y, pred, average="macro", zero_division=zero_division)
    got = evaluate(s, y, zero_division=zero_division)["macro_f1"]
    assert got == pytest.approx(want, abs=1e-12)
    assert f1_at_threshold(s, y, 0.5, zero_division)[1] == pytest.approx(want, abs=1e-12)


def test_micro_f1_with_nothing_at_all_is_zero_division():
    s = np.zeros((3, 4), np.float32)
    y = np.zeros((3, 4), int)
    assert (
        evaluate(s, y)["micro_f1"] == f1_score(y, s >= 0.5, average="micro", zero_division=0) == 0.0
    )
    assert evaluate(s, y, zero_division=1.0)["micro_f1"] == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gap_with_all_classes_is_sklearn_ap_of_flattened(dtype):
    rng = np.random.default_rng(2)
    s, y = _random_case(rng, 120, 25, rate=0.15, dtype=dtype)
    want = average_precision_score(y.ravel(), s.ravel())
    assert gap(s, y, top_k=25) == pytest.approx(want, abs=1e-12)


def test_gap_and_map_with_ties_match_sklearn():
    rng = np.random.default_rng(3)
    s = (rng.integers(0, 5, (80, 12)) / 4).astype(np.float32)  # heavy ties
    y = (rng.random((80, 12)) < 0.3).astype(int)
    y[:, 7] = 0
    assert gap(s, y, top_k=12) == pytest.approx(
        average_precision_score(y.ravel(), s.ravel()), abs=1e-12
    )
    per_class = [average_precision_score(y[:, c], s[:, c]) for c in range(12) if y[:, c].any()]
    assert mean_average_precision(s, y, top_k=12) == pytest.approx(np.mean(per_class), abs=1e-12)


def test_map_with_all_classes_is_mean_of_sklearn_ap():
    rng = np.random.default_rng(4)
    s, y = _random_case(rng, 150, 20, rate=0.1)
    y[:, [2, 9]] = 0
    has = y.any(0)
    per_class = np.array(
        [average_precision_score(y[:, c], s[:, c]) if has[c] else 0.0 for c in range(20)]
    )
    assert mean_average_precision(s, y, top_k=20) == pytest.approx(per_class[has].mean(), abs=1e-12)
    # the pre-2019 convention: classes without positives count as 0
    assert mean_average_precision(s, y, top_k=20, map_classes="all") == pytest.approx(
        per_class.mean(), abs=1e-12
    )


# --------------------------------------------------------------------------------------------
# hand-computed cases


def test_gap_counts_positives_outside_the_top_k():
    # video 0: top-1 is class 0 (positive); its positive class 1 is outside the top 1.
    # video 1: top-1 is class 1 (negative); its positive class 2 is outside.
    s = np.array([[0.9, 0.8, 0.1, 0.0], [0.3, 0.7, 0.2, 0.0]])
    y = [np.array([0, 1]), np.array([2])]
    # pool: (0.9, +), (0.7, -); 3 positives in all -> GAP = (1/3) * (1/1)
    assert gap(s, y, top_k=1) == pytest.approx(1 / 3)
    # per class: AP_0 = 1 (1 positive, found at rank 1), AP_1 = 0, AP_2 = 0; class 3 has none
    assert mean_average_precision(s, y, top_k=1) == pytest.approx(1 / 3)
    assert mean_average_precision(s, y, top_k=1, map_classes="all") == pytest.approx(1 / 4)
    # with the top 2: pool (0.9,+) (0.8,+) (0.7,-) (0.3,-) -> GAP = (1/3)(1/1 + 2/2)
    assert gap(s, y, top_k=2) == pytest.approx(2 / 3)


def test_gap_precision_uses_the_pooled_rank():
    # pool over 3 videos, top 1 each: (0.9,-), (0.8,+), (0.6,+); 2 positives
    s = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.5]])
    y = np.array([[0, 0], [0, 1], [1, 0]])
    assert gap(s, y, top_k=1) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_hit_at_one_takes_the_first_index_on_ties():
    s = np.array([[0.5, 0.5, 0.1], [0.5, 0.5, 0.1], [0.2, 0.9, 0.9]])
    y = [np.array([1]), np.array([0]), np.array([2])]
    # argmax: class 0 (miss), class 0 (hit), class 1 (miss)
    assert hit_at_one(s, y) == pytest.approx(1 / 3)


def test_perr_counts_only_positive_scores_and_no_label_videos_score_zero():
    s = np.array(
        [
            [0.0, 0.0, 0.3],  # 2 labels {0, 2}: top 2 = class 2 (0.3, hit), class 0 (0.0: no)
            [0.0, 0.0, 0.0],  # 1 label {0}: top 1 = class 0 but its score is 0 -> 0
            [0.9, 0.8, 0.7],  # no labels -> 0, still in the mean
            [0.1, 0.6, 0.7],  # 2 labels {1, 2}: both in the top 2 -> 1
        ]
    )
    y = [np.array([0, 2]), np.array([0]), np.array([], np.int64), np.array([1, 2])]
    assert perr(s, y) == pytest.approx((0.5 + 0 + 0 + 1) / 4)
    r = evaluate(s, y)
    # Hit@1: class 2 (hit), class 0 (hit), class 0 (no labels), class 2 (hit)
    assert r["hit_at_one"] == pytest.approx(3 / 4)
    assert r["num_videos"] == 4


def test_negative_scores_never_count_for_perr():
    s = np.array([[-1.0, -2.0, -3.0]])
    y = np.array([[1, 0, 0]])
    assert perr(s, y) == 0.0
    assert hit_at_one(s, y) == 1.0


def test_perr_with_more_labels_than_top_k():
    rng = np.random.default_rng(5)
    s, y = _random_case(rng, 40, 60, rate=0.5)  # ~30 labels a video, top_k 20
    r = evaluate(s, y, top_k=20)
    want = reference_metrics(s, y, top_k=20)
    _assert_close(r, want, keys=("perr", "gap", "map", "hit_at_one"))


def test_best_threshold_f1_matches_a_brute_force_over_the_grid():
    rng = np.random.default_rng(6)
    for dtype in (np.float32, np.float64):
        # scores exactly on the grid points (worst case for the binning)
        s = (rng.integers(0, 101, (60, 15)) / 100).astype(dtype)
        y = (rng.random((60, 15)) < 0.3).astype(int)
        grid = np.arange(101) / 100
        f1s = [f1_score(y.ravel(), s.ravel().astype(np.float64) >= t) for t in grid]
        best, thr = best_threshold_f1(s, y)
        assert best == pytest.approx(max(f1s), abs=1e-12)
        assert thr == grid[int(np.argmax(f1s))]
        curve = MetricAccumulator(15).update(s, y).threshold_curve()
        np.testing.assert_allclose(curve["f1"], f1s, atol=1e-12)


def test_threshold_curve_at_the_threshold_agrees_with_direct_counts():
    rng = np.random.default_rng(7)
    s, y = _random_case(rng, 100, 10, rate=0.2)
    acc = MetricAccumulator(10, threshold=0.5).update(s, y)
    curve = acc.threshold_curve()
    assert curve["f1"][50] == pytest.approx(acc.compute()["micro_f1"], abs=1e-12)


# --------------------------------------------------------------------------------------------
# the starter code's algorithm, transcribed (no ties: its shuffle cannot matter)


def _starter_ap_at_n(predictions, actuals, total_num_positives):
    sortidx = sorted(range(len(predictions)), key=lambda k: predictions[k], reverse=True)
    if total_num_positives == 0:
        return 0
    ap, poscount = 0.0, 0.0
    for i in range(len(sortidx)):
        if actuals[sortidx[i]] > 0:
            poscount += 1
            ap += poscount / (i + 1) / total_num_positives
    return ap


def test_matches_a_transcription_of_the_starter_code_without_ties():
    rng = np.random.default_rng(8)
    s, y = _random_case(rng, 60, 30, rate=0.1, dtype=np.float64)
    k = 5
    by_class_s = [[] for _ in range(30)]
    by_class_y = [[] for _ in range(30)]
    for i in range(60):
        for idx in np.argpartition(s[i], -k)[-k:]:
            by_class_s[idx].append(s[i, idx])
            by_class_y[idx].append(y[i, idx])
    positives = y.sum(0)
    flat_s = [v for lst in by_class_s for v in lst]
    flat_y = [v for lst in by_class_y for v in lst]
    want_gap = _starter_ap_at_n(flat_s, flat_y, positives.sum())
    aps = [
        _starter_ap_at_n(by_class_s[c], by_class_y[c], positives[c])
        for c in range(30)
        if positives[c] > 0
    ]
    r = evaluate(s, y, top_k=k)
    assert r["gap"] == pytest.approx(want_gap, abs=1e-12)
    assert r["map"] == pytest.approx(np.mean(aps), abs=1e-12)


# --------------------------------------------------------------------------------------------
# streaming


def test_batches_and_accumulation_match_the_reference_torchmetrics_style():
    rng = np.random.default_rng(9)
    s, y = _random_case(rng, 300, 50, rate=0.06)
    y[7] = 0  # a video with no labels
    s[11, :] = 0.25  # a row of ties
    acc = MetricAccumulator(50, top_k=20)
    for lo in range(0, 300, 64):
        sl = slice(lo, lo + 64)
        _assert_close(evaluate(s[sl], y[sl]), reference_metrics(s[sl], y[sl]))
        acc.update(s[sl], _sparse(y[sl]))
    _assert_close(acc.compute(), reference_metrics(s, y))
    acc.reset()
    with pytest.raises(ValueError, match="no videos accumulated"):
        acc.compute()


def test_youtube8m_sized_stream_equals_one_shot_and_reference():
    rng = np.random.default_rng(10)
    n, c = 2000, 3862
    s = rng.random((n, c), dtype=np.float32) ** 4 * 0.6  # most scores small, as a sigmoid's
    labels = [rng.choice(c, size=rng.integers(0, 8), replace=False) for _ in range(n)]
    for i, lab in enumerate(labels[:1500]):  # raise some positives' scores
        s[i, lab[: len(lab) // 2]] = rng.random(len(lab) // 2) * 0.5 + 0.5
    acc = MetricAccumulator(c)
    for lo in range(0, n, 333):  # uneven batches
        acc.update(s[lo : lo + 333], labels[lo : lo + 333])
    streamed = acc.compute()
    one_shot = evaluate(s, labels)
    for key in one_shot:
        assert streamed[key] == pytest.approx(one_shot[key], abs=1e-12), key
    dense = np.zeros((n, c), np.int8)
    for i, lab in enumerate(labels):
        dense[i, lab] = 1
    ref = reference_metrics(s, dense, grid_size=100)
    _assert_close(streamed, ref)
    assert streamed["gap"] > 0.1  # the planted positives are found


@pytest.mark.parametrize("num_classes, top_k", [(200, 20), (230, 7), (97, 3)])
def test_top_k_with_heavy_ties_matches_the_reference(num_classes, top_k):
    rng = np.random.default_rng(num_classes)
    s = (rng.integers(0, 10, (120, num_classes)) / 10).astype(np.float32)
    s[3] = 0.0  # a row that is all ties
    y = (rng.random((120, num_classes)) < 0.05).astype(int)
    r = evaluate(s, y, top_k=top_k)
    _assert_close(r, reference_metrics(s, y, top_k=top_k))


def test_dense_and_sparse_labels_agree_and_duplicates_count_once():
    rng = np.random.default_rng(11)
    s, y = _random_case(rng, 40, 12, rate=0.2)
    sparse = _sparse(y)
    sparse[0] = np.r_[sparse[0], sparse[0]]  # duplicated ids
    assert evaluate(s, y) == evaluate(s, sparse)


def test_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    s, y = _random_case(rng, 30, 10, rate=0.2)
    assert evaluate(torch.from_numpy(s), torch.from_numpy(y)) == evaluate(s, y)


def test_stable_keys():
    rng = np.random.default_rng(13)
    s, y = _random_case(rng, 5, 4)
    assert set(METRIC_KEYS) <= set(evaluate(s, y))


# --------------------------------------------------------------------------------------------
# bad input


def test_errors_are_clear():
    s = np.full((2, 3), 0.5)
    with pytest.raises(ValueError, match="finite"):
        evaluate(np.array([[np.nan, 0.1, 0.2]]), np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"2-D array \[N, C\]"):
        evaluate(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"dense labels must have shape \(2, 3\)"):
        evaluate(s, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="dense labels must be 0/1"):
        evaluate(s, np.full((2, 3), 2))
    with pytest.raises(ValueError, match=r"label id 3 out of range \[0, 3\)"):
        evaluate(s, [np.array([3]), np.array([0])])
    with pytest.raises(ValueError, match="got 1 label lists for 2 videos"):
        evaluate(s, [np.array([0])])
    with pytest.raises(ValueError, match="scores have 3 classes, expected 5"):
        MetricAccumulator(5).update(s, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        MetricAccumulator(3, top_k=0)
    with pytest.raises(ValueError, match="map_classes must be"):
        MetricAccumulator(3, map_classes="some")


# --------------------------------------------------------------------------------------------
# paired bootstrap


def test_paired_bootstrap_fast_micro_f1_equals_the_generic_path():
    rng = np.random.default_rng(14)
    s_a, y = _random_case(rng, 150, 10, rate=0.3)
    s_b = np.clip(s_a + 0.3 * y, 0, 1).astype(np.float32)  # a better model
    fast = paired_bootstrap(
        "micro_f1", s_b, s_a, _sparse(y), Bootstrap(n_boot=200, seed=3), progress=False
    )

    def micro(s, labels):
        return f1_score(labels, s >= 0.5, average="micro")

    slow = paired_bootstrap(micro, s_b, s_a, y, Bootstrap(n_boot=200, seed=3), progress=False)
    for key in ("diff", "mean_diff", "lo", "hi"):
        assert fast[key] == pytest.approx(slow[key], abs=1e-12), key
    assert fast["diff"] == pytest.approx(micro(s_b, y) - micro(s_a, y), abs=1e-12)
    assert 0 < fast["lo"] < fast["diff"] < fast["hi"]


def test_paired_bootstrap_of_a_model_against_itself_is_zero():
    rng = np.random.default_rng(15)
    s, y = _random_case(rng, 50, 8, rate=0.3)
    r = paired_bootstrap("gap", s, s, y, Bootstrap(n_boot=20), progress=False)
    assert r["diff"] == r["lo"] == r["hi"] == r["mean_diff"] == 0.0
