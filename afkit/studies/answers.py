"""The notebooks' computed answers: every sentence that states a finding, from the table it states.

One function per notebook, named after it: :func:`comparison` (04; with :func:`claim_clause`,
the paper's claim read against our interval), :func:`fusion_ablation` (05),
:func:`attention_sweep` (06), :func:`vocabulary_scaling` (07), :func:`readings` (10). Each
takes the notebook's summary table (and its paired tests) and returns Markdown; every clause
that states a result is chosen by the numbers (tests/studies/test_answers.py feeds each
opposite tables
and checks that the clauses flip), none is fixed text. The paper's numbers come from
:mod:`afkit.core.paper`.
"""

from __future__ import annotations

import math

import pandas as pd

from afkit.core import paper
from afkit.studies.arms import REFERENCES
from afkit.training.protocol import verdict
from afkit.viz.plots import pareto_front


def _pct(x) -> str:
    return f"{100 * x:.2f}%"


def claim_clause(diff: float, lo: float, hi: float) -> str:
    """The paper's claim (Attend-Fusion :data:`afkit.core.paper.F1_DIFF` F1 points from FC late
    fusion, with 72M parameters against 341M) read against our difference (points) and its
    interval."""
    p = paper.F1_DIFF
    if lo > 0:
        return (
            f"The paper's claim is reversed here: where the paper has Attend-Fusion {p:+.2f} "
            f"points behind, ours is ahead beyond noise (parity is not what is seen)."
        )
    if lo >= p:
        return (
            "The paper's claim holds here: the whole interval is above the paper's "
            f"{p:+.2f} points."
        )
    if hi < p:
        return (
            "The paper's claim fails here: the whole interval is below the paper's "
            f"{p:+.2f} points."
        )
    return (
        f"Against the paper's {p:+.2f} points the interval is inconclusive: it contains values "
        f"on both sides."
    )


def _on(table: pd.DataFrame, evaluated_on: str | None) -> str:
    """The split an answer's numbers are on, as its header says it: ``"test split"``, or the
    carved part of validate (``evaluated_on``, else the table's ``evaluated_on`` column)."""
    if evaluated_on is None:
        col = table["evaluated_on"] if "evaluated_on" in table else []
        evaluated_on = str(col.iloc[0]) if len(col) else "test"
    return "test split" if evaluated_on == "test" else f"evaluated on {evaluated_on}"


