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
    for (video, label), g in spans.groupby(["video", "label"], sort=True):
        mods = {interpret.modality_name(m) if m != "both" else "both" for m in g["modality"]}
        out[(video, int(label))] = (
            g["start"].to_numpy(),
            g["end"].to_numpy(),
            mods.pop() if len(mods) == 1 else "both",
        )
    return out


def evidence_auroc(
    tables: Mapping[str, pd.DataFrame],
    spans: pd.DataFrame,
    *,
    random_seed: int | None = 0,
    end_inclusive: bool = False,
    modality: str = "matched",
) -> pd.DataFrame:
    """Per method, video and label: AUROC of the per-frame scores against the evidence span.

    Frames inside the label's span(s) are the positives, the video's other real frames the
    negatives. The score of frame t is, per method: the attention weight (mean over heads), or the
    signed attribution for that label; of the evidence's modality (``modality="matched"``; a
    ``both`` span sums the two) or of both modalities summed (``modality="sum"``).
    The ``random`` method (seeded U(0, 1) scores; omitted if ``random_seed`` is None) is the
    chance baseline (expected AUROC 0.5).

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
        for (video, label), (starts, ends, mod) in truth.items():
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
            pos = span_positives(int(frames.max()) + 1, starts, ends, end_inclusive=end_inclusive)[
                frames
            ]
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
            starts, ends, mod = truth[(video, label)]
            pos = span_positives(int(frames.max()) + 1, starts, ends, end_inclusive=end_inclusive)[
                frames
            ]
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
    return pd.DataFrame(
        rows, columns=["method", "video", "label", "modality", "n_frames", "n_positive", "auroc"]
    )


def modality_agreement_arrays(visual_share: Any, truth: Any) -> pd.DataFrame:
    """Agreement of per-class visual shares with each class's true evidence modality.

    For classes whose truth is ``visual`` or ``audio``, the predicted modality is
    :math:`\\arg\\max(s_v, 1 - s_v)` (visual if :math:`s_v > 1/2`); ``accuracy`` is the fraction
    predicted right. Per truth group (and ``single`` = visual and audio pooled) also the mean
    visual share. ``both`` classes have no accuracy (NaN): their share should sit near 1/2.

    ``separation_auroc`` (on the ``single`` row): the AUROC of the visual share for telling
    visual-only from audio-only classes (1 = every visual class has a larger visual share than
    every audio class), free of the 1/2 threshold, which a model's or a method's bias towards
    the wider modality (1024 visual vs 128 audio dimensions) moves.

    Returns columns ``truth, n_classes, mean_visual_share, accuracy, separation_auroc``.
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
        sep = float("nan")
        if group == "single" and (t == "visual").any() and (t == "audio").any():
            sep = auroc(s[sel], t[sel] == "visual")
        rows.append(
            {
                "truth": group,
                "n_classes": n,
                "mean_visual_share": float(s[sel].mean()) if n else float("nan"),
                "accuracy": acc,
                "separation_auroc": sep,
            }
        )
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


def span_scores(
    tables: Mapping[str, pd.DataFrame], truth: Truth, *, n_boot: int, seed: int
) -> pd.DataFrame:
    """Does a method find the evidence? Per method (and the random baseline), the mean
    :func:`evidence_auroc` of its frame scores with a bootstrap interval (:func:`means_with_ci`):
    ``method, mean, ci_low, ci_high, n``; no rows on real data."""
    if truth.spans is None:
        return pd.DataFrame(columns=["method", "mean", "ci_low", "ci_high", "n"])
    scores = evidence_auroc(tables, truth.spans, random_seed=seed)
    return means_with_ci(scores, n_boot=n_boot, seed=seed)


def _add_series(series: dict, name: str, per_frame: pd.Series) -> None:
    for mod in interpret.MODALITIES:
        if mod in per_frame.index.get_level_values(0):
            series[f"{name} ({mod})"] = per_frame.loc[mod].sort_index().to_numpy()


def timeline(
    tables: Mapping[str, pd.DataFrame],
    truth: Truth,
    frames_check: dict,
    source: str,
    video: int | str = 0,
) -> dict:
    """Where in one video do the methods look, against its true span? The arguments of
    :func:`afkit.viz.plots.plot_attention_timeline` for one explained (video, label).

    ``video``: a video id, or an int picking the n-th video (in table order) that has an
    evidence span. Returns ``scores`` (``{"<method> (<modality>)": [T]}``; attention: mean over
    heads; attributions: that label's), ``spans`` (the label's true ``(start, end)``, empty
    without truth), ``title`` (naming the video and label) and ``source`` (saying when the model
    failed the :func:`frames_check`)."""
    spans = truth.spans
    attn = next((t for t in tables.values() if "head" in t.columns), None)
    attr = {m: t for m, t in tables.items() if "label" in t.columns}
    vids = list(dict.fromkeys((attn if attn is not None else next(iter(tables.values())))["video"]))
    label, true_spans = None, []
    if isinstance(video, int):
        if spans is not None:
            ev = spans[spans["has_evidence"] & spans["id"].isin(vids)]
            row = ev.iloc[min(video, len(ev) - 1)]
            video, label = row["id"], int(row["label"])
        else:
            video = vids[min(video, len(vids) - 1)]
    if label is None and attr:
        first = next(iter(attr.values()))
        label = int(first.loc[first["video"] == video, "label"].iloc[0])
    if spans is not None and label is not None:
        s = spans[(spans["id"] == video) & (spans["label"] == label) & spans["has_evidence"]]
        true_spans = [(int(a), int(b)) for a, b in zip(s["start"], s["end"], strict=True)]
    series = {}
    if attn is not None:
        _add_series(
            series,
            "attention",
            attn[attn["video"] == video].groupby(["modality", "frame"])["weight"].mean(),
        )
    for method, t in attr.items():
        explained = t[(t["video"] == video) & (t["label"] == label)]
        _add_series(
            series,
            method.replace("_", " "),
            explained.groupby(["modality", "frame"])["attribution"].sum(),
        )
    caveat = (
        ""
        if frames_check["passes"]
        else "; the model did NOT pass the learned check: not a finding"
    )
    return {
        "scores": series,
        "spans": true_spans,
        "title": f"Video {video}, label {label}",
        "source": source + caveat,
    }


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
        agreement = pd.DataFrame(
            columns=["truth", "n_classes", "mean_visual_share", "accuracy", "separation_auroc"]
        )
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


