"""Explanations scored against the synthetic release's ground truth, and notebook 08's questions.

The tables of :mod:`afkit.interpret.attribution` (what a trained model says) are scored here against
what the synthetic set knows: for every video, which frames and which modality carry each label's
evidence.

1. **Scoring against the truth** -- on plain arrays: :func:`auroc`, :func:`span_auroc`,
   :func:`modality_agreement_arrays`,
   :func:`topk_frames`, :func:`random_frames`, :func:`faithfulness`; on tables:
   :func:`evidence_auroc` (+ :func:`means_with_ci`), :func:`modality_agreement`, and the deletion
   test, which runs the model on frames masked out (:func:`deletion_drops`, :func:`deletion_test`).
2. **Notebook 08, one call per question** -- :func:`explanation_tables` (what does the model
   say?), :func:`ground_truth` (the :class:`Truth` scored against; none on real data, with a
   note), :func:`span_scores` (does a method find the evidence?), :func:`timeline` (where in one
   video does it look?), :func:`modality_check` (does the attribution's modality agree with the
   truth?), :func:`deletion_test` (is it faithful?), :func:`frames_check` (did the frame-level
   model learn enough to be explained?) and :func:`interpretability_answer` (the answer in prose,
   from the tables). On real data the truth-scored tables have no rows.

Conventions (*our reconstruction*: the paper shows no interpretability analysis at all): frame
scores for the evidence AUROC use the modality that carries the evidence (the span's
``modality``; ``both`` sums the two); deletion removes whole frames (masks them out), so it ranks
frames by the sum over modalities. Attention weights are averaged over heads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from afkit.data import synth
from afkit.interpret import attribution as interpret
from afkit.metrics import stats
from afkit.training.protocol import verdict

# ----------------------------------------------- 1. scoring against the truth (plain arrays first)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    sx = x[order]
    starts = np.flatnonzero(np.r_[True, sx[1:] != sx[:-1]])
    ends = np.r_[starts[1:], len(sx)]
    avg = (starts + ends + 1) / 2.0  # 1-based mean rank of each tie group
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auroc(scores: Any, positives: Any) -> float:
    """Area under the ROC curve of ``scores`` for the binary ``positives``.

    :math:`\\mathrm{AUROC} = P(s_+ > s_-) + \\tfrac12 P(s_+ = s_-)` =
    :math:`(R_+ - n_+(n_+ + 1)/2) / (n_+ n_-)`, with :math:`R_+` the sum of the positives'
    average ranks (ties share their rank), as ``sklearn.metrics.roc_auc_score``. 1 = every positive
    above every negative, 0 = inverted, 0.5 = constant or random scores. NaN when either class is
    empty.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(positives).astype(bool).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores and positives differ in length: {s.shape[0]} vs {y.shape[0]}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = _average_ranks(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def span_positives(
    n_frames: int, starts: Any, ends: Any, *, end_inclusive: bool = False
) -> np.ndarray:
    """Boolean [n_frames]: True inside any span ``[start, end)``
    (``[start, end]`` if end_inclusive)."""
    pos = np.zeros(int(n_frames), dtype=bool)
    for a, b in zip(np.atleast_1d(starts), np.atleast_1d(ends), strict=True):
        a, b = int(a), int(b) + (1 if end_inclusive else 0)
        if a < 0 or b < a:
            raise ValueError(f"bad span [{a}, {b})")
        pos[a : min(b, n_frames)] = True
    return pos


def span_auroc(
    scores: Any, start: Any, end: Any, *, mask: Any = None, end_inclusive: bool = False
) -> float:
    """AUROC of per-frame ``scores`` [T] against the evidence span(s): frames inside are positives.

    ``start``/``end`` are frame indices (scalars or arrays for several spans); ``mask`` [T]
    (True = a real frame) restricts the frames scored.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    pos = span_positives(len(s), start, end, end_inclusive=end_inclusive)
    keep = np.ones(len(s), dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(-1)
    return auroc(s[keep], pos[keep])


def random_scores(n: int, rng: np.random.Generator) -> np.ndarray:
    """The random baseline's per-frame scores: i.i.d. U(0, 1) from a seeded generator."""
    return rng.random(int(n))


def means_with_ci(
    scores: pd.DataFrame,
    *,
    value: str = "auroc",
    by: str | Sequence[str] = "method",
    ci: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean of ``value`` (default: each method's AUROC) per group with its percentile-bootstrap
    interval (:func:`afkit.metrics.stats.mean_interval`): ``by..., mean, ci_low, ci_high, n``."""
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, g in scores.groupby(by, sort=False, observed=True):
        mean, lo, hi = stats.mean_interval(g[value], ci=ci, n_boot=n_boot, seed=seed)
        key = key if isinstance(key, tuple) else (key,)
        rows.append(
            {
                **dict(zip(by, key, strict=True)),
                "mean": mean,
                "ci_low": lo,
                "ci_high": hi,
                "n": int(np.isfinite(g[value].to_numpy(np.float64)).sum()),
            }
        )
    return pd.DataFrame(rows)


def _frame_scores(table: pd.DataFrame) -> tuple[dict, bool]:
    """{(video, label) or (video,): (frames [n], scores [n, 2] of visual, audio)}; bool:
    label-specific."""
    if "frame" not in table.columns:
        raise ValueError(
            "a frame table is needed (a 'frame' column): video-level models have no frames"
        )
    if "weight" in table.columns:  # attention: mean over heads
        keys, value = ["video", "frame"], "weight"
    elif "attribution" in table.columns:
        keys, value = ["video", "label", "frame"], "attribution"
    else:
        raise ValueError("a frame table has a 'weight' (attention) or 'attribution' column")
    wide = table.pivot_table(
        index=keys, columns="modality", values=value, aggfunc="mean", observed=False
    )
    wide = wide.reindex(columns=list(interpret.MODALITIES)).fillna(0.0)
    frames = wide.index.get_level_values("frame").to_numpy()
    values = wide.to_numpy(np.float64)
    group_keys = wide.index.droplevel("frame")
    out = {}
    codes, uniques = pd.factorize(group_keys)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    for j, key in enumerate(uniques):
        sel = order[bounds[j] : bounds[j + 1]]
        key = tuple(key) if isinstance(key, tuple) else (key,)
        if len(key) == 2:
            key = (key[0], int(key[1]))
        out[key] = (frames[sel], values[sel])
    return out, value == "attribution"


def _spans_by_pair(spans: pd.DataFrame) -> dict:
    if (
        "video" not in spans.columns and "id" in spans.columns
    ):  # afkit.data.synth.load_ground_truth's
        spans = spans.rename(columns={"id": "video"})
    need = {"video", "label", "start", "end", "modality"}
    missing = need - set(spans.columns)
    if missing:
        raise ValueError(
            f"spans need columns {sorted(need)} ('id' may stand for 'video'); missing "
            f"{sorted(missing)}"
        )
    keep = spans["modality"].astype(str) != "none"
    if "has_evidence" in spans.columns:
        keep &= spans["has_evidence"].astype(bool)
    spans = spans.loc[keep]
    out = {}
    present = spans["audio_present"] if "audio_present" in spans.columns else None
    for (video, label), g in spans.groupby(["video", "label"], sort=True):
        mods = {interpret.modality_name(m) if m != "both" else "both" for m in g["modality"]}
        out[(video, int(label))] = (
            g["start"].to_numpy(),
            g["end"].to_numpy(),
            mods.pop() if len(mods) == 1 else "both",
            tuple(present.loc[g.index].fillna("")) if present is not None else ("",) * len(g),
        )
    return out


def label_positives(n_frames: int, starts, ends, modality: str, present=()) -> np.ndarray:
    """Boolean [n_frames]: the frames that carry one label's evidence. A visual (or ``both``)
    label: every frame of its span(s). An audio label: the frames of its span that carry sound
    (``present``: per span, one ``"0"``/``"1"`` character a frame of it, the ground truth's
    ``audio_present``; empty = every frame of the span, as in a set written before that column)."""
    pos = span_positives(n_frames, starts, ends)
    if modality != "audio" or not any(present):
        return pos
    out = np.zeros(int(n_frames), dtype=bool)
    for a, b, bits in zip(np.atleast_1d(starts), np.atleast_1d(ends), present, strict=True):
        on = np.frombuffer(bits.encode(), dtype=np.uint8) == ord("1") if bits else None
        frames = np.arange(int(a), int(b))
        frames = frames if on is None else frames[on[: len(frames)]]
        out[frames[frames < n_frames]] = True
    return out


def truth_by_video(spans: pd.DataFrame) -> dict:
    """``{video: [(starts, ends, modality, audio_present), ...]}``: each video's labels with
    evidence (:func:`_spans_by_pair`'s rows, grouped by video once)."""
    out: dict = {}
    for (video, _), row in _spans_by_pair(spans).items():
        out.setdefault(video, []).append(row)
    return out


def video_truth(labels: Sequence[tuple], n_frames: int) -> dict[str, np.ndarray]:
    """The frames of one video that carry any of its labels' evidence, per modality:
    ``{"visual": bool [n_frames], "audio": bool [n_frames]}`` from its rows of
    :func:`truth_by_video`. Visual: the union of the spans of its labels with visual (or both)
    evidence; audio: the union, over its labels with audio (or both) evidence, of their span's
    frames that carry sound. What a label-agnostic attention (one softmax serving all of a
    video's labels) is scored against."""
    out = {m: np.zeros(int(n_frames), dtype=bool) for m in interpret.MODALITIES}
    for starts, ends, mod, present in labels:
        if mod in ("visual", "both"):
            out["visual"] |= span_positives(n_frames, starts, ends)
        if mod in ("audio", "both"):
            out["audio"] |= label_positives(n_frames, starts, ends, "audio", present)
    return out


def attention_auroc(
    attention: pd.DataFrame, spans: pd.DataFrame, *, random_seed: int | None = 0
) -> pd.DataFrame:
    """Per video and modality: AUROC of a label-agnostic attention's per-frame weights (mean over
    heads) against the frames that carry any of the video's evidence in that modality
    (:func:`video_truth`), over the video's real frames.

    Beside it two baselines on the same frames: ``uniform`` (every frame the same weight, as an
    attention that selects nothing: AUROC 0.5 through ties) and ``random`` (seeded U(0, 1)
    scores; omitted if ``random_seed`` is None). A (video, modality) with no positive or no
    negative frame has no AUROC and is left out.

    Returns columns ``method, video, modality, n_frames, n_positive, auroc``.
    """
    groups, per_label = _frame_scores(attention)
    if per_label:
        raise ValueError("attention_auroc scores attention weights (a table with 'weight')")
    truth = truth_by_video(spans)
    rng = np.random.default_rng(random_seed) if random_seed is not None else None
    rows = []
    for (video,), (frames, values) in groups.items():
        if video not in truth:
            continue
        pos_all = video_truth(truth[video], int(frames.max()) + 1)
        for j, mod in enumerate(interpret.MODALITIES):
            pos = pos_all[mod][frames]
            if pos.all() or not pos.any():
                continue
            scored = [("attention", values[:, j]), ("uniform", np.ones(len(frames)))]
            if rng is not None:
                scored.append(("random", random_scores(len(frames), rng)))
            for method, sc in scored:
                rows.append(
                    {
                        "method": method,
                        "video": video,
                        "modality": mod,
                        "n_frames": len(frames),
                        "n_positive": int(pos.sum()),
                        "auroc": auroc(sc, pos),
                    }
                )
    return pd.DataFrame(
        rows, columns=["method", "video", "modality", "n_frames", "n_positive", "auroc"]
    )


def video_means_with_ci(
    scores: pd.DataFrame, *, by: Sequence[str], n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """:func:`means_with_ci` of the AUROCs resampling *videos*: each video's rows (its labels,
    or modalities) are averaged first, so a video with many labels counts once and the interval
    reflects the videos drawn. Columns ``by..., mean, ci_low, ci_high, n`` (n = videos)."""
    per_video = scores.groupby([*by, "video"], sort=False, observed=True)["auroc"].mean()
    return means_with_ci(per_video.reset_index(), by=list(by), n_boot=n_boot, seed=seed)


def _positives(frames, starts, ends, mod, present, end_inclusive) -> np.ndarray:
    n = int(frames.max()) + 1
    if end_inclusive:
        return span_positives(n, starts, ends, end_inclusive=True)[frames]
    return label_positives(n, starts, ends, mod, present)[frames]


def evidence_auroc(
    tables: Mapping[str, pd.DataFrame],
    spans: pd.DataFrame,
    *,
    random_seed: int | None = 0,
    end_inclusive: bool = False,
    modality: str = "matched",
) -> pd.DataFrame:
    """Per method, video and label: AUROC of the per-frame scores against the evidence span.

    Frames inside the label's span(s) are the positives (of an audio-only label: those of its
    span that carry sound, :func:`label_positives`), the video's other real frames the
    negatives. The score of frame t is, per method: the attention weight (mean over heads), or the
    signed attribution for that label; of the evidence's modality (``modality="matched"``; a
    ``both`` span sums the two) or of both modalities summed (``modality="sum"``).
    The ``random`` method (seeded U(0, 1) scores) and the ``uniform`` one (the same score on
    every frame: AUROC 0.5 through ties) are the baselines (both omitted if ``random_seed`` is
    None).

    Args:
        tables: ``{method name: frame table}`` from
        :func:`afkit.interpret.attribution.attention_table` (frame-level)
            or :func:`afkit.interpret.attribution.attribution_table` (frame-level).
        spans: one row per evidence span: ``video, label, start, end, modality`` (``end``
            exclusive unless ``end_inclusive``), e.g. the spans of
            :func:`afkit.data.synth.load_ground_truth` (its ``id`` column names the video, so build
            the tables with ``ids=store.ids``; rows without evidence are skipped). Frame t of a
            table must be frame t of the video: load frames with ``frame_sampling="first"``.

    Returns columns ``method, video, label, modality, n_frames, n_positive, auroc``.
    """
    if modality not in ("matched", "sum"):
        raise ValueError(f"modality must be 'matched' or 'sum', got {modality!r}")
    truth = _spans_by_pair(spans)
    rows = []
    frames_of: dict = {}
    for method, table in tables.items():
        groups, per_label = _frame_scores(table)
        for (video, label), (starts, ends, mod, present) in truth.items():
            hit = groups.get((video, label) if per_label else (video,))
            if hit is None:
                continue
            frames, values = hit
            frames_of.setdefault((video, label), frames)
            use = (
                [0, 1]
                if (mod == "both" or modality == "sum")
                else [interpret.MODALITIES.index(mod)]
            )
            s = values[:, use].sum(axis=1)
            pos = _positives(frames, starts, ends, mod, present, end_inclusive)
            rows.append(
                {
                    "method": method,
                    "video": video,
                    "label": label,
                    "modality": mod,
                    "n_frames": len(frames),
                    "n_positive": int(pos.sum()),
                    "auroc": auroc(s, pos),
                }
            )
    if random_seed is not None:
        rng = np.random.default_rng(random_seed)
        for (video, label), frames in frames_of.items():
            starts, ends, mod, present = truth[(video, label)]
            pos = _positives(frames, starts, ends, mod, present, end_inclusive)
            rows.append(
                {
                    "method": "random",
                    "video": video,
                    "label": label,
                    "modality": mod,
                    "n_frames": len(frames),
                    "n_positive": int(pos.sum()),
                    "auroc": auroc(random_scores(len(frames), rng), pos),
                }
            )
            flat = auroc(np.ones(len(frames)), pos)
            rows.append({**rows[-1], "method": "uniform", "auroc": flat})
    return pd.DataFrame(
        rows, columns=["method", "video", "label", "modality", "n_frames", "n_positive", "auroc"]
    )


def balanced_accuracy(predicted: Any, truth: Any) -> float:
    """:math:`\\frac{1}{K}\\sum_k P(\\hat y = k \\mid y = k)`: the mean over the true groups of
    the share of each predicted right (as ``sklearn.metrics.balanced_accuracy_score``). A rule
    that names one group for everything scores ``1/K`` however large that group is, which is
    what the plain accuracy (the base rate, then) hides. NaN without any row."""
    p, t = np.asarray(predicted, dtype=object), np.asarray(truth, dtype=object)
    groups = [g for g in dict.fromkeys(t.tolist())]
    if not groups:
        return float("nan")
    return float(np.mean([(p[t == g] == g).mean() for g in groups]))


def modality_agreement_arrays(
    visual_share: Any, truth: Any, *, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Agreement of per-class visual shares with each class's true evidence modality.

    For classes whose truth is ``visual`` or ``audio``, the predicted modality is
    :math:`\\arg\\max(s_v, 1 - s_v)` (visual if :math:`s_v > 1/2`); ``accuracy`` is the fraction
    predicted right. Per truth group (and ``single`` = visual and audio pooled) also the mean
    visual share. ``both`` classes have no accuracy (NaN): their share should sit near 1/2.

    On the ``single`` row: ``balanced_accuracy`` (:func:`balanced_accuracy`: chance, and any
    rule that names one modality for all, scores 0.5) with a percentile-bootstrap interval
    over classes, resampled within each true modality (``ba_low``, ``ba_high``; ``n_boot``
    resamples from ``seed``), ``base_rate``
    (the share of the more frequent modality: what plain accuracy a constant rule gets) and
    ``separation_auroc``: the AUROC of the visual share for telling visual-only from audio-only
    classes (1 = every visual class has a larger visual share than every audio class), free of
    the 1/2 threshold, which a model's or a method's bias towards the wider modality (1024
    visual vs 128 audio dimensions) moves, with its interval (``sep_low``, ``sep_high``, the same
    resamples).

    Returns columns ``truth, n_classes, mean_visual_share, accuracy, balanced_accuracy, ba_low,
    ba_high, base_rate, separation_auroc, sep_low, sep_high``.
    """
    s = np.asarray(visual_share, dtype=np.float64).reshape(-1)
    t = np.asarray(
        [
            str(x) if str(x) == "both" else interpret.modality_name(x)
            for x in np.asarray(truth).reshape(-1)
        ],
        dtype=object,
    )
    if s.shape != t.shape:
        raise ValueError(f"visual_share and truth differ in length: {s.shape[0]} vs {t.shape[0]}")
    pred = np.where(s > 0.5, "visual", "audio")
    rows = []
    for group, sel in (
        ("visual", t == "visual"),
        ("audio", t == "audio"),
        ("both", t == "both"),
        ("single", (t == "visual") | (t == "audio")),
    ):
        n = int(sel.sum())
        acc = float((pred[sel] == t[sel]).mean()) if n and group != "both" else float("nan")
        row = {
            "truth": group,
            "n_classes": n,
            "mean_visual_share": float(s[sel].mean()) if n else float("nan"),
            "accuracy": acc,
            "balanced_accuracy": float("nan"),
            "ba_low": float("nan"),
            "ba_high": float("nan"),
            "base_rate": float("nan"),
            "separation_auroc": float("nan"),
            "sep_low": float("nan"),
            "sep_high": float("nan"),
        }
        if group == "single" and n:
            p, tt = pred[sel], t[sel]
            row["balanced_accuracy"] = balanced_accuracy(p, tt)
            row["base_rate"] = float(max((tt == "visual").mean(), (tt == "audio").mean()))
            # resampled within each true modality (stratified), so every replicate has both
            rng = np.random.default_rng(seed)
            idx = [np.flatnonzero(tt == g) for g in ("visual", "audio") if (tt == g).any()]
            draws = [np.concatenate([rng.choice(ix, len(ix)) for ix in idx]) for _ in range(n_boot)]
            reps = [balanced_accuracy(p[j], tt[j]) for j in draws]
            row["ba_low"], row["ba_high"] = stats.percentile_interval(reps)
            if len(idx) == 2:
                sv = s[sel]
                row["separation_auroc"] = auroc(sv, tt == "visual")
                reps = [auroc(sv[j], tt[j] == "visual") for j in draws]
                row["sep_low"], row["sep_high"] = stats.percentile_interval(reps)
        rows.append(row)
    return pd.DataFrame(rows)


def modality_agreement(
    class_shares: pd.DataFrame,
    classes: pd.DataFrame,
    *,
    label_column: str | None = None,
    modality_column: str = "modality",
) -> pd.DataFrame:
    """:func:`modality_agreement_arrays` on tables: ``modality_shares(by="class")`` joined with the
    ground truth's class table (one row per class: ``label_column`` -- default the first of
    ``label``, ``index``, ``Index`` -- and ``modality_column``), e.g. the ``classes`` of
    :func:`afkit.data.synth.load_ground_truth`."""
    if label_column is None:
        label_column = interpret.first_column(classes, ("label", "index", "Index"), "classes")
    for col in (label_column, modality_column):
        if col not in classes.columns:
            raise ValueError(f"classes has no column {col!r} (columns: {list(classes.columns)})")
    joined = class_shares.merge(
        classes[[label_column, modality_column]].rename(
            columns={label_column: "label", modality_column: "truth"}
        ),
        on="label",
        how="inner",
    )
    if joined.empty:
        raise ValueError("no class of class_shares is in the ground truth's class table")
    return modality_agreement_arrays(joined["visual_share"], joined["truth"])


def topk_frames(scores: Any, mask: Any, k: int) -> np.ndarray:
    """Boolean [B, T]: each video's ``k`` highest-scored real frames (ties: the earlier frame).

    At most ``n_real - 1`` frames are chosen so that every video keeps a frame.
    """
    s = np.asarray(scores, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if s.shape != m.shape or s.ndim != 2:
        raise ValueError(f"scores and mask must both be [B, T]; got {s.shape} and {m.shape}")
    order = np.argsort(np.where(m, -s, np.inf), axis=1, kind="stable")
    kk = np.minimum(int(k), m.sum(axis=1) - 1).clip(min=0)
    out = np.zeros_like(m)
    rank = np.argsort(order, axis=1)
    out[rank < kk[:, None]] = True
    return out & m


def random_frames(mask: Any, k: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean [B, T]: ``k`` real frames per video drawn uniformly without replacement (at most
    ``n_real - 1``), from a seeded generator."""
    m = np.asarray(mask, dtype=bool)
    return topk_frames(rng.random(m.shape), m, k)


def faithfulness(
    drop_top: Any, drop_random: Any, *, ci: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> dict:
    """Paired deletion test: does removing the top-scored frames lower the score more than random?

    Per video i: :math:`d_i = \\Delta^{top}_i - \\Delta^{rand}_i` with :math:`\\Delta = f(x) - f(x
    \\setminus \\text{frames})`. Returns ``mean_drop_top``, ``mean_drop_random``,
    ``mean_difference`` with its bootstrap ``ci_low``/``ci_high``, ``frac_top_greater``
    (:math:`P(d_i > 0)`), ``n``. A faithful score has ``mean_difference > 0``.
    """
    a = np.asarray(drop_top, dtype=np.float64).reshape(-1)
    b = np.asarray(drop_random, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"drop_top and drop_random differ in length: {a.shape[0]} vs {b.shape[0]}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    mean, lo, hi = stats.mean_interval(a - b, ci=ci, n_boot=n_boot, seed=seed)
    return {
        "mean_drop_top": float(a.mean()) if len(a) else float("nan"),
        "mean_drop_random": float(b.mean()) if len(b) else float("nan"),
        "mean_difference": mean,
        "ci_low": lo,
        "ci_high": hi,
        "frac_top_greater": float((a > b).mean()) if len(a) else float("nan"),
        "n": int(len(a)),
    }


@dataclass(frozen=True)
class Deletion:
    """The deletion test's settings: ``k`` frames deleted (the top-scored ones, or ``k`` random
    real frames, mean over ``n_random`` draws from ``seed``), the target's ``score`` that drops
    (``"logit"``, the default: no sigmoid saturation, or ``"probability"``) and the bootstrap
    resamples of the confidence interval (``n_boot``)."""

    k: int = 5
    n_random: int = 3
    seed: int = 0
    score: str = "logit"
    n_boot: int = 2000

    def __post_init__(self):
        if self.score not in ("logit", "probability"):
            raise ValueError(f"score must be 'logit' or 'probability', got {self.score!r}")


def deletion_drops(
    model: torch.nn.Module,
    batch: Mapping,
    scores: Any,
    target: Any,
    test: Deletion,
    *,
    device=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop of each video's target score when its top-``test.k`` scored frames, or ``test.k``
    random real frames (mean over ``test.n_random`` draws), are masked out: (drop_top [B],
    drop_random [B]). Videos with a single real frame get NaN.
    """
    k, score = test.k, test.score
    device = interpret.model_device(model, device)
    kind, (rgb, audio), mask = interpret.batch_inputs(model, batch, device)
    if kind != "frame":
        raise ValueError("deletion of frames needs a frame-level model")
    B = rgb.shape[0]
    tgt = torch.as_tensor(
        np.broadcast_to(np.asarray(target, dtype=np.int64), (B,)).copy(), device=device
    )
    m = mask.cpu().numpy()

    def value(keep: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = interpret.logits_of(model(rgb, audio, torch.as_tensor(keep, device=device)))
        out = torch.sigmoid(out) if score == "probability" else out
        return out.gather(1, tgt[:, None])[:, 0].double().cpu().numpy()

    was_training = model.training
    model.eval()
    try:
        base = value(m)
        top = base - value(m & ~topk_frames(scores, m, k))
        rng = np.random.default_rng(test.seed)
        rand = np.mean(
            [base - value(m & ~random_frames(m, k, rng)) for _ in range(test.n_random)], axis=0
        )
    finally:
        model.train(was_training)
    single = m.sum(axis=1) <= 1
    top[single], rand[single] = np.nan, np.nan
    return top, rand


def deletion_test(
    model: torch.nn.Module,
    data: Any,
    tables: Mapping[str, pd.DataFrame],
    test: Deletion | None = None,
    *,
    stream: interpret.Stream | None = None,
) -> pd.DataFrame:
    """Faithfulness of each method's frame scores: :func:`faithfulness` per method.

    For every (video, true label) of ``data`` (the same loader, in the same order, as the tables
    were made from, streamed as ``stream`` says: :class:`afkit.interpret.attribution.Stream`) and
    each method, the frames are ranked by the method's score summed over modalities (attention:
    mean over heads; attributions: that label's), the top ``test.k`` are masked out and the
    label's score drop compared with masking ``test.k`` random real frames (:class:`Deletion`;
    batch ``i`` draws its random frames from seed ``test.seed + i``).

    Returns one row per method: ``method, mean_drop_top, mean_drop_random, mean_difference,
    ci_low, ci_high, frac_top_greater, n``.
    """
    test, stream = test or Deletion(), stream or interpret.Stream()
    device = interpret.model_device(model, stream.device)
    max_batches, ids = stream.max_batches, stream.ids
    matrices = {method: _frame_scores(table) for method, table in tables.items()}
    drops: dict[str, tuple[list, list]] = {m: ([], []) for m in tables}
    offset = 0
    for i, batch in enumerate(
        tqdm(
            interpret.iter_batches(data),
            desc="deletion",
            disable=not stream.progress,
            total=max_batches,
            leave=False,
        )
    ):
        if max_batches is not None and i >= max_batches:
            break
        expanded, rows, classes = interpret.explained_rows(model, batch, "labels", device)
        B = int(torch.as_tensor(batch["audio"]).shape[0])
        names = interpret.video_names(batch, B, offset, ids)
        offset += B
        if len(rows) == 0:
            continue
        T = expanded["mask"].shape[1]
        for method, (groups, per_label) in matrices.items():
            sc = np.zeros((len(rows), T))
            found = np.zeros(len(rows), dtype=bool)
            for p, (r, c) in enumerate(zip(rows, classes, strict=True)):
                hit = groups.get((names[r], int(c)) if per_label else (names[r],))
                if hit is None:
                    continue
                fr, values = hit
                inside = fr < T
                sc[p, fr[inside]] = values[inside].sum(axis=1)
                found[p] = True
            if not found.any():
                continue
            sel = torch.as_tensor(np.flatnonzero(found), device=device)
            sub = {k_: v.index_select(0, sel) for k_, v in expanded.items()}
            top, rand = deletion_drops(
                model,
                sub,
                sc[found],
                classes[found],
                dataclasses.replace(test, seed=test.seed + i),
                device=device,
            )
            drops[method][0].append(top)
            drops[method][1].append(rand)
    out = []
    for method, (top, rand) in drops.items():
        if not top:
            raise ValueError(
                f"method {method!r}: no (video, label) of data is in its table (check ids)"
            )
        out.append(
            {
                "method": method,
                **faithfulness(
                    np.concatenate(top), np.concatenate(rand), n_boot=test.n_boot, seed=test.seed
                ),
            }
        )
    return pd.DataFrame(out)


# ------------------------------------------------ 2. notebook 08: one call per question it asks


def explanation_tables(
    model: torch.nn.Module,
    data: Any,
    config: interpret.InterpretConfig,
    *,
    ids: Sequence | None = None,
    methods: Sequence[str] = ("attention", "integrated_gradients", "input_x_gradient"),
) -> dict[str, pd.DataFrame]:
    """What does the model say about ``data``? ``{method: table}`` at a profile's sizes:
    ``attention`` an :func:`afkit.interpret.attribution.attention_table`, any other method an
    :func:`afkit.interpret.attribution.attribution_table` of each true label (Integrated Gradients
    at ``config.n_steps`` and ``config.internal_batch_size``)."""
    return {
        method: interpret.attention_table(model, data, ids=ids)
        if method == "attention"
        else interpret.attribution_table(
            model,
            data,
            interpret.Method(
                method, n_steps=config.n_steps, internal_batch_size=config.internal_batch_size
            ),
            stream=interpret.Stream(ids=ids),
        )
        for method in methods
    }


@dataclass(frozen=True)
class Truth:
    """The ground truth notebook 08 scores against: the synthetic set's ``classes`` and ``spans``
    of one split (:func:`afkit.data.synth.load_ground_truth`), both None on real data; ``note`` says
    which."""

    classes: pd.DataFrame | None
    spans: pd.DataFrame | None
    note: str


def ground_truth(data_dir, split: str = "validate") -> Truth:
    """The :class:`Truth` of ``split`` in ``data_dir``; a real release (no ``ground_truth/``
    folder, afkit's synthetic mark) has none."""
    if not (Path(data_dir) / "ground_truth").is_dir():
        return Truth(
            None, None, "real data: no evidence spans to score against; the figures below only draw"
        )
    classes, spans = synth.load_ground_truth(data_dir, split)
    return Truth(
        classes,
        spans,
        f"synthetic data: {int(spans['has_evidence'].sum())} evidence spans of "
        f"{len(classes)} classes in {split} to score against",
    )


SPAN_TARGETS = {
    "attention": "the union of the video's spans",  # label-agnostic: one softmax, every label
    "attribution": "the label's span",  # per (video, label)
}


def span_scores(
    tables: Mapping[str, pd.DataFrame], truth: Truth, *, n_boot: int, seed: int
) -> pd.DataFrame:
    """Does a method find the evidence? Mean AUROC of its per-frame scores against the truth,
    with an interval from a bootstrap over videos (:func:`video_means_with_ci`), beside the
    ``uniform`` and ``random`` baselines on the same frames.

    Attention tables (label-agnostic weights) are scored per video and modality against the
    frames carrying any of the video's evidence (:func:`attention_auroc`); attribution tables
    (per label) against the label's span (:func:`evidence_auroc`). Columns ``target`` (what is
    scored against, :data:`SPAN_TARGETS`), ``method, mean, ci_low, ci_high, n`` (videos); no
    rows on real data."""
    columns = ["target", "method", "mean", "ci_low", "ci_high", "n"]
    if truth.spans is None:
        return pd.DataFrame(columns=columns)
    parts = []
    attention = {m: t for m, t in tables.items() if "weight" in t.columns}
    attributions = {m: t for m, t in tables.items() if "weight" not in t.columns}
    for method, table in attention.items():
        a = attention_auroc(table, truth.spans, random_seed=seed)
        a["method"] = a["method"].replace({"attention": method})
        parts.append(a.assign(target=SPAN_TARGETS["attention"]))
    if attributions:
        e = evidence_auroc(attributions, truth.spans, random_seed=seed)
        parts.append(e.assign(target=SPAN_TARGETS["attribution"]))
    if not parts:
        return pd.DataFrame(columns=columns)
    scores = pd.concat(parts, ignore_index=True)
    return video_means_with_ci(scores, by=["target", "method"], n_boot=n_boot, seed=seed)[columns]


def per_video_attention(tables: Mapping[str, pd.DataFrame], truth: Truth) -> pd.Series:
    """Each explained video's attention AUROC against its evidence (the mean over its
    modalities of :func:`attention_auroc`), sorted: what :func:`timeline_panels` picks videos
    by. Empty without truth or attention."""
    attn = next((t for t in tables.values() if "weight" in t.columns), None)
    if truth.spans is None or attn is None:
        return pd.Series(dtype=float)
    a = attention_auroc(attn, truth.spans, random_seed=None)
    a = a[a["method"] == "attention"]
    return a.groupby("video")["auroc"].mean().sort_values()


def _intervals(on: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True of a boolean array as ``(start, end)`` (end exclusive)."""
    d = np.diff(np.r_[0, on.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def timeline_panels(
    tables: Mapping[str, pd.DataFrame],
    truth: Truth,
    frames_check: dict,
    source: str,
    quantiles: Sequence[float] = (0.25, 0.5, 0.75),
) -> dict:
    """Where does the attention look, in a few videos picked by a stated rule (not by eye): the
    videos at the ``quantiles`` of the per-video attention AUROC (:func:`per_video_attention`;
    nearest rank), so the panels show a typical video and the spread around it. The arguments
    of :func:`afkit.viz.plots.plot_attention_timelines`: ``panels`` (per video: ``scores``, the
    attention of each modality over its frames, mean over heads; ``spans``, the frames carrying
    visual evidence; ``audio_frames``, those carrying audio evidence; ``title``) and
    ``source`` (which says when the model failed :func:`frames_check`)."""
    attn = next((t for t in tables.values() if "weight" in t.columns), None)
    if attn is None:
        raise ValueError("timeline_panels needs an attention table (a 'weight' column)")
    ranked = per_video_attention(tables, truth)
    if len(ranked):
        picks = [
            (ranked.index[min(int(round(q * (len(ranked) - 1))), len(ranked) - 1)], q)
            for q in quantiles
        ]
    else:  # no truth: the first videos, in table order
        picks = [(v, None) for v in list(dict.fromkeys(attn["video"]))[: len(quantiles)]]
    by_video = truth_by_video(truth.spans) if truth.spans is not None else {}
    panels = []
    for video, q in picks:
        w = attn[attn["video"] == video].groupby(["modality", "frame"])["weight"].mean()
        n = int(w.index.get_level_values("frame").max()) + 1
        scores = {
            f"attention ({m})": w.loc[m].reindex(range(n), fill_value=0.0).to_numpy()
            for m in interpret.MODALITIES
            if m in w.index.get_level_values(0)
        }
        on = video_truth(by_video.get(video, []), n)
        title = f"Video {video}"
        if q is not None:
            title += f": attention AUROC {ranked[video]:.2f} (the {100 * q:.0f}th percentile)"
        panels.append(
            {
                "scores": scores,
                "spans": _intervals(on["visual"]),
                "audio_frames": np.flatnonzero(on["audio"]).tolist(),
                "title": title,
            }
        )
    return {"panels": panels, "source": checked_source(source, frames_check)}


def checked_source(source: str, check: dict | None) -> str:
    """A figure's data source with whether the explained model passed :func:`frames_check`
    (every figure of the frame-level model says so)."""
    if check is None:
        return source
    return source + (
        "; the explained model passed its check (learned, converged, near the video-level model)"
        if check["passes"]
        else "; the explained model did NOT pass its check (learned, converged, near the "
        "video-level model): not a finding"
    )


def deletion_curve(
    model: torch.nn.Module,
    data: Any,
    tables: Mapping[str, pd.DataFrame],
    ks: Sequence[int],
    test: Deletion | None = None,
    *,
    stream: interpret.Stream | None = None,
) -> pd.DataFrame:
    """:func:`deletion_test` at each number of deleted frames ``k`` of ``ks``: the top-scored
    ``k`` frames against ``k`` random ones. Columns ``k`` and :func:`deletion_test`'s."""
    test = test or Deletion()
    return pd.concat(
        [
            deletion_test(
                model, data, tables, dataclasses.replace(test, k=int(k)), stream=stream
            ).assign(k=int(k))
            for k in ks
        ],
        ignore_index=True,
    )[["k", "method", *FAITHFULNESS]]


FAITHFULNESS = (
    "mean_drop_top",
    "mean_drop_random",
    "mean_difference",
    "ci_low",
    "ci_high",
    "frac_top_greater",
    "n",
)


def modality_check(
    attributions: pd.DataFrame, truth: Truth, source: str, max_classes: int = 30
) -> tuple[pd.DataFrame, dict]:
    """Does the audio/visual share of attribution per class agree with the class's true modality?

    Returns ``(agreement, figure)``: :func:`modality_agreement` of the
    :func:`afkit.interpret.attribution.modality_shares` per class (no rows on real data), and the
    arguments of :func:`afkit.viz.plots.plot_modality_share`: per class (the ``max_classes`` most
    explained) ``class`` (name), ``audio_share`` and, with the truth, ``true_audio_share`` (audio 1,
    visual 0, both 0.5)."""
    shares = interpret.modality_shares(attributions, by="class")
    df = shares.sort_values("n", ascending=False).head(max_classes).copy()
    df["class"] = [f"class {int(c)}" for c in df["label"]]
    if truth.classes is None:
        agreement = modality_agreement_arrays([], [])
    else:
        agreement = modality_agreement(shares, truth.classes)
        true_modality = truth.classes.set_index("index")["modality"]
        df["true_audio_share"] = (
            df["label"].map(true_modality).map({"audio": 1.0, "visual": 0.0, "both": 0.5})
        )
    figure = {
        "df": df.sort_values("label").reset_index(drop=True),
        "source": source,
        "truth": None if truth.classes is None else "true_audio_share",
    }
    return agreement, figure


def _evidence_sentence(target: str, g: pd.DataFrame) -> str:
    """One target's span AUROCs with the verdict of each method against both baselines."""
    g = g.set_index("method")
    base = g.loc[[m for m in ("uniform", "random") if m in g.index]]
    out = []
    for m, r in g.drop(index=base.index).iterrows():
        reading = (
            "above both baselines beyond the intervals"
            if len(base) and r["ci_low"] > base["ci_high"].max()
            else "below both baselines: it points away from the evidence"
            if len(base) and r["ci_high"] < base["ci_low"].min()
            else "not distinguishable from the baselines"
        )
        out.append(
            f"{m.replace('_', ' ')} {r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}], "
            f"{reading}"
        )
    baselines = "; ".join(
        f"{m} {r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" for m, r in base.iterrows()
    )
    return f"Against {target} (baselines: {baselines}): " + "; ".join(out) + "."


def _modality_sentence(what: str, agreement: pd.DataFrame) -> str:
    """Balanced accuracy of the larger share naming the true modality, against chance; the
    threshold-free separation of the shares; the base rate beside them (never as the finding)."""
    g = agreement.set_index("truth")
    r = g.loc["single"]
    majority = "visual" if _majority_visual(agreement) else "audio"
    named = (
        "names the true modality better than chance beyond the interval"
        if r["ba_low"] > 0.5
        else "names it worse than chance beyond the interval"
        if r["ba_high"] < 0.5
        else "is not distinguishable from chance"
    )
    separates = (
        "separates visual-only from audio-only classes beyond chance"
        if r["sep_low"] > 0.5
        else "orders them the wrong way round beyond chance"
        if r["sep_high"] < 0.5
        else "does not separate visual-only from audio-only classes beyond chance"
    )
    text = (
        f"**Modality, {what}.** On {int(r['n_classes'])} single-modality classes, the larger "
        f"attribution share {named}: balanced accuracy {r['balanced_accuracy']:.2f} "
        f"[{r['ba_low']:.2f}, {r['ba_high']:.2f}] (chance, and any rule naming one modality for "
        f"every class: 0.50). The visual share itself {separates}: AUROC "
        f"{r['separation_auroc']:.2f} [{r['sep_low']:.2f}, {r['sep_high']:.2f}] (chance 0.5)."
    )
    if r["sep_low"] > 0.5 and not r["ba_low"] > 0.5:
        text += (
            " So the order is right and the 1/2 threshold is what fails: the mean visual share is "
            f"{g.loc['visual', 'mean_visual_share']:.2f} on visual-only classes and "
            f"{g.loc['audio', 'mean_visual_share']:.2f} on audio-only ones, leaning to one "
            "modality for every class."
        )
    return text + (
        f" For scale, not as a finding: {100 * r['base_rate']:.0f}% of these classes are "
        f"{majority}, the plain accuracy of always saying {majority}."
    )


def _majority_visual(agreement: pd.DataFrame) -> bool:
    g = agreement.set_index("truth")["n_classes"]
    return bool(g.get("visual", 0) >= g.get("audio", 0))


def interpretability_answer(  # noqa: PLR0913  (the tables of notebook 08, keyword extras)
    score_table: pd.DataFrame | None,
    deletion: pd.DataFrame,
    entropy: pd.DataFrame,
    agreement: pd.DataFrame | None = None,
    source: str = "synthetic",
    *,
    video_agreement: pd.DataFrame | None = None,
    frames_check: dict | None = None,
    control: dict | None = None,
    readings: str | None = None,
) -> str:
    """Notebook 08's answer in prose, computed from its tables: ``frames_check``
    (:func:`frames_check`: did the frame-level model learn enough to be explained), ``control``
    (the paired test of attention pooling against mean pooling,
    :func:`afkit.studies.experiments.paired_tests`), ``readings`` (the video-level attention
    weights' answer, :func:`afkit.interpret.readings.readings_answer`), the span
    AUROCs of :func:`span_scores` per target against their baselines, the modality agreement
    (:func:`modality_agreement_arrays`: balanced accuracy against chance, the base rate beside
    it), the deletion curve (:func:`deletion_curve`, or one :func:`deletion_test`) and the
    attention's entropy per modality."""
    parts = []
    if frames_check is not None:
        parts.append(frames_check["text"])
    if control is not None:
        lo, hi = 100 * control["gap_lo"], 100 * control["gap_hi"]
        parts.append(
            f"**Does attention pooling help?** Test GAP of {control['a']} minus "
            f"{control['b']}: {100 * control['gap_diff']:+.2f} points [{lo:+.2f}, {hi:+.2f}] "
            f"(paired bootstrap over {control['n_videos']} test videos, one seed each): "
            f"{verdict(lo, hi, control['a'], control['b'])}."
        )
    if score_table is not None and len(score_table):
        parts.append(
            "**Finding the evidence** (mean AUROC of per-frame scores, bootstrap over videos). "
            + " ".join(
                _evidence_sentence(t, g)
                for t, g in score_table.groupby("target", sort=False, observed=True)
            )
        )
    else:
        parts.append("**Finding the evidence.** Not scored: this data set has no evidence spans.")
    if agreement is not None and len(agreement) and agreement["n_classes"].sum():
        parts.append(_modality_sentence("frame-level model (Integrated Gradients)", agreement))
    if video_agreement is not None and len(video_agreement) and video_agreement["n_classes"].sum():
        parts.append(
            _modality_sentence("video-level Attend-Fusion (Integrated Gradients)", video_agreement)
        )
    d = deletion if "k" in deletion.columns else deletion.assign(k=0)
    k = sorted(d["k"].unique())[len(d["k"].unique()) // 2]
    faithful = []
    for m, r in d[d["k"] == k].set_index("method").iterrows():
        reading = (
            "faithful"
            if r["ci_low"] > 0
            else "less than random"
            if r["ci_high"] < 0
            else "no clearer than random"
        )
        faithful.append(
            f"{m.replace('_', ' ')} {r['mean_drop_top']:.3f} vs random {r['mean_drop_random']:.3f}"
            f" (difference {r['mean_difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]:"
            f" {reading})"
        )
    what = f"its top {k} frames" if k else "the top-scored frames"
    parts.append(
        f"**Faithfulness.** Deleting {what} lowers the label's logit by "
        + "; ".join(faithful)
        + "."
    )
    if "normalized_entropy" in entropy.columns and len(entropy):
        per = entropy.groupby("modality")["normalized_entropy"].mean()
        parts.append(
            "**Attention spread.** Normalized entropy (1 = uniform over the real frames, 0 = one "
            "frame), mean over heads: " + ", ".join(f"{m} {v:.2f}" for m, v in per.items()) + "."
        )
    if readings:  # it ends with the data it is on
        parts.append(readings)
    else:
        parts.append(f"*All of it on {source} data.*")
    return "\n\n".join(parts)


def frames_check(
    frames_gap: float,
    video_gap: float,
    margin: float = 0.10,
    *,
    learned: bool | None = None,
    converged: bool | None = None,
) -> dict:
    """Is the frame-level model good enough to explain? It must pass the learned rule
    (``learned``: :func:`afkit.training.protocol.learned`), have converged (``converged``) and
    reach the video-level Attend-Fusion's test GAP on the same data less ``margin`` (10
    points). None = not checked. Returns ``passes`` and a sentence saying so, with the numbers."""
    within = bool(frames_gap >= video_gap - margin)
    passes = within and learned is not False and converged is not False
    failed = [
        why
        for why, bad in (
            ("not learned", learned is False),
            ("not converged", converged is False),
            (f"more than {100 * margin:g} GAP points below the video-level model", not within),
        )
        if bad
    ]
    text = (
        f"**The explained frame-level model** reaches test GAP {100 * frames_gap:.2f}% against the "
        f"video-level Attend-Fusion's {100 * video_gap:.2f}% on the same data (the bar: "
        f"{100 * (video_gap - margin):.2f}%"
        + ("" if learned is None else f"; learned rule: {'passed' if learned else 'failed'}")
        + ("" if converged is None else f"; {'converged' if converged else 'did not converge'}")
        + ")"
    )
    text += (
        ": it passes, so its attention and attributions are read below as findings."
        if passes
        else (
            f": it does **not** pass ({', '.join(failed)}), so the frame-level attention and "
            "attribution scores below are shown for the method, not as findings."
        )
    )
    return {
        "passes": passes,
        "frames_gap": float(frames_gap),
        "video_gap": float(video_gap),
        "learned": learned,
        "converged": converged,
        "text": text,
    }
