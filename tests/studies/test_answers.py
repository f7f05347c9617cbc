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


def _comparison(sd, lo=0.01, hi=0.03):
    """Notebook 04's saved result as 05 and 06 read it: a summary with the seed spreads and the
    two paired intervals (fractions, as 04 saves them)."""
    return {
        "summary": [
            {
                "label": "attend_fusion",
                "gap_std": sd,
                "seeds": 3,
                "learned": True,
                "converged": True,
            },
            {"label": "fc_late", "gap_std": sd / 2, "seeds": 3, "learned": True, "converged": True},
        ],
        "bootstrap": {
            **_ci("attend_fusion", "fc_late", (lo + hi) / 2, lo, hi),
            "seeds_a": 3,
            "seeds_b": 3,
        },
        "bootstrap_matched": {
            **_ci("attend_fusion", "fc_late at AF size (hidden 120)", 0.05, 0.04, 0.06),
            "seeds_a": 3,
            "seeds_b": 3,
        },
    }


def test_seed_spread_is_the_largest_std_of_04():
    assert answers.seed_spread(_comparison(0.004)) == (0.004, 3)
    assert answers.seed_spread(_comparison(0.004), ("fc_late",)) == (0.002, 3)
    assert answers.seed_spread(None) is None
    one = _comparison(0.004)
    for r in one["summary"]:
        r["seeds"] = 1
    assert answers.seed_spread(one) is None  # one seed: no spread


def _ablation(late_on, late_off, early_on, early_off, converged=True):
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
    out = pd.DataFrame(
        {"label": list(labels), "gap_mean": list(labels.values()), "params": 1000, "seeds": 1}
    )
    out["learned"] = True
    out["converged"] = [converged or lab != "late, no attention" for lab in labels]
    return out


def test_ablation_answer_flips():
    small = _comparison(0.001)  # band 2 sqrt 2 * 0.1 = 0.28 points
    helps = answers.fusion_ablation(_ablation(0.78, 0.70, 0.66, 0.60), comparison=small)
    hurts = answers.fusion_ablation(_ablation(0.70, 0.78, 0.60, 0.66), comparison=small)
    assert "In late fusion, attention adds 8.00 GAP points (beyond the seed noise" in helps
    assert "in early fusion, attention adds 6.00 GAP points (beyond" in helps
    assert "In late fusion, attention costs 8.00 GAP points (beyond the seed noise" in hurts
    assert "±0.28 GAP points" in helps
    # the same differences against a spread that swallows them: not effects, no best arm
    wide = answers.fusion_ablation(_ablation(0.78, 0.70, 0.66, 0.60), comparison=_comparison(0.05))
    assert "attention adds 8.00 GAP points (within the seed noise: not an effect)" in wide
    assert "No arm leads the next beyond the seed noise" in wide
    assert "The best arm is" not in wide
    # a lead beyond the noise names the best arm
    best = answers.fusion_ablation(_ablation(0.90, 0.70, 0.66, 0.60), comparison=small)
    assert "The best arm is `late + attention (attend_fusion)` (90.00%)" in best


def test_ablation_cites_04_not_a_one_seed_rerun():
    ahead = answers.fusion_ablation(
        _ablation(0.78, 0.70, 0.66, 0.60), comparison=_comparison(0.001, 0.002, 0.01)
    )
    behind = answers.fusion_ablation(
        _ablation(0.78, 0.70, 0.66, 0.60), comparison=_comparison(0.001, -0.01, -0.002)
    )
    assert "notebook 04's comparison (3 and 3 seeds" in ahead
    assert "micro-F1 +0.60 [+0.20, +1.00]: Attend-Fusion is better beyond" in ahead
    assert "micro-F1 -0.60 [-1.00, -0.20]: FC late fusion is better beyond" in behind
    # the one-seed rerun of fc_late (0.75 here, +3.00 from Attend-Fusion) is not restated
    assert "+3.00" not in ahead
    alone = answers.fusion_ablation(_ablation(0.78, 0.70, 0.66, 0.60))
    assert "Notebook 04's results are absent" in alone
    assert "no seed spread to read it against" in alone and "best arm" not in alone


