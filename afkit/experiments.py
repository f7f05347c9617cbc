"""Grids of training runs: the comparison and ablation notebooks' one shared machinery.

An *experiment* is a list of :class:`Spec` (a label, a registered model name, model overrides)
trained for several seeds on one store. Each (spec, seed) is an ordinary :func:`afkit.train.train`
run in ``RUNS_DIR/<label>/seed<k>/``; a run whose ``results.json`` exists is read back instead of
retrained, so a notebook killed half-way continues where it stopped, and an unfinished run (a
``last.pt`` without ``results.json``) is resumed exactly.

Outputs are tidy pandas tables:

- :func:`run_grid` -> one row per (label, seed): parameters (at the profile's size and at the
  paper's size for the same model), forward FLOPs per video, every validation metric, training
  seconds, inference videos/s;
- :func:`summarize` -> one row per label: mean and standard deviation over seeds;
- :func:`bootstrap_difference` -> the paired bootstrap confidence interval of a metric difference
  between two labels on the same validation videos (resampling videos, averaging over seeds).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

METRIC_COLUMNS = ("micro_f1", "macro_f1", "gap", "map", "hit_at_one", "perr")

# seeds per profile (the paper profile is for a GPU and the real release)
SEEDS = {"smoke": (0, 1), "cpu": (0, 1, 2), "paper": (0, 1, 2)}

# notebook 04: every baseline of the paper and Attend-Fusion
COMPARISON = tuple(f"{block}_{arr}" for block in ("fc", "fcrn", "fcrn_gated")
                   for arr in ("audio", "visual", "early", "late")) + ("attend_fusion",)

# the paper's reported numbers (real YouTube-8M; arXiv 2408.14441): F1 in %, parameters
PAPER = {
    "attend_fusion": {"paper_f1_pct": 75.64, "paper_reported_params": 72_000_000},
    "fc_late": {"paper_f1_pct": 75.96, "paper_reported_params": 341_000_000},
}
PAPER_F1 = {k: v["paper_f1_pct"] for k, v in PAPER.items()}


@dataclass(frozen=True)
class Spec:
    """One arm of an experiment: ``label`` names it in tables, ``model`` is a registry name,
    ``overrides`` go to :func:`afkit.models.build` (e.g. ``heads=8``), ``train`` to the
    :class:`afkit.train.TrainConfig` (e.g. ``features="mean"``)."""

    label: str
    model: str
    overrides: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    paper_overrides: dict | None = None  # the same arm at paper size (None: ``overrides``)

    def __hash__(self):  # dict fields: hash the label, which is unique within an experiment
        return hash(self.label)


def specs(*models: str) -> list[Spec]:
    """Specs for registered models with no overrides, labelled by their names."""
    return [Spec(m, m) for m in models]


def _meta_model(name: str, profile: str, num_classes: int | None = None, features: str | None = None,
                **overrides):
    """Registered model ``name`` at ``profile`` built on the meta device (no memory), with
    ``num_classes`` and, for models that read a feature set, ``features`` (unless overridden)."""
    from afkit import models

    if num_classes is not None:
        overrides["num_classes"] = num_classes
    if features is not None and "features" in _config_fields(name):
        overrides.setdefault("features", features)
    return models.build(name, profile, device="meta", **overrides)


def model_size(spec: Spec, profile: str, num_classes: int | None = None, features: str | None = None) -> dict:
    """Parameters and forward FLOPs per video of a spec at ``profile`` size, built on the meta
    device (no memory). FLOPs of frame-level models are counted at 300 frames."""
    from afkit import models

    overrides = dict(spec.paper_overrides if profile == "paper" and spec.paper_overrides is not None
                     else spec.overrides)
    model = _meta_model(spec.model, profile, num_classes, spec.train.get("features", features), **overrides)
    return {"params": models.count_parameters(model), "flops": models.forward_flops(model)}


def paper_size(spec: Spec) -> dict:
    """:func:`model_size` at paper size (3862 classes) with the paper profile's inputs
    (``afkit.reconstruction.PAPER_FEATURES``, mean), or MF+STD for arms that need both statistics."""
    from afkit.reconstruction import PAPER_FEATURES

    try:
        return model_size(spec, "paper", features=PAPER_FEATURES)
    except ValueError:
        return model_size(spec, "paper", features="mean_std")


def _config_fields(name: str) -> set[str]:
    from dataclasses import fields as dc_fields

    from afkit import models

    return {f.name for f in dc_fields(models.model_config(name, "smoke"))}


def run_key(spec: Spec) -> str:
    """The folder name of a spec's runs: the model and its overrides, not the label, so that the
    same arm in two notebooks (e.g. ``fc_late`` in 04 and 05) is trained once."""
    parts = [spec.model] + [f"{k}={v}" for k, v in sorted(spec.overrides.items())] \
        + [f"train.{k}={v}" for k, v in sorted(spec.train.items())]
    return re.sub(r"[^\w.=,-]+", "_", ",".join(parts))


def run_dir(runs_dir, spec: Spec, seed: int) -> Path:
    return Path(runs_dir) / run_key(spec) / f"seed{seed}"


def train_one(spec: Spec, seed: int, store_dir, runs_dir, profile: str, **train_overrides) -> dict:
    """Train (or read back, or resume) one (spec, seed) run; returns its results dict."""
    from afkit import train

    out = run_dir(runs_dir, spec, seed)
    results = out / train.RESULTS
    if results.exists():
        return json.loads(results.read_text())
    config = train.make_config(profile, model=spec.model, seed=seed,
                               model_overrides=dict(spec.overrides),
                               **{**train_overrides, **spec.train})
    resume = (out / train.CHECKPOINT).exists()
    return train.train(config, store_dir, out, resume=resume)


def run_grid(specs_: list[Spec], store_dir, runs_dir, profile: str, seeds=None, *,
             progress: bool = True, **train_overrides) -> pd.DataFrame:
    """Train every spec for every seed (skipping finished runs) and tabulate the results.

    Columns: ``label``, ``model``, ``seed``, ``params`` (profile size, as trained),
    ``paper_params`` and ``paper_flops`` (the same model at paper size, 3862 classes),
    ``flops`` (profile size), the :data:`METRIC_COLUMNS` on the validation split,
    ``train_seconds``, ``videos_per_s``.
    """
    from tqdm.auto import tqdm

    labels = [s.label for s in specs_]
    if len(set(labels)) != len(labels):
        raise ValueError(f"spec labels must be unique, got {labels}")
    seeds = tuple(SEEDS[profile] if seeds is None else seeds)
    jobs = [(s, k) for s in specs_ for k in seeds]
    from afkit import store as store_mod

    num_classes = store_mod.open_store(Path(store_dir) / "train").num_classes
    rows, sizes = [], {}
    bar = tqdm(jobs, desc="runs", disable=not progress)
    for spec, seed in bar:
        bar.set_postfix_str(f"{spec.label} seed {seed}")
        res = train_one(spec, seed, store_dir, runs_dir, profile,
                        progress=False, **train_overrides)
        if spec.label not in sizes:
            prof = model_size(spec, profile, num_classes=num_classes, features=res["config"].get("features"))
            paper = paper_size(spec)
            sizes[spec.label] = {"flops": prof["flops"], "paper_params": paper["params"],
                                 "paper_flops": paper["flops"]}
        final = res["final"]
        rows.append({"label": spec.label, "model": spec.model, "seed": seed,
                     "params": res["num_parameters"], **sizes[spec.label],
                     **{m: final.get(m) for m in METRIC_COLUMNS},
                     "train_seconds": res["train_seconds"], "videos_per_s": res.get("videos_per_s")})
    return pd.DataFrame(rows)


def summarize(grid: pd.DataFrame, metrics=METRIC_COLUMNS) -> pd.DataFrame:
    """One row per label (in first-seen order): sizes, and ``<metric>_mean`` / ``<metric>_std``
    over seeds (std with ddof=1; 0 for a single seed), plus ``seeds``."""
    order = list(dict.fromkeys(grid["label"]))
    fixed = [c for c in ("model", "params", "flops", "paper_params", "paper_flops") if c in grid]
    g = grid.groupby("label", sort=False)
    out = g[fixed].first()
    for m in list(metrics) + [c for c in ("train_seconds", "videos_per_s") if c in grid]:
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_std"] = g[m].std(ddof=1).fillna(0.0)
    out["seeds"] = g["seed"].count()
    return out.loc[order].reset_index()


def validation_scores(spec: Spec, seed: int, store_dir, runs_dir, split: str = "validate"):
    """(ids, scores [N, C], labels as a list of int64 arrays) of a finished run on ``split``."""
    from afkit import train

    model, config = train.load_run(run_dir(runs_dir, spec, seed))
    data = train.open_split(store_dir, split, model.input_kind, config.features, config.max_frames)
    ids, scores = train.predict_scores(model, data, split, config=config, progress=False)
    labels = [data.store.labels(i) for i in range(len(data))]
    return ids, scores, labels


def bootstrap_difference(a: Spec, b: Spec, store_dir, runs_dir, seeds, *, n_boot: int = 1000,
                         threshold: float = 0.5, seed: int = 0, split: str = "validate") -> dict:
    """Paired bootstrap of micro-F1(a) - micro-F1(b) on the same videos.

    micro-F1 = 2 TP / (2 TP + FP + FN), summed over videos and classes. Each resample draws N
    videos with replacement (the same draw for both models) and averages each model's micro-F1
    over its seeds; returns ``diff`` (on the full set), ``lo`` / ``hi`` (the 2.5% and 97.5%
    percentiles), ``p_a_better`` (the fraction of resamples with a > b) and ``n_videos``.
    """
    from afkit.metrics import per_video_counts

    counts = {}
    for spec in (a, b):
        per_seed = []
        for k in seeds:
            _, scores, labels = validation_scores(spec, k, store_dir, runs_dir, split)
            per_seed.append(np.stack(per_video_counts(scores, labels, threshold), 1))
        counts[spec.label] = np.stack(per_seed)  # [seeds, N, 3]
    n = counts[a.label].shape[1]
    rng = np.random.default_rng(seed)

    def f1(c):  # c [..., N, 3] -> micro-F1 averaged over seeds
        tp, fp, fn = c[..., 0].sum(-1), c[..., 1].sum(-1), c[..., 2].sum(-1)
        return np.mean(2 * tp / np.maximum(2 * tp + fp + fn, 1e-12), axis=0)

    full = f1(counts[a.label]) - f1(counts[b.label])
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, n, n)
        diffs[i] = f1(counts[a.label][:, idx]) - f1(counts[b.label][:, idx])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"a": a.label, "b": b.label, "diff": float(full), "lo": float(lo), "hi": float(hi),
            "p_a_better": float((diffs > 0).mean()), "n_videos": int(n), "n_boot": n_boot,
            "seeds": list(seeds)}


def with_paper_columns(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` plus the paper's reported F1 (%) and parameters, where the paper reports
    them (real data; NaN elsewhere), in columns named ``paper_*``."""
    out = summary.copy()
    for col in ("paper_f1_pct", "paper_reported_params"):
        out[col] = [PAPER.get(m, {}).get(col, np.nan) for m in out["model"]]
    return out


