"""Multi-label video classification metrics: the F1 family and the YouTube-8M metrics.

Every metric takes scores ``[N, C]`` (float; probabilities for the F1 family) and labels,
either dense 0/1 ``[N, C]`` or sparse (a sequence of N integer arrays of class ids). Torch
tensors are accepted (converted with ``.detach().cpu().numpy()``); this module imports numpy
only.

The YouTube-8M metrics follow the release's starter code (google/youtube-8m:
``eval_util.py``, ``average_precision_calculator.py``, ``mean_average_precision_calculator.py``)
detail for detail, except where that code's result depends on the memory order of tied scores
(``numpy.argpartition`` order and a seeded ``random.sample`` shuffle before a stable sort);
there we state a deterministic rule of our own (*our reconstruction*, see `MetricAccumulator`).

`MetricAccumulator` is the one implementation: it streams batch by batch in bounded memory
(per video only its top-k (score, class, label) triplets; per class integer counters; a
per-class histogram of scores over a fixed grid of thresholds), never a dense ``[N, C]``
matrix. `evaluate` and the single-metric functions run it over the whole input.

`per_video_counts` and the input helpers (`as_scores`, `positive_pairs`, `top_k_candidates`,
`f1_from_counts`) are the pieces :mod:`afkit.metrics.stats` resamples (bootstraps over videos).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MetricAccumulator",
    "evaluate",
    "f1_at_threshold",
    "best_threshold_f1",
    "gap",
    "mean_average_precision",
    "hit_at_one",
    "perr",
    "per_video_counts",
    "as_numpy",
    "as_scores",
    "positive_pairs",
    "top_k_candidates",
    "f1_from_counts",
    "METRIC_KEYS",
]

#: the keys of `evaluate`'s result that every caller may rely on (the stable API)
METRIC_KEYS = ("gap", "map", "hit_at_one", "perr", "micro_f1", "macro_f1")

# rows processed at once inside `update` (bounds the temporaries: ~8 bytes x rows x C)
_CHUNK_ROWS = 256


@dataclass
class MetricConfig:
    """Plain values that define the metrics (defaults = the YouTube-8M / paper conventions)."""

    top_k: int = 20  # per-video predictions kept for GAP and mAP (the starter code's 20)
    threshold: float = 0.5  # F1: predicted positive iff float64(score) >= threshold
    map_classes: str = "positive"  # mAP over classes with >= 1 positive ("all": pre-2019 code)
    zero_division: float = 0.0  # F1 of a class with TP+FP+FN == 0 (nan: left out of the mean)
    grid_size: int = (
        100  # best-threshold F1 searched over thresholds j / grid_size, j = 0..grid_size
    )


# --------------------------------------------------------------------------------------------
# input handling


def as_numpy(a) -> np.ndarray:
    """A numpy view of ``a``; torch tensors via ``.detach().cpu()`` (bfloat16 -> float32)."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch.Tensor, without importing torch
        a = a.detach().cpu()
        if str(a.dtype) in ("torch.bfloat16", "torch.float16"):
            a = a.float()
        a = a.numpy()
    return np.asarray(a)


def as_scores(scores, num_classes: int | None = None) -> np.ndarray:
    """``scores`` checked as a finite real [N, C] array (``num_classes`` columns if given):
    float32 / float64 kept, other real dtypes converted; torch tensors accepted."""
    x = as_numpy(scores)
    if x.ndim != 2:
        raise ValueError(f"scores must be a 2-D array [N, C], got shape {x.shape}")
    if num_classes is not None and x.shape[1] != num_classes:
        raise ValueError(f"scores have {x.shape[1]} classes, expected {num_classes}")
    if x.dtype == np.float64 or x.dtype == np.float32:
        pass
    elif x.dtype.kind in "fiub":
        x = x.astype(np.float32 if x.dtype.itemsize <= 2 else np.float64)
    else:
        raise TypeError(f"scores must be real numbers, got dtype {x.dtype}")
    if x.size and not (np.isfinite(x.min()) and np.isfinite(x.max())):  # min/max keep NaN
        raise ValueError("scores must be finite (found NaN or infinity)")
    return x