def comparison(
    summary: pd.DataFrame,
    ci: dict,
    ci_matched: dict,
    source: str = "synthetic",
    evaluated_on: str | None = None,
) -> str:
    """Notebook 04's answer: Attend-Fusion against FC late fusion, full width (``ci``) and at
    equal size (``ci_matched``; both :func:`afkit.studies.experiments.paired_tests`), against the
    paper's claim, the best arm and reference; every clause chosen by the numbers. The tuning
    protocol is stated once beside it (the report's Protocol, the README's results), not in it."""
    s = summary.set_index("label")
    af, fc = s.loc[ci["a"]], s.loc[ci["b"]]
    matched = s.loc[ci_matched["b"]]
    ratio = fc["params"] / af["params"]
    untrained = [lab for lab in s.index if "learned" in s and not s.loc[lab, "learned"]]
    unconverged = [lab for lab in s.index if "converged" in s and not s.loc[lab, "converged"]]
    best = s.loc[s["gap_mean"].idxmax()]
    refs = [lab for lab in REFERENCES if lab in s.index]
    ref_best = max(refs, key=lambda lab: s.loc[lab, "gap_mean"]) if refs else None
    fcrn = next((lab for lab in s.index if lab.startswith("fcrn_late at AF size")), None)

    def gap_pts(x):
        return f"{100 * x:+.2f}"

    matched_verdict = verdict(
        ci_matched["micro_f1_lo"],
        ci_matched["micro_f1_hi"],
        "Attend-Fusion",
        "the size-matched FC late fusion",
    )
    text = (
        f"**Answer ({source} data, {_on(summary, evaluated_on)} of {ci['n_videos']:,} videos).** "
        + _headline_caveat(s, [ci["a"], ci["b"], ci_matched["b"]])
        + "At "
        f"{ratio:.2f}x fewer parameters ({int(af['params']):,} vs {int(fc['params']):,}), "
        f"Attend-Fusion reaches test GAP {_pct(af['gap_mean'])} and micro-F1 "
        f"{_pct(af['micro_f1_tuned_mean'])} (validate-chosen threshold; "
        f"{_pct(af['micro_f1_mean'])} at 0.5), FC late fusion {_pct(fc['gap_mean'])} and "
        f"{_pct(fc['micro_f1_tuned_mean'])} ({_pct(fc['micro_f1_mean'])}). Difference "
        f"(Attend-Fusion − FC late): GAP {gap_pts(ci['gap_diff'])} points, 95% CI "
        f"[{gap_pts(ci['gap_lo'])}, {gap_pts(ci['gap_hi'])}]; micro-F1 "
        f"{gap_pts(ci['micro_f1_diff'])} [{gap_pts(ci['micro_f1_lo'])}, "
        f"{gap_pts(ci['micro_f1_hi'])}]: "
        f"{verdict(ci['micro_f1_lo'], ci['micro_f1_hi'], 'Attend-Fusion', 'FC late fusion')}. At "
        f"equal size (FC late fusion shrunk to {int(matched['params']):,} parameters): GAP "
        f"{gap_pts(ci_matched['gap_diff'])} [{gap_pts(ci_matched['gap_lo'])}, "
        f"{gap_pts(ci_matched['gap_hi'])}], micro-F1 {gap_pts(ci_matched['micro_f1_diff'])} "
        f"[{gap_pts(ci_matched['micro_f1_lo'])}, {gap_pts(ci_matched['micro_f1_hi'])}]: "
        f"{matched_verdict}. "
        + claim_clause(100 * ci["micro_f1_diff"], 100 * ci["micro_f1_lo"], 100 * ci["micro_f1_hi"])
        + f" The best arm by test GAP is `{best.name}` ({_pct(best['gap_mean'])})"
        + (
            f"; the best starter-code reference, `{ref_best}`, reaches "
            f"{_pct(s.loc[ref_best, 'gap_mean'])}"
            if ref_best
            else ""
        )
        + ". "
        + (
            f"FCRN late fusion at Attend-Fusion's size reaches {_pct(s.loc[fcrn, 'gap_mean'])}, "
            f"{'above' if s.loc[fcrn, 'gap_mean'] > af['gap_mean'] else 'below'} Attend-Fusion "
            f"({int(s.loc[fcrn, 'seeds'])} seed, no interval). "
            if fcrn
            else ""
        )
        + (
            (
                "Did not learn (marked, not read as findings): "
                + ", ".join(
                    f"`{x}`"
                    + (
                        f" (test GAP {_pct(s.loc[x, 'gap_mean'])}, below the learned bar of "
                        f"{_pct(s.loc[x, 'learned_bar'])})"
                        if "learned_bar" in s
                        else ""
                    )
                    for x in untrained
                )
                + ". "
            )
            if untrained
            else "Every arm learned (test GAP at least half of logistic regression's gain over "
            "the class-frequency predictor). "
        )
        + (
            (
                "Did not converge (their epoch cap came before the plateau stop): "
                + ", ".join(f"`{x}`" for x in unconverged)
                + ". "
            )
            if unconverged
            else (
                "Every arm converged (its plateau stop fired before the epoch cap). "
                if "converged" in s
                else ""
            )
        )
        + (
            "Our numbers are from the synthetic set and say nothing about the paper's values on "
            "the real release."
            if source == "synthetic"
            else "Ours are on the real release."
        )
    )
    return text


def _headline_caveat(s: pd.DataFrame, labels: list[str]) -> str:
    """A leading warning when an arm of the headline comparison did not learn or did not
    converge (its numbers are then not a finding), or when its learning rate is at an edge of
    the grid tried that no bound explains; empty otherwise."""
    problems = []
    for lab in labels:
        row = s.loc[lab]
        if "learned" in s and not row["learned"]:
            problems.append(f"`{lab}` did not learn")
        if "converged" in s and not row["converged"]:
            problems.append(f"`{lab}` did not converge")
        if row.get("lr_position") == "edge":
            problems.append(f"`{lab}`'s learning rate is at an unexplored edge of its grid")
    if not problems:
        return ""
    return "**Not a finding:** " + "; ".join(problems) + ", so the comparison below is not read. "


