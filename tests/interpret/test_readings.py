"""afkit.interpret.readings: the video-level token weights read on tiny models whose answer is
known by construction, the per-class scores against hand computations, the truth share on arrays
with known distances, the answer flipping with its table, the clear errors, and the whole call on
tiny trained runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from afkit.data import featurize, synth
from afkit.data.batches import VIDEO_COLUMNS
from afkit.interpret import readings as R
from afkit.metrics import stats
from afkit.models import registry as models
from afkit.training import train

torch.set_num_threads(1)

TINY = dict(num_classes=5, encoder_width=8, attention_width=8, heads=2, head_width=8, dropout=0.0)


# --------------------------------------------------------------------- tiny models, known answer


def _modality_model():
    """Modality tokens whose attention follows the louder modality: each encoder unit is c *
    sum(inputs) (ReLU), the query a constant vector, the key the token itself, so a token's score
    grows with its own modality's input sum."""
    m = models.build("attend_fusion_modality_tokens", "smoke", features="mean", **TINY)
    with torch.no_grad():
        for enc in (m.visual_encoder, m.audio_encoder):
            enc[0].weight.fill_(0.01)
            enc[0].bias.zero_()
        att = m.modality_attention
        att.q.weight.zero_()
        att.q.bias.fill_(1.0)
        att.k.weight.copy_(torch.eye(8))
        att.k.bias.zero_()
    return m.eval()


def _stats_model():
    """MF/STD tokens (k = 2 a statistic) whose attention follows the louder statistic: the shared
    encoder of a modality makes every unit c * sum(that statistic's inputs); query constant, key
    the token, so the keys of the louder statistic win."""
    m = models.build(
        "attend_fusion_stats", "smoke", tokens=2, **{**TINY, "attention_width": 4, "heads": 1}
    )
    with torch.no_grad():
        for enc in (m.visual_encoder, m.audio_encoder):
            enc[0].weight.fill_(0.01)
            enc[0].bias.zero_()
        for att in (m.visual_attention, m.audio_attention):
            att.q.weight.zero_()
            att.q.bias.fill_(1.0)
            att.k.weight.copy_(torch.eye(4))
            att.k.bias.zero_()
    return m.eval()


def _stat_block(mean: float, std: float, width: int) -> torch.Tensor:
    """One modality's MF+STD input in the store's column order (VIDEO_COLUMNS: mean then std)."""
    order = [c.split("_")[0] for c in VIDEO_COLUMNS["mean_std"] if c.endswith("rgb")]
    parts = {"mean": torch.full((width,), mean), "std": torch.full((width,), std)}
    return torch.cat([parts[s] for s in order])


def test_modality_tokens_audio_weight_follows_the_audio_token():
    model = _modality_model()
    # video 0: loud audio, silent visual; video 1: the reverse; video 2: random
    g = torch.Generator().manual_seed(0)
    visual = torch.stack(
        [torch.zeros(1024), torch.full((1024,), 1.0), torch.rand(1024, generator=g)]
    )
    audio = torch.stack([torch.full((128,), 8.0), torch.zeros(128), torch.rand(128, generator=g)])
    y = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.float32)
    batch = {"visual": visual, "audio": audio, "y": y, "index": torch.tensor([4, 5, 6])}
    w = R.token_weights(model, [batch], ids=[f"v{i}" for i in range(7)])
    assert list(w.columns) == ["video", "labels", "audio_weight"]
    assert w["video"].tolist() == ["v4", "v5", "v6"]
    assert w["labels"].tolist() == [(0, 3), (1,), (4,)]
    a = w["audio_weight"].to_numpy()
    assert a[0] > 0.99 and a[1] < 0.01 and 0 <= a[2] <= 1
    # the oracle: the raw [B, heads, 2, 2] weights, key 1 (audio), mean over heads and queries
    with torch.no_grad():
        _, raw = model(visual, audio, return_attention=True)
    assert raw["modality"].shape == (3, 2, 2, 2)
    np.testing.assert_allclose(a, raw["modality"][..., 1].mean(dim=(1, 2)).numpy(), rtol=1e-6)
    # visual weight = 1 - audio weight: the rows sum to 1
    np.testing.assert_allclose(raw["modality"].sum(-1).numpy(), 1.0, rtol=1e-6)


