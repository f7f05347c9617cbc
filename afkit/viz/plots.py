"""Figures: one style, one palette, plot functions that take arrays / DataFrames and return figures.

Every plot function here is pure: it takes numbers (numpy arrays, mappings, pandas DataFrames),
returns a :class:`matplotlib.figure.Figure` and does no I/O and no training. Only
:func:`save_figure` writes files. Each figure has labelled axes (with units where the quantity
has one), a title, and a caption in its lower left corner naming its data source
(``source="synthetic"`` by default: afkit's embedded data set; pass ``source="real"`` or a
description of the release for real data).

Colours are fixed, so that a model family or a modality has the same colour in every figure:

- modalities: visual (blue), audio (orange), fusion (green);
- model families: FC (grey), FCRN (light blue), FCRN + Context Gating (purple), Attend-Fusion
  (red); the paper's own reported numbers (real data) are black stars in a panel of their own
  titled "the paper (real data)", never on an axis of numbers measured on other data.

Usage (in a notebook)::

    from afkit.viz import plots
    from afkit.report.notebook import paths
    plots.set_style()
    fig = plots.plot_label_frequency(counts, source="synthetic")
    plots.save_figure(fig, "00_label_frequency", paths(out_dir).figures)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from afkit.core import paper as reported

__all__ = [
    "MODALITY_COLORS",
    "FAMILY_COLORS",
    "PAPER_COLOR",
    "paper_points",
    "set_style",
    "save_figure",
    "modality_of",
    "family_of",
    "model_color",
    "pareto_front",
    "plot_label_frequency",
    "plot_vertical_counts",
    "plot_frame_counts",
    "plot_feature_distributions",
    "plot_learning_curves",
    "plot_parameters_vs_width",
    "plot_comparison",
    "plot_pareto",
    "plot_vocabulary_scaling",
    "plot_attention_timeline",
    "plot_attention_timelines",
    "plot_deletion_curve",
    "plot_modality_share",
    "plot_token_readings",
]

# Colour-blind safe (Okabe-Ito hues), fixed per modality and per family.
MODALITY_COLORS = {"visual": "#0072B2", "audio": "#E69F00", "fusion": "#009E73"}
# explanation methods in a figure of their own (none of the modality colours)
METHOD_COLORS = ("#D55E00", "#CC79A7", "#56B4E9", "#000000")
FAMILY_COLORS = {
    "fc": "#7F7F7F",
    "fcrn": "#56B4E9",
    "fcrn_gated": "#9467BD",
    "attend_fusion": "#D55E00",
    "other": "#333333",
}
FAMILY_LABELS = {
    "fc": "FC",
    "fcrn": "FCRN",
    "fcrn_gated": "FCRN + gating",
    "attend_fusion": "Attend-Fusion",
    "other": "other",
}
PAPER_COLOR = "black"  # the paper's reported numbers (afkit.core.paper) are drawn in it

_SOURCE_TEXT = {
    "synthetic": "data: afkit's synthetic YouTube-8M-format set (not real YouTube-8M)",
    "real": "data: the YouTube-8M release",
}


# SVG ids (clip paths, glyphs) are hashes salted by ``svg.hashsalt`` (random per process when
# unset), and the SVG metadata carries the date: both are fixed so that a rerun writes the same
# bytes and leaves the tree clean apart from what really changed.
SVG_HASH_SALT = "afkit"
# Per format: the metadata each writer would otherwise stamp with the time of the run.
_STABLE_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}


def set_style(font_scale: float = 1.2) -> None:
    """Sets afkit's figure style: matplotlib's own ``seaborn-v0_8-whitegrid`` and ``-paper``
    style sheets (a light grid, small-paper sizes; seaborn itself is not needed), fonts scaled by
    ``font_scale``, the fixed palette, no top or right spine.

    Call once per notebook (idempotent). PNGs are saved at 150 dpi by :func:`save_figure`.
    """
    from matplotlib import cycler

    plt.style.use(["seaborn-v0_8-whitegrid", "seaborn-v0_8-paper"])
    plt.rcParams.update(
        {
            "font.size": 9.6 * font_scale,
            "axes.labelsize": 9.6 * font_scale,
            "xtick.labelsize": 8.8 * font_scale,
            "ytick.labelsize": 8.8 * font_scale,
            "legend.fontsize": 8.8 * font_scale,
            "axes.prop_cycle": cycler(
                color=list(MODALITY_COLORS.values()) + list(FAMILY_COLORS.values())[:4]
            ),
            "figure.figsize": (7.0, 4.2),
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "axes.titlesize": "large",
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "svg.fonttype": "none",  # text stays text in SVGs
            "svg.hashsalt": SVG_HASH_SALT,  # fixed ids: the same figure, the same bytes
        }
    )


def save_figure(
    fig,
    name: str,
    out_dir,
    formats: Sequence[str] = ("png", "svg"),
    dpi: int = 150,
    close: bool = False,
) -> list[Path]:
    """Writes ``fig`` as ``out_dir/name.<fmt>`` for each format; returns the paths written.

    ``name`` is a file stem (no directory, no extension): letters, digits, ``-``, ``_``, ``.``.
    PNGs are written at ``dpi`` (150 by default). ``close=True`` closes the figure afterwards.
    The bytes depend on the figure only: no date in the metadata, a fixed SVG hash salt.
    """
    if not name or any(ch in name for ch in "/\\") or name.startswith("."):
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    if isinstance(formats, str):
        formats = (formats,)
    known = set(fig.canvas.get_supported_filetypes())
    bad = [f for f in formats if f not in known]
    if bad or not formats:
        raise ValueError(f"unsupported figure format(s) {bad or formats!r}; one of {sorted(known)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with plt.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            metadata = _STABLE_METADATA.get(fmt)
            fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
            written.append(path)
    if close:
        plt.close(fig)
    return written


# ----------------------------------------------------------------------------- colours and names
def _norm(name: str) -> str:
    return str(name).strip().lower().replace("-", "_").replace(" ", "_").replace("+", "_")


def modality_of(name: str) -> str:
    """``"visual"``, ``"audio"`` or ``"fusion"`` for a feature block or series name.

    ``mean_rgb`` / ``rgb`` / ``visual`` -> visual; ``mean_audio`` / ``audio`` -> audio; anything
    else (``fused``, ``early``, ``late``, ``fusion``) -> fusion.
    """
    n = _norm(name)
    if "audio" in n:
        return "audio"
    if "rgb" in n or "visual" in n or "video" == n:
        return "visual"
    return "fusion"


def family_of(model: str) -> str:
    """The model family of a registered name or a display name.

    ``attend_fusion*`` / ``Attend-Fusion`` -> ``attend_fusion``; ``fcrn_gated_*`` /
    ``FCRN+gating`` -> ``fcrn_gated``; ``fcrn_*`` -> ``fcrn``; ``fc_*`` -> ``fc``; else ``other``.
    """
    n = _norm(model)
    if n.startswith("attend") or "attend_fusion" in n:
        return "attend_fusion"
    if n.startswith("fcrn") and "gat" in n:
        return "fcrn_gated"
    if n.startswith("fcrn"):
        return "fcrn"
    if n.startswith("fc"):
        return "fc"
    return "other"


def model_color(model: str) -> str:
    """The fixed colour of a model's family (see ``FAMILY_COLORS``)."""
    return FAMILY_COLORS[family_of(model)]