# A one-seed difference between two arms is read against notebook 04's seed spread: two one-seed
# runs whose test GAPs each vary over seeds with standard deviation s differ by seed noise of
# standard deviation sqrt(2) s, and 2 sqrt(2) s holds ~95% of such noise (normal). A difference
# within NOISE_BAND * s of 0 is not called an effect, and nothing within it is named "best".
NOISE_BAND = 2 * math.sqrt(2)
SPREAD_LABELS = ("attend_fusion", "fc_late")  # 04's arms whose seed spread 05 and 06 read


def seed_spread(comparison: dict | None, labels=SPREAD_LABELS) -> tuple[float, int] | None:
    """(the largest test-GAP standard deviation over seeds among ``labels``, their fewest
    seeds) in notebook 04's saved result ``comparison`` (the ``data`` of
    ``results/04_comparison.json``: its ``summary`` records); None when 04's results are absent
    or none of ``labels`` has two seeds."""
    if not comparison or not comparison.get("summary"):
        return None
    s = pd.DataFrame(comparison["summary"]).set_index("label")
    rows = s.loc[[lab for lab in labels if lab in s.index]]
    rows = rows[rows["seeds"] >= 2] if "seeds" in rows else rows.iloc[:0]
    if not len(rows):
        return None
    return float(rows["gap_std"].max()), int(rows["seeds"].min())


def _noise(comparison: dict | None, labels=SPREAD_LABELS) -> tuple[float | None, str]:
    """(the noise band in GAP points, or None, and the words that say where it comes from)."""
    spread = seed_spread(comparison, labels)
    if spread is None:
        return None, ""
    sd, k = spread
    band = 100 * NOISE_BAND * sd
    who = " and ".join(f"`{x}`" for x in labels)
    return band, (
        f"the seed noise of ±{band:.2f} GAP points (2√2 × {100 * sd:.2f}, the largest test-GAP "
        f"standard deviation over notebook 04's {k} seeds of {who})"
    )


def _counts(s: pd.DataFrame) -> pd.Series:
    """Per row: whether the arm counts (learned and converged; ``counts`` when the table has it,
    True where a column is absent)."""
    if "counts" in s:
        return s["counts"].astype(bool)
    ok = pd.Series(True, index=s.index)
    for col in ("learned", "converged"):
        if col in s:
            ok &= s[col].astype(bool)
    return ok


def _not_counted(s: pd.DataFrame, name: str = "label", lead: str = "Not read as findings") -> str:
    """The sentence naming the rows of ``s`` that did not learn or did not converge ("" when
    none): they are named, and not read as findings."""
    parts = []
    for col, why in (
        ("learned", "did not learn"),
        ("converged", "did not converge (stopped at the epoch cap)"),
    ):
        if col in s:
            bad = s.loc[~s[col].astype(bool)]
            labels = bad.index if name == "index" else bad[name]
            if len(bad):
                parts.append(f"{why}: " + ", ".join(f"`{x}`" for x in labels))
    return (f"{lead}: " + "; ".join(parts) + ". ") if parts else ""


def _judge(d: float, band: float | None) -> str:
    if band is None:
        return "no seed spread to read it against"
    if abs(d) > band:
        return "beyond the seed noise: an effect"
    return "within the seed noise: not an effect"