def history_table(results: dict) -> pd.DataFrame:
    """One row an epoch of a run's results: epoch, train_loss, val_* metrics, seconds."""
    return pd.DataFrame(results["history"])


def final_table(results: dict) -> pd.DataFrame:
    """The final validation metrics of a run as a two-column table (metric, value)."""
    final = results["final"]
    return pd.DataFrame({"metric": list(final), "value": [final[k] for k in final]})


def _pct(x) -> str:
    return f"{100 * x:.2f}%"


def describe_comparison(summary: pd.DataFrame, ci: dict, source: str = "synthetic") -> str:
    """The answer of notebook 04 in prose, computed from its numbers."""
    s = summary.set_index("label")
    af, fc = s.loc[ci["a"]], s.loc[ci["b"]]
    best = s["micro_f1_mean"].idxmax()
    ratio = fc["params"] / af["params"]
    verdict = ("the interval contains 0: at this scale the two are not distinguishable"
               if ci["lo"] <= 0 <= ci["hi"] else
               ("Attend-Fusion is better" if ci["lo"] > 0 else "FC late fusion is better")
               + " beyond bootstrap noise")
    return (
        f"**Answer ({source} data, {int(af['seeds'])} seeds).** Attend-Fusion "
        f"({int(af['params']):,} parameters at this profile; {int(af['paper_params']):,} at paper size) "
        f"reaches micro-F1 {_pct(af['micro_f1_mean'])} ± {_pct(af['micro_f1_std'])}; FC late fusion "
        f"({int(fc['params']):,}; {int(fc['paper_params']):,} at paper size, {ratio:.2f}x more) reaches "
        f"{_pct(fc['micro_f1_mean'])} ± {_pct(fc['micro_f1_std'])}. The paired bootstrap over "
        f"{ci['n_videos']} validation videos puts the difference (Attend-Fusion − FC late) at "
        f"{100 * ci['diff']:+.2f} points, 95% CI [{100 * ci['lo']:+.2f}, {100 * ci['hi']:+.2f}]: "
        f"{verdict}. The best model of the table is `{best}` ({_pct(s.loc[best, 'micro_f1_mean'])}). "
        f"The paper reports 75.64% vs 75.96% (a 0.32-point gap) on the real YouTube-8M; "
        + ("our numbers are from the synthetic set and say nothing about those values."
           if source == "synthetic" else "ours are on the real release.")
    )


