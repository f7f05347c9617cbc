"""The claim map (notebook 09): in which synthetic worlds does the paper's claim hold?

The paper's claim (arXiv 2408.14441, real YouTube-8M; its numbers in :mod:`afkit.core.paper`):
Attend-Fusion (72M parameters, 75.64% F1) comes within 0.32 F1 points of FC late fusion (341M,
75.96%) with 4.7x fewer parameters.
Our generator (:mod:`afkit.data.synth`) knows where each label's evidence lies, so we can move the
data's properties one at a time and watch the difference move. Everything here is *our
extension* of the paper, on synthetic data only.

**Worlds.** A *world* is the profile's small base world (:data:`BASE_WORLDS`: the generator's
default knobs, a small vocabulary and few, short videos) with some
:class:`afkit.data.synth.SynthProfile` knobs changed (:data:`KNOBS`):

- ``linear_share`` (beta): the share of a label's evidence that survives mean pooling (the
  fixed-sign part); the rest is a per-frame random sign that only the STD (or a frame model)
  sees;
- ``span_fraction``: the evidence span's share of the video (a range, uniform);
- ``modality_fractions``: classes whose evidence is visual-only / audio-only / both; the level
  on the axis is the share of audio-only-or-both classes (audio : both kept at 2 : 3);
- ``p_missing_evidence``: labels with no evidence at all (label noise).

:func:`world_grid` lists the worlds of a profile: the base world, each knob at its other levels
(one knob at a time, the others at their defaults), and one two-knob interaction
(:data:`INTERACTION`: ``linear_share`` x ``span_fraction`` at their extreme levels, 2 x 2).

**Per world** (:func:`run_world`): the synthetic set, its store (MF+STD), and three arms
trained under the tuning protocol at one seed (:func:`afkit.studies.experiments.run_grid`):
Attend-Fusion, FC late fusion at the profile's width (the paper's size ratio is built into the
profile widths) and FC late fusion shrunk to Attend-Fusion's size; the paired bootstrap on the
test videos of Attend-Fusion minus each FC arm (:func:`afkit.studies.experiments.paired_tests`):
micro-F1 at the validate-chosen threshold and GAP, in points with 95% intervals. The
protocol's learning-rate search runs in the default world; the other worlds train each arm at
the rate chosen there, under the same early stopping (:data:`SEARCH_EVERY_WORLD`: the cpu budget
allows no search per world; the paper profile searches in every world).

**The claim holds** (:data:`CLAIM_FLOOR`, defined once here): the difference Attend-Fusion -
FC late fusion in test micro-F1 is at least the paper's -0.32 (:data:`afkit.core.paper.F1_DIFF`)
minus a margin of :data:`CLAIM_MARGIN` = 1 point, i.e. ``>= -1.32`` F1 points.
:func:`claim_verdict` reads a difference and its interval: ``reverses`` (Attend-Fusion better
beyond bootstrap noise: the interval lies above 0), ``holds`` (the difference at or above the
floor), ``fails`` (the whole interval below the floor), ``unclear`` (the difference below the
floor, the interval reaching it).

**What predicts it** (:func:`label_information`): on any store (a world's, the data at hand's,
or one built from the real release) a ridge-regression probe on the features predicts the
labels; its held-out GAP (validate) on all columns (MF+STD) minus on the mean columns (MF) is the
*STD share of label information* (GAP points): how much of what the labels say only the spread
over frames carries. The probe GAP on MF+STD is the second candidate (how easy the data is).
:func:`answer` correlates both with the difference over the worlds (Spearman),
names the stronger, fits a line and predicts the difference on the data at hand.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd

from afkit.core import paper

__all__ = [
    "CLAIM_MARGIN",
    "CLAIM_FLOOR",
    "KNOBS",
    "KNOB_LABELS",
    "INTERACTION",
    "BASE_WORLDS",
    "LEVELS",
    "World",
    "world_grid",
    "worlds_table",
    "training_runs",
    "run_world",
    "run_claim_map",
    "label_information",
    "claim_verdict",
    "predictor_table",
    "answer",
    "plot_claim_map",
    "knob_table",
]

# ---------------------------------------------------------------------------- the claim
CLAIM_MARGIN = 1.0  # F1 points below the paper's difference still counted as "the claim holds"
CLAIM_FLOOR = round(
    paper.F1_DIFF - CLAIM_MARGIN, 2
)  # -1.32: the one definition of "the claim holds"
STRONG_RHO = 0.5  # |Spearman rho| from which a property is said to predict the difference
MIN_WORLDS = 5  # ... over at least this many worlds

KNOBS = ("linear_share", "span_fraction", "modality_fractions", "p_missing_evidence")
KNOB_LABELS = {
    "linear_share": "evidence surviving mean pooling\n(linear_share, β)",
    "span_fraction": "evidence span / video\n(span_fraction, midpoint)",
    "modality_fractions": "classes with audio evidence\n(audio-only + both)",
    "p_missing_evidence": "labels without evidence\n(p_missing_evidence)",
}
INTERACTION = ("linear_share", "span_fraction")

ARMS = ("attend_fusion", "fc_late", "fc_late_matched")


def _modality(non_visual: float) -> tuple[float, float, float]:
    """``modality_fractions`` with a share ``non_visual`` of audio-only-or-both classes (2 : 3)."""
    return (round(1 - non_visual, 4), round(0.4 * non_visual, 4), round(0.6 * non_visual, 4))


# the levels of each knob per profile; the generator's default (afkit.data.synth.SynthProfile) is
# always one of them, and every other level is one world
_DEFAULTS = {
    "linear_share": 0.3,
    "span_fraction": (0.15, 0.5),
    "modality_fractions": _modality(0.5),
    "p_missing_evidence": 0.05,
}
LEVELS = {
    "smoke": {"linear_share": (0.3, 1.0), "span_fraction": ((0.15, 0.5), (0.5, 1.0))},
    "cpu": {
        "linear_share": (0.05, 0.3, 1.0),
        "span_fraction": ((0.05, 0.15), (0.15, 0.5), (0.5, 1.0)),
        "modality_fractions": (_modality(0.2), _modality(0.5), _modality(0.8)),
        "p_missing_evidence": (0.0, 0.05, 0.25),
    },
    "paper": {
        "linear_share": (0.0, 0.05, 0.15, 0.3, 0.6, 1.0),
        "span_fraction": ((0.02, 0.08), (0.05, 0.15), (0.15, 0.5), (0.3, 0.7), (0.5, 1.0)),
        "modality_fractions": tuple(_modality(x) for x in (0.0, 0.2, 0.5, 0.8, 1.0)),
        "p_missing_evidence": (0.0, 0.05, 0.15, 0.25, 0.4),
    },
}
# the base world of each profile: plain SynthProfile overrides (small, so that a cpu run of the
# whole grid fits its budget; see notebooks/09_claim_map.ipynb for the count of runs)
BASE_WORLDS = {
    "smoke": dict(
        num_classes=16,
        num_verticals=4,
        train_videos=160,
        validate_videos=48,
        test_videos=64,
        min_frames=4,
        max_frames=10,
        videos_per_shard=100,
    ),
    "cpu": dict(
        num_classes=100,
        num_verticals=8,
        train_videos=1500,
        validate_videos=500,
        test_videos=500,
        min_frames=10,
        max_frames=30,
        videos_per_shard=500,
    ),
    # 22 worlds of ~0.7 GB of frame-level shards each: within the paper machine's 64 GB disk
    "paper": dict(
        num_classes=1000,
        num_verticals=24,
        train_videos=10000,
        validate_videos=2500,
        test_videos=2500,
        min_frames=20,
        max_frames=60,
        videos_per_shard=1000,
    ),
}


def _level_value(knob: str, level) -> float:
    """The number on a knob's axis: beta, the span's midpoint, the audio-or-both share, p."""
    if knob == "span_fraction":
        return float(np.mean(level))
    if knob == "modality_fractions":
        return float(1 - level[0])
    return float(level)


def _level_text(knob: str, level) -> str:
    if knob == "span_fraction":
        return f"{level[0]:g}-{level[1]:g}"
    if knob == "modality_fractions":
        return f"{100 * (1 - level[0]):.0f}%"
    return f"{level:g}"


@dataclasses.dataclass(frozen=True)
class World:
    """One synthetic world: ``knobs`` changed from the defaults (name -> level), ``varies`` the
    knob(s) this world moves (empty for the base world), ``group`` the panel it belongs to."""

    name: str
    knobs: dict
    varies: tuple
    group: str

    def overrides(self, profile: str) -> dict:
        """The :func:`afkit.data.synth.ensure_dataset` overrides of this world."""
        return {**BASE_WORLDS[profile], **{k: v for k, v in self.knobs.items()}}


def _world_name(knobs: dict) -> str:
    if not knobs:
        return "default"
    return ",".join(f"{k}={_level_text(k, v)}" for k, v in knobs.items())


def world_grid(profile: str) -> list[World]:
    """The worlds of ``profile``: the base world, each knob of :data:`LEVELS` at its
    non-default levels (one at a time), and the :data:`INTERACTION` pair at the combinations of
    their extreme levels (lowest, highest; the default left out): 2 x 2 on cpu and paper."""
    if profile not in LEVELS:
        raise ValueError(f"unknown profile {profile!r}; one of {sorted(LEVELS)}")
    levels = LEVELS[profile]
    out = [World("default", {}, (), "default")]
    for knob, values in levels.items():
        for v in values:
            if v != _DEFAULTS[knob]:
                out.append(World(_world_name({knob: v}), {knob: v}, (knob,), knob))
    a, b = INTERACTION
    if a in levels and b in levels:
        for va in _corners(a, levels[a]):
            for vb in _corners(b, levels[b]):
                k = {a: va, b: vb}
                out.append(World(_world_name(k), k, (a, b), f"{a} x {b}"))
    return out


def _corners(knob: str, levels) -> list:
    """The interaction's levels of ``knob``: its lowest and highest, less the default."""
    ends = [
        min(levels, key=lambda v: _level_value(knob, v)),
        max(levels, key=lambda v: _level_value(knob, v)),
    ]
    return [v for v in dict.fromkeys(ends) if v != _DEFAULTS[knob]]