def _comparison_04(comparison: dict | None) -> str:
    """Notebook 04's paired intervals of Attend-Fusion against FC late fusion (full and
    size-matched), restated as 04 measured them (one comparison, one source)."""
    if not comparison or "bootstrap" not in comparison:
        return (
            "Notebook 04's results are absent (this notebook ran without them): Attend-Fusion "
            "against FC late fusion, full and size-matched, is 04's comparison over seeds and is "
            "not restated from one-seed runs here, and without 04's seed spread no one-seed "
            "difference here is called an effect. "
        )
    summary = pd.DataFrame(comparison.get("summary") or [])
    s = summary.set_index("label") if "label" in summary else summary
    out, used = [], []
    for key, other in (("bootstrap", "FC late fusion"), ("bootstrap_matched", None)):
        ci = comparison.get(key)
        if not ci:
            continue
        other = other or f"the size-matched FC late fusion (`{ci['b']}`)"
        pair = s.loc[[lab for lab in (ci["a"], ci["b"]) if lab in s.index]]
        bad = list(pair.index[~_counts(pair)]) if len(pair) else []
        used += [lab for lab in pair.index if lab not in used]
        out.append(
            f"against {other}: GAP {100 * ci['gap_diff']:+.2f} [{100 * ci['gap_lo']:+.2f}, "
            f"{100 * ci['gap_hi']:+.2f}], micro-F1 {100 * ci['micro_f1_diff']:+.2f} "
            f"[{100 * ci['micro_f1_lo']:+.2f}, {100 * ci['micro_f1_hi']:+.2f}]: "
            + (
                "not read (" + ", ".join(f"`{x}`" for x in bad) + " does not count in 04)"
                if bad
                else verdict(ci["micro_f1_lo"], ci["micro_f1_hi"], "Attend-Fusion", other)
            )
        )
    first = comparison["bootstrap"]
    text = (
        f"Attend-Fusion against FC late fusion is notebook 04's comparison ({first['seeds_a']} "
        f"and {first['seeds_b']} seeds, paired bootstrap over {first['n_videos']:,} test videos, "
        "95% intervals, points), not restated from these one-seed runs: " + "; ".join(out) + ". "
    )
    if used:
        text += _not_counted(s.loc[used], name="index", lead="In notebook 04, not read as findings")
    return text


def fusion_ablation(
    summary: pd.DataFrame,
    source: str = "synthetic",
    evaluated_on: str | None = None,
    comparison: dict | None = None,
) -> str:
    """Notebook 05's answer in prose, computed from its summary (test GAP, one seed an arm) and
    notebook 04's saved result ``comparison`` (``results/04_comparison.json``'s ``data``;
    None when 04 has not run): each one-seed difference (attention on / off, early / late,
    hybrid) is read against 04's seed spread (:data:`NOISE_BAND`); Attend-Fusion against FC
    late fusion is 04's paired interval, cited, never a one-seed rerun; arms that did not learn
    or did not converge are named and not read."""
    s = summary.set_index("label")
    f = s["gap_mean"]
    ok = _counts(s)
    band, band_words = _noise(comparison)

    def diff(a, b, what):
        if not (ok[a] and ok[b]):
            return f"{what}: not read (`{a if not ok[a] else b}` does not count)"
        d = 100 * (f[a] - f[b])
        return f"{what} {'adds' if d > 0 else 'costs'} {abs(d):.2f} GAP points ({_judge(d, band)})"

    late_a, late_n = "late + attention (attend_fusion)", "late, no attention"
    early_a, early_n = "early + attention", "early, no attention"
    text = (
        f"**Answer ({source} data, {_on(summary, evaluated_on)}, "
        f"{int(s['seeds'].min())} seed an arm).** "
        + "; ".join(
            (
                diff(late_a, late_n, "In late fusion, attention"),
                diff(early_a, early_n, "in early fusion, attention"),
                diff(late_a, early_a, "late instead of early fusion (both with attention)"),
                diff("hybrid + attention (cross-modal)", late_a, "the hybrid instead of late"),
            )
        )
        + ". "
        + (f"Each is read against {band_words}. " if band is not None else "")
    )
    counted = f[ok].sort_values(ascending=False)
    if len(counted) >= 2 and band is not None:
        lead = 100 * (counted.iloc[0] - counted.iloc[1])
        text += (
            f"The best arm is `{counted.index[0]}` ({100 * counted.iloc[0]:.2f}%), ahead of "
            f"`{counted.index[1]}` by {lead:.2f} points, beyond the seed noise. "
            if lead > band
            else f"No arm leads the next beyond the seed noise (`{counted.index[0]}` and "
            f"`{counted.index[1]}` differ by {lead:.2f} points): no best arm is named. "
        )
    return (text + _comparison_04(comparison) + _not_counted(summary)).strip()


