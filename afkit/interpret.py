"""Interpretability of Attend-Fusion, scored against the synthetic release's ground truth.

Three steps, each one call, each returning a tidy :class:`pandas.DataFrame` ready to plot:

1. **Extraction** -- :func:`attention_table` (attention weights of the video-level Attend-Fusion,
   per video, modality, head, query token, key token; of the frame-level variant per video,
   modality, head, frame), :func:`attention_entropy` and :func:`entropy_over_training` (the
   attention-collapse diagnostic).
2. **Attribution** (captum) -- :func:`attribution_table` with Integrated Gradients, Input x
   Gradient or Feature Ablation, per modality and feature block (video-level models: ``mean_rgb``,
   ``std_rgb``, ``mean_audio``, ``std_audio``) or per frame (frame-level models);
   :func:`modality_shares` (the audio/visual share of |attribution| per video, class or vertical).
3. **Scoring against the truth** -- on plain arrays: :func:`auroc`, :func:`span_auroc`,
   :func:`modality_agreement_arrays`, :func:`topk_frames`, :func:`random_frames`,
   :func:`faithfulness`; on tables: :func:`evidence_auroc` (+ :func:`summarize`),
   :func:`modality_agreement`, :func:`deletion_test`.

Conventions (*our reconstruction*: the paper shows no interpretability analysis at all):

- Modalities are named ``"visual"`` and ``"audio"`` (an attention dict keyed ``"rgb"`` is read as
  visual), matching the ground truth's ``visual`` / ``audio`` / ``both``.
- A video is named in the ``video`` column by its id when ``ids`` (e.g. ``store.ids``) is given,
  else by the batch's ``index`` (its row in the store), else by its position in the stream.
- Attribution baseline: **zeros** in the dequantized feature space. A dequantized value of 0.0 is
  the *middle* of the 8-bit range ([-2, 2]; byte 127.5), not "no signal"; the zero byte would be
  ``4/512 - 2 = -1.992`` (``baseline="zero_byte"``), an extreme value the PCA'd features almost
  never take. We choose the mid-range 0.0: the PCA'd Inception/VGG features are roughly centred at
  0, so the zero baseline is close to "an average, uninformative input", and for MF+STD inputs a
  zero standard deviation means "a constant video". The choice is a parameter.
- A per-frame attribution is the **signed sum over feature dimensions** (column ``attribution``;
  evidence *for* the label is positive); ``magnitude`` is the sum of absolute values, used for the
  modality shares. Padding frames (``mask`` False) get exactly 0.
- Frame scores for the evidence AUROC use the modality that carries the evidence (the span's
  ``modality``; ``both`` sums the two); deletion removes whole frames (mask them out), so it ranks
  frames by the sum over modalities. Attention weights are averaged over heads.
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

_ALIASES = {"visual": "visual", "rgb": "visual", "video": "visual", "vision": "visual", "audio": "audio",
            "fused": "fused"}  # "fused": the single attention of early fusion (attention tables only)


@dataclass
class InterpretConfig:
    """Sizes of the interpretability pass per profile (plain values)."""

    max_videos: int | None  # videos of the split to explain (None: all)
    n_steps: int  # Integrated Gradients steps (Gauss-Legendre)
    internal_batch_size: int  # IG forward passes per chunk (bounds memory)
    k_delete: int  # frames deleted in the faithfulness check
    n_random: int  # random deletions averaged per video
    n_boot: int  # bootstrap resamples for confidence intervals


PROFILES = {
    "smoke": InterpretConfig(max_videos=16, n_steps=8, internal_batch_size=64, k_delete=3, n_random=2, n_boot=200),
    "cpu": InterpretConfig(max_videos=128, n_steps=16, internal_batch_size=256, k_delete=5, n_random=3, n_boot=2000),
    "paper": InterpretConfig(max_videos=2048, n_steps=64, internal_batch_size=512, k_delete=10, n_random=5, n_boot=2000),
}


# --------------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------------


def _modality(name: str) -> str:
    key = _ALIASES.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown modality {name!r}: expected one of {sorted(_ALIASES)}")
    return key


def _iter_batches(data: Any) -> Iterable[Mapping]:
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
        raise TypeError(f"batch[{name!r}] is uint8: dequantize it first (afkit.records.dequantize)")
    return t.to(device=device, dtype=torch.float32)


def _inputs(model, batch: Mapping, device) -> tuple[str, tuple[torch.Tensor, ...], torch.Tensor | None]:
    """(kind, (visual, audio), mask or None) of a batch, as float tensors on ``device``."""
    kind = _input_kind(model, batch)
    if kind == "frame":
        missing = [k for k in ("rgb", "audio") if k not in batch]
        if missing:
            raise KeyError(f"a frame-level batch needs keys 'rgb' and 'audio' (and 'mask'); missing {missing}")
        rgb, audio = _float(batch["rgb"], "rgb", device), _float(batch["audio"], "audio", device)
        if rgb.dim() != 3 or audio.dim() != 3 or rgb.shape[:2] != audio.shape[:2]:
            raise ValueError(f"frame-level inputs must be rgb [B, T, Dv], audio [B, T, Da]; got "
                             f"{tuple(rgb.shape)} and {tuple(audio.shape)}")
        mask = batch.get("mask")
        mask = (torch.ones(rgb.shape[:2], dtype=torch.bool, device=device) if mask is None
                else torch.as_tensor(mask).to(device=device, dtype=torch.bool))
        if mask.shape != rgb.shape[:2]:
            raise ValueError(f"mask must be [B, T] = {tuple(rgb.shape[:2])}, got {tuple(mask.shape)}")
        return kind, (rgb, audio), mask
    missing = [k for k in ("visual", "audio") if k not in batch]
    if missing:
        raise KeyError(f"a video-level batch needs keys 'visual' and 'audio'; missing {missing}")
    visual, audio = _float(batch["visual"], "visual", device), _float(batch["audio"], "audio", device)
    if visual.dim() != 2 or audio.dim() != 2 or visual.shape[0] != audio.shape[0]:
        raise ValueError(f"video-level inputs must be visual [B, Dv], audio [B, Da]; got "
                         f"{tuple(visual.shape)} and {tuple(audio.shape)}")
    return kind, (visual, audio), None


def _video_names(batch: Mapping, n: int, offset: int, ids: Sequence | None) -> np.ndarray:
    index = batch.get("index")
    index = np.arange(offset, offset + n) if index is None else np.asarray(torch.as_tensor(index).cpu()).reshape(-1)
    if len(index) != n:
        raise ValueError(f"batch['index'] has {len(index)} entries for {n} videos")
    if ids is None:
        return index.astype(np.int64)
    return np.asarray([ids[int(i)] for i in index], dtype=object)


def _label_lists(y: Any, n: int) -> list[np.ndarray]:
    """Per video, the int64 array of its labels, from a multi-hot [B, C] or a list of index arrays."""
    if y is None:
        raise KeyError("target='labels' needs the batch's 'y' (multi-hot [B, C] or a list of label arrays)")
    if isinstance(y, torch.Tensor | np.ndarray) and np.ndim(y) == 2:
        dense = np.asarray(torch.as_tensor(y).detach().cpu())
        if dense.shape[0] != n:
            raise ValueError(f"y has {dense.shape[0]} rows for {n} videos")
        return [np.flatnonzero(row > 0).astype(np.int64) for row in dense]
    out = [np.asarray(torch.as_tensor(v).cpu(), dtype=np.int64).reshape(-1) for v in y]
    if len(out) != n:
        raise ValueError(f"y has {len(out)} label lists for {n} videos")
    return out


def _device(model: torch.nn.Module, device) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def _logits(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple | list) else out


# --------------------------------------------------------------------------------------------
# 1. attention extraction
# --------------------------------------------------------------------------------------------


def _attention_arrays(model, batch: Mapping, device) -> tuple[str, dict[str, np.ndarray], np.ndarray | None]:
    kind, inputs, mask = _inputs(model, batch, device)
    args = inputs if mask is None else (*inputs, mask)
    name = getattr(model, "name", type(model).__name__)
    with torch.no_grad():
        try:
            out = model(*args, return_attention=True)
        except TypeError as e:
            if "return_attention" not in str(e):
                raise
            raise TypeError(f"model {name!r} has no attention: its forward takes no return_attention") from None
    if not (isinstance(out, tuple | list) and len(out) == 2 and isinstance(out[1], Mapping)):
        raise TypeError("model(..., return_attention=True) must return (logits, {modality: attention})")
    if not out[1]:
        raise ValueError(f"model {name!r} returned no attention weights (a baseline, or attention off)")
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
                raise ValueError(f"frame-level attention {name!r} must be [B, heads, T] = [{B}, H, "
                                 f"{mask.shape[1]}], got {tuple(a.shape)}")
        elif a.dim() != 4 or a.shape[0] != B:
            raise ValueError(f"video-level attention {name!r} must be [B, heads, tokens, tokens], got {tuple(a.shape)}")
        arrays[_modality(name)] = a.numpy()
    return kind, arrays, (None if mask is None else mask.cpu().numpy())


def attention_table(model: torch.nn.Module, data: Any, *, ids: Sequence | None = None,
                    include_padding: bool = False, max_batches: int | None = None,
                    device=None, progress: bool = True) -> pd.DataFrame:
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
    device = _device(model, device)
    was_training = model.training
    model.eval()
    parts, offset = [], 0
    try:
        for i, batch in enumerate(tqdm(_iter_batches(data), desc="attention", disable=not progress,
                                       total=max_batches, leave=False)):
            if max_batches is not None and i >= max_batches:
                break
            kind, arrays, mask = _attention_arrays(model, batch, device)
            B = next(iter(arrays.values())).shape[0]
            names = _video_names(batch, B, offset, ids)
            offset += B
            for modality, a in arrays.items():
                if kind == "frame":
                    b, h, t = np.indices(a.shape).reshape(3, -1)
                    keep = np.ones_like(b, dtype=bool) if include_padding else mask[b, t]
                    parts.append(pd.DataFrame({"video": names[b[keep]], "modality": modality,
                                               "head": h[keep], "frame": t[keep],
                                               "weight": a.reshape(-1)[keep].astype(np.float32)}))
                else:
                    b, h, q, k = np.indices(a.shape).reshape(4, -1)
                    parts.append(pd.DataFrame({"video": names[b], "modality": modality, "head": h,
                                               "query": q, "key": k,
                                               "weight": a.reshape(-1).astype(np.float32)}))
    finally:
        model.train(was_training)
    if not parts:
        raise ValueError("no batches: data yielded nothing")
    table = pd.concat(parts, ignore_index=True)
    present = set(table["modality"])
    table["modality"] = pd.Categorical(table["modality"], categories=[m for m in (*MODALITIES, "fused") if m in present])
    return table


def _distribution_keys(table: pd.DataFrame) -> list[str]:
    if "key" in table.columns:
        return ["video", "modality", "head", "query"]
    if "frame" in table.columns:
        return ["video", "modality", "head"]
    raise ValueError("not an attention table: it needs a 'key' (video-level) or 'frame' (frame-level) column")


def attention_entropy(table: pd.DataFrame, *, by: Sequence[str] = ("modality", "head")) -> pd.DataFrame:
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
    per = frame.groupby(keys, observed=True, sort=False).agg(entropy=("h", "sum"), n_keys=("n_keys", "sum")).reset_index()
    per["max_entropy"] = np.log(per["n_keys"].to_numpy(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        per["normalized_entropy"] = np.where(per["n_keys"] > 1, per["entropy"] / per["max_entropy"], np.nan)
    by = list(by)
    out = per.groupby(by, observed=True).agg(entropy=("entropy", "mean"),
                                             normalized_entropy=("normalized_entropy", "mean"),
                                             max_entropy=("max_entropy", "mean"),
                                             n=("entropy", "size")).reset_index()
    return out


def _state_dict(obj: Any) -> Mapping:
    if isinstance(obj, str | Path):
        obj = torch.load(obj, map_location="cpu", weights_only=False)
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state"):
            if key in obj and isinstance(obj[key], Mapping):
                return obj[key]
        return obj
    raise TypeError(f"expected a model, a state dict or a checkpoint path, got {type(obj).__name__}")


def entropy_over_training(checkpoints: Sequence | Mapping, data: Any, *, model: torch.nn.Module | None = None,
                          max_batches: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Attention entropy per head and modality at each checkpoint: the attention-collapse check.

    Args:
        checkpoints: a sequence of models, state dicts or checkpoint paths (a checkpoint dict with a
            ``model`` / ``state_dict`` entry is unwrapped), or a mapping ``{epoch: ...}``.
        data: the fixed batch or loader to evaluate on (the same for every checkpoint).
        model: the template a state dict is loaded into (deep-copied; needed for state dicts).

    Returns :func:`attention_entropy`'s table with a leading ``checkpoint`` column (the mapping's
    keys, else 0, 1, ...).
    """
    items = list(checkpoints.items()) if isinstance(checkpoints, Mapping) else list(enumerate(checkpoints))
    if not items:
        raise ValueError("no checkpoints given")
    rows = []
    for label, ckpt in tqdm(items, desc="checkpoints", disable=not progress, leave=False):
        if isinstance(ckpt, torch.nn.Module):
            m = ckpt
        else:
            if model is None:
                raise ValueError("state dicts need model=<a template model of the same architecture>")
            m = copy.deepcopy(model)
            m.load_state_dict(_state_dict(ckpt))
        table = attention_table(m, data, max_batches=max_batches, progress=False)
        ent = attention_entropy(table)
        ent.insert(0, "checkpoint", label)
        rows.append(ent)
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------------------------
# 2. attributions (captum)
# --------------------------------------------------------------------------------------------


