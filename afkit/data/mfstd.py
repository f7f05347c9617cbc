"""MF+STD featurization: per-video mean and standard deviation over frames.

For a video with T quantized frames ``q[t, j]`` (uint8) of one modality, dequantized as the
release's starter code does (``x = q * 4/255 + (4/512 - 2)``, :func:`afkit.io.records.dequantize`)::

    mean_j = (1/T) * sum_t x[t, j]
    std_j  = sqrt((1/T) * sum_t (x[t, j] - mean_j)^2)        (population std, ddof=0)

so a one-frame video has std 0. Feature sets (column order is fixed, see :func:`columns`):

==========  =========================================  ======================
name        columns                                    D
==========  =========================================  ======================
``mean``    mean_rgb (1024), mean_audio (128)          1152
``mean_std`` mean_rgb, std_rgb, mean_audio, std_audio  2304
==========  =========================================  ======================

``mean`` can come from video-level files (the release's ``mean_rgb``/``mean_audio``) or from
frame-level files; ``mean_std`` needs frame-level files.

Speed: dequantization is affine, so the pooling runs on the raw bytes and dequantizes only the
pooled statistics: ``mean(x) = scale * mean(q) + bias`` and ``std(x) = scale * std(q)``. The sums
``S1 = sum_t q`` and ``S2 = sum_t q^2`` are computed with float32 matrix-vector products over at
most 256 frames at a time: every partial sum is an integer below 256 * 255^2 < 2^24, so float32
holds it *exactly*; the chunks are added in float64 and the variance is then formed from exact
integers, ``var(q) = (T*S2 - S1^2) / T^2``, without the cancellation error that the one-pass
formula has in floating point. (See ``benchmarks/featurize.py`` for the measured rate.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from afkit.io.records import dequantize

__all__ = [
    "FEATURE_SETS",
    "RGB_DIM",
    "AUDIO_DIM",
    "DEQUANT_SCALE",
    "DEQUANT_BIAS",
    "columns",
    "feature_dim",
    "frame_sums",
    "pool_frames",
    "video_features",
    "featurize_records",
    "dequantize_lut",
]

RGB_DIM = 1024
AUDIO_DIM = 128

#: The starter code's ``Dequantize(feat, max_quantized_value=2, min_quantized_value=-2)``:
#: ``x = q * (max - min) / 255 + (max - min) / 512 + min``. It runs in float32 with float32
#: constants (as :func:`afkit.io.records.dequantize` does); we pool in float64 with those same
#: float32 constants, so a pooled statistic differs from pooling ``dequantize(q)`` in float64
#: only by the float32 rounding of each ``x`` (relative error < 6e-8).
DEQUANT_SCALE = float(np.float32(4.0 / 255.0))
DEQUANT_BIAS = float(np.float32(4.0 / 512.0 - 2.0))

#: feature set -> the statistics it holds per modality
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "mean": ("mean",),
    "mean_std": ("mean", "std"),
}

# float32 sums of at most this many frames of uint8 values (and their squares) are exact:
# 256 * 255**2 = 16,646,400 < 2**24.
_EXACT_ROWS = 256
_ONES = np.ones(_EXACT_ROWS, dtype=np.float32)


def _check_set(feature_set: str) -> tuple[str, ...]:
    try:
        return FEATURE_SETS[feature_set]
    except KeyError:
        raise ValueError(
            f"unknown feature set {feature_set!r}; expected one of {sorted(FEATURE_SETS)}"
        ) from None


def columns(feature_set: str) -> dict[str, slice]:
    """Column layout of a feature set: name -> slice of D.

    Order: mean_rgb, std_rgb, mean_audio, std_audio (those in the set), e.g. for ``mean_std``
    ``{"mean_rgb": 0:1024, "std_rgb": 1024:2048, "mean_audio": 2048:2176, "std_audio": 2176:2304}``.
    """
    stats = _check_set(feature_set)
    out: dict[str, slice] = {}
    start = 0
    for modality, width in (("rgb", RGB_DIM), ("audio", AUDIO_DIM)):
        for stat in stats:
            out[f"{stat}_{modality}"] = slice(start, start + width)
            start += width
    return out


def feature_dim(feature_set: str) -> int:
    """D of a feature set: 1152 (``mean``) or 2304 (``mean_std``)."""
    return (RGB_DIM + AUDIO_DIM) * len(_check_set(feature_set))


def frame_sums(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(S1, S2) = (sum_t q[t], sum_t q[t]^2)`` of uint8 frames ``q`` [T, F], as float64 [F].

    Computed with float32 matrix-vector products over chunks of at most 256 frames, which are
    exact (every partial sum is an integer < 2^24), then added in float64.
    """
    q = np.asarray(q)
    if q.dtype != np.uint8 or q.ndim != 2:
        raise ValueError(f"frames must be uint8 [T, F], got {q.dtype} {q.shape}")
    t = q.shape[0]
    if t == 0:
        raise ValueError("a video must have at least one frame (T >= 1), got T = 0")
    s1 = np.zeros(q.shape[1], dtype=np.float64)
    s2 = np.zeros(q.shape[1], dtype=np.float64)
    for start in range(0, t, _EXACT_ROWS):
        x = q[start : start + _EXACT_ROWS].astype(np.float32)
        ones = _ONES[: x.shape[0]]
        s1 += ones @ x
        np.multiply(x, x, out=x)
        s2 += ones @ x
    return s1, s2