def sweep_front(summary: pd.DataFrame, comparison: dict | None = None) -> tuple[bool, str]:
    """Whether notebook 06's Pareto front is a finding (some front member other than the
    default differs from the default Attend-Fusion beyond 04's seed noise), and the note its
    figures carry when it is not drawn."""
    band, _ = _noise(comparison, ("attend_fusion",))
    if band is None:
        return False, "; Pareto front not drawn: no seed spread (notebook 04) to read it against"
    s = summary[_counts(summary)].reset_index(drop=True)
    base = s.set_index("label")["gap_mean"].get("attend_fusion")
    if base is None:
        return False, "; Pareto front not drawn: the default Attend-Fusion does not count"
    front = s[pareto_front(s["params"].to_numpy(float), s["gap_mean"].to_numpy(float))]
    beyond = front[(100 * (front["gap_mean"] - base)).abs() > band]
    if len(beyond):
        return True, ""
    return False, (
        f"; Pareto front not drawn: no configuration on it differs from the default by more "
        f"than the seed noise (±{band:.2f} GAP points)"
    )


def attention_sweep(
    summary: pd.DataFrame,
    source: str = "synthetic",
    evaluated_on: str | None = None,
    comparison: dict | None = None,
) -> str:
    """Notebook 06's answer in prose, computed from its summary (test GAP, one seed an arm):
    each configuration's difference from the default Attend-Fusion is read against notebook
    04's seed spread of Attend-Fusion (``comparison``: 04's saved result; :data:`NOISE_BAND`),
    and a best configuration or a Pareto front member is named only beyond it. Arms that did
    not learn or did not converge are named apart and left out."""
    s = summary.reset_index(drop=True)
    s = s[_counts(s)].reset_index(drop=True)
    band, band_words = _noise(comparison, ("attend_fusion",))
    text = f"**Answer ({source} data, {_on(summary, evaluated_on)}, one seed an arm).** "
    if "attend_fusion" not in set(s["label"]):
        return (
            text + "The default Attend-Fusion does not count, so no configuration is read "
            "against it. " + _not_counted(summary)
        )
    base = s.set_index("label").loc["attend_fusion"]
    diffs = (100 * (s.set_index("label")["gap_mean"] - base["gap_mean"])).drop("attend_fusion")
    spread = 100 * (s["gap_mean"].max() - s["gap_mean"].min())
    text += (
        f"Across {len(s)} attention configurations that count, test GAP spans {spread:.2f} "
        f"points; the default Attend-Fusion scores {100 * base['gap_mean']:.2f}% with "
        f"{int(base['params']):,} parameters. "
    )
    if band is None:
        text += (
            "Notebook 04's results are absent, so there is no seed spread to read these one-seed "
            "differences against: no configuration is called better or worse than the default, "
            "and no best configuration or Pareto front is named. "
        )
    else:
        beyond = diffs[diffs.abs() > band]
        if not len(beyond):
            text += (
                f"Every configuration is within {band_words} of the default (largest difference "
                f"{diffs.abs().max():.2f}): no configuration is distinguishable from the default "
                "Attend-Fusion, so no best configuration and no Pareto front is named. "
            )
        else:
            text += (
                f"Beyond {band_words}: "
                + ", ".join(f"`{k}` ({v:+.2f})" for k, v in beyond.items())
                + "; every other configuration is within it. "
            )
            up = beyond[beyond > 0]
            text += (
                f"The best configuration is `{up.idxmax()}` ({up.max():+.2f} over the default). "
                if len(up)
                else "None beats the default beyond the noise. "
            )
            front = s.loc[
                pareto_front(s["params"].to_numpy(float), s["gap_mean"].to_numpy(float)), "label"
            ]
            named = [x for x in front if x in beyond.index]
            text += (
                "On the Pareto front (size vs GAP), beyond the noise: "
                + ", ".join(f"`{x}`" for x in named)
                + ". "
                if named
                else "No member of the Pareto front differs from the default beyond the noise. "
            )
    if "attention off" in diffs.index:
        d = -diffs["attention off"]
        text += (
            f"Attention off scores {100 * base['gap_mean'] - d:.2f}% ({d:+.2f} for attention: "
            f"{_judge(d, band)}). "
        )
    heads = s[s["label"].str.startswith("heads=")]
    if len(heads):
        same = bool((heads["params"] == base["params"]).all())
        text += (
            "The head count changes no parameter count. "
            if same
            else "The head count changes the parameter count here. "
        )
    return text + _not_counted(summary)


