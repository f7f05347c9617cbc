"""Resampling statistics, in one place: bootstraps over videos and their intervals.

A resample of N videos is N draws with replacement; it is held as integer weights (how often
each video is drawn, :func:`bootstrap_weights`), so that two models (and several seeds of one)
are resampled by the same draws without copying their scores. On weights:

- micro-F1 (:func:`micro_f1_replicates`): the per-video TP / FP / FN counts
  (:func:`afkit.metrics.classification.per_video_counts`) summed with the weights;
- GAP@k (:func:`gap_replicates`, :func:`weighted_gap`): exactly the GAP of the resampled set,
  from each model's pooled top-k ranking (:func:`gap_parts`) and one cumulative sum per resample.

:func:`percentile_interval` reads the replicates; :func:`mean_interval` is the percentile
bootstrap of one mean (notebook 08's scores over videos); :func:`paired_bootstrap` is the general
paired bootstrap of any metric difference between two models on the same videos (the paired
tests of two runs, averaged over seeds, are :func:`afkit.training.protocol.paired_difference`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from afkit.metrics import classification as metrics

__all__ = [
    "bootstrap_weights",
    "percentile_interval",
    "mean_interval",
    "micro_f1_replicates",
    "gap_replicates",
    "GapParts",
    "gap_parts",
    "weighted_gap",
    "Bootstrap",
    "paired_bootstrap",
]


def bootstrap_weights(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """[n_boot, n] int64: how often each of ``n`` videos is drawn in each resample (``n`` draws
    with replacement, ``numpy.random.default_rng(seed)``); the same draws pair two models."""
    rng = np.random.default_rng(seed)
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)])


def percentile_interval(replicates, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval (lo, hi) of bootstrap replicates at ``confidence``."""
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(np.asarray(replicates, np.float64), [alpha, 1 - alpha])
    return float(lo), float(hi)


