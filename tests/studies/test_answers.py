"""Every computed answer follows its numbers: two opposite tables give opposite verdicts.

The answer functions of the notebooks (afkit.studies.answers, afkit.interpret.evidence) are fed
hand-made tables whose numbers point one way, then the other; each clause that states a finding
must flip with them (no fixed sentence states a result)."""

import numpy as np
import pandas as pd
import pytest

from afkit.interpret import evidence
from afkit.studies import answers
from afkit.training import protocol


def _summary(af_gap, fc_gap, matched_gap, *, learned=True, converged=True):
    rows = []
    for label, params, gap in (
        ("attend_fusion", 700_000, af_gap),
        ("fc_late", 3_500_000, fc_gap),
        ("fc_late at AF size (hidden 120)", 710_000, matched_gap),
        ("logistic", 690_000, 0.5),
    ):
        rows.append(
            {
                "label": label,
                "model": label.split(" ")[0],
                "params": params,
                "paper_params": params * 100,
                "gap_mean": gap,
                "gap_std": 0.01,
                "micro_f1_mean": gap - 0.1,
                "micro_f1_std": 0.01,
                "micro_f1_tuned_mean": gap - 0.05,
                "seeds": 3,
                "learned": learned,
                "converged": converged or label == "logistic",
                "lr_position": "interior",
            }
        )
    return pd.DataFrame(rows)


def _ci(a, b, diff, lo, hi):
    return {
        "a": a,
        "b": b,
        "n_videos": 3000,
        "gap_diff": diff,
        "gap_lo": lo,
        "gap_hi": hi,
        "micro_f1_diff": diff,
        "micro_f1_lo": lo,
        "micro_f1_hi": hi,
    }


def test_verdict_reads_the_interval():
    assert "A is better" in protocol.verdict(0.01, 0.03, "A", "B")
    assert "B is better" in protocol.verdict(-0.03, -0.01, "A", "B")
    assert "not distinguishable" in protocol.verdict(-0.01, 0.01, "A", "B")


def test_comparison_answer_flips():
    m = "fc_late at AF size (hidden 120)"
    worse = answers.comparison(
        _summary(0.70, 0.78, 0.72),
        _ci("attend_fusion", "fc_late", -0.08, -0.09, -0.07),
        _ci("attend_fusion", m, -0.02, -0.03, -0.01),
    )
    better = answers.comparison(
        _summary(0.80, 0.78, 0.60),
        _ci("attend_fusion", "fc_late", 0.02, 0.01, 0.03),
        _ci("attend_fusion", m, 0.20, 0.19, 0.21),
    )
    assert (
        "FC late fusion is better beyond" in worse and "Attend-Fusion is better beyond" not in worse
    )
    assert (
        "Attend-Fusion is better beyond" in better
        and "FC late fusion is better beyond" not in better
    )
    assert "the size-matched FC late fusion is better" in worse
    assert "The paper's claim fails here" in worse
    assert "claim is reversed here" in better and "Not a finding" not in better
    same = answers.comparison(
        _summary(0.78, 0.78, 0.70),
        _ci("attend_fusion", "fc_late", -0.001, -0.002, 0.001),
        _ci("attend_fusion", m, 0.08, 0.07, 0.09),
    )
    assert "The paper's claim holds here:" in same and "not distinguishable" in same
    assert "Every arm learned" in same
    failed = answers.comparison(
        _summary(0.78, 0.78, 0.70, learned=False),
        _ci("attend_fusion", "fc_late", -0.002, -0.01, 0.01),
        _ci("attend_fusion", m, 0.08, 0.07, 0.09),
    )
    assert "Did not learn" in failed and "`attend_fusion`" in failed
    assert failed.count("Not a finding") == 1 and "`fc_late` did not learn" in failed
    assert "Every arm converged" in same
    capped = answers.comparison(
        _summary(0.78, 0.78, 0.70, converged=False),
        _ci("attend_fusion", "fc_late", -0.002, -0.01, 0.01),
        _ci("attend_fusion", m, 0.08, 0.07, 0.09),
    )
    assert "Did not converge" in capped and "`fc_late` did not converge" in capped
    assert "Every arm converged" not in capped and "Not a finding" in capped


