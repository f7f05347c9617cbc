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

import pandas as pd

from afkit.core import paper
from afkit.studies.arms import REFERENCES, VOCAB_DATA
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


def fusion_ablation(
    summary: pd.DataFrame, source: str = "synthetic", evaluated_on: str | None = None
) -> str:
    """Notebook 05's answer in prose, computed from its summary (test GAP, one seed an arm)."""
    s = summary.set_index("label")
    f = s["gap_mean"]

    def delta(a, b):
        return 100 * (f[a] - f[b])

    def says(d, what):
        return f"{what} {'adds' if d > 0 else 'costs'} {abs(d):.2f} GAP points"

    late_a, late_n = "late + attention (attend_fusion)", "late, no attention"
    early_a, early_n = "early + attention", "early, no attention"
    matched = next(lab for lab in s.index if lab.startswith("fc_late matched"))
    best = f.idxmax()
    return (
        f"**Answer ({source} data, {_on(summary, evaluated_on)}, "
        f"{int(s['seeds'].min())} seed an arm).** "
        f"{says(delta(late_a, late_n), 'In late fusion, attention')}; in early fusion it "
        f"{'adds' if delta(early_a, early_n) > 0 else 'costs'} {abs(delta(early_a, early_n)):.2f}. "
        f"Late vs early fusion (both with attention): {delta(late_a, early_a):+.2f}; the hybrid "
        "(cross-modal attention) vs late: "
        f"{delta('hybrid + attention (cross-modal)', late_a):+.2f}. At equal size, Attend-Fusion "
        f"({int(s.loc[late_a, 'params']):,} parameters) vs FC late fusion shrunk to "
        f"{int(s.loc[matched, 'params']):,}: {delta(late_a, matched):+.2f}; vs the full FC late "
        f"fusion ({int(s.loc['fc_late', 'params']):,}): {delta(late_a, 'fc_late'):+.2f}. The best "
        f"arm is `{best}` ({100 * f[best]:.2f}%). With one seed an arm, differences below notebook "
        "04's seed spread (its GAP standard deviations) are not evidence."
    )


def attention_sweep(
    summary: pd.DataFrame, source: str = "synthetic", evaluated_on: str | None = None
) -> str:
    """Notebook 06's answer in prose, computed from its summary (test GAP). Arms not marked
    ``learned`` are named apart and left out of the spread."""
    s = summary.reset_index(drop=True)
    failed = s[~s["learned"]] if "learned" in s else s.iloc[:0]
    s = s[s["learned"]].reset_index(drop=True) if "learned" in s else s
    front = s.loc[pareto_front(s["params"].to_numpy(float), s["gap_mean"].to_numpy(float)), "label"]
    base = s.set_index("label").loc["attend_fusion"]
    best = s.loc[s["gap_mean"].idxmax()]
    spread = 100 * (s["gap_mean"].max() - s["gap_mean"].min())
    heads = s[s["label"].str.startswith("heads=")]
    same = bool(len(heads)) and bool((heads["params"] == base["params"]).all())
    off = s.set_index("label")["gap_mean"].get("attention off")
    text = (
        f"**Answer ({source} data, {_on(summary, evaluated_on)}, one seed an arm).** "
        f"Across {len(s)} attention "
        f"configurations that learned, test GAP spans {spread:.2f} points; the default "
        f"Attend-Fusion scores {100 * base['gap_mean']:.2f}% with {int(base['params']):,} "
        f"parameters, the best is `{best['label']}` with {100 * best['gap_mean']:.2f}% "
        f"({int(best['params']):,}). On the Pareto front (size vs GAP): "
        f"{', '.join(f'`{x}`' for x in front)}. "
        + (
            f"Attention off scores {100 * off:.2f}% ({100 * (base['gap_mean'] - off):+.2f} for "
            "attention). "
            if off is not None
            else ""
        )
        + (
            "The head count changes no parameter count. "
            if same
            else ("The head count changes the parameter count here. " if len(heads) else "")
        )
    )
    if len(failed):
        text += "Did not learn (not counted): " + ", ".join(f"`{x}`" for x in failed["label"]) + "."
    return text


