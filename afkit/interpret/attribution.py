"""What a trained model says: its attention weights and captum attributions, as tidy tables.

Each step is one call returning a :class:`pandas.DataFrame` (:mod:`afkit.interpret.evidence` scores
them against the synthetic ground truth):

1. **Extraction** -- :func:`attention_table` (video-level Attend-Fusion: per video, modality,
   head, query token, key token; the frame-level variant: per video, modality, head, frame),
   :func:`attention_entropy` and :func:`entropy_over_training` (the attention-collapse check).
2. **Attribution** (captum) -- :func:`attribute` / :func:`attribution_table` with Integrated
   Gradients, Input x Gradient or Feature Ablation, per modality and feature block (video-level:
   ``mean_rgb``, ``std_rgb``, ``mean_audio``, ``std_audio``) or per frame (frame-level);
   :func:`modality_shares` (the audio/visual share of |attribution| per video, class or vertical).

Conventions (*our reconstruction*: the paper shows no interpretability analysis at all):

- Modalities are named ``"visual"`` and ``"audio"`` (an attention dict keyed ``"rgb"`` is read as
  visual), matching the ground truth's ``visual`` / ``audio`` / ``both``.
- A video is named in the ``video`` column by its id when ``ids`` (e.g. ``store.ids``) is given,
  else by the batch's ``index`` (its row in the store), else by its position in the stream.
- Attribution baseline: **zeros** in the dequantized feature space, the *middle* of the 8-bit
  range ([-2, 2]; byte 127.5), not "no signal"; the zero byte (``baseline="zero_byte"``,
  ``4/512 - 2 = -1.992``) is an extreme value the PCA'd features almost never take. The PCA'd
  Inception/VGG features are roughly centred at 0, so 0.0 is close to "an average, uninformative
  input", and for MF+STD inputs a zero standard deviation means "a constant video".
- A per-frame attribution is the **signed sum over feature dimensions** (column ``attribution``;
  evidence *for* the label is positive); ``magnitude`` is the sum of absolute values, used for the
  modality shares. Padding frames (``mask`` False) get exactly 0.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

MODALITIES = ("visual", "audio")
METHODS = ("integrated_gradients", "input_x_gradient", "feature_ablation")
BLOCKS = {"visual": ("mean_rgb", "std_rgb"), "audio": ("mean_audio", "std_audio")}
ZERO_BYTE = 4.0 / 512.0 - 2.0  # dequantize(0): the bottom of the 8-bit range
RGB_DIM, AUDIO_DIM = 1024, 128

_ALIASES = {
    "visual": "visual",
    "rgb": "visual",
    "video": "visual",
    "vision": "visual",
    "audio": "audio",
    "fused": "fused",
}  # "fused": the single attention of early fusion (attention tables only)


@dataclass
class InterpretConfig:
    """Sizes of the interpretability pass per profile (plain values)."""

    max_videos: int | None  # videos of the split to explain (None: all)
    n_steps: int  # Integrated Gradients steps (Gauss-Legendre)
    internal_batch_size: int  # IG forward passes per chunk (bounds memory)
    deletion_ks: tuple[int, ...]  # frames deleted in the faithfulness check (the curve's k)
    n_random: int  # random deletions averaged per video
    n_boot: int  # bootstrap resamples for confidence intervals


PROFILES = {
    "smoke": InterpretConfig(
        max_videos=32,
        n_steps=8,
        internal_batch_size=64,
        deletion_ks=(1, 2, 4),
        n_random=2,
        n_boot=200,
    ),
    "cpu": InterpretConfig(
        max_videos=300,
        n_steps=16,
        internal_batch_size=256,
        deletion_ks=(1, 3, 5, 10, 15),
        n_random=3,
        n_boot=2000,
    ),
    "paper": InterpretConfig(
        max_videos=2048,
        n_steps=64,
        internal_batch_size=512,
        deletion_ks=(1, 5, 10, 30, 60),
        n_random=5,
        n_boot=2000,
    ),
}


@dataclass(frozen=True)
class Method:
    """How :func:`attribute` computes an attribution: the method ``name`` (one of ``METHODS``),
    its ``baseline`` (see :func:`attribute`), and its sizes: ``n_steps`` (Integrated Gradients'
    Gauss-Legendre points), ``internal_batch_size`` (IG forward passes per chunk, bounding
    memory; None: all at once) and ``perturbations_per_eval`` (feature ablation)."""

    name: str = "integrated_gradients"
    baseline: Any = "zeros"
    n_steps: int = 32
    internal_batch_size: int | None = None
    perturbations_per_eval: int = 16

    def __post_init__(self):
        if self.name not in METHODS:
            raise ValueError(f"unknown method {self.name!r}: expected one of {METHODS}")

    @classmethod
    def of(cls, method: str | Method) -> Method:
        """``method`` as a :class:`Method` (a name: that method at the default sizes)."""
        return method if isinstance(method, Method) else cls(name=method)


@dataclass(frozen=True)
class Stream:
    """How a table is streamed over a batch or a loader: the video names (``ids``, one per
    video of the data in order; None: the batches' ``id``, else the running row number), at most
    ``max_batches`` batches, the ``device`` (None: the model's) and a ``progress`` bar."""

    ids: Sequence | None = None
    max_batches: int | None = None
    device: Any = None
    progress: bool = True


# --------------------------------------------------------------------------------------- batches


def modality_name(name: str) -> str:
    """``"visual"``, ``"audio"`` or ``"fused"`` for a modality's name or alias (``"rgb"``:
    visual)."""
    key = _ALIASES.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown modality {name!r}: expected one of {sorted(_ALIASES)}")
    return key


def iter_batches(data: Any) -> Iterable[Mapping]:
    """The batch dicts of ``data``: one batch dict, or an iterable of them (a DataLoader)."""
    if isinstance(data, Mapping):
        yield data
        return
    if isinstance(data, torch.Tensor | np.ndarray | str):
        raise TypeError("data must be a batch dict or an iterable of batch dicts (a DataLoader)")
    yield from data


def _input_kind(model: torch.nn.Module, batch: Mapping) -> str:
    kind = getattr(model, "input_kind", None)
    if kind is None:
        kind = "frame" if "rgb" in batch else "video"
    if kind not in ("video", "frame"):
        raise ValueError(f"model.input_kind must be 'video' or 'frame', got {kind!r}")
    return kind


def _float(x: Any, name: str, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dtype == torch.uint8:
        raise TypeError(
            f"batch[{name!r}] is uint8: dequantize it first (afkit.io.records.dequantize)"
        )
    return t.to(device=device, dtype=torch.float32)


def batch_inputs(
    model, batch: Mapping, device
) -> tuple[str, tuple[torch.Tensor, ...], torch.Tensor | None]:
    """(kind, (visual, audio), mask or None) of a batch, as float tensors on ``device``."""
    kind = _input_kind(model, batch)
    if kind == "frame":
        missing = [k for k in ("rgb", "audio") if k not in batch]
        if missing:
            raise KeyError(
                f"a frame-level batch needs keys 'rgb' and 'audio' (and 'mask'); missing {missing}"
            )
        rgb, audio = _float(batch["rgb"], "rgb", device), _float(batch["audio"], "audio", device)
        if rgb.dim() != 3 or audio.dim() != 3 or rgb.shape[:2] != audio.shape[:2]:
            raise ValueError(
                f"frame-level inputs must be rgb [B, T, Dv], audio [B, T, Da]; got "
                f"{tuple(rgb.shape)} and {tuple(audio.shape)}"
            )
        mask = batch.get("mask")
        mask = (
            torch.ones(rgb.shape[:2], dtype=torch.bool, device=device)
            if mask is None
            else torch.as_tensor(mask).to(device=device, dtype=torch.bool)
        )
        if mask.shape != rgb.shape[:2]:
            raise ValueError(
                f"mask must be [B, T] = {tuple(rgb.shape[:2])}, got {tuple(mask.shape)}"
            )
        return kind, (rgb, audio), mask
    missing = [k for k in ("visual", "audio") if k not in batch]
    if missing:
        raise KeyError(f"a video-level batch needs keys 'visual' and 'audio'; missing {missing}")
    visual, audio = (
        _float(batch["visual"], "visual", device),
        _float(batch["audio"], "audio", device),
    )
    if visual.dim() != 2 or audio.dim() != 2 or visual.shape[0] != audio.shape[0]:
        raise ValueError(
            f"video-level inputs must be visual [B, Dv], audio [B, Da]; got "
            f"{tuple(visual.shape)} and {tuple(audio.shape)}"
        )
    return kind, (visual, audio), None


def video_names(batch: Mapping, n: int, offset: int, ids: Sequence | None) -> np.ndarray:
    """The ``video`` column of a batch's ``n`` videos (see the module docstring)."""
    index = batch.get("index")
    index = (
        np.arange(offset, offset + n)
        if index is None
        else np.asarray(torch.as_tensor(index).cpu()).reshape(-1)
    )
    if len(index) != n:
        raise ValueError(f"batch['index'] has {len(index)} entries for {n} videos")
    if ids is None:
        return index.astype(np.int64)
    return np.asarray([ids[int(i)] for i in index], dtype=object)


def _label_lists(y: Any, n: int) -> list[np.ndarray]:
    """Per video, the int64 array of its labels, from a multi-hot [B, C]
    or a list of index arrays."""
    if y is None:
        raise KeyError(
            "target='labels' needs the batch's 'y' (multi-hot [B, C] or a list of label arrays)"
        )
    if isinstance(y, torch.Tensor | np.ndarray) and np.ndim(y) == 2:
        dense = np.asarray(torch.as_tensor(y).detach().cpu())
        if dense.shape[0] != n:
            raise ValueError(f"y has {dense.shape[0]} rows for {n} videos")
        return [np.flatnonzero(row > 0).astype(np.int64) for row in dense]
    out = [np.asarray(torch.as_tensor(v).cpu(), dtype=np.int64).reshape(-1) for v in y]
    if len(out) != n:
        raise ValueError(f"y has {len(out)} label lists for {n} videos")
    return out


def model_device(model: torch.nn.Module, device) -> torch.device:
    """``device``, else the device of the model's parameters (cpu for none)."""
    if device is not None:
        return torch.device(device)
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def logits_of(out: Any) -> torch.Tensor:
    """The logits of a model's output (the first element of a tuple)."""
    return out[0] if isinstance(out, tuple | list) else out


# ----------------------------------------------------------------------- 1. attention extraction


def _attention_arrays(
    model, batch: Mapping, device
) -> tuple[str, dict[str, np.ndarray], np.ndarray | None]:
    kind, inputs, mask = batch_inputs(model, batch, device)
    args = inputs if mask is None else (*inputs, mask)
    name = getattr(model, "name", type(model).__name__)
    with torch.no_grad():
        try:
            out = model(*args, return_attention=True)
        except TypeError as e:
            if "return_attention" not in str(e):
                raise
            raise TypeError(
                f"model {name!r} has no attention: its forward takes no return_attention"
            ) from None
    if not (isinstance(out, tuple | list) and len(out) == 2 and isinstance(out[1], Mapping)):
        raise TypeError(
            "model(..., return_attention=True) must return (logits, {modality: attention})"
        )
    if not out[1]:
        raise ValueError(
            f"model {name!r} returned no attention weights (a baseline, or attention off)"
        )
    B = inputs[0].shape[0]
    arrays = {}
    for name, att in out[1].items():
        a = torch.as_tensor(att).detach().float().cpu()
        if kind == "frame":
            if a.dim() == 4 and a.shape[2] == 1:  # [B, H, 1, T]: one pooling query
                a = a[:, :, 0]
            if a.dim() == 2:  # [B, T]: a single head
                a = a[:, None]
            if a.dim() != 3 or a.shape[0] != B or a.shape[2] != mask.shape[1]:
                raise ValueError(
                    f"frame-level attention {name!r} must be [B, heads, T] = [{B}, H, "
                    f"{mask.shape[1]}], got {tuple(a.shape)}"
                )
        elif a.dim() != 4 or a.shape[0] != B:
            raise ValueError(
                f"video-level attention {name!r} must be [B, heads, tokens, tokens], got "
                f"{tuple(a.shape)}"
            )
        arrays[modality_name(name)] = a.numpy()
    return kind, arrays, (None if mask is None else mask.cpu().numpy())


def attention_table(
    model: torch.nn.Module,
    data: Any,
    *,
    ids: Sequence | None = None,
    include_padding: bool = False,
    max_batches: int | None = None,
    device=None,
    progress: bool = True,
) -> pd.DataFrame:
    """Attention weights as a tidy table, streamed over a batch or a whole loader.

    Video-level Attend-Fusion, attention ``A [B, heads, Q, K]`` per modality (each row a softmax,
    :math:`\\sum_k A_{bhqk} = 1`): columns ``video, modality, head, query, key, weight``.
    Frame-level variant, weights ``w [B, heads, T]`` per modality (:math:`\\sum_t w_{bht} = 1`
    over real frames, padding 0): columns ``video, modality, head, frame, weight``; padding frames
    are left out unless ``include_padding``.

    Args:
        model: a model whose ``forward(..., return_attention=True)`` returns
            ``(logits, {modality: attention})`` (``model.input_kind`` says which inputs).
        data: one batch dict (``visual``/``audio`` or ``rgb``/``audio``/``mask``, optionally
            ``index``) or an iterable of them (a DataLoader). Only each batch's weights are held,
            as compact numpy, so memory is bounded by the table itself.
        ids: optional video ids indexed by the batch's ``index`` (e.g. ``store.ids``).
        include_padding: keep padding frames (weight 0) in the frame-level table.
        max_batches: stop after this many batches.
    """
    device = model_device(model, device)
    was_training = model.training
    model.eval()
    parts, offset = [], 0
    try:
        for i, batch in enumerate(
            tqdm(
                iter_batches(data),
                desc="attention",
                disable=not progress,
                total=max_batches,
                leave=False,
            )
        ):
            if max_batches is not None and i >= max_batches:
                break
            kind, arrays, mask = _attention_arrays(model, batch, device)
            B = next(iter(arrays.values())).shape[0]
            names = video_names(batch, B, offset, ids)
            offset += B
            for modality, a in arrays.items():
                if kind == "frame":
                    b, h, t = np.indices(a.shape).reshape(3, -1)
                    keep = np.ones_like(b, dtype=bool) if include_padding else mask[b, t]
                    parts.append(
                        pd.DataFrame(
                            {
                                "video": names[b[keep]],
                                "modality": modality,
                                "head": h[keep],
                                "frame": t[keep],
                                "weight": a.reshape(-1)[keep].astype(np.float32),
                            }
                        )
                    )
                else:
                    b, h, q, k = np.indices(a.shape).reshape(4, -1)
                    parts.append(
                        pd.DataFrame(
                            {
                                "video": names[b],
                                "modality": modality,
                                "head": h,
                                "query": q,
                                "key": k,
                                "weight": a.reshape(-1).astype(np.float32),
                            }
                        )
                    )
    finally:
        model.train(was_training)
    if not parts:
        raise ValueError("no batches: data yielded nothing")
    table = pd.concat(parts, ignore_index=True)
    present = set(table["modality"])
    table["modality"] = pd.Categorical(
        table["modality"], categories=[m for m in (*MODALITIES, "fused") if m in present]
    )
    return table


def _distribution_keys(table: pd.DataFrame) -> list[str]:
    if "key" in table.columns:
        return ["video", "modality", "head", "query"]
    if "frame" in table.columns:
        return ["video", "modality", "head"]
    raise ValueError(
        "not an attention table: it needs a 'key' (video-level) or 'frame' (frame-level) column"
    )


def attention_entropy(
    table: pd.DataFrame, *, by: Sequence[str] = ("modality", "head")
) -> pd.DataFrame:
    """Mean entropy of the attention distributions, per head and modality.

    Per distribution :math:`w` (one query's weights over keys, or one head's weights over the
    real frames): :math:`H = -\\sum_i w_i \\log w_i` (nats, :math:`0 \\log 0 = 0`) and the
    normalised :math:`H / \\log n` (1 = uniform, 0 = all weight on one key/frame; NaN for n = 1).
    Collapse shows as a normalised entropy near 0 (one-hot) or near 1 (uniform: no selection).

    Returns one row per ``by`` group: ``entropy``, ``normalized_entropy``, ``max_entropy``
    (mean :math:`\\log n`), ``n`` (distributions).
    """
    keys = _distribution_keys(table)
    w = table["weight"].to_numpy(np.float64)
    plogp = np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0)
    frame = table[keys].copy()
    frame["h"] = -plogp
    frame["n_keys"] = 1
    per = (
        frame.groupby(keys, observed=True, sort=False)
        .agg(entropy=("h", "sum"), n_keys=("n_keys", "sum"))
        .reset_index()
    )
    per["max_entropy"] = np.log(per["n_keys"].to_numpy(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        per["normalized_entropy"] = np.where(
            per["n_keys"] > 1, per["entropy"] / per["max_entropy"], np.nan
        )
    by = list(by)
    return (
        per.groupby(by, observed=True)
        .agg(
            entropy=("entropy", "mean"),
            normalized_entropy=("normalized_entropy", "mean"),
            max_entropy=("max_entropy", "mean"),
            n=("entropy", "size"),
        )
        .reset_index()
    )


def _state_dict(obj: Any) -> Mapping:
    if isinstance(obj, str | Path):
        obj = torch.load(obj, map_location="cpu", weights_only=True)  # never runs code
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state"):
            if key in obj and isinstance(obj[key], Mapping):
                return obj[key]
        return obj
    raise TypeError(
        f"expected a model, a state dict or a checkpoint path, got {type(obj).__name__}"
    )


def entropy_over_training(
    checkpoints: Sequence | Mapping,
    data: Any,
    *,
    model: torch.nn.Module | None = None,
    max_batches: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Attention entropy per head and modality at each checkpoint: the attention-collapse check.

    Args:
        checkpoints: a sequence of models, state dicts or checkpoint paths (a checkpoint dict with a
            ``model`` / ``state_dict`` entry is unwrapped), or a mapping ``{epoch: ...}``.
        data: the fixed batch or loader to evaluate on (the same for every checkpoint).
        model: the template a state dict is loaded into (deep-copied; needed for state dicts).

    Returns :func:`attention_entropy`'s table with a leading ``checkpoint`` column (the mapping's
    keys, else 0, 1, ...).
    """
    items = (
        list(checkpoints.items())
        if isinstance(checkpoints, Mapping)
        else list(enumerate(checkpoints))
    )
    if not items:
        raise ValueError("no checkpoints given")
    rows = []
    for label, ckpt in tqdm(items, desc="checkpoints", disable=not progress, leave=False):
        if isinstance(ckpt, torch.nn.Module):
            m = ckpt
        else:
            if model is None:
                raise ValueError(
                    "state dicts need model=<a template model of the same architecture>"
                )
            m = copy.deepcopy(model)
            m.load_state_dict(_state_dict(ckpt))
        table = attention_table(m, data, max_batches=max_batches, progress=False)
        ent = attention_entropy(table)
        ent.insert(0, "checkpoint", label)
        rows.append(ent)
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------------- 2. attributions (captum)


def _baselines(baseline, inputs: tuple[torch.Tensor, ...]) -> tuple:
    named = {"zeros": 0.0, "zero_byte": ZERO_BYTE}
    if isinstance(baseline, str) and baseline not in named:
        raise ValueError(
            f"unknown baseline {baseline!r}: 'zeros', 'zero_byte', a float or a tuple of tensors"
        )
    if isinstance(baseline, str | int | float):
        return tuple(float(named.get(baseline, baseline)) for _ in inputs)
    if isinstance(baseline, tuple | list) and len(baseline) == len(inputs):
        return tuple(baseline)
    raise ValueError("baseline must be 'zeros', 'zero_byte', a float or a (visual, audio) tuple")


def _block_sizes(dims: tuple[int, int], stats: Sequence[str] | None) -> int:
    """Number of statistics S per modality (1: mean, 2: mean and std) of video-level inputs."""
    if stats is not None:
        s = len(stats)
    elif dims == (RGB_DIM, AUDIO_DIM):
        s = 1
    elif dims == (2 * RGB_DIM, 2 * AUDIO_DIM):
        s = 2
    else:
        raise ValueError(
            f"cannot tell the feature blocks of inputs of widths {dims}: pass stats=('mean',) "
            "or stats=('mean', 'std')"
        )
    if s not in (1, 2) or dims[0] % s or dims[1] % s:
        raise ValueError(f"stats={stats!r} does not split widths {dims} into equal blocks")
    return s


def _feature_mask(kind: str, inputs, s: int):
    if kind == "frame":
        T = inputs[0].shape[1]
        frames = torch.arange(T, device=inputs[0].device)[None, :, None]
        return tuple(
            (frames + m * T).expand(1, T, x.shape[2]).contiguous() for m, x in enumerate(inputs)
        )
    return tuple(
        (torch.arange(x.shape[1], device=x.device) // (x.shape[1] // s) + m * s)[None]
        for m, x in enumerate(inputs)
    )


def attribute(
    model: torch.nn.Module,
    batch: Mapping,
    target: Any,
    method: str | Method = "integrated_gradients",
    *,
    stats: Sequence[str] | None = None,
    device=None,
) -> dict[str, torch.Tensor]:
    """Attributions of one class logit per video to every input value, per modality, by
    ``method`` (a :class:`Method`, or a method's name at the default sizes).

    For video ``b`` and class ``c_b = target[b]``, with :math:`f = ` the logit of ``c_b`` and
    baseline :math:`x'`:

    - ``integrated_gradients``:
      :math:`(x - x') \\int_0^1 \\partial f(x' + a(x - x'))/\\partial x\\,da`
      (``Method.n_steps`` Gauss-Legendre points; completeness: the attributions sum to
      :math:`f(x) - f(x')`);
    - ``input_x_gradient``: :math:`x\\,\\partial f/\\partial x` (one backward pass: the cheap one);
    - ``feature_ablation``: :math:`f(x) - f(x \\text{ with one group set to } x')`, groups =
      the feature blocks (video-level) or each frame of each modality (frame-level); the effect is
      spread evenly over the group's features, so a group's attributions sum to its effect
      (2T + 1 forward passes per frame-level batch: cheap for video-level blocks, costly for long
      videos).

    Args:
        batch: one batch (see :func:`attention_table`).
        target: class index per video (int, or [B] ints).
        method: its ``baseline``: ``"zeros"`` (default; dequantized mid-range, see the module
            docstring), ``"zero_byte"``, a float, or a (visual, audio) tuple of tensors.

    Returns ``{"visual": [B, ...], "audio": [B, ...]}`` shaped like the inputs; padding frames 0.
    """
    from captum.attr import FeatureAblation, InputXGradient, IntegratedGradients

    m = Method.of(method)
    baseline = m.baseline
    device = model_device(model, device)
    kind, inputs, mask = batch_inputs(model, batch, device)
    B = inputs[0].shape[0]
    target = torch.as_tensor(target, dtype=torch.long, device=device).reshape(-1)
    if target.numel() == 1:
        target = target.expand(B).clone()
    if target.numel() != B:
        raise ValueError(f"target has {target.numel()} entries for {B} videos")

    def forward(*args):
        return logits_of(model(*args))

    extra = None if mask is None else (mask,)
    was_training = model.training
    model.eval()
    try:
        if m.name == "integrated_gradients":
            attr = IntegratedGradients(forward).attribute(
                inputs,
                baselines=_baselines(baseline, inputs),
                target=target,
                additional_forward_args=extra,
                n_steps=m.n_steps,
                internal_batch_size=m.internal_batch_size,
            )
        elif m.name == "input_x_gradient":
            if baseline not in ("zeros", 0, 0.0):
                raise ValueError(
                    "input_x_gradient has no baseline (it is x * grad, i.e. a zero baseline)"
                )
            inputs = tuple(x.detach().clone().requires_grad_() for x in inputs)
            attr = InputXGradient(forward).attribute(
                inputs, target=target, additional_forward_args=extra
            )
        else:
            s = (
                1
                if kind == "frame"
                else _block_sizes((inputs[0].shape[1], inputs[1].shape[1]), stats)
            )
            fmask = _feature_mask(kind, inputs, s)
            with torch.no_grad():
                attr = FeatureAblation(forward).attribute(
                    inputs,
                    baselines=_baselines(baseline, inputs),
                    target=target,
                    additional_forward_args=extra,
                    feature_mask=fmask,
                    perturbations_per_eval=m.perturbations_per_eval,
                )
            # captum gives every feature of a group the group's whole effect; spread it evenly so
            # that a group's attributions sum to its ablation effect (as for the gradient methods)
            attr = tuple(
                a / (m.shape[-1] if kind == "frame" else m.shape[-1] // s)
                for a, m in zip(attr, fmask, strict=True)
            )
    finally:
        model.train(was_training)
    attr = tuple(a.detach() for a in attr)
    if mask is not None:
        attr = tuple(a * mask[..., None].to(a.dtype) for a in attr)
    return dict(zip(MODALITIES, attr, strict=True))


def explained_rows(
    model, batch: Mapping, target: Any, device
) -> tuple[Mapping, np.ndarray, np.ndarray]:
    """The (video, class) pairs a batch explains, ``target`` as in :func:`attribution_table`:
    (a batch of one row per pair, each pair's video row in ``batch`` [P], its class [P])."""
    _, inputs, mask = batch_inputs(model, batch, device)
    B = inputs[0].shape[0]
    if isinstance(target, str) and target == "labels":
        lists = _label_lists(batch.get("y"), B)
        rows = np.concatenate(
            [np.full(len(v), b, dtype=np.int64) for b, v in enumerate(lists)]
            + [np.zeros(0, np.int64)]
        )
        classes = np.concatenate(lists + [np.zeros(0, np.int64)])
    elif isinstance(target, str) and target == "predicted":
        with torch.no_grad():
            args = inputs if mask is None else (*inputs, mask)
            classes = logits_of(model(*args)).argmax(dim=1).cpu().numpy().astype(np.int64)
        rows = np.arange(B)
    elif isinstance(target, str):
        raise ValueError(
            f"unknown target {target!r}: 'labels', 'predicted', a class index or [B] class indices"
        )
    else:
        classes = np.asarray(target, dtype=np.int64).reshape(-1)
        classes = np.full(B, classes[0]) if classes.size == 1 else classes
        if classes.size != B:
            raise ValueError(f"target has {classes.size} entries for {B} videos")
        rows = np.arange(B)
    idx = torch.as_tensor(rows, device=device)
    keys = ("rgb", "audio") if mask is not None else ("visual", "audio")
    expanded = {k: x.index_select(0, idx) for k, x in zip(keys, inputs, strict=True)}
    if mask is not None:
        expanded["mask"] = mask.index_select(0, idx)
    return expanded, rows, classes


def attribution_table(
    model: torch.nn.Module,
    data: Any,
    method: str | Method = "integrated_gradients",
    *,
    target: Any = "labels",
    stats: Sequence[str] | None = None,
    include_padding: bool = False,
    stream: Stream | None = None,
) -> pd.DataFrame:
    """Attributions (:func:`attribute` by ``method``) as a tidy table, streamed over a batch or a
    loader as ``stream`` says (:class:`Stream`: video names, batches, device, progress bar).

    Per (video, label) explained and per modality:

    - frame-level models: one row per frame: ``video, label, modality, frame, attribution,
      magnitude`` with ``attribution`` :math:`= \\sum_d a_{td}` and ``magnitude``
      :math:`= \\sum_d |a_{td}|` over the modality's feature dims (padding frames dropped, or kept
      with 0 when ``include_padding``);
    - video-level models: one row per feature block (``mean_rgb``, ``std_rgb``, ``mean_audio``,
      ``std_audio``; ``std_*`` only for MF+STD inputs): ``video, label, modality, block,
      attribution, magnitude``.

    Args:
        target: ``"labels"`` (default: one explanation per true label of each video, from the
            batch's ``y``), ``"predicted"`` (the argmax logit), a class index, or [B] indices.
        Other arguments as in :func:`attribute` and :func:`attention_table`.
    """
    method, stream = Method.of(method), stream or Stream()
    device = model_device(model, stream.device)
    max_batches, ids = stream.max_batches, stream.ids
    parts, offset = [], 0
    for i, batch in enumerate(
        tqdm(
            iter_batches(data),
            desc=method.name,
            disable=not stream.progress,
            total=max_batches,
            leave=False,
        )
    ):
        if max_batches is not None and i >= max_batches:
            break
        kind = _input_kind(model, batch)
        expanded, rows, classes = explained_rows(model, batch, target, device)
        B = int(torch.as_tensor(batch["audio"]).shape[0])
        names = video_names(batch, B, offset, ids)
        offset += B
        if len(rows) == 0:
            continue
        attr = attribute(model, expanded, classes, method, stats=stats, device=device)
        for modality, a in attr.items():
            a = a.cpu()
            if kind == "frame":  # [P, T]
                signed, mag = (
                    a.sum(-1, dtype=torch.float64).numpy(),
                    a.abs().sum(-1, dtype=torch.float64).numpy(),
                )
                p, t = np.indices(signed.shape).reshape(2, -1)
                keep = (
                    np.ones_like(p, dtype=bool)
                    if include_padding
                    else expanded["mask"].cpu().numpy()[p, t]
                )
                parts.append(
                    pd.DataFrame(
                        {
                            "video": names[rows[p[keep]]],
                            "label": classes[p[keep]],
                            "modality": modality,
                            "frame": t[keep],
                            "attribution": signed.reshape(-1)[keep],
                            "magnitude": mag.reshape(-1)[keep],
                        }
                    )
                )
            else:
                s = _block_sizes((expanded["visual"].shape[1], expanded["audio"].shape[1]), stats)
                blocks = a.reshape(a.shape[0], s, -1)  # [P, S, D/S]
                signed = blocks.sum(-1, dtype=torch.float64).numpy()
                mag = blocks.abs().sum(-1, dtype=torch.float64).numpy()
                p, j = np.indices(signed.shape).reshape(2, -1)
                parts.append(
                    pd.DataFrame(
                        {
                            "video": names[rows[p]],
                            "label": classes[p],
                            "modality": modality,
                            "block": np.asarray(BLOCKS[modality])[j],
                            "attribution": signed.reshape(-1),
                            "magnitude": mag.reshape(-1),
                        }
                    )
                )
    if not parts:
        raise ValueError("nothing to explain: data yielded no batch (or no video had a label)")
    table = pd.concat(parts, ignore_index=True)
    table["modality"] = pd.Categorical(table["modality"], categories=MODALITIES)
    return table


def first_column(frame: pd.DataFrame, candidates: Sequence[str], what: str) -> str:
    """The first of ``candidates`` that is a column of ``frame``
    (``what`` names it in the error)."""
    for c in candidates:
        if c in frame.columns:
            return c
    raise ValueError(
        f"{what} has none of the columns {list(candidates)} (columns: {list(frame.columns)})"
    )


def modality_shares(
    table: pd.DataFrame,
    *,
    by: str = "class",
    vocabulary: pd.DataFrame | None = None,
    vertical_column: str | None = None,
) -> pd.DataFrame:
    """Audio/visual share of |attribution| per video, class or vertical.

    Per explained (video, label): :math:`s_v = M_v / (M_v + M_a)` with :math:`M_m` the summed
    ``magnitude`` of modality m (frames or blocks); :math:`s_a = 1 - s_v`. Explanations with
    :math:`M_v + M_a = 0` are dropped.

    Args:
        table: an :func:`attribution_table`.
        by: ``"video"`` (one row per explained video and label), ``"class"`` (mean over a class's
            videos) or ``"vertical"`` (mean over the videos of the classes of a vertical; needs
            ``vocabulary``: the release's ``vocabulary.csv`` (``Index``, ``Vertical1``) or the
            synthetic ground truth's classes (``index``, ``vertical``); ``vertical_column``
            overrides the vertical's column).

    Returns columns ``[video,] label | vertical, visual_share, audio_share, n``.
    """
    if by not in ("video", "class", "vertical"):
        raise ValueError(f"by must be 'video', 'class' or 'vertical', got {by!r}")
    mag = (
        table.pivot_table(
            index=["video", "label"],
            columns="modality",
            values="magnitude",
            aggfunc="sum",
            observed=False,
        )
        .reindex(columns=list(MODALITIES), fill_value=0.0)
        .fillna(0.0)
    )
    total = mag["visual"] + mag["audio"]
    per = pd.DataFrame({"visual_share": mag["visual"] / total}).loc[total > 0].reset_index()
    per["audio_share"] = 1.0 - per["visual_share"]
    if by == "video":
        per["n"] = 1
        return per
    if by == "vertical":
        if vocabulary is None:
            raise ValueError(
                "by='vertical' needs vocabulary (vocabulary.csv or the ground truth's classes)"
            )
        index_col = first_column(vocabulary, ("Index", "index", "label"), "vocabulary")
        vert_col = vertical_column or first_column(
            vocabulary, ("Vertical1", "vertical"), "vocabulary"
        )
        verticals = vocabulary.set_index(index_col)[vert_col]
        per["vertical"] = per["label"].map(verticals).fillna("(none)")
        key = "vertical"
    else:
        key = "label"
    return (
        per.groupby(key)
        .agg(
            visual_share=("visual_share", "mean"),
            audio_share=("audio_share", "mean"),
            n=("visual_share", "size"),
        )
        .reset_index()
    )