# ---------------------------------------------------------------------------------- ablations
def matched_width(name: str, target_params: int, profile: str, *, field: str = "hidden",
                  num_classes: int | None = None, features: str = "mean_std", lo: int = 1,
                  hi: int = 1 << 15) -> int:
    """The value of width ``field`` of model ``name`` whose parameter count is closest to
    ``target_params`` (counts grow with width: bisection on meta-device builds)."""
    def count(w):
        return size_of(name, profile, num_classes, features, **{field: w})

    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < target_params else (lo, mid)
    return min((lo, hi), key=lambda w: abs(count(w) - target_params))


def fusion_ablation_specs(profile: str, num_classes: int | None = None, features: str = "mean_std") -> list[Spec]:
    """Notebook 05's arms: early / late / hybrid fusion, each with and without attention, and
    FC late fusion shrunk to Attend-Fusion's parameter count (the parameter-matched pair).

    *Our definitions*: early = inputs concatenated before one encoder; late = an encoder (and
    attention) per modality, concatenated before the head; hybrid = per-modality encoders whose
    tokens attend across modalities (cross-modal attention) before the late head."""
    af = size_of("attend_fusion", profile, num_classes, features)
    width = matched_width("fc_late", af, profile, num_classes=num_classes, features=features)
    paper_width = matched_width("fc_late", size_of("attend_fusion", "paper", features="mean"), "paper",
                                features="mean")
    return [
        Spec("fc_early", "fc_early"),
        Spec("early + attention", "attend_fusion_early"),
        Spec("early, no attention", "attend_fusion_early", {"attention": "none"}),
        Spec("fc_late", "fc_late"),
        Spec("late + attention (attend_fusion)", "attend_fusion"),
        Spec("late, no attention", "attend_fusion_noattn"),
        Spec("hybrid + attention (cross-modal)", "attend_fusion_cross"),
        Spec(f"fc_late matched (hidden {width})", "fc_late", {"hidden": width},
             paper_overrides={"hidden": paper_width}),
    ]