def pool_frames(q: np.ndarray, with_std: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and population std over frames of dequantized ``q`` (uint8 [T, F]) -> float64 [F] each.

    ``mean = scale * S1/T + bias``, ``std = scale * sqrt(T*S2 - S1^2) / T`` with the exact integer
    sums of :func:`frame_sums` (``scale = 4/255``, ``bias = 4/512 - 2``, the starter code's float32
    constants). ``std`` is None when
    ``with_std`` is false.
    """
    s1, s2 = frame_sums(q)
    t = float(q.shape[0])
    mean = s1 * (DEQUANT_SCALE / t) + DEQUANT_BIAS
    if not with_std:
        return mean, None
    # T*S2 - S1^2 is a difference of exact integers (< 2^53 for T <= 300): no cancellation error.
    var_t2 = np.maximum(t * s2 - s1 * s1, 0.0)
    std = np.sqrt(var_t2) * (DEQUANT_SCALE / t)
    return mean, std


def video_features(record: Mapping, feature_set: str, out: np.ndarray | None = None) -> np.ndarray:
    """Features of one video record (a dict of :func:`afkit.io.records.read_records`) -> [D].

    Frame-level records (``rgb``, ``audio`` uint8 [T, *]) give either set; video-level records
    (``mean_rgb``, ``mean_audio`` float32) give ``mean`` only. ``out`` (any float dtype) is
    filled in place when given. Column order as :func:`columns`.
    """
    stats = _check_set(feature_set)
    with_std = "std" in stats
    if out is None:
        out = np.empty(feature_dim(feature_set), dtype=np.float64)
    cols = columns(feature_set)
    vid = record.get("id", "?")
    if "rgb" in record:
        for modality in ("rgb", "audio"):
            if modality not in record:
                raise ValueError(f"video {vid!r}: frame-level record has no {modality!r} frames")
            mean, std = pool_frames(record[modality], with_std=with_std)
            out[cols[f"mean_{modality}"]] = mean
            if with_std:
                out[cols[f"std_{modality}"]] = std
        return out
    if "mean_rgb" in record:
        if with_std:
            raise ValueError(
                f"feature set {feature_set!r} needs frame-level records (the std over frames); "
                f"video {vid!r} is a video-level record (mean_rgb/mean_audio only)"
            )
        for modality in ("rgb", "audio"):
            key = f"mean_{modality}"
            if key not in record:
                raise ValueError(f"video {vid!r}: video-level record has no {key!r}")
            out[cols[key]] = record[key]
        return out
    raise ValueError(
        f"video {vid!r}: record has neither frames ('rgb') nor video-level means ('mean_rgb'); "
        f"keys: {sorted(record)}"
    )


def featurize_records(
    records: Iterable[Mapping], feature_set: str
) -> Iterator[tuple[dict, np.ndarray]]:
    """Yield ``(record, features float64 [D])`` for each record (see :func:`video_features`)."""
    _check_set(feature_set)
    for record in records:
        yield record, video_features(record, feature_set)


def dequantize_lut() -> np.ndarray:
    """float32 [256]: ``dequantize`` of every byte value, so ``lut[q] == dequantize(q)`` exactly."""
    return np.asarray(dequantize(np.arange(256, dtype=np.uint8)), dtype=np.float32)