def vocabulary_scaling(table: pd.DataFrame, source: str = "synthetic", profile: str = "cpu") -> str:
    """Notebook 07's answer in prose, computed from its table."""
    t = table.set_index(["num_classes", "model"])
    sizes = sorted(table["num_classes"].unique())
    done = sorted(table.loc[table["trained"], "num_classes"].unique())
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
        if len(done) >= 2:
            a, b = done[0], done[-1]
            ga, gb = t.loc[(a, m), "gap"], t.loc[(b, m), "gap"]
            part += (
                f"; trained with {VOCAB_DATA[profile]['videos_per_class']} videos a class, its "
                f"test GAP {'falls' if gb < ga else 'rises'} from {100 * ga:.2f}% at {a} classes "
                f"to {100 * gb:.2f}% at {b}"
            )
        lines.append(part + ".")
    ratio = [
        t.loc[(c, "fc_late"), "paper_params"] / t.loc[(c, "attend_fusion"), "paper_params"]
        for c in (lo, hi)
    ]
    trend = "shrinks" if ratio[1] < ratio[0] else "grows"
    untrained = [c for c in sizes if c not in done]
    not_learned = table[
        table["trained"] & ~table.get("learned", pd.Series(True, index=table.index)).astype(bool)
    ]
    return (
        f"**Answer ({source} data for the scores; arithmetic for the sizes).** "
        + " ".join(lines)
        + f" The size ratio fc_late / attend_fusion at paper size {trend} from {ratio[0]:.2f}x at "
        f"{lo} classes to {ratio[1]:.2f}x at {hi}: Attend-Fusion's relative saving "
        + (
            "shrinks as the classifier takes over both models."
            if trend == "shrinks"
            else "grows with the vocabulary."
        )
        + (
            f" Not trained (parameter arithmetic only): {', '.join(map(str, untrained))} classes: "
            "with the videos a class held constant they need more training videos than the budget "
            "holds."
            if untrained
            else ""
        )
        + (
            " Did not learn: "
            + ", ".join(f"{r.model} at {r.num_classes}" for r in not_learned.itertuples())
            + "."
            if len(not_learned)
            else ""
        )
    )


def readings(
    table: pd.DataFrame,
    source: str = "synthetic",
    fc_label: str = "fc_late",
    evaluated_on: str | None = None,
) -> str:
    """Notebook 10's answer in prose, every clause chosen by the numbers of ``table``
    (:func:`afkit.studies.arms.readings_results`).

    - *Attention matters* in a reading when its on − off test-GAP interval excludes 0.
    - *Fits the paper best*: of the readings that learned and whose paper-size count is within
      1% of 72M, the one with the smallest |test GAP − fc_late's| (the paper's claim: 72M
      matching the 341M FC late fusion).
    - *What that says*: whether the best-fitting reading's attention matters.
    """
    t = table.reset_index(drop=True)
    af_m = paper.millions("attend_fusion")
    helps = t[t["matters"] == "helps"]["reading"].tolist()
    hurts = t[t["matters"] == "hurts"]["reading"].tolist()
    null = t[t["matters"] == "no"]["reading"].tolist()

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
        text += "No reading makes attention matter at this size. "
    fits = t[t["paper_within_1pct"] & t["learned"]]
    if not len(fits):
        return text + (
            f"No reading that learned is within 1% of {af_m} at paper size, so none can be said "
            "to fit the paper."
        )
    best = fits.loc[fits["gap_minus_fc_late"].abs().idxmin()]
    text += (
        f"Of the {len(fits)} readings within 1% of {af_m} at paper size that learned, "
        f"`{best.reading}` ({best.paper_params:,} parameters at paper size) fits the paper best: "
        f"its test GAP is {best.gap_on:.2f}%, {best.gap_minus_fc_late:+.2f} points from {fc_label} "
        f"(the paper: Attend-Fusion within {-paper.F1_DIFF:.2f} F1 points of the "
        f"{paper.millions('fc_late')} FC late fusion). "
    )
    if best.matters == "helps":
        text += (
            "Its attention matters (on beats off beyond the interval), so under this reading the "
            "paper's result rests on the attention, as the paper says."
        )
    elif best.matters == "hurts":
        text += (
            "Its attention hurts (off beats on beyond the interval): under this reading the "
            "paper's result would come despite the attention, not from it."
        )
    else:
        text += (
            "Its attention does not matter (the interval contains 0): under this reading the "
            f"closeness to fc_late comes from the encoders and the head at {af_m}, not from the "
            "attention."
        )
    return text