def test_ablation_does_not_read_04_when_its_arm_did_not_converge():
    comparison = _comparison(0.001, 0.002, 0.01)
    comparison["summary"][1]["converged"] = False  # 04's fc_late
    text = answers.fusion_ablation(_ablation(0.78, 0.70, 0.66, 0.60), comparison=comparison)
    assert "[+0.20, +1.00]: not read (`fc_late` does not count in 04)" in text
    assert "Attend-Fusion is better beyond" not in text.split("size-matched")[0]
    assert "In notebook 04, not read as findings: did not converge" in text


def test_ablation_names_an_arm_that_did_not_converge():
    bad = answers.fusion_ablation(
        _ablation(0.78, 0.70, 0.66, 0.60, converged=False), comparison=_comparison(0.001)
    )
    assert "In late fusion, attention: not read (`late, no attention` does not count)" in bad
    assert "did not converge (stopped at the epoch cap): `late, no attention`" in bad
    good = answers.fusion_ablation(_ablation(0.78, 0.70, 0.66, 0.60), comparison=_comparison(0.001))
    assert "did not converge" not in good


def _sweep(heads_params, off_gap, failed=False, heads_gap=0.74, converged=True):
    rows = [
        ("attend_fusion", 700, 0.75, True),
        ("attention off", 650, off_gap, True),
        ("heads=1", heads_params, heads_gap, True),
        ("tokens=4", 690, 0.749, not failed),
    ]
    out = pd.DataFrame(
        [{"label": a, "params": b, "gap_mean": c, "learned": d} for a, b, c, d in rows]
    )
    out["converged"] = [converged or lab != "heads=1" for lab in out["label"]]
    return out


def test_sweep_answer_flips():
    small = _comparison(0.001)
    a = answers.attention_sweep(_sweep(700, 0.70), comparison=small)
    b = answers.attention_sweep(_sweep(720, 0.80, failed=True), comparison=small)
    assert "changes no parameter count" in a and "changes the parameter count" in b
    assert "(+5.00 for attention: beyond the seed noise" in a
    assert "(-5.00 for attention: beyond the seed noise" in b
    assert "did not learn: `tokens=4`" not in a and "did not learn: `tokens=4`" in b


def test_sweep_names_a_best_only_beyond_the_seed_noise():
    within = answers.attention_sweep(
        _sweep(700, 0.749, heads_gap=0.7505), comparison=_comparison(0.001)
    )
    assert "no configuration is distinguishable from the default" in within
    assert "best configuration is" not in within and "On the Pareto front" not in within
    beyond = answers.attention_sweep(
        _sweep(700, 0.749, heads_gap=0.78), comparison=_comparison(0.001)
    )
    assert "The best configuration is `heads=1` (+3.00 over the default)" in beyond
    assert "On the Pareto front (size vs GAP), beyond the noise: `heads=1`" in beyond
    alone = answers.attention_sweep(_sweep(700, 0.749, heads_gap=0.78))
    assert "no best configuration or Pareto front is named" in alone
    assert answers.sweep_front(_sweep(700, 0.749, heads_gap=0.78), _comparison(0.001))[0]
    draw, note = answers.sweep_front(_sweep(700, 0.749, heads_gap=0.7505), _comparison(0.001))
    assert not draw and "Pareto front not drawn" in note and "±0.28" in note
    assert not answers.sweep_front(_sweep(700, 0.749, heads_gap=0.78), None)[0]


def test_sweep_leaves_out_an_arm_that_did_not_converge():
    bad = answers.attention_sweep(
        _sweep(700, 0.749, heads_gap=0.78, converged=False), comparison=_comparison(0.001)
    )
    assert "did not converge (stopped at the epoch cap): `heads=1`" in bad
    assert "best configuration is `heads=1`" not in bad


