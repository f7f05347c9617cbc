"""The video-level attention weights that read directly, scored against the synthetic truth.

Notebook 10 trains two video-level Attend-Fusion readings whose attention weights a reader can
take at face value (:mod:`afkit.models.attend_fusion`); this module reads them and scores them
(issue 26, point 3; notebook 08):

- ``attend_fusion_modality_tokens`` (``attention="modality_tokens"``): one self-attention over
  the two tokens [visual, audio]; its weights ``"modality"`` are [B, heads, 2, 2] (query, key;
  key 0 visual, key 1 audio). A video's **audio weight** is the attention paid to key 1 (audio),
  averaged over the heads and the two queries: in [0, 1], and 1 - it is the visual weight.
- ``attend_fusion_stats`` (``stat_tokens=True``, late fusion, self-attention): per modality the
  MF and the STD statistics are encoded separately, k tokens each (k = ``config.tokens``), in the
  input's column order, which is MF then STD (:data:`afkit.data.batches.VIDEO_COLUMNS`): keys
  0..k-1 are the MF (mean) tokens, k..2k-1 the STD (spread) tokens; weights ``"visual"`` and
  ``"audio"`` [B, heads, 2k, 2k]. A video's **spread weight** of modality m is the attention paid
  to the STD keys (summed over them), averaged over heads and queries: in [0, 1], and 1 - it is
  the weight on the MF tokens.

Steps, each on plain tables:

1. :func:`token_weights`: those weights per video (``video``, ``labels``).
2. Per class, the mean weight over the videos that carry the label (:func:`class_means`), with
   bootstrap intervals that resample **videos** (:func:`afkit.metrics.stats.bootstrap_weights`:
   one resample draws N videos; a class's mean is recomputed over its drawn videos):

   - modality tokens (:func:`modality_scores`): on the classes whose true modality is audio or
     visual (``both`` left out), the AUROC of the per-class audio weight for "audio class"
     (:func:`afkit.interpret.evidence.auroc`; 1 = every audio class above every visual class,
     0.5 = no information) and the balanced accuracy of the rule "audio weight above the median
     over those classes => audio" (:func:`median_rule`, :func:`balanced_accuracy`), beside what
     the rule "always visual" scores (0.5) and the base rate (the majority modality's share of
     those classes; context, not a finding);
   - MF/STD tokens (:func:`spread_scores`): per modality m, on the classes whose evidence is in m
     (true modality m or ``both``), the Spearman correlation (:func:`spearman`) between the
     per-class spread weight and the data's mean-vs-spread split of the class
     (:func:`spread_truth`), and the mean spread weight beside the mean truth share.

3. :func:`readings_answer`: the finding in prose, computed from the table and flipping with it;
   :func:`readings_check`: notebook 08's one call (the runs read, scored, the figure's arguments).

**The mean-vs-spread split** (*our definition*): per class c and modality m, over the videos of
a split (the training split by default, :data:`TRUTH_SPLIT`, so that the truth does not share
videos with the validate videos whose weights are read), every MF and STD column of m is
standardized (its mean over the split subtracted, divided by its standard deviation); d_mean =
the L2 norm of the difference of the class-conditional means (videos with c minus videos without
c) of the standardized MF columns of m, d_spread = the same over the STD columns, and the truth
share = d_spread / (d_mean + d_spread) (1 = the class shows only in the spread of m's frames, 0
= only in their mean). The generator adds evidence whose per-frame signs are redrawn
(:mod:`afkit.data.synth`: ``sign_per_frame``, a fixed-sign share ``linear_share``), so most of a
class's signal lies in the spread. Sampling noise adds to both squared norms (the sum over the
columns of the within-group variances over the group sizes), which would pull the share of a
rare class towards 1/2 (on the cpu store the plain share's rank correlation with the class's
video count is about 0.8): that expected noise is subtracted from each squared norm before the
square root (:func:`spread_truth_arrays`, ``debias=True``; with it the correlation is about
0). The truth is held fixed in the bootstrap (a property of the data, measured on videos of its
own); the interval is that of the model's weights over the validate videos.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from afkit.data import synth
from afkit.data.batches import VIDEO_COLUMNS, open_split
from afkit.data.store import open_store
from afkit.interpret import attribution as interpret
from afkit.interpret.evidence import _average_ranks, auroc
from afkit.metrics import stats

__all__ = [
    "TRUTH_SPLIT",
    "TABLE_COLUMNS",
    "token_weights",
    "multi_hot",
    "class_means",
    "balanced_accuracy",
    "median_rule",
    "spearman",
    "modality_scores",
    "spread_truth_arrays",
    "spread_truth",
    "spread_scores",
    "class_table",
    "readings_answer",
    "readings_check",
]

TRUTH_SPLIT = "train"  # the split the mean-vs-spread split is measured on
MODALITIES = interpret.MODALITIES  # ("visual", "audio")
TABLE_COLUMNS = [
    "reading",
    "modality",
    "score",
    "value",
    "ci_low",
    "ci_high",
    "reference",
    "reference_is",
    "base_rate",
    "majority",
    "n_classes",
    "n_videos",
]


# ---------------------------------------------------------------------- 1. the weights per video


def _stat_order() -> list[str]:
    """The statistics of a ``mean_std`` input in column order (``["mean", "std"]``)."""
    return [c.split("_")[0] for c in VIDEO_COLUMNS["mean_std"] if c.endswith("rgb")]


def _reading_of(model: torch.nn.Module) -> str:
    """``"modality"`` or ``"stats"``: which readable weights the model has (else ValueError)."""
    cfg = getattr(model, "config", None)
    attention = getattr(cfg, "attention", None)
    if attention == "modality_tokens":
        return "modality"
    if (
        getattr(cfg, "stat_tokens", False)
        and attention == "self"
        and getattr(cfg, "fusion", None) == "late"
    ):
        return "stats"
    name = getattr(model, "name", type(model).__name__)
    raise ValueError(
        f"{name} has no directly readable token weights: token_weights needs a video-level "
        "Attend-Fusion with attention='modality_tokens' (attend_fusion_modality_tokens) or with "
        "stat_tokens=True, attention='self', fusion='late' (attend_fusion_stats); got "
        f"attention={attention!r}, stat_tokens={getattr(cfg, 'stat_tokens', None)!r}, "
        f"fusion={getattr(cfg, 'fusion', None)!r}"
    )


def _batch_weights(model, reading: str, visual, audio) -> dict[str, np.ndarray]:
    """The per-video weights of one batch (see the module docstring)."""
    _, w = model(visual, audio, return_attention=True)
    if reading == "modality":
        a = w["modality"]  # [B, heads, 2 queries, 2 keys]
        if a.shape[-2:] != (2, 2):
            raise ValueError(f"modality weights must be [B, heads, 2, 2], got {tuple(a.shape)}")
        return {"audio_weight": a[..., 1].mean(dim=(1, 2)).double().cpu().numpy()}
    k = model.config.tokens
    spread = _stat_order().index("std")  # which block of k keys holds the STD tokens
    out = {}
    for m in MODALITIES:
        a = w[m]  # [B, heads, 2k, 2k]
        if a.shape[-1] != 2 * k:
            raise ValueError(f"{m} weights must have {2 * k} keys, got {tuple(a.shape)}")
        keys = a[..., spread * k : (spread + 1) * k].sum(-1)  # [B, heads, 2k queries]
        out[f"spread_weight_{m}"] = keys.mean(dim=(1, 2)).double().cpu().numpy()
    return out


def token_weights(
    model: torch.nn.Module, batches: Any, *, ids: Sequence | None = None
) -> pd.DataFrame:
    """Per video, the readable attention weights of ``model`` on ``batches``.

    ``batches``: video-level batches (dicts with ``visual``, ``audio``, ``y`` and ``index``, as
    :meth:`afkit.data.batches.Batches.tensors` gives them; a loader or a list). Columns
    ``video`` (the id with ``ids``, else the row), ``labels`` (tuple of class ids) and, for
    ``attention="modality_tokens"``, ``audio_weight`` (the attention on the audio token, mean over
    heads and both queries), for ``stat_tokens=True``, ``spread_weight_visual`` and
    ``spread_weight_audio`` (the attention on the STD tokens, summed over them, mean over heads
    and queries); all in [0, 1]. A model without such weights is a ValueError.
    """
    reading = _reading_of(model)
    device = interpret.model_device(model, None)
    was_training = model.training
    model.eval()
    parts, offset = [], 0
    try:
        with torch.no_grad():
            for batch in interpret.iter_batches(batches):
                if "visual" not in batch or "audio" not in batch:
                    raise ValueError("token_weights needs video-level batches (visual, audio)")
                visual = torch.as_tensor(batch["visual"], dtype=torch.float32, device=device)
                audio = torch.as_tensor(batch["audio"], dtype=torch.float32, device=device)
                n = visual.shape[0]
                labels = interpret._label_lists(batch.get("y"), n)
                part = {
                    "video": interpret.video_names(batch, n, offset, ids),
                    "labels": [tuple(int(c) for c in v) for v in labels],
                    **_batch_weights(model, reading, visual, audio),
                }
                parts.append(pd.DataFrame(part))
                offset += n
    finally:
        model.train(was_training)
    if not parts:
        raise ValueError("no batches: nothing to read")
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------ 2. per class, with intervals


def multi_hot(labels: Sequence[Sequence[int]], num_classes: int) -> np.ndarray:
    """bool [N, C]: row i marks the classes of ``labels[i]``."""
    y = np.zeros((len(labels), int(num_classes)), dtype=bool)
    for i, row in enumerate(labels):
        y[i, list(row)] = True
    return y


def class_means(values: Any, y: Any, weights: Any = None) -> np.ndarray:
    """Per class, the mean of per-video ``values`` [N] over the videos that carry it (``y``
    [N, C] multi-hot): [C]; with ``weights`` [R, N] (how often each video is drawn,
    :func:`afkit.metrics.stats.bootstrap_weights`) the mean of each resample: [R, C]. NaN for a
    class with no (drawn) video."""
    v = np.asarray(values, np.float64).reshape(-1)
    yy = np.asarray(y, np.float64)
    if yy.ndim != 2 or yy.shape[0] != len(v):
        raise ValueError(f"y must be [N={len(v)}, C], got {yy.shape}")
    w = np.ones((1, len(v))) if weights is None else np.atleast_2d(np.asarray(weights, np.float64))
    counts, sums = w @ yy, w @ (yy * v[:, None])
    out = np.divide(sums, counts, out=np.full(counts.shape, np.nan), where=counts > 0)
    return out[0] if weights is None else out


def balanced_accuracy(predicted: Any, positives: Any) -> float:
    """(TPR + TNR) / 2 of boolean predictions against boolean truth; NaN when either class is
    empty. A rule that says the same for every item scores exactly 0.5."""
    p = np.asarray(predicted, bool).reshape(-1)
    t = np.asarray(positives, bool).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"predicted and positives differ in length: {p.size} vs {t.size}")
    if not t.any() or t.all():
        return float("nan")
    return float((p[t].mean() + (~p[~t]).mean()) / 2)


def median_rule(scores: Any) -> np.ndarray:
    """bool: a score strictly above the median of ``scores`` (the rule "above the median =>
    positive")."""
    s = np.asarray(scores, np.float64).reshape(-1)
    return s > np.median(s)


def spearman(x: Any, y: Any) -> float:
    """Spearman's rank correlation: the Pearson correlation of the average ranks (ties share
    their rank). NaN with fewer than 3 pairs or a constant side."""
    a = np.asarray(x, np.float64).reshape(-1)
    b = np.asarray(y, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"x and y differ in length: {a.size} vs {b.size}")
    if a.size < 3:
        return float("nan")
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def _num_labels(labels: Sequence[Sequence[int]]) -> int:
    """1 + the largest class id in ``labels`` (0 for none)."""
    return max((max(v, default=-1) for v in labels), default=-1) + 1


def _true_modality(classes: pd.DataFrame, num_classes: int) -> np.ndarray:
    """object [C]: each class's true modality (visual / audio / both; None if not listed)."""
    label = interpret.first_column(classes, ("index", "label", "Index"), "classes")
    out = np.full(int(num_classes), None, dtype=object)
    for c, m in zip(classes[label].to_numpy(), classes["modality"].astype(str), strict=True):
        if 0 <= int(c) < num_classes:
            out[int(c)] = m
    return out


def _replicates(fn, per_class: np.ndarray, keep: np.ndarray, *args) -> np.ndarray:
    """``fn`` on each resample's classes of ``keep`` that had a drawn video."""
    reps = []
    for row in per_class:
        ok = keep & np.isfinite(row)
        reps.append(fn(row[ok], *(a[ok] for a in args)))
    reps = np.asarray(reps, np.float64)
    return reps[np.isfinite(reps)]


def _row(reading, modality, score, value, reps, boot, **extra) -> dict:
    lo, hi = stats.percentile_interval(reps, boot.confidence) if len(reps) else (np.nan, np.nan)
    return {
        "reading": reading,
        "modality": modality,
        "score": score,
        "value": float(value),
        "ci_low": lo,
        "ci_high": hi,
        "base_rate": np.nan,
        "majority": None,
        **extra,
    }


def _ba_median(s: np.ndarray, positives: np.ndarray) -> float:
    return balanced_accuracy(median_rule(s), positives)


def modality_scores(
    weights: pd.DataFrame, classes: pd.DataFrame, boot: stats.Bootstrap | None = None
) -> pd.DataFrame:
    """The modality tokens' per-class audio weight against each class's true modality.

    ``weights``: :func:`token_weights` of an ``attend_fusion_modality_tokens`` model (columns
    ``labels``, ``audio_weight``); ``classes``: the ground truth's class table (``index``,
    ``modality``). On the classes whose truth is audio or visual and that at least one video
    carries: ``auroc`` (audio weight for "audio class"; reference 0.5, chance) and
    ``balanced_accuracy`` (the rule "audio weight above the median over these classes => audio";
    reference 0.5, the rule "always visual"; ``base_rate``: the majority modality's share of
    these classes, which "always visual/audio" gets as plain accuracy) and, per group (``visual
    classes``, ``audio classes``), ``mean_audio_weight`` (reference 0.5, uniform attention), each
    with its percentile interval over ``boot.n_boot`` resamples of the videos. Rows as
    :data:`TABLE_COLUMNS`.
    """
    boot = boot or stats.Bootstrap()
    if "audio_weight" not in weights.columns:
        raise ValueError("weights has no 'audio_weight' column: read a modality-tokens model")
    label = interpret.first_column(classes, ("index", "label", "Index"), "classes")
    c = max(int(classes[label].max()) + 1, _num_labels(weights["labels"]))
    y = multi_hot(weights["labels"], c)
    truth = _true_modality(classes, c)
    single = np.isin(truth.astype(str), ["visual", "audio"])
    is_audio = truth.astype(str) == "audio"
    full = class_means(weights["audio_weight"], y)
    keep = single & np.isfinite(full)
    if not (keep & is_audio).any() or not (keep & ~is_audio).any():
        raise ValueError(
            "modality_scores needs audio and visual classes among the videos read "
            f"({int((keep & is_audio).sum())} audio, {int((keep & ~is_audio).sum())} visual)"
        )
    reps = class_means(
        weights["audio_weight"], y, stats.bootstrap_weights(len(y), boot.n_boot, boot.seed)
    )
    n_audio, n_single = int((keep & is_audio).sum()), int(keep.sum())
    common = dict(n_classes=n_single, n_videos=len(y))
    rows = [
        _row(
            "modality tokens",
            "audio vs visual",
            "auroc",
            auroc(full[keep], is_audio[keep]),
            _replicates(auroc, reps, single, is_audio),
            boot,
            reference=0.5,
            reference_is="chance",
            **common,
        ),
        _row(
            "modality tokens",
            "audio vs visual",
            "balanced_accuracy",
            _ba_median(full[keep], is_audio[keep]),
            _replicates(_ba_median, reps, single, is_audio),
            boot,
            reference=0.5,
            reference_is="the rule 'always visual'",
            **common,
        ),
    ]
    rows[1]["base_rate"] = max(n_audio, n_single - n_audio) / n_single
    rows[1]["majority"] = "audio" if n_audio > n_single - n_audio else "visual"
    for name, group in (("visual", single & ~is_audio), ("audio", single & is_audio)):
        rows.append(
            _row(
                "modality tokens",
                f"{name} classes",
                "mean_audio_weight",
                full[keep & group].mean(),
                _replicates(np.mean, reps, group),
                boot,
                reference=0.5,
                reference_is="uniform attention",
                n_classes=int((keep & group).sum()),
                n_videos=len(y),
            )
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def spread_truth_arrays(
    mean_columns: Any, std_columns: Any, y: Any, *, debias: bool = True
) -> pd.DataFrame:
    """The mean-vs-spread split of every class in one modality (see the module docstring).

    ``mean_columns`` [N, D] (MF), ``std_columns`` [N, D'] (STD) of one modality, ``y`` [N, C]
    multi-hot. Each column is standardized over the N videos (a constant column stays 0); per
    class c: ``d_mean`` = ||mean(MF | c) - mean(MF | not c)||_2, ``d_spread`` the same over the
    STD columns, ``truth_share`` = d_spread / (d_mean + d_spread), ``n_videos`` (videos with c).

    ``debias`` (default): the squared distance of two sample means exceeds the true one by the
    sampling noise, sum_j var_j(c) / n_c + var_j(not c) / n_not (sample variances of the
    standardized columns within each group); that amount is subtracted before the square root
    (clipped at 0), so that a class's share does not drift towards 1/2 as it gets rarer.
    NaN for a class that fewer than 2 videos carry or fewer than 2 lack. Columns ``label,
    n_videos, d_mean, d_spread, truth_share``.
    """
    yy = np.asarray(y, np.float64)
    n = yy.shape[0]
    n_in = yy.sum(0)
    n_out = n - n_in
    ok = (n_in >= 2) & (n_out >= 2)
    dists = []
    for cols in (mean_columns, std_columns):
        x = np.asarray(cols, np.float64)
        if x.ndim != 2 or x.shape[0] != n:
            raise ValueError(f"feature columns must be [N={n}, D], got {x.shape}")
        sd = x.std(0)
        z = np.divide(x - x.mean(0), sd, out=np.zeros_like(x), where=sd > 0)
        sums = yy.T @ z  # [C, D]; the sum over all videos is 0 (centred)
        inside = np.divide(sums, n_in[:, None], out=np.zeros_like(sums), where=ok[:, None])
        outside = np.divide(-sums, n_out[:, None], out=np.zeros_like(sums), where=ok[:, None])
        d2 = ((inside - outside) ** 2).sum(1)
        if debias:
            ss_in = yy.T @ (z**2).sum(1)  # [C]: sum over the class's videos and the columns
            ss_out = (z**2).sum() - ss_in
            safe_in, safe_out = np.maximum(n_in, 2), np.maximum(n_out, 2)
            var_in = (ss_in - n_in * (inside**2).sum(1)) / (safe_in - 1)
            var_out = (ss_out - n_out * (outside**2).sum(1)) / (safe_out - 1)
            d2 = np.maximum(d2 - var_in / safe_in - var_out / safe_out, 0.0)
        dists.append(np.where(ok, np.sqrt(d2), np.nan))
    d_mean, d_spread = dists
    total = d_mean + d_spread
    share = np.divide(d_spread, total, out=np.full_like(total, np.nan), where=total > 0)
    return pd.DataFrame(
        {
            "label": np.arange(yy.shape[1]),
            "n_videos": n_in.astype(np.int64),
            "d_mean": d_mean,
            "d_spread": d_spread,
            "truth_share": share,
        }
    )


def spread_truth(store_dir, split: str = TRUTH_SPLIT, chunk_rows: int = 16384) -> pd.DataFrame:
    """:func:`spread_truth_arrays` of every class and modality on ``split`` of a ``mean_std``
    store: columns ``modality`` (visual / audio) and those of :func:`spread_truth_arrays`."""
    st = open_store(Path(store_dir) / split if (Path(store_dir) / split).is_dir() else store_dir)
    cols = st.columns
    need = VIDEO_COLUMNS["mean_std"]
    missing = [c for c in need if c not in cols]
    if missing:
        raise ValueError(f"{st.path} has no {missing} columns: the split needs MF+STD features")
    n = len(st)
    x = np.empty((n, st.features.shape[1]), np.float32)
    for a in range(0, n, chunk_rows):
        x[a : a + chunk_rows] = st.features[a : a + chunk_rows]
    y = st.multi_hot(np.arange(n)) > 0
    parts = []
    for m, tag in zip(MODALITIES, ("rgb", "audio"), strict=True):
        mean, std = cols[f"mean_{tag}"], cols[f"std_{tag}"]
        t = spread_truth_arrays(x[:, mean], x[:, std], y)
        t.insert(0, "modality", m)
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def spread_scores(
    weights: pd.DataFrame,
    truth: pd.DataFrame,
    classes: pd.DataFrame,
    boot: stats.Bootstrap | None = None,
) -> pd.DataFrame:
    """The MF/STD tokens' per-class spread weight against the data's mean-vs-spread split.

    ``weights``: :func:`token_weights` of an ``attend_fusion_stats`` model; ``truth``:
    :func:`spread_truth`; ``classes``: the ground truth's class table. Per modality m, on the
    classes whose evidence is in m (true modality m or ``both``), read in at least one video and
    with a finite truth share: ``spearman`` (per-class spread weight vs truth share; reference 0,
    no association) and ``mean_spread_weight`` (the mean over those classes of the spread weight;
    reference: their mean truth share), each with its interval over ``boot.n_boot`` resamples of
    the videos (the truth held fixed). Rows as :data:`TABLE_COLUMNS`.
    """
    boot = boot or stats.Bootstrap()
    c = max(int(truth["label"].max()) + 1, _num_labels(weights["labels"]))
    y = multi_hot(weights["labels"], c)
    true_mod = _true_modality(classes, c).astype(str)
    draws = stats.bootstrap_weights(len(y), boot.n_boot, boot.seed)
    rows = []
    for m in MODALITIES:
        col = f"spread_weight_{m}"
        if col not in weights.columns:
            raise ValueError(f"weights has no {col!r} column: read an MF/STD-tokens model")
        share = np.full(c, np.nan)
        t = truth[truth["modality"] == m]
        share[t["label"].to_numpy(int)] = t["truth_share"].to_numpy(np.float64)
        full = class_means(weights[col], y)
        scope = np.isin(true_mod, [m, "both"]) & np.isfinite(share)
        keep = scope & np.isfinite(full)
        reps = class_means(weights[col], y, draws)
        common = dict(n_classes=int(keep.sum()), n_videos=len(y))
        rows.append(
            _row(
                "MF/STD tokens",
                m,
                "spearman",
                spearman(full[keep], share[keep]),
                _replicates(spearman, reps, scope, share),
                boot,
                reference=0.0,
                reference_is="no association",
                **common,
            )
        )
        rows.append(
            _row(
                "MF/STD tokens",
                m,
                "mean_spread_weight",
                full[keep].mean() if keep.any() else np.nan,
                _replicates(np.mean, reps, scope),
                boot,
                reference=float(share[keep].mean()) if keep.any() else np.nan,
                reference_is="the data's mean truth share",
                **common,
            )
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def class_table(
    modality_weights: pd.DataFrame | None,
    stats_weights: pd.DataFrame | None,
    classes: pd.DataFrame,
    truth: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per class (the figure's rows): ``label``, ``modality`` (true), ``n_videos`` (read),
    ``audio_weight``, ``spread_weight_visual``, ``spread_weight_audio`` (means over the videos
    that carry the class; NaN where a reading is missing) and ``truth_share_visual``,
    ``truth_share_audio`` (:func:`spread_truth`; NaN without it)."""
    label = interpret.first_column(classes, ("index", "label", "Index"), "classes")
    c = int(classes[label].max()) + 1
    out = pd.DataFrame({"label": np.arange(c), "modality": _true_modality(classes, c)})
    n = np.zeros(c, np.int64)
    for w in (modality_weights, stats_weights):
        if w is None:
            continue
        y = multi_hot([[k for k in v if k < c] for v in w["labels"]], c)
        n = np.maximum(n, y.sum(0))
        for col in ("audio_weight", "spread_weight_visual", "spread_weight_audio"):
            if col in w.columns:
                out[col] = class_means(w[col], y)
    out["n_videos"] = n
    for col in ("audio_weight", "spread_weight_visual", "spread_weight_audio"):
        if col not in out.columns:
            out[col] = np.nan
    for m in MODALITIES:
        share = np.full(c, np.nan)
        if truth is not None:
            t = truth[(truth["modality"] == m) & (truth["label"] < c)]
            share[t["label"].to_numpy(int)] = t["truth_share"].to_numpy(np.float64)
        out[f"truth_share_{m}"] = share
    return out


# ------------------------------------------------------------------------ 3. the answer, the call


def _interval(r) -> str:
    return f"{r['value']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"


def _side(r, above: str, below: str, neither: str) -> str:
    """``above`` if the interval lies above the reference, ``below`` if below, else ``neither``."""
    if r["ci_low"] > r["reference"]:
        return above
    if r["ci_high"] < r["reference"]:
        return below
    return neither


def _run_note(rows: pd.DataFrame) -> str:
    """`` (run NAME: converged)``, or the run named as not converged; empty when not known."""
    if "converged" not in rows.columns or rows["converged"].isna().all():
        return ""
    r = rows.iloc[0]
    name = f"run {r['model']}" if "model" in rows.columns else "the run"
    if bool(r["converged"]):
        return f" ({name}: converged)"
    stop = r["stop_reason"] if "stop_reason" in rows.columns else "?"
    return f" ({name}: did NOT converge, stop: {stop}; not a finding until it does)"


def _modality_text(m: pd.DataFrame) -> str:
    a = m.drop_duplicates("score").set_index("score")
    au, ba = a.loc["auroc"], a.loc["balanced_accuracy"]
    majority = ba["majority"] if isinstance(ba.get("majority"), str) else "visual"
    verdict = _side(
        au,
        "separates audio classes from visual classes",
        "separates them the wrong way round (audio classes get less audio weight)",
        "does not separate audio classes from visual classes",
    )
    rule = _side(
        ba,
        f"above the 0.5 of the rule 'always {majority}'",
        f"below the 0.5 of the rule 'always {majority}'",
        f"not distinguishable from the 0.5 of the rule 'always {majority}'",
    )
    n, share = int(au["n_classes"]), float(ba["base_rate"])
    text = (
        f"**Modality tokens{_run_note(m)}.** The per-class attention on the audio token {verdict}: "
        f"AUROC {_interval(au)} over {n} single-modality classes (chance 0.5"
        + ("" if verdict.startswith("separates") else "; the interval includes 0.5")
        + "). The rule 'audio weight above the median over classes => audio class' has balanced "
        f"accuracy {_interval(ba)}, {rule}. For scale, not a finding: {100 * share:.0f}% of those "
        f"classes are {majority}, the plain accuracy of always answering '{majority}', which is "
        "why balanced accuracy is the score."
    )
    means = m[m["score"] == "mean_audio_weight"].set_index("modality")
    if {"visual classes", "audio classes"} <= set(means.index):
        vis, aud = means.loc["visual classes"], means.loc["audio classes"]
        lean = _side(
            vis,
            "more on the audio token than on the visual one",
            "more on the visual token than on the audio one",
            "about evenly on the two tokens",
        )
        lead = "Even on" if lean.startswith("more on the audio") else "On"
        text += (
            f" {lead} visual classes the attention rests {lean}: mean audio weight "
            f"{_interval(vis)} on visual classes, {_interval(aud)} on audio classes (uniform 0.5)."
        )
    return text


def _spread_text(s: pd.DataFrame) -> str:
    parts = []
    for m in MODALITIES:
        g = s[s["modality"] == m].set_index("score")
        if "spearman" not in g.index or not np.isfinite(g.loc["spearman", "value"]):
            parts.append(f"In the {m} tokens too few classes were read to score.")
            continue
        sp, mw = g.loc["spearman"], g.loc["mean_spread_weight"]
        follows = _side(
            sp,
            "follows the class's mean-vs-spread split in the data",
            "runs against the class's mean-vs-spread split in the data",
            "does not follow the class's mean-vs-spread split in the data",
        )
        even = {"ci_low": mw["ci_low"], "ci_high": mw["ci_high"], "reference": 0.5}
        lean = _side(
            even,
            "more on the STD (spread) tokens than on the MF (mean) tokens",
            "more on the MF (mean) tokens than on the STD (spread) tokens",
            "about evenly on the MF and STD tokens",
        )
        caveat = "" if follows.startswith(("follows", "runs")) else "; the interval includes 0"
        parts.append(
            f"In the {m} tokens the per-class spread weight {follows}: Spearman {_interval(sp)} "
            f"over {int(sp['n_classes'])} classes with {m} evidence (0 = no association{caveat}). "
            f"The attention rests {lean}: mean spread weight {_interval(mw)} (uniform 0.5), while "
            f"the data's spread share of those classes averages {mw['reference']:.2f}."
        )
    return f"**MF/STD tokens{_run_note(s)}.** " + " ".join(parts)


def readings_answer(table: pd.DataFrame, source: str = "synthetic") -> str:
    """The finding in prose, computed from the :func:`readings_check` table (rows as
    :data:`TABLE_COLUMNS`; optional ``model``, ``converged``, ``stop_reason``): for the modality
    tokens whether the audio weight separates audio from visual classes (AUROC beyond 0.5) and the
    median rule's balanced accuracy against always-visual's 0.5, the base rate given as scale only;
    for the MF/STD tokens whether the spread weight follows the data's mean-vs-spread split
    (Spearman beyond 0) and where the attention rests. Each verdict reads the interval, so it
    flips with the numbers; the data is named (``source``)."""
    parts = []
    if table is None or len(table) == 0:
        parts.append(
            "**Video-level attention weights.** Not scored: there is no ground truth (real data) "
            "or no modality-tokens / MF-STD-tokens run was read."
        )
    else:
        m = table[table["reading"] == "modality tokens"]
        s = table[table["reading"] == "MF/STD tokens"]
        if len(m):
            parts.append(_modality_text(m))
        if len(s):
            parts.append(_spread_text(s))
    label = "synthetic" if source == "synthetic" else source
    parts.append(
        f"*On {label} data"
        + (" (afkit's generator, not YouTube-8M).*" if label == "synthetic" else ".*")
    )
    return "\n\n".join(parts)


def _run_info(run) -> dict:
    path = Path(run) / "results.json"
    if not path.is_file():
        return {"model": Path(run).parent.name, "converged": np.nan, "stop_reason": ""}
    r = json.loads(path.read_text())
    return {
        "model": r.get("model", Path(run).parent.name),
        "converged": r.get("converged", np.nan),
        "stop_reason": r.get("stop_reason", ""),
    }


def _read(run, store_dir, max_videos: int | None, split: str = "validate") -> pd.DataFrame:
    """:func:`token_weights` of a finished run on the first ``max_videos`` videos of ``split``."""
    from afkit.training.inference import load_run

    model, _ = load_run(run)
    loader = open_split(
        store_dir, split, "video", batch_size=256, features=model.config.features, shuffle=False
    )
    n = len(loader.store) if max_videos is None else min(max_videos, len(loader.store))
    batches = [loader.tensors(np.arange(a, min(a + 256, n))) for a in range(0, n, 256)]
    return token_weights(model, batches, ids=loader.store.ids)


def readings_check(
    run_modality_tokens,
    run_stats,
    store_dir,
    data_dir,
    max_videos: int | None = 2000,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict, str]:
    """Notebook 08: are the video-level attention weights worth reading?

    Reads the weights of a finished ``attend_fusion_modality_tokens`` run and a finished
    ``attend_fusion_stats`` run (folders; either may be None) on the first ``max_videos`` videos of
    the store's validate split, and scores them against ``data_dir``'s ground truth
    (:func:`modality_scores`, :func:`spread_scores` on :func:`spread_truth` of the store's
    :data:`TRUTH_SPLIT`; ``n_boot`` resamples of the videos from ``seed``). Returns ``(table,
    figure, answer)``: the scores (:data:`TABLE_COLUMNS` plus ``model``, ``converged``,
    ``stop_reason`` of the run read), the keyword arguments of
    :func:`afkit.viz.plots.plot_token_readings` and :func:`readings_answer`. Real data (no
    ``ground_truth/``): no rows, and the answer says so.
    """
    boot = stats.Bootstrap(n_boot=n_boot, seed=seed)
    synthetic = (Path(data_dir) / "ground_truth").is_dir()
    source = "synthetic" if synthetic else "real"
    classes = synth.load_ground_truth(data_dir, "validate")[0] if synthetic else None
    runs = {"modality": run_modality_tokens, "stats": run_stats}
    read = {k: _read(r, store_dir, max_videos) for k, r in runs.items() if r is not None}
    truth = spread_truth(store_dir) if synthetic and "stats" in read else None
    tables, notes = [], []
    if synthetic:
        for key, w in read.items():
            t = (
                modality_scores(w, classes, boot)
                if key == "modality"
                else spread_scores(w, truth, classes, boot)
            )
            info = _run_info(runs[key])
            tables.append(t.assign(**info))
            state = {True: "converged", False: "did NOT converge"}.get(info["converged"], "?")
            notes.append(f"{info['model']}: {state}")
    table = (
        pd.concat(tables, ignore_index=True)
        if tables
        else pd.DataFrame(columns=TABLE_COLUMNS + ["model", "converged", "stop_reason"])
    )
    per_class = (
        class_table(read.get("modality"), read.get("stats"), classes, truth)
        if synthetic
        else pd.DataFrame()
    )
    figure = {
        "classes": per_class,
        "source": source,
        "note": "; ".join(notes),
    }
    return table, figure, readings_answer(table, source)