def mean_interval(
    values, *, ci: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` (NaNs dropped) and its percentile-bootstrap ``ci``
    interval over ``n_boot`` resamples of the values with replacement (all NaN when none is
    left)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    return (float(v.mean()), *percentile_interval(means, ci))


def micro_f1_replicates(scores, labels, threshold: float, weights) -> tuple[float, np.ndarray]:
    """(micro-F1 on all videos, micro-F1 of each resample [R]) at ``threshold``: the per-video
    (TP, FP, FN) summed plainly and with ``weights`` [R, N] (:func:`bootstrap_weights`)."""
    counts = np.stack(metrics.per_video_counts(scores, labels, threshold)).astype(
        np.float64
    )  # [3, N]
    full = metrics.f1_from_counts(*counts.sum(1), 0.0)
    return full, metrics.f1_from_counts(*(np.asarray(weights) @ counts.T).T, 0.0)


def gap_replicates(scores, labels, weights, top_k: int = 20) -> tuple[float, np.ndarray]:
    """(GAP@k on all videos, GAP@k of each resample [R]) for ``weights`` [R, N]."""
    parts = gap_parts(scores, labels, top_k)
    return weighted_gap(parts, np.ones((1, parts.positives.size)))[0], weighted_gap(parts, weights)


@dataclass
class GapParts:
    """A model's top-k predictions pooled over videos, sorted by score (highest first):
    ``video`` [E] and ``hit`` [E] per entry, and ``positives`` [N] per video."""

    video: np.ndarray
    hit: np.ndarray
    positives: np.ndarray


def gap_parts(scores, labels, top_k: int = 20) -> GapParts:
    """The pieces of GAP@k that do not change when videos are reweighted (see `weighted_gap`)."""
    x = metrics.as_scores(scores)
    n, c = x.shape
    top_s, top_c = metrics.top_k_candidates(x, min(top_k, c))
    rows, cols = metrics.positive_pairs(labels, n, c)
    truth = np.zeros((n, c), dtype=bool)
    truth[rows, cols] = True
    hit = np.take_along_axis(truth, top_c, 1)
    order = np.argsort(-top_s.ravel(), kind="stable")
    video = np.repeat(np.arange(n), top_s.shape[1])[order]
    return GapParts(video, hit.ravel()[order], np.bincount(rows, minlength=n))


def weighted_gap(parts: GapParts, weights) -> np.ndarray:
    r"""GAP@k of resampled video sets, exactly: ``weights`` [R, N] (or [N]) counts per video.

    Video v drawn w_v times puts w_v copies of each of its entries in the pooled ranking, tied
    with each other. With N_e entries and H_e hits (weighted) ranked before entry e, and ties
    counted as one cut-off (as `gap` does), its w copies, if a hit, add
    w (H_e + w) / (N_e + w) to the precision sum; GAP = that sum / \sum_v w_v P_v. Equals `gap`
    on the concatenated resample, without building it (one cumulative sum per resample).
    """
    w = np.atleast_2d(np.asarray(weights, np.float64))
    we = w[:, parts.video]  # [R, E]
    hit = parts.hit.astype(np.float64)
    n_upto = np.cumsum(we, 1)
    h_upto = np.cumsum(we * hit, 1)
    total = (we * hit * h_upto / np.maximum(n_upto, 1e-300)).sum(1)
    pos = w @ parts.positives.astype(np.float64)
    out = np.divide(total, pos, out=np.zeros_like(total), where=pos > 0)
    return out if np.ndim(weights) == 2 else out[0]


@dataclass(frozen=True)
class Bootstrap:
    """A paired bootstrap's settings: ``n_boot`` resamples, drawn from ``seed``, and the
    ``confidence`` of the percentile interval."""

    n_boot: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self):
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")


def paired_bootstrap(
    metric_fn: Callable | str,
    scores_a,
    scores_b,
    labels,
    boot: Bootstrap | None = None,
    *,
    threshold: float = 0.5,
    progress: bool = True,
) -> dict[str, float]:
    r"""Paired bootstrap over videos of Delta = metric(A) - metric(B) on the same videos.

    scores_a, scores_b [N, C]; labels dense [N, C] or sparse (N arrays). Each of the
    ``boot.n_boot`` replicates (:class:`Bootstrap`) draws N video indices with replacement
    (``numpy.random.default_rng(boot.seed)``), the same for both models, and computes Delta*.
    Returns ``diff`` (Delta on all videos), ``mean_diff`` (mean of Delta*), ``lo`` and ``hi``
    (the percentile interval of Delta* at ``boot.confidence``), ``n_boot``. ``metric_fn``: a
    callable ``(scores, labels) -> float`` or a key of
    :func:`afkit.metrics.classification.evaluate`; ``"micro_f1"`` is fast
    (:func:`micro_f1_replicates` on :func:`bootstrap_weights`, the same draws, O(n_boot * N));
    ``progress`` shows a bar over the resamples of the generic path.
    """
    boot = boot or Bootstrap()
    n_boot, seed, confidence = boot.n_boot, boot.seed, boot.confidence
    xa, xb = metrics.as_scores(scores_a), metrics.as_scores(scores_b)
    if xa.shape != xb.shape:
        raise ValueError(f"scores_a {xa.shape} and scores_b {xb.shape} differ in shape")
    n = xa.shape[0]
    if metric_fn == "micro_f1":  # the same draws as the generic path, as weights
        w = bootstrap_weights(n, n_boot, seed)
        (full_a, reps_a), (full_b, reps_b) = (
            micro_f1_replicates(x, labels, threshold, w) for x in (xa, xb)
        )
        diff, deltas = float(full_a) - float(full_b), reps_a - reps_b
    else:
        if isinstance(metric_fn, str):
            key = metric_fn
            if key not in metrics.METRIC_KEYS + ("best_f1",):
                raise ValueError(f"unknown metric {key!r}; expected one of {metrics.METRIC_KEYS}")

            def metric_fn(s, y):
                return metrics.evaluate(s, y, threshold=threshold)[key]

        from tqdm.auto import tqdm

        dense = not isinstance(labels, (list, tuple))
        y = metrics.as_numpy(labels) if dense else labels
        diff = metric_fn(xa, y) - metric_fn(xb, y)
        rng = np.random.default_rng(seed)
        deltas = np.empty(n_boot)
        for i in tqdm(range(n_boot), desc="bootstrap", disable=not progress):
            idx = rng.integers(0, n, n)
            yi = y[idx] if dense else [y[j] for j in idx]
            deltas[i] = metric_fn(xa[idx], yi) - metric_fn(xb[idx], yi)
    lo, hi = percentile_interval(deltas, confidence)
    return {
        "diff": float(diff),
        "mean_diff": float(deltas.mean()),
        "lo": float(lo),
        "hi": float(hi),
        "n_boot": int(n_boot),
    }
