"""The claim map (notebook 09): at which training-set size does the paper's claim hold?

The paper's claim (arXiv 2408.14441, real YouTube-8M; its numbers in :mod:`afkit.core.paper`):
Attend-Fusion (72M parameters, 75.64% F1) comes within 0.32 F1 points of FC late fusion (341M,
75.96%) with 4.7x fewer parameters. Everything here is *our extension* of the paper, on
synthetic data only (:mod:`afkit.data.synth`).

**Why data size.** A first map moved four generator knobs (``linear_share``, ``span_fraction``,
``modality_fractions``, ``p_missing_evidence``) in 13 worlds that all shared one size (1,500
training videos, 100 classes; the cpu report of commit c4483cd): Attend-Fusion was ahead by +3.4
to +8.4 F1 points in every world, and no knob moved the difference beyond the noise of its
intervals. Across the notebooks the difference instead tracks how many training videos each
class has. So the map's first axis is the training-set size of one base world
(:data:`BASE_WORLDS`), from a few videos a class to a few hundred (:data:`VIDEOS_PER_CLASS`);
one knob, ``linear_share`` (the one that moved the difference most in the first map), is kept at
one size where the budget allows (:data:`KNOB_WORLDS`: not at cpu), to show whether a data
property moves the difference as much as the size does.

**Videos per class** = positive training labels per class = ``N * labels_per_video / C``
(``N`` training videos, ``C`` classes): :func:`videos_per_class` measures it on any store (the
worlds' and the data at hand's); :func:`train_videos` gives the ``N`` of a target (the
generator's ``mean_labels`` labels a video). A world's smaller training split is the prefix of
a larger one (the generator draws video ``i`` of a split from its own seed), and every world of
one profile has the same validate and test videos.

**Per world** (:func:`run_world`): the synthetic set, its store (MF+STD), and three arms under
the tuning protocol (:func:`afkit.studies.experiments.run_grid`; the learning rate chosen in
every world): Attend-Fusion, FC late fusion at the profile's width (the paper's size ratio is
built into the profile widths) and FC late fusion at Attend-Fusion's size
(:func:`afkit.studies.arms.fc_late_at_af_size`). The batch is the profile's, halved down to a
power of two where the training split holds fewer than :data:`MIN_STEPS` batches (the same for
every arm of a world, logistic regression's reference included). Then the paired bootstrap on
the test videos of Attend-Fusion minus each FC arm
(:func:`afkit.studies.experiments.paired_tests`: micro-F1 at the validate threshold and GAP, in
points with 95% intervals) and each arm's learned / converged status
(:func:`afkit.studies.experiments.mean_over_seeds` against logistic regression's test GAP).
:func:`run_claim_map` trains every world at one seed, then the profile's seeds
(:data:`afkit.studies.experiments.SEEDS`) at the :data:`DECIDING` sizes that decide the verdict
(:func:`deciding_sizes`: those bracketing the last crossing of the paper's difference, else
those nearest to it), again until the sizes that decide it, on the table with the new seeds,
all have every seed.

**Outcomes, two-sided** (:func:`outcome`, margin :data:`PARITY_MARGIN`): ``holds`` (parity: the
whole F1 interval within +-margin), ``AF ahead`` (the interval above +margin: the claim is
exceeded, not matched), ``FC ahead`` (below -margin: the claim fails), ``inconclusive``.

**Reading it** (:func:`crossing`, :func:`curve_at`, :func:`data_at_hand`, :func:`answer`):
where the difference crosses the paper's -0.32 (interpolated in log videos per class), how far
the axis reaches toward YouTube-8M's regime, and the curve's prediction for the data at hand
(its videos per class, measured on its store) beside the difference notebook 04 measured there.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from afkit.core import paper

__all__ = [
    "PARITY_MARGIN",
    "OUTCOMES",
    "BASELINES",
    "BASE_WORLDS",
    "VIDEOS_PER_CLASS",
    "KNOB_WORLDS",
    "DECIDING",
    "MIN_STEPS",
    "YT8M_REGIME",
    "World",
    "world_grid",
    "worlds_table",
    "train_videos",
    "batch_size",
    "videos_per_class",
    "run_world",
    "run_claim_map",
    "deciding_sizes",
    "outcome",
    "crossing",
    "curve_at",
    "data_at_hand",
    "prediction_table",
    "answer",
    "plot_claim_map",
]

# ---------------------------------------------------------------------------- the claim
# F1 points either side of 0 within which Attend-Fusion and FC late fusion count as on par: about
# the seed spread of a cpu-size arm's test micro-F1 (0.2-0.9 points over three seeds in notebook
# 04) and three times the paper's own gap (0.32), so a difference the paper would call "comparable"
# is one here
PARITY_MARGIN = 1.0
OUTCOMES = ("holds", "AF ahead", "FC ahead", "inconclusive")
OUTCOME_WORDS = {
    "holds": "the claim holds (parity: the interval within ±{m:g} points)",
    "AF ahead": "Attend-Fusion is ahead beyond the margin (the claim is exceeded, not matched)",
    "FC ahead": "FC late fusion is ahead beyond the margin (the claim fails)",
    "inconclusive": "inconclusive (the interval straddles an edge of the ±{m:g} band)",
}
# baseline label -> its name in sentences
BASELINES = {
    "fc_late": "FC late fusion at the paper's size ratio",
    "fc_late at AF size": "FC late fusion at Attend-Fusion's size",
}
# YouTube-8M's regime in training videos a class. PAPER.md gives ~6.1M videos (2018 release,
# every split) and 3862 classes, but neither the training split's size nor labels per video, so
# no average is computed: the regime is said in words and reached from this many a class on
YT8M_REGIME = "hundreds of training videos a class on average"
YT8M_FROM = 100

# the base world of each profile (plain SynthProfile overrides; train_videos comes from the size)
BASE_WORLDS = {
    "smoke": dict(
        num_classes=16,
        num_verticals=4,
        validate_videos=48,
        test_videos=96,
        min_frames=4,
        max_frames=10,
        videos_per_shard=200,
    ),
    # 30 classes so that 256 a class is 2,560 training videos; validate (evaluated every epoch)
    # small, test (scored once a run) large for narrow intervals
    "cpu": dict(
        num_classes=30,
        num_verticals=5,
        validate_videos=600,
        test_videos=2000,
        min_frames=10,
        max_frames=30,
        videos_per_shard=1000,
    ),
    "paper": dict(
        num_classes=1000,
        num_verticals=24,
        validate_videos=2500,
        test_videos=5000,
        min_frames=20,
        max_frames=60,
        videos_per_shard=1000,
    ),
}
# the sizes (target training videos a class) of each profile's axis.
# Budget (cpu), measured with the protocol on a shared 2-core machine (one process, nice; CPU
# time of the process and its workers; all three arms' searches and logistic regression's
# reference included): 113 s for a world of 134 training videos (50 classes, 8 a class), 143 s
# for 534 (50 classes, 32 a class), 189 s for 2,560 (30 classes, 256 a class): ~110 s fixed
# (about 13 runs' processes, validation every epoch, checkpoints, scoring, bootstrap, generation)
# + ~0.03 s a training video. At 30 classes the axis 8..256 a class is 80 + 160 + 320 + 640 +
# 1,280 + 2,560 = 5,040 training videos: 6 x 110 + 0.03 x 5,040 = ~810 s; two more seeds (3 arms
# at the chosen rate, ~45% of a world) at the two deciding sizes, at most 128 and 256 a class:
# ~150 s. About 960 s of CPU: ~8-10 min on the protocol's two workers. (50 classes to 256 a
# class with two knob worlds would be ~1,700 s: ~15 min.)
VIDEOS_PER_CLASS = {
    "smoke": (6, 24),
    "cpu": (8, 16, 32, 64, 128, 256),
    "paper": (5, 20, 80, 320),
}
# (size, knob, levels other than the generator's default): worlds that move one data property
# at one size; None: none (cpu: the first map's knobs moved the difference less than their
# intervals, and the budget goes to the size axis and its seeds)
KNOB_WORLDS = {
    "smoke": (6, "linear_share", (1.0,)),
    "cpu": None,
    "paper": (80, "linear_share", (0.05, 1.0)),
}
DECIDING = 2  # sizes trained at every seed of the profile (experiments.SEEDS)
MIN_STEPS = 8  # batches an epoch at least: smaller training splits get a smaller batch
MIN_BATCH = 8


def outcome(lo: float, hi: float, margin: float = PARITY_MARGIN) -> str:
    """``holds`` / ``AF ahead`` / ``FC ahead`` / ``inconclusive`` for a 95% interval of
    Attend-Fusion - FC late fusion (F1 points), against the band ``[-margin, +margin]``."""
    if -margin <= lo and hi <= margin:
        return "holds"
    if lo > margin:
        return "AF ahead"
    if hi < -margin:
        return "FC ahead"
    return "inconclusive"


# ---------------------------------------------------------------------------- the worlds
@dataclasses.dataclass(frozen=True)
class World:
    """One synthetic world: the base world at ``size`` training videos a class (target), with
    ``knobs`` changed from the generator's defaults; ``group``: ``size`` (the axis) or the knob."""

    size: float
    knobs: dict
    group: str

    @property
    def name(self) -> str:
        knobs = "".join(f", {k}={v:g}" for k, v in self.knobs.items())
        return f"{self.size:g} a class{knobs}"

    def overrides(self, profile: str) -> dict:
        """The :func:`afkit.data.synth.ensure_dataset` overrides of this world."""
        return {
            **BASE_WORLDS[profile],
            "train_videos": train_videos(profile, self.size),
            **self.knobs,
        }


