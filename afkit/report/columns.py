"""How the report shows a table's columns: a header a reader understands, with its unit, and
cells in that unit (one unit per quantity: percent for the metrics, thousands separators for
parameter counts, "—" where a spread was not measured).

The CSV files keep their machine-readable column names and raw values (fractions, plain
integers); :func:`humanize` is applied only when a table is rendered. A metric stored as a
fraction (``gap``, ``micro_f1_tuned_mean``, ...) is shown in percent; one stored in percent or in
percentage points already (``gap_pct``, ``gap_diff``, ...) is shown as it is, with that unit.
"""

from __future__ import annotations

import math
import re

# metric -> its name for a reader (stored as a fraction in [0, 1])
FRACTION_METRICS = {
    "gap": "GAP@20",
    "map": "mAP",
    "hit_at_one": "Hit@1",
    "perr": "PERR",
    "micro_f1": "micro-F1 at 0.5",
    "micro_f1_tuned": "micro-F1 at the validate threshold",
    "macro_f1": "macro-F1",
    "best_f1": "best micro-F1",
    "accuracy": "accuracy",
    "head_share": "classifier head's share of parameters",
    "paper_head_share": "head's share at paper size",
    "share_of_labels": "share of labels",
    "mean_visual_share": "mean visual share",
    "prior_gap": "class-frequency predictor's GAP@20",
    "reference_gap": "logistic regression's GAP@20",
    "classes_unseen": "share of classes with no training video",
    "frac_top_greater": "videos where the top frames matter more",
    "learned_bar": "learned bar: GAP@20 an arm must reach",
    "plateau_gain": "rise of the best validation GAP@20 over the last patience epochs",
}
# already in percent (a level) or in percentage points (a difference)
PERCENT = {
    "gap_pct": "GAP@20",
    "micro_f1_pct": "micro-F1 at the validate threshold",
    "gap_on": "GAP@20, attention on",
    "gap_off": "GAP@20, attention off",
    "micro_f1_on": "micro-F1, attention on",
    "micro_f1_off": "micro-F1, attention off",
    "f1_af": "micro-F1, Attend-Fusion",
    "f1_fc": "micro-F1, FC late fusion",
    "gap_af": "GAP@20, Attend-Fusion",
    "gap_fc": "GAP@20, FC late fusion",
    "reference_gap": "logistic regression's GAP@20",
    "probe_gap_mf": "linear probe GAP@20 on MF",
    "probe_gap_mfstd": "linear probe GAP@20 on MF+STD",
    "std_share": "STD share of label information",
    "paper_f1_pct": "the paper's F1, real data",
    "error_pct": "off the target by",
}
POINTS = {
    "gap_diff": "GAP@20 difference",
    "gap_lo": "GAP@20 difference, 95% low",
    "gap_hi": "GAP@20 difference, 95% high",
    "micro_f1_diff": "micro-F1 difference",
    "micro_f1_lo": "micro-F1 difference, 95% low",
    "micro_f1_hi": "micro-F1 difference, 95% high",
    "f1_diff": "micro-F1 difference",
    "f1_lo": "micro-F1 difference, 95% low",
    "f1_hi": "micro-F1 difference, 95% high",
    "diff_points": "difference",
    "gap_minus_fc_late": "GAP@20 minus FC late fusion's",
}
PARAMETERS = {
    "params": "parameters",
    "paper_params": "parameters at paper size",
    "paper_reported_params": "parameters reported by the paper",
    "closed_form": "parameters (closed form)",
    "attention_params": "attention parameters",
    "off_params": "parameters, attention off",
    "params_af": "parameters, Attend-Fusion",
    "params_fc": "parameters, FC late fusion",
    "fc_late_params": "FC late fusion parameters",
    "attend_fusion_params": "Attend-Fusion parameters",
    "parameters": "parameters",
    "flops": "FLOPs a video",
    "paper_flops": "FLOPs a video at paper size",
}
SECONDS = {
    "train_seconds": "training time",
    "epoch_seconds": "epoch time",
    "val_eval_seconds": "validation time",
    "seconds": "time",
}
NAMES = {  # other columns: a plain name (no unit, or one given here)
    "label": "arm",
    "lr": "learning rate",
    "seeds": "seeds",
    "learned": "learned",
    "num_classes": "classes",
    "n_videos": "test videos",
    "n": "videos",
    "best_epoch": "best epoch",
    "epochs_run": "epochs run",
    "videos_per_s": "videos/s",
    "val_videos_per_s": "validation videos/s",
    "fc_late_ratio": "FC late fusion / this (parameters)",
    "gflops_per_video": "GFLOPs a video",
    "millions": "parameters (millions)",
    "ci_low": "95% low",
    "ci_high": "95% high",
    "lo": "95% low",
    "hi": "95% high",
    "run_dir": "run folder",
    "p_a_better": "P(a better)",
    "num_tokens": "tokens",
    "labels_per_video": "labels a video",
    "converged": "converged (plateau stop before the cap)",
    "stop_reason": "stopped by",
    "lr_position": "learning rate in its grid",
    "epochs_run_max": "epochs run (most over seeds)",
    "counts": "counts (learned and converged)",
    "labels_per_class": "training labels a class",
    "train_videos": "training videos",
    "world": "world",
    "baseline": "baseline",
    "videos_per_class": "videos a class (training labels / classes)",
    "target_videos_per_class": "videos a class (target)",
    "batch_size": "batch",
    "outcome": "outcome (two-sided parity test)",
    "status": "arms learned and converged?",
    "lr_af": "learning rate, Attend-Fusion",
    "lr_fc": "learning rate, FC late fusion",
    "param_ratio": "FC / Attend-Fusion (parameters)",
}
MISSING = "—"  # a value that was not measured (a spread over one seed)


