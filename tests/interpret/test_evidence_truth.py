"""Issue 26's scoring against the truth: the frames that carry a label's (and a video's)
evidence, the label-agnostic attention's AUROC beside its baselines, intervals over videos,
balanced accuracy, the check of the explained model and the answer that follows the numbers."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from afkit.data import synth
from afkit.interpret import evidence as E


def test_label_positives_keeps_the_audio_frames_with_sound():
    # an audio label over frames 2..6 whose sound is on at frames 2, 4, 5
    got = E.label_positives(8, [2], [7], "audio", ("10110",))
    assert got.tolist() == [False, False, True, False, True, True, False, False]
    # visual (and a set without the column): the whole span
    assert E.label_positives(8, [2], [7], "visual", ("10110",)).sum() == 5
    assert E.label_positives(8, [2], [7], "audio", ("",)).sum() == 5


def _truth_spans():
    return pd.DataFrame(
        {
            "id": ["a", "a", "a", "b"],
            "label": [0, 1, 2, 0],
            "modality": ["visual", "audio", "both", "visual"],
            "has_evidence": [True, True, False, True],
            "start": [0, 4, 1, 2],
            "end": [2, 7, 3, 4],
            "audio_present": ["", "101", "11", ""],
        }
    )


def test_video_truth_is_the_union_over_labels_with_evidence():
    by_video = E.truth_by_video(_truth_spans())
    t = E.video_truth(by_video["a"], 8)
    assert t["visual"].tolist() == [True, True] + [False] * 6  # label 2 has no evidence
    assert np.flatnonzero(t["audio"]).tolist() == [4, 6]  # frames with sound only


def _attention(video, visual, audio):
    rows = [
        (video, m, h, t, w)
        for m, ws in (("visual", visual), ("audio", audio))
        for h in (0, 1)
        for t, w in enumerate(ws)
    ]
    return pd.DataFrame(rows, columns=["video", "modality", "head", "frame", "weight"])


def test_attention_auroc_against_sklearn_and_its_baselines():
    vis = [0.3, 0.2, 0.1, 0.1, 0.05, 0.1, 0.1, 0.05]
    aud = [0.1, 0.1, 0.1, 0.1, 0.3, 0.0, 0.2, 0.1]
    table = E.attention_auroc(_attention("a", vis, aud), _truth_spans(), random_seed=0)
    got = table.set_index(["method", "modality"])["auroc"]
    pos_v = np.arange(8) < 2
    pos_a = np.isin(np.arange(8), [4, 6])
    assert got[("attention", "visual")] == pytest.approx(roc_auc_score(pos_v, vis))
    assert got[("attention", "audio")] == pytest.approx(roc_auc_score(pos_a, aud))
    assert got[("uniform", "visual")] == 0.5 and got[("uniform", "audio")] == 0.5
    assert set(table["method"]) == {"attention", "uniform", "random"}
    with pytest.raises(ValueError, match="attention weights"):
        E.attention_auroc(
            pd.DataFrame(
                {"video": [], "label": [], "frame": [], "modality": [], "attribution": []}
            ),
            _truth_spans(),
        )


def test_intervals_resample_videos_not_rows():
    # video a: 3 labels at 1.0, video b: one at 0.0 -> per-video mean 0.5 (rows would give 0.75)
    scores = pd.DataFrame(
        {"method": "m", "video": ["a", "a", "a", "b"], "auroc": [1.0, 1.0, 1.0, 0.0]}
    )
    out = E.video_means_with_ci(scores, by=["method"], n_boot=300).iloc[0]
    assert out["mean"] == 0.5 and out["n"] == 2
    assert out["ci_low"] == 0.0 and out["ci_high"] == 1.0


def test_balanced_accuracy_matches_sklearn_and_ignores_the_base_rate():
    truth = ["visual"] * 8 + ["audio"] * 2
    always_visual = ["visual"] * 10
    assert E.balanced_accuracy(always_visual, truth) == 0.5
    assert balanced_accuracy_score(truth, always_visual) == 0.5
    pred = ["visual"] * 6 + ["audio"] * 3 + ["visual"]
    assert E.balanced_accuracy(pred, truth) == pytest.approx(balanced_accuracy_score(truth, pred))
    out = E.modality_agreement_arrays(np.r_[np.full(8, 0.9), np.full(2, 0.8)], truth, n_boot=200)
    single = out.set_index("truth").loc["single"]
    assert single["accuracy"] == 0.8 and single["base_rate"] == 0.8
    assert single["balanced_accuracy"] == 0.5 and single["ba_high"] == 0.5
    # the shares order the classes perfectly (0.9 > 0.8): separation 1 in every resample
    assert single["separation_auroc"] == single["sep_low"] == 1.0


def test_frames_check_names_what_failed():
    ok = E.frames_check(0.80, 0.85, learned=True, converged=True)
    assert ok["passes"] and "it passes" in ok["text"]
    slow = E.frames_check(0.80, 0.85, learned=True, converged=False)
    assert not slow["passes"] and "not converged" in slow["text"]
    far = E.frames_check(0.70, 0.85)
    assert not far["passes"] and "more than 10 GAP points below" in far["text"]


def _answer(attention_low, ba_low):
    score = pd.DataFrame(
        [
            ("the union of the video's spans", "attention", 0.7, attention_low, 0.8, 50),
            ("the union of the video's spans", "uniform", 0.5, 0.5, 0.5, 50),
            ("the union of the video's spans", "random", 0.5, 0.45, 0.55, 50),
        ],
        columns=["target", "method", "mean", "ci_low", "ci_high", "n"],
    )
    nan = (np.nan,) * 7
    agreement = pd.DataFrame(
        [
            ("visual", 8, 0.8, 1.0, *nan),
            ("audio", 2, 0.7, 1.0, *nan),
            ("single", 10, 0.78, 0.9, 0.7, ba_low, 0.9, 0.8, 0.9, 0.7, 1.0),
        ],
        columns=[
            "truth",
            "n_classes",
            "mean_visual_share",
            "accuracy",
            "balanced_accuracy",
            "ba_low",
            "ba_high",
            "base_rate",
            "separation_auroc",
            "sep_low",
            "sep_high",
        ],
    )
    deletion = pd.DataFrame(
        [(3, "attention", 1.0, 0.2, 0.8, 0.5, 1.1, 0.9, 50)],
        columns=["k", "method", *E.FAITHFULNESS],
    )
    entropy = pd.DataFrame({"modality": ["visual"], "normalized_entropy": [0.8]})
    return E.interpretability_answer(score, deletion, entropy, agreement)


def test_answer_flips_with_its_numbers():
    yes = _answer(attention_low=0.6, ba_low=0.6)
    no = _answer(attention_low=0.52, ba_low=0.4)
    assert "attention 0.700 [0.600, 0.800], above both baselines" in yes
    assert "not distinguishable from the baselines" in no
    assert "better than chance beyond the interval" in yes
    assert "not distinguishable from chance" in no
    # the shares separate the modalities in both; only where the threshold fails is it said
    assert "separates visual-only from audio-only classes beyond chance" in yes
    assert "the 1/2 threshold is what fails" in no and "threshold is what fails" not in yes
    for text in (yes, no):  # the base rate is there, never as the finding
        assert "For scale, not as a finding: 80% of these classes are visual" in text
        assert "faithful" in text


def test_generator_saves_which_audio_frames_carry_sound(tmp_path):
    synth.generate(
        tmp_path, "smoke", 0, progress=False, train_videos=40, validate_videos=16, test_videos=16
    )
    _, spans = synth.load_ground_truth(tmp_path)
    ev = spans[spans["has_evidence"]]
    audio = ev[ev["modality"] != "visual"]
    assert (audio["audio_present"].str.len() == audio["end"] - audio["start"]).all()
    assert (ev.loc[ev["modality"] == "visual", "audio_present"] == "").all()
    share = audio["audio_present"].str.count("1").sum() / audio["audio_present"].str.len().sum()
    assert abs(share - synth.PROFILES["smoke"].audio_presence) < 0.1
