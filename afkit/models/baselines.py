"""The fully connected baselines of the Attend-Fusion paper (arXiv 2408.14441) and the
YouTube-8M starter code's logistic / MoE models, with the plumbing every model shares.

Read top to bottom: the input widths and the config checks; input normalization
(``InputNorm``); ``ModelBase`` (normalization buffers and input checks of every model);
the paper's baselines (FC, FCRN, FCRN with Context Gating; audio-only, visual-only, early and
late fusion); the starter code's ``LogisticModel`` / ``MoeModel`` (``Reference``). Imports only
torch; Attend-Fusion is in ``afkit.models.attend_fusion``, the registry (``build``) in
``afkit.models.registry``.

Video-level models: ``forward(visual, audio) -> logits [B, C]`` with visual ``[B, 1024*S]`` and
audio ``[B, 128*S]``; S = 1 for ``features="mean"`` and 2 for ``"mean_std"`` (the statistics
concatenated mean then std, the store's column order). Logits are raw scores, one per class:
training applies sigmoid + binary cross-entropy. ``model.input_kind`` (a class attribute) is
``"video"`` or ``"frame"``; ``model.config`` is the plain dataclass it was built from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from afkit.core import paper

# ----------------------------------------------------------------------------------------------
# Input widths and config checks (every model config's ``__post_init__``)

VISUAL_DIM = 1024  # Inception features, PCA'd to 1024 (per frame or video-level mean)
AUDIO_DIM = 128  # VGG-like audio features
MAX_FRAMES = 300  # one frame a second, at most 300 in the release
FEATURES = {"mean": 1, "mean_std": 2}  # feature set -> S, the number of statistics per modality
NORMALIZATIONS = ("none", "standardize", "l2")


def check_choice(name: str, value, choices) -> None:
    """``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_positive(cfg, *names: str) -> None:
    """``ValueError`` unless each field ``names`` of ``cfg`` is a positive int."""
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_dropout(p) -> None:
    """``ValueError`` unless the dropout probability ``p`` is in [0, 1)."""
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

    def __init__(
        self,
        mode: str,
        visual_dim: int,
        audio_dim: int,
        use_visual: bool = True,
        use_audio: bool = True,
        eps: float = 1e-6,
    ):
        super().__init__()
        check_choice("normalization", mode, NORMALIZATIONS)
        self.mode, self.eps = mode, eps
        self.use_visual, self.use_audio = use_visual, use_audio
        self.register_buffer("visual_mean", torch.zeros(visual_dim))
        self.register_buffer("visual_std", torch.ones(visual_dim))
        self.register_buffer("audio_mean", torch.zeros(audio_dim))
        self.register_buffer("audio_std", torch.ones(audio_dim))
        self.register_buffer("stats_set", torch.zeros((), dtype=torch.bool))

    def set_stats(self, visual_mean, visual_std, audio_mean, audio_std) -> None:
        """Sets the standardization buffers (per-feature mean and std of the training split)."""
        values = dict(
            visual_mean=visual_mean,
            visual_std=visual_std,
            audio_mean=audio_mean,
            audio_std=audio_std,
        )
        for name, value in values.items():
            buf = getattr(self, name)
            value = torch.as_tensor(value, dtype=buf.dtype)
            if value.shape != buf.shape:
                raise ValueError(
                    f"{name} must have shape {tuple(buf.shape)}, got {tuple(value.shape)}"
                )
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
                raise RuntimeError(
                    "normalization='standardize' needs model.set_input_stats("
                    "visual_mean, visual_std, audio_mean, audio_std) before forward"
                )
            if self.use_visual:
                visual = (visual - self.visual_mean) / self.visual_std.clamp_min(self.eps)
            if self.use_audio:
                audio = (audio - self.audio_mean) / self.audio_std.clamp_min(self.eps)
            return visual, audio
        parts = [x for x, used in ((visual, self.use_visual), (audio, self.use_audio)) if used]
        joint = F.normalize(torch.cat(parts, dim=-1), p=2.0, dim=-1, eps=self.eps)
        if self.use_visual and self.use_audio:
            return joint[..., : visual.shape[-1]], joint[..., visual.shape[-1] :]
        return (joint, audio) if self.use_visual else (visual, joint)


class ModelBase(nn.Module):
    """What every model shares: ``input_kind`` (``"video"``; frame-level models say
    ``"frame"``), ``set_input_stats`` (into the model's ``InputNorm``, ``self.norm``) and the
    check of video-level inputs."""

    input_kind = "video"

    def set_input_stats(self, visual_mean, visual_std, audio_mean, audio_std) -> None:
        """Sets the per-feature training statistics used by ``normalization="standardize"``.

        Shapes: visual ``[1024*S]`` (frame level: ``[1024]``), audio ``[128*S]`` (``[128]``).
        """
        self.norm.set_stats(visual_mean, visual_std, audio_mean, audio_std)

    def _check_video(self, visual, audio, use_visual=True, use_audio=True):
        s = FEATURES[self.config.features]
        batch = None
        for name, x, dim, used in (
            ("visual", visual, VISUAL_DIM * s, use_visual),
            ("audio", audio, AUDIO_DIM * s, use_audio),
        ):
            if not used:
                continue
            if x is None:
                raise ValueError(f"{type(self).__name__} reads {name}, got None")
            if x.dim() != 2 or x.shape[1] != dim:
                raise ValueError(
                    f"{name} must have shape [B, {dim}] (features="
                    f"{self.config.features!r}), got {tuple(x.shape)}"
                )
            if batch is not None and x.shape[0] != batch:
                raise ValueError(f"visual and audio batch sizes differ: {batch} vs {x.shape[0]}")
            batch = x.shape[0]