def size_of(name: str, profile: str, num_classes: int | None = None, features: str = "mean_std",
            **overrides) -> int:
    """Parameters of a registered model at ``profile`` (meta-device build)."""
    from afkit import models

    return models.count_parameters(_meta_model(name, profile, num_classes, features, **overrides))


# the frame-level model as notebooks 06 and 08 train it (one run folder for both). Its epochs are
# capped at 8: it costs ~10x a video-level model per epoch (every frame is encoded)
FRAMES_SPEC = Spec("frame-level attention", "attend_fusion_frames", train={"epochs": 8})


def attention_sweep_specs(profile: str) -> list[Spec]:
    """Notebook 06's arms around the profile's Attend-Fusion: heads, attention width, number of
    tokens (chunks), the MF/STD statistics as tokens, attention off, and the frame-level model.
    Each arm's paper-size twin (for the paper-size axis) applies the same change to the paper
    configuration: the same heads or tokens, the attention width scaled by the same factor."""
    from afkit import models

    cfg = models.model_config("attend_fusion", profile)
    paper = models.model_config("attend_fusion", "paper")
    out = [Spec("attend_fusion", "attend_fusion"), Spec("attention off", "attend_fusion_noattn")]
    for h in (1, 2, 4, 8):
        if h != cfg.heads and cfg.attention_width % h == 0:
            out.append(Spec(f"heads={h}", "attend_fusion", {"heads": h}, paper_overrides={"heads": h}))
    for factor in (0.25, 0.5, 2.0):
        a, pa = int(cfg.attention_width * factor), int(paper.attention_width * factor)
        if a % cfg.heads == 0 and pa % paper.heads == 0:
            out.append(Spec(f"attention width={a}", "attend_fusion", {"attention_width": a},
                            paper_overrides={"attention_width": pa}))
    for k in (2, 8):
        if k != cfg.tokens and cfg.encoder_width % k == 0 and paper.encoder_width % k == 0:
            out.append(Spec(f"tokens={k}", "attend_fusion", {"tokens": k}, paper_overrides={"tokens": k}))
    out.append(Spec("MF/STD as tokens", "attend_fusion_stats"))
    out.append(FRAMES_SPEC)
    return out