def _ablation(late_on, late_off, early_on, early_off):
    labels = {
        "fc_early": 0.6,
        "early + attention": early_on,
        "early, no attention": early_off,
        "fc_late": 0.75,
        "late + attention (attend_fusion)": late_on,
        "late, no attention": late_off,
        "hybrid + attention (cross-modal)": 0.7,
        "fc_late matched (hidden 120)": 0.65,
    }
    return pd.DataFrame(
        {"label": list(labels), "gap_mean": list(labels.values()), "params": 1000, "seeds": 1}
    )


def test_ablation_answer_flips():
    helps = answers.fusion_ablation(_ablation(0.78, 0.70, 0.66, 0.60))
    hurts = answers.fusion_ablation(_ablation(0.70, 0.78, 0.60, 0.66))
    assert (
        "In late fusion, attention adds 8.00" in helps and "in early fusion it adds 6.00" in helps
    )
    assert (
        "In late fusion, attention costs 8.00" in hurts and "in early fusion it costs 6.00" in hurts
    )


def _sweep(heads_params, off_gap, failed=False):
    rows = [
        ("attend_fusion", 700, 0.75, True),
        ("attention off", 650, off_gap, True),
        ("heads=1", heads_params, 0.74, True),
        ("tokens=4", 690, 0.73, not failed),
    ]
    return pd.DataFrame(
        [{"label": a, "params": b, "gap_mean": c, "learned": d} for a, b, c, d in rows]
    )


def test_sweep_answer_flips():
    a = answers.attention_sweep(_sweep(700, 0.70))
    b = answers.attention_sweep(_sweep(720, 0.80, failed=True))
    assert "changes no parameter count" in a and "changes the parameter count" in b
    assert "(+5.00 for attention)" in a and "(-5.00 for attention)" in b
    assert "Did not learn" not in a and "Did not learn (not counted): `tokens=4`" in b


def _vocab(gap_small, gap_big):
    rows = []
    for c, gap in ((100, gap_small), (300, gap_big), (20000, np.nan)):
        for model, share in (("fc_late", 0.1), ("attend_fusion", 0.3)):
            rows.append(
                {
                    "num_classes": c,
                    "model": model,
                    "trained": c < 1000,
                    "gap": gap,
                    "learned": True,
                    "paper_head_share": share * c / 300,
                    "paper_params": (341e6 if model == "fc_late" else 72e6) + c * 1e4,
                }
            )
    return pd.DataFrame(rows)


def test_vocabulary_answer_flips():
    falls = answers.vocabulary_scaling(_vocab(0.8, 0.6))
    rises = answers.vocabulary_scaling(_vocab(0.6, 0.8))
    assert "test GAP falls from 80.00% at 100 classes to 60.00% at 300" in falls
    assert "test GAP rises from 60.00% at 100 classes to 80.00% at 300" in rises
    assert "Not trained (parameter arithmetic only): 20000" in falls


@pytest.mark.parametrize("frames_gap,passes", [(0.70, True), (0.40, False)])
def test_frames_check_flips(frames_gap, passes):
    check = evidence.frames_check(frames_gap, video_gap=0.75)
    assert check["passes"] is passes
    assert ("it passes" in check["text"]) is passes
    assert ("does **not** pass" in check["text"]) is (not passes)


def test_learned_guard_is_the_documented_floor():
    floor = 0.30
    got = protocol.learned(
        [0.1, 0.1, 0.0],
        [floor + protocol.LEARNED_MARGIN, floor + protocol.LEARNED_MARGIN - 1e-9, 0.9],
        floor,
    )
    assert list(got) == [True, False, False]


def test_claim_clause_reads_the_interval_against_the_paper():
    assert "claim is reversed here" in answers.claim_clause(1.0, 0.5, 1.5)
    assert "holds here:" in answers.claim_clause(0.0, -0.2, 0.2)
    assert "fails here" in answers.claim_clause(-2.0, -2.5, -1.5)
    assert "inconclusive" in answers.claim_clause(-0.5, -1.0, 0.1)