def _vocab(af_leads, *, fc_converged=True, n=1500):
    """Trained at 100, 300, 1000 classes (Attend-Fusion's GAP lead ``af_leads``, points), 20000
    arithmetic only; ``n`` training videos at every size, ~3 labels a video."""
    rows = []
    for c, lead in zip((100, 300, 1000, 20000), (*af_leads, np.nan), strict=True):
        for model, share in (("fc_late", 0.1), ("attend_fusion", 0.3)):
            trained = c < 20000
            gap = 0.6 + (lead / 100 if model == "attend_fusion" else 0.0)
            rows.append(
                {
                    "num_classes": c,
                    "model": model,
                    "trained": trained,
                    "train_videos": n,
                    "labels_per_class": n * 3.0 / c,
                    "gap": gap if trained else np.nan,
                    "learned": True if trained else np.nan,
                    "converged": (fc_converged or model != "fc_late" or c != 1000)
                    if trained
                    else np.nan,
                    "paper_head_share": share * c / 300,
                    "paper_params": (341e6 if model == "fc_late" else 72e6) + c * 1e4,
                    "params": (3e6 if model == "fc_late" else 0.7e6) + c * 1e3,
                }
            )
    return pd.DataFrame(rows)


def test_vocabulary_answer_flips():
    grows = answers.vocabulary_scaling(_vocab((1.0, 2.0, 4.0)))
    shrinks = answers.vocabulary_scaling(_vocab((4.0, 2.0, 1.0)))
    reverses = answers.vocabulary_scaling(_vocab((2.0, 0.5, -1.0)))
    assert "+1.00 at 100, +2.00 at 300, +4.00 at 1000" in grows
    assert "its lead grows from 100 to 1000 classes (+1.00 → +4.00)" in grows
    assert "its lead shrinks from 100 to 1000 classes (+4.00 → +1.00)" in shrinks
    assert "its lead reverses from 100 to 1000" in reverses
    assert "ahead at 3 of 3 sizes" in grows and "ahead at 2 of 3 sizes" in reverses
    # the labels a class, N * 3 / C: 45.0 at 100, 4.5 at 1000
    assert "as the labels a class fall from 45.0 to 4.5" in grows


def test_vocabulary_not_converged_row_is_named_and_left_out():
    bad = answers.vocabulary_scaling(_vocab((1.0, 2.0, -4.0), fc_converged=False))
    assert "did not converge (stopped at the epoch cap): `fc_late at 1000`" in bad
    # the trend is read over 100 and 300 only: the 1000 row's -4.00 is not a finding
    assert "its lead grows from 100 to 300 classes" in bad and "-4.00 at 1000" not in bad
    assert "where `fc_late` already did not count" in bad


def test_vocabulary_untrained_sentence_is_computed_from_the_budget():
    text = answers.vocabulary_scaling(_vocab((1.0, 2.0, 4.0), n=1500))
    # 1500 * 3 / 20000 = 0.225 labels a class, against 1500 * 3 / 1000 = 4.5
    assert "At the fixed budget of 1,500 training videos it would have 0.23 positive" in text
    assert "fewer than the 4.50 a class of 1000 classes" in text
    assert "where both models still learned and converged" in text
    # fc_late's parameters at 20000 against 1000 classes: (3e6 + 2e7) / (3e6 + 1e6) = 5.75
    assert "5.8x the parameters of `fc_late` at 1000 classes" in text
    more = answers.vocabulary_scaling(_vocab((1.0, 2.0, 4.0), n=6000))
    assert "6,000 training videos it would have 0.90 positive" in more
    assert "fewer than the 18.00 a class" in more


def _readings(matters=("helps", "no"), within=(True, True), close=(0.1, 3.0), converged=True):
    """Two readings (``chunk tokens``, ``feature sigmoid``) as readings_results tabulates them:
    each reading's verdict, whether its paper-size count is within 1% of 72M, and its test-GAP
    distance to fc_late (points)."""
    rows = []
    for i, reading in enumerate(("chunk tokens", "feature sigmoid")):
        d = {"helps": 1.0, "hurts": -1.0, "no": 0.1}[matters[i]]
        rows.append(
            {
                "reading": reading,
                "gap_diff": d,
                "gap_lo": d - 0.5,
                "gap_hi": d + 0.5,
                "matters": matters[i],
                "paper_within_1pct": within[i],
                "paper_params": 72_000_000 if within[i] else 80_000_000,
                "gap_on": 80.0,
                "gap_minus_fc_late": close[i],
                "learned": True,
                "converged": converged or i == 0,
            }
        )
    return pd.DataFrame(rows)