def with_sweep_columns(summary: pd.DataFrame) -> pd.DataFrame:
    """Notebook 06: F1 in %, and the paper's two points as extra rows on the paper-size axis."""
    out = summary.copy()
    out["micro_f1_pct"] = 100 * out["micro_f1_mean"]
    return out


def paper_points() -> pd.DataFrame:
    """The paper's two reported models as points: label, paper_params, micro_f1_pct (real data)."""
    return pd.DataFrame({"label": ["Attend-Fusion (paper)", "FC late fusion (paper)"],
                         "paper_params": [72e6, 341e6], "micro_f1_pct": [75.64, 75.96]})


# --------------------------------------------------------------------------- vocabulary scaling
VOCABULARIES = {"smoke": (20, 50, 100), "cpu": (100, 300, 1000, 3862, 4716, 20000),
                "paper": (1000, 3862, 4716, 20000)}
# the synthetic sets of notebook 07: small and short, one per vocabulary size
VOCAB_DATA = {"smoke": dict(train_videos=192, validate_videos=64, test_videos=16, min_frames=4, max_frames=12),
              "cpu": dict(train_videos=3000, validate_videos=1000, test_videos=50, min_frames=10, max_frames=30),
              "paper": dict(train_videos=20000, validate_videos=5000, test_videos=100, min_frames=30, max_frames=120)}


def head_share(name: str, profile: str, num_classes: int, features: str = "mean_std") -> dict:
    """Parameters of ``name`` at ``profile`` with ``num_classes`` classes, and the share of them
    in the classifier(s) (the parameters that grow with the vocabulary: the difference between
    the model at C and at 1 class, divided by (C - 1), times C)."""
    n = size_of(name, profile, num_classes, features)
    n1 = size_of(name, profile, 1, features)
    head = (n - n1) / (num_classes - 1) * num_classes if num_classes > 1 else 0
    return {"params": n, "head_params": int(round(head)), "head_share": head / n}


def vocabulary_experiment(root, profile: str, *, models=("fc_late", "attend_fusion"), sizes=None,
                          seeds=None, seed: int = 0, device: str = "cpu", progress: bool = True) -> pd.DataFrame:
    """Notebook 07: for each vocabulary size C, a synthetic set (``VOCAB_DATA[profile]``,
    generated once under ``root/data/C``), its store (``root/stores/C``), and ``models`` trained
    for ``seeds``. One row per (C, model, seed): params and head share at this profile and at
    paper size, and the validation metrics."""
    from afkit import store, synth

    root = Path(root)
    rows = []
    for c in (sizes or VOCABULARIES[profile]):
        data = root / "data" / str(c)
        synth.ensure_dataset(data, profile, seed, progress=False, num_classes=c, **VOCAB_DATA[profile])
        stores = root / "stores" / str(c)
        store.build(stores, data, feature_set="mean_std", splits=("train", "validate"), progress=False)
        grid = run_grid(specs(*models), stores, root / "runs" / str(c), profile, seeds,
                        progress=progress, device=device)
        for name in models:
            prof, paper = head_share(name, profile, c), head_share(name, "paper", c, "mean")
            g = grid[grid["label"] == name]
            for _, r in g.iterrows():
                rows.append({"num_classes": c, "model": name, "seed": r["seed"],
                             "params": prof["params"], "head_share": prof["head_share"],
                             "paper_params": paper["params"], "paper_head_share": paper["head_share"],
                             **{m: r[m] for m in METRIC_COLUMNS}})
    return pd.DataFrame(rows)


