"""Attend-Fusion (arXiv 2408.14441), *our reconstruction*: the attention blocks, the
video-level model with its readings of the paper's attention, and the frame-level model.

Read top to bottom: ``TokenAttention`` (multi-head scaled dot-product attention); the readings
of "scores and re-weights that modality's features" (``READINGS``) and ``FeatureAttention``;
``AttendFusionConfig`` and ``AttendFusion`` (video level: ``forward(visual, audio)``);
``AttendFusionFramesConfig`` and ``AttendFusionFrames`` (frame level: ``forward(rgb, audio,
mask)`` with rgb ``[B, T, 1024]``, audio ``[B, T, 128]``, mask ``[B, T]`` bool, True = a real
frame, T <= 300). ``return_attention=True`` returns ``(logits, attention)``, ``attention`` a dict
of tensors (shapes documented per model). Input normalization, the input widths and the shared
plumbing (``ModelBase``) are ``afkit.models.baselines``'; the registry is ``afkit.models.registry``;
the parameter arithmetic that chose the paper-size widths is ``afkit.models.reconstruction``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from afkit.core import paper
from afkit.models.baselines import (
    AUDIO_DIM,
    FEATURES,
    MAX_FRAMES,
    NORMALIZATIONS,
    VISUAL_DIM,
    InputNorm,
    ModelBase,
    check_choice,
    check_dropout,
    check_positive,
)

# ----------------------------------------------------------------------------------------------
# Attention


class TokenAttention(nn.Module):
    """Multi-head scaled dot-product attention over tokens.

    With queries x_q [B, Tq, d] and keys/values x_kv [B, Tk, d] (x_kv = x_q: self-attention),
    per head h: A_h = softmax(Q_h K_h^T / sqrt(d_h)) with Q = x_q W_q, K = x_kv W_k, V = x_kv W_v
    (each d -> width, split into ``heads`` of d_h = width / heads), then y = concat_h(A_h V_h) W_o
    (width -> d). Returns ``(y [B, Tq, d], weights [B, heads, Tq, Tk])``; each row of weights is
    a probability vector over the keys; keys with ``mask`` False ([B, Tk]) get exactly zero.
    Parameters: 3 (d*width + width) + (width*d + d); the head count does not change them.
    """

    def __init__(self, dim: int, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"attention_width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, width), nn.Linear(dim, width), nn.Linear(dim, width)
        self.out = nn.Linear(width, dim)

    def forward(self, x_q, x_kv=None, mask=None):
        x_kv = x_q if x_kv is None else x_kv
        B, Tq, _ = x_q.shape
        Tk = x_kv.shape[1]

        def split(t, T):  # [B, T, width] -> [B, heads, T, d_h]
            return t.view(B, T, self.heads, -1).transpose(1, 2)

        q, k, v = split(self.q(x_q), Tq), split(self.k(x_kv), Tk), split(self.v(x_kv), Tk)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)
        y = (weights @ v).transpose(1, 2).reshape(B, Tq, -1)
        return self.out(y), weights


# ----------------------------------------------------------------------------------------------
# Attend-Fusion, video level (our reconstruction)


# the readings of "scores and re-weights that modality's features" besides chunk tokens ("self")
READINGS = ("feature_sigmoid", "feature_softmax", "modality_tokens")
ATTENTIONS = ("self", "cross", "none") + READINGS


class FeatureAttention(nn.Module):
    """Feature-wise attention on one modality's encoded vector h [B, E]: *our reading* of the
    paper's attention, which "scores and re-weights that modality's features".

    Scores s = W h + b (W [E, E]: E^2 + E parameters), weights a = sigmoid(s) (``"sigmoid"``:
    each feature gated in (0, 1) independently, i.e. Context Gating on the encoder output) or
    a = E * softmax(s) over the E features (``"softmax"``: the features compete; the factor E
    makes the mean weight exactly 1, so that a uniform score leaves h unchanged). Returns
    ``(h * a, a)``.
    """

    def __init__(self, dim: int, kind: str):
        super().__init__()
        check_choice("kind", kind, ("sigmoid", "softmax"))
        self.kind = kind
        self.score = nn.Linear(dim, dim)

    def forward(self, h):
        s = self.score(h)
        a = torch.sigmoid(s) if self.kind == "sigmoid" else s.softmax(dim=-1) * h.shape[-1]
        return h * a, a


@dataclass
class AttendFusionConfig:
    """Attend-Fusion at video level. Paper-size defaults: see ``afkit.models.reconstruction``."""

    features: str = "mean"  # "mean" | "mean_std"
    num_classes: int = 3862  # classifier outputs
    normalization: str = "none"  # "none" | "standardize" | "l2"
    encoder_width: int = 2048  # E: width of each modality's FC encoder
    encoder_depth: int = 1  # FC layers per encoder (first in->E, then E->E)
    tokens: int = 2  # k: the encoded vector (of each statistic) is split into k chunks = tokens
    stat_tokens: bool = False  # mean_std only: MF and STD encoded separately, one token set each
    attention_width: int = (
        paper.ATTENTION_SIZE
    )  # width of Q, K, V (the paper mentions an attention size of 1024)
    heads: int = 8  # attention heads (parameter-free choice)
    attention: str = (
        "self"  # "self" | "cross" (each modality attends to the other's tokens) | "none"
    )
    #   | readings of the paper's attention (late fusion, no stat tokens; see AttendFusion):
    #   "feature_sigmoid" | "feature_softmax" (feature-wise) | "modality_tokens" (2 modality tokens)
    fusion: str = "late"  # "late" (encoder+attention per modality) | "early" (concat inputs first)
    residual: bool = True  # tokens + attention(tokens) (our reconstruction); False: attention only
    head_width: int = 7680  # H: the head's FC layer
    dropout: float = paper.DROPOUT  # after the encoders' and the head's FC layers (the paper's 0.4)

    def __post_init__(self):
        check_choice("features", self.features, tuple(FEATURES))
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_choice("attention", self.attention, ATTENTIONS)
        check_choice("fusion", self.fusion, ("late", "early"))
        check_positive(
            self,
            "num_classes",
            "encoder_width",
            "encoder_depth",
            "tokens",
            "attention_width",
            "heads",
            "head_width",
        )
        check_dropout(self.dropout)
        if self.stat_tokens and self.features != "mean_std":
            raise ValueError("stat_tokens=True needs features='mean_std' (MF and STD as tokens)")
        if self.encoder_width % self.tokens:
            raise ValueError(
                f"encoder_width {self.encoder_width} is not divisible by tokens {self.tokens}"
            )
        if self.attention in READINGS:
            if self.fusion != "late" or self.stat_tokens:
                raise ValueError(
                    f"attention={self.attention!r} (a reading of the paper's attention) "
                    "needs fusion='late' and stat_tokens=False"
                )
        elif self.num_tokens < 2 and self.attention != "none":
            raise ValueError(
                "attention over a single token is the identity: use tokens >= 2 "
                "(or stat_tokens=True with features='mean_std')"
            )
        if self.attention_width % self.heads:
            raise ValueError(
                f"attention_width {self.attention_width} is not divisible by heads {self.heads}"
            )
        if self.attention == "cross" and self.fusion == "early":
            raise ValueError("attention='cross' needs fusion='late' (two modalities to cross)")

    @property
    def num_tokens(self) -> int:
        """Tokens per modality: k chunks, times 2 statistics with ``stat_tokens``."""
        return self.tokens * (FEATURES[self.features] if self.stat_tokens else 1)

    @property
    def token_dim(self) -> int:
        """d = E / k, the width of one token."""
        return self.encoder_width // self.tokens


def _fc_stack(in_dim: int, width: int, depth: int, dropout: float) -> nn.Sequential:
    layers = []
    for i in range(depth):
        layers += [nn.Linear(in_dim if i == 0 else width, width), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class AttendFusion(ModelBase):
    """Attend-Fusion (our reconstruction): ``forward(visual, audio) -> logits [B, C]``.

    Per modality m (fusion ``"late"``): an FC encoder h_m = enc_m(x_m) [B, E]; the tokens: h_m
    split into k consecutive chunks, t_m [B, k, E/k] (with ``stat_tokens`` the MF and STD
    statistics are encoded separately by the same encoder and their chunks follow each other,
    MF chunks first: [B, 2k, E/k]); scaled dot-product attention over those tokens,
    a_m = t_m + Attn_m(t_m) (``residual``); then the head on the concatenated attended vectors:
    logits = W_c drop(relu(W_h concat(flat(a_visual), flat(a_audio)) + b_h)) + b_c.

    Why tokens: with one video-level vector, attention over a single token is the identity
    (softmax over one key is 1), so the reconstruction attends over chunks of the encoded vector:
    each token is a group of E/k encoder features, and the attention re-weights and mixes the
    groups ("scores and re-weights that modality's features", as the paper describes it).

    Switches (ablations): ``attention="none"`` puts the identity where the attention was (same
    widths, the attention's parameters removed); ``"cross"``: each modality's queries attend
    over the other modality's tokens (same parameter count as ``"self"``); ``fusion="early"``:
    concat(visual, audio) -> one encoder -> one attention -> head.

    ``return_attention=True`` returns ``(logits, weights)``, weights a dict of
    ``[B, heads, T_query, T_key]`` tensors, rows summing to 1: ``"visual"`` and ``"audio"``
    (self: T x T over the modality's own tokens; cross: the modality's queries over the other
    modality's tokens), ``"fused"`` (early), or ``{}`` (attention off); T = ``config.num_tokens``.

    **Other readings** (``attention`` in ``READINGS``; *our readings*, each resting on the
    paper's sentence that the attention "scores and re-weights that modality's features"; late
    fusion, E-wide encoders, one vector h_m [B, E] per modality, the same head):

    - ``"feature_sigmoid"``: a_m = sigmoid(W_m h_m + b_m), z_m = h_m * a_m (each feature scored
      and gated on its own; E^2 + E parameters a modality; weights ``"visual"`` / ``"audio"``
      [B, E] in (0, 1));
    - ``"feature_softmax"``: a_m = E * softmax(W_m h_m + b_m) over the E features (the factor E
      makes the mean weight 1), z_m = h_m * a_m (weights [B, E], summing to E);
    - ``"modality_tokens"``: the two encoded vectors are two tokens t = [h_visual, h_audio]
      [B, 2, E]; one self-attention over the 2 tokens, a = t + Attn(t) (``residual``), z =
      flat(a) (3 L(E, A) + L(A, E) parameters; weights ``"modality"`` [B, heads, 2, 2], token
      0 visual, 1 audio).

    Their "attention off" twins are ``attention="none"`` with the same widths: a = 1, resp. no
    attention, i.e. z = concat(h_visual, h_audio), the same network as ``attend_fusion_noattn``.
    ``tokens`` plays no part in these readings.
    """

    def __init__(self, cfg: AttendFusionConfig):
        super().__init__()
        self.config = cfg
        s = FEATURES[cfg.features]
        vis, aud = VISUAL_DIM * s, AUDIO_DIM * s
        self.norm = InputNorm(cfg.normalization, vis, aud)
        per_stat = s if cfg.stat_tokens else 1  # encoder inputs are one statistic or all of them
        E, d, A = cfg.encoder_width, cfg.token_dim, cfg.attention_width

        def attention():
            return None if cfg.attention == "none" else TokenAttention(d, A, cfg.heads)

        if cfg.attention in READINGS:  # late fusion, one token per modality (see the docstring)
            self.visual_encoder = _fc_stack(vis, E, cfg.encoder_depth, cfg.dropout)
            self.audio_encoder = _fc_stack(aud, E, cfg.encoder_depth, cfg.dropout)
            if cfg.attention == "modality_tokens":
                self.modality_attention = TokenAttention(E, A, cfg.heads)
            else:
                kind = cfg.attention.split("_")[1]
                self.visual_scorer, self.audio_scorer = (
                    FeatureAttention(E, kind),
                    FeatureAttention(E, kind),
                )
            fused = 2 * E
        elif cfg.fusion == "late":
            self.visual_encoder = _fc_stack(vis // per_stat, E, cfg.encoder_depth, cfg.dropout)
            self.audio_encoder = _fc_stack(aud // per_stat, E, cfg.encoder_depth, cfg.dropout)
            self.visual_attention, self.audio_attention = attention(), attention()
            fused = 2 * E * per_stat
        else:
            self.encoder = _fc_stack((vis + aud) // per_stat, E, cfg.encoder_depth, cfg.dropout)
            self.attention = attention()
            fused = E * per_stat
        self.head = nn.Sequential(
            nn.Linear(fused, cfg.head_width), nn.ReLU(), nn.Dropout(cfg.dropout)
        )
        self.classifier = nn.Linear(cfg.head_width, cfg.num_classes)

    def _tokens(self, x, encoder):
        """[B, S*D] -> [B, T, d]: encode (per statistic with ``stat_tokens``) and chunk."""
        cfg, B = self.config, x.shape[0]
        per_stat = FEATURES[cfg.features] if cfg.stat_tokens else 1
        h = encoder(x.reshape(B, per_stat, -1))  # [B, per_stat, E]
        return h.reshape(B, per_stat * cfg.tokens, cfg.token_dim)

    def _attend(self, module, tokens, other=None):
        if module is None:
            return tokens, None
        y, w = module(tokens, other)
        return (tokens + y if self.config.residual else y), w

    def forward(self, visual, audio, return_attention: bool = False):
        self._check_video(visual, audio)
        visual, audio = self.norm(visual, audio)
        cfg, B = self.config, visual.shape[0]
        weights = {}
        if cfg.attention in READINGS:
            hv, ha = self.visual_encoder(visual), self.audio_encoder(audio)
            if cfg.attention == "modality_tokens":
                a, w = self._attend(self.modality_attention, torch.stack([hv, ha], dim=1))
                z, weights = a.reshape(B, -1), {"modality": w}
            else:
                (zv, wv), (za, wa) = self.visual_scorer(hv), self.audio_scorer(ha)
                z, weights = torch.cat([zv, za], dim=-1), {"visual": wv, "audio": wa}
        elif cfg.fusion == "late":
            tv, ta = (
                self._tokens(visual, self.visual_encoder),
                self._tokens(audio, self.audio_encoder),
            )
            cross = cfg.attention == "cross"
            av, wv = self._attend(self.visual_attention, tv, ta if cross else None)
            aa, wa = self._attend(self.audio_attention, ta, tv if cross else None)
            z = torch.cat([av.reshape(B, -1), aa.reshape(B, -1)], dim=-1)
            if wv is not None:
                weights = {"visual": wv, "audio": wa}
        else:
            s = FEATURES[cfg.features] if cfg.stat_tokens else 1
            x = torch.cat([visual.reshape(B, s, -1), audio.reshape(B, s, -1)], dim=-1).reshape(
                B, -1
            )
            a, w = self._attend(self.attention, self._tokens(x, self.encoder))
            z = a.reshape(B, -1)
            if w is not None:
                weights = {"fused": w}
        logits = self.classifier(self.head(z))
        return (logits, weights) if return_attention else logits


# ----------------------------------------------------------------------------------------------
# Attend-Fusion, frame level (our reconstruction)


@dataclass
class AttendFusionFramesConfig:
    """Attend-Fusion over frames: which seconds of a video the model uses."""

    num_classes: int = 3862  # classifier outputs
    normalization: str = (
        "none"  # "none" | "standardize" (per-feature frame stats) | "l2" (per frame)
    )
    encoder_width: int = 2048  # E: per-frame FC encoder width (shared over frames)
    encoder_depth: int = 1  # FC layers per encoder
    attention_width: int = 1024  # width of Q, K, V
    heads: int = 8  # attention heads
    attention: bool = True  # False: masked mean over frames in place of attention pooling
    head_width: int = 7680  # H: the head's FC layer
    dropout: float = paper.DROPOUT  # after the encoders' and the head's FC layers
    max_frames: int = MAX_FRAMES  # longest accepted sequence

    features = "mean"  # not a field: frame inputs are one 1024 + 128 vector per frame

    def __post_init__(self):
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_positive(
            self,
            "num_classes",
            "encoder_width",
            "encoder_depth",
            "attention_width",
            "heads",
            "head_width",
            "max_frames",
        )
        check_dropout(self.dropout)
        if self.attention_width % self.heads:
            raise ValueError(
                f"attention_width {self.attention_width} is not divisible by heads {self.heads}"
            )


class AttendFusionFrames(ModelBase):
    """Frame-level Attend-Fusion: ``forward(rgb, audio, mask) -> logits [B, C]``.

    Per modality m: per-frame encoder h_{m,t} = enc_m(x_{m,t}) [B, T, E]; attention pooling with
    one learned query token q_m [E]: p_m = Attn_m(q_m, h_m, mask) [B, E], i.e. per head
    w_{m,h,t} = softmax_t(q W_q (h_t W_k)^T / sqrt(d_h)) over the real frames (masked frames get
    exactly 0), p_m = sum_t w_t (h_t W_v) W_o; then the head on concat(p_visual, p_audio).
    ``attention=False`` replaces the pooling by the masked mean over frames.

    ``return_attention=True`` returns ``(logits, {"visual": [B, heads, T], "audio":
    [B, heads, T]})``: per frame, per head, the pooling weights (each row sums to 1 over the
    frames where mask is True).
    """

    input_kind = "frame"

    def __init__(self, cfg: AttendFusionFramesConfig):
        super().__init__()
        self.config = cfg
        self.norm = InputNorm(cfg.normalization, VISUAL_DIM, AUDIO_DIM)
        E = cfg.encoder_width
        self.visual_encoder = _fc_stack(VISUAL_DIM, E, cfg.encoder_depth, cfg.dropout)
        self.audio_encoder = _fc_stack(AUDIO_DIM, E, cfg.encoder_depth, cfg.dropout)
        if cfg.attention:
            self.visual_query = nn.Parameter(torch.randn(E) / math.sqrt(E))
            self.audio_query = nn.Parameter(torch.randn(E) / math.sqrt(E))
            self.visual_attention = TokenAttention(E, cfg.attention_width, cfg.heads)
            self.audio_attention = TokenAttention(E, cfg.attention_width, cfg.heads)
        self.head = nn.Sequential(
            nn.Linear(2 * E, cfg.head_width), nn.ReLU(), nn.Dropout(cfg.dropout)
        )
        self.classifier = nn.Linear(cfg.head_width, cfg.num_classes)

    def _check(self, rgb, audio, mask):
        if rgb.dim() != 3 or rgb.shape[-1] != VISUAL_DIM:
            raise ValueError(f"rgb must have shape [B, T, {VISUAL_DIM}], got {tuple(rgb.shape)}")
        if audio.dim() != 3 or audio.shape[-1] != AUDIO_DIM:
            raise ValueError(f"audio must have shape [B, T, {AUDIO_DIM}], got {tuple(audio.shape)}")
        if audio.shape[:2] != rgb.shape[:2]:
            raise ValueError(
                f"rgb and audio must share [B, T], got {tuple(rgb.shape[:2])} and "
                f"{tuple(audio.shape[:2])}"
            )
        if mask.shape != rgb.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be a bool tensor of shape {tuple(rgb.shape[:2])}, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        if rgb.shape[1] > self.config.max_frames:
            raise ValueError(f"at most {self.config.max_frames} frames, got T={rgb.shape[1]}")
        if mask.device.type != "meta" and not mask.any(dim=1).all():
            raise ValueError("every video needs at least one real frame (a mask row is all False)")

    def _pool(self, h, mask, query, module):
        if module is None:
            m = mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1), None
        q = query.to(h.dtype).expand(h.shape[0], 1, -1)
        y, w = module(q, h, mask)
        return y[:, 0], w[:, :, 0]

    def forward(self, rgb, audio, mask, return_attention: bool = False):
        self._check(rgb, audio, mask)
        rgb, audio = self.norm(rgb, audio)
        on = self.config.attention
        pv, wv = self._pool(
            self.visual_encoder(rgb),
            mask,
            getattr(self, "visual_query", None),
            self.visual_attention if on else None,
        )
        pa, wa = self._pool(
            self.audio_encoder(audio),
            mask,
            getattr(self, "audio_query", None),
            self.audio_attention if on else None,
        )
        logits = self.classifier(self.head(torch.cat([pv, pa], dim=-1)))
        if not return_attention:
            return logits
        return logits, ({"visual": wv, "audio": wa} if on else {})
