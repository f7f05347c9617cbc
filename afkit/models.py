"""Every model of the Attend-Fusion paper (arXiv 2408.14441), its registry, and counting.

Read top to bottom: constants; input normalization; the baselines (FC, FCRN, FCRN with Context
Gating; audio-only, visual-only, early and late fusion); Attend-Fusion (our reconstruction) at
video level and at frame level; the profiles; the registry (``build``); counting (parameters,
per-module breakdown, forward FLOPs). Models do no I/O and import only torch.

Interfaces (DESIGN.md):

- video-level models: ``forward(visual, audio) -> logits [B, C]`` with visual ``[B, 1024*S]`` and
  audio ``[B, 128*S]``; S = 1 for ``features="mean"`` and 2 for ``"mean_std"`` (the statistics
  concatenated mean then std, the store's column order);
- frame-level models: ``forward(rgb, audio, mask) -> logits [B, C]`` with rgb ``[B, T, 1024]``,
  audio ``[B, T, 128]``, mask ``[B, T]`` bool (True = a real frame), T <= 300;
- ``model.input_kind`` is ``"video"`` or ``"frame"``; ``return_attention=True`` returns
  ``(logits, attention)`` with ``attention`` a dict of tensors (shapes documented per model);
- ``model.config`` is the plain dataclass it was built from (``model_from_config`` rebuilds it).

Logits are raw scores, one per class: training applies sigmoid + binary cross-entropy.

What the paper fixes and what is *our reconstruction* is said at each place; the parameter
arithmetic that chose the paper-size widths lives in ``afkit.reconstruction``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

VISUAL_DIM = 1024  # Inception features, PCA'd to 1024 (per frame or video-level mean)
AUDIO_DIM = 128  # VGG-like audio features
MAX_FRAMES = 300  # one frame a second, at most 300 in the release
FEATURES = {"mean": 1, "mean_std": 2}  # feature set -> S, the number of statistics per modality
NORMALIZATIONS = ("none", "standardize", "l2")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def _check_positive(cfg, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_dropout(p) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {p!r}")


# ----------------------------------------------------------------------------------------------
# Input normalization


class InputNorm(nn.Module):
    """Normalizes the inputs of a model; no trainable parameters.

    - ``"none"``: x unchanged.
    - ``"standardize"``: x' = (x - mean) / std per feature, with mean and std buffers set from
      training-split statistics by ``set_stats`` (std clamped below at ``eps``); a forward pass
      before ``set_stats`` is an error.
    - ``"l2"``: the starter code's convention: the concatenation of the modalities the model reads
      (visual then audio) is L2-normalized as ONE vector, x' = x / max(||x||_2, eps), then split
      back. Frame-level inputs are normalized per frame.

    All operations act on the last dimension, so ``[B, D]`` and ``[B, T, D]`` inputs both work.
    """

    def __init__(self, mode: str, visual_dim: int, audio_dim: int, use_visual: bool = True,
                 use_audio: bool = True, eps: float = 1e-6):
        super().__init__()
        _check_choice("normalization", mode, NORMALIZATIONS)
        self.mode, self.eps = mode, eps
        self.use_visual, self.use_audio = use_visual, use_audio
        self.register_buffer("visual_mean", torch.zeros(visual_dim))
        self.register_buffer("visual_std", torch.ones(visual_dim))
        self.register_buffer("audio_mean", torch.zeros(audio_dim))
        self.register_buffer("audio_std", torch.ones(audio_dim))
        self.register_buffer("stats_set", torch.zeros((), dtype=torch.bool))

    def set_stats(self, visual_mean, visual_std, audio_mean, audio_std) -> None:
        """Sets the standardization buffers (per-feature mean and std of the training split)."""
        values = dict(visual_mean=visual_mean, visual_std=visual_std,
                      audio_mean=audio_mean, audio_std=audio_std)
        for name, value in values.items():
            buf = getattr(self, name)
            value = torch.as_tensor(value, dtype=buf.dtype)
            if value.shape != buf.shape:
                raise ValueError(f"{name} must have shape {tuple(buf.shape)}, got {tuple(value.shape)}")
            if not torch.isfinite(value).all():
                raise ValueError(f"{name} has non-finite values")
            if name.endswith("_std") and (value < 0).any():
                raise ValueError(f"{name} has negative values")
            buf.copy_(value.to(buf.device))
        self.stats_set.fill_(True)

    def forward(self, visual, audio):
        if self.mode == "none":
            return visual, audio
        if self.mode == "standardize":
            if self.stats_set.device.type != "meta" and not bool(self.stats_set):
                raise RuntimeError("normalization='standardize' needs model.set_input_stats("
                                   "visual_mean, visual_std, audio_mean, audio_std) before forward")
            if self.use_visual:
                visual = (visual - self.visual_mean) / self.visual_std.clamp_min(self.eps)
            if self.use_audio:
                audio = (audio - self.audio_mean) / self.audio_std.clamp_min(self.eps)
            return visual, audio
        parts = [x for x, used in ((visual, self.use_visual), (audio, self.use_audio)) if used]
        joint = F.normalize(torch.cat(parts, dim=-1), p=2.0, dim=-1, eps=self.eps)
        if self.use_visual and self.use_audio:
            return joint[..., : visual.shape[-1]], joint[..., visual.shape[-1]:]
        return (joint, audio) if self.use_visual else (visual, joint)


class _Model(nn.Module):
    """Shared plumbing: input normalization, input checks, ``set_input_stats``."""

    input_kind = "video"

    def set_input_stats(self, visual_mean, visual_std, audio_mean, audio_std) -> None:
        """Sets the per-feature training statistics used by ``normalization="standardize"``.

        Shapes: visual ``[1024*S]`` (frame level: ``[1024]``), audio ``[128*S]`` (``[128]``).
        """
        self.norm.set_stats(visual_mean, visual_std, audio_mean, audio_std)

    def _check_video(self, visual, audio, use_visual=True, use_audio=True):
        s = FEATURES[self.config.features]
        batch = None
        for name, x, dim, used in (("visual", visual, VISUAL_DIM * s, use_visual),
                                   ("audio", audio, AUDIO_DIM * s, use_audio)):
            if not used:
                continue
            if x is None:
                raise ValueError(f"{type(self).__name__} reads {name}, got None")
            if x.dim() != 2 or x.shape[1] != dim:
                raise ValueError(f"{name} must have shape [B, {dim}] (features="
                                 f"{self.config.features!r}), got {tuple(x.shape)}")
            if batch is not None and x.shape[0] != batch:
                raise ValueError(f"visual and audio batch sizes differ: {batch} vs {x.shape[0]}")
            batch = x.shape[0]


# ----------------------------------------------------------------------------------------------
# Baselines: FC, FCRN, FCRN with Context Gating


@dataclass
class BaselineConfig:
    """A fully connected baseline; the paper names FC, FCRN and FCRN with gating."""

    arrangement: str = "late"  # "audio" | "visual" | "early" (concat inputs) | "late" (net per modality)
    block: str = "fc"  # "fc" (Linear-ReLU-dropout) | "fcrn" (residual hidden layers)
    gating: str = "none"  # Context Gating: "none" | "last" (after the last hidden layer) | "every"
    hidden: int = 8192  # width of every hidden layer
    depth: int = 3  # number of hidden layers per network
    dropout: float = 0.4  # after every hidden layer (the paper's 0.4)
    combine: str = "logits"  # late fusion: "logits" (classifier per modality, logits averaged) | "concat"
    features: str = "mean"  # "mean" (1024 + 128 inputs) | "mean_std" (2048 + 256)
    num_classes: int = 3862  # 3862 (2018 vocabulary) | 4716 (2017)
    normalization: str = "none"  # "none" | "standardize" | "l2"

    def __post_init__(self):
        _check_choice("arrangement", self.arrangement, ("audio", "visual", "early", "late"))
        _check_choice("block", self.block, ("fc", "fcrn"))
        _check_choice("gating", self.gating, ("none", "last", "every"))
        _check_choice("combine", self.combine, ("logits", "concat"))
        _check_choice("features", self.features, tuple(FEATURES))
        _check_choice("normalization", self.normalization, NORMALIZATIONS)
        _check_positive(self, "hidden", "depth", "num_classes")
        _check_dropout(self.dropout)


class ContextGating(nn.Module):
    """Context Gating (Miech et al. 2017): y = sigmoid(W x + b) * x, W [D, D]; D^2 + D parameters."""

    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.sigmoid(self.gate(x)) * x


class Tower(nn.Module):
    """The hidden layers of one baseline network: ``[B, in_dim] -> [B, hidden]``.

    h_1 = drop(relu(W_1 x + b_1)); then for l = 2..depth:
    ``fc``: h_l = drop(relu(W_l h_{l-1} + b_l)); ``fcrn``: h_l = h_{l-1} + drop(relu(W_l h_{l-1} + b_l)).
    The first layer changes the width, so it has no skip connection (our reconstruction): FC and
    FCRN of the same widths have the same parameter count, in_dim*W + W + (depth-1)(W^2 + W).
    Context Gating (our reconstruction of its placement, which the paper leaves open) gates the
    hidden features, never the class scores: ``"last"`` once after the last hidden layer
    (+W^2 + W), ``"every"`` after every hidden layer (+depth (W^2 + W)).
    """

    def __init__(self, in_dim: int, cfg: BaselineConfig):
        super().__init__()
        self.residual = cfg.block == "fcrn"
        self.layers = nn.ModuleList(
            nn.Linear(in_dim if i == 0 else cfg.hidden, cfg.hidden) for i in range(cfg.depth))
        gated = {"none": [], "last": [cfg.depth - 1], "every": list(range(cfg.depth))}[cfg.gating]
        self.gates = nn.ModuleDict({str(i): ContextGating(cfg.hidden) for i in gated})
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            h = self.drop(F.relu(layer(x)))
            x = x + h if (self.residual and i > 0) else h
            if str(i) in self.gates:
                x = self.gates[str(i)](x)
        return x


class Baseline(_Model):
    """FC / FCRN / FCRN+gating baseline: ``forward(visual, audio) -> logits [B, C]``.

    - ``audio`` / ``visual``: one tower on that modality, then a classifier (``visual`` or
      ``audio`` may be None for the modality the model does not read).
    - ``early``: one tower on concat(visual, audio), then a classifier.
    - ``late``: a tower per modality; ``combine="logits"`` (default): each modality its own
      classifier and logits = (logits_visual + logits_audio) / 2, which is the arrangement that
      gives 341,204,524 parameters at paper size; ``combine="concat"``: concat(h_visual, h_audio)
      -> one classifier (C fewer parameters: one bias vector, not two).

    With ``return_attention=True`` returns ``(logits, {})``: the baselines have no attention.
    """

    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.config = cfg
        s = FEATURES[cfg.features]
        vis, aud = VISUAL_DIM * s, AUDIO_DIM * s
        self.use_visual = cfg.arrangement in ("visual", "early", "late")
        self.use_audio = cfg.arrangement in ("audio", "early", "late")
        self.norm = InputNorm(cfg.normalization, vis, aud, self.use_visual, self.use_audio)
        C, W = cfg.num_classes, cfg.hidden
        if cfg.arrangement == "late":
            self.visual_tower, self.audio_tower = Tower(vis, cfg), Tower(aud, cfg)
            if cfg.combine == "logits":
                self.visual_classifier, self.audio_classifier = nn.Linear(W, C), nn.Linear(W, C)
            else:
                self.classifier = nn.Linear(2 * W, C)
        else:
            in_dim = {"audio": aud, "visual": vis, "early": vis + aud}[cfg.arrangement]
            self.tower, self.classifier = Tower(in_dim, cfg), nn.Linear(W, C)

    def forward(self, visual, audio, return_attention: bool = False):
        self._check_video(visual, audio, self.use_visual, self.use_audio)
        visual, audio = self.norm(visual, audio)
        arrangement = self.config.arrangement
        if arrangement == "late":
            hv, ha = self.visual_tower(visual), self.audio_tower(audio)
            if self.config.combine == "logits":
                logits = 0.5 * (self.visual_classifier(hv) + self.audio_classifier(ha))
            else:
                logits = self.classifier(torch.cat([hv, ha], dim=-1))
        else:
            x = {"audio": audio, "visual": visual}.get(arrangement)
            if arrangement == "early":
                x = torch.cat([visual, audio], dim=-1)
            logits = self.classifier(self.tower(x))
        return (logits, {}) if return_attention else logits


# ----------------------------------------------------------------------------------------------
# The YouTube-8M starter code's video-level models (the field's reference rows)


@dataclass
class ReferenceConfig:
    """``LogisticModel`` and ``MoeModel`` of the release's starter code (video_level_models.py),
    on concat(visual, audio): the baselines every YouTube-8M user knows."""

    kind: str = "logistic"  # "logistic" | "moe"
    mixtures: int = 2  # MoE experts per class (the starter code's default --moe_num_mixtures=2)
    features: str = "mean"  # "mean" | "mean_std"
    num_classes: int = 3862
    normalization: str = "none"  # "none" | "standardize" | "l2"
    dropout: float = 0.0  # not used by either model (accepted so that training can pass it)

    def __post_init__(self):
        _check_choice("kind", self.kind, ("logistic", "moe"))
        _check_choice("features", self.features, tuple(FEATURES))
        _check_choice("normalization", self.normalization, NORMALIZATIONS)
        _check_positive(self, "mixtures", "num_classes")


class Reference(_Model):
    """The starter code's models: ``forward(visual, audio) -> logits [B, C]``, x = concat.

    - ``logistic``: p = sigmoid(W x + b): one linear layer, D*C + C parameters.
    - ``moe`` (M experts): gate g = softmax over M + 1 of W_g x + b_g per class (the extra
      "dummy" expert predicts 0), experts e_m = sigmoid(W_m x + b_m), p = sum_m g_m e_m;
      (D + 1)(M + 1) C + (D + 1) M C parameters. Returned as the logit of p (clamped to
      [1e-6, 1 - 1e-6]) so that training's sigmoid + binary cross-entropy sees p itself.
    """

    def __init__(self, cfg: ReferenceConfig):
        super().__init__()
        self.config = cfg
        s = FEATURES[cfg.features]
        self.norm = InputNorm(cfg.normalization, VISUAL_DIM * s, AUDIO_DIM * s)
        D, C, M = (VISUAL_DIM + AUDIO_DIM) * s, cfg.num_classes, cfg.mixtures
        if cfg.kind == "logistic":
            self.linear = nn.Linear(D, C)
        else:
            self.gate, self.experts = nn.Linear(D, C * (M + 1)), nn.Linear(D, C * M)

    def forward(self, visual, audio, return_attention: bool = False):
        self._check_video(visual, audio)
        x = torch.cat(self.norm(visual, audio), dim=-1)
        if self.config.kind == "logistic":
            logits = self.linear(x)
        else:
            C, M = self.config.num_classes, self.config.mixtures
            gate = self.gate(x).view(-1, C, M + 1).softmax(-1)[..., :M]
            p = (gate * torch.sigmoid(self.experts(x).view(-1, C, M))).sum(-1)
            logits = torch.logit(p, eps=1e-6)
        return (logits, {}) if return_attention else logits


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
        _check_choice("kind", kind, ("sigmoid", "softmax"))
        self.kind = kind
        self.score = nn.Linear(dim, dim)

    def forward(self, h):
        s = self.score(h)
        a = torch.sigmoid(s) if self.kind == "sigmoid" else s.softmax(dim=-1) * h.shape[-1]
        return h * a, a


@dataclass
class AttendFusionConfig:
    """Attend-Fusion at video level. Paper-size defaults: see ``afkit.reconstruction``."""

    features: str = "mean"  # "mean" | "mean_std"
    num_classes: int = 3862  # classifier outputs
    normalization: str = "none"  # "none" | "standardize" | "l2"
    encoder_width: int = 2048  # E: width of each modality's FC encoder
    encoder_depth: int = 1  # FC layers per encoder (first in->E, then E->E)
    tokens: int = 2  # k: the encoded vector (of each statistic) is split into k chunks = tokens
    stat_tokens: bool = False  # mean_std only: MF and STD encoded separately, one token set each
    attention_width: int = 1024  # width of Q, K, V (the paper mentions an attention size of 1024)
    heads: int = 8  # attention heads (parameter-free choice)
    attention: str = "self"  # "self" | "cross" (each modality attends to the other's tokens) | "none"
    #   | readings of the paper's attention (late fusion, no stat tokens; see AttendFusion):
    #   "feature_sigmoid" | "feature_softmax" (feature-wise) | "modality_tokens" (2 modality tokens)
    fusion: str = "late"  # "late" (encoder+attention per modality) | "early" (concat inputs first)
    residual: bool = True  # tokens + attention(tokens) (our reconstruction); False: attention only
    head_width: int = 7680  # H: the head's FC layer
    dropout: float = 0.4  # after the encoders' and the head's FC layers (the paper's 0.4)

    def __post_init__(self):
        _check_choice("features", self.features, tuple(FEATURES))
        _check_choice("normalization", self.normalization, NORMALIZATIONS)
        _check_choice("attention", self.attention, ATTENTIONS)
        _check_choice("fusion", self.fusion, ("late", "early"))
        _check_positive(self, "num_classes", "encoder_width", "encoder_depth", "tokens",
                        "attention_width", "heads", "head_width")
        _check_dropout(self.dropout)
        if self.stat_tokens and self.features != "mean_std":
            raise ValueError("stat_tokens=True needs features='mean_std' (MF and STD as tokens)")
        if self.encoder_width % self.tokens:
            raise ValueError(f"encoder_width {self.encoder_width} is not divisible by tokens {self.tokens}")
        if self.attention in READINGS:
            if self.fusion != "late" or self.stat_tokens:
                raise ValueError(f"attention={self.attention!r} (a reading of the paper's attention) "
                                 "needs fusion='late' and stat_tokens=False")
        elif self.num_tokens < 2 and self.attention != "none":
            raise ValueError("attention over a single token is the identity: use tokens >= 2 "
                             "(or stat_tokens=True with features='mean_std')")
        if self.attention_width % self.heads:
            raise ValueError(f"attention_width {self.attention_width} is not divisible by heads {self.heads}")
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


class AttendFusion(_Model):
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
                self.visual_scorer, self.audio_scorer = FeatureAttention(E, kind), FeatureAttention(E, kind)
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
        self.head = nn.Sequential(nn.Linear(fused, cfg.head_width), nn.ReLU(), nn.Dropout(cfg.dropout))
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
            tv, ta = self._tokens(visual, self.visual_encoder), self._tokens(audio, self.audio_encoder)
            cross = cfg.attention == "cross"
            av, wv = self._attend(self.visual_attention, tv, ta if cross else None)
            aa, wa = self._attend(self.audio_attention, ta, tv if cross else None)
            z = torch.cat([av.reshape(B, -1), aa.reshape(B, -1)], dim=-1)
            if wv is not None:
                weights = {"visual": wv, "audio": wa}
        else:
            s = FEATURES[cfg.features] if cfg.stat_tokens else 1
            x = torch.cat([visual.reshape(B, s, -1), audio.reshape(B, s, -1)], dim=-1).reshape(B, -1)
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
    normalization: str = "none"  # "none" | "standardize" (per-feature frame stats) | "l2" (per frame)
    encoder_width: int = 2048  # E: per-frame FC encoder width (shared over frames)
    encoder_depth: int = 1  # FC layers per encoder
    attention_width: int = 1024  # width of Q, K, V
    heads: int = 8  # attention heads
    attention: bool = True  # False: masked mean over frames in place of attention pooling
    head_width: int = 7680  # H: the head's FC layer
    dropout: float = 0.4  # after the encoders' and the head's FC layers
    max_frames: int = MAX_FRAMES  # longest accepted sequence

    features = "mean"  # not a field: frame inputs are one 1024 + 128 vector per frame

    def __post_init__(self):
        _check_choice("normalization", self.normalization, NORMALIZATIONS)
        _check_positive(self, "num_classes", "encoder_width", "encoder_depth", "attention_width",
                        "heads", "head_width", "max_frames")
        _check_dropout(self.dropout)
        if self.attention_width % self.heads:
            raise ValueError(f"attention_width {self.attention_width} is not divisible by heads {self.heads}")


class AttendFusionFrames(_Model):
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
        self.head = nn.Sequential(nn.Linear(2 * E, cfg.head_width), nn.ReLU(), nn.Dropout(cfg.dropout))
        self.classifier = nn.Linear(cfg.head_width, cfg.num_classes)

    def _check(self, rgb, audio, mask):
        if rgb.dim() != 3 or rgb.shape[-1] != VISUAL_DIM:
            raise ValueError(f"rgb must have shape [B, T, {VISUAL_DIM}], got {tuple(rgb.shape)}")
        if audio.dim() != 3 or audio.shape[-1] != AUDIO_DIM:
            raise ValueError(f"audio must have shape [B, T, {AUDIO_DIM}], got {tuple(audio.shape)}")
        if audio.shape[:2] != rgb.shape[:2]:
            raise ValueError(f"rgb and audio must share [B, T], got {tuple(rgb.shape[:2])} and {tuple(audio.shape[:2])}")
        if mask.shape != rgb.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape {tuple(rgb.shape[:2])}, "
                             f"got {mask.dtype} {tuple(mask.shape)}")
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
        pv, wv = self._pool(self.visual_encoder(rgb), mask, getattr(self, "visual_query", None),
                            self.visual_attention if on else None)
        pa, wa = self._pool(self.audio_encoder(audio), mask, getattr(self, "audio_query", None),
                            self.audio_attention if on else None)
        logits = self.classifier(self.head(torch.cat([pv, pa], dim=-1)))
        if not return_attention:
            return logits
        return logits, ({"visual": wv, "audio": wa} if on else {})


# ----------------------------------------------------------------------------------------------
# Profiles: the widths of each size (paper widths: afkit.reconstruction derives them)


@dataclass
class ModelProfile:
    """The widths of one profile; ``cpu`` and ``smoke`` keep fc_late / attend_fusion ~ 4.7x."""

    num_classes: int  # default vocabulary (paper: 3862; cpu / smoke: the synthetic vocabulary)
    hidden: int  # baselines: hidden width
    depth: int  # baselines: hidden layers per network
    encoder_width: int  # Attend-Fusion: E
    tokens: int  # Attend-Fusion: k chunks
    attention_width: int  # Attend-Fusion: Q/K/V width
    heads: int  # Attend-Fusion: heads
    head_width: int  # Attend-Fusion: H
    frames_encoder_width: int  # frame-level Attend-Fusion: E
    frames_attention_width: int  # frame-level Attend-Fusion: Q/K/V width
    frames_head_width: int  # frame-level Attend-Fusion: H


# the paper's two headline counts: FC late fusion 341,204,524 / Attend-Fusion 71,889,174
PAPER_SIZE_RATIO = 341_204_524 / 71_889_174  # 4.746


def scaled_profile(paper: ModelProfile, num_classes: int, features: str = "mean_std",
                   ratio: float = PAPER_SIZE_RATIO, multiple: int = 8) -> ModelProfile:
    """A smaller profile derived from ``paper`` by a written rule (not picked by hand).

    1. Every width scales with the vocabulary, s = num_classes / paper.num_classes: the
       baselines' hidden width, Attend-Fusion's encoder, attention and head widths (and the
       frame-level model's), each ``round(width * s)`` to a multiple of ``multiple`` (at least
       ``multiple``). This keeps the paper's proportions *to the vocabulary* (hidden / C = 2.12,
       head / C = 1.99) and *between the widths* (encoder / head, attention / encoder); heads,
       tokens and depth are the paper's.
    2. Attend-Fusion's head width is then re-solved (bisection on meta-device builds) so that
       fc_late / attend_fusion equals the paper's size ratio (4.75x) with ``features`` inputs.
    The input widths (1024 + 128 per statistic) do not shrink, so width / input is *not* kept:
    the scaled encoders are narrower than their inputs (the paper's are wider).
    """
    s = num_classes / paper.num_classes

    def w(x: int) -> int:
        return max(multiple, int(round(x * s / multiple)) * multiple)

    base = ModelProfile(num_classes=num_classes, hidden=w(paper.hidden), depth=paper.depth,
                        encoder_width=w(paper.encoder_width), tokens=paper.tokens,
                        attention_width=w(paper.attention_width), heads=paper.heads,
                        head_width=w(paper.head_width),
                        frames_encoder_width=w(paper.frames_encoder_width),
                        frames_attention_width=w(paper.frames_attention_width),
                        frames_head_width=w(paper.frames_head_width))

    def count(name: str, p: ModelProfile) -> int:
        family, fixed, _ = _REGISTRY[name]
        cfg = _FAMILIES[family][0](**{**_profile_values(family, p), **fixed, "features": features})
        with torch.device("meta"):
            return count_parameters(_FAMILIES[family][1](cfg))

    target = count("fc_late", base) / ratio
    lo, hi = 1, 64 * base.head_width
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count("attend_fusion", replace(base, head_width=mid)) < target else (lo, mid)
    head = min((lo, hi), key=lambda h: abs(count("attend_fusion", replace(base, head_width=h)) - target))
    return replace(base, head_width=head, frames_head_width=head)


# paper: fc_late = 341,204,524; attend_fusion = 71,889,174 (ratio 4.75; see reconstruction)
PAPER_PROFILE = ModelProfile(num_classes=3862, hidden=8192, depth=3, encoder_width=2048, tokens=2,
                             attention_width=1024, heads=8, head_width=7680,
                             frames_encoder_width=2048, frames_attention_width=1024,
                             frames_head_width=7680)
# cpu (300 classes) and smoke (50): derived from the paper's widths by `scaled_profile`
PROFILE_CLASSES = {"paper": 3862, "cpu": 300, "smoke": 50}
PROFILES: dict[str, ModelProfile] = {"paper": PAPER_PROFILE}


def _profile_values(family: str, p: ModelProfile) -> dict:
    if family == "baseline":
        return dict(num_classes=p.num_classes, hidden=p.hidden, depth=p.depth)
    if family == "reference":
        return dict(num_classes=p.num_classes)
    if family == "attend_fusion":
        return dict(num_classes=p.num_classes, encoder_width=p.encoder_width, tokens=p.tokens,
                    attention_width=p.attention_width, heads=p.heads, head_width=p.head_width)
    return dict(num_classes=p.num_classes, encoder_width=p.frames_encoder_width,
                attention_width=p.frames_attention_width, heads=p.heads,
                head_width=p.frames_head_width)


# ----------------------------------------------------------------------------------------------
# Registry

_FAMILIES = {
    "baseline": (BaselineConfig, Baseline),
    "attend_fusion": (AttendFusionConfig, AttendFusion),
    "attend_fusion_frames": (AttendFusionFramesConfig, AttendFusionFrames),
    "reference": (ReferenceConfig, Reference),
}
_REGISTRY: dict[str, tuple[str, dict, str]] = {}  # name -> (family, fixed values, description)


def register(name: str, family: str, description: str, **fixed) -> None:
    """Registers ``name`` as ``family`` with ``fixed`` config values (overridable in ``build``)."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = (family, fixed, description)


for _block, _values, _label in (("fc", dict(block="fc"), "FC"),
                                ("fcrn", dict(block="fcrn"), "FC residual"),
                                ("fcrn_gated", dict(block="fcrn", gating="last"), "FCRN + Context Gating")):
    for _arr, _what in (("audio", "audio only"), ("visual", "visual only"),
                        ("early", "early fusion (concatenated inputs)"),
                        ("late", "late fusion (classifier per modality, logits averaged)")):
        register(f"{_block}_{_arr}", "baseline", f"{_label}, {_what}", arrangement=_arr, **_values)
register("attend_fusion", "attend_fusion", "Attend-Fusion (our reconstruction): chunk tokens, self-attention per modality")
register("attend_fusion_noattn", "attend_fusion", "ablation: identity in place of attention", attention="none")
register("attend_fusion_cross", "attend_fusion", "ablation: cross-modal attention", attention="cross")
register("attend_fusion_early", "attend_fusion", "ablation: early fusion, one encoder and attention", fusion="early")
register("attend_fusion_stats", "attend_fusion", "MF and STD statistics as tokens (mean_std inputs)",
         features="mean_std", stat_tokens=True)
_READING_QUOTE = "our reading of 'scores and re-weights that modality's features'"
register("attend_fusion_feature_sigmoid", "attend_fusion",
         f"{_READING_QUOTE}: feature-wise sigmoid weights a = sigmoid(W h + b), h * a",
         attention="feature_sigmoid")
register("attend_fusion_feature_softmax", "attend_fusion",
         f"{_READING_QUOTE}: feature-wise softmax weights a = E softmax(W h + b) (mean 1), h * a",
         attention="feature_softmax")
register("attend_fusion_modality_tokens", "attend_fusion",
         f"{_READING_QUOTE}: self-attention over the 2 modality embeddings as tokens",
         attention="modality_tokens")
register("attend_fusion_frames", "attend_fusion_frames", "Attend-Fusion over frames (attention pooling)")
register("logistic", "reference", "starter code: logistic regression on concat(visual, audio)", kind="logistic")
register("moe", "reference", "starter code: mixture of 2 experts per class on concat(visual, audio)", kind="moe")


def list_models() -> list[str]:
    """Registered model names, in registration order."""
    return list(_REGISTRY)


def describe_models() -> dict[str, str]:
    """Registered model name -> one-line description."""
    return {name: desc for name, (_, _, desc) in _REGISTRY.items()}


def model_config(name: str, profile: str = "paper", **overrides):
    """The plain config ``build(name, profile, **overrides)`` would use (nothing is allocated)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(_REGISTRY)}")
    if profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")
    family, fixed, _ = _REGISTRY[name]
    config_cls = _FAMILIES[family][0]
    valid = {f.name for f in fields(config_cls)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise TypeError(f"{name}: unknown override(s) {unknown}; valid: {sorted(valid)}")
    values = {**_profile_values(family, PROFILES[profile]), **fixed, **overrides}
    return config_cls(**values)


def config_class(name: str) -> type:
    """The config dataclass of registered model ``name``; ``config_class(name)(**config_dict(cfg))``
    rebuilds a config stored as a plain dict (e.g. in a checkpoint's JSON)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(_REGISTRY)}")
    return _FAMILIES[_REGISTRY[name][0]][0]


def input_kind(name: str) -> str:
    """``"video"`` or ``"frame"``: the inputs of registered model ``name`` (nothing is built)."""
    config_class(name)  # an unknown name raises KeyError
    return _FAMILIES[_REGISTRY[name][0]][1].input_kind


def model_from_config(config, device=None) -> nn.Module:
    """Builds the model of a config (e.g. one stored in a checkpoint); ``device="meta"`` allocates nothing."""
    for config_cls, model_cls in _FAMILIES.values():
        if type(config) is config_cls:
            if device is None:  # the ambient default device (e.g. a `with torch.device(...)` block)
                return model_cls(config)
            with torch.device(device):
                return model_cls(config)
    raise TypeError(f"not a model config: {type(config).__name__}")


def build(name: str, profile: str = "paper", device=None, **overrides) -> nn.Module:
    """Builds registered model ``name`` at ``profile`` size (``"paper"``, ``"cpu"``, ``"smoke"``).

    ``overrides`` replace config values, e.g. ``features="mean_std"``, ``num_classes=4716``,
    ``hidden=...``, ``heads=...``, ``dropout=...``; ``device="meta"`` builds without memory (for
    counting parameters and FLOPs of paper-size models).
    """
    model = model_from_config(model_config(name, profile, **overrides), device=device)
    model.name = name
    return model


def config_dict(config) -> dict:
    """A config as a plain dict (for results files and checkpoints)."""
    return asdict(config)


# ----------------------------------------------------------------------------------------------
# Counting


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters, sum of p.numel() over parameters with requires_grad
    (buffers such as the standardization statistics are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def parameter_breakdown(model: nn.Module, depth: int = 1) -> dict[str, int]:
    """Trainable parameters per module: name prefix (``depth`` dotted parts) -> count, in order."""
    out: dict[str, int] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            key = ".".join(name.split(".")[:depth])
            out[key] = out.get(key, 0) + p.numel()
    return out


def example_inputs(model: nn.Module, batch_size: int = 2, frames: int = MAX_FRAMES, seed: int = 0):
    """Random inputs of the right shapes on the model's device: ``(visual, audio)`` or
    ``(rgb, audio, mask)`` (frame level: every frame real)."""
    p = next(model.parameters())
    device, dtype = p.device, p.dtype
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        if device.type == "meta":
            return torch.empty(*shape, dtype=dtype, device="meta")
        return torch.randn(*shape, generator=g, dtype=dtype).to(device)

    if model.input_kind == "frame":
        mask = torch.ones(batch_size, frames, dtype=torch.bool, device=device)
        return rand(batch_size, frames, VISUAL_DIM), rand(batch_size, frames, AUDIO_DIM), mask
    s = FEATURES[model.config.features]
    return rand(batch_size, VISUAL_DIM * s), rand(batch_size, AUDIO_DIM * s)


def forward_flops(model: nn.Module, frames: int = MAX_FRAMES) -> int:
    """Forward FLOPs per video, measured by ``torch.utils.flop_counter.FlopCounterMode``
    (matrix products, 2 FLOPs per multiply-add; elementwise ops are not counted). Works on a
    ``meta``-device model; frame-level models are measured at ``frames`` frames."""
    from torch.utils.flop_counter import FlopCounterMode

    batch = 2
    inputs = example_inputs(model, batch, frames)
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(*inputs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // batch


# the derived profiles (after the registry and counting they use)
for _p in ("cpu", "smoke"):
    PROFILES[_p] = scaled_profile(PAPER_PROFILE, PROFILE_CLASSES[_p])