def _caption(fig, source: str) -> None:
    if not source:
        raise ValueError("source must name the data (e.g. 'synthetic' or 'real')")
    text = _SOURCE_TEXT.get(source, f"data: {source}")
    fig.text(
        0.0,
        -0.02,
        text,
        ha="left",
        va="top",
        fontsize="small",
        color="#555555",
        style="italic",
        transform=fig.transFigure,
    )


def _finish(fig, ax, title: str, xlabel: str, ylabel: str, source: str):
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _caption(fig, source)
    fig.tight_layout()
    return fig


def _new(ax=None, figsize=None):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def _require(df: pd.DataFrame, *cols: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"DataFrame lacks column(s) {missing}; has {list(df.columns)}")


def _array(x, name: str, ndim: int = 1) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    return a


# ----------------------------------------------------------------------------------- data plots
def plot_label_frequency(counts, *, source: str = "synthetic", ax=None):
    """Log-log rank plot of label frequency: counts sorted descending against rank 1..C.

    ``counts``: [C] videos per class (zeros are dropped: they have no place on a log axis).
    """
    c = _array(counts, "counts").astype(float)
    c = np.sort(c[c > 0])[::-1]
    if c.size == 0:
        raise ValueError("counts has no positive entry")
    fig, ax = _new(ax)
    ranks = np.arange(1, c.size + 1)
    ax.loglog(ranks, c, marker="o", ms=3, lw=1.2, color=MODALITY_COLORS["fusion"])
    return _finish(
        fig,
        ax,
        f"Label frequency ({c.size} classes with videos)",
        "class rank (1 = most frequent)",
        "videos per class",
        source,
    )


def plot_vertical_counts(counts, *, source: str = "synthetic", ax=None):
    """Horizontal bars of videos (or labels) per vertical, largest on top.

    ``counts``: mapping or ``pd.Series`` vertical name -> count.
    """
    s = (
        pd.Series(counts, dtype=float)
        if not isinstance(counts, pd.Series)
        else counts.astype(float)
    )
    if s.empty:
        raise ValueError("counts is empty")
    s = s.sort_values()
    fig, ax = _new(ax, figsize=(7.0, max(2.5, 0.3 * len(s) + 1)))
    ax.barh([str(i) for i in s.index], s.values, color=MODALITY_COLORS["fusion"])
    return _finish(fig, ax, "Labels per vertical", "labels (video-label pairs)", "vertical", source)


def plot_frame_counts(frame_counts, *, bins: int = 30, source: str = "synthetic", ax=None):
    """Histogram of frames per video (one frame per second of video; at most 300)."""
    n = _array(frame_counts, "frame_counts")
    fig, ax = _new(ax)
    ax.hist(n, bins=bins, color=MODALITY_COLORS["visual"], edgecolor="white")
    ax.axvline(np.median(n), color="black", ls="--", lw=1, label=f"median {np.median(n):.0f} s")
    ax.legend()
    return _finish(
        fig,
        ax,
        f"Video length ({n.size} videos)",
        "frames per video (1 frame = 1 s)",
        "videos",
        source,
    )