def positive_pairs(labels, n: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the positive (video, class) pairs, sorted by row then class.

    Dense labels must be 0/1 ``[n, C]``; sparse labels are a sequence of ``n`` integer arrays
    of class ids in ``[0, C)`` (duplicates within a video count once).
    """
    if isinstance(labels, (list, tuple)) or (
        isinstance(labels, np.ndarray) and labels.dtype == object
    ):
        if len(labels) != n:
            raise ValueError(f"got {len(labels)} label lists for {n} videos")
        arrays = [np.asarray(as_numpy(v)).reshape(-1) for v in labels]
        arrays = [a if a.size else np.zeros(0, np.int64) for a in arrays]
        sizes = np.fromiter((a.size for a in arrays), dtype=np.int64, count=n)
        cols = np.concatenate(arrays) if sizes.sum() else np.zeros(0, np.int64)
        if cols.size and cols.dtype.kind not in "iu":
            raise TypeError(f"sparse labels must be integer class ids, got dtype {cols.dtype}")
        cols = cols.astype(np.int64, copy=False)
        if cols.size and (cols.min() < 0 or cols.max() >= num_classes):
            bad = cols[(cols < 0) | (cols >= num_classes)][0]
            raise ValueError(f"label id {bad} out of range [0, {num_classes})")
        rows = np.repeat(np.arange(n, dtype=np.int64), sizes)
        keys = np.unique(rows * num_classes + cols)  # sorted, duplicates removed
        return keys // num_classes, keys % num_classes
    y = as_numpy(labels)
    if y.shape != (n, num_classes):
        raise ValueError(f"dense labels must have shape {(n, num_classes)}, got {y.shape}")
    if y.dtype != np.bool_:
        if not np.isin(y, (0, 1)).all():
            raise ValueError("dense labels must be 0/1")
    rows, cols = np.nonzero(y)
    return rows.astype(np.int64), cols.astype(np.int64)


# --------------------------------------------------------------------------------------------
# building blocks


def top_k_candidates(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's top ``k``: (scores [B, k], classes [B, k]), highest first, ties by lower class.

    A lower bound on each row's k-th largest score is the smallest of the maxima of k disjoint
    column sets (k distinct entries are >= it); only entries >= that bound are sorted.
    """
    b, c = x.shape
    w = c // k
    if w < 4:  # few classes per block: a full stable sort is as cheap
        order = np.argsort(-x, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(x, order, 1), order
    # tree of elementwise maxima; column j + k*i always belongs to block j (mod k)
    m = x[:, : w * k]
    while w > 1:
        h = w // 2
        new = np.maximum(m[:, : h * k], m[:, h * k : 2 * h * k])
        if w % 2:
            np.maximum(new[:, :k], m[:, 2 * h * k : (2 * h + 1) * k], out=new[:, :k])
        m, w = new, h
    bound = m[:, :k].min(axis=1)
    flat = np.flatnonzero(x >= bound[:, None])  # row-major: by row, then class
    rows = flat // c
    cols = flat - rows * c
    counts = np.bincount(rows, minlength=b)
    starts = np.cumsum(counts) - counts
    pos = np.arange(flat.size) - starts[rows]
    width = int(counts.max())
    neg = np.full((b, width), np.inf, dtype=x.dtype)  # padding sorts last
    neg[rows, pos] = -x.ravel()[flat]
    cls = np.zeros((b, width), dtype=np.int64)
    cls[rows, pos] = cols
    order = np.argsort(neg, axis=1, kind="stable")[:, :k]  # stable: ties keep class order
    return -np.take_along_axis(neg, order, 1), np.take_along_axis(cls, order, 1)


def _grid_bins(x: np.ndarray, grid_size: int, offset=0) -> np.ndarray:
    """Bin of each score on the grid t_j = j / G (j = 0..G): #{j : x >= t_j}, in [0, G + 1].

    ``x >= t_j`` is compared in float64 with t_j = float64(j / G). For float32 scores
    ``x * G`` is exact in float64 (24 + 7 significant bits) and no float32 lies between j / G
    and float64(j / G) unless they are equal, so ``floor(x * G)`` is the count minus one. For
    float64 scores the rounded product can be one off near a grid point (e.g. x = 0.29 gives
    28.999...), so the neighbouring grid points are compared directly. ``offset`` (an integer
    array broadcasting against x) is added to the result.
    """
    q = np.multiply(x, float(grid_size), dtype=np.float64)
    in_unit = x.size == 0 or (x.min() >= 0 and x.max() <= 1)
    if x.dtype == np.float64:
        np.floor(q, out=q)
        q += x >= (q + 1.0) / grid_size
        q -= x < q / grid_size
    elif not in_unit:
        np.floor(q, out=q)
    if not in_unit:
        np.minimum(q, float(grid_size), out=q)
        np.maximum(q, -1.0, out=q)
    bins = q.astype(np.int64)  # truncation == floor here: q is integral or >= 0
    bins += np.asarray(offset, np.int64) + 1
    return bins


def _ap_sorted(labels: np.ndarray, scores: np.ndarray, num_positives: float) -> float:
    """Non-interpolated AP of a list sorted by score (descending), over ``num_positives``.

    AP = (1 / P) * sum_i [label_i] * precision@i, with precision@i = (#positives in the first
    i) / i, the starter code's ``ap_at_n(n=None, total_num_positives=P)``; P == 0 gives 0.
    A run of tied scores counts as one cut-off (precision at its end for each of its positives,
    as scikit-learn's ``average_precision_score``). See `_ap_segments`.
    """
    return float(
        _ap_segments(
            labels, scores, np.zeros(labels.size, np.int8), np.array([num_positives], np.float64), 1
        )[0]
    )


def _ap_segments(labels, scores, seg, num_positives, num_segments) -> np.ndarray:
    """AP of each segment of a list sorted by (segment, score descending): [num_segments].

    Only the last element of each run of equal (segment, score) is materialized: with
    tp_e = positives of the segment up to that element and r_e its rank in the segment,
    AP_seg = (1 / P_seg) * sum_e (tp_e - tp_(e-1)) * tp_e / r_e.
    """
    n = labels.size
    out = np.zeros(num_segments, np.float64)
    if n == 0:
        return out
    tp = np.cumsum(labels, dtype=np.int64)
    seg_change = seg[1:] != seg[:-1]
    seg_start = np.r_[0, np.flatnonzero(seg_change) + 1]
    e = np.flatnonzero(np.r_[seg_change | (scores[1:] != scores[:-1]), True])
    which = np.searchsorted(seg_start, e, side="right") - 1  # segment number of each run end
    start = seg_start[which]
    tp_e = tp[e] - np.where(start > 0, tp[np.maximum(start - 1, 0)], 0)
    prev = np.r_[0, tp_e[:-1]]
    prev[np.r_[True, which[1:] != which[:-1]]] = 0  # a segment's first run
    contrib = (tp_e - prev) * (tp_e / (e - start + 1))
    sums = np.bincount(seg[e], weights=contrib, minlength=num_segments)
    pos = np.asarray(num_positives, np.float64)
    np.divide(sums, pos, out=out, where=pos > 0)
    return out


def f1_from_counts(tp, fp, fn, zero_division: float):
    """F1 = 2 TP / (2 TP + FP + FN), elementwise; ``zero_division`` where the denominator is 0."""
    tp, fp, fn = (np.asarray(a, np.float64) for a in (tp, fp, fn))
    den = 2 * tp + fp + fn
    out = np.full(den.shape, zero_division, np.float64)
    np.divide(2 * tp, den, out=out, where=den > 0)
    return out


# --------------------------------------------------------------------------------------------
# the accumulator


class MetricAccumulator:
    r"""All metrics, accumulated batch by batch in bounded memory (torchmetrics style).

    ``update(scores [B, C], labels)`` then ``compute() -> dict``; ``reset()`` starts over.
    Labels: dense 0/1 ``[B, C]`` or sparse (B integer arrays of class ids). Memory held:
    ``top_k`` (score, class, label) triplets per video (GAP, mAP), per class the positive count,
    TP and predicted-positive counts at ``threshold`` and a histogram of scores over the grid
    ``t_j = j / grid_size`` (all scores, and those of positives), and two integer tallies for
    Hit@1 and PERR: O(N * top_k + C * grid_size), never O(N * C).

    Definitions (N videos, C classes, y the 0/1 labels, s the scores; P_c = sum_n y_nc,
    P = sum_c P_c; "top" ranks are by score, highest first; ties: lower class index first):

    - ``gap``: pool every video's top_k (s, y) pairs into one list sorted by score;
      GAP = (1 / P) * sum_i y_i * precision@i. Positives outside a video's top_k are never
      retrieved but still count in P (starter code: ``calculate_gap`` =
      ``top_k_by_class`` + ``AveragePrecisionCalculator.accumulate(..., num_positives=sum)``
      + ``peek_ap_at_n``); P == 0 gives 0.
    - ``map``: per class c, the same AP over the pooled pairs of class c divided by P_c
      (``MeanAveragePrecisionCalculator`` fed by ``top_k_by_class``; P_c == 0 gives 0);
      averaged over the classes with P_c > 0 (``map_classes="positive"``, the starter code's
      ``filter_empty_classes=True`` since 2019) or over all C (``"all"``, the older code).
    - ``hit_at_one``: mean_n y[n, argmax_c s_nc] (``calculate_hit_at_one``; numpy's argmax
      takes the first index on ties, so do we).
    - ``perr``: mean_n (1 / L_n) * #{c in top L_n of video n : y_nc = 1 and s_nc > 0},
      L_n = sum_c y_nc (``calculate_precision_at_equal_recall_rate``); a video with L_n = 0
      scores 0 (the starter code divides 0 by C there) and stays in the mean.
    - ``micro_f1``: 2 TP / (2 TP + FP + FN) summed over all (n, c), predicted positive iff
      ``float64(s) >= threshold`` (scikit-learn ``f1_score(y, s >= t, average="micro")``).
    - ``macro_f1``: mean over all C classes of the per-class F1; a class with
      TP + FP + FN == 0 gets ``zero_division`` (0.0 by default, scikit-learn's default value;
      ``nan`` leaves it out of the mean, as scikit-learn's ``zero_division=np.nan``).
    - ``best_f1``, ``best_threshold``: the highest micro-F1 over thresholds j / grid_size,
      j = 0..grid_size, and the lowest threshold that reaches it (*our reconstruction*: the
      paper states neither averaging nor threshold).

    Ties (*our reconstruction*; the starter code's result there depends on memory order,
    ``numpy.argpartition``'s and that of a ``random.seed(0)`` shuffle before a stable sort):
    a video's top k and its argmax take the lower class index first among equal scores; in an
    AP, a run of equal scores is one cut-off (each of its positives gets the precision at the
    run's end, as scikit-learn's ``average_precision_score``). Without ties every number
    equals the starter code's. Results do not depend on how videos are split into batches.
    """

    def __init__(
        self,
        num_classes: int,
        top_k: int = 20,
        threshold: float = 0.5,
        *,
        map_classes: str = "positive",
        zero_division: float = 0.0,
        grid_size: int = 100,
    ):
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        if map_classes not in ("positive", "all"):
            raise ValueError(f"map_classes must be 'positive' or 'all', got {map_classes!r}")
        if not (
            zero_division in (0.0, 1.0)
            or (isinstance(zero_division, float) and math.isnan(zero_division))
        ):
            raise ValueError(f"zero_division must be 0.0, 1.0 or nan, got {zero_division!r}")
        if not isinstance(grid_size, (int, np.integer)) or grid_size < 1:
            raise ValueError(f"grid_size must be a positive integer, got {grid_size!r}")
        self.config = MetricConfig(
            int(top_k), float(threshold), map_classes, float(zero_division), int(grid_size)
        )
        self.num_classes = int(num_classes)
        self._class_dtype = np.int16 if num_classes <= np.iinfo(np.int16).max else np.int32
        # a threshold on the grid is read from the histograms (same comparison, in float64)
        j = round(self.config.threshold * grid_size)
        on_grid = 0 <= j <= grid_size and j / grid_size == self.config.threshold
        self._grid_index = j if on_grid else None
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        c, g = self.num_classes, self.config.grid_size
        self.num_videos = 0
        self._pool_scores: list[np.ndarray] = []
        self._pool_classes: list[np.ndarray] = []
        self._pool_labels: list[np.ndarray] = []
        self._positives = np.zeros(c, np.int64)  # P_c
        self._tp = np.zeros(c, np.int64)  # at threshold
        self._pp = np.zeros(c, np.int64)  # predicted positives at threshold
        self._hist_all = np.zeros((c, g + 2), np.int64)  # bin b: #{j: s >= t_j} == b
        self._hist_pos = np.zeros((c, g + 2), np.int64)
        self._hits = 0
        self._perr_hits = np.zeros(c + 1, np.int64)  # by number of labels L: sum of hits

    # -- accumulation -----------------------------------------------------------------------

    def update(self, scores, labels) -> MetricAccumulator:
        """Add a batch: scores [B, C] (float), labels dense 0/1 [B, C] or B arrays of class ids."""
        x = as_scores(scores, self.num_classes)
        rows, cols = positive_pairs(labels, x.shape[0], self.num_classes)
        for lo in range(0, x.shape[0], _CHUNK_ROWS):
            hi = min(lo + _CHUNK_ROWS, x.shape[0])
            a, b = np.searchsorted(rows, [lo, hi])
            self._update_chunk(x[lo:hi], rows[a:b] - lo, cols[a:b])
        return self

    def _update_chunk(self, x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
        cfg, c = self.config, self.num_classes
        b = x.shape[0]
        if b == 0:
            return
        n_labels = np.bincount(rows, minlength=b)
        k = min(max(cfg.top_k, int(n_labels.max(initial=0))), c)
        top_s, top_c = top_k_candidates(x, k)
        # label of each top entry: look the keys up among the sorted positive keys
        keys = rows * c + cols
        top_keys = (np.arange(b, dtype=np.int64)[:, None] * c + top_c).ravel()
        where = np.minimum(np.searchsorted(keys, top_keys), max(keys.size - 1, 0))
        top_y = (keys[where] == top_keys).reshape(b, k) if keys.size else np.zeros((b, k), bool)

        kk = min(cfg.top_k, c)
        self._pool_scores.append(top_s[:, :kk].ravel())
        self._pool_classes.append(top_c[:, :kk].ravel().astype(self._class_dtype))
        self._pool_labels.append(top_y[:, :kk].ravel())

        self._hits += int(top_y[:, 0].sum())
        # PERR: positives with score > 0 among the top L_n, tallied by L_n
        in_top_l = np.arange(k)[None, :] < n_labels[:, None]
        perr_hits = (top_y & (top_s > 0) & in_top_l).sum(axis=1)
        self._perr_hits += np.bincount(n_labels, weights=perr_hits, minlength=c + 1).astype(
            np.int64
        )

        pos_s = x[rows, cols]
        self._positives += np.bincount(cols, minlength=c)
        g2 = cfg.grid_size + 2
        offsets = np.arange(c, dtype=np.int64) * g2
        bins = _grid_bins(x, cfg.grid_size, offsets[None, :])
        self._hist_all += np.bincount(bins.ravel(), minlength=c * g2).reshape(c, g2)
        pos_bins = _grid_bins(pos_s, cfg.grid_size, offsets[cols])
        self._hist_pos += np.bincount(pos_bins, minlength=c * g2).reshape(c, g2)
        if self._grid_index is None:  # threshold off the grid: count directly
            t = np.float64(cfg.threshold)
            self._tp += np.bincount(cols[pos_s >= t], minlength=c)
            self._pp += np.count_nonzero(x >= t, axis=0)
        self.num_videos += b

    # -- results -----------------------------------------------------------------------------

    def _pool(self):
        """The pooled top-k: scores, classes, labels [M] and the order by descending score."""
        s = np.concatenate(self._pool_scores)
        cl = np.concatenate(self._pool_classes)
        y = np.concatenate(self._pool_labels)
        order = np.argsort(s, kind="stable")[::-1]  # descending; ties are runs, order moot
        return s, cl, y, order

    def _class_ap(self, s, cl, y, order) -> np.ndarray:
        order = order[np.argsort(cl[order], kind="stable")]  # by class, then score descending
        return _ap_segments(y[order], s[order], cl[order], self._positives, self.num_classes)

    def class_ap(self) -> np.ndarray:
        """AP_c over the top-k pool of class c divided by P_c (0 where P_c == 0): [C]."""
        if self.num_videos == 0:
            return np.zeros(self.num_classes)
        return self._class_ap(*self._pool())

    def threshold_curve(self) -> dict[str, np.ndarray]:
        """Micro counts and F1 at each grid threshold t_j = j / G (j = 0..G): arrays [G + 1]."""
        g = self.config.grid_size
        # #{s >= t_j} = sum of bins > j  (bin b means exactly b grid points are <= s)
        pp = np.cumsum(self._hist_all.sum(0)[::-1])[::-1][1:]
        tp = np.cumsum(self._hist_pos.sum(0)[::-1])[::-1][1:]
        fp = pp - tp
        fn = int(self._positives.sum()) - tp
        f1 = f1_from_counts(tp, fp, fn, self.config.zero_division)
        return {"threshold": np.arange(g + 1) / g, "tp": tp, "fp": fp, "fn": fn, "f1": f1}

    def compute(self) -> dict[str, float]:
        """The metrics of everything accumulated (see the class docstring for definitions)."""
        if self.num_videos == 0:
            raise ValueError("no videos accumulated: call update() first")
        cfg, n = self.config, self.num_videos
        total_pos = int(self._positives.sum())
        s, cl, y, order = self._pool()
        gap_value = _ap_sorted(y[order], s[order], total_pos)
        aps = self._class_ap(s, cl, y, order)
        if cfg.map_classes == "positive":
            has = self._positives > 0
            map_value = float(aps[has].mean()) if has.any() else 0.0
        else:
            map_value = float(aps.mean())

        lengths = np.arange(1, self.num_classes + 1)
        perr_value = float((self._perr_hits[1:] / lengths).sum() / n)

        if self._grid_index is None:
            tp, pp = self._tp, self._pp
        else:  # #{s >= t_j} = sum of the bins above j
            tp = self._hist_pos[:, self._grid_index + 1 :].sum(1)
            pp = self._hist_all[:, self._grid_index + 1 :].sum(1)
        fp, fn = pp - tp, self._positives - tp
        micro = float(f1_from_counts(tp.sum(), fp.sum(), fn.sum(), cfg.zero_division))
        per_class = f1_from_counts(tp, fp, fn, cfg.zero_division)
        if np.isnan(cfg.zero_division):
            per_class = per_class[~np.isnan(per_class)]
            macro = float(per_class.mean()) if per_class.size else float("nan")
        else:
            macro = float(per_class.mean())

        curve = self.threshold_curve()
        f1_grid = np.nan_to_num(curve["f1"], nan=-1.0)
        best = int(np.argmax(f1_grid))
        return {
            "gap": gap_value,
            "map": map_value,
            "hit_at_one": self._hits / n,
            "perr": perr_value,
            "micro_f1": micro,
            "macro_f1": macro,
            "best_f1": float(curve["f1"][best]),
            "best_threshold": float(curve["threshold"][best]),
            "num_videos": n,
        }


# --------------------------------------------------------------------------------------------
# one-shot functions


def evaluate(scores, labels, top_k: int = 20, threshold: float = 0.5, **options) -> dict:
    """Every metric of `MetricAccumulator` on scores [N, C] and labels (dense [N, C] or sparse).

    Returns a dict with ``gap``, ``map``, ``hit_at_one``, ``perr``, ``micro_f1``,
    ``macro_f1`` (the stable API) and ``best_f1``, ``best_threshold``, ``num_videos``.
    ``options``: ``map_classes``, ``zero_division``, ``grid_size`` (see `MetricAccumulator`).
    """
    x = as_scores(scores)
    acc = MetricAccumulator(x.shape[1], top_k, threshold, **options)
    return acc.update(x, labels).compute()


def f1_at_threshold(scores, labels, threshold: float = 0.5, zero_division: float = 0.0):
    r"""(micro-F1, macro-F1) at a threshold: F1 = 2 TP / (2 TP + FP + FN).

    scores [N, C] (probabilities), labels dense 0/1 [N, C] or sparse; predicted positive iff
    ``float64(score) >= threshold``. Micro sums TP, FP, FN over all (video, class) pairs;
    macro averages the per-class F1 over all C classes, a class with TP + FP + FN == 0 scoring
    ``zero_division`` (nan: left out). Equals scikit-learn's ``f1_score(labels, scores >= t,
    average="micro" / "macro", zero_division=...)``.
    """
    x = as_scores(scores)
    t = np.float64(threshold)
    rows, cols = positive_pairs(labels, x.shape[0], x.shape[1])
    c = x.shape[1]
    tp = np.bincount(cols[x[rows, cols] >= t], minlength=c)
    pp = np.count_nonzero(x >= t, axis=0)
    fn = np.bincount(cols, minlength=c) - tp
    micro = float(f1_from_counts(tp.sum(), (pp - tp).sum(), fn.sum(), zero_division))
    per_class = f1_from_counts(tp, pp - tp, fn, zero_division)
    per_class = per_class[~np.isnan(per_class)]
    return micro, (float(per_class.mean()) if per_class.size else float("nan"))


def best_threshold_f1(scores, labels, grid_size: int = 100) -> tuple[float, float]:
    """(best micro-F1, its threshold): max_j F1(t_j), t_j = j / grid_size, j = 0..grid_size.

    scores [N, C], labels dense or sparse. The lowest threshold wins among equal F1.
    """
    r = evaluate(scores, labels, grid_size=grid_size)
    return r["best_f1"], r["best_threshold"]


def gap(scores, labels, top_k: int = 20) -> float:
    """GAP@k = (1 / P) sum_i y_i precision@i over the pooled top-k of every video.

    scores [N, C], labels dense 0/1 [N, C] or sparse; P counts every positive, also those
    outside the top k (see `MetricAccumulator`).
    """
    return evaluate(scores, labels, top_k=top_k)["gap"]


def mean_average_precision(scores, labels, top_k: int = 20, map_classes: str = "positive"):
    """mAP = mean_c (1 / P_c) sum_i y_i precision@i over class c's share of the top-k pool.

    scores [N, C], labels dense or sparse; mean over classes with P_c > 0 (``"positive"``)
    or over all C (``"all"``).
    """
    return evaluate(scores, labels, top_k=top_k, map_classes=map_classes)["map"]


def hit_at_one(scores, labels) -> float:
    """Hit@1 = mean_n y[n, argmax_c s_nc] (first index on ties); scores [N, C]."""
    return evaluate(scores, labels, top_k=1)["hit_at_one"]


def perr(scores, labels) -> float:
    """PERR = mean_n #{c in top L_n : y_nc = 1, s_nc > 0} / L_n (0 when L_n = 0); [N, C]."""
    return evaluate(scores, labels, top_k=1)["perr"]


# --------------------------------------------------------------------------------------------
# per-video counts (the resampling statistics of afkit.metrics.stats sum them over resampled videos)


def per_video_counts(x: np.ndarray, labels, threshold: float):
    """Per video (TP, FP, FN) at ``threshold`` (positive iff score >= threshold): three int64
    arrays [N]; ``labels`` dense 0/1 [N, C] or sparse (a list of class-id arrays). Summed over
    videos they give micro-F1 = 2 TP / (2 TP + FP + FN); the paired bootstraps resample them."""
    n, c = x.shape
    rows, cols = positive_pairs(labels, n, c)
    t = np.float64(threshold)
    hit = x[rows, cols] >= t
    tp = np.bincount(rows[hit], minlength=n)
    pp = np.count_nonzero(x >= t, axis=1)
    return tp, pp - tp, np.bincount(rows, minlength=n) - tp