def worlds_table(worlds, profile: str) -> pd.DataFrame:
    """The worlds as a table: name, panel, the knob(s) moved, every knob's axis value, and the
    base world's sizes (classes, videos per split, frames)."""
    base = BASE_WORLDS[profile]
    rows = []
    for w in worlds:
        row = {"world": w.name, "group": w.group, "varies": "+".join(w.varies)}
        row.update({k: _level_value(k, w.knobs.get(k, _DEFAULTS[k])) for k in KNOBS})
        row.update(
            {
                k: base[k]
                for k in (
                    "num_classes",
                    "train_videos",
                    "validate_videos",
                    "test_videos",
                    "min_frames",
                    "max_frames",
                )
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def training_runs(profile: str) -> int:
    """Training runs of the claim map at ``profile`` (one seed): 3 arms x the protocol's learning
    rates in the default world (every world with :data:`SEARCH_EVERY_WORLD`), 3 arms in each
    other world."""
    from afkit.training import protocol as proto

    n, lrs = len(world_grid(profile)), len(proto.protocol_for(profile).lrs)
    return len(ARMS) * (n * lrs if SEARCH_EVERY_WORLD[profile] else lrs + (n - 1))


def _folder(name: str) -> str:
    return re.sub(r"[^\w.=,-]+", "_", name)


# ---------------------------------------------------------------------- the property
def _probe_matrix(st, columns, max_videos):
    n = len(st) if max_videos is None else min(len(st), max_videos)
    x = np.asarray(st.features[:n], dtype=np.float64)
    if columns is not None:
        x = np.hstack([x[:, st.columns[c]] for c in columns])
    y = np.zeros((n, st.num_classes))
    for i in range(n):
        y[i, st.labels(i)] = 1.0
    return x, y, [st.labels(i) for i in range(n)]


def label_information(
    store_dir, *, max_videos: int | None = 1500, ridges=(10.0, 100.0, 1000.0)
) -> dict:
    """Probe GAPs of a store (any store: a world's, the data at hand's, the real release's).

    A ridge regression from the z-scored features to the multi-hot labels, fitted on ``train``
    (its first ``max_videos``); the ridge chosen by GAP@20 on the first half of ``validate``
    (its first ``max_videos``), scored on the second half (only train and validate: the real
    release's test split has no labels); once on the mean columns (MF) and once on all columns
    (MF+STD). Returns ``probe_gap_mf``, ``probe_gap_mfstd``, ``std_share`` (MF+STD minus MF),
    all in GAP points; ``probe_gap_mfstd`` and ``std_share`` are NaN for a store without STD
    columns."""
    from afkit.data import store as store_mod
    from afkit.metrics import classification as metrics

    root = Path(store_dir)
    train, val = store_mod.open_store(root / "train"), store_mod.open_store(root / "validate")
    cols = train.columns
    means = [c for c in ("mean_rgb", "mean_audio") if c in cols]
    has_std = any(c.startswith("std_") for c in cols)
    out = {}
    for key, use in (("mf", means), ("mfstd", None)):
        if key == "mfstd" and not has_std:
            out["probe_gap_mfstd"] = float("nan")
            continue
        xtr, ytr, _ = _probe_matrix(train, use, max_videos)
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        xtr = np.hstack([(xtr - mu) / sd, np.ones((len(xtr), 1))])
        xva, _, lva = _probe_matrix(val, use, max_videos)
        xva = np.hstack([(xva - mu) / sd, np.ones((len(xva), 1))])
        half = len(xva) // 2
        primal = xtr.shape[1] <= xtr.shape[0]  # solve in the smaller of X'X and XX'
        gram = xtr.T @ xtr if primal else xtr @ xtr.T
        rhs = xtr.T @ ytr if primal else ytr
        eye = np.eye(len(gram))
        best = None
        for lam in ridges:
            w = np.linalg.solve(gram + lam * eye, rhs)
            w = w if primal else xtr.T @ w
            g = metrics.gap((xva[:half] @ w).astype(np.float32), lva[:half])
            if best is None or g > best[0]:
                best = (g, w)
        out[f"probe_gap_{key}"] = 100 * float(
            metrics.gap((xva[half:] @ best[1]).astype(np.float32), lva[half:])
        )
    out["std_share"] = out["probe_gap_mfstd"] - out["probe_gap_mf"]
    return out


# ------------------------------------------------------------------------- one world
def _specs(profile: str, num_classes: int):
    from afkit.studies import experiments as ex

    af = ex.model_params("attend_fusion", profile, num_classes)
    hidden = ex.matched_width("fc_late", af, profile, num_classes=num_classes)
    one = (0,)
    return [
        ex.Spec("attend_fusion", "attend_fusion", seeds=one),
        ex.Spec("fc_late", "fc_late", seeds=one),
        ex.Spec("fc_late_matched", "fc_late", {"hidden": hidden}, seeds=one),
    ]


def run_world(  # noqa: PLR0913  (a notebook step's keyword options, with defaults)
    world: World,
    root,
    profile: str,
    *,
    lrs: dict | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
    n_boot: int = 1000,
) -> tuple[list[dict], dict]:
    """One world: its data (``root/data/<world>``), store, the three arms under the protocol
    (one seed) and the paired tests. ``lrs`` (arm label -> learning rate): train each arm at
    that rate only (the protocol's early stopping, no search); None: the protocol's search.
    Returns two rows (Attend-Fusion vs ``fc_late`` and vs ``fc_late_matched``: differences in
    points, the world's knob levels and properties) and the chosen rate of each arm."""
    from dataclasses import replace

    from afkit.data import featurize, synth
    from afkit.studies import experiments as ex
    from afkit.training import protocol as proto

    root = Path(root)
    folder = _folder(world.name)
    data, stores, runs = root / "data" / folder, root / "stores" / folder, root / "runs" / folder
    overrides = world.overrides(profile)
    synth.ensure_dataset(data, profile, seed, progress=False, **overrides)
    featurize.build(stores, data, feature_set="mean_std", progress=False)
    specs = _specs(profile, overrides["num_classes"])
    base = proto.protocol_for(profile)
    if lrs is None:
        grid = ex.run_grid(specs, stores, runs, profile, progress=progress, device=device)
    else:  # one run_grid per distinct rate, so that arms sharing a rate train in parallel
        parts = []
        for lr in dict.fromkeys(lrs[s.label] for s in specs):
            group = [s for s in specs if lrs[s.label] == lr]
            parts.append(
                ex.run_grid(
                    group,
                    stores,
                    runs,
                    profile,
                    protocol=replace(base, lrs=(lr,)),
                    progress=progress,
                    device=device,
                )
            )
        grid = pd.concat(parts, ignore_index=True)
    summary = ex.mean_over_seeds(grid, floor_gap=proto.prior_gap(stores)).set_index("label")
    info = label_information(stores)
    rows = []
    baselines = ("fc_late", "fc_late_matched")
    tests = ex.paired_tests(
        grid, [("attend_fusion", b) for b in baselines], stores, n_boot=n_boot, seed=seed
    )
    for b, ci in zip(baselines, tests, strict=True):
        row = {
            "world": world.name,
            "group": world.group,
            "varies": "+".join(world.varies),
            "baseline": b,
            "params_af": int(summary.loc["attend_fusion", "params"]),
            "params_fc": int(summary.loc[b, "params"]),
            "param_ratio": summary.loc[b, "params"] / summary.loc["attend_fusion", "params"],
            "lr_af": summary.loc["attend_fusion", "lr"],
            "lr_fc": summary.loc[b, "lr"],
            "lr_searched": lrs is None,
            "f1_af": 100 * summary.loc["attend_fusion", "micro_f1_tuned_mean"],
            "f1_fc": 100 * summary.loc[b, "micro_f1_tuned_mean"],
            "f1_diff": 100 * ci["micro_f1_diff"],
            "f1_lo": 100 * ci["micro_f1_lo"],
            "f1_hi": 100 * ci["micro_f1_hi"],
            "gap_diff": 100 * ci["gap_diff"],
            "gap_lo": 100 * ci["gap_lo"],
            "gap_hi": 100 * ci["gap_hi"],
            "learned": bool(summary.loc["attend_fusion", "learned"] and summary.loc[b, "learned"]),
            "n_videos": ci["n_videos"],
            **info,
        }
        for k in KNOBS:
            row[k] = _level_value(k, world.knobs.get(k, _DEFAULTS[k]))
        row["verdict"] = claim_verdict(row["f1_diff"], row["f1_lo"], row["f1_hi"])
        rows.append(row)
    return rows, {lab: float(summary.loc[lab, "lr"]) for lab in summary.index}


# search the learning rate in every world (True) or only in the default world, the other worlds
# training each arm at the rate chosen there (False: the cpu budget; see training_runs)
SEARCH_EVERY_WORLD = {"smoke": False, "cpu": False, "paper": True}


def run_claim_map(
    root, profile: str, *, worlds=None, seed: int = 0, device: str = "cpu", progress: bool = False
) -> pd.DataFrame:
    """Every world of :func:`world_grid` (or ``worlds``; the first is the default world): the
    tidy claim-map table, one row per (world, baseline): knob levels (axis values), sizes and
    ``param_ratio``, learning rates, test micro-F1 of both arms, ``f1_diff`` / ``f1_lo`` /
    ``f1_hi`` and ``gap_diff`` / ``gap_lo`` / ``gap_hi`` (Attend-Fusion - baseline, points, 95%
    paired bootstrap), ``learned``, the probe GAPs and ``std_share``
    (:func:`label_information`), ``verdict`` (:func:`claim_verdict`). The learning rate is
    searched in the default world, and in every world where :data:`SEARCH_EVERY_WORLD` says so."""
    worlds = world_grid(profile) if worlds is None else list(worlds)
    rows, chosen = [], None
    for w in worlds:
        search = SEARCH_EVERY_WORLD[profile] or chosen is None
        r, lrs = run_world(
            w,
            root,
            profile,
            lrs=None if search else chosen,
            seed=seed,
            device=device,
            progress=progress,
        )
        chosen = chosen or lrs
        rows += r
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------- reading it
def claim_verdict(diff: float, lo: float, hi: float) -> str:
    """``reverses`` / ``holds`` / ``fails`` / ``unclear`` for a difference (Attend-Fusion - FC
    late fusion, F1 points) and its interval, against :data:`CLAIM_FLOOR`."""
    if lo > 0:
        return "reverses"
    if diff >= CLAIM_FLOOR:
        return "holds"
    if hi < CLAIM_FLOOR:
        return "fails"
    return "unclear"


def knob_table(table: pd.DataFrame, knob: str, baseline: str = "fc_late") -> pd.DataFrame:
    """The rows of one panel: the base world and the worlds that move only ``knob``, by level."""
    t = table[(table["baseline"] == baseline) & table["varies"].isin(["", knob])]
    return t.sort_values(knob).reset_index(drop=True)


def _spearman(x, y) -> float:
    x, y = pd.Series(x, dtype=float), pd.Series(y, dtype=float)
    ok = x.notna() & y.notna()
    if ok.sum() < 3 or x[ok].nunique() < 2 or y[ok].nunique() < 2:
        return float("nan")
    return float(x[ok].rank().corr(y[ok].rank()))


PREDICTORS = {
    "std_share": "the STD share of label information (probe GAP on MF+STD minus on MF)",
    "probe_gap_mfstd": "the probe GAP on MF+STD (how easy the labels are)",
}


def predictor_table(table: pd.DataFrame, baseline: str = "fc_late") -> pd.DataFrame:
    """Per candidate property: Spearman rho with ``f1_diff`` over the worlds, and the line
    ``f1_diff = slope * property + intercept`` (least squares)."""
    t = table[table["baseline"] == baseline]
    rows = []
    for p, what in PREDICTORS.items():
        x, y = t[p].to_numpy(float), t["f1_diff"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        slope, icpt = (
            np.polyfit(x[ok], y[ok], 1) if ok.sum() >= 2 and np.ptp(x[ok]) > 0 else (np.nan, np.nan)
        )
        rows.append(
            {
                "property": p,
                "meaning": what,
                "spearman": _spearman(x, y),
                "slope": float(slope),
                "intercept": float(icpt),
                "lo": float(np.nanmin(x)) if ok.any() else np.nan,
                "hi": float(np.nanmax(x)) if ok.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _list(names) -> str:
    names = [f"`{n}`" for n in names]
    return ", ".join(names) if names else "none"


def answer(table: pd.DataFrame, prediction: dict | None = None, source: str = "synthetic") -> str:
    """The claim map in prose, every clause chosen by the numbers: where the claim holds,
    fails or reverses (vs the full-width FC late fusion, and at equal size), how each knob
    moves the difference, which property predicts it, and (``prediction``: the
    :func:`label_information` of the data at hand, ``source`` naming it: ``synthetic`` or
    ``real``) what it predicts there. The worlds are always synthetic."""
    table = table.assign(varies=table["varies"].fillna(""))  # a table read back from CSV
    main = table[table["baseline"] == "fc_late"]
    parts = [
        _claim_clause(main, source),
        _verdict_clause(main),
        _equal_size_clause(table),
        _knobs_clause(table),
        _interaction_clause(main),
        _not_learned_clause(main),
    ]
    good = predictor_table(table).dropna(subset=["spearman"])
    if good.empty:
        parts.append("Too few worlds to correlate any property with the difference.")
    else:
        best = good.loc[good["spearman"].abs().idxmax()]
        strong = abs(best["spearman"]) >= STRONG_RHO and len(main) >= MIN_WORLDS
        parts.append(_predictor_clause(good, best, strong))
        if prediction is not None:
            parts.append(_prediction_clause(prediction, best, strong))
        parts.append(
            "These are synthetic worlds; they say where the claim can hold, not whether it "
            "holds on the real release."
        )
    return " ".join(p for p in parts if p is not None)


def _claim_clause(main: pd.DataFrame, source: str) -> str:
    """What "the claim holds" means here, and the size of the FC late fusion compared."""
    return (
        f"**Answer (synthetic worlds, test split, one seed a world; the data at hand: {source}).** "
        f"The claim holds when Attend-Fusion's test micro-F1 is at most {-CLAIM_FLOOR:.2f} points "
        f"below FC late fusion's (the paper's {paper.F1_DIFF:+.2f} minus a {CLAIM_MARGIN:g}-point "
        f"margin); here FC late fusion has {main['param_ratio'].median():.2f}x Attend-Fusion's "
        "parameters."
    )


def _verdict_clause(main: pd.DataFrame) -> str:
    """In how many worlds (and which) the claim holds, reverses, fails or is unclear."""
    n = len(main)
    by = {
        v: list(main.loc[main["verdict"] == v, "world"])
        for v in ("holds", "reverses", "fails", "unclear")
    }
    ok = len(by["holds"]) + len(by["reverses"])
    if ok == n:
        return f"It holds in all {n} worlds" + (
            f", and reverses (Attend-Fusion better beyond "
            f"bootstrap noise) in {len(by['reverses'])}: {_list(by['reverses'])}."
            if by["reverses"]
            else "."
        )
    if ok == 0:
        return (
            f"It holds in none of the {n} worlds: it fails in {len(by['fails'])} "
            f"({_list(by['fails'])})"
            + (
                f" and is unclear in {len(by['unclear'])} ({_list(by['unclear'])})"
                if by["unclear"]
                else ""
            )
            + "."
        )
    return (
        f"It holds in {len(by['holds'])} of {n} worlds ({_list(by['holds'])})"
        + (
            f", reverses in {len(by['reverses'])} ({_list(by['reverses'])})"
            if by["reverses"]
            else ""
        )
        + (f", fails in {len(by['fails'])} ({_list(by['fails'])})" if by["fails"] else "")
        + (
            f", is unclear in {len(by['unclear'])} ({_list(by['unclear'])})"
            if by["unclear"]
            else ""
        )
        + "."
    )


def _equal_size_clause(table: pd.DataFrame) -> str | None:
    """Against FC late fusion shrunk to Attend-Fusion's parameters (None: not in the table)."""
    matched = table[table["baseline"] == "fc_late_matched"]
    if not len(matched):
        return None
    better = int((matched["f1_lo"] > 0).sum())
    worse = int((matched["f1_hi"] < 0).sum())
    return (
        f"At equal size (FC late fusion shrunk to Attend-Fusion's parameters) "
        f"Attend-Fusion is better beyond noise in {better} of {len(matched)} worlds and "
        f"worse in {worse}; median difference {matched['f1_diff'].median():+.2f} points."
    )


def _knobs_clause(table: pd.DataFrame) -> str | None:
    """How moving each knob alone moves the difference (None: no knob was moved)."""
    moves = []
    for k in KNOBS:
        kt = knob_table(table, k)
        if len(kt) < 2 or kt[k].nunique() < 2:
            continue
        a, b = kt.iloc[0], kt.iloc[-1]
        d = b["f1_diff"] - a["f1_diff"]
        word = "raises" if d > 0 else "lowers"
        moves.append(
            f"{k} from {a[k]:g} to {b[k]:g} {word} it from {a['f1_diff']:+.2f} to "
            f"{b['f1_diff']:+.2f}"
        )
    return (
        "One knob at a time (the difference vs FC late fusion): " + "; ".join(moves) + "."
        if moves
        else None
    )


def _interaction_clause(main: pd.DataFrame) -> str | None:
    """The difference where the :data:`INTERACTION` knobs move together (None: no such world)."""
    inter = main[main["varies"].str.contains(r"\+")]
    if len(inter) == 1:
        return (
            f"Moving {' and '.join(INTERACTION)} together (`{inter['world'].iloc[0]}`) gives "
            f"{inter['f1_diff'].iloc[0]:+.2f}."
        )
    if not len(inter):
        return None
    spread = inter["f1_diff"].max() - inter["f1_diff"].min()
    return (
        f"In the {' x '.join(INTERACTION)} corners the difference spans "
        f"{inter['f1_diff'].min():+.2f} to {inter['f1_diff'].max():+.2f} ({spread:.2f} points)."
    )


def _not_learned_clause(main: pd.DataFrame) -> str | None:
    not_learned = list(main.loc[~main["learned"].astype(bool), "world"])
    return (
        f"An arm did not learn in {_list(not_learned)}: read those worlds with care."
        if not_learned
        else None
    )


def _predictor_clause(good: pd.DataFrame, best: pd.Series, strong: bool) -> str:
    """The property that best predicts the difference across worlds, and the other candidates."""
    others = ", ".join(
        f"{r.property} {r.spearman:+.2f}"
        for r in good.itertuples()
        if r.property != best["property"]
    )
    return (
        f"Across worlds, {best['meaning']} "
        + ("predicts" if strong else "is the best but a weak predictor of")
        + f" the difference (Spearman rho {best['spearman']:+.2f}"
        + (f"; the other candidate: {others}" if len(good) > 1 else "")
        + ")."
    )


def _prediction_clause(prediction: dict, best: pd.Series, strong: bool) -> str:
    """What the best predictor's line over the worlds predicts for the data at hand."""
    x = prediction.get(best["property"], float("nan"))
    if not np.isfinite(x) or not np.isfinite(best["slope"]):
        return (
            f"On the data at hand `{best['property']}` cannot be measured (no STD columns "
            "in its store), so there is no prediction."
        )
    y = best["slope"] * x + best["intercept"]
    inside = best["lo"] <= x <= best["hi"]
    v = "hold" if y >= CLAIM_FLOOR else "fail"
    return (
        f"On the data at hand `{best['property']}` = {x:.2f} GAP points"
        + (
            ""
            if inside
            else f", outside the worlds' range [{best['lo']:.2f}, {best['hi']:.2f}] "
            "(an extrapolation)"
        )
        + f"; the line over the worlds predicts a difference of {y:+.2f} F1 points: the claim "
        f"should {v} there" + ("" if strong else ", but the predictor is weak") + "."
    )


# ---------------------------------------------------------------------------- the figure
def plot_claim_map(table: pd.DataFrame, *, source: str = "synthetic", baseline: str = "fc_late"):
    """One panel per knob: Attend-Fusion - FC late fusion (test micro-F1 points, 95% paired
    bootstrap) against the knob's level, the full-width baseline filled and the size-matched one
    hollow; the paper's difference as a dashed line, the region where the claim holds
    (>= :data:`CLAIM_FLOOR`) shaded; a last panel for the two-knob interaction, if any."""
    import matplotlib.pyplot as plt

    from afkit.viz import plots

    table = table.assign(varies=table["varies"].fillna(""))  # a table read back from CSV
    knobs = [
        k
        for k in KNOBS
        if len(knob_table(table, k, baseline)) > 1
        and knob_table(table, k, baseline)[k].nunique() > 1
    ]
    inter = table[table["varies"].str.contains(r"\+")]
    n = len(knobs) + (1 if len(inter) else 0)
    if n == 0:
        raise ValueError("the table holds no knob with two levels")
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.6), sharey=True, squeeze=False)
    axes = axes[0]
    lo = min(table["f1_lo"].min(), CLAIM_FLOOR) - 0.5
    hi = max(table["f1_hi"].max(), 0.5) + 0.5
    color = plots.model_color("attend_fusion")
    for ax, k in zip(axes, knobs + (["interaction"] if len(inter) else []), strict=True):
        ax.axhspan(CLAIM_FLOOR, hi, color="#009E73", alpha=0.12, lw=0)
        ax.axhline(paper.F1_DIFF, color=plots.PAPER_COLOR, ls="--", lw=1)
        ax.axhline(0, color="#999999", lw=0.8)
        if k == "interaction":
            a, b = INTERACTION
            for bl, filled in ((baseline, True), ("fc_late_matched", False)):
                t = inter[inter["baseline"] == bl].reset_index(drop=True)
                xs = np.arange(len(t)) + (-0.08 if filled else 0.08)
                ax.errorbar(
                    xs,
                    t["f1_diff"],
                    yerr=[t["f1_diff"] - t["f1_lo"], t["f1_hi"] - t["f1_diff"]],
                    fmt="o",
                    color=color,
                    mfc=color if filled else "white",
                    capsize=3,
                )
            t = inter[inter["baseline"] == baseline]
            ax.set_xticks(np.arange(len(t)))
            ax.set_xlim(-0.6, len(t) - 0.4)
            ax.set_xticklabels(
                [f"β {r[a]:g}\nspan {r[b]:.2g}" for _, r in t.iterrows()], fontsize="x-small"
            )
            ax.set_title(f"{a} x {b}", fontsize="medium")
            ax.set_xlabel("corner\n(β, span midpoint)", fontsize="small")
            continue
        for bl, filled, name in (
            (baseline, True, "vs FC late (profile width)"),
            ("fc_late_matched", False, "vs FC late at AF size"),
        ):
            t = knob_table(table, k, bl)
            if t.empty:
                continue
            ax.errorbar(
                t[k],
                t["f1_diff"],
                yerr=[t["f1_diff"] - t["f1_lo"], t["f1_hi"] - t["f1_diff"]],
                fmt="-o" if filled else "--o",
                color=color,
                mfc=color if filled else "white",
                capsize=3,
                label=name,
            )
        ax.set_title(k, fontsize="medium")
        ax.set_xlabel(KNOB_LABELS[k], fontsize="small")
    axes[0].set_ylim(lo, hi)
    axes[0].set_ylabel("Attend-Fusion − FC late fusion\n(test micro-F1, points)")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = axes[0].get_legend_handles_labels()
    handles += [
        Line2D([], [], color=plots.PAPER_COLOR, ls="--", lw=1),
        Patch(color="#009E73", alpha=0.25, lw=0),
    ]
    labels += [
        f"paper (real YouTube-8M): {paper.F1_DIFF:+.2f}",
        f"claim holds: ≥ {CLAIM_FLOOR:+.2f}",
    ]
    fig.legend(
        handles, labels, loc="upper center", ncol=4, fontsize="small", bbox_to_anchor=(0.5, 1.06)
    )
    fig.suptitle(
        "Where the paper's claim holds: Attend-Fusion − FC late fusion by data property", y=1.14
    )
    fig.tight_layout()
    plots._caption(fig, source)
    return fig