def plot_feature_distributions(
    blocks: Mapping[str, np.ndarray],
    *,
    bins: int = 60,
    max_values: int = 200_000,
    seed: int = 0,
    source: str = "synthetic",
):
    """One histogram panel per feature block, coloured by modality (density over all values).

    ``blocks``: block name -> array of any shape, e.g. ``{"mean_rgb": [N, 1024], "std_rgb": ...,
    "mean_audio": [N, 128], "std_audio": ...}``. At most ``max_values`` values per block are
    drawn (a seeded uniform subsample), so that large stores plot in a second.
    """
    if not blocks:
        raise ValueError("blocks is empty")
    rng = np.random.default_rng(seed)
    k = len(blocks)
    ncols = min(k, 2)
    nrows = int(np.ceil(k / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    # the grid may have one cell more than there are blocks (hidden below)
    for ax, (name, values) in zip(axes.flat, blocks.items(), strict=False):
        v = np.asarray(values, dtype=float).ravel()
        if v.size == 0:
            raise ValueError(f"block {name!r} is empty")
        if v.size > max_values:
            v = v[rng.choice(v.size, max_values, replace=False)]
        modality = modality_of(name)
        ax.hist(v, bins=bins, density=True, color=MODALITY_COLORS[modality], alpha=0.85)
        ax.set_title(f"{name} ({modality})", fontsize="medium")
        ax.set_xlabel("feature value (dequantized units)")
        ax.set_ylabel("density (1 / unit)")
    for ax in list(axes.flat)[k:]:
        ax.set_visible(False)
    fig.suptitle("Feature distributions per modality", fontweight="bold")
    _caption(fig, source)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ training plots
def plot_learning_curves(
    metrics: pd.DataFrame,
    *,
    x: str = "epoch",
    losses: Sequence[str] | None = None,
    metric: str | None = None,
    hue: str | None = None,
    source: str = "synthetic",
):
    """Two panels: loss per epoch (left), a metric per epoch (right).

    ``metrics``: one row per epoch (and per run when ``hue`` names a run/model column).
    ``losses`` defaults to every column whose name contains ``loss``; ``metric`` defaults to the
    first of ``val_micro_f1``, ``micro_f1``, ``val_f1``, ``f1``, ``val_gap``, ``gap`` present.
    """
    _require(metrics, x)
    losses = (
        list(losses) if losses is not None else [c for c in metrics.columns if "loss" in str(c)]
    )
    if not losses:
        raise KeyError(f"no loss column in {list(metrics.columns)}")
    if metric is None:
        metric = next(
            (
                c
                for c in ("val_micro_f1", "micro_f1", "val_f1", "f1", "val_gap", "gap")
                if c in metrics.columns
            ),
            None,
        )
        if metric is None:
            raise KeyError(f"no metric column found in {list(metrics.columns)}; pass metric=")
    _require(metrics, *losses, metric, *([hue] if hue else []))
    groups = list(metrics.groupby(hue, sort=False)) if hue else [(None, metrics)]
    fig, (ax_l, ax_m) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    styles = ["-", "--", ":", "-."]
    for key, df in groups:
        df = df.sort_values(x)
        color = (
            model_color(str(key)) if key is not None and family_of(str(key)) != "other" else None
        )
        for i, col in enumerate(losses):
            label = col if key is None else f"{key}: {col}"
            ax_l.plot(df[x], df[col], ls=styles[i % 4], marker="o", ms=3, color=color, label=label)
        label = metric if key is None else str(key)
        ax_m.plot(df[x], df[metric], marker="o", ms=3, color=color, label=label)
    ax_l.set(
        title="Training loss", xlabel=quantity(x), ylabel="binary cross-entropy (nats per class)"
    )
    ax_m.set(title=quantity(metric), xlabel=quantity(x), ylabel=quantity(metric))
    ax_l.legend(fontsize="small")
    ax_m.legend(fontsize="small")
    fig.suptitle("Learning curves", fontweight="bold")
    _caption(fig, source)
    fig.tight_layout()
    return fig


def plot_convergence(
    curves: pd.DataFrame, *, y: str = "val_gap", source: str = "synthetic", ax=None
):
    """Validation ``y`` per epoch of one run per ``label`` (``curves``: columns ``label``,
    ``epoch``, ``y``, ``lr``, ``stop_reason``): the rate cuts (where ``lr`` drops) as open
    circles, the last epoch as a cross when the plateau stop fired (converged) and as a
    filled square when the run reached its epoch cap (not converged)."""
    _require(curves, "label", "epoch", y, "lr", "stop_reason")
    fig, ax = _new(ax, figsize=(7.5, 4.2))
    for label, g in curves.groupby("label", sort=False):
        g = g.sort_values("epoch")
        model = str(label).split(" ")[0]
        color = model_color(model) if family_of(model) != "other" else None
        capped = g["stop_reason"].iloc[-1] != "early_stop"
        (line,) = ax.plot(
            g["epoch"],
            100 * g[y],
            lw=1.4,
            color=color,
            label=f"{label}{' (epoch cap: not converged)' if capped else ''}",
        )
        lr = g["lr"].to_numpy()
        cuts = g["epoch"].to_numpy()[1:][lr[1:] < lr[:-1]]
        at = g.set_index("epoch")[y]
        ax.plot(cuts, 100 * at.loc[cuts], "o", mfc="white", color=line.get_color(), ms=6)
        end = g.iloc[-1]
        ax.plot(end["epoch"], 100 * end[y], "s" if capped else "X", color=line.get_color(), ms=7)
    ax.legend(fontsize="x-small", loc="lower right")
    return _finish(
        fig,
        ax,
        "Convergence: validation curve of each arm's chosen run (o: rate cut; X: plateau stop)",
        "epoch",
        f"{quantity(y)} (%)",
        source,
    )


def plot_parameters_vs_width(  # noqa: PLR0913  (keyword-only plot options, as seaborn's)
    df: pd.DataFrame,
    *,
    x: str = "width",
    y: str = "parameters",
    hue: str = "model",
    paper: Mapping[str, float] | None = None,
    chosen: Mapping[str, float] | None = None,
    source: str = "arithmetic (no data)",
    ax=None,
):
    """Parameters against width per model (log y), the paper's 341M and 72M drawn as references.

    ``df``: columns ``x`` (width, units), ``y`` (parameter count), ``hue`` (model name).
    ``paper``: model -> the paper's reported count (default :data:`afkit.core.paper.PARAMETERS`),
    drawn as black dashed lines labelled "paper". ``chosen``: model -> width of our
    reconstruction, marked on its curve.
    """
    _require(df, x, y, hue)
    paper = reported.PARAMETERS if paper is None else paper
    fig, ax = _new(ax)
    for model, g in df.groupby(hue, sort=False):
        g = g.sort_values(x)
        ax.plot(g[x], g[y], marker="o", ms=3, color=model_color(str(model)), label=str(model))
        if chosen and model in chosen:
            w = chosen[model]
            p = np.interp(w, g[x].to_numpy(float), g[y].to_numpy(float))
            ax.plot([w], [p], marker="D", ms=8, mfc="none", mec=model_color(str(model)), mew=2)
    for key, value in paper.items():
        ax.axhline(value, color=PAPER_COLOR, ls="--", lw=1)
        ax.annotate(
            f"paper: {reported.MODEL_NAMES.get(key, key)} {value / 1e6:.0f}M",
            xy=(0.01, value),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize="small",
            color=PAPER_COLOR,
        )
    ax.set_yscale("log")
    ax.legend(fontsize="small", loc="lower right")
    return _finish(
        fig,
        ax,
        "Parameters against width",
        f"{quantity(x)} (units per layer)",
        "parameters (count, log scale)",
        source,
    )


# ---------------------------------------------------------------------------- comparison plots
# what a column measures, in words (figure titles and axis labels)
QUANTITIES = {
    "micro_f1": "test micro-F1",
    "micro_f1_pct": "test micro-F1",
    "gap": "test GAP@20",
    "gap_pct": "test GAP@20",
    "map": "test mAP",
    "params": "parameters",
    "paper_params": "parameters at paper size",
    "parameters": "parameters",
    "flops": "FLOPs a video",
    "num_classes": "classes",
    "epoch": "epoch",
    "step": "training step",
    "val_micro_f1": "validation micro-F1",
    "val_gap": "validation GAP@20",
    "val_map": "validation mAP",
    "width": "width",
    "paper_head_share_pct": "head's share of parameters at paper size",
    "head_share_pct": "head's share of parameters",
}


def quantity(column: str) -> str:
    """A column's quantity in words: ``micro_f1`` -> "test micro-F1" (else the name, spaced)."""
    return QUANTITIES.get(column, column.replace("_", " "))


def _paper_panel(ax, ypos: dict, paper: Mapping[str, float], xlabel: str) -> None:
    """The paper's reported values (real data) in their own panel beside ours, at the rows of
    the same models: never on the axis of numbers measured on other data."""
    for m, v in paper.items():
        ax.plot([v], [ypos[m]], marker="*", ms=13, ls="none", color=PAPER_COLOR)
        ax.annotate(
            f"{v:.2f}", (v, ypos[m]), xytext=(6, 4), textcoords="offset points", fontsize="small"
        )
    lo, hi = min(paper.values()), max(paper.values())
    ax.set_xlim(lo - max(1.0, 0.2 * (hi - lo)), hi + max(1.6, 0.4 * (hi - lo)))
    ax.set_title("the paper (real data)", fontsize="medium")
    ax.set_xlabel(f"reported, {xlabel}")
    ax.set_ylabel("model (rows as on the left)")
    ax.yaxis.set_label_position("right")
    ax.tick_params(axis="y", left=False, labelleft=False)


def plot_comparison(  # noqa: PLR0913  (keyword-only plot options, as seaborn's)
    df: pd.DataFrame,
    *,
    model: str = "model",
    value: str = "micro_f1",
    seed: str | None = "seed",
    paper: Mapping[str, float] | None = None,
    spread: str = "std",
    unit: str = "%",
    source: str = "synthetic",
    ax=None,
):
    """Dot plot per model: mean over seeds with error bars (the spread, where there are several
    seeds), each seed as a faint dot.

    ``spread``: ``"std"`` (mean ± sample standard deviation, ddof=1) or ``"range"`` (min..max).
    ``paper``: model -> the paper's reported value (real data, in ``df[value]``'s unit), drawn
    as black stars in a separate panel on the right, at the same rows: the paper's numbers
    never share an axis with ours (``ax`` must then be None).
    """
    _require(df, model, value)
    if spread not in ("std", "range"):
        raise ValueError(f"spread must be 'std' or 'range', got {spread!r}")
    paper = dict(paper or {})
    stats = df.groupby(model, sort=False)[value].agg(["mean", "std", "min", "max", "count"])
    stats = stats.sort_values("mean")
    height = max(2.5, 0.4 * (len(stats) + len(set(paper) - set(stats.index))) + 1.2)
    if paper:
        if ax is not None:
            raise ValueError(
                "plot_comparison draws the paper's values in a panel of its own: "
                "pass ax=None with paper="
            )
        fig, (ax, pax) = plt.subplots(
            1, 2, figsize=(8.4, height), sharey=True, gridspec_kw={"width_ratios": [4, 1]}
        )
    else:
        fig, ax = _new(ax, figsize=(7.0, height))
    ypos = {m: i for i, m in enumerate(stats.index)}
    for m in paper:
        ypos.setdefault(m, len(ypos))
    for m, row in stats.iterrows():
        if spread == "std":
            err = np.array([[row["std"] if row["count"] > 1 else 0.0]] * 2)
        else:
            err = np.array([[row["mean"] - row["min"]], [row["max"] - row["mean"]]])
        ax.errorbar(
            row["mean"], ypos[m], xerr=err, fmt="o", ms=7, capsize=4, color=model_color(str(m))
        )
        if seed is not None and seed in df.columns:
            pts = df.loc[df[model] == m, value]
            ax.plot(pts, [ypos[m]] * len(pts), "o", ms=3, alpha=0.4, color=model_color(str(m)))
    ax.set_yticks(list(ypos.values()), [str(k) for k in ypos])
    n = int(stats["count"].max())
    what = "mean ± std" if spread == "std" else "mean, min to max"
    name = quantity(value)
    xlabel = f"{name} ({unit})" if unit else name
    seeds = f"over {n} seeds" if n > 1 else "one seed"
    title = f"{name[0].upper() + name[1:]} per model ({what}, {seeds})"
    if paper:  # the title over both panels; each panel says whose numbers it holds
        _paper_panel(pax, ypos, paper, xlabel)
        fig.suptitle(title, x=0.02, ha="left", fontweight="bold")
        title = "ours"
    return _finish(fig, ax, title, xlabel, "model", source)


def pareto_front(cost, score) -> np.ndarray:
    """Boolean mask [N] of the Pareto-optimal points: minimal ``cost``, maximal ``score``.

    A point is on the front iff no other point has ``cost <=`` and ``score >=`` with one strict.
    Duplicated points are all on the front (neither dominates the other).
    """
    c = np.asarray(cost, dtype=float)
    s = np.asarray(score, dtype=float)
    if c.shape != s.shape or c.ndim != 1:
        raise ValueError(f"cost and score must be 1-D of one shape, got {c.shape} and {s.shape}")
    le = c[None, :] <= c[:, None]  # [i, j]: j costs no more than i
    ge = s[None, :] >= s[:, None]
    strict = (c[None, :] < c[:, None]) | (s[None, :] > s[:, None])
    dominated = (le & ge & strict).any(axis=1)
    return ~dominated


def paper_points() -> pd.DataFrame:
    """The paper's reported models as points for :func:`plot_pareto` on a paper-size axis:
    ``label``, ``paper_params``, ``micro_f1_pct`` (real data, :mod:`afkit.core.paper`)."""
    return pd.DataFrame(
        {
            "label": [f"{reported.MODEL_NAMES[m]} (paper)" for m in reported.F1_PCT],
            "paper_params": [float(reported.PARAMETERS[m]) for m in reported.F1_PCT],
            "micro_f1_pct": list(reported.F1_PCT.values()),
        }
    )


def plot_pareto(  # noqa: PLR0913  (keyword-only plot options, as seaborn's)
    df: pd.DataFrame,
    *,
    x: str = "parameters",
    y: str = "micro_f1",
    label: str = "model",
    paper: pd.DataFrame | None = None,
    logx: bool = True,
    xunit: str = "count",
    yunit: str = "%",
    source: str = "synthetic",
    front: bool = True,
    ax=None,
):
    """Score against cost, one dot per configuration, with the Pareto front as a step line
    (``front=False``: the dots only, e.g. when no front member differs beyond noise).

    ``paper``: optional DataFrame with the same ``x``, ``y``, ``label`` columns (e.g.
    :func:`paper_points`, the paper's real-data numbers), drawn as black stars in a panel of
    its own beside ours (same x axis, its own y axis): never on the axis of our numbers
    (``ax`` must then be None).
    """
    _require(df, x, y, label)
    if paper is not None and len(paper):
        _require(paper, x, y, label)
        if ax is not None:
            raise ValueError(
                "plot_pareto draws the paper's points in a panel of its own: "
                "pass ax=None with paper="
            )
        fig, (ax, pax) = plt.subplots(
            1, 2, figsize=(10.0, 4.2), sharex=True, gridspec_kw={"width_ratios": [3, 1.4]}
        )
    else:
        fig, ax = _new(ax)
        pax = None
    for lab, g in df.groupby(label, sort=False):
        ax.scatter(g[x], g[y], s=30, color=model_color(str(lab)), label=str(lab), zorder=3)
    if front:
        on = df.loc[pareto_front(df[x].to_numpy(float), df[y].to_numpy(float))].sort_values(x)
        ax.step(on[x], on[y], where="post", color="black", lw=1.2, label="Pareto front", zorder=2)
    xlabel = f"{quantity(x)} ({xunit}{', log scale' if logx else ''})"
    if pax is not None:
        pax.scatter(paper[x], paper[y], marker="*", s=160, color=PAPER_COLOR, zorder=4)
        for _, r in paper.iterrows():
            pax.annotate(
                str(r[label]),
                (r[x], r[y]),
                xytext=(6, 4),
                textcoords="offset points",
                fontsize="small",
            )
        pad = max(1.0, 0.5 * float(paper[y].max() - paper[y].min()))
        pax.set_ylim(float(paper[y].min()) - pad, float(paper[y].max()) + pad)
        pax.set_title("the paper (real data)", fontsize="medium")
        pax.set_xlabel(xlabel)
        pax.set_ylabel(f"{quantity(y)}, real data ({yunit})")
    if logx:
        ax.set_xscale("log")
    ax.legend(fontsize="small", loc="best")
    title = f"{quantity(y)[0].upper() + quantity(y)[1:]} against {quantity(x)}" + (
        ", Pareto front" if front else ""
    )
    if pax is not None:  # the title over both panels; each panel says whose numbers it holds
        fig.suptitle(title, x=0.02, ha="left", fontweight="bold")
        title = "ours"
    return _finish(fig, ax, title, xlabel, f"{quantity(y)} ({yunit})", source)


def plot_readings(
    table: pd.DataFrame,
    *,
    references: pd.DataFrame | None = None,
    x: str = "params",
    source: str = "synthetic",
    ax=None,
):
    """Notebook 10: test GAP (%) against parameters, one colour per reading of the attention;
    a filled dot with the attention, a hollow one at its attention-off twin, joined by a line.

    ``table``: :func:`afkit.studies.arms.readings_results` (columns ``reading``, ``x``,
    ``gap_on``, ``gap_off``, ``off_params``); ``references``: optional rows (``label``, ``x``,
    ``gap_pct``) drawn as black squares (e.g. fc_late and its size-matched twin).
    """
    _require(table, "reading", x, "gap_on", "gap_off", "off_params")
    fig, ax = _new(ax)
    colors = plt.get_cmap("tab10").colors
    for i, r in enumerate(table.itertuples()):
        c = colors[i % len(colors)]
        xo, xa = float(r.off_params), float(getattr(r, x))
        ax.plot([xo, xa], [r.gap_off, r.gap_on], color=c, lw=1, zorder=2)
        ax.scatter([xa], [r.gap_on], color=c, s=40, zorder=3, label=f"{r.reading} (attention on)")
        ax.scatter([xo], [r.gap_off], facecolors="none", edgecolors=[c], s=40, zorder=3)
    if references is not None and len(references):
        _require(references, "label", x, "gap_pct")
        ax.scatter(references[x], references["gap_pct"], marker="s", color="black", s=36, zorder=4)
        for _, r in references.iterrows():
            ax.annotate(
                str(r["label"]),
                (r[x], r["gap_pct"]),
                xytext=(6, 4),
                textcoords="offset points",
                fontsize="small",
            )
    ax.scatter([], [], facecolors="none", edgecolors="grey", label="attention off (hollow)")
    ax.set_xscale("log")
    ax.legend(fontsize="small", loc="best")
    return _finish(
        fig,
        ax,
        "Readings of the attention: test GAP against parameters",
        f"{quantity(x)} (count, log scale)",
        "test GAP@20 (%)",
        source,
    )


def plot_vocabulary_scaling(  # noqa: PLR0913  (keyword-only plot options, as seaborn's)
    df: pd.DataFrame,
    *,
    x: str = "num_classes",
    y: str = "micro_f1",
    hue: str = "model",
    yunit: str = "%",
    logy: bool = False,
    source: str = "synthetic",
    ax=None,
):
    """``y`` against vocabulary size per model (log x), with the 3862 (2018) and 4716
    (2017) vocabularies marked."""
    _require(df, x, y, hue)
    fig, ax = _new(ax)
    for model, g in df.groupby(hue, sort=False):
        g = g.groupby(x, as_index=False)[y].mean().sort_values(x)
        ax.plot(g[x], g[y], marker="o", color=model_color(str(model)), label=str(model))
    for v, name in ((3862, "2018: 3862"), (4716, "2017: 4716")):
        ax.axvline(v, color="#999999", ls=":", lw=1)
        ax.annotate(
            name,
            xy=(v, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize="x-small",
            color="#555555",
        )
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _finish(
        fig,
        ax,
        f"{quantity(y)[0].upper() + quantity(y)[1:]} against vocabulary size",
        "vocabulary size (classes, log scale)",
        f"{quantity(y)} ({yunit})" if yunit else quantity(y),
        source,
    )


# -------------------------------------------------------------------------- interpretability
def plot_attention_timeline(  # noqa: PLR0913  (keyword-only plot options, as seaborn's)
    scores: Mapping[str, np.ndarray],
    spans: Sequence[tuple[float, float]] = (),
    *,
    span_label: str = "true evidence",
    title: str = "Evidence timeline",
    ylabel: str = "score (normalised to sum 1 per series)",
    normalise: bool = True,
    source: str = "synthetic",
    ax=None,
):
    """Per-frame score lines (one per series, coloured by modality) over shaded true spans.

    ``scores``: series name -> [T] per-frame scores, e.g. ``{"attention (visual)": w_v,
    "attention (audio)": w_a}``; the modality (hence colour) is read from the name. Series of a
    second method for the same modality are dashed. ``spans``: ``(start, end)`` frame intervals
    (end exclusive) of the true evidence, shaded. ``normalise`` divides each series by its sum
    (absolute values), so that series of different methods share one axis.
    """
    if not scores:
        raise ValueError("scores is empty")
    fig, ax = _new(ax, figsize=(9.0, 3.4))
    seen: dict[str, int] = {}
    length = 0
    for name, values in scores.items():
        v = _array(values, f"scores[{name!r}]").astype(float)
        if normalise:
            total = np.abs(v).sum()
            v = np.abs(v) / total if total > 0 else v
        length = max(length, v.size)
        modality = modality_of(name)
        k = seen.get(modality, 0)
        seen[modality] = k + 1
        ax.plot(
            np.arange(v.size),
            v,
            color=MODALITY_COLORS[modality],
            ls=["-", "--", ":", "-."][k % 4],
            lw=1.5,
            label=name,
        )
    for i, (start, end) in enumerate(spans):
        if not 0 <= start < end:
            raise ValueError(f"span {(start, end)} must satisfy 0 <= start < end")
        ax.axvspan(
            start - 0.5,
            end - 0.5,
            color="#999999",
            alpha=0.25,
            lw=0,
            label=span_label if i == 0 else None,
        )
    ax.set_xlim(-0.5, length - 0.5)
    ax.legend(fontsize="small", loc="upper right")
    return _finish(fig, ax, title, "frame (1 frame = 1 s)", ylabel, source)


def plot_attention_timelines(panels: Sequence[Mapping], *, source: str = "synthetic"):
    """One row per video: :func:`plot_attention_timeline` of its ``scores`` over its shaded
    ``spans`` (frames with visual evidence), with its ``audio_frames`` (frames with audio
    evidence) as orange ticks under the curves, titled by its ``title``; one caption."""
    if not panels:
        raise ValueError("panels is empty")
    fig, axes = plt.subplots(len(panels), 1, figsize=(9.0, 2.6 * len(panels) + 0.6), squeeze=False)
    for ax, p in zip(axes[:, 0], panels, strict=True):
        plot_attention_timeline(
            p["scores"],
            p.get("spans", ()),
            span_label="visual evidence",
            title=p.get("title", ""),
            ylabel="weight (sums to 1)",
            source=source,
            ax=ax,
        )
        frames = np.asarray(p.get("audio_frames", ()), dtype=float)
        if frames.size:
            ax.plot(
                frames,
                np.zeros_like(frames),
                "|",
                color=MODALITY_COLORS["audio"],
                ms=10,
                mew=2,
                label="audio evidence",
                transform=ax.get_xaxis_transform(),
                clip_on=False,
            )
            ax.legend(fontsize="small", loc="upper right")
    for t in fig.texts[:-1]:  # each panel captioned its source: keep one caption
        t.remove()
    fig.tight_layout()
    return fig


def plot_deletion_curve(
    df: pd.DataFrame,
    *,
    k: str = "k",
    method: str = "method",
    top: str = "mean_drop_top",
    random: str = "mean_drop_random",
    source: str = "synthetic",
    ax=None,
):
    """Deletion curve: the drop of the label's logit when each method's ``k`` top-scored frames
    are deleted (solid, one line a method, with the difference's interval ``ci_low``/``ci_high``
    around the random line where given) against ``k`` random frames (dashed grey), per ``k``."""
    _require(df, k, method, top, random)
    if df.empty:
        raise ValueError("df is empty")
    fig, ax = _new(ax, figsize=(6.4, 4.0))
    rnd = df.groupby(k)[random].mean().sort_index()
    ax.plot(rnd.index, rnd.to_numpy(), "--", color="#7F7F7F", marker="o", label="random frames")
    for i, (name, g) in enumerate(df.groupby(method, sort=False)):
        g = g.sort_values(k)
        color = METHOD_COLORS[i % len(METHOD_COLORS)]
        ax.plot(g[k], g[top], "-", marker="o", color=color, label=f"top frames: {name}")
        if {"ci_low", "ci_high"} <= set(g.columns):
            base = g[random].to_numpy()
            ax.fill_between(
                g[k], base + g["ci_low"], base + g["ci_high"], color=color, alpha=0.15, lw=0
            )
    ax.legend(fontsize="small")
    return _finish(
        fig,
        ax,
        "Deletion: top-scored vs random frames",
        "frames deleted (k)",
        "drop of the label's logit",
        source,
    )


def plot_modality_share(
    df: pd.DataFrame,
    *,
    label: str = "class",
    share: str = "audio_share",
    truth: str | None = "true_audio_share",
    source: str = "synthetic",
    ax=None,
):
    """Per class: the estimated audio share (orange) and visual share (blue) as one stacked bar,
    the true audio share as a black diamond.

    ``df``: columns ``label``, ``share`` (in [0, 1]) and optionally ``truth`` (in [0, 1], or one
    of ``"audio"``, ``"visual"``, ``"both"`` meaning 1, 0, 0.5).
    """
    _require(df, label, share, *([truth] if truth else []))
    s = df[share].to_numpy(float)
    if np.any((s < 0) | (s > 1)) or np.isnan(s).any():
        raise ValueError(f"column {share!r} must lie in [0, 1]")
    fig, ax = _new(ax, figsize=(7.0, max(2.5, 0.35 * len(df) + 1.2)))
    names = [str(v) for v in df[label]]
    y = np.arange(len(df))
    ax.barh(y, s, color=MODALITY_COLORS["audio"], label="audio share")
    ax.barh(y, 1 - s, left=s, color=MODALITY_COLORS["visual"], label="visual share")
    if truth:
        t = (
            df[truth]
            .map(lambda v: {"audio": 1.0, "visual": 0.0, "both": 0.5}.get(v, v))
            .astype(float)
        )
        ax.plot(t, y, "D", color="black", ms=6, label="true audio share")
    ax.set_yticks(y, names)
    ax.set_xlim(0, 1)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _finish(
        fig,
        ax,
        "Modality share per class",
        "share of the evidence (fraction, 0..1)",
        "class",
        source,
    )


# ----------------------------------------------------------------------------------------------
# readings (notebook 08)
TRUE_MODALITIES = ("visual", "audio", "both")


def _weight_panel(ax, classes: pd.DataFrame) -> None:
    """Per class, the modality tokens' audio weight grouped by the class's true modality."""
    groups = [
        classes.loc[(classes["modality"] == m) & classes["audio_weight"].notna(), "audio_weight"]
        for m in TRUE_MODALITIES
    ]
    shown = [(i, g.to_numpy(float)) for i, g in enumerate(groups) if len(g)]
    if shown:
        ax.boxplot(
            [g for _, g in shown],
            positions=[i for i, _ in shown],
            widths=0.5,
            showfliers=False,
            medianprops={"color": "black"},
        )
    rng = np.random.default_rng(0)  # fixed jitter: the same figure on every run
    for i, g in shown:
        color = MODALITY_COLORS["fusion" if TRUE_MODALITIES[i] == "both" else TRUE_MODALITIES[i]]
        x = i + rng.uniform(-0.15, 0.15, len(g))
        ax.scatter(x, g, s=12, alpha=0.6, color=color, label=f"{TRUE_MODALITIES[i]} classes")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--", label="uniform attention (0.5)")
    ax.set_xticks(range(len(TRUE_MODALITIES)), TRUE_MODALITIES)
    ax.set_ylim(0, 1)
    ax.set_title("Modality tokens: weight on audio", fontsize="medium")
    ax.set_xlabel("the class's true modality")
    ax.set_ylabel("mean audio weight per class (0..1)")
    if not shown:
        ax.text(0.5, 0.5, "not read", ha="center", va="center", transform=ax.transAxes)


def _spread_panel(ax, classes: pd.DataFrame) -> None:
    """Per class and modality, the MF/STD tokens' spread weight against the data's truth share
    (only the classes whose evidence is in that modality)."""
    drawn = False
    for m in ("visual", "audio"):
        x, y = classes.get(f"truth_share_{m}"), classes.get(f"spread_weight_{m}")
        if x is None or y is None:
            continue
        sel = classes["modality"].isin([m, "both"]) & x.notna() & y.notna()
        if sel.any():
            ax.scatter(
                x[sel], y[sel], s=12, alpha=0.6, color=MODALITY_COLORS[m], label=f"{m} tokens"
            )
            drawn = True
    ax.axhline(0.5, color="grey", lw=0.8, ls="--", label="uniform attention (0.5)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1)
    ax.set_title("MF/STD tokens: weight on spread (STD)", fontsize="medium")
    ax.set_xlabel("the class's spread share in the data (0..1)")
    ax.set_ylabel("mean spread weight per class (0..1)")
    if drawn:
        ax.legend(fontsize="small", loc="lower left")
    else:
        ax.text(0.5, 0.6, "not read", ha="center", va="center", transform=ax.transAxes)


def plot_token_readings(classes: pd.DataFrame, *, source: str = "synthetic", note: str = ""):
    """Notebook 08: the video-level attention weights per class against the truth.

    Left: the modality tokens' mean audio weight per class (a box and the classes as dots) by
    the class's true modality (visual / audio / both). Right: the MF/STD tokens' mean spread
    weight per class against the class's spread share in the data, per modality (a class only
    where its evidence lies in that modality). ``classes``:
    :func:`afkit.interpret.readings.class_table` (columns ``modality``, ``audio_weight``,
    ``spread_weight_visual``, ``spread_weight_audio``, ``truth_share_visual``,
    ``truth_share_audio``; NaN where not read). ``note`` (e.g. each run's convergence) is added
    to the title, which names the data (synthetic or real).
    """
    data = "synthetic data" if source == "synthetic" else f"{source} data"
    if isinstance(classes, pd.DataFrame) and classes.empty:  # real data: no truth to read against
        fig, ax = plt.subplots(figsize=(7.0, 2.4))
        ax.axis("off")
        ax.text(0.5, 0.5, "No ground truth: the weights are not scored.", ha="center", va="center")
        fig.suptitle(f"Video-level attention weights per class ({data})")
        _caption(fig, source)
        return fig
    _require(classes, "modality", "audio_weight")
    for col in ("audio_weight", "spread_weight_visual", "spread_weight_audio"):
        if col in classes.columns:
            v = classes[col].to_numpy(float)
            if np.any((v[~np.isnan(v)] < 0) | (v[~np.isnan(v)] > 1)):
                raise ValueError(f"column {col!r} must lie in [0, 1]")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.6))
    _weight_panel(left, classes)
    _spread_panel(right, classes)
    fig.suptitle(
        f"Video-level attention weights per class against the truth ({data})"
        + (f"\n{note}" if note else "")
    )
    _caption(fig, source)
    fig.tight_layout()
    return fig