def _vocab_trend(t: pd.DataFrame) -> str:
    """Attend-Fusion's test-GAP lead over FC late fusion at each trained vocabulary where both
    count, and how it moves from the smallest to the largest."""
    af, fc = "attend_fusion", "fc_late"
    both = [
        c
        for c in sorted(t.index.get_level_values(0).unique())
        if all((c, m) in t.index for m in (af, fc))
        and all(bool(t.loc[(c, m), "trained"]) and bool(t.loc[(c, m), "_ok"]) for m in (af, fc))
    ]
    if len(both) < 2:
        return (
            "Fewer than two trained vocabularies have both models learned and converged: no "
            "trend of Attend-Fusion's lead is read. "
        )
    lead = {c: 100 * (t.loc[(c, af), "gap"] - t.loc[(c, fc), "gap"]) for c in both}
    a, b = both[0], both[-1]
    ahead = [c for c in both if lead[c] > 0]
    if (lead[a] > 0) != (lead[b] > 0):
        move = "reverses"
    else:
        move = "grows" if abs(lead[b]) > abs(lead[a]) else "shrinks"
    return (
        "Attend-Fusion minus FC late fusion, test GAP points (one seed a size, no interval): "
        + ", ".join(f"{lead[c]:+.2f} at {c}" for c in both)
        + f"; Attend-Fusion is ahead at {len(ahead)} of {len(both)} sizes, and its "
        + ("lead" if lead[a] > 0 else "deficit")
        + f" {move} from {a} to {b} classes"
        + f" ({lead[a]:+.2f} → {lead[b]:+.2f}) as the labels a class fall from "
        + f"{t.loc[(a, af), 'labels_per_class']:.1f} to {t.loc[(b, af), 'labels_per_class']:.1f}. "
    )


def untrained_note(table: pd.DataFrame) -> str:
    """The sentence on the vocabularies that were not trained, computed from the budget: the
    labels a class the fixed training budget would give them, against the sparsest trained
    vocabulary's and whether the models counted there, and their parameters against the
    largest trained one's."""
    t = table
    done = sorted(t.loc[t["trained"], "num_classes"].unique())
    todo = sorted(c for c in t["num_classes"].unique() if c not in done)
    if not todo:
        return ""
    n = int(t["train_videos"].iloc[0])
    per = t.groupby("num_classes")["labels_per_class"].first()
    text = (
        f"Not trained (parameter arithmetic only): {', '.join(map(str, todo))} classes. At the "
        f"fixed budget of {n:,} training videos {'they' if len(todo) > 1 else 'it'} would have "
        + ", ".join(f"{per[c]:.2f}" for c in todo)
        + " positive labels a class"
    )
    if done:
        last = done[-1]
        rows = t[t["num_classes"] == last]
        failed = rows[~rows["_ok"]]["model"].tolist()
        text += (
            f", fewer than the {per[last]:.2f} a class of {last} classes, the sparsest "
            "vocabulary trained, "
            + (
                "where " + " and ".join(f"`{m}`" for m in failed) + " already did not count"
                if failed
                else "where both models still learned and converged"
            )
        )
        fc = t[(t["model"] == "fc_late")].set_index("num_classes")["params"]
        if last in fc.index:
            text += (
                "; and "
                + ", ".join(f"{fc[c] / fc[last]:.1f}x" for c in todo)
                + f" the parameters of `fc_late` at {last} classes (the cost of an epoch grows "
                "with them)"
            )
    return text + ". "