def test_stat_tokens_spread_weight_follows_the_std_inputs():
    model = _stats_model()
    # video 0: visual STD loud, visual MF silent; audio MF loud, audio STD silent. video 1: flip.
    visual = torch.stack([_stat_block(0.0, 1.0, 1024), _stat_block(1.0, 0.0, 1024)])
    audio = torch.stack([_stat_block(8.0, 0.0, 128), _stat_block(0.0, 8.0, 128)])
    y = torch.tensor([[0, 0, 1, 0, 0], [0, 0, 1, 1, 0]], dtype=torch.float32)
    w = R.token_weights(model, [{"visual": visual, "audio": audio, "y": y}])
    assert list(w.columns) == [
        "video",
        "labels",
        "spread_weight_visual",
        "spread_weight_audio",
    ]
    assert w["video"].tolist() == [0, 1]  # positions without index or ids
    sv, sa = w["spread_weight_visual"].to_numpy(), w["spread_weight_audio"].to_numpy()
    assert sv[0] > 0.99 and sv[1] < 0.01
    assert sa[0] < 0.01 and sa[1] > 0.99
    # weights on MF keys (the first k) + on STD keys (the last k) = 1
    with torch.no_grad():
        _, raw = model(visual, audio, return_attention=True)
    assert raw["visual"].shape == (2, 1, 4, 4)
    mf = raw["visual"][..., :2].sum(-1).mean(dim=(1, 2)).numpy()
    np.testing.assert_allclose(mf + sv, 1.0, rtol=1e-6)


def test_random_tiny_models_give_weights_in_range_over_several_batches():
    torch.manual_seed(1)
    m = models.build("attend_fusion_stats", "smoke", tokens=2, **TINY).eval()
    batches = [
        {
            "visual": torch.randn(b, 2048),
            "audio": torch.randn(b, 256),
            "y": (torch.rand(b, 5) > 0.5).float(),
        }
        for b in (3, 4)
    ]
    w = R.token_weights(m, batches)
    assert len(w) == 7 and w["video"].tolist() == list(range(7))
    for col in ("spread_weight_visual", "spread_weight_audio"):
        assert w[col].between(0, 1).all() and w[col].std() > 0


def test_models_without_readable_weights_are_clear_errors():
    for name, extra in (
        ("attend_fusion", {}),
        ("attend_fusion_cross", {"features": "mean_std", "stat_tokens": True}),
        ("attend_fusion_feature_sigmoid", {}),
    ):
        m = models.build(name, "smoke", **{**TINY, **extra})
        with pytest.raises(ValueError, match="no directly readable token weights"):
            R.token_weights(m, [])
    with pytest.raises(ValueError, match="no directly readable token weights"):
        R.token_weights(torch.nn.Linear(2, 2), [])
    frames = {"rgb": torch.zeros(1, 3, 1024), "audio": torch.zeros(1, 3, 128)}
    with pytest.raises(ValueError, match="video-level batches"):
        R.token_weights(_modality_model(), [frames])
    with pytest.raises(ValueError, match="no batches"):
        R.token_weights(_modality_model(), [])


# ---------------------------------------------------------------------- scores by hand


def _weights_table(per_class: dict[int, list[float]], extra=()) -> pd.DataFrame:
    rows = [((c,), v) for c, vs in per_class.items() for v in vs] + list(extra)
    return pd.DataFrame(
        {
            "video": range(len(rows)),
            "labels": [r[0] for r in rows],
            "audio_weight": [r[1] for r in rows],
        }
    )


CLASSES = pd.DataFrame(
    {
        "index": [0, 1, 2, 3, 4, 5],
        "modality": ["audio", "audio", "visual", "visual", "visual", "both"],
    }
)


