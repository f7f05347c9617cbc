"""afkit.models.registry, afkit.models.baselines, afkit.models.attend_fusion: every registered
model, counted against closed forms written here, and the behaviour of attention, masking,
normalization and each ablation switch."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import afkit
from afkit.models import attend_fusion as AF
from afkit.models import baselines as B
from afkit.models import registry as M

NAMES = M.list_models()


def lin(i, o):  # Linear(i, o) with bias
    return i * o + o


# -------------------------------------------------------------- closed forms (independent of afkit)


def expected_params(cfg):
    """Parameter count of a config, written from the architecture's description."""
    if isinstance(cfg, B.BaselineConfig):
        s = 2 if cfg.features == "mean_std" else 1
        W, L, C = cfg.hidden, cfg.depth, cfg.num_classes
        n_gates = {"none": 0, "last": 1, "every": L}[cfg.gating]

        def net(i):  # hidden layers + gates, FC and FCRN alike
            return lin(i, W) + sum(lin(W, W) for _ in range(L - 1)) + n_gates * (W * W + W)

        return {
            "audio": net(128 * s) + lin(W, C),
            "visual": net(1024 * s) + lin(W, C),
            "early": net(1152 * s) + lin(W, C),
            "late": net(1024 * s)
            + net(128 * s)
            + (2 * lin(W, C) if cfg.combine == "logits" else lin(2 * W, C)),
        }[cfg.arrangement]
    if isinstance(cfg, AF.AttendFusionConfig):
        s = 2 if cfg.features == "mean_std" else 1
        if cfg.attention in ("feature_sigmoid", "feature_softmax", "modality_tokens"):
            E, A, H = cfg.encoder_width, cfg.attention_width, cfg.head_width
            enc = lambda i: lin(i, E) + (cfg.encoder_depth - 1) * lin(E, E)  # noqa: E731
            attn = (
                2 * lin(E, E)
                if cfg.attention.startswith("feature")  # a scorer W [E, E] a modality
                else 3 * lin(E, A) + lin(A, E)
            )  # one attention over the 2 modality tokens
            return enc(1024 * s) + enc(128 * s) + attn + lin(2 * E, H) + lin(H, cfg.num_classes)
        P = s if cfg.stat_tokens else 1
        E, d, A, H = (
            cfg.encoder_width,
            cfg.encoder_width // cfg.tokens,
            cfg.attention_width,
            cfg.head_width,
        )
        enc = lambda i: lin(i, E) + (cfg.encoder_depth - 1) * lin(E, E)  # noqa: E731
        attn = 0 if cfg.attention == "none" else (d * A + A) * 3 + (A * d + d)
        if cfg.fusion == "early":
            return enc(1152 * s // P) + attn + lin(E * P, H) + lin(H, cfg.num_classes)
        return (
            enc(1024 * s // P)
            + enc(128 * s // P)
            + 2 * attn
            + lin(2 * E * P, H)
            + lin(H, cfg.num_classes)
        )
    if isinstance(cfg, AF.AttendFusionFramesConfig):
        E, A, H = cfg.encoder_width, cfg.attention_width, cfg.head_width
        extra = 2 * (cfg.encoder_depth - 1) * lin(E, E)
        attn = 2 * (E + 3 * lin(E, A) + lin(A, E)) if cfg.attention else 0
        return lin(1024, E) + lin(128, E) + extra + attn + lin(2 * E, H) + lin(H, cfg.num_classes)
    if isinstance(cfg, B.ReferenceConfig):  # the starter code: LogisticModel, MoeModel
        D = 1152 * (2 if cfg.features == "mean_std" else 1)
        C, K = cfg.num_classes, cfg.mixtures
        return lin(D, C) if cfg.kind == "logistic" else lin(D, C * (K + 1)) + lin(D, C * K)
    raise TypeError(type(cfg))


def inputs(model, batch=3, frames=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    if model.input_kind == "frame":
        rgb, aud = (
            torch.randn(batch, frames, 1024, generator=g),
            torch.randn(batch, frames, 128, generator=g),
        )
        mask = torch.ones(batch, frames, dtype=torch.bool)
        mask[0, frames // 2 :] = False  # a shorter video
        return rgb, aud, mask
    s = 2 if model.config.features == "mean_std" else 1
    return torch.randn(batch, 1024 * s, generator=g), torch.randn(batch, 128 * s, generator=g)


# ---------------------------------------------------------------- every registered model


def test_input_kind_is_read_from_the_registry_without_building():
    kinds = {name: M.input_kind(name) for name in NAMES}
    assert kinds == {name: M.build(name, "smoke", device="meta").input_kind for name in NAMES}
    assert kinds["attend_fusion_frames"] == "frame" and kinds["fc_late"] == "video"
    with pytest.raises(KeyError):
        M.input_kind("no_such_model")


@pytest.mark.parametrize("name", NAMES)
def test_every_model_forward_backward_count(name):
    torch.manual_seed(0)
    model = M.build(name, "smoke")
    assert model.input_kind in ("video", "frame")
    x = inputs(model)
    logits = model(*x)
    assert logits.shape == (3, M.PROFILES["smoke"].num_classes) == (3, 50)
    assert torch.isfinite(logits).all()
    F.binary_cross_entropy_with_logits(logits, torch.rand_like(logits).round()).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), pname
    assert M.count_parameters(model) == expected_params(model.config)
    assert afkit.count_parameters(model) == sum(p.numel() for p in model.parameters())
    logits2, attention = model(*x, return_attention=True)
    assert isinstance(attention, dict)
    l2 = M.build(name, "smoke", normalization="l2")  # non-contiguous slices of one vector
    assert l2(*x).shape == (3, 50)


@pytest.mark.parametrize("name", NAMES)
def test_every_model_paper_count_on_meta(name):
    model = M.build(name, "paper", device="meta")
    assert next(model.parameters()).device.type == "meta"
    assert M.count_parameters(model) == expected_params(model.config)


def test_paper_counts_341m_and_72m():
    fc = M.build("fc_late", device="meta")
    assert M.count_parameters(fc) == 341_204_524
    visual = lin(1024, 8192) + 2 * lin(8192, 8192) + lin(8192, 3862)
    audio = lin(128, 8192) + 2 * lin(8192, 8192) + lin(8192, 3862)
    assert visual + audio == 341_204_524
    af = M.build("attend_fusion", device="meta")
    hand = (
        lin(1024, 2048)
        + lin(128, 2048)
        + 2 * (3 * lin(1024, 1024) + lin(1024, 1024))
        + lin(4096, 7680)
        + lin(7680, 3862)
    )
    assert M.count_parameters(af) == hand == 71_889_174
    assert abs(hand - 72e6) / 72e6 < 0.01
    assert 4.6 < 341_204_524 / hand < 4.8


@pytest.mark.parametrize("profile", ["cpu", "smoke"])
def test_small_profiles_keep_the_size_ratio(profile):
    """The written rule (scaled_profile): widths proportional to the vocabulary (to a multiple
    of 8), then the head re-solved so that fc_late / attend_fusion is the paper's 4.746 on the
    MF+STD inputs these profiles train on."""
    p, paper = M.PROFILES[profile], M.PROFILES["paper"]
    s = p.num_classes / paper.num_classes
    assert (
        abs(p.hidden - paper.hidden * s) <= 4
        and abs(p.encoder_width - paper.encoder_width * s) <= 4
    )
    fc = M.count_parameters(M.build("fc_late", profile, device="meta", features="mean_std"))
    af = M.count_parameters(M.build("attend_fusion", profile, device="meta", features="mean_std"))
    assert abs(fc / af - 341_204_524 / 71_889_174) < 0.01 * 4.746
    if profile == "cpu":
        assert 100_000 < fc < 5_000_000


def test_default_num_classes_per_profile():
    assert M.build("fc_late", "paper", device="meta").config.num_classes == 3862
    assert M.build("fc_late", "cpu", device="meta").config.num_classes == 300
    assert M.build("fc_late", "smoke", device="meta").config.num_classes == 50


def test_overrides_features_and_classes():
    model = M.build("attend_fusion", "smoke", features="mean_std", num_classes=7, heads=4)
    logits = model(torch.randn(2, 2048), torch.randn(2, 256))
    assert logits.shape == (2, 7)
    assert M.count_parameters(model) == expected_params(model.config)
    fc = M.build("fc_late", device="meta", features="mean_std")
    assert M.count_parameters(fc) == 350_641_708
    assert M.count_parameters(M.build("fc_late", device="meta", num_classes=4716)) == 355_198_168


def test_config_round_trips_through_a_plain_dict():
    model = M.build("attend_fusion_cross", "smoke", heads=4, dropout=0.1)
    cfg = M.config_class("attend_fusion_cross")(**M.config_dict(model.config))
    assert cfg == model.config
    rebuilt = M.model_from_config(cfg)
    rebuilt.load_state_dict(model.state_dict())
    v, a = inputs(model)
    torch.testing.assert_close(rebuilt.eval()(v, a), model.eval()(v, a))


def test_registry_errors():
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        M.build("nope")
    with pytest.raises(KeyError, match="unknown profile 'huge'"):
        M.build("fc_late", "huge")
    with pytest.raises(TypeError, match=r"unknown override\(s\) \['widht'\]"):
        M.build("fc_late", "smoke", widht=3)
    with pytest.raises(ValueError, match="features must be one of"):
        M.build("fc_late", "smoke", features="max")
    with pytest.raises(ValueError, match="attention over a single token is the identity"):
        M.build("attend_fusion", "smoke", tokens=1)
    with pytest.raises(ValueError, match="not divisible by heads"):
        M.build("attend_fusion", "smoke", heads=3)
    with pytest.raises(ValueError, match="stat_tokens=True needs features='mean_std'"):
        M.build("attend_fusion", "smoke", stat_tokens=True)


def test_input_shape_errors():
    model = M.build("fc_late", "smoke")
    with pytest.raises(ValueError, match=r"visual must have shape \[B, 1024\]"):
        model(torch.randn(2, 2048), torch.randn(2, 128))
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(torch.randn(2, 1024), torch.randn(3, 128))
    audio_only = M.build("fc_audio", "smoke")
    assert audio_only(None, torch.randn(2, 128)).shape == (2, 50)
    frames = M.build("attend_fusion_frames", "smoke")
    rgb, aud = torch.randn(2, 4, 1024), torch.randn(2, 4, 128)
    with pytest.raises(ValueError, match="a mask row is all False"):
        frames(rgb, aud, torch.tensor([[True] * 4, [False] * 4]))
    with pytest.raises(ValueError, match="at most 300 frames"):
        frames(
            torch.randn(1, 301, 1024),
            torch.randn(1, 301, 128),
            torch.ones(1, 301, dtype=torch.bool),
        )
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        frames(rgb, aud, torch.ones(2, 4))


# ---------------------------------------------------------------- baselines


def test_fcrn_and_gating_compute_what_the_docstring_says():
    torch.manual_seed(1)
    fc, fcrn = M.build("fc_visual", "smoke").eval(), M.build("fcrn_visual", "smoke").eval()
    fcrn.load_state_dict(fc.state_dict())  # same parameter names and shapes
    v = torch.randn(4, 1024)
    Ws = [(layer.weight, layer.bias) for layer in fc.tower.layers]
    h = torch.relu(v @ Ws[0][0].T + Ws[0][1])
    h_fc, h_rn = h, h
    for W, b in Ws[1:]:
        h_fc = torch.relu(h_fc @ W.T + b)
        h_rn = h_rn + torch.relu(h_rn @ W.T + b)
    cls = fc.classifier
    torch.testing.assert_close(fc(v, None), h_fc @ cls.weight.T + cls.bias)
    torch.testing.assert_close(fcrn(v, None), h_rn @ cls.weight.T + cls.bias)
    gated = M.build("fcrn_gated_visual", "smoke").eval()
    gate = gated.tower.gates["2"].gate
    gated.load_state_dict(
        {
            **fc.state_dict(),
            "tower.gates.2.gate.weight": gate.weight,
            "tower.gates.2.gate.bias": gate.bias,
        }
    )
    g = (
        torch.sigmoid(h_rn @ gate.weight.T + gate.bias) * h_rn
    )  # y = sigmoid(Wx + b) * x, after the last layer
    torch.testing.assert_close(gated(v, None), g @ cls.weight.T + cls.bias)
    W = M.PROFILES["smoke"].hidden
    every = M.build("fcrn_gated_visual", "smoke", gating="every")
    assert M.count_parameters(every) - M.count_parameters(fcrn) == 3 * (W * W + W)


def test_late_fusion_averages_logits_or_concatenates():
    torch.manual_seed(2)
    model = M.build("fc_late", "smoke").eval()
    v, a = torch.randn(3, 1024), torch.randn(3, 128)
    lv = model.visual_classifier(model.visual_tower(v))
    la = model.audio_classifier(model.audio_tower(a))
    torch.testing.assert_close(model(v, a), (lv + la) / 2)
    concat = M.build("fc_late", "smoke", combine="concat")
    assert M.count_parameters(model) - M.count_parameters(concat) == 50  # one bias vector fewer
    torch.testing.assert_close(
        concat.eval()(v, a),
        concat.classifier(torch.cat([concat.visual_tower(v), concat.audio_tower(a)], -1)),
    )


# ---------------------------------------------------------------- normalization


def test_l2_normalizes_the_concatenated_vector_as_one():
    torch.manual_seed(3)
    plain = M.build("fc_early", "smoke").eval()
    l2 = M.build("fc_early", "smoke", normalization="l2").eval()
    l2.load_state_dict(plain.state_dict())
    v, a = torch.randn(3, 1024), 5 * torch.randn(3, 128)
    n = torch.cat([v, a], 1).norm(dim=1, keepdim=True)
    torch.testing.assert_close(l2(v, a), plain(v / n, a / n))
    # not per modality: normalizing each modality separately gives another answer
    assert not torch.allclose(l2(v, a), plain(F.normalize(v, dim=1), F.normalize(a, dim=1)))


def test_standardize_uses_the_given_statistics():
    torch.manual_seed(4)
    plain = M.build("attend_fusion", "smoke").eval()
    std = M.build("attend_fusion", "smoke", normalization="standardize").eval()
    std.load_state_dict(plain.state_dict(), strict=False)
    v, a = torch.randn(3, 1024), torch.randn(3, 128)
    with pytest.raises(RuntimeError, match=r"needs model.set_input_stats"):
        std(v, a)
    vm, vs, am, as_ = (
        torch.randn(1024),
        torch.rand(1024) + 0.5,
        torch.randn(128),
        torch.rand(128) + 0.5,
    )
    std.set_input_stats(vm, vs, am, as_)
    torch.testing.assert_close(std(v, a), plain((v - vm) / vs, (a - am) / as_))
    assert M.count_parameters(std) == M.count_parameters(plain)  # statistics are buffers
    with pytest.raises(ValueError, match=r"visual_mean must have shape \(1024,\)"):
        std.set_input_stats(torch.zeros(3), vs, am, as_)


# ---------------------------------------------------------------- attention


def test_attention_weights_are_probabilities_over_the_stated_tokens():
    torch.manual_seed(5)
    for name, kw, keys in (
        ("attend_fusion", {}, ("visual", "audio")),
        ("attend_fusion_cross", {}, ("visual", "audio")),
        ("attend_fusion_early", {}, ("fused",)),
        ("attend_fusion_stats", {}, ("visual", "audio")),
    ):
        model = M.build(name, "smoke", **kw)
        logits, att = model(*inputs(model, batch=3), return_attention=True)
        T = model.config.num_tokens
        assert set(att) == set(keys), name
        for w in att.values():
            assert w.shape == (3, model.config.heads, T, T), name
            assert (w >= 0).all()
            torch.testing.assert_close(w.sum(-1), torch.ones(3, model.config.heads, T))
    stats = M.build("attend_fusion_stats", "smoke")
    assert stats.config.num_tokens == 2 * stats.config.tokens  # MF chunks then STD chunks


def test_token_attention_matches_hand_computation_and_permutes():
    torch.manual_seed(6)
    att = AF.TokenAttention(dim=6, width=8, heads=2)
    x = torch.randn(2, 5, 6)
    y, w = att(x)
    q, k = (x @ att.q.weight.T + att.q.bias), (x @ att.k.weight.T + att.k.bias)
    q0, k0 = q[..., :4], k[..., :4]  # head 0
    torch.testing.assert_close(w[:, 0], torch.softmax(q0 @ k0.transpose(1, 2) / math.sqrt(4), -1))
    perm = torch.tensor([3, 0, 4, 1, 2])
    y_p, w_p = att(x[:, perm])
    torch.testing.assert_close(w_p, w[:, :, perm][:, :, :, perm])
    torch.testing.assert_close(y_p, y[:, perm])


def test_attention_off_is_the_identity_with_the_same_widths():
    torch.manual_seed(7)
    af = M.build("attend_fusion", "smoke").eval()
    off = M.build("attend_fusion_noattn", "smoke").eval()
    cfg = af.config
    d = cfg.encoder_width // cfg.tokens
    one_attention = (
        3 * (d * cfg.attention_width + cfg.attention_width) + cfg.attention_width * d + d
    )
    assert M.count_parameters(af) - M.count_parameters(off) == 2 * one_attention
    # zeroing the attention's output leaves tokens + 0: the model then equals attention-off
    missing, unexpected = off.load_state_dict(af.state_dict(), strict=False)
    assert not missing and all("attention" in k for k in unexpected)
    v, a = inputs(af)
    assert not torch.allclose(af(v, a), off(v, a))
    with torch.no_grad():
        for module in (af.visual_attention, af.audio_attention):
            module.out.weight.zero_()
            module.out.bias.zero_()
    torch.testing.assert_close(af(v, a), off(v, a))
    assert off(v, a, return_attention=True)[1] == {}


def test_cross_attention_attends_to_the_other_modality():
    torch.manual_seed(8)
    self_ = M.build("attend_fusion", "smoke").eval()
    cross = M.build("attend_fusion_cross", "smoke").eval()
    cross.load_state_dict(self_.state_dict())  # same parameters, exactly
    v, a = inputs(self_)
    a2 = a + torch.randn_like(a)
    w_self = self_(v, a, return_attention=True)[1]["visual"]
    w_self2 = self_(v, a2, return_attention=True)[1]["visual"]
    torch.testing.assert_close(w_self, w_self2)  # visual self-attention ignores audio
    w_cross = cross(v, a, return_attention=True)[1]["visual"]
    w_cross2 = cross(v, a2, return_attention=True)[1]["visual"]
    assert not torch.allclose(w_cross, w_cross2)  # visual queries over audio tokens
    # by hand: visual queries from visual tokens, keys from audio tokens
    B, k, dtok = v.shape[0], cross.config.tokens, cross.config.token_dim
    tv = cross.visual_encoder(v.view(B, 1, -1)).reshape(B, k, dtok)
    ta = cross.audio_encoder(a.view(B, 1, -1)).reshape(B, k, dtok)
    att = cross.visual_attention
    dh = cross.config.attention_width // cross.config.heads
    q, kk = att.q(tv)[..., :dh], att.k(ta)[..., :dh]  # head 0
    torch.testing.assert_close(
        w_cross[:, 0], torch.softmax(q @ kk.transpose(1, 2) / math.sqrt(dh), -1)
    )


def test_early_fusion_attention_is_one_encoder_and_one_attention():
    early = M.build("attend_fusion_early", "smoke")
    cfg = early.config
    assert M.count_parameters(early) == expected_params(cfg)
    assert set(M.parameter_breakdown(early)) == {"encoder", "attention", "head", "classifier"}
    assert M.parameter_breakdown(early)["encoder"] == lin(1152, cfg.encoder_width)


# ---------------------------------------------------------------- frame level


def test_masked_frames_get_exactly_zero_attention_and_do_not_matter():
    torch.manual_seed(9)
    model = M.build("attend_fusion_frames", "smoke").eval()
    rgb, aud, mask = inputs(model, batch=3, frames=8)
    logits, att = model(rgb, aud, mask, return_attention=True)
    for w in att.values():
        assert w.shape == (3, model.config.heads, 8)
        assert (w[0, :, 4:] == 0).all()  # exactly zero on padding
        assert (w[0, :, :4] > 0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(3, model.config.heads))
    # padding content is irrelevant, and the unpadded video gives the same logits
    rgb2 = rgb.clone()
    rgb2[0, 4:] = 100.0
    torch.testing.assert_close(model(rgb2, aud, mask)[0], logits[0])
    short = model(rgb[:1, :4], aud[:1, :4], mask[:1, :4])
    torch.testing.assert_close(short[0], logits[0])


def test_permuting_frames_permutes_frame_attention():
    torch.manual_seed(10)
    model = M.build("attend_fusion_frames", "smoke").eval()
    rgb, aud, mask = inputs(model, batch=2, frames=6)
    logits, att = model(rgb, aud, mask, return_attention=True)
    perm = torch.tensor([5, 2, 0, 4, 1, 3])
    logits_p, att_p = model(rgb[:, perm], aud[:, perm], mask[:, perm], return_attention=True)
    torch.testing.assert_close(logits_p, logits)
    for key in ("visual", "audio"):
        torch.testing.assert_close(att_p[key], att[key][:, :, perm])


def test_frames_attention_off_is_masked_mean():
    torch.manual_seed(11)
    model = M.build("attend_fusion_frames", "smoke", attention=False).eval()
    rgb, aud, mask = inputs(model, batch=2, frames=6)
    hv = model.visual_encoder(rgb)
    ha = model.audio_encoder(aud)
    m = mask[..., None].float()
    pooled = torch.cat([(hv * m).sum(1) / m.sum(1), (ha * m).sum(1) / m.sum(1)], -1)
    torch.testing.assert_close(model(rgb, aud, mask), model.classifier(model.head(pooled)))


# ---------------------------------------------------------------- counting


def test_forward_flops_of_fc_is_two_per_weight():
    for name in ("fc_late", "fc_early", "fcrn_audio"):
        model = M.build(name, "smoke", device="meta")
        weights = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
        assert M.forward_flops(model) == 2 * weights


def test_forward_flops_of_attend_fusion_by_hand():
    model = M.build("attend_fusion", "smoke", device="meta")
    c = model.config
    E, k, d, A, H, C = (
        c.encoder_width,
        c.tokens,
        c.token_dim,
        c.attention_width,
        c.head_width,
        c.num_classes,
    )
    macs = 1024 * E + 128 * E  # encoders
    macs += 2 * (k * 3 * d * A + k * A * d)  # projections, per token
    macs += 2 * (2 * k * k * A)  # QK^T and AV, all heads
    macs += 2 * E * H + H * C
    assert M.forward_flops(model) == 2 * macs


def test_parameter_breakdown_sums_to_the_count():
    model = M.build("attend_fusion", "paper", device="meta")
    parts = M.parameter_breakdown(model)
    assert sum(parts.values()) == M.count_parameters(model)
    assert parts["classifier"] == lin(7680, 3862)
    assert parts["visual_attention"] == parts["audio_attention"] == 4 * lin(1024, 1024)


# ---------------------------------------------------------------- paper size, one real step


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fc_late", "attend_fusion"])
def test_paper_size_one_step_on_cpu(name):
    torch.manual_seed(0)
    model = M.build(name, "paper")
    v, a = torch.randn(2, 1024), torch.randn(2, 128)
    logits = model(v, a)
    assert logits.shape == (2, 3862)
    F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits)).backward()
    assert torch.isfinite(
        model.classifier.weight.grad
        if name == "attend_fusion"
        else model.visual_classifier.weight.grad
    ).all()
    del model


@pytest.mark.slow
def test_paper_size_frames_one_step_on_cpu():
    torch.manual_seed(0)
    model = M.build("attend_fusion_frames", "paper")
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 10:] = False
    logits = model(torch.randn(2, 30, 1024), torch.randn(2, 30, 128), mask)
    assert logits.shape == (2, 3862)
    logits.sum().backward()
    assert torch.isfinite(model.visual_query.grad).all()


def test_moe_matches_the_starter_code_formula():
    """MoeModel of the starter code: gates softmax over M + 1 (a dummy expert predicting 0),
    experts sigmoid, p = sum_m gate_m expert_m; afkit returns logit(p). Checked in numpy."""
    torch.manual_seed(0)
    model = M.build("moe", "smoke", features="mean", num_classes=5)
    v, a = torch.randn(4, 1024), torch.randn(4, 128)
    x = torch.cat([v, a], 1).numpy().astype(np.float64)
    g = (
        x @ model.gate.weight.detach().numpy().T.astype(np.float64)
        + model.gate.bias.detach().numpy()
    )
    e = (
        x @ model.experts.weight.detach().numpy().T.astype(np.float64)
        + model.experts.bias.detach().numpy()
    )
    g = g.reshape(4, 5, 3)
    g = np.exp(g - g.max(-1, keepdims=True))
    g /= g.sum(-1, keepdims=True)
    p = (g[..., :2] / 1 * (1 / (1 + np.exp(-e.reshape(4, 5, 2))))).sum(-1)
    got = torch.sigmoid(model(v, a)).detach().numpy()
    np.testing.assert_allclose(got, p, rtol=1e-4, atol=1e-6)


def test_moe_logit_is_exact_and_learns_where_p_is_tiny():
    """The MoE's logit of p has a gradient where p is far below 1e-6 (``torch.logit(p, eps)``
    clamps there: zero gradient, a class that never recovers), and equals log p - log(1 - p)
    computed in float64 (the oracle) where p is representable."""
    torch.manual_seed(0)
    model = M.build("moe", "smoke", features="mean", num_classes=3)
    with torch.no_grad():
        model.experts.bias.fill_(-40.0)  # every expert says ~e^-40: p ~ 4e-18
    v, a = torch.randn(2, 1024), torch.randn(2, 128)
    logits = model(v, a)
    assert (logits < -30).all()
    logits.sum().backward()
    assert model.experts.bias.grad.abs().min() > 0  # the clamp gave exactly 0 here
    with torch.no_grad():
        model.experts.bias.normal_()
        got = model(v, a).double()
        x = torch.cat([v, a], 1).double()
        g = (x @ model.gate.weight.double().T + model.gate.bias.double()).view(2, 3, 3)
        e = torch.sigmoid(x @ model.experts.weight.double().T + model.experts.bias.double())
        p = (g.softmax(-1)[..., :2] * e.view(2, 3, 2)).sum(-1)
        torch.testing.assert_close(got, torch.log(p) - torch.log1p(-p), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------- readings of the attention (issue 19)

READINGS = [
    "attend_fusion_feature_sigmoid",
    "attend_fusion_feature_softmax",
    "attend_fusion_modality_tokens",
]


def test_readings_are_registered_as_our_readings():
    desc = M.describe_models()
    for name in READINGS:
        assert name in NAMES
        assert (
            "our reading" in desc[name]
            and "scores and re-weights that modality's features" in desc[name]
        )
    assert (
        "our reading" in AF.AttendFusion.__doc__
        and "scores and re-weights" in AF.FeatureAttention.__doc__
    )


@pytest.mark.parametrize("name", READINGS)
def test_readings_at_paper_size_are_72m(name):
    n = M.count_parameters(M.build(name, "paper", device="meta"))
    assert abs(n - 72_000_000) <= 0.01 * 72_000_000
    off = M.count_parameters(M.build(name, "paper", device="meta", attention="none"))
    assert off == M.count_parameters(M.build("attend_fusion_noattn", "paper", device="meta"))


def test_feature_readings_compute_what_the_docstring_says():
    torch.manual_seed(0)
    v, a = inputs(M.build("attend_fusion", "smoke"))
    E = M.PROFILES["smoke"].encoder_width
    sig = M.build("attend_fusion_feature_sigmoid", "smoke").eval()
    soft = M.build("attend_fusion_feature_softmax", "smoke").eval()
    for model in (sig, soft):
        _, w = model(v, a, return_attention=True)
        assert set(w) == {"visual", "audio"} and w["visual"].shape == (3, E)
        if model is sig:
            assert ((w["visual"] > 0) & (w["visual"] < 1)).all()
            h = model.visual_encoder(v)
            torch.testing.assert_close(w["visual"], torch.sigmoid(model.visual_scorer.score(h)))
        else:  # E * softmax: the mean weight is 1
            torch.testing.assert_close(w["audio"].mean(-1), torch.ones(3))
    # a = 1 (softmax of a constant score) is the attention-off twin, the same network
    off = M.build("attend_fusion_feature_softmax", "smoke", attention="none").eval()
    missing, unexpected = off.load_state_dict(soft.state_dict(), strict=False)
    assert not missing and all("scorer" in k for k in unexpected)
    assert not torch.allclose(soft(v, a), off(v, a))
    with torch.no_grad():
        for scorer in (soft.visual_scorer, soft.audio_scorer):
            scorer.score.weight.zero_()
            scorer.score.bias.zero_()
    torch.testing.assert_close(soft(v, a), off(v, a))
    assert M.model_config(
        "attend_fusion_feature_sigmoid", "smoke", attention="none"
    ) == M.model_config("attend_fusion_noattn", "smoke")


def test_modality_tokens_attend_over_the_two_embeddings():
    torch.manual_seed(1)
    model = M.build("attend_fusion_modality_tokens", "smoke").eval()
    v, a = inputs(model)
    _, w = model(v, a, return_attention=True)
    heads = model.config.heads
    assert set(w) == {"modality"} and w["modality"].shape == (3, heads, 2, 2)
    torch.testing.assert_close(w["modality"].sum(-1), torch.ones(3, heads, 2))
    # by hand: tokens [h_visual, h_audio], residual self-attention, flattened into the head
    t = torch.stack([model.visual_encoder(v), model.audio_encoder(a)], dim=1)
    y, _ = model.modality_attention(t)
    torch.testing.assert_close(model(v, a), model.classifier(model.head((t + y).reshape(3, -1))))
    off = M.build("attend_fusion_modality_tokens", "smoke", attention="none").eval()
    off.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        model.modality_attention.out.weight.zero_()
        model.modality_attention.out.bias.zero_()
    torch.testing.assert_close(model(v, a), off(v, a))


def test_readings_reject_what_they_cannot_read():
    with pytest.raises(ValueError, match="fusion='late'"):
        M.build("attend_fusion_feature_sigmoid", "smoke", fusion="early")
    with pytest.raises(ValueError, match="stat_tokens"):
        M.build("attend_fusion_modality_tokens", "smoke", features="mean_std", stat_tokens=True)


@pytest.mark.parametrize("name", READINGS)
def test_readings_train_at_smoke_size(name):
    """A few AdamW steps on a fixed batch fit it: the loss falls well below its start."""
    torch.manual_seed(0)
    model = M.build(name, "smoke", features="mean_std", dropout=0.0)
    v, a = inputs(model, batch=16)
    y = (torch.rand(16, 50, generator=torch.Generator().manual_seed(1)) < 0.1).float()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(v, a), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