def interpretability_answer(
    score_table: pd.DataFrame | None,
    deletion: pd.DataFrame,
    entropy: pd.DataFrame,
    agreement: pd.DataFrame | None = None,
    source: str = "synthetic",
    *,
    video_agreement: pd.DataFrame | None = None,
    frames_check: dict | None = None,
) -> str:
    """Notebook 08's answer in prose, computed from its tables. ``frames_check``
    (:func:`frames_check`) says whether the frame-level model learned enough to be explained."""
    parts = []
    if frames_check is not None:
        parts.append(frames_check["text"])
    if score_table is not None and len(score_table):
        s = score_table.set_index("method")
        best = s.drop(index="random", errors="ignore")["mean"].idxmax()
        parts.append(
            "**Finding the evidence.** Mean AUROC of per-frame scores against the true span: "
            + "; ".join(
                f"{m.replace('_', ' ')} {r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
                for m, r in s.iterrows()
            )
            + f". The best method is {best.replace('_', ' ')}"
            + (
                " and it beats the random baseline beyond its interval."
                if "random" in s.index and s.loc[best, "ci_low"] > s.loc["random", "ci_high"]
                else ", but not clearly above the random baseline."
                if "random" in s.index
                else "."
            )
        )
    else:
        parts.append("**Finding the evidence.** Not scored: this data set has no evidence spans.")
    if agreement is not None and len(agreement):
        single = agreement.set_index("truth").loc["single"]
        parts.append(
            f"**Modality, frame-level model.** On the {int(single['n_classes'])} single-modality "
            f"classes, the modality with the larger attribution share is the true one for "
            f"{100 * single['accuracy']:.0f}% of classes; the visual share separates visual-only "
            f"from audio-only classes with AUROC {single['separation_auroc']:.2f} (0.5 = chance)."
        )
    if video_agreement is not None and len(video_agreement):
        single = video_agreement.set_index("truth").loc["single"]
        g = video_agreement.set_index("truth")
        parts.append(
            "**Modality, video-level Attend-Fusion.** Integrated Gradients on its visual vs audio "
            f"feature blocks: mean visual share {g.loc['visual', 'mean_visual_share']:.2f} on "
            f"visual-only classes, {g.loc['audio', 'mean_visual_share']:.2f} on audio-only and "
            f"{g.loc['both', 'mean_visual_share']:.2f} on both; the share separates visual-only "
            f"from audio-only classes with AUROC {single['separation_auroc']:.2f}, and a 1/2 "
            f"threshold names the true modality for {100 * single['accuracy']:.0f}% of "
            "single-modality classes"
            + (
                ": attribution mass leans to the visual input."
                if g.loc["audio", "mean_visual_share"] > 0.5
                else "."
            )
        )
    d = deletion.set_index("method")
    parts.append(
        "**Faithfulness.** Deleting the top-scored frames lowers the label's logit by "
        + "; ".join(
            f"{m.replace('_', ' ')} {r['mean_drop_top']:.3f} vs random {r['mean_drop_random']:.3f}"
            for m, r in d.iterrows()
        )
        + "."
    )
    if "normalized_entropy" in entropy.columns:
        parts.append(
            "**Attention collapse.** The attention's normalized entropy (1 = uniform over frames, "
            f"0 = one frame) averages {entropy['normalized_entropy'].mean():.2f} over heads."
        )
    parts.append(f"*All of it on {source} data.*")
    return "\n\n".join(parts)


def frames_check(frames_gap: float, video_gap: float, margin: float = 0.10) -> dict:
    """Is the frame-level model good enough to explain? It must reach the video-level
    Attend-Fusion's test GAP less ``margin`` (10 points) on the same data. Returns ``passes``
    and a sentence saying so, with the numbers."""
    passes = bool(frames_gap >= video_gap - margin)
    text = (
        f"**The explained frame-level model** reaches test GAP {100 * frames_gap:.2f}% against the "
        f"video-level Attend-Fusion's {100 * video_gap:.2f}% (the bar: "
        f"{100 * (video_gap - margin):.2f}%)"
    )
    text += (
        ": it passes, so its attention and attributions are read below as findings."
        if passes
        else (
            ": it does **not** pass within this profile's budget, so the frame-level attention and "
            "attribution scores below describe a model that has not learned the task; they are "
            "shown for the method, not as findings. The video-level Attend-Fusion's attribution is "
            "the explanation this run stands behind."
        )
    )
    return {
        "passes": passes,
        "frames_gap": float(frames_gap),
        "video_gap": float(video_gap),
        "text": text,
    }