def test_balanced_accuracy_median_rule_and_spearman_by_hand():
    assert R.balanced_accuracy([1, 0, 1, 0, 0], [1, 1, 0, 0, 0]) == pytest.approx(
        (1 / 2 + 2 / 3) / 2
    )
    assert R.balanced_accuracy([0, 0, 0], [1, 0, 0]) == 0.5  # a constant rule
    assert math.isnan(R.balanced_accuracy([1, 0], [1, 1]))
    assert R.median_rule([0.9, 0.4, 0.5, 0.2, 0.1]).tolist() == [True, False, True, False, False]
    # no ties: 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6*2/60
    assert R.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # a tie: ranks (1.5, 1.5, 3, 4) vs (1, 2, 3, 4), Pearson by hand = 4.5 / sqrt(4.5 * 5)
    assert R.spearman([1, 1, 2, 3], [10, 20, 30, 40]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert R.spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    assert math.isnan(R.spearman([1, 1, 1], [1, 2, 3])) and math.isnan(R.spearman([1, 2], [1, 2]))


def test_class_means_with_and_without_resampling():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0]], bool)
    v = [1.0, 3.0, 5.0]
    np.testing.assert_allclose(R.class_means(v, y), [2.0, 4.0, np.nan])
    # resample 0 draws video 0 twice and video 2 once; resample 1 video 1 three times
    w = np.array([[2, 0, 1], [0, 3, 0]])
    np.testing.assert_allclose(R.class_means(v, y, w), [[1.0, 5.0, np.nan], [3.0, 3.0, np.nan]])