def _baselines(baseline, inputs: tuple[torch.Tensor, ...]) -> tuple:
    if isinstance(baseline, str):
        if baseline == "zeros":
            return tuple(0.0 for _ in inputs)
        if baseline == "zero_byte":
            return tuple(ZERO_BYTE for _ in inputs)
        raise ValueError(f"unknown baseline {baseline!r}: 'zeros', 'zero_byte', a float or a tuple of tensors")
    if isinstance(baseline, int | float):
        return tuple(float(baseline) for _ in inputs)
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
        raise ValueError(f"cannot tell the feature blocks of inputs of widths {dims}: pass stats=('mean',) "
                         "or stats=('mean', 'std')")
    if s not in (1, 2) or dims[0] % s or dims[1] % s:
        raise ValueError(f"stats={stats!r} does not split widths {dims} into equal blocks")
    return s


def _feature_mask(kind: str, inputs, s: int):
    if kind == "frame":
        T = inputs[0].shape[1]
        frames = torch.arange(T, device=inputs[0].device)[None, :, None]
        return tuple((frames + m * T).expand(1, T, x.shape[2]).contiguous() for m, x in enumerate(inputs))
    masks = []
    for m, x in enumerate(inputs):
        width = x.shape[1] // s
        masks.append((torch.arange(x.shape[1], device=x.device) // width + m * s)[None])
    return tuple(masks)


def attribute(model: torch.nn.Module, batch: Mapping, target: Any, *, method: str = "integrated_gradients",
              baseline: Any = "zeros", n_steps: int = 32, internal_batch_size: int | None = None,
              perturbations_per_eval: int = 16, stats: Sequence[str] | None = None,
              device=None) -> dict[str, torch.Tensor]:
    """Attributions of one class logit per video to every input value, per modality.

    For video ``b`` and class ``c_b = target[b]``, with :math:`f = ` the logit of ``c_b`` and
    baseline :math:`x'`:

    - ``integrated_gradients``: :math:`(x - x') \\int_0^1 \\partial f(x' + a(x - x'))/\\partial x\\,da`
      (``n_steps`` Gauss-Legendre points; completeness: the attributions sum to
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
        baseline: ``"zeros"`` (default; dequantized mid-range, see the module docstring),
            ``"zero_byte"``, a float, or a (visual, audio) tuple of tensors.

    Returns ``{"visual": [B, ...], "audio": [B, ...]}`` shaped like the inputs; padding frames 0.
    """
    from captum.attr import FeatureAblation, InputXGradient, IntegratedGradients

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {METHODS}")
    device = _device(model, device)
    kind, inputs, mask = _inputs(model, batch, device)
    B = inputs[0].shape[0]
    target = torch.as_tensor(target, dtype=torch.long, device=device).reshape(-1)
    if target.numel() == 1:
        target = target.expand(B).clone()
    if target.numel() != B:
        raise ValueError(f"target has {target.numel()} entries for {B} videos")

    def forward(*args):
        return _logits(model(*args))

    extra = None if mask is None else (mask,)
    was_training = model.training
    model.eval()
    try:
        if method == "integrated_gradients":
            attr = IntegratedGradients(forward).attribute(
                inputs, baselines=_baselines(baseline, inputs), target=target, additional_forward_args=extra,
                n_steps=n_steps, internal_batch_size=internal_batch_size)
        elif method == "input_x_gradient":
            if baseline not in ("zeros", 0, 0.0):
                raise ValueError("input_x_gradient has no baseline (it is x * grad, i.e. a zero baseline)")
            inputs = tuple(x.detach().clone().requires_grad_() for x in inputs)
            attr = InputXGradient(forward).attribute(inputs, target=target, additional_forward_args=extra)
        else:
            s = 1 if kind == "frame" else _block_sizes((inputs[0].shape[1], inputs[1].shape[1]), stats)
            fmask = _feature_mask(kind, inputs, s)
            with torch.no_grad():
                attr = FeatureAblation(forward).attribute(
                    inputs, baselines=_baselines(baseline, inputs), target=target, additional_forward_args=extra,
                    feature_mask=fmask, perturbations_per_eval=perturbations_per_eval)
            # captum gives every feature of a group the group's whole effect; spread it evenly so
            # that a group's attributions sum to its ablation effect (as for the gradient methods)
            attr = tuple(a / (m.shape[-1] if kind == "frame" else m.shape[-1] // s) for a, m in zip(attr, fmask, strict=True))
    finally:
        model.train(was_training)
    attr = tuple(a.detach() for a in attr)
    if mask is not None:
        attr = tuple(a * mask[..., None].to(a.dtype) for a in attr)
    return dict(zip(MODALITIES, attr, strict=True))


def _expand_targets(model, batch: Mapping, target: Any, device) -> tuple[Mapping, np.ndarray, np.ndarray]:
    """(batch of rows to explain, source video row [P], target class [P])."""
    _, inputs, mask = _inputs(model, batch, device)
    B = inputs[0].shape[0]
    if isinstance(target, str) and target == "labels":
        lists = _label_lists(batch.get("y"), B)
        rows = np.concatenate([np.full(len(v), b, dtype=np.int64) for b, v in enumerate(lists)] + [np.zeros(0, np.int64)])
        classes = np.concatenate(lists + [np.zeros(0, np.int64)])
    elif isinstance(target, str) and target == "predicted":
        with torch.no_grad():
            args = inputs if mask is None else (*inputs, mask)
            classes = _logits(model(*args)).argmax(dim=1).cpu().numpy().astype(np.int64)
        rows = np.arange(B)
    elif isinstance(target, str):
        raise ValueError(f"unknown target {target!r}: 'labels', 'predicted', a class index or [B] class indices")
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


def attribution_table(model: torch.nn.Module, data: Any, *, method: str = "integrated_gradients",
                      target: Any = "labels", ids: Sequence | None = None, baseline: Any = "zeros",
                      n_steps: int = 32, internal_batch_size: int | None = None,
                      stats: Sequence[str] | None = None, include_padding: bool = False,
                      max_batches: int | None = None, device=None, progress: bool = True) -> pd.DataFrame:
    """Attributions (:func:`attribute`) as a tidy table, streamed over a batch or a loader.

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
    device = _device(model, device)
    parts, offset = [], 0
    for i, batch in enumerate(tqdm(_iter_batches(data), desc=method, disable=not progress,
                                   total=max_batches, leave=False)):
        if max_batches is not None and i >= max_batches:
            break
        kind = _input_kind(model, batch)
        expanded, rows, classes = _expand_targets(model, batch, target, device)
        B = int(torch.as_tensor(batch["audio"]).shape[0])
        names = _video_names(batch, B, offset, ids)
        offset += B
        if len(rows) == 0:
            continue
        attr = attribute(model, expanded, classes, method=method, baseline=baseline, n_steps=n_steps,
                         internal_batch_size=internal_batch_size, stats=stats, device=device)
        for modality, a in attr.items():
            a = a.cpu()
            if kind == "frame":  # [P, T]
                signed, mag = a.sum(-1, dtype=torch.float64).numpy(), a.abs().sum(-1, dtype=torch.float64).numpy()
                p, t = np.indices(signed.shape).reshape(2, -1)
                keep = np.ones_like(p, dtype=bool) if include_padding else expanded["mask"].cpu().numpy()[p, t]
                parts.append(pd.DataFrame({"video": names[rows[p[keep]]], "label": classes[p[keep]],
                                           "modality": modality, "frame": t[keep],
                                           "attribution": signed.reshape(-1)[keep],
                                           "magnitude": mag.reshape(-1)[keep]}))
            else:
                s = _block_sizes((expanded["visual"].shape[1], expanded["audio"].shape[1]), stats)
                blocks = a.reshape(a.shape[0], s, -1)  # [P, S, D/S]
                signed = blocks.sum(-1, dtype=torch.float64).numpy()
                mag = blocks.abs().sum(-1, dtype=torch.float64).numpy()
                p, j = np.indices(signed.shape).reshape(2, -1)
                parts.append(pd.DataFrame({"video": names[rows[p]], "label": classes[p], "modality": modality,
                                           "block": np.asarray(BLOCKS[modality])[j],
                                           "attribution": signed.reshape(-1), "magnitude": mag.reshape(-1)}))
    if not parts:
        raise ValueError("nothing to explain: data yielded no batch (or no video had a label)")
    table = pd.concat(parts, ignore_index=True)
    table["modality"] = pd.Categorical(table["modality"], categories=MODALITIES)
    return table


def modality_shares(table: pd.DataFrame, *, by: str = "class", vocabulary: pd.DataFrame | None = None,
                    vertical_column: str | None = None) -> pd.DataFrame:
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
    mag = table.pivot_table(index=["video", "label"], columns="modality", values="magnitude",
                            aggfunc="sum", observed=False).reindex(columns=list(MODALITIES), fill_value=0.0).fillna(0.0)
    total = mag["visual"] + mag["audio"]
    per = pd.DataFrame({"visual_share": mag["visual"] / total}).loc[total > 0].reset_index()
    per["audio_share"] = 1.0 - per["visual_share"]
    if by == "video":
        per["n"] = 1
        return per
    if by == "vertical":
        if vocabulary is None:
            raise ValueError("by='vertical' needs vocabulary (vocabulary.csv or the ground truth's classes)")
        index_col = _first_column(vocabulary, ("Index", "index", "label"), "vocabulary")
        vert_col = vertical_column or _first_column(vocabulary, ("Vertical1", "vertical"), "vocabulary")
        verticals = vocabulary.set_index(index_col)[vert_col]
        per["vertical"] = per["label"].map(verticals).fillna("(none)")
        key = "vertical"
    else:
        key = "label"
    return per.groupby(key).agg(visual_share=("visual_share", "mean"), audio_share=("audio_share", "mean"),
                                n=("visual_share", "size")).reset_index()


# --------------------------------------------------------------------------------------------
# 3. scoring against the ground truth (plain arrays first)
# --------------------------------------------------------------------------------------------


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    sx = x[order]
    starts = np.flatnonzero(np.r_[True, sx[1:] != sx[:-1]])
    ends = np.r_[starts[1:], len(sx)]
    avg = (starts + ends + 1) / 2.0  # 1-based mean rank of each tie group
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auroc(scores: Any, positives: Any) -> float:
    """Area under the ROC curve of ``scores`` for the binary ``positives``.

    :math:`\\mathrm{AUROC} = P(s_+ > s_-) + \\tfrac12 P(s_+ = s_-)` =
    :math:`(R_+ - n_+(n_+ + 1)/2) / (n_+ n_-)`, with :math:`R_+` the sum of the positives'
    average ranks (ties share their rank), as ``sklearn.metrics.roc_auc_score``. 1 = every positive
    above every negative, 0 = inverted, 0.5 = constant or random scores. NaN when either class is
    empty.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(positives).astype(bool).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores and positives differ in length: {s.shape[0]} vs {y.shape[0]}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = _average_ranks(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def span_positives(n_frames: int, starts: Any, ends: Any, *, end_inclusive: bool = False) -> np.ndarray:
    """Boolean [n_frames]: True inside any span ``[start, end)`` (``[start, end]`` if end_inclusive)."""
    pos = np.zeros(int(n_frames), dtype=bool)
    for a, b in zip(np.atleast_1d(starts), np.atleast_1d(ends), strict=True):
        a, b = int(a), int(b) + (1 if end_inclusive else 0)
        if a < 0 or b < a:
            raise ValueError(f"bad span [{a}, {b})")
        pos[a:min(b, n_frames)] = True
    return pos


def span_auroc(scores: Any, start: Any, end: Any, *, mask: Any = None, end_inclusive: bool = False) -> float:
    """AUROC of per-frame ``scores`` [T] against the evidence span(s): frames inside are positives.

    ``start``/``end`` are frame indices (scalars or arrays for several spans); ``mask`` [T]
    (True = a real frame) restricts the frames scored.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    pos = span_positives(len(s), start, end, end_inclusive=end_inclusive)
    keep = np.ones(len(s), dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(-1)
    return auroc(s[keep], pos[keep])


def random_scores(n: int, rng: np.random.Generator) -> np.ndarray:
    """The random baseline's per-frame scores: i.i.d. U(0, 1) from a seeded generator."""
    return rng.random(int(n))


def bootstrap_ci(values: Any, *, ci: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile-bootstrap ``ci`` interval (NaNs dropped)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - ci) / 2, (1 + ci) / 2])
    return float(v.mean()), float(lo), float(hi)


def summarize(scores: pd.DataFrame, *, value: str = "auroc", by: str | Sequence[str] = "method",
              ci: float = 0.95, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Mean of ``value`` per group with a percentile-bootstrap CI: ``by..., mean, ci_low, ci_high, n``."""
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, g in scores.groupby(by, sort=False, observed=True):
        mean, lo, hi = bootstrap_ci(g[value], ci=ci, n_boot=n_boot, seed=seed)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key, strict=True)), "mean": mean, "ci_low": lo, "ci_high": hi,
                     "n": int(np.isfinite(g[value].to_numpy(np.float64)).sum())})
    return pd.DataFrame(rows)


def _frame_scores(table: pd.DataFrame) -> tuple[dict, bool]:
    """{(video, label) or (video,): (frames [n], scores [n, 2] of visual, audio)}; bool: label-specific."""
    if "frame" not in table.columns:
        raise ValueError("a frame table is needed (a 'frame' column): video-level models have no frames")
    if "weight" in table.columns:  # attention: mean over heads
        keys, value = ["video", "frame"], "weight"
    elif "attribution" in table.columns:
        keys, value = ["video", "label", "frame"], "attribution"
    else:
        raise ValueError("a frame table has a 'weight' (attention) or 'attribution' column")
    wide = table.pivot_table(index=keys, columns="modality", values=value, aggfunc="mean", observed=False)
    wide = wide.reindex(columns=list(MODALITIES)).fillna(0.0)
    frames = wide.index.get_level_values("frame").to_numpy()
    values = wide.to_numpy(np.float64)
    group_keys = wide.index.droplevel("frame")
    out = {}
    codes, uniques = pd.factorize(group_keys)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    for j, key in enumerate(uniques):
        sel = order[bounds[j]:bounds[j + 1]]
        key = tuple(key) if isinstance(key, tuple) else (key,)
        if len(key) == 2:
            key = (key[0], int(key[1]))
        out[key] = (frames[sel], values[sel])
    return out, value == "attribution"


def _spans_by_pair(spans: pd.DataFrame) -> dict:
    if "video" not in spans.columns and "id" in spans.columns:  # afkit.synth.load_ground_truth's
        spans = spans.rename(columns={"id": "video"})
    need = {"video", "label", "start", "end", "modality"}
    missing = need - set(spans.columns)
    if missing:
        raise ValueError(f"spans need columns {sorted(need)} ('id' may stand for 'video'); missing {sorted(missing)}")
    keep = spans["modality"].astype(str) != "none"
    if "has_evidence" in spans.columns:
        keep &= spans["has_evidence"].astype(bool)
    spans = spans.loc[keep]
    out = {}
    for (video, label), g in spans.groupby(["video", "label"], sort=True):
        mods = {_modality(m) if m != "both" else "both" for m in g["modality"]}
        out[(video, int(label))] = (g["start"].to_numpy(), g["end"].to_numpy(),
                                    mods.pop() if len(mods) == 1 else "both")
    return out


def evidence_auroc(tables: Mapping[str, pd.DataFrame], spans: pd.DataFrame, *, random_seed: int | None = 0,
                   end_inclusive: bool = False, modality: str = "matched") -> pd.DataFrame:
    """Per method, video and label: AUROC of the per-frame scores against the evidence span.

    Frames inside the label's span(s) are the positives, the video's other real frames the
    negatives. The score of frame t is, per method: the attention weight (mean over heads), or the
    signed attribution for that label; of the evidence's modality (``modality="matched"``; a
    ``both`` span sums the two) or of both modalities summed (``modality="sum"``).
    The ``random`` method (seeded U(0, 1) scores; omitted if ``random_seed`` is None) is the
    chance baseline (expected AUROC 0.5).

    Args:
        tables: ``{method name: frame table}`` from :func:`attention_table` (frame-level) or
            :func:`attribution_table` (frame-level).
        spans: one row per evidence span: ``video, label, start, end, modality`` (``end``
            exclusive unless ``end_inclusive``), e.g. the spans of
            :func:`afkit.synth.load_ground_truth` (its ``id`` column names the video, so build
            the tables with ``ids=store.ids``; rows without evidence are skipped). Frame t of a
            table must be frame t of the video: load frames with ``frame_sampling="first"``.

    Returns columns ``method, video, label, modality, n_frames, n_positive, auroc``.
    """
    if modality not in ("matched", "sum"):
        raise ValueError(f"modality must be 'matched' or 'sum', got {modality!r}")
    truth = _spans_by_pair(spans)
    rows = []
    frames_of: dict = {}
    for method, table in tables.items():
        groups, per_label = _frame_scores(table)
        for (video, label), (starts, ends, mod) in truth.items():
            hit = groups.get((video, label) if per_label else (video,))
            if hit is None:
                continue
            frames, values = hit
            frames_of.setdefault((video, label), frames)
            use = [0, 1] if (mod == "both" or modality == "sum") else [MODALITIES.index(mod)]
            s = values[:, use].sum(axis=1)
            pos = span_positives(int(frames.max()) + 1, starts, ends, end_inclusive=end_inclusive)[frames]
            rows.append({"method": method, "video": video, "label": label, "modality": mod,
                         "n_frames": len(frames), "n_positive": int(pos.sum()), "auroc": auroc(s, pos)})
    if random_seed is not None:
        rng = np.random.default_rng(random_seed)
        for (video, label), frames in frames_of.items():
            starts, ends, mod = truth[(video, label)]
            pos = span_positives(int(frames.max()) + 1, starts, ends, end_inclusive=end_inclusive)[frames]
            rows.append({"method": "random", "video": video, "label": label, "modality": mod,
                         "n_frames": len(frames), "n_positive": int(pos.sum()),
                         "auroc": auroc(random_scores(len(frames), rng), pos)})
    return pd.DataFrame(rows, columns=["method", "video", "label", "modality", "n_frames", "n_positive", "auroc"])


def modality_agreement_arrays(visual_share: Any, truth: Any) -> pd.DataFrame:
    """Agreement of per-class visual shares with each class's true evidence modality.

    For classes whose truth is ``visual`` or ``audio``, the predicted modality is
    :math:`\\arg\\max(s_v, 1 - s_v)` (visual if :math:`s_v > 1/2`); ``accuracy`` is the fraction
    predicted right. Per truth group (and ``single`` = visual and audio pooled) also the mean
    visual share. ``both`` classes have no accuracy (NaN): their share should sit near 1/2.

    ``separation_auroc`` (on the ``single`` row): the AUROC of the visual share for telling
    visual-only from audio-only classes (1 = every visual class has a larger visual share than
    every audio class), free of the 1/2 threshold, which a model's or a method's bias towards
    the wider modality (1024 visual vs 128 audio dimensions) moves.

    Returns columns ``truth, n_classes, mean_visual_share, accuracy, separation_auroc``.
    """
    s = np.asarray(visual_share, dtype=np.float64).reshape(-1)
    t = np.asarray([str(x) if str(x) == "both" else _modality(x) for x in np.asarray(truth).reshape(-1)], dtype=object)
    if s.shape != t.shape:
        raise ValueError(f"visual_share and truth differ in length: {s.shape[0]} vs {t.shape[0]}")
    pred = np.where(s > 0.5, "visual", "audio")
    rows = []
    for group, sel in (("visual", t == "visual"), ("audio", t == "audio"), ("both", t == "both"),
                       ("single", (t == "visual") | (t == "audio"))):
        n = int(sel.sum())
        acc = float((pred[sel] == t[sel]).mean()) if n and group != "both" else float("nan")
        sep = float("nan")
        if group == "single" and (t == "visual").any() and (t == "audio").any():
            sep = auroc(s[sel], t[sel] == "visual")
        rows.append({"truth": group, "n_classes": n, "mean_visual_share": float(s[sel].mean()) if n else float("nan"),
                     "accuracy": acc, "separation_auroc": sep})
    return pd.DataFrame(rows)


def _first_column(frame: pd.DataFrame, candidates: Sequence[str], what: str) -> str:
    for c in candidates:
        if c in frame.columns:
            return c
    raise ValueError(f"{what} has none of the columns {list(candidates)} (columns: {list(frame.columns)})")


def modality_agreement(class_shares: pd.DataFrame, classes: pd.DataFrame, *, label_column: str | None = None,
                       modality_column: str = "modality") -> pd.DataFrame:
    """:func:`modality_agreement_arrays` on tables: ``modality_shares(by="class")`` joined with the
    ground truth's class table (one row per class: ``label_column`` -- default the first of
    ``label``, ``index``, ``Index`` -- and ``modality_column``), e.g. the ``classes`` of
    :func:`afkit.synth.load_ground_truth`."""
    if label_column is None:
        label_column = _first_column(classes, ("label", "index", "Index"), "classes")
    for col in (label_column, modality_column):
        if col not in classes.columns:
            raise ValueError(f"classes has no column {col!r} (columns: {list(classes.columns)})")
    joined = class_shares.merge(classes[[label_column, modality_column]].rename(
        columns={label_column: "label", modality_column: "truth"}), on="label", how="inner")
    if joined.empty:
        raise ValueError("no class of class_shares is in the ground truth's class table")
    return modality_agreement_arrays(joined["visual_share"], joined["truth"])


def topk_frames(scores: Any, mask: Any, k: int) -> np.ndarray:
    """Boolean [B, T]: each video's ``k`` highest-scored real frames (ties: the earlier frame).

    At most ``n_real - 1`` frames are chosen so that every video keeps a frame.
    """
    s = np.asarray(scores, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if s.shape != m.shape or s.ndim != 2:
        raise ValueError(f"scores and mask must both be [B, T]; got {s.shape} and {m.shape}")
    order = np.argsort(np.where(m, -s, np.inf), axis=1, kind="stable")
    kk = np.minimum(int(k), m.sum(axis=1) - 1).clip(min=0)
    out = np.zeros_like(m)
    rank = np.argsort(order, axis=1)
    out[rank < kk[:, None]] = True
    return out & m


def random_frames(mask: Any, k: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean [B, T]: ``k`` real frames per video drawn uniformly without replacement (at most
    ``n_real - 1``), from a seeded generator."""
    m = np.asarray(mask, dtype=bool)
    return topk_frames(rng.random(m.shape), m, k)


def faithfulness(drop_top: Any, drop_random: Any, *, ci: float = 0.95, n_boot: int = 2000, seed: int = 0) -> dict:
    """Paired deletion test: does removing the top-scored frames lower the score more than random?

    Per video i: :math:`d_i = \\Delta^{top}_i - \\Delta^{rand}_i` with :math:`\\Delta = f(x) - f(x
    \\setminus \\text{frames})`. Returns ``mean_drop_top``, ``mean_drop_random``,
    ``mean_difference`` with its bootstrap ``ci_low``/``ci_high``, ``frac_top_greater``
    (:math:`P(d_i > 0)`), ``n``. A faithful score has ``mean_difference > 0``.
    """
    a = np.asarray(drop_top, dtype=np.float64).reshape(-1)
    b = np.asarray(drop_random, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"drop_top and drop_random differ in length: {a.shape[0]} vs {b.shape[0]}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    mean, lo, hi = bootstrap_ci(a - b, ci=ci, n_boot=n_boot, seed=seed)
    return {"mean_drop_top": float(a.mean()) if len(a) else float("nan"),
            "mean_drop_random": float(b.mean()) if len(b) else float("nan"),
            "mean_difference": mean, "ci_low": lo, "ci_high": hi,
            "frac_top_greater": float((a > b).mean()) if len(a) else float("nan"), "n": int(len(a))}


def deletion_drops(model: torch.nn.Module, batch: Mapping, scores: Any, target: Any, *, k: int,
                   n_random: int = 3, seed: int = 0, score: str = "logit", device=None) -> tuple[np.ndarray, np.ndarray]:
    """Drop of each video's target score when its top-``k`` scored frames, or ``k`` random real
    frames (mean over ``n_random`` draws), are masked out: (drop_top [B], drop_random [B]).

    ``score`` is the target's ``"logit"`` (default: no sigmoid saturation) or ``"probability"``.
    Videos with a single real frame get NaN.
    """
    if score not in ("logit", "probability"):
        raise ValueError(f"score must be 'logit' or 'probability', got {score!r}")
    device = _device(model, device)
    kind, (rgb, audio), mask = _inputs(model, batch, device)
    if kind != "frame":
        raise ValueError("deletion of frames needs a frame-level model")
    B = rgb.shape[0]
    tgt = torch.as_tensor(np.broadcast_to(np.asarray(target, dtype=np.int64), (B,)).copy(), device=device)
    m = mask.cpu().numpy()

    def value(keep: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = _logits(model(rgb, audio, torch.as_tensor(keep, device=device)))
        out = torch.sigmoid(out) if score == "probability" else out
        return out.gather(1, tgt[:, None])[:, 0].double().cpu().numpy()

    was_training = model.training
    model.eval()
    try:
        base = value(m)
        top = base - value(m & ~topk_frames(scores, m, k))
        rng = np.random.default_rng(seed)
        rand = np.mean([base - value(m & ~random_frames(m, k, rng)) for _ in range(n_random)], axis=0)
    finally:
        model.train(was_training)
    single = m.sum(axis=1) <= 1
    top[single], rand[single] = np.nan, np.nan
    return top, rand


def deletion_test(model: torch.nn.Module, data: Any, tables: Mapping[str, pd.DataFrame], *, k: int = 5,
                  ids: Sequence | None = None, n_random: int = 3, seed: int = 0, score: str = "logit",
                  max_batches: int | None = None, n_boot: int = 2000, device=None,
                  progress: bool = True) -> pd.DataFrame:
    """Faithfulness of each method's frame scores: :func:`faithfulness` per method.

    For every (video, true label) of ``data`` (the same loader, in the same order, as the tables
    were made from) and each method, the frames are ranked by the method's score summed over
    modalities (attention: mean over heads; attributions: that label's), the top ``k`` are masked
    out and the label's score drop compared with masking ``k`` random real frames.

    Returns one row per method: ``method, mean_drop_top, mean_drop_random, mean_difference,
    ci_low, ci_high, frac_top_greater, n``.
    """
    device = _device(model, device)
    matrices = {method: _frame_scores(table) for method, table in tables.items()}
    drops: dict[str, tuple[list, list]] = {m: ([], []) for m in tables}
    offset = 0
    for i, batch in enumerate(tqdm(_iter_batches(data), desc="deletion", disable=not progress,
                                   total=max_batches, leave=False)):
        if max_batches is not None and i >= max_batches:
            break
        expanded, rows, classes = _expand_targets(model, batch, "labels", device)
        B = int(torch.as_tensor(batch["audio"]).shape[0])
        names = _video_names(batch, B, offset, ids)
        offset += B
        if len(rows) == 0:
            continue
        T = expanded["mask"].shape[1]
        for method, (groups, per_label) in matrices.items():
            sc = np.zeros((len(rows), T))
            found = np.zeros(len(rows), dtype=bool)
            for p, (r, c) in enumerate(zip(rows, classes, strict=True)):
                hit = groups.get((names[r], int(c)) if per_label else (names[r],))
                if hit is None:
                    continue
                fr, values = hit
                inside = fr < T
                sc[p, fr[inside]] = values[inside].sum(axis=1)
                found[p] = True
            if not found.any():
                continue
            sel = torch.as_tensor(np.flatnonzero(found), device=device)
            sub = {k_: v.index_select(0, sel) for k_, v in expanded.items()}
            top, rand = deletion_drops(model, sub, sc[found], classes[found], k=k, n_random=n_random,
                                       seed=seed + i, score=score, device=device)
            drops[method][0].append(top)
            drops[method][1].append(rand)
    out = []
    for method, (top, rand) in drops.items():
        if not top:
            raise ValueError(f"method {method!r}: no (video, label) of data is in its table (check ids)")
        out.append({"method": method, **faithfulness(np.concatenate(top), np.concatenate(rand),
                                                     n_boot=n_boot, seed=seed)})
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------
# 4. notebook 08's views: one call per figure or answer
# --------------------------------------------------------------------------------------------


def timeline_scores(tables: Mapping[str, pd.DataFrame], spans: pd.DataFrame | None, video: int | str = 0):
    """Per-frame series of one explained (video, label) for :func:`afkit.plots.plot_attention_timeline`.

    ``video``: a video id, or an int picking the n-th video (in table order) that has an
    evidence span. Returns ``(series, spans, title)``: ``{"<method> (<modality>)": [T]}``
    (attention: mean over heads; attributions: that label's), the label's true ``(start, end)``
    spans (empty without truth), and a title naming the video and label."""
    attn = next((t for t in tables.values() if "head" in t.columns), None)
    attr = {m: t for m, t in tables.items() if "label" in t.columns}
    vids = list(dict.fromkeys((attn if attn is not None else next(iter(tables.values())))["video"]))
    label, true_spans = None, []
    if isinstance(video, int):
        if spans is not None:
            ev = spans[spans["has_evidence"] & spans["id"].isin(vids)]
            row = ev.iloc[min(video, len(ev) - 1)]
            video, label = row["id"], int(row["label"])
        else:
            video = vids[min(video, len(vids) - 1)]
    if label is None and attr:
        first = next(iter(attr.values()))
        label = int(first.loc[first["video"] == video, "label"].iloc[0])
    if spans is not None and label is not None:
        s = spans[(spans["id"] == video) & (spans["label"] == label) & spans["has_evidence"]]
        true_spans = [(int(a), int(b)) for a, b in zip(s["start"], s["end"])]
    series = {}
    if attn is not None:
        a = attn[attn["video"] == video].groupby(["modality", "frame"])["weight"].mean()
        for mod in ("visual", "audio"):
            if mod in a.index.get_level_values(0):
                series[f"attention ({mod})"] = a.loc[mod].sort_index().to_numpy()
    for method, t in attr.items():
        g = t[(t["video"] == video) & (t["label"] == label)].groupby(["modality", "frame"])["attribution"].sum()
        for mod in ("visual", "audio"):
            if mod in g.index.get_level_values(0):
                series[f"{method.replace('_', ' ')} ({mod})"] = g.loc[mod].sort_index().to_numpy()
    return series, true_spans, f"Video {video}, label {label}"


def share_table(class_shares: pd.DataFrame, classes: pd.DataFrame | None, max_classes: int = 30) -> pd.DataFrame:
    """Per class (the ``max_classes`` most explained): ``class`` (name), ``audio_share`` and,
    with the synthetic truth, ``true_audio_share`` (audio 1, visual 0, both 0.5)."""
    df = class_shares.sort_values("n", ascending=False).head(max_classes).copy()
    df["class"] = [f"class {int(c)}" for c in df["label"]]
    if classes is not None:
        truth = classes.set_index("index")["modality"]
        df["true_audio_share"] = df["label"].map(truth).map({"audio": 1.0, "visual": 0.0, "both": 0.5})
    return df.sort_values("label").reset_index(drop=True)


def describe(score_table: pd.DataFrame | None, deletion: pd.DataFrame, entropy: pd.DataFrame,
             agreement: pd.DataFrame | None = None, source: str = "synthetic", *,
             video_agreement: pd.DataFrame | None = None, frames_check: dict | None = None) -> str:
    """Notebook 08's answer in prose, computed from its tables. ``frames_check``
    (:func:`frames_check`) says whether the frame-level model learned enough to be explained."""
    parts = []
    if frames_check is not None:
        parts.append(frames_check["text"])
    if score_table is not None and len(score_table):
        s = score_table.set_index("method")
        best = s.drop(index="random", errors="ignore")["mean"].idxmax()
        parts.append(
            "**Finding the evidence.** Mean AUROC of per-frame scores against the true span: "
            + "; ".join(f"{m.replace('_', ' ')} {r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
                        for m, r in s.iterrows())
            + f". The best method is {best.replace('_', ' ')}"
            + (" and it beats the random baseline beyond its interval." if "random" in s.index
               and s.loc[best, "ci_low"] > s.loc["random", "ci_high"] else
               ", but not clearly above the random baseline." if "random" in s.index else "."))
    else:
        parts.append("**Finding the evidence.** Not scored: this data set has no evidence spans.")
    if agreement is not None and len(agreement):
        single = agreement.set_index("truth").loc["single"]
        parts.append(f"**Modality, frame-level model.** On the {int(single['n_classes'])} single-modality "
                     f"classes, the modality with the larger attribution share is the true one for "
                     f"{100 * single['accuracy']:.0f}% of classes; the visual share separates visual-only "
                     f"from audio-only classes with AUROC {single['separation_auroc']:.2f} (0.5 = chance).")
    if video_agreement is not None and len(video_agreement):
        single = video_agreement.set_index("truth").loc["single"]
        g = video_agreement.set_index("truth")
        parts.append(f"**Modality, video-level Attend-Fusion.** Integrated Gradients on its visual vs "
                     f"audio feature blocks: mean visual share {g.loc['visual', 'mean_visual_share']:.2f} on "
                     f"visual-only classes, {g.loc['audio', 'mean_visual_share']:.2f} on audio-only and "
                     f"{g.loc['both', 'mean_visual_share']:.2f} on both; the share separates visual-only from "
                     f"audio-only classes with AUROC {single['separation_auroc']:.2f}, and a 1/2 threshold "
                     f"names the true modality for {100 * single['accuracy']:.0f}% of single-modality classes"
                     + (": attribution mass leans to the visual input." if g.loc['audio', 'mean_visual_share'] > 0.5
                        else "." ))
    d = deletion.set_index("method")
    parts.append("**Faithfulness.** Deleting the top-scored frames lowers the label's logit by "
                 + "; ".join(f"{m.replace('_', ' ')} {r['mean_drop_top']:.3f} vs random {r['mean_drop_random']:.3f}"
                             for m, r in d.iterrows()) + ".")
    if "normalized_entropy" in entropy.columns:
        parts.append(f"**Attention collapse.** The attention's normalized entropy (1 = uniform over "
                     f"frames, 0 = one frame) averages {entropy['normalized_entropy'].mean():.2f} over heads.")
    parts.append(f"*All of it on {source} data.*")
    return "\n\n".join(parts)


def frames_check(frames_gap: float, video_gap: float, margin: float = 0.10) -> dict:
    """Is the frame-level model good enough to explain? It must reach the video-level
    Attend-Fusion's test GAP less ``margin`` (10 points) on the same data. Returns ``passes``
    and a sentence saying so, with the numbers."""
    passes = bool(frames_gap >= video_gap - margin)
    text = (f"**The explained frame-level model** reaches test GAP {100 * frames_gap:.2f}% against the "
            f"video-level Attend-Fusion's {100 * video_gap:.2f}% (the bar: {100 * (video_gap - margin):.2f}%)")
    text += (": it passes, so its attention and attributions are read below as findings."
             if passes else
             ": it does **not** pass within this profile's budget, so the frame-level attention and "
             "attribution scores below describe a model that has not learned the task; they are shown "
             "for the method, not as findings. The video-level Attend-Fusion's attribution is the "
             "explanation this run stands behind.")
    return {"passes": passes, "frames_gap": float(frames_gap), "video_gap": float(video_gap),
            "text": text}