def vocabulary_scaling(table: pd.DataFrame, source: str = "synthetic", profile: str = "cpu") -> str:
    """Notebook 07's answer in prose, computed from its table (:func:`afkit.studies.arms.
    vocabulary_experiment`): the head's share at paper size, each model's test GAP across the
    trained vocabularies at the fixed training budget (with the labels a class it gives them),
    Attend-Fusion's lead over FC late fusion across them, the rows that did not learn or
    converge (named, not read), and what the budget would give the untrained sizes."""
    table = table.assign(_ok=_counts(table) | ~table["trained"].astype(bool))
    t = table.set_index(["num_classes", "model"])
    sizes = sorted(table["num_classes"].unique())
    lo, hi = sizes[0], sizes[-1]
    lines = []
    for m in table["model"].unique():
        part = (
            f"`{m}`: at paper size its classifier holds "
            f"{100 * t.loc[(lo, m), 'paper_head_share']:.1f}% of the parameters at {lo} classes "
            f"and {100 * t.loc[(hi, m), 'paper_head_share']:.1f}% at {hi} "
            f"({t.loc[(lo, m), 'paper_params'] / 1e6:.1f}M → "
            f"{t.loc[(hi, m), 'paper_params'] / 1e6:.1f}M)"
        )
        ok = sorted(
            c for c in sizes if bool(t.loc[(c, m), "trained"]) and bool(t.loc[(c, m), "_ok"])
        )
        if len(ok) >= 2:
            a, b = ok[0], ok[-1]
            ga, gb = t.loc[(a, m), "gap"], t.loc[(b, m), "gap"]
            part += (
                f"; trained on {int(t.loc[(a, m), 'train_videos']):,} videos at every size, its "
                f"test GAP {'falls' if gb < ga else 'rises' if gb > ga else 'stays'} from "
                f"{100 * ga:.2f}% at {a} classes "
                f"({t.loc[(a, m), 'labels_per_class']:.1f} labels a class) to {100 * gb:.2f}% at "
                f"{b} ({t.loc[(b, m), 'labels_per_class']:.1f})"
            )
        lines.append(part + ".")
    ratio = [
        t.loc[(c, "fc_late"), "paper_params"] / t.loc[(c, "attend_fusion"), "paper_params"]
        for c in (lo, hi)
    ]
    trend = "shrinks" if ratio[1] < ratio[0] else "grows"
    trained = table[table["trained"].astype(bool)]
    bad = trained.assign(label=[f"{r.model} at {r.num_classes}" for r in trained.itertuples()])
    return (
        f"**Answer ({source} data for the scores; arithmetic for the sizes).** "
        + " ".join(lines)
        + " "
        + _vocab_trend(t)
        + f"The size ratio fc_late / attend_fusion at paper size {trend} from {ratio[0]:.2f}x at "
        f"{lo} classes to {ratio[1]:.2f}x at {hi}: Attend-Fusion's relative saving "
        + (
            "shrinks as the classifier takes over both models. "
            if trend == "shrinks"
            else "grows with the vocabulary. "
        )
        + untrained_note(table)
        + _not_counted(bad)
    ).strip()


def _off_vs_fc(
    off_vs_fc: dict | None, fc_label: str, summary: pd.DataFrame | None
) -> tuple[str | None, str]:
    """(``"matches"`` / ``"beats"`` / ``"short"`` / None, the sentence) for attention off against
    FC late fusion: the paired test ``off_vs_fc`` (:func:`afkit.studies.experiments.
    paired_tests` of the shared attention-off arm minus ``fc_label``), read on micro-F1 at the
    validate threshold (the paper's metric); None (not read) when either arm does not count in
    ``summary``."""
    if not off_vs_fc:
        return None, (
            "No paired test of attention off against FC late fusion was given, so the closeness "
            "to FC late fusion is not attributed to the attention. "
        )
    ci = off_vs_fc
    if summary is not None:
        s = summary.set_index("label")
        pair = s.loc[[lab for lab in (ci["a"], ci["b"]) if lab in s.index]]
        bad = list(pair.index[~_counts(pair)])
        if bad:
            return None, (
                "Attention off against FC late fusion is not read: "
                + ", ".join(f"`{x}`" for x in bad)
                + " did not learn or did not converge, so the closeness to FC late fusion is not "
                "attributed to the attention. "
            )
    lo, hi = 100 * ci["micro_f1_lo"], 100 * ci["micro_f1_hi"]
    state = "beats" if lo > 0 else "short" if hi < 0 else "matches"
    words = {
        "beats": "is ahead of FC late fusion beyond the interval",
        "short": "falls short of FC late fusion beyond the interval",
        "matches": "already matches FC late fusion (the interval contains 0)",
    }[state]
    return state, (
        f"Attention off (`{ci['a']}`) minus `{fc_label}` on the same test videos: micro-F1 "
        f"{100 * ci['micro_f1_diff']:+.2f} [{lo:+.2f}, {hi:+.2f}], GAP "
        f"{100 * ci['gap_diff']:+.2f} [{100 * ci['gap_lo']:+.2f}, {100 * ci['gap_hi']:+.2f}]: "
        f"the network without attention {words}. "
    )