def test_modality_scores_by_hand_and_both_classes_left_out():
    # per-class means: audio 0.9 (0.8, 1.0), 0.4; visual 0.5, 0.2, 0.1; the both class 1.0
    per_class = {0: [0.8, 1.0], 1: [0.4], 2: [0.5], 3: [0.2], 4: [0.1], 5: [1.0]}
    t = R.modality_scores(_weights_table(per_class), CLASSES, stats.Bootstrap(n_boot=50))
    assert list(t.columns) == R.TABLE_COLUMNS
    s = t.set_index("score")
    # AUROC by pairs: 0.9 beats all 3 visual, 0.4 beats 0.2 and 0.1: 5 of 6
    assert s.loc["auroc", "value"] == pytest.approx(5 / 6)
    # median of (0.9, 0.4, 0.5, 0.2, 0.1) = 0.4: audio predicted for 0.9 and 0.5 -> TPR 1/2, TNR 2/3
    assert s.loc["balanced_accuracy", "value"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert s.loc["balanced_accuracy", "base_rate"] == pytest.approx(3 / 5)
    assert s.loc["balanced_accuracy", "majority"] == "visual"
    assert s.loc["balanced_accuracy", "reference"] == 0.5
    assert (s.loc[["auroc", "balanced_accuracy"], "n_classes"] == 5).all()
    assert (s["n_videos"] == 7).all() and (s["ci_low"] <= s["ci_high"]).all()
    means = t[t["score"] == "mean_audio_weight"].set_index("modality")
    assert means.loc["visual classes", "value"] == pytest.approx((0.5 + 0.2 + 0.1) / 3)
    assert means.loc["audio classes", "value"] == pytest.approx((0.9 + 0.4) / 2)
    assert means["n_classes"].tolist() == [3, 2] and (means["reference"] == 0.5).all()


def test_modality_interval_resamples_videos():
    """Every video of a class has the same weight: per-class means do not move under a resample
    of the videos (while every class is drawn), so the interval collapses onto the value; a
    resample of classes would move it."""
    per_class = {0: [0.9] * 40, 1: [0.3] * 40, 2: [0.5] * 40, 3: [0.2] * 40, 4: [0.1] * 40}
    t = R.modality_scores(_weights_table(per_class), CLASSES, stats.Bootstrap(n_boot=100))
    for _, r in t.iterrows():
        assert r["ci_low"] == pytest.approx(r["value"]) and r["ci_high"] == pytest.approx(
            r["value"]
        )
    # with spread inside the classes, the interval opens
    rng = np.random.default_rng(0)
    noisy = {c: list(np.clip(v[0] + rng.normal(0, 0.3, 40), 0, 1)) for c, v in per_class.items()}
    t = R.modality_scores(_weights_table(noisy), CLASSES, stats.Bootstrap(n_boot=100))
    assert (t["ci_high"] - t["ci_low"] > 0.01).all()


def test_truth_share_on_arrays_with_known_distances():
    # 10 videos, class 0 on the first 4; MF column 0 = +-1 by class (standardized: a, b with
    # mean-difference 2 / sd): computed exactly below; STD columns 0 and 1 likewise
    n, inside = 10, np.arange(10) < 4
    y = np.stack([inside, ~inside, np.ones(n, bool)], 1)
    sign = np.where(inside, 1.0, -1.0)
    mean_cols = np.stack([sign, np.full(n, 7.0)], 1)  # the constant column adds nothing
    std_cols = np.stack([sign, 3 * sign], 1)
    z = (sign - sign.mean()) / sign.std()
    step = z[inside].mean() - z[~inside].mean()  # the class's shift in one standardized column
    t = R.spread_truth_arrays(mean_cols, std_cols, y, debias=False)
    assert t.loc[0, "d_mean"] == pytest.approx(abs(step))
    assert t.loc[0, "d_spread"] == pytest.approx(math.sqrt(2) * abs(step))
    assert t.loc[0, "truth_share"] == pytest.approx(math.sqrt(2) / (1 + math.sqrt(2)))
    assert t.loc[1, "truth_share"] == pytest.approx(t.loc[0, "truth_share"])  # the complement
    assert math.isnan(t.loc[2, "truth_share"])  # every video carries class 2
    assert t["n_videos"].tolist() == [4, 6, 10]
    # no spread within the groups: nothing to debias
    d = R.spread_truth_arrays(mean_cols, std_cols, y)
    np.testing.assert_allclose(d.loc[:1, "d_mean"], t.loc[:1, "d_mean"])


def test_debiased_truth_share_removes_the_noise_floor():
    """Pure noise: the plain squared distance of a class of n videos is about D (1/n + 1/(N-n));
    the debiased one is about 0 on average, so rare classes no longer sit near 1/2 by noise."""
    rng = np.random.default_rng(0)
    n, d, c = 600, 40, 30
    y = rng.random((n, c)) < 0.05
    mf, sd = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    plain = R.spread_truth_arrays(mf, sd, y, debias=False)
    fair = R.spread_truth_arrays(mf, sd, y)
    expected = d * (1 / plain["n_videos"] + 1 / (n - plain["n_videos"]))
    assert (plain["d_mean"] ** 2 / expected).mean() == pytest.approx(1.0, abs=0.1)
    assert (fair["d_mean"] ** 2).mean() < 0.15 * (plain["d_mean"] ** 2).mean()
    # a real shift in the STD columns survives the correction
    shifted = sd + 2.0 * y[:, [0]]
    assert R.spread_truth_arrays(mf, shifted, y).loc[0, "truth_share"] > 0.9


def test_spread_scores_by_hand():
    truth = pd.DataFrame(
        {
            "modality": ["visual"] * 6 + ["audio"] * 6,
            "label": list(range(6)) * 2,
            "truth_share": [0.9, 0.8, 0.1, 0.2, 0.3, 0.4] + [0.9, 0.1, 0.5, 0.6, 0.7, 0.3],
        }
    )
    sv = {0: 0.2, 1: 0.4, 2: 0.6, 3: 0.8, 4: 0.1, 5: 0.5}  # per-class spread weights
    sa = {0: 0.7, 1: 0.3, 2: 0.5, 3: 0.6, 4: 0.2, 5: 0.9}
    w = pd.DataFrame(
        {
            "video": range(12),
            "labels": [(c,) for c in range(6)] * 2,
            "spread_weight_visual": [sv[c] for c in range(6)] * 2,
            "spread_weight_audio": [sa[c] for c in range(6)] * 2,
        }
    )
    t = R.spread_scores(w, truth, CLASSES, stats.Bootstrap(n_boot=50)).set_index(
        ["modality", "score"]
    )
    # visual evidence: the visual classes 2, 3, 4 and the both class 5
    vis = [2, 3, 4, 5]
    expect = R.spearman([sv[c] for c in vis], [0.1, 0.2, 0.3, 0.4])
    assert expect == pytest.approx(-0.6)  # ranks (3, 4, 1, 2) vs (1, 2, 3, 4): 1 - 6*16/60
    assert t.loc[("visual", "spearman"), "value"] == pytest.approx(expect)
    assert t.loc[("visual", "spearman"), "n_classes"] == 4
    assert t.loc[("visual", "mean_spread_weight"), "value"] == pytest.approx(0.5)
    assert t.loc[("visual", "mean_spread_weight"), "reference"] == pytest.approx(0.25)
    # audio evidence: classes 0, 1 and 5; weights 0.7, 0.3, 0.9 (ranks 2, 1, 3) vs shares 0.9,
    # 0.1, 0.3 (ranks 3, 1, 2): 1 - 6 * 2 / (3 * 8)
    assert t.loc[("audio", "spearman"), "value"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="spread_weight_visual"):
        R.spread_scores(w.drop(columns="spread_weight_visual"), truth, CLASSES)


def test_modality_scores_errors():
    with pytest.raises(ValueError, match="audio and visual classes"):
        R.modality_scores(_weights_table({2: [0.1], 3: [0.2]}), CLASSES)
    with pytest.raises(ValueError, match="audio_weight"):
        R.modality_scores(pd.DataFrame({"labels": [(0,)]}), CLASSES)


# ---------------------------------------------------------------------------- the answer flips


def _table(  # noqa: PLR0913 (one table's numbers, each varied by a test)
    auroc,
    ba,
    sp_vis,
    sp_aud,
    mean_vis=(0.3, 0.28, 0.32),
    mean_aud=(0.8, 0.75, 0.85),
    converged=True,
):
    def row(reading, modality, score, v, ref, **kw):
        return {
            "reading": reading,
            "modality": modality,
            "score": score,
            "value": v[0],
            "ci_low": v[1],
            "ci_high": v[2],
            "reference": ref,
            "base_rate": kw.get("base_rate", np.nan),
            "majority": kw.get("majority"),
            "n_classes": 100,
            "n_videos": 2000,
            "model": "m",
            "converged": converged,
            "stop_reason": "early_stop" if converged else "cap",
        }

    return pd.DataFrame(
        [
            row("modality tokens", "audio vs visual", "auroc", auroc, 0.5),
            row(
                "modality tokens",
                "audio vs visual",
                "balanced_accuracy",
                ba,
                0.5,
                base_rate=0.71,
                majority="visual",
            ),
            row("modality tokens", "visual classes", "mean_audio_weight", mean_aud, 0.5),
            row("modality tokens", "audio classes", "mean_audio_weight", (0.9, 0.85, 0.95), 0.5),
            row("MF/STD tokens", "visual", "spearman", sp_vis, 0.0),
            row("MF/STD tokens", "visual", "mean_spread_weight", mean_vis, 0.83),
            row("MF/STD tokens", "audio", "spearman", sp_aud, 0.0),
            row("MF/STD tokens", "audio", "mean_spread_weight", (0.6, 0.55, 0.65), 0.85),
        ]
    )


def test_answer_flips_with_the_numbers():
    good = R.readings_answer(
        _table((0.7, 0.6, 0.8), (0.65, 0.6, 0.7), (0.4, 0.2, 0.6), (-0.4, -0.6, -0.2))
    )
    assert "separates audio classes from visual classes: AUROC 0.70 [0.60, 0.80]" in good
    assert "balanced accuracy 0.65 [0.60, 0.70], above the 0.5" in good
    assert "visual tokens the per-class spread weight follows" in good
    assert "audio tokens the per-class spread weight runs against" in good
    assert "rests more on the MF (mean) tokens" in good  # visual 0.3 [0.28, 0.32]
    assert "rests more on the STD (spread) tokens" in good  # audio 0.6 [0.55, 0.65]
    assert "Even on visual classes the attention rests more on the audio token" in good
    null = R.readings_answer(
        _table(
            (0.52, 0.45, 0.6),
            (0.5, 0.44, 0.56),
            (0.0, -0.1, 0.1),
            (0.05, -0.1, 0.2),
            mean_vis=(0.5, 0.45, 0.55),
            mean_aud=(0.5, 0.4, 0.6),
        )
    )
    assert "On visual classes the attention rests about evenly on the two tokens" in null
    assert "does not separate audio classes from visual classes" in null
    assert "the interval includes 0.5" in null
    assert "not distinguishable from the 0.5" in null
    assert null.count("does not follow") == 2 and "the interval includes 0)" in null
    assert "about evenly on the MF and STD tokens" in null
    bad = R.readings_answer(_table((0.3, 0.2, 0.4), (0.4, 0.35, 0.45), (0, -1, 1), (0, -1, 1)))
    assert "wrong way round" in bad and "below the 0.5" in bad
    low = R.readings_answer(
        _table((0.7, 0.6, 0.8), (0.6, 0.55, 0.7), (0, -1, 1), (0, -1, 1), mean_aud=(0.2, 0.1, 0.3))
    )
    assert "On visual classes the attention rests more on the visual token" in low
    for text in (good, null, bad):
        # the base rate is scale, never a finding; the data is named
        assert "For scale, not a finding: 71% of those classes are visual" in text
        assert "*On synthetic data" in text
        assert "(run m: converged)" in text


def test_answer_names_a_run_that_did_not_converge_and_an_empty_table():
    t = _table((0.7, 0.6, 0.8), (0.65, 0.6, 0.7), (0.4, 0.2, 0.6), (0, -1, 1), converged=False)
    text = R.readings_answer(t)
    assert text.count("did NOT converge, stop: cap") == 2 and "not a finding" in text
    empty = R.readings_answer(pd.DataFrame(columns=R.TABLE_COLUMNS), source="real")
    assert "Not scored" in empty and "*On real data.*" in empty


# --------------------------------------------------------------- the whole call, tiny trained runs


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("readings")
    synth.generate(
        root / "data",
        "smoke",
        seed=0,
        progress=False,
        train_videos=96,
        validate_videos=48,
        test_videos=16,
    )
    featurize.build(root / "store", root / "data", feature_set="mean_std", progress=False)
    runs = {}
    for name in ("attend_fusion_modality_tokens", "attend_fusion_stats"):
        cfg = train.make_config(
            "smoke",
            model=name,
            features="mean_std",
            epochs=1,
            batch_size=32,
            num_threads=1,
            progress=False,
            device="cpu",
        )
        train.train(cfg, root / "store", root / "runs" / name)
        runs[name] = root / "runs" / name
    return root, runs


def test_readings_check_on_tiny_runs(tiny_runs):
    root, runs = tiny_runs
    table, figure, answer = R.readings_check(
        runs["attend_fusion_modality_tokens"],
        runs["attend_fusion_stats"],
        root / "store",
        root / "data",
        max_videos=40,
        n_boot=20,
        seed=0,
    )
    assert set(table["score"]) == {
        "auroc",
        "balanced_accuracy",
        "mean_audio_weight",
        "spearman",
        "mean_spread_weight",
    }
    assert (table["n_videos"] == 40).all()
    assert set(table["model"]) == set(runs)
    assert table["value"].between(-1, 1).all()
    per_class = figure["classes"]
    classes, _ = synth.load_ground_truth(root / "data", "validate")
    assert len(per_class) == len(classes)
    assert per_class["audio_weight"].dropna().between(0, 1).all()
    assert figure["source"] == "synthetic" and "attend_fusion_stats" in figure["note"]
    assert "*On synthetic data" in answer and "Modality tokens" in answer
    # one run only: its rows only
    table, _, answer = R.readings_check(
        None, runs["attend_fusion_stats"], root / "store", root / "data", 40, 20, 0
    )
    assert set(table["reading"]) == {"MF/STD tokens"} and "Modality tokens" not in answer
    # the truth of the store's train split, both modalities, every class
    truth = R.spread_truth(root / "store")
    assert set(truth["modality"]) == {"visual", "audio"}
    assert len(truth) == 2 * len(classes)