def _base(name: str) -> tuple[str, str]:
    """(the quantity, its statistic) of a column: ``gap_mean`` -> (gap, mean)."""
    for stat in ("mean", "std"):
        if name.endswith(f"_{stat}"):
            return name[: -len(stat) - 1], stat
    return name, ""


def describe(name: str) -> tuple[str, str]:
    """(header, kind) of a CSV column; kind: pct (a fraction shown in percent), percent (in
    percent already), points, params, seconds, or plain."""
    base, stat = _base(name)
    prefix = ""
    if base.startswith("val_") and base[4:] in FRACTION_METRICS:
        base, prefix = base[4:], "validation "
    suffix = {"mean": ", mean", "std": ", std", "": ""}[stat]
    if base in FRACTION_METRICS:
        unit = "points" if stat == "std" else "%"
        return f"{prefix}{FRACTION_METRICS[base]}{suffix} ({unit})", "pct"
    if base in PERCENT:
        return f"{PERCENT[base]}{suffix} (%)", "percent"
    if base in POINTS:
        return f"{POINTS[base]}{suffix} (points)", "points"
    if base in PARAMETERS:
        return f"{PARAMETERS[base]}{suffix}", "params"
    if base in SECONDS:
        return f"{SECONDS[base]}{suffix} (s)", "seconds"
    return NAMES.get(base, base.replace("_", " ")) + suffix, "plain"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def cell(v, kind: str) -> str:
    """One value in its column's unit."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool) or hasattr(v, "dtype") and v.dtype == bool:
        return "yes" if v else "no"
    if not _number(v):
        return str(v)
    if kind == "pct":
        return f"{100 * v:.2f}"
    if kind in ("percent", "points"):
        return f"{v:+.2f}" if kind == "points" else f"{v:.2f}"
    if kind == "params":
        return f"{v:,.0f}"
    if kind == "seconds":
        return f"{v:,.1f}"
    if float(v).is_integer() and abs(v) >= 1000:
        return f"{v:,.0f}"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1e6 else f"{v:.4g}"
    return str(v)


def humanize(df):
    """``df`` as a reader reads it: a DataFrame of strings with readable headers, each cell in
    its column's unit, and "—" for a spread (``*_std``) of a row with one seed."""
    import pandas as pd

    one_seed = (df["seeds"] == 1) if "seeds" in df.columns else pd.Series(False, index=df.index)
    out = {}
    for col in df.columns:
        header, kind = describe(str(col))
        values = [cell(v.item() if hasattr(v, "item") else v, kind) for v in df[col]]
        if str(col).endswith("_std"):
            values = [MISSING if single else v for v, single in zip(values, one_seed, strict=True)]
        while header in out:  # two columns with one reading (kept apart)
            header += " "
        out[header] = values
    return pd.DataFrame(out, index=df.index)


def stem_words(stem: str) -> str:
    """A file stem without its notebook number, in words: ``04_comparison_f1`` -> comparison f1."""
    return re.sub(r"^\d+_", "", stem).replace("_", " ")