def vocabulary_summary(vocab: pd.DataFrame) -> pd.DataFrame:
    """Notebook 07's table: one row per (num_classes, model): sizes, head shares, and the mean
    and std over seeds of micro-F1 and GAP."""
    g = vocab.groupby(["num_classes", "model"], sort=True)
    out = g[["params", "head_share", "paper_params", "paper_head_share"]].first()
    for m in ("micro_f1", "gap"):
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_std"] = g[m].std(ddof=1).fillna(0.0)
    out["seeds"] = g["seed"].count()
    return out.reset_index()


# ------------------------------------------------------------------------- computed answers
# Student's t quantile t_{0.975, df}, df = 1..10 (from any t table); df > 10 uses the normal 1.96
# plus the first-order correction 2.4 / df, within 0.5% of the exact value.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def seed_ci(grid: pd.DataFrame, metric: str) -> list[float]:
    """Half-width of the 95% t-interval of ``metric``'s mean over seeds, per label (in the order
    of :func:`summarize`): t_{0.975, n-1} * s / sqrt(n); NaN with one seed."""
    out = []
    for _, g in grid.groupby("label", sort=False):
        n = len(g)
        t = _T975[n - 2] if 2 <= n <= 11 else 1.96 + 2.4 / (n - 1)
        out.append(float(t * g[metric].std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"))
    return out


def describe_ablation(summary: pd.DataFrame, source: str = "synthetic") -> str:
    """Notebook 05's answer in prose, computed from its summary."""
    s = summary.set_index("label")
    f = s["micro_f1_mean"]

    def delta(a, b):
        return 100 * (f[a] - f[b])

    late_a, late_n = "late + attention (attend_fusion)", "late, no attention"
    early_a, early_n = "early + attention", "early, no attention"
    matched = next(lab for lab in s.index if lab.startswith("fc_late matched"))
    best = f.idxmax()
    return (
        f"**Answer ({source} data, {int(s['seeds'].min())} seeds a model).** Attention adds "
        f"{delta(late_a, late_n):+.2f} points of micro-F1 in late fusion and {delta(early_a, early_n):+.2f} "
        f"in early fusion, at equal widths. Late fusion with attention vs early fusion with attention: "
        f"{delta(late_a, early_a):+.2f} points; the hybrid (cross-modal attention) vs late: "
        f"{delta('hybrid + attention (cross-modal)', late_a):+.2f}. At equal size, Attend-Fusion "
        f"({int(s.loc[late_a, 'params']):,} parameters) vs an FC late fusion shrunk to "
        f"{int(s.loc[matched, 'params']):,}: {delta(late_a, matched):+.2f} points; vs the full FC late "
        f"fusion ({int(s.loc['fc_late', 'params']):,}): {delta(late_a, 'fc_late'):+.2f}. The best arm "
        f"is `{best}` ({100 * f[best]:.2f}%). Seed standard deviations are "
        f"{100 * s['micro_f1_std'].min():.2f}–{100 * s['micro_f1_std'].max():.2f} points: differences "
        f"smaller than that are noise."
    )


def describe_sweep(summary: pd.DataFrame, source: str = "synthetic", chance_f1: float = 0.01) -> str:
    """Notebook 06's answer in prose, computed from its summary. Arms whose micro-F1 is below
    ``chance_f1`` (they did not learn at this budget) are named apart, not counted in the spread."""
    from afkit.plots import pareto_front

    s = summary.reset_index(drop=True)
    failed = s[s["micro_f1_mean"] < chance_f1]
    s = s[s["micro_f1_mean"] >= chance_f1].reset_index(drop=True)
    front = s.loc[pareto_front(s["params"].to_numpy(float), s["micro_f1_mean"].to_numpy(float)), "label"]
    base = s.set_index("label").loc["attend_fusion"]
    best = s.loc[s["micro_f1_mean"].idxmax()]
    spread = 100 * (s["micro_f1_mean"].max() - s["micro_f1_mean"].min())
    std = 100 * s["micro_f1_std"].max()
    text = (
        f"**Answer ({source} data).** Across {len(s)} attention configurations that learned, micro-F1 "
        f"spans {spread:.2f} points (the largest seed standard deviation is {std:.2f} points); the "
        f"default Attend-Fusion scores {100 * base['micro_f1_mean']:.2f}% with {int(base['params']):,} "
        f"parameters, the best is `{best['label']}` with {100 * best['micro_f1_mean']:.2f}% "
        f"({int(best['params']):,} parameters). On the Pareto front (size vs score): "
        f"{', '.join(f'`{x}`' for x in front)}. Heads change no parameter count; width and tokens do.")
    if len(failed):
        text += (f" Did not learn at this budget (micro-F1 below {100 * chance_f1:.0f}%): "
                 + ", ".join(f"`{x}`" for x in failed["label"]) + ".")
    return text


def describe_vocabulary(table: pd.DataFrame, source: str = "synthetic") -> str:
    """Notebook 07's answer in prose, computed from its table."""
    t = table.set_index(["num_classes", "model"])
    sizes = sorted(table["num_classes"].unique())
    lo, hi = sizes[0], sizes[-1]
    lines = []
    for m in table["model"].unique():
        lines.append(
            f"`{m}`: micro-F1 {100 * t.loc[(lo, m), 'micro_f1_mean']:.2f}% at {lo} classes → "
            f"{100 * t.loc[(hi, m), 'micro_f1_mean']:.2f}% at {hi}; GAP {100 * t.loc[(lo, m), 'gap_mean']:.2f}% → "
            f"{100 * t.loc[(hi, m), 'gap_mean']:.2f}%; at paper size its classifier holds "
            f"{100 * t.loc[(lo, m), 'paper_head_share']:.1f}% → {100 * t.loc[(hi, m), 'paper_head_share']:.1f}% "
            f"of the parameters ({t.loc[(lo, m), 'paper_params'] / 1e6:.1f}M → {t.loc[(hi, m), 'paper_params'] / 1e6:.1f}M).")
    ratio = [t.loc[(c, 'fc_late'), 'paper_params'] / t.loc[(c, 'attend_fusion'), 'paper_params'] for c in (lo, hi)]
    return (f"**Answer ({source} data for the scores; arithmetic for the sizes).** "
            + " ".join(lines)
            + f" The size ratio fc_late / attend_fusion at paper size goes from {ratio[0]:.2f}x at {lo} "
              f"classes to {ratio[1]:.2f}x at {hi}: the bigger the vocabulary, the more of both models "
              f"is the classifier, and the smaller Attend-Fusion's relative saving.")


# ------------------------------------------------------------------------- interpretability
def explain_inputs(spec: Spec, seed: int, store_dir, runs_dir, max_videos: int | None,
                   split: str = "validate", batch_size: int = 32):
    """(model, batches, ids) for notebook 08: a finished run's model in eval mode, the first
    ``max_videos`` videos of ``split`` as a list of frame batches (the store's own loader, in
    store order, every frame kept), and the store's ids."""
    from afkit import store as store_mod
    from afkit import train

    model, _ = train.load_run(run_dir(runs_dir, spec, seed))
    st = store_mod.open_store(Path(store_dir) / split)
    kind = "frames" if model.input_kind == "frame" else "features"
    loader = store_mod.StoreLoader(st, batch_size, shuffle=False, kind=kind)
    n = len(st) if max_videos is None else min(max_videos, len(st))
    batches = []
    for batch in loader.iter_epoch(0):
        batches.append(batch)
        if sum(len(b["index"]) for b in batches) >= n:
            break
    return model, batches, list(st.ids)


def ground_truth(split: str, data_dir):
    """(classes, spans) of the synthetic set (see :func:`afkit.synth.load_ground_truth`)."""
    from afkit import synth

    return synth.load_ground_truth(data_dir, split)
