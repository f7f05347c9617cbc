"""afkit.interpret.attribution (extraction, captum attributions) and afkit.interpret.evidence
(scoring against the truth), on hand-built models with known answers (and the real Attend-Fusion
models at smoke size)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from afkit.data import featurize, store, synth
from afkit.data.batches import Batches, Inputs, Order
from afkit.interpret import attribution as I
from afkit.interpret import evidence as E
from afkit.metrics import stats
from afkit.models import registry as models

torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------------
# hand-built toy models


class ToyFrameAttention(nn.Module):
    """Frame-level attention pooling with a known formula: per modality m and head h,
    w_{m,h,t} = softmax over real frames of (x_{m,t} . u_{m,h}); logits from the pooled inputs."""

    input_kind = "frame"

    def __init__(self, dv=6, da=3, heads=2, classes=4, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.uv = nn.Parameter(torch.randn(heads, dv, generator=g))
        self.ua = nn.Parameter(torch.randn(heads, da, generator=g))
        self.out = nn.Linear(heads * (dv + da), classes)

    @staticmethod
    def pool(x, u, mask):
        s = torch.einsum("btd,hd->bht", x, u).masked_fill(~mask[:, None, :], float("-inf"))
        w = s.softmax(-1)
        return torch.einsum("bht,btd->bhd", w, x).flatten(1), w

    def forward(self, rgb, audio, mask, return_attention=False):
        pv, wv = self.pool(rgb, self.uv, mask)
        pa, wa = self.pool(audio, self.ua, mask)
        logits = self.out(torch.cat([pv, pa], -1))
        return (logits, {"rgb": wv, "audio": wa}) if return_attention else logits


class ToyTokenAttention(nn.Module):
    """Video-level: each modality's input cut into `tokens` chunks; multi-head self-attention."""

    input_kind = "video"

    def __init__(self, tokens=4, heads=3, classes=5):
        super().__init__()
        self.tokens, self.heads = tokens, heads
        self.vq = nn.Linear(1024 // tokens, 6 * heads)
        self.aq = nn.Linear(128 // tokens, 6 * heads)
        self.out = nn.Linear(1024 + 128, classes)

    def attend(self, x, proj):
        B = x.shape[0]
        t = x.view(B, self.tokens, -1)
        q = proj(t).view(B, self.tokens, self.heads, -1).transpose(1, 2)  # [B, H, T, d]
        w = (q @ q.transpose(-1, -2) / math.sqrt(q.shape[-1])).softmax(-1)
        return w

    def forward(self, visual, audio, return_attention=False):
        logits = self.out(torch.cat([visual, audio], -1))
        if not return_attention:
            return logits
        return logits, {
            "visual": self.attend(visual, self.vq),
            "audio": self.attend(audio, self.aq),
        }


class LinearVideo(nn.Module):
    """logits = visual @ Wv + audio @ Wa + b: a linear video-level model (IG is exact: x * w)."""

    input_kind = "video"

    def __init__(self, wv, wa, bias=None):
        super().__init__()
        self.wv, self.wa = nn.Parameter(wv), nn.Parameter(wa)
        self.b = nn.Parameter(torch.zeros(wv.shape[1]) if bias is None else bias)

    def forward(self, visual, audio):
        return visual @ self.wv + audio @ self.wa + self.b


class GatedFrames(nn.Module):
    """logit_c = sum_t mask_t g_t (rgb_t . wv_c + audio_t . wa_c): only frames with g_t != 0
    count."""

    input_kind = "frame"

    def __init__(self, gate, wv, wa):
        super().__init__()
        self.register_buffer("gate", gate)
        self.wv, self.wa = nn.Parameter(wv), nn.Parameter(wa)

    def forward(self, rgb, audio, mask):
        per_frame = rgb @ self.wv + audio @ self.wa  # [B, T, C]
        return (per_frame * (mask.float() * self.gate)[..., None]).sum(1)


class TanhFrames(nn.Module):
    """A nonlinear frame model for the completeness check."""

    input_kind = "frame"

    def __init__(self, classes=3, seed=1):
        super().__init__()
        torch.manual_seed(seed)
        self.v, self.a = nn.Linear(1024, 8), nn.Linear(128, 8)
        self.c = nn.Linear(8, classes)

    def forward(self, rgb, audio, mask):
        h = torch.tanh(self.v(rgb) + self.a(audio))
        m = mask.float()[..., None]
        return self.c((h * m).sum(1) / m.sum(1))


def frame_batch(B=3, T=7, dv=6, da=3, lengths=(7, 4, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    rgb = torch.randn(B, T, dv, generator=g) * mask[..., None]
    audio = torch.randn(B, T, da, generator=g) * mask[..., None]
    return {"rgb": rgb, "audio": audio, "mask": mask, "index": torch.tensor([10, 11, 12][:B])}


# ------------------------------------------------------------------------------------------------
# 1. extraction


def test_frame_attention_table_matches_formula_and_normalises():
    torch.manual_seed(0)
    model, batch = ToyFrameAttention(), frame_batch()
    table = I.attention_table(model, batch, progress=False)
    assert list(table.columns) == ["video", "modality", "head", "frame", "weight"]
    # only real frames: sum(lengths) * heads * modalities rows
    assert len(table) == (7 + 4 + 5) * 2 * 2
    sums = table.groupby(["video", "modality", "head"], observed=True)["weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-6)
    assert set(table["modality"]) == {"visual", "audio"}  # "rgb" read as visual
    # independent oracle: softmax by hand for video 11 (4 real frames), audio, head 1
    x = batch["audio"][1, :4]
    expected = torch.softmax(x @ model.ua[1].detach(), 0).numpy()
    got = table.query("video == 11 and modality == 'audio' and head == 1").sort_values("frame")[
        "weight"
    ]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-5)
    # with padding kept: padded frames are there, with weight exactly 0
    full = I.attention_table(model, batch, include_padding=True, progress=False)
    assert len(full) == 3 * 7 * 2 * 2
    pad = full[~batch["mask"].numpy()[full["video"] - 10, full["frame"]]]
    assert len(pad) == (3 + 2) * 2 * 2 and (pad["weight"] == 0).all()


def test_video_attention_table_streams_a_loader_with_ids():
    torch.manual_seed(0)
    model = ToyTokenAttention(tokens=4, heads=3)
    batches = [
        {
            "visual": torch.randn(2, 1024),
            "audio": torch.randn(2, 128),
            "index": torch.tensor([i, i + 1]),
        }
        for i in (0, 2, 4)
    ]
    ids = ["a", "b", "c", "d", "e", "f"]
    table = I.attention_table(model, iter(batches), ids=ids, max_batches=2, progress=False)
    assert list(table.columns) == ["video", "modality", "head", "query", "key", "weight"]
    assert sorted(table["video"].unique()) == ["a", "b", "c", "d"]  # the 3rd batch was not read
    assert len(table) == 4 * 2 * 3 * 4 * 4
    rows = table.groupby(["video", "modality", "head", "query"], observed=True)["weight"].sum()
    np.testing.assert_allclose(rows.to_numpy(), 1.0, atol=1e-6)
    # one cell against the model's own tensor
    _, att = model(batches[1]["visual"], batches[1]["audio"], return_attention=True)
    cell = table.query(
        "video == 'd' and modality == 'audio' and head == 2 and query == 3 and key == 1"
    )
    assert cell["weight"].item() == pytest.approx(att["audio"][1, 2, 3, 1].item(), rel=1e-6)


def test_attention_table_errors():
    model = ToyFrameAttention()
    with pytest.raises(KeyError, match="'rgb' and 'audio'"):
        I.attention_table(model, {"audio": torch.zeros(1, 2, 3)}, progress=False)
    with pytest.raises(TypeError, match="dequantize it first"):
        I.attention_table(
            model,
            {"rgb": torch.zeros(1, 2, 6, dtype=torch.uint8), "audio": torch.zeros(1, 2, 3)},
            progress=False,
        )
    with pytest.raises(
        TypeError,
        match="model 'TanhFrames' has no attention: its forward takes no return_attention",
    ):
        I.attention_table(
            TanhFrames(),
            {"rgb": torch.zeros(1, 2, 1024), "audio": torch.zeros(1, 2, 128)},
            progress=False,
        )

    class NoWeights(nn.Module):
        def forward(self, visual, audio, return_attention=False):
            return visual.sum(1, keepdim=True), {}

    with pytest.raises(ValueError, match="returned no attention weights"):
        I.attention_table(
            NoWeights(),
            {"visual": torch.zeros(1, 1024), "audio": torch.zeros(1, 128)},
            progress=False,
        )


def test_attention_entropy_known_values():
    # uniform over 4 frames: H = log 4, normalised 1; one-hot: H = 0;
    # two frames 1/2: log 2, normalised 1
    table = pd.DataFrame(
        {
            "video": [0] * 4 + [1] * 4 + [2] * 2,
            "modality": ["visual"] * 10,
            "head": [0] * 10,
            "frame": [0, 1, 2, 3, 0, 1, 2, 3, 0, 1],
            "weight": [0.25] * 4 + [1, 0, 0, 0] + [0.5, 0.5],
        }
    )
    per_video = I.attention_entropy(table, by=["video"]).set_index("video")
    np.testing.assert_allclose(per_video["entropy"], [math.log(4), 0.0, math.log(2)], atol=1e-12)
    np.testing.assert_allclose(per_video["normalized_entropy"], [1.0, 0.0, 1.0], atol=1e-12)
    overall = I.attention_entropy(table)
    assert overall["entropy"].item() == pytest.approx((math.log(4) + math.log(2)) / 3)
    assert overall["n"].item() == 3


def test_entropy_over_training_from_state_dicts():
    torch.manual_seed(0)
    model, batch = ToyFrameAttention(), frame_batch()
    sharp = {k: v.clone() for k, v in model.state_dict().items()}
    sharp["uv"] *= 50
    sharp["ua"] *= 50  # large scores -> near one-hot attention -> low entropy
    flat = {k: v.clone() for k, v in model.state_dict().items()}
    flat["uv"].zero_()
    flat["ua"].zero_()  # zero scores -> uniform attention -> normalised entropy exactly 1
    out = I.entropy_over_training(
        {1: {"model": flat}, 2: model.state_dict(), 3: sharp}, batch, model=model, progress=False
    )
    assert set(out["checkpoint"]) == {1, 2, 3}
    per = out.groupby("checkpoint")["normalized_entropy"].mean()
    assert per[1] == pytest.approx(1.0, abs=1e-6)
    assert per[1] > per[2] > per[3]
    with pytest.raises(ValueError, match="model=<a template"):
        I.entropy_over_training([model.state_dict()], batch)


# ------------------------------------------------------------------------------------------------
# 2. attributions


@pytest.mark.parametrize("method", I.METHODS)
def test_planted_audio_signal_video_level(method):
    torch.manual_seed(0)
    C = 3
    wv, wa = torch.zeros(2048, C), torch.zeros(256, C)
    wa[:128, 1] = torch.randn(128)  # class 1 reads only mean_audio
    wv[1024:, 2] = torch.randn(1024)  # class 2 reads only std_rgb
    model = LinearVideo(wv, wa)
    batch = {
        "visual": torch.randn(4, 2048),
        "audio": torch.randn(4, 256),
        "y": torch.tensor([[0, 1, 1], [0, 1, 0], [0, 0, 1], [0, 1, 1]], dtype=torch.float32),
    }
    table = I.attribution_table(
        model, batch, I.Method(method, n_steps=4), stream=I.Stream(progress=False)
    )
    assert list(table.columns) == [
        "video",
        "label",
        "modality",
        "block",
        "attribution",
        "magnitude",
    ]
    assert len(table) == 6 * 4  # 6 (video, label) pairs x 4 blocks
    shares = I.modality_shares(table, by="class").set_index("label")
    assert shares.loc[1, "audio_share"] == pytest.approx(1.0)
    assert shares.loc[2, "visual_share"] == pytest.approx(1.0)
    by_block = table.groupby(["label", "block"])["magnitude"].sum()
    assert by_block[(1, "mean_audio")] > 0 and by_block[(1, "std_audio")] == 0
    assert by_block[(2, "std_rgb")] > 0 and by_block[(2, "mean_rgb")] == 0
    # linear model: every method gives exactly x * w per feature (zero baseline)
    exact = (batch["audio"][1, :128] * wa[:128, 1]).sum().item()
    got = table.query("video == 1 and label == 1 and block == 'mean_audio'")["attribution"].item()
    assert got == pytest.approx(exact, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("method", I.METHODS)
def test_planted_frames_get_all_attribution(method):
    torch.manual_seed(0)
    T, C = 9, 2
    gate = torch.zeros(T)
    gate[3:6] = 1.0  # only frames 3..5 matter
    model = GatedFrames(gate, torch.randn(1024, C) * 0.05, torch.randn(128, C) * 0.05)
    mask = torch.ones(2, T, dtype=torch.bool)
    mask[1, 7:] = False
    batch = {"rgb": torch.randn(2, T, 1024), "audio": torch.randn(2, T, 128), "mask": mask}
    table = I.attribution_table(
        model, batch, I.Method(method, n_steps=4), target=1, stream=I.Stream(progress=False)
    )
    assert list(table.columns) == [
        "video",
        "label",
        "modality",
        "frame",
        "attribution",
        "magnitude",
    ]
    assert len(table) == (9 + 7) * 2  # real frames x modalities
    inside = table["frame"].between(3, 5)
    assert (table.loc[~inside, "magnitude"] == 0).all()
    assert (table.loc[inside, "magnitude"] > 0).all()
    # padding kept: exactly zero
    full = I.attribution_table(
        model,
        batch,
        I.Method(method, n_steps=4),
        target=[1, 1],
        include_padding=True,
        stream=I.Stream(progress=False),
    )
    assert (full.query("video == 1 and frame >= 7")["magnitude"] == 0).all()


def test_integrated_gradients_completeness():
    torch.manual_seed(0)
    model = TanhFrames()
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    batch = {"rgb": torch.randn(2, 5, 1024), "audio": torch.randn(2, 5, 128), "mask": mask}
    target = torch.tensor([0, 2])
    attr = I.attribute(model, batch, target, I.Method("integrated_gradients", n_steps=64))
    assert attr["visual"].shape == (2, 5, 1024) and attr["audio"].shape == (2, 5, 128)
    total = attr["visual"].sum((1, 2)) + attr["audio"].sum((1, 2))
    with torch.no_grad():
        fx = model(batch["rgb"], batch["audio"], mask).gather(1, target[:, None])[:, 0]
        f0 = model(torch.zeros(2, 5, 1024), torch.zeros(2, 5, 128), mask).gather(
            1, target[:, None]
        )[:, 0]
    np.testing.assert_allclose(total.numpy(), (fx - f0).numpy(), rtol=1e-3, atol=1e-4)
    # the zero-byte baseline is another reference point: completeness against f(zero_byte)
    attr_b = I.attribute(model, batch, target, I.Method(baseline="zero_byte", n_steps=64))
    with torch.no_grad():
        fb = model(
            torch.full((2, 5, 1024), I.ZERO_BYTE), torch.full((2, 5, 128), I.ZERO_BYTE), mask
        )
        fb = fb.gather(1, target[:, None])[:, 0]
    total_b = attr_b["visual"].sum((1, 2)) + attr_b["audio"].sum((1, 2))
    # (padding differs from this baseline, but the model ignores padding: its gradient there is 0)
    np.testing.assert_allclose(total_b.numpy(), (fx - fb).numpy(), rtol=1e-3, atol=1e-4)


def test_attribute_errors():
    model = TanhFrames()
    batch = {"rgb": torch.zeros(2, 3, 1024), "audio": torch.zeros(2, 3, 128)}
    with pytest.raises(ValueError, match="unknown method 'saliency'"):
        I.attribute(model, batch, 0, method="saliency")
    with pytest.raises(ValueError, match="target has 3 entries for 2 videos"):
        I.attribute(model, batch, [0, 1, 2])
    with pytest.raises(KeyError, match="target='labels' needs the batch's 'y'"):
        I.attribution_table(model, batch, stream=I.Stream(progress=False))
    lin = LinearVideo(torch.zeros(1000, 2), torch.zeros(100, 2))
    with pytest.raises(ValueError, match="cannot tell the feature blocks"):
        I.attribution_table(
            lin,
            {"visual": torch.zeros(1, 1000), "audio": torch.zeros(1, 100)},
            target=0,
            stream=I.Stream(progress=False),
        )


def test_modality_shares_by_vertical():
    table = pd.DataFrame(
        {
            "video": [0, 0, 1, 1, 2, 2],
            "label": [5, 5, 5, 5, 7, 7],
            "modality": ["visual", "audio"] * 3,
            "frame": [0] * 6,
            "attribution": 0.0,
            "magnitude": [3.0, 1.0, 1.0, 1.0, 0.0, 2.0],
        }
    )
    per_video = I.modality_shares(table, by="video")
    np.testing.assert_allclose(per_video["visual_share"], [0.75, 0.5, 0.0])
    per_class = I.modality_shares(table).set_index("label")
    assert per_class.loc[5, "visual_share"] == pytest.approx(0.625) and per_class.loc[5, "n"] == 2
    vocab = pd.DataFrame({"Index": [5, 7], "Vertical1": ["Games", "Music"]})
    per_vertical = I.modality_shares(table, by="vertical", vocabulary=vocab).set_index("vertical")
    assert per_vertical.loc["Music", "audio_share"] == pytest.approx(1.0)
    classes = pd.DataFrame(
        {"index": [5, 7], "vertical": ["Games", "Music"]}
    )  # synth's ground truth
    assert I.modality_shares(table, by="vertical", vocabulary=classes).equals(
        per_vertical.reset_index()
    )
    with pytest.raises(ValueError, match="needs vocabulary"):
        I.modality_shares(table, by="vertical")


# ------------------------------------------------------------------------------------------------
# 3. scoring


def test_auroc_known_cases_and_sklearn():
    y = np.array([0, 0, 1, 1, 1, 0, 0])
    s = y * 2.0 + 1.0
    assert E.auroc(s, y) == 1.0  # perfect
    assert E.auroc(-s, y) == 0.0  # inverted
    assert E.auroc(np.ones(7), y) == 0.5  # constant
    assert math.isnan(E.auroc(s, np.zeros(7)))
    rng = np.random.default_rng(0)
    for _ in range(20):  # ties included (rounded scores)
        yy = rng.random(40) < 0.3
        yy[:2] = [True, False]
        ss = np.round(rng.normal(size=40) + yy, 1)
        assert E.auroc(ss, yy) == pytest.approx(roc_auc_score(yy, ss), abs=1e-12)
    # random scores: ~0.5 on average
    vals = [E.auroc(E.random_scores(50, rng), np.arange(50) < 10) for _ in range(400)]
    assert abs(np.mean(vals) - 0.5) < 0.02


def test_span_auroc():
    scores = np.array([0, 0, 0, 5, 6, 7, 0, 9, 9.0])
    mask = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0], bool)  # frames 7, 8 (high scores) are padding
    assert E.span_auroc(scores, 3, 6, mask=mask) == 1.0  # frames 3, 4, 5
    assert E.span_auroc(scores, 3, 5, end_inclusive=True, mask=mask) == 1.0
    assert E.span_auroc(scores, 3, 6) == pytest.approx(
        2 / 3
    )  # 3 positives each beat 4 of 6 negatives
    assert E.span_auroc(scores, 3, 6) == pytest.approx(
        roc_auc_score(np.arange(9) // 3 == 1, scores)
    )
    assert E.span_auroc(-scores, [0, 6], [3, 9]) == pytest.approx(
        roc_auc_score(np.arange(9) // 3 != 1, -scores)
    )
    with pytest.raises(ValueError, match="bad span"):
        E.span_auroc(scores, 5, 2)


def _spans():
    return pd.DataFrame(
        {
            "video": [10, 11, 11],
            "label": [1, 0, 1],
            "start": [3, 0, 3],
            "end": [6, 2, 6],
            "modality": ["audio", "visual", "both"],
        }
    )


def test_evidence_auroc_on_hand_made_tables():
    T = 8
    rows = []
    for video in (10, 11):
        for m in ("visual", "audio"):
            for h in (0, 1):
                for t in range(T):
                    inside = 3 <= t < 6
                    w = (1.0 if inside else 0.1) if m == "audio" else (1.0 if t < 2 else 0.1)
                    rows.append((video, m, h, t, w))
    att = pd.DataFrame(rows, columns=["video", "modality", "head", "frame", "weight"])
    inverted = att.assign(weight=-att["weight"])
    scores = E.evidence_auroc({"attention": att, "inverted": inverted}, _spans(), random_seed=3)
    got = scores.set_index(["method", "video", "label"])["auroc"]
    # video 10 label 1: audio span 3..5, audio scores peak there -> 1; inverted -> 0
    assert got[("attention", 10, 1)] == 1.0 and got[("inverted", 10, 1)] == 0.0
    # video 11 label 0: visual span 0..1 and visual peaks there -> 1
    assert got[("attention", 11, 0)] == 1.0
    # video 11 label 1, "both": visual + audio summed:
    # frames 3..5 score 1.1, 0..1 score 1.1, rest 0.2
    pos = (np.arange(T) >= 3) & (np.arange(T) < 6)
    summed = np.where(pos, 1.1, np.where(np.arange(T) < 2, 1.1, 0.2))
    assert got[("attention", 11, 1)] == pytest.approx(roc_auc_score(pos, summed))
    assert set(scores["method"]) == {"attention", "inverted", "random", "uniform"}
    assert (scores.query("method == 'uniform'")["auroc"] == 0.5).all()
    assert (scores["n_frames"] == T).all() and (scores.query("label == 1")["n_positive"] == 3).all()
    again = E.evidence_auroc({"attention": att}, _spans(), random_seed=3)
    assert (
        again.query("method == 'random'")["auroc"].tolist()
        == scores.query("method == 'random'")["auroc"].tolist()
    )
    summary = E.means_with_ci(scores, n_boot=200)
    assert summary.set_index("method").loc["attention", "n"] == 3
    lo, hi = summary.set_index("method").loc["inverted", ["ci_low", "ci_high"]]
    assert lo <= summary.set_index("method").loc["inverted", "mean"] <= hi


def test_evidence_auroc_reads_synth_ground_truth_columns():
    # the columns of afkit.data.synth.load_ground_truth: id names the video;
    # rows without evidence skipped
    spans = pd.DataFrame(
        {
            "split": "test",
            "id": ["v0", "v0", "v1"],
            "video_index": [0, 0, 1],
            "label": [1, 2, 1],
            "modality": ["audio", "none", "visual"],
            "has_evidence": [True, False, True],
            "start": [2, 0, 0],
            "end": [4, 0, 1],
            "num_frames": [5, 5, 5],
            "strength": 1.0,
        }
    )
    rows = [
        (v, m, 0, t, float(t in (2, 3)) if v == "v0" else float(t == 0))
        for v in ("v0", "v1")
        for m in ("visual", "audio")
        for t in range(5)
    ]
    att = pd.DataFrame(rows, columns=["video", "modality", "head", "frame", "weight"])
    scores = E.evidence_auroc({"attention": att}, spans, random_seed=None)
    assert scores[["video", "label", "modality", "auroc"]].values.tolist() == [
        ["v0", 1, "audio", 1.0],
        ["v1", 1, "visual", 1.0],
    ]


def test_random_method_is_near_half_over_many_videos():
    rows = [(v, "visual", 0, t, 1.0) for v in range(300) for t in range(20)]
    att = pd.DataFrame(rows, columns=["video", "modality", "head", "frame", "weight"])
    spans = pd.DataFrame(
        {"video": range(300), "label": 0, "start": 5, "end": 10, "modality": "visual"}
    )
    scores = E.evidence_auroc({"constant": att}, spans, random_seed=0)
    summary = E.means_with_ci(scores, n_boot=500).set_index("method")
    assert summary.loc["constant", "mean"] == 0.5
    assert abs(summary.loc["random", "mean"] - 0.5) < 0.03
    assert summary.loc["random", "ci_low"] < 0.5 < summary.loc["random", "ci_high"]


def test_mean_interval_known():
    mean, lo, hi = stats.mean_interval(np.full(10, 0.7))
    assert (mean, lo, hi) == (pytest.approx(0.7), pytest.approx(0.7), pytest.approx(0.7))
    v = np.random.default_rng(0).normal(size=400)
    mean, lo, hi = stats.mean_interval(v, n_boot=2000)
    se = v.std(ddof=1) / math.sqrt(len(v))
    assert lo == pytest.approx(mean - 1.96 * se, abs=0.3 * se) and hi == pytest.approx(
        mean + 1.96 * se, abs=0.3 * se
    )


def test_modality_agreement():
    out = E.modality_agreement_arrays(
        [0.9, 0.2, 0.4, 0.8, 0.5], ["visual", "audio", "visual", "audio", "both"]
    )
    out = out.set_index("truth")
    assert out.loc["visual", "accuracy"] == 0.5 and out.loc["audio", "accuracy"] == 0.5
    assert out.loc["single", "accuracy"] == 0.5 and out.loc["single", "n_classes"] == 4
    assert out.loc["visual", "mean_visual_share"] == pytest.approx(0.65)
    assert math.isnan(out.loc["both", "accuracy"]) and out.loc["both", "mean_visual_share"] == 0.5
    shares = pd.DataFrame(
        {"label": [0, 1, 2], "visual_share": [1.0, 0.0, 0.3], "audio_share": [0.0, 1.0, 0.7]}
    )
    classes = pd.DataFrame(
        {"index": [0, 1, 2, 3], "vertical": 0, "modality": ["visual", "audio", "audio", "visual"]}
    )
    table = E.modality_agreement(shares, classes).set_index("truth")
    assert table.loc["single", "accuracy"] == 1.0 and table.loc["single", "n_classes"] == 3
    with pytest.raises(ValueError, match="classes has no column 'modality'"):
        E.modality_agreement(shares, classes.rename(columns={"modality": "m"}))
    with pytest.raises(
        ValueError, match=r"classes has none of the columns \['label', 'index', 'Index'\]"
    ):
        E.modality_agreement(shares, classes.rename(columns={"index": "c"}))


def test_modality_agreement_threshold_boundary():
    """A visual share of exactly 1/2 predicts audio (the rule is ``s_v > 1/2``). Hand-computed:
    shares [0.5, 0.75, 0.5, 0.25] for truths [visual, visual, audio, audio] predict
    [audio, visual, audio, audio]: visual accuracy 1/2, audio 1, pooled 3/4 (with ``>=`` it
    would be visual 1, audio 1/2). Just above 1/2 (0.5 + 1e-12) predicts visual."""
    out = E.modality_agreement_arrays(
        [0.5, 0.75, 0.5, 0.25], ["visual", "visual", "audio", "audio"]
    )
    out = out.set_index("truth")
    assert out.loc["visual", "accuracy"] == 0.5 and out.loc["audio", "accuracy"] == 1.0
    assert out.loc["single", "accuracy"] == 0.75
    above = E.modality_agreement_arrays([0.5 + 1e-12, 0.5], ["visual", "audio"]).set_index("truth")
    assert above.loc["single", "accuracy"] == 1.0
    shares = pd.DataFrame({"label": [0, 1], "visual_share": [0.5, 0.5], "audio_share": [0.5, 0.5]})
    classes = pd.DataFrame({"index": [0, 1], "modality": ["visual", "audio"]})
    table = E.modality_agreement(shares, classes).set_index("truth")
    assert table.loc["visual", "accuracy"] == 0.0 and table.loc["audio", "accuracy"] == 1.0


def test_topk_and_random_frames():
    scores = np.array([[0.1, 0.9, 0.5, 0.7, 2.0], [3.0, 1.0, 2.0, 0.0, 0.0]])
    mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], bool)
    top = E.topk_frames(scores, mask, 2)
    np.testing.assert_array_equal(top, [[0, 1, 0, 1, 0], [1, 0, 1, 0, 0]])  # padding never chosen
    assert E.topk_frames(scores, mask, 10).sum(1).tolist() == [3, 2]  # keeps one real frame
    rnd = E.random_frames(mask, 2, np.random.default_rng(0))
    assert rnd.sum(1).tolist() == [2, 2] and not (rnd & ~mask).any()


def test_faithfulness_on_a_model_with_known_contributions():
    torch.manual_seed(0)
    T = 10
    wv = torch.zeros(1024, 1)
    wv[0, 0] = 1.0  # logit = sum over real frames of rgb[t, 0]
    model = GatedFrames(torch.ones(T), wv, torch.zeros(128, 1))
    B = 40
    rgb = torch.zeros(B, T, 1024)
    rgb[:, :, 0] = torch.rand(B, T)  # positive contributions
    mask = torch.ones(B, T, dtype=torch.bool)
    batch = {"rgb": rgb, "audio": torch.zeros(B, T, 128), "mask": mask}
    contrib = rgb[:, :, 0].numpy()
    top, rand = E.deletion_drops(model, batch, contrib, 0, E.Deletion(k=3, n_random=4))
    # oracle: deleting the top 3 frames removes exactly their contributions
    np.testing.assert_allclose(top, np.sort(contrib, 1)[:, -3:].sum(1), rtol=1e-5)
    res = E.faithfulness(top, rand, n_boot=300)
    assert res["mean_drop_top"] > res["mean_drop_random"] and res["mean_difference"] > 0
    assert res["ci_low"] > 0 and res["frac_top_greater"] == 1.0 and res["n"] == B
    # inverted scores delete the smallest contributions: less than random
    top_inv, rand_inv = E.deletion_drops(model, batch, -contrib, 0, E.Deletion(k=3, n_random=4))
    assert E.faithfulness(top_inv, rand_inv, n_boot=300)["ci_high"] < 0
    with pytest.raises(ValueError, match="differ in length"):
        E.faithfulness([1.0], [1.0, 2.0])


def test_deletion_test_end_to_end_with_tables():
    torch.manual_seed(0)
    T = 9
    gate = torch.zeros(T)
    gate[3:6] = 1.0
    wv = torch.randn(1024, 2) * 0.05
    model = GatedFrames(gate, wv, torch.zeros(128, 2))
    B = 6
    rgb = torch.randn(B, T, 1024)
    rgb[:, 3:6] += 0.5 * torch.sign(wv[:, 1])  # evidence for class 1 on frames 3..5
    y = torch.zeros(B, 2)
    y[:, 1] = 1
    loader = [
        {
            "rgb": rgb[:3],
            "audio": torch.zeros(3, T, 128),
            "mask": torch.ones(3, T, dtype=torch.bool),
            "y": y[:3],
            "index": torch.arange(3),
        },
        {
            "rgb": rgb[3:],
            "audio": torch.zeros(3, T, 128),
            "mask": torch.ones(3, T, dtype=torch.bool),
            "y": y[3:],
            "index": torch.arange(3, 6),
        },
    ]
    ig = I.attribution_table(
        model, loader, I.Method("integrated_gradients", n_steps=8), stream=I.Stream(progress=False)
    )
    spans = pd.DataFrame(
        {"video": range(B), "label": 1, "start": 3, "end": 6, "modality": "visual"}
    )
    scores = E.evidence_auroc({"integrated_gradients": ig}, spans)
    assert (scores.query("method == 'integrated_gradients'")["auroc"] == 1.0).all()
    res = E.deletion_test(
        model,
        loader,
        {"integrated_gradients": ig},
        E.Deletion(k=3, n_random=3, n_boot=200),
        stream=I.Stream(progress=False),
    ).set_index("method")
    assert res.loc["integrated_gradients", "n"] == B
    assert (
        res.loc["integrated_gradients", "mean_drop_top"]
        > res.loc["integrated_gradients", "mean_drop_random"]
    )
    with pytest.raises(ValueError, match="video-level models have no frames"):
        E.evidence_auroc({"x": ig.drop(columns="frame")}, spans)


# ------------------------------------------------------------------------------------------------
# the real models (smoke size)


def test_real_attend_fusion_video_level():
    torch.manual_seed(0)
    model = models.build("attend_fusion", "smoke")
    cfg = model.config
    batch = {
        "visual": torch.randn(3, 1024),
        "audio": torch.randn(3, 128),
        "y": torch.nn.functional.one_hot(torch.tensor([1, 2, 3]), cfg.num_classes).float(),
    }
    table = I.attention_table(model, batch, progress=False)
    assert len(table) == 3 * 2 * cfg.heads * cfg.num_tokens**2
    sums = table.groupby(["video", "modality", "head", "query"], observed=True)["weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-5)
    ent = I.attention_entropy(table)
    assert len(ent) == 2 * cfg.heads and (ent["normalized_entropy"].between(0, 1 + 1e-6)).all()
    attr = I.attribution_table(model, batch, "input_x_gradient", stream=I.Stream(progress=False))
    assert set(attr["block"]) == {"mean_rgb", "mean_audio"} and len(attr) == 3 * 2
    assert model.training  # left as found


def test_real_attend_fusion_frames():
    torch.manual_seed(0)
    model = models.build("attend_fusion_frames", "smoke").eval()
    heads, T = model.config.heads, 6
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    batch = {
        "rgb": torch.randn(2, T, 1024) * mask[..., None],
        "audio": torch.randn(2, T, 128) * mask[..., None],
        "mask": mask,
        "y": torch.nn.functional.one_hot(torch.tensor([4, 7]), model.config.num_classes).float(),
    }
    full = I.attention_table(model, batch, include_padding=True, progress=False)
    assert len(full) == 2 * 2 * heads * T
    sums = full.groupby(["video", "modality", "head"], observed=True)["weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-5)
    assert (full.query("video == 1 and frame >= 4")["weight"] == 0).all()
    ig = I.attribution_table(model, batch, I.Method(n_steps=8), stream=I.Stream(progress=False))
    assert len(ig) == (6 + 4) * 2
    attr = I.attribute(model, batch, torch.tensor([4, 7]), I.Method(n_steps=32))
    with torch.no_grad():
        fx = model(batch["rgb"], batch["audio"], mask)[[0, 1], [4, 7]]
        f0 = model(torch.zeros_like(batch["rgb"]), torch.zeros_like(batch["audio"]), mask)[
            [0, 1], [4, 7]
        ]
    total = attr["visual"].sum((1, 2)) + attr["audio"].sum((1, 2))
    np.testing.assert_allclose(total.numpy(), (fx - f0).numpy(), rtol=1e-2, atol=1e-3)
    att = I.attention_table(model, batch, progress=False)
    res = E.deletion_test(
        model,
        batch,
        {"attention": att, "ig": ig},
        E.Deletion(k=2, n_random=2, n_boot=100),
        stream=I.Stream(progress=False),
    )
    assert list(res["method"]) == ["attention", "ig"] and (res["n"] == 2).all()


# ------------------------------------------------------------------------------------------------
# the synthetic release's ground truth, through the store's loader


@pytest.fixture(scope="module")
def synth_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("interpret")
    synth.generate(
        root / "data",
        "smoke",
        seed=0,
        progress=False,
        train_videos=8,
        validate_videos=8,
        test_videos=24,
    )
    featurize.build(
        root / "store",
        root / "data",
        splits=["test"],
        feature_set="mean_std",
        frames=True,
        progress=False,
    )
    split = store.open_store(root / "store" / "test")
    loader = Batches(split, 8, Inputs(kind="frame"), Order(shuffle=False))
    classes, spans = synth.load_ground_truth(root / "data", "test")
    return root / "data", split, loader, classes, spans


def test_oracle_scores_find_the_synthetic_evidence(synth_split):
    """Frame scores = energy of the frame along the label's prototype directions (the generator's
    own evidence directions): they must find the true spans, and random scores must not."""
    from afkit.data.synth import load_prototypes

    data_dir, split, loader, classes, spans = synth_split
    proto = load_prototypes(data_dir)
    rows = []
    for batch in loader:
        ids = [split.ids[int(i)] for i in batch["index"]]
        for b, vid in enumerate(ids):
            n = int(batch["mask"][b].sum())
            for c in np.flatnonzero(batch["y"][b].numpy() > 0):
                for m, key, mean in (
                    ("visual", "rgb", "rgb_mean"),
                    ("audio", "audio", "audio_mean"),
                ):
                    x = batch[key][b, :n].numpy() - proto[mean]
                    energy = ((x @ proto[key][c].T) ** 2).sum(1)
                    rows += [(vid, int(c), m, t, e, e) for t, e in enumerate(energy)]
    table = pd.DataFrame(
        rows, columns=["video", "label", "modality", "frame", "attribution", "magnitude"]
    )
    scores = E.evidence_auroc({"oracle": table}, spans, random_seed=0)
    n_evidence = int((spans["has_evidence"] & (spans["end"] > spans["start"])).sum())
    assert len(scores.query("method == 'oracle'")) == n_evidence
    summary = E.means_with_ci(scores, n_boot=200).set_index("method")
    assert summary.loc["oracle", "mean"] > 0.8
    assert abs(summary.loc["random", "mean"] - 0.5) < 0.15
    # the oracle's modality shares agree with the classes' true modality better than chance
    agreement = E.modality_agreement(I.modality_shares(table), classes).set_index("truth")
    assert agreement.loc["single", "accuracy"] > 0.6


def test_real_frame_model_on_the_store_loader(synth_split):
    _, split, loader, classes, spans = synth_split
    torch.manual_seed(0)
    model = models.build("attend_fusion_frames", "smoke")
    att = I.attention_table(model, loader, ids=split.ids, progress=False)
    assert set(att["video"]) == set(split.ids[:])
    assert len(att) == int(split.num_frames.sum()) * 2 * model.config.heads
    ixg = I.attribution_table(
        model, loader, "input_x_gradient", stream=I.Stream(ids=split.ids, progress=False)
    )
    scores = E.evidence_auroc({"attention": att, "input_x_gradient": ixg}, spans)
    assert set(scores["method"]) == {"attention", "input_x_gradient", "random", "uniform"}
    assert scores["auroc"].dropna().between(0, 1).all()
    res = E.deletion_test(
        model,
        loader,
        {"attention": att},
        E.Deletion(k=2, n_random=1, n_boot=50),
        stream=I.Stream(ids=split.ids, progress=False),
    )
    # every (video, label) is tested, except in videos of a single frame (nothing to delete)
    expected = sum(len(split.labels(i)) for i in range(len(split)) if split.num_frames[i] > 1)
    assert res["n"].item() == expected > 0


def test_modality_separation_auroc_hand_case():
    """Visual-class shares 0.9, 0.8 vs audio-class shares 0.7, 0.95: of the 4 (visual, audio)
    pairs, 2 have the visual class's share larger -> AUROC 0.5; accuracy at 1/2: visual 2/2,
    audio 0/2 (every share > 1/2)."""
    out = E.modality_agreement_arrays(
        [0.9, 0.8, 0.7, 0.95, 0.5], ["visual", "visual", "audio", "audio", "both"]
    )
    single = out.set_index("truth").loc["single"]
    assert single["separation_auroc"] == pytest.approx(0.5)
    assert single["accuracy"] == pytest.approx(0.5)
    perfect = E.modality_agreement_arrays(
        [0.9, 0.8, 0.7, 0.6], ["visual", "visual", "audio", "audio"]
    )
    assert perfect.set_index("truth").loc["single", "separation_auroc"] == pytest.approx(1.0)
    assert np.isnan(out.set_index("truth").loc["visual", "separation_auroc"])