def _mean_labels(profile: str) -> float:
    from afkit.data import synth

    return float(synth.PROFILES[profile].mean_labels)


def train_videos(profile: str, size: float) -> int:
    """Training videos ``N`` for ``size`` positive labels a class: ``size * C / mean_labels``."""
    return int(math.ceil(size * BASE_WORLDS[profile]["num_classes"] / _mean_labels(profile)))


def batch_size(profile: str, n: int) -> int:
    """The profile's batch, or the largest power of two (at least :data:`MIN_BATCH`) that gives
    ``n`` training videos :data:`MIN_STEPS` batches an epoch, whichever is smaller."""
    from afkit.training import train

    full = int(train.PROFILES[profile]["batch_size"])
    fit = 2 ** int(math.floor(math.log2(max(n // MIN_STEPS, 1))))
    return max(MIN_BATCH, min(full, fit))


def world_grid(profile: str) -> list[World]:
    """The worlds of ``profile``: the base world at every size of :data:`VIDEOS_PER_CLASS`, then
    the :data:`KNOB_WORLDS` (one knob at its other levels, at one size)."""
    if profile not in VIDEOS_PER_CLASS:
        raise ValueError(f"unknown profile {profile!r}; one of {sorted(VIDEOS_PER_CLASS)}")
    out = [World(v, {}, "size") for v in VIDEOS_PER_CLASS[profile]]
    if KNOB_WORLDS[profile] is not None:
        size, knob, levels = KNOB_WORLDS[profile]
        out += [World(size, {knob: lv}, knob) for lv in levels]
    return out


def worlds_table(worlds, profile: str) -> pd.DataFrame:
    """The worlds as a table: name, group, the target videos a class, training videos, batch,
    the knob levels (the generator's default where not moved), and the base world's sizes."""
    from afkit.data import synth

    base = BASE_WORLDS[profile]
    default = synth.PROFILES[profile]
    knobs = sorted({k for w in worlds for k in w.knobs})
    rows = []
    for w in worlds:
        n = train_videos(profile, w.size)
        rows.append(
            {
                "world": w.name,
                "group": w.group,
                "target_videos_per_class": w.size,
                "train_videos": n,
                "batch_size": batch_size(profile, n),
                **{k: w.knobs.get(k, getattr(default, k)) for k in knobs},
                **{
                    k: base[k]
                    for k in ("num_classes", "validate_videos", "test_videos", "min_frames")
                },
                "max_frames": base["max_frames"],
                "mean_labels": _mean_labels(profile),
            }
        )
    return pd.DataFrame(rows)


def _folder(name: str) -> str:
    return re.sub(r"[^\w.=,-]+", "_", name)


def videos_per_class(store_dir, split: str = "train") -> dict:
    """Positive labels a class of a store's ``split`` (``videos_per_class``: labels / classes),
    with ``videos``, ``num_classes`` and ``labels_per_video``."""
    from afkit.data import store as store_mod

    st = store_mod.open_store(Path(store_dir) / split)
    labels = int(st.labels_indptr[-1])
    return {
        "videos_per_class": labels / st.num_classes,
        "videos": len(st),
        "num_classes": int(st.num_classes),
        "labels_per_video": labels / max(len(st), 1),
    }


# ------------------------------------------------------------------------- one world
def _specs(profile: str, num_classes: int, seeds: tuple):
    from afkit.studies import arms
    from afkit.studies import experiments as ex

    hidden, paper_hidden = arms.fc_late_at_af_size(profile, num_classes)
    return [
        ex.Spec("attend_fusion", "attend_fusion", seeds=seeds),
        ex.Spec("fc_late", "fc_late", seeds=seeds),
        ex.Spec(
            "fc_late at AF size",
            "fc_late",
            {"hidden": hidden},
            paper_overrides={"hidden": paper_hidden},
            seeds=seeds,
        ),
    ]


def _status(row, arm: str) -> list[str]:
    out = []
    if not row["learned"]:
        out.append(f"{arm} did not learn")
    if not row["converged"]:
        out.append(f"{arm} did not converge")
    return out


def run_world(  # noqa: PLR0913  (a notebook step's keyword options, with defaults)
    world: World,
    root,
    profile: str,
    *,
    seeds: tuple = (0,),
    data_seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
    n_boot: int = 1000,
) -> list[dict]:
    """One world: its data (``root/data/<world>``, generated once), store, the three arms under
    the protocol at ``seeds`` (runs reused: ``root/runs/<world>``), logistic regression's
    reference, the paired tests. Two rows (Attend-Fusion vs each baseline of
    :data:`BASELINES`): sizes, rates, test micro-F1 and GAP of both arms, the differences in
    points with 95% intervals, each arm's learned / converged status, ``outcome``."""
    from afkit.data import featurize, synth
    from afkit.studies import experiments as ex
    from afkit.training import protocol as proto

    root = Path(root)
    folder = _folder(world.name)
    data, stores, runs = root / "data" / folder, root / "stores" / folder, root / "runs" / folder
    overrides = world.overrides(profile)
    synth.ensure_dataset(data, profile, data_seed, progress=False, **overrides)
    featurize.build(stores, data, feature_set="mean_std", progress=False)
    size = videos_per_class(stores)
    batch = batch_size(profile, size["videos"])
    specs = _specs(profile, overrides["num_classes"], tuple(seeds))
    kw = dict(progress=progress, device=device, batch_size=batch)
    grid = ex.run_grid(specs, stores, runs, profile, seeds=tuple(seeds), **kw)
    reference = ex.reference_gap(stores, runs, profile, **kw)
    summary = ex.mean_over_seeds(
        grid, floor_gap=proto.prior_gap(stores), reference_gap=reference
    ).set_index("label")
    baselines = list(BASELINES)
    tests = ex.paired_tests(
        grid, [("attend_fusion", b) for b in baselines], stores, n_boot=n_boot, seed=data_seed
    )
    af = summary.loc["attend_fusion"]
    rows = []
    for b, ci in zip(baselines, tests, strict=True):
        fc = summary.loc[b]
        status = _status(af, "Attend-Fusion") + _status(fc, b)
        row = {
            "world": world.name,
            "group": world.group,
            "target_videos_per_class": world.size,
            "videos_per_class": size["videos_per_class"],
            "train_videos": size["videos"],
            "num_classes": size["num_classes"],
            "batch_size": batch,
            **{f"knob_{k}": v for k, v in world.knobs.items()},
            "baseline": b,
            "seeds": int(min(af["seeds"], fc["seeds"])),
            "params_af": int(af["params"]),
            "params_fc": int(fc["params"]),
            "param_ratio": fc["params"] / af["params"],
            "lr_af": af["lr"],
            "lr_fc": fc["lr"],
            "lr_position_af": af["lr_position"],
            "lr_position_fc": fc["lr_position"],
            "f1_af": 100 * af["micro_f1_tuned_mean"],
            "f1_fc": 100 * fc["micro_f1_tuned_mean"],
            "f1_diff": 100 * ci["micro_f1_diff"],
            "f1_lo": 100 * ci["micro_f1_lo"],
            "f1_hi": 100 * ci["micro_f1_hi"],
            "gap_af": 100 * af["gap_mean"],
            "gap_fc": 100 * fc["gap_mean"],
            "gap_diff": 100 * ci["gap_diff"],
            "gap_lo": 100 * ci["gap_lo"],
            "gap_hi": 100 * ci["gap_hi"],
            "learned_af": bool(af["learned"]),
            "learned_fc": bool(fc["learned"]),
            "converged_af": bool(af["converged"]),
            "converged_fc": bool(fc["converged"]),
            "counts": bool(af["counts"] and fc["counts"]),
            "status": "; ".join(status) if status else "both learned and converged",
            "epochs_run_max": int(max(af["epochs_run_max"], fc["epochs_run_max"])),
            "reference_gap": 100 * reference,
            "n_videos": ci["n_videos"],
        }
        row["outcome"] = outcome(row["f1_lo"], row["f1_hi"])
        rows.append(row)
    return rows


def deciding_sizes(table: pd.DataFrame, k: int = DECIDING, baseline: str = "fc_late") -> list:
    """The ``k`` sizes (``target_videos_per_class`` of the axis) that decide the verdict: the two
    that bracket the last crossing of the paper's difference (:func:`crossing`), else the ``k``
    whose difference lies nearest to it."""
    axis = _axis(table, baseline)
    if axis.empty:
        return []
    cross = crossing(table, baseline)
    if cross is not None and k >= 2:
        return sorted(cross["between_targets"])
    near = (axis["f1_diff"] - paper.F1_DIFF).abs().sort_values().index[:k]
    return sorted(axis.loc[near, "target_videos_per_class"].tolist())


def run_claim_map(
    root, profile: str, *, worlds=None, seed: int = 0, device: str = "cpu", progress: bool = False
) -> pd.DataFrame:
    """Every world of :func:`world_grid` (or ``worlds``) at one seed, then the
    :func:`deciding_sizes` again at every seed of the profile (the seed-0 runs reused): the
    tidy claim-map table, one row per (world, baseline) (:func:`run_world`), ordered by group
    and size. ``seed`` seeds the data and the bootstrap; the worlds, stores and runs live under
    ``root`` and are reused by a rerun."""
    from afkit.studies import experiments as ex

    worlds = world_grid(profile) if worlds is None else list(worlds)
    kw = dict(data_seed=seed, device=device, progress=progress)
    rows = [run_world(w, root, profile, seeds=(0,), **kw) for w in worlds]
    all_seeds = tuple(ex.SEEDS[profile])
    done: set = set()
    # more seeds where the verdict is decided, until the sizes that decide it (recomputed on the
    # table with the new seeds: the crossing may move) all have every seed
    while len(all_seeds) > 1:
        deciding = set(deciding_sizes(pd.DataFrame([r for rs in rows for r in rs]))) - done
        if not deciding:
            break
        for i, w in enumerate(worlds):
            if w.group == "size" and w.size in deciding:
                rows[i] = run_world(w, root, profile, seeds=all_seeds, **kw)
        done |= deciding
    return pd.DataFrame([r for rs in rows for r in rs])


# ------------------------------------------------------------------------- reading it
def _axis(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    t = table[(table["group"] == "size") & (table["baseline"] == baseline)]
    return t.sort_values("videos_per_class").reset_index(drop=True)


def crossing(table: pd.DataFrame, baseline: str = "fc_late", level: float = paper.F1_DIFF):
    """Where the difference vs ``baseline`` along the size axis crosses ``level`` (the paper's
    -0.32 by default) for the last time, i.e. the side it stays on towards the largest sizes (the
    real-data regime), interpolated linearly in log videos per class between the two sizes that
    bracket it: ``{"videos_per_class", "between", "between_targets", "direction", "crossings"}``
    (``direction``: ``falls`` or ``rises`` through it; ``crossings``: how many times the curve
    crosses, more than one where seed noise makes it wander), or None (no crossing within the
    sizes)."""
    axis = _axis(table, baseline)
    x, y = np.log(axis["videos_per_class"].to_numpy(float)), axis["f1_diff"].to_numpy(float)
    found = []
    for i in range(len(axis) - 1):
        a, b = y[i] - level, y[i + 1] - level
        if a == 0 or a * b < 0:
            t = 0.0 if a == 0 else a / (a - b)
            found.append(
                {
                    "videos_per_class": float(np.exp(x[i] + t * (x[i + 1] - x[i]))),
                    "between": (float(np.exp(x[i])), float(np.exp(x[i + 1]))),
                    "between_targets": (
                        axis["target_videos_per_class"][i],
                        axis["target_videos_per_class"][i + 1],
                    ),
                    "direction": "falls" if y[i + 1] < y[i] else "rises",
                }
            )
    return {**found[-1], "crossings": len(found)} if found else None


def curve_at(table: pd.DataFrame, vpc: float, baseline: str = "fc_late") -> dict | None:
    """The size axis read at ``vpc`` videos a class: the difference and its interval,
    interpolated linearly in log videos per class between the two sizes around it
    (``f1_diff``, ``f1_lo``, ``f1_hi``, ``between``); None when ``vpc`` lies outside the axis."""
    axis = _axis(table, baseline)
    v = axis["videos_per_class"].to_numpy(float)
    if len(axis) < 1 or not (v[0] <= vpc <= v[-1]):
        return None
    j = int(np.searchsorted(v, vpc))
    i = max(j - 1, 0)
    j = min(j, len(v) - 1)
    t = 0.0 if j == i else (math.log(vpc) - math.log(v[i])) / (math.log(v[j]) - math.log(v[i]))
    out = {k: float((1 - t) * axis[k][i] + t * axis[k][j]) for k in ("f1_diff", "f1_lo", "f1_hi")}
    out["between"] = (float(v[i]), float(v[j]))
    return out


def data_at_hand(store_dir, out_dir) -> dict:
    """The data at hand: its videos a class (:func:`videos_per_class` of its store) and the
    difference notebook 04 measured on it (``out_dir/results/04_comparison.json``'s paired
    bootstrap of Attend-Fusion - FC late fusion, in points), or ``measured: None`` when
    notebook 04 has not run."""
    out = videos_per_class(store_dir)
    path = Path(out_dir) / "results" / "04_comparison.json"
    out["measured"] = None
    if path.is_file():
        ci = json.loads(path.read_text())["data"]["bootstrap"]
        out["measured"] = {
            "f1_diff": 100 * ci["micro_f1_diff"],
            "f1_lo": 100 * ci["micro_f1_lo"],
            "f1_hi": 100 * ci["micro_f1_hi"],
            "seeds": int(min(ci.get("seeds_a", 1), ci.get("seeds_b", 1))),
            "baseline": ci.get("b", "fc_late"),
        }
    return out


def prediction_table(table: pd.DataFrame, at_hand: dict, baseline: str = "fc_late"):
    """Predicted (the size axis at the data at hand's videos a class) beside measured (notebook
    04): one row each, with the interval and the :func:`outcome`."""
    vpc = at_hand["videos_per_class"]
    pred = curve_at(table, vpc, baseline)
    rows = []
    if pred is not None:
        rows.append({"source": "predicted by the size axis (synthetic worlds)", **pred})
    if at_hand.get("measured"):
        rows.append({"source": "measured by notebook 04 (the data at hand)", **at_hand["measured"]})
    out = pd.DataFrame(rows, columns=["source", "f1_diff", "f1_lo", "f1_hi"])
    out.insert(1, "videos_per_class", vpc)
    out["outcome"] = [outcome(lo, hi) for lo, hi in zip(out["f1_lo"], out["f1_hi"], strict=True)]
    return out


def _sizes(values) -> str:
    values = [v if isinstance(v, str) else f"{v:.0f}" for v in values]
    if not values:
        return "none"
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def answer(table: pd.DataFrame, at_hand: dict | None = None, source: str = "synthetic") -> str:
    """The claim map in prose, every clause chosen by the numbers: the outcome at each size (vs
    FC late fusion at the paper's ratio and at equal size), the trend, where the difference
    crosses the paper's -0.32, how far the axis reaches toward YouTube-8M, the knob, the arms
    that did not learn or converge, and the prediction for the data at hand beside what notebook
    04 measured there (``at_hand``: :func:`data_at_hand`; ``source`` names its data)."""
    main = _axis(table, "fc_late")
    if main.empty:
        raise ValueError("the table holds no size axis against fc_late")
    lo_v, hi_v = main["videos_per_class"].iloc[0], main["videos_per_class"].iloc[-1]
    parts = [
        f"**Answer (synthetic worlds: one base world of {int(main['num_classes'].iloc[0])} "
        f"classes at {len(main)} training-set sizes, {lo_v:.0f} to {hi_v:.0f} videos a class "
        f"(positive training labels a class); {_seeds_words(main)}; the data at hand: "
        f"{source}).** The claim holds where Attend-Fusion's test micro-F1 is within "
        f"±{_points(PARITY_MARGIN)} of FC late fusion's (the whole 95% interval; the paper: "
        f"{paper.F1_DIFF:+.2f}); FC late fusion has {main['param_ratio'].median():.1f}x "
        "Attend-Fusion's parameters here."
    ]
    parts.append(_outcomes_clause(main, "Against FC late fusion at the paper's size ratio"))
    parts.append(_trend_clause(main))
    parts.append(_crossing_clause(table, main))
    matched = _axis(table, "fc_late at AF size")
    if len(matched):
        parts.append(_outcomes_clause(matched, "At equal size (FC late fusion at AF's size)"))
    parts.append(_regime_clause(hi_v))
    parts.append(_knob_clause(table))
    parts.append(_status_clause(table))
    if at_hand is not None:
        parts.append(_at_hand_clause(table, at_hand))
    parts.append(
        "These are synthetic worlds; they say where the claim can hold, not whether it holds on "
        "the real release."
    )
    return " ".join(p for p in parts if p)


def _seeds_words(main: pd.DataFrame) -> str:
    many = main[main["seeds"] > 1]
    if many.empty:
        return "one seed a size"
    if len(many) == len(main):
        return f"{int(many['seeds'].min())} seeds at every size"
    return (
        f"{int(many['seeds'].max())} seeds at {_sizes(many['videos_per_class'])} videos a class, "
        "one seed elsewhere"
    )


def _points(x: float) -> str:
    return f"{x:g} point" + ("" if x == 1 else "s")


def _flag(row) -> str:
    """`` (<status>)`` for a row whose arms do not all count (did not learn or converge)."""
    return "" if bool(row["counts"]) else f" ({row['status']})"


def _outcomes_clause(axis: pd.DataFrame, head: str) -> str:
    by = {
        o: [
            f"{r['videos_per_class']:.0f}{_flag(r)}"
            for _, r in axis.iterrows()
            if r["outcome"] == o
        ]
        for o in OUTCOMES
    }
    words = {
        "holds": "the claim holds (parity)",
        "AF ahead": "Attend-Fusion is ahead beyond the margin (the claim is exceeded, not matched)",
        "FC ahead": "FC late fusion is ahead beyond the margin (the claim fails)",
        "inconclusive": "the interval straddles an edge of the band (inconclusive)",
    }
    said = [f"{words[o]} at {_sizes(v)} videos a class" for o, v in by.items() if v]
    return f"{head}: " + "; ".join(said) + "."


def _trend_clause(main: pd.DataFrame) -> str:
    a, b = main.iloc[0], main.iloc[-1]
    d = b["f1_diff"] - a["f1_diff"]
    way = "falls" if d < 0 else "rises" if d > 0 else "stays"
    return (
        f"From {a['videos_per_class']:.0f}{_flag(a)} to {b['videos_per_class']:.0f}{_flag(b)} "
        f"videos a class the difference {way} from {a['f1_diff']:+.2f} to {b['f1_diff']:+.2f} "
        "F1 points "
        f"(GAP: {a['gap_diff']:+.2f} to {b['gap_diff']:+.2f})."
    )


def _crossing_clause(table: pd.DataFrame, main: pd.DataFrame) -> str:
    c = crossing(table)
    if c is None:
        side = "above" if (main["f1_diff"] > paper.F1_DIFF).all() else "below"
        return (
            f"No crossing of the paper's {paper.F1_DIFF:+.2f} within the sizes tried: the "
            f"difference stays {side} it from {main['videos_per_class'].iloc[0]:.0f} to "
            f"{main['videos_per_class'].iloc[-1]:.0f} videos a class."
        )
    a, b = (main.loc[main["target_videos_per_class"] == t].iloc[0] for t in c["between_targets"])
    return (
        f"The difference {c['direction']} through the paper's {paper.F1_DIFF:+.2f} between "
        f"{c['between'][0]:.0f}{_flag(a)} and {c['between'][1]:.0f}{_flag(b)} videos a class, "
        f"at about {c['videos_per_class']:.0f} (interpolated in log videos a class"
        + (
            f"; the last of its {c['crossings']} crossings, after which it stays on that side)."
            if c["crossings"] > 1
            else ")."
        )
    )


def _regime_clause(hi_v: float) -> str:
    reach = (
        f"reaches into it (up to {hi_v:.0f})"
        if hi_v >= YT8M_FROM
        else f"stops short of it (at {hi_v:.0f})"
    )
    return (
        f"YouTube-8M, where the paper's number lives, has {YT8M_REGIME} (its training split's "
        f"size and labels per video are not in our notes on the paper, so no average is "
        f"computed); the axis {reach}."
    )


def _knob_clause(table: pd.DataFrame) -> str | None:
    knob_rows = table[(table["group"] != "size") & (table["baseline"] == "fc_late")]
    if knob_rows.empty:
        return None
    knob = knob_rows["group"].iloc[0]
    size = knob_rows["target_videos_per_class"].iloc[0]
    base = _axis(table, "fc_late")
    base = base[base["target_videos_per_class"] == size]
    if base.empty:
        return None
    from afkit.data import synth

    default = getattr(synth.SynthProfile("x", 1, 1, 1, 1, 1, 1, 1, 1), knob)
    pts = [(default, base.iloc[0])] + [(r[f"knob_{knob}"], r) for _, r in knob_rows.iterrows()]
    pts.sort(key=lambda p: p[0])
    lo, hi = pts[0][1], pts[-1][1]
    overlap = max(p[1]["f1_lo"] for p in pts) <= min(p[1]["f1_hi"] for p in pts)
    moves = (
        "within the noise (every interval overlaps the others)"
        if overlap
        else "beyond the noise (not every pair of intervals overlaps)"
    )
    spread = [p[1]["f1_diff"] for p in pts]
    return (
        f"At {base.iloc[0]['videos_per_class']:.0f} videos a class, {knob} from {pts[0][0]:g} "
        f"to {pts[-1][0]:g} moves the difference from {lo['f1_diff']:+.2f} to "
        f"{hi['f1_diff']:+.2f} (a spread of {max(spread) - min(spread):.2f} points over "
        f"{len(pts)} levels, {moves}); the size axis spans {_axis_span(table):.2f} points."
    )


def _axis_span(table: pd.DataFrame) -> float:
    """The spread of the difference vs ``fc_late`` along the size axis (points)."""
    main = _axis(table, "fc_late")
    return float(main["f1_diff"].max() - main["f1_diff"].min())


def _status_clause(table: pd.DataFrame) -> str | None:
    bad = table[~table["counts"].astype(bool)]
    if bad.empty:
        return "Every arm learned and converged at every size."
    said = [f"{r.world} vs {r.baseline}: {r.status}" for r in bad.itertuples()]
    return (
        "Not every arm counts (read these rows with care; marked in the figure): "
        + "; ".join(said)
        + "."
    )


def _at_hand_clause(table: pd.DataFrame, at_hand: dict) -> str:
    vpc = at_hand["videos_per_class"]
    pred = curve_at(table, vpc)
    head = (
        f"The data at hand has {vpc:.0f} videos a class ({at_hand['videos']:,} training videos, "
        f"{at_hand['num_classes']} classes)"
    )
    axis = _axis(table, "fc_late")["videos_per_class"]
    if pred is None:
        said = (
            f"{head}, outside the axis ({axis.iloc[0]:.0f} to {axis.iloc[-1]:.0f}): the curve "
            "makes no prediction there"
        )
    else:
        said = (
            f"{head}; the size axis predicts {pred['f1_diff']:+.2f} "
            f"[{pred['f1_lo']:+.2f}, {pred['f1_hi']:+.2f}] there (interpolated between "
            f"{pred['between'][0]:.0f} and {pred['between'][1]:.0f}): "
            f"{_outcome_short(outcome(pred['f1_lo'], pred['f1_hi']))}"
        )
    m = at_hand.get("measured")
    if not m:
        return (
            said + ". Notebook 04's measured difference is not there (its results file is "
            "absent: run notebook 04 first), so there is nothing to compare it with."
        )
    said += (
        f". Notebook 04 measured {m['f1_diff']:+.2f} [{m['f1_lo']:+.2f}, {m['f1_hi']:+.2f}] "
        f"({m['seeds']} seed{'s' if m['seeds'] > 1 else ''}): "
        f"{_outcome_short(outcome(m['f1_lo'], m['f1_hi']))}"
    )
    if pred is not None:
        inside = m["f1_lo"] <= pred["f1_diff"] <= m["f1_hi"]
        said += (
            "; the prediction lies inside the measured interval"
            if inside
            else f"; the prediction misses the measured difference by "
            f"{pred['f1_diff'] - m['f1_diff']:+.2f} points, outside its interval"
        )
    return said + "."


def _outcome_short(o: str) -> str:
    return {
        "holds": "parity, the claim holds",
        "AF ahead": "Attend-Fusion ahead beyond the margin",
        "FC ahead": "FC late fusion ahead beyond the margin, the claim fails",
        "inconclusive": "inconclusive",
    }[o]


# ---------------------------------------------------------------------------- the figure
def plot_claim_map(table: pd.DataFrame, at_hand: dict | None = None, *, source: str = "synthetic"):
    """Attend-Fusion - FC late fusion against videos a class (log x): test micro-F1 (left, with
    the paper's -0.32 dashed and the parity band shaded) and GAP (right), in points with 95%
    paired-bootstrap bars; FC late fusion at the paper's ratio filled, at AF's size hollow;
    rows whose arms did not learn or converge crossed (x); the knob worlds as triangles; the
    data at hand's measured difference (notebook 04) as a star."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from afkit.viz import plots

    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    color = plots.model_color("attend_fusion")
    for ax, m in zip(axes, ("f1", "gap"), strict=True):
        ax.axhline(0, color="#999999", lw=0.8)
        if m == "f1":
            ax.axhspan(-PARITY_MARGIN, PARITY_MARGIN, color="#009E73", alpha=0.15, lw=0)
            ax.axhline(paper.F1_DIFF, color=plots.PAPER_COLOR, ls="--", lw=1)
        for b, filled, style in (("fc_late", True, "-o"), ("fc_late at AF size", False, "--o")):
            t = _axis(table, b)
            if t.empty:
                continue
            x, y = t["videos_per_class"], t[f"{m}_diff"]
            ax.errorbar(
                x,
                y,
                yerr=[y - t[f"{m}_lo"], t[f"{m}_hi"] - y],
                fmt=style,
                color=color,
                mfc=color if filled else "white",
                capsize=3,
            )
            bad = ~t["counts"].astype(bool)
            ax.scatter(x[bad], y[bad], s=120, marker="x", color="black", lw=1.5, zorder=4)
            k = table[(table["group"] != "size") & (table["baseline"] == b)]
            kb = k[~k["counts"].astype(bool)]
            ax.scatter(kb["videos_per_class"], kb[f"{m}_diff"], s=120, marker="x", color="black")
            ax.scatter(
                k["videos_per_class"],
                k[f"{m}_diff"],
                marker="^",
                s=50,
                color="#CC79A7",
                facecolors="#CC79A7" if filled else "white",
                zorder=3,
            )
        if m == "f1" and at_hand and at_hand.get("measured"):
            mm = at_hand["measured"]
            ax.errorbar(
                [at_hand["videos_per_class"]],
                [mm["f1_diff"]],
                yerr=[[mm["f1_diff"] - mm["f1_lo"]], [mm["f1_hi"] - mm["f1_diff"]]],
                fmt="*",
                ms=12,
                color="#E69F00",
                capsize=3,
            )
        ax.set_xscale("log")
        ticks = sorted(set(_axis(table, "fc_late")["videos_per_class"]))
        ax.set_xticks(ticks, [f"{v:.0f}" for v in ticks])
        ax.minorticks_off()
        ax.set_xlabel("training videos a class (positive labels a class, log)")
        what = "test micro-F1" if m == "f1" else "test GAP@20"
        ax.set_ylabel(f"Attend-Fusion − FC late fusion\n({what}, points)")
        ax.set_title(what, fontsize="medium")
    handles = [
        Line2D([], [], color=color, marker="o", ls="-"),
        Line2D([], [], color=color, marker="o", mfc="white", ls="--"),
        Line2D([], [], color=plots.PAPER_COLOR, ls="--", lw=1),
        Patch(color="#009E73", alpha=0.3, lw=0),
        Line2D([], [], marker="x", color="black", linestyle="none", markersize=9),
    ]
    labels = [
        "vs FC late fusion (paper's size ratio)",
        "vs FC late fusion at AF's size",
        f"paper (real YouTube-8M): {paper.F1_DIFF:+.2f}",
        f"claim holds: within ±{PARITY_MARGIN:g}",
        "an arm did not learn or converge",
    ]
    if (table["group"] != "size").any():
        handles.append(Line2D([], [], marker="^", color="#CC79A7", ls="none"))
        labels.append(f"{table.loc[table['group'] != 'size', 'group'].iloc[0]} moved")
    if at_hand and at_hand.get("measured"):
        handles.append(Line2D([], [], marker="*", color="#E69F00", ls="none", ms=11))
        labels.append("measured on the data at hand (notebook 04)")
    fig.legend(
        handles, labels, loc="upper center", ncol=3, fontsize="small", bbox_to_anchor=(0.5, 1.12)
    )
    fig.suptitle(
        "Where the paper's claim holds: Attend-Fusion − FC late fusion by training-set size",
        y=1.19,
    )
    fig.tight_layout()
    plots._caption(fig, source)
    return fig
