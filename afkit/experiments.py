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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

METRIC_COLUMNS = ("micro_f1", "macro_f1", "gap", "map", "hit_at_one", "perr")

# seeds per profile (the paper profile is for a GPU and the real release)
SEEDS = {"smoke": (0, 1), "cpu": (0, 1, 2), "paper": (0, 1, 2)}


@dataclass(frozen=True)
class Spec:
    """One arm of an experiment: ``label`` names it in tables, ``model`` is a registry name,
    ``overrides`` go to :func:`afkit.models.build` (e.g. ``heads=8``), ``train`` to the
    :class:`afkit.train.TrainConfig` (e.g. ``features="mean"``)."""

    label: str
    model: str
    overrides: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)

    def __hash__(self):  # dict fields: hash the label, which is unique within an experiment
        return hash(self.label)


def specs(*models: str) -> list[Spec]:
    """Specs for registered models with no overrides, labelled by their names."""
    return [Spec(m, m) for m in models]


def model_size(spec: Spec, profile: str, num_classes: int | None = None, features: str | None = None) -> dict:
    """Parameters and forward FLOPs per video of a spec at ``profile`` size, built on the meta
    device (no memory). FLOPs of frame-level models are counted at 300 frames."""
    import torch

    from afkit import models

    overrides = dict(spec.overrides)
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    feats = spec.train.get("features", features)
    if feats is not None and "features" in _config_fields(spec.model):
        overrides.setdefault("features", feats)
    with torch.device("meta"):
        model = models.build(spec.model, profile, device="meta", **overrides)
    return {"params": models.count_parameters(model), "flops": models.forward_flops(model)}


def _config_fields(name: str) -> set[str]:
    from dataclasses import fields as dc_fields

    from afkit import models

    return {f.name for f in dc_fields(models.model_config(name, "smoke"))}


def run_dir(runs_dir, spec: Spec, seed: int) -> Path:
    return Path(runs_dir) / spec.label / f"seed{seed}"


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
    rows, sizes = [], {}
    bar = tqdm(jobs, desc="runs", disable=not progress)
    for spec, seed in bar:
        bar.set_postfix_str(f"{spec.label} seed {seed}")
        res = train_one(spec, seed, store_dir, runs_dir, profile,
                        progress=False, **train_overrides)
        if spec.label not in sizes:
            feats = res["config"].get("features")
            num_classes = res["config"].get("model_overrides", {}).get("num_classes")
            prof = model_size(spec, profile, num_classes=_trained_classes(res, num_classes), features=feats)
            paper = model_size(spec, "paper", features=feats)
            sizes[spec.label] = {"flops": prof["flops"], "paper_params": paper["params"],
                                 "paper_flops": paper["flops"]}
        final = res["final"]
        rows.append({"label": spec.label, "model": spec.model, "seed": seed,
                     "params": res["num_parameters"], **sizes[spec.label],
                     **{m: final.get(m) for m in METRIC_COLUMNS},
                     "train_seconds": res["train_seconds"], "videos_per_s": res.get("videos_per_s")})
    return pd.DataFrame(rows)


def _trained_classes(results: dict, fallback):
    args = results.get("model_args") or {}
    return args.get("num_classes", fallback) or results.get("num_classes")


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


def _per_video_counts(scores: np.ndarray, labels: list[np.ndarray], threshold: float) -> np.ndarray:
    """Per video [TP, FP, FN] at ``threshold`` (predicted positive iff score >= threshold)."""
    pred = scores >= threshold
    n = len(labels)
    tp = np.zeros(n)
    for i, lab in enumerate(labels):
        if len(lab):
            tp[i] = pred[i, lab].sum()
    npred = pred.sum(1)
    npos = np.array([len(lab) for lab in labels], dtype=float)
    return np.stack([tp, npred - tp, npos - tp], 1)


def bootstrap_difference(a: Spec, b: Spec, store_dir, runs_dir, seeds, *, n_boot: int = 1000,
                         threshold: float = 0.5, seed: int = 0, split: str = "validate") -> dict:
    """Paired bootstrap of micro-F1(a) - micro-F1(b) on the same videos.

    micro-F1 = 2 TP / (2 TP + FP + FN), summed over videos and classes. Each resample draws N
    videos with replacement (the same draw for both models) and averages each model's micro-F1
    over its seeds; returns ``diff`` (on the full set), ``lo`` / ``hi`` (the 2.5% and 97.5%
    percentiles), ``p_a_better`` (the fraction of resamples with a > b) and ``n_videos``.
    """
    counts = {}
    for spec in (a, b):
        per_seed = []
        for k in seeds:
            _, scores, labels = validation_scores(spec, k, store_dir, runs_dir, split)
            per_seed.append(_per_video_counts(scores, labels, threshold))
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
