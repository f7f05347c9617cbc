"""The models' registry, their sizes (profiles) and counting; the models themselves are in
``afkit.models.baselines`` (FC baselines, the starter code's logistic / MoE) and
``afkit.models.attend_fusion`` (Attend-Fusion, video and frame level).

Read top to bottom: the profiles' widths (``ModelProfile``; ``scaled_profile``, the written
rule that derives ``cpu`` and ``smoke`` from ``paper``); the registry (``register``,
``list_models``, ``model_config``, ``config_class``, ``input_kind``, ``model_from_config``,
``build``, ``config_dict``); counting (parameters, per-module breakdown, example inputs,
forward FLOPs). No I/O; imports only torch and the two model modules.

A registered name is a model family (its config dataclass and model class) plus fixed config
values; ``build(name, profile, **overrides)`` fills the rest from the profile's widths.
``input_kind(name)`` (``"video"`` or ``"frame"``) is the class attribute ``input_kind`` of the
family's model class, read without building the model. Paper-size widths: see
``afkit.models.reconstruction``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn as nn

from afkit.core import paper
from afkit.models.attend_fusion import (
    AttendFusion,
    AttendFusionConfig,
    AttendFusionFrames,
    AttendFusionFramesConfig,
)
from afkit.models.baselines import (
    AUDIO_DIM,
    FEATURES,
    MAX_FRAMES,
    VISUAL_DIM,
    Baseline,
    BaselineConfig,
    Reference,
    ReferenceConfig,
)

# ----------------------------------------------------------------------------------------------
# Profiles: the widths of each size (paper widths: afkit.models.reconstruction derives them)


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


def scaled_profile(
    paper: ModelProfile,
    num_classes: int,
    features: str = "mean_std",
    ratio: float = PAPER_SIZE_RATIO,
    multiple: int = 8,
) -> ModelProfile:
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

    base = ModelProfile(
        num_classes=num_classes,
        hidden=w(paper.hidden),
        depth=paper.depth,
        encoder_width=w(paper.encoder_width),
        tokens=paper.tokens,
        attention_width=w(paper.attention_width),
        heads=paper.heads,
        head_width=w(paper.head_width),
        frames_encoder_width=w(paper.frames_encoder_width),
        frames_attention_width=w(paper.frames_attention_width),
        frames_head_width=w(paper.frames_head_width),
    )

    def count(name: str, p: ModelProfile) -> int:
        family, fixed, _ = _REGISTRY[name]
        cfg = _FAMILIES[family][0](**{**_profile_values(family, p), **fixed, "features": features})
        with torch.device("meta"):
            return count_parameters(_FAMILIES[family][1](cfg))

    target = count("fc_late", base) / ratio
    lo, hi = 1, 64 * base.head_width
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (
            (mid, hi)
            if count("attend_fusion", replace(base, head_width=mid)) < target
            else (lo, mid)
        )
    head = min(
        (lo, hi), key=lambda h: abs(count("attend_fusion", replace(base, head_width=h)) - target)
    )
    return replace(base, head_width=head, frames_head_width=head)


# paper: fc_late = 341,204,524; attend_fusion = 71,889,174 (ratio 4.75; see reconstruction)
PAPER_PROFILE = ModelProfile(
    num_classes=3862,
    hidden=8192,
    depth=3,
    encoder_width=2048,
    tokens=2,
    attention_width=paper.ATTENTION_SIZE,
    heads=8,
    head_width=7680,
    frames_encoder_width=2048,
    frames_attention_width=1024,
    frames_head_width=7680,
)
# cpu (300 classes) and smoke (50): derived from the paper's widths by `scaled_profile`
PROFILE_CLASSES = {"paper": 3862, "cpu": 300, "smoke": 50}
PROFILES: dict[str, ModelProfile] = {"paper": PAPER_PROFILE}


def _profile_values(family: str, p: ModelProfile) -> dict:
    """The config values profile ``p`` gives a model of ``family``:
    the vocabulary and the widths."""
    if family == "baseline":
        return dict(num_classes=p.num_classes, hidden=p.hidden, depth=p.depth)
    if family == "reference":
        return dict(num_classes=p.num_classes)
    if family == "attend_fusion":
        return dict(
            num_classes=p.num_classes,
            encoder_width=p.encoder_width,
            tokens=p.tokens,
            attention_width=p.attention_width,
            heads=p.heads,
            head_width=p.head_width,
        )
    return dict(
        num_classes=p.num_classes,
        encoder_width=p.frames_encoder_width,
        attention_width=p.frames_attention_width,
        heads=p.heads,
        head_width=p.frames_head_width,
    )


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


for _block, _values, _label in (
    ("fc", dict(block="fc"), "FC"),
    ("fcrn", dict(block="fcrn"), "FC residual"),
    ("fcrn_gated", dict(block="fcrn", gating="last"), "FCRN + Context Gating"),
):
    for _arr, _what in (
        ("audio", "audio only"),
        ("visual", "visual only"),
        ("early", "early fusion (concatenated inputs)"),
        ("late", "late fusion (classifier per modality, logits averaged)"),
    ):
        register(f"{_block}_{_arr}", "baseline", f"{_label}, {_what}", arrangement=_arr, **_values)
register(
    "attend_fusion",
    "attend_fusion",
    "Attend-Fusion (our reconstruction): chunk tokens, self-attention per modality",
)
register(
    "attend_fusion_noattn",
    "attend_fusion",
    "ablation: identity in place of attention",
    attention="none",
)
register(
    "attend_fusion_cross", "attend_fusion", "ablation: cross-modal attention", attention="cross"
)
register(
    "attend_fusion_early",
    "attend_fusion",
    "ablation: early fusion, one encoder and attention",
    fusion="early",
)
register(
    "attend_fusion_stats",
    "attend_fusion",
    "MF and STD statistics as tokens (mean_std inputs)",
    features="mean_std",
    stat_tokens=True,
)
_READING_QUOTE = "our reading of 'scores and re-weights that modality's features'"
register(
    "attend_fusion_feature_sigmoid",
    "attend_fusion",
    f"{_READING_QUOTE}: feature-wise sigmoid weights a = sigmoid(W h + b), h * a",
    attention="feature_sigmoid",
)
register(
    "attend_fusion_feature_softmax",
    "attend_fusion",
    f"{_READING_QUOTE}: feature-wise softmax weights a = E softmax(W h + b) (mean 1), h * a",
    attention="feature_softmax",
)
register(
    "attend_fusion_modality_tokens",
    "attend_fusion",
    f"{_READING_QUOTE}: self-attention over the 2 modality embeddings as tokens",
    attention="modality_tokens",
)
register(
    "attend_fusion_frames", "attend_fusion_frames", "Attend-Fusion over frames (attention pooling)"
)
register(
    "logistic",
    "reference",
    "starter code: logistic regression on concat(visual, audio)",
    kind="logistic",
)
register(
    "moe",
    "reference",
    "starter code: mixture of 2 experts per class on concat(visual, audio)",
    kind="moe",
)


def _entry(name: str) -> tuple[str, dict, str]:
    """``(family, fixed values, description)`` of registered model ``name``
    (``KeyError`` if none)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def list_models() -> list[str]:
    """Registered model names, in registration order."""
    return list(_REGISTRY)


def describe_models() -> dict[str, str]:
    """Registered model name -> one-line description."""
    return {name: desc for name, (_, _, desc) in _REGISTRY.items()}


def model_config(name: str, profile: str = "paper", **overrides):
    """The plain config ``build(name, profile, **overrides)`` would use (nothing is allocated)."""
    family, fixed, _ = _entry(name)
    if profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")
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
    return _FAMILIES[_entry(name)[0]][0]


def input_kind(name: str) -> str:
    """``"video"`` or ``"frame"``: the inputs of registered model ``name`` (nothing is built)."""
    config_class(name)  # an unknown name raises KeyError
    return _FAMILIES[_REGISTRY[name][0]][1].input_kind


def model_from_config(config, device=None) -> nn.Module:
    """Builds the model of a config (e.g. one stored in a checkpoint);
    ``device="meta"`` allocates nothing."""
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