def _off_vs_fc(lo, hi):
    return _ci("attention off (attend_fusion_noattn)", "fc_late", (lo + hi) / 2, lo, hi)


def test_readings_off_matching_fc_late_is_said_and_not_credited_to_attention():
    matches = answers.readings(_readings(("helps", "helps")), off_vs_fc=_off_vs_fc(-0.002, 0.003))
    short = answers.readings(_readings(("helps", "helps")), off_vs_fc=_off_vs_fc(-0.02, -0.01))
    assert "the network without attention already matches FC late fusion" in matches
    assert "does not rest on the attention here" in matches and "rests on the attention" not in (
        matches.replace("does not rest on the attention", "")
    )
    assert "falls short of FC late fusion beyond the interval" in short
    assert "the paper's result rests on the attention, as the paper says" in short
    ahead = answers.readings(_readings(("helps", "helps")), off_vs_fc=_off_vs_fc(0.01, 0.02))
    assert "already beats FC late fusion" in ahead
    none = answers.readings(_readings(("helps", "helps")))
    assert "not attributed to the attention" in none and "rests on the attention" not in none


def test_readings_are_chosen_by_count_not_by_closeness_to_fc_late():
    # the reading closest to fc_late (chunk tokens, +0.1) does not help; the other does: both
    # fit the count, both are read, and the result is not credited to the attention
    mixed = answers.readings(
        _readings(("no", "helps"), close=(0.1, 3.0)), off_vs_fc=_off_vs_fc(-0.02, -0.01)
    )
    assert "chosen by its parameter count alone" in mixed
    assert "`chunk tokens`, `feature sigmoid`" in mixed and "each is read" in mixed
    assert "`chunk tokens`: no; `feature sigmoid`: helps" in mixed
    assert "not attributed to the attention" in mixed
    # swapping which reading is closest to fc_late changes nothing
    swapped = answers.readings(
        _readings(("no", "helps"), close=(3.0, 0.1)), off_vs_fc=_off_vs_fc(-0.02, -0.01)
    )
    assert swapped == mixed
    # only one fits the count: only it is read
    one = answers.readings(
        _readings(("helps", "no"), within=(True, False)), off_vs_fc=_off_vs_fc(-0.02, -0.01)
    )
    assert "before any score: `chunk tokens`." in one and "rests on the attention" in one
    nofit = answers.readings(_readings(within=(False, False)), off_vs_fc=_off_vs_fc(-0.02, -0.01))
    assert "none can be said to fit the paper" in nofit


def test_readings_do_not_read_off_vs_fc_late_when_fc_late_did_not_converge():
    arms_summary = pd.DataFrame(
        {
            "label": ["attention off (attend_fusion_noattn)", "fc_late"],
            "learned": [True, True],
            "converged": [True, False],
        }
    )
    off = _off_vs_fc(-0.002, 0.003)
    text = answers.readings(_readings(("helps", "helps")), off_vs_fc=off, summary=arms_summary)
    assert "Attention off against FC late fusion is not read: `fc_late` did not" in text
    assert "already matches" not in text and "rests on the attention" not in text
    arms_summary["converged"] = True
    text = answers.readings(_readings(("helps", "helps")), off_vs_fc=off, summary=arms_summary)
    assert "already matches FC late fusion" in text


def test_readings_name_a_pair_that_did_not_converge():
    bad = answers.readings(
        _readings(("helps", "helps"), converged=False), off_vs_fc=_off_vs_fc(-0.02, -0.01)
    )
    assert "did not converge (stopped at the epoch cap): `feature sigmoid`" in bad
    assert "before any score: `chunk tokens`." in bad


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