def readings(
    table: pd.DataFrame,
    source: str = "synthetic",
    fc_label: str = "fc_late",
    evaluated_on: str | None = None,
    off_vs_fc: dict | None = None,
    summary: pd.DataFrame | None = None,
) -> str:
    """Notebook 10's answer in prose, every clause chosen by the numbers of ``table``
    (:func:`afkit.studies.arms.readings_results`) and ``off_vs_fc`` (the paired test of the
    shared attention-off arm against ``fc_label``; not read when either arm does not count in
    ``summary``, the notebook's summary of arms).

    - *Attention matters* in a reading when its on − off test-GAP interval excludes 0.
    - *The readings that fit the paper* are chosen by the paper's parameter count alone (within
      1% of 72M at paper size), stated before any score is read; no score picks among them:
      each that learned and converged is read.
    - *What that says*: the paper's result (Attend-Fusion matching FC late fusion) is
      attributed to the attention only when the network without attention falls short of FC
      late fusion beyond its interval and the attention helps, beyond its interval, in every
      reading that fits the count; when attention off already matches (or beats) FC late
      fusion, the answer says so and attributes nothing to the attention.
    """
    t = table.reset_index(drop=True)
    af_m = paper.millions("attend_fusion")
    ok = _counts(t)
    helps = t[ok & (t["matters"] == "helps")]["reading"].tolist()
    hurts = t[ok & (t["matters"] == "hurts")]["reading"].tolist()
    null = t[ok & (t["matters"] == "no")]["reading"].tolist()

    def names(xs):
        return ", ".join(f"`{x}`" for x in xs)

    def interval(r):
        return f"{r.gap_diff:+.2f} [{r.gap_lo:+.2f}, {r.gap_hi:+.2f}]"

    text = f"**Answer ({source} data, {_on(table, evaluated_on)}, one seed an arm).** "
    text += (
        "On minus off, test GAP in points with 95% paired-bootstrap intervals: "
        + "; ".join(f"`{r.reading}` {interval(r)}" for r in t.itertuples())
        + ". "
    )
    if helps:
        text += f"Attention matters, and helps, in {names(helps)} (interval above 0). "
    if hurts:
        text += f"Attention matters, and hurts, in {names(hurts)} (interval below 0). "
    if null:
        text += (
            f"In {names(null)} the interval contains 0: switching the attention off changes "
            "nothing we can tell apart. "
        )
    if not helps and not hurts:
        text += "No reading that counts makes attention matter at this size. "
    text += _not_counted(t.set_index("reading"), name="index")
    state, off_text = _off_vs_fc(off_vs_fc, fc_label, summary)
    text += off_text
    fits = t[t["paper_within_1pct"].astype(bool) & ok]
    if not len(fits):
        return text + (
            f"No reading that learned and converged is within 1% of {af_m} at paper size, so "
            "none can be said to fit the paper, and the result is attributed to no reading's "
            "attention."
        )
    text += (
        f"The readings that fit the paper are chosen by its parameter count alone (within 1% of "
        f"{af_m} at paper size), before any score: {names(fits['reading'])}"
        + (
            "; the count does not pick one among them and no score is used to: each is read"
            if len(fits) > 1
            else ""
        )
        + ". "
    )
    all_help = bool((fits["matters"] == "helps").all())
    some_help = fits[fits["matters"] == "helps"]["reading"].tolist()
    if state in ("matches", "beats"):
        text += (
            f"Since attention off already {'matches' if state == 'matches' else 'beats'} FC late "
            "fusion, the paper's result (Attend-Fusion close to FC late fusion at a fraction of "
            "its size) does not rest on the attention here: the same network without the "
            "attention does it"
            + (
                f"; the attention adds on top of that in {names(some_help)}, but the match does "
                "not need it."
                if some_help
                else "."
            )
        )
    elif state == "short" and all_help:
        text += (
            "Attention off falls short of FC late fusion and the attention helps beyond its "
            "interval in every reading that fits the count: under these readings the paper's "
            "result rests on the attention, as the paper says."
        )
    elif state == "short":
        text += (
            "Attention off falls short of FC late fusion, but the attention does not help beyond "
            "its interval in every reading that fits the count ("
            + "; ".join(f"`{r.reading}`: {r.matters}" for r in fits.itertuples())
            + "): the result is not attributed to the attention."
        )
    return text.strip()