# ----------------------------------------------------------------------------------------------
# Baselines: FC, FCRN, FCRN with Context Gating


@dataclass
class BaselineConfig:
    """A fully connected baseline; the paper names FC, FCRN and FCRN with gating."""

    arrangement: str = (
        "late"  # "audio" | "visual" | "early" (concat inputs) | "late" (net per modality)
    )
    block: str = "fc"  # "fc" (Linear-ReLU-dropout) | "fcrn" (residual hidden layers)
    gating: str = "none"  # Context Gating: "none" | "last" (after the last hidden layer) | "every"
    hidden: int = 8192  # width of every hidden layer
    depth: int = 3  # number of hidden layers per network
    dropout: float = paper.DROPOUT  # after every hidden layer (the paper's 0.4)
    combine: str = (
        "logits"  # late fusion: "logits" (classifier per modality, logits averaged) | "concat"
    )
    features: str = "mean"  # "mean" (1024 + 128 inputs) | "mean_std" (2048 + 256)
    num_classes: int = 3862  # 3862 (2018 vocabulary) | 4716 (2017)
    normalization: str = "none"  # "none" | "standardize" | "l2"

    def __post_init__(self):
        check_choice("arrangement", self.arrangement, ("audio", "visual", "early", "late"))
        check_choice("block", self.block, ("fc", "fcrn"))
        check_choice("gating", self.gating, ("none", "last", "every"))
        check_choice("combine", self.combine, ("logits", "concat"))
        check_choice("features", self.features, tuple(FEATURES))
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_positive(self, "hidden", "depth", "num_classes")
        check_dropout(self.dropout)


class ContextGating(nn.Module):
    """Context Gating (Miech et al. 2017): y = sigmoid(W x + b) * x, W [D, D];
    D^2 + D parameters."""

    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.sigmoid(self.gate(x)) * x


class Tower(nn.Module):
    """The hidden layers of one baseline network: ``[B, in_dim] -> [B, hidden]``.

    h_1 = drop(relu(W_1 x + b_1)); then for l = 2..depth:
    ``fc``: h_l = drop(relu(W_l h_{l-1} + b_l)); ``fcrn``: h_l = h_{l-1} + drop(relu(W_l h_{l-1} +
    b_l)). The first layer changes the width, so it has no skip connection (our reconstruction): FC
    and FCRN of the same widths have the same parameter count, in_dim*W + W + (depth-1)(W^2 + W).
    Context Gating (our reconstruction of its placement, which the paper leaves open) gates the
    hidden features, never the class scores: ``"last"`` once after the last hidden layer
    (+W^2 + W), ``"every"`` after every hidden layer (+depth (W^2 + W)).
    """

    def __init__(self, in_dim: int, cfg: BaselineConfig):
        super().__init__()
        self.residual = cfg.block == "fcrn"
        self.layers = nn.ModuleList(
            nn.Linear(in_dim if i == 0 else cfg.hidden, cfg.hidden) for i in range(cfg.depth)
        )
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


class Baseline(ModelBase):
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
        check_choice("kind", self.kind, ("logistic", "moe"))
        check_choice("features", self.features, tuple(FEATURES))
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_positive(self, "mixtures", "num_classes")


class Reference(ModelBase):
    """The starter code's models: ``forward(visual, audio) -> logits [B, C]``, x = concat.

    - ``logistic``: p = sigmoid(W x + b): one linear layer, D*C + C parameters.
    - ``moe`` (M experts): gate g = softmax over M + 1 of W_g x + b_g per class (the extra
      "dummy" expert predicts 0), experts e_m = sigmoid(W_m x + b_m), p = sum_m g_m e_m;
      (D + 1)(M + 1) C + (D + 1) M C parameters. Returned as the logit of p, so that
      training's sigmoid + binary cross-entropy sees p itself, computed in log space:
      log p = logsumexp_m(log g_m + log sigmoid(z_m)) and log(1 - p) = logsumexp(log g_dummy,
      log g_m + log sigmoid(-z_m)). It is exact and has a gradient everywhere, where
      ``torch.logit(p, eps)`` clamps p and has none: a class pushed below eps never recovered.
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
            log_gate = self.gate(x).view(-1, C, M + 1).log_softmax(-1)
            z = self.experts(x).view(-1, C, M)
            log_p = torch.logsumexp(log_gate[..., :M] + F.logsigmoid(z), dim=-1)
            log_not_p = torch.logsumexp(
                torch.cat([log_gate[..., M:], log_gate[..., :M] + F.logsigmoid(-z)], dim=-1),
                dim=-1,
            )
            logits = log_p - log_not_p
        return (logits, {}) if return_attention else logits
