"""The embedded synthetic YouTube-8M release: streamed, seeded, with known ground truth.

A video ``v`` of ``T`` frames (one a second, ``min_frames <= T <= max_frames``) has features,
per modality ``m`` (``rgb``: 1024 dims, ``audio``: 128 dims), before 8-bit quantization::

    x_m[t] = g_m + sigma_video_m * z_v  +  sigma_frame_m * eps_t                   (background)
           + sum_{labels c of v with evidence in m}  1[t in span_c] * a_m[t] * e_{c,m}
    e_{c,m}[t] = s * amp_m * ( beta * u0_{c,m} + sum_{p=1..P} sign_{p,t} * u_{p,c,m} )  (evidence)

``g_m`` a per-dimension mean (one per data set), ``z_v, eps_t ~ N(0, I)``; ``u0, u1..uP`` the
class's unit *prototype directions* (sparse: ``support_m`` random dimensions each); ``sign_{p,t}``
uniform in ``{-1, +1}`` drawn anew for every frame t of the span (``sign_per_frame``; or once
per (video, label) with ``sign_per_frame=False``); ``s`` a strength drawn per
(video, label); ``span_c = [start, end)`` a contiguous run of frames; ``a_m[t] = 1`` for rgb and,
for audio, 1 with probability ``audio_presence`` (sound is intermittent), else 0.

Why this form (each property is checked by ``tests/test_synth.py`` and measured in
``data/CARD.md`` by :func:`measure_properties`; all of it is *our reconstruction*: the paper
says nothing about a synthetic set, and the real release's generating process is unknown):

- **Labels.** A class's base weight is Zipf-Mandelbrot, ``w_r ∝ (r + zipf_offset)^-zipf_exponent``
  (class index = rank, so index 0 is the most frequent, as in the real ``vocabulary.csv``).
  Classes belong to ``num_verticals`` verticals. A video draws a primary vertical
  (``∝`` the weight of its classes), ``K = 1 + Poisson(mean_labels - 1)`` labels (clipped to
  ``max_labels``), each from the primary vertical with probability ``p_same_vertical``
  (else from all classes), weighted by ``w``, without replacement: heavy-tailed frequencies,
  about ``mean_labels`` labels a video, co-occurrence within verticals.
- **Where the evidence is.** Each label's evidence lies in one span covering a fraction
  ``U(span_fraction)`` of the frames; the rest is background. Mean pooling dilutes it by that
  fraction (and the per-video offset ``z_v`` does not average away), while a frame inside the
  span stands out from the frames outside it: attention over frames can find it.
- **Which modality.** Each class carries its evidence in ``visual`` only, ``audio`` only or
  ``both`` (fractions ``modality_fractions``; more visual than audio), audio evidence is weaker
  relative to its noise and intermittent: visual-only models beat audio-only ones, and fusion
  beats both (it sees every class, and two views of the ``both`` ones).
- **Non-linear, and why MF+STD.** The random per-frame signs average out over the span: the mean
  of the evidence over frames is ``s * amp * beta * u0`` (plus a vanishing ``1/sqrt(L)`` sign
  remainder), so a linear model on *mean* features sees only the small ``beta`` part. The sign
  part shows as extra *spread* over frames along ``u1..uP``: the per-dimension standard
  deviation over frames (the STD of MF+STD) grows on the prototypes' dimensions, and a model of
  the frames can detect ``|u . x_t|``. A linear model on mean features is clearly worse than the
  MLP baselines reading MF+STD, which is the paper's motivation for MF+STD. Prototypes of different classes share dimensions (interference),
  a fraction ``p_missing_evidence`` of labels has no evidence at all (label noise), and
  per-(video, label) strengths vary, so no metric saturates.

Determinism: every random number of video ``i`` of split ``k`` comes from its own
``Generator(PCG64(SeedSequence([seed, k, i])))``; the class-level tables from
``SeedSequence([seed, 7919])``. Nothing depends on the shard size, the thread count or dict/set
order, and the data path uses only IEEE-exact float32 ``+ - * /``, ``rint`` and comparisons (no
BLAS, no transcendental functions), so the bytes are the same on every machine for a given
NumPy random stream (NumPy does not promise its ``Generator`` streams across versions; the
manifest records the version). Video-level means are formed from exact integer sums of the
quantized frames (``mean = scale * sum(q) / T + bias`` in float64, rounded once to float32), i.e.
the mean of the dequantized frames, as the release's video-level files are.

On disk (``DATA_DIR``, the release's layout, see ``DESIGN.md``)::

    frame/{train,validate,test}NNNN.tfrecord   SequenceExample: id, labels, rgb, audio
                                               (+ validate: segment_start_times, segment_labels,
                                               segment_scores, the 2019 fields)
    video/{train,validate,test}NNNN.tfrecord   Example: id, labels, mean_rgb, mean_audio
    vocabulary.csv                             the release's columns; names say "synthetic"
    ground_truth/classes.csv                   per class: index, vertical, modality, weight,
                                               train_count
    ground_truth/spans_{split}.csv             per (video, label): id, video_index, label,
                                               modality, has_evidence, start, end (frames,
                                               end exclusive), num_frames, strength
    ground_truth/prototypes.npz                the prototype directions (sparse), see
                                               :func:`load_prototypes`
    synth_manifest.json                        written last: profile, config, seed, counts

Unlike the real release, the test split keeps its labels (so that it can be scored). Segments
(validate only): segment ``k`` covers frames ``[5k, min(5k + 5, T))`` and starts at
``5k`` seconds; for every label, up to ``max_segments_per_label // 2`` segments at least half
inside the evidence span are rated 1.0 and up to as many with no overlap are rated 0.0 (all
segments are 0.0 for a label without evidence), sorted by start time.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from afkit.records import AUDIO_DIM, RGB_DIM, dequantize, read_records, write_records

__all__ = [
    "SynthProfile",
    "PROFILES",
    "SPLITS",
    "MODALITIES",
    "generate",
    "ensure_dataset",
    "load_ground_truth",
    "load_prototypes",
    "is_complete",
    "read_manifest",
    "measure_properties",
    "signature_sharing",
    "pool_size",
    "probe_gap",
    "render_card",
    "main",
]

SPLITS = ("train", "validate", "test")
MODALITIES = ("visual", "audio", "both")
MANIFEST = "synth_manifest.json"
IN_PROGRESS = ".synth_in_progress"
FORMAT_VERSION = 1
SEGMENT_SECONDS = 5  # the 2019 release's segment length

_SCALE = 4.0 / 255.0  # the starter code's dequantization: x = q * 4/255 + (4/512 - 2)
_BIAS = 4.0 / 512.0 - 2.0
_F32_INV_SCALE = np.float32(255.0 / 4.0)
_F32_BIAS = np.float32(_BIAS)
_CLASS_STREAM = 7919  # SeedSequence key of the class-level tables


@dataclasses.dataclass(frozen=True)
class SynthProfile:
    """One size of the synthetic release (plain values; see the module docstring for the model)."""

    name: str
    num_classes: int  # vocabulary size
    num_verticals: int  # the real vocabulary has 24 (Vertical1)
    train_videos: int
    validate_videos: int
    test_videos: int
    min_frames: int  # frames a video, uniform in [min_frames, max_frames]; the release: 1..300
    max_frames: int
    videos_per_shard: int  # the release has ~1000 videos a frame-level shard
    zipf_exponent: float = 1.0  # class weight (rank + offset)^-exponent
    zipf_offset: float = 4.0
    mean_labels: float = 3.0  # K = 1 + Poisson(mean_labels - 1); the 2018 release: ~3.0
    max_labels: int = 12
    p_same_vertical: float = 0.8  # a label comes from the video's primary vertical
    modality_fractions: tuple[float, float, float] = (0.5, 0.2, 0.3)  # visual, audio, both
    span_fraction: tuple[float, float] = (0.15, 0.5)  # evidence span / frames, uniform
    num_sign_prototypes: int = 2  # P: prototypes with a random sign
    sign_per_frame: bool = True  # sign_p drawn anew every frame (True) or once per (video, label)
    linear_share: float = 0.3  # beta: weight of the fixed-sign prototype u0
    rgb_support: int = 24  # non-zero dimensions of a prototype direction
    audio_support: int = 12
    rgb_attributes: int = 32  # shared pool of sign-prototype directions (per modality): at least
    audio_attributes: int = 16  # this many; grown with the vocabulary (see distinct_signatures)
    distinct_signatures: bool = True  # every class its own set of P pool directions: the pool
    # grows to the smallest n with C(n, P) >= num_classes, and the sets are drawn without
    # replacement (False: each class draws P of the pool independently, so sets repeat)
    rgb_amplitude: float = 3.0
    audio_amplitude: float = 3.0
    audio_presence: float = 0.6  # P(audio evidence in a frame of the span)
    strength: tuple[float, float] = (0.6, 1.4)  # s, uniform, per (video, label)
    rgb_mean_sd: float = 0.2  # sd of g_rgb over dims
    audio_mean_sd: float = 0.3
    rgb_video_sd: float = 0.12  # sigma_video: sd a dimension of the per-video offset
    audio_video_sd: float = 0.15
    video_rank: int = 16  # the per-video offset lies in a random subspace of this dimension
    rgb_frame_sd: float = 0.35  # sigma_frame
    audio_frame_sd: float = 0.5
    p_missing_evidence: float = 0.05  # a label with no evidence anywhere (label noise)
    max_segments_per_label: int = 6  # validate: rated segments a label (half 1.0, half 0.0)

    def videos(self, split: str) -> int:
        return {"train": self.train_videos, "validate": self.validate_videos,
                "test": self.test_videos}[split]


PROFILES: dict[str, SynthProfile] = {
    # tests and every smoke notebook: seconds
    "smoke": SynthProfile(name="smoke", num_classes=50, num_verticals=6, train_videos=320,
                          validate_videos=96, test_videos=64, min_frames=5, max_frames=40,
                          videos_per_shard=64),
    # the main job: model differences above seed noise, the whole reproduction in 30 min on 2 cores
    "cpu": SynthProfile(name="cpu", num_classes=300, num_verticals=12, train_videos=12000,
                        validate_videos=3000, test_videos=3000, min_frames=20, max_frames=100,
                        videos_per_shard=1000),
    # the real vocabulary size and release-like videos (frames up to 300, ~1000 videos a shard);
    # the video counts are scaled down to fit a 64 GB disk (about 13 GB of frame-level shards);
    # raise them with generate(..., train_videos=...) for throughput tests
    "paper": SynthProfile(name="paper", num_classes=3862, num_verticals=24, train_videos=40000,
                          validate_videos=10000, test_videos=10000, min_frames=60,
                          max_frames=300, videos_per_shard=1000),
}


# =========================================================================== class-level tables


@dataclasses.dataclass
class _Classes:
    weight: np.ndarray  # float64 [C], sums to 1
    vertical: np.ndarray  # int64 [C]
    modality: np.ndarray  # int64 [C], index into MODALITIES
    rgb_mean: np.ndarray  # float32 [1024]
    audio_mean: np.ndarray  # float32 [128]
    rgb_basis: np.ndarray  # float32 [rank, 1024], rows of norm sqrt(1024 / rank)
    audio_basis: np.ndarray  # float32 [rank, 128]
    rgb_dims: np.ndarray  # int64 [C, P+1, support]
    rgb_vals: np.ndarray  # float32 [C, P+1, support], unit norm along the last axis
    audio_dims: np.ndarray
    audio_vals: np.ndarray


def _unit_rows(rng: np.random.Generator, shape) -> np.ndarray:
    v = rng.standard_normal(shape)  # float64
    v /= np.sqrt((v * v).sum(axis=-1, keepdims=True))
    return v.astype(np.float32)


def _sparse_dims(rng: np.random.Generator, n: int, dim: int, support: int) -> np.ndarray:
    # `support` distinct dims per row: argsort of uniforms (ties have probability ~0)
    return np.argsort(rng.random((n, dim)), axis=1, kind="stable")[:, :support].astype(np.int64)


def pool_size(minimum: int, num_classes: int, P: int) -> int:
    """The smallest pool of at least ``minimum`` directions with C(n, P) >= ``num_classes``
    distinct P-sets (e.g. P = 2: 32 directions give 496 sets; 20000 classes need 201)."""
    n = max(minimum, P)
    while math.comb(n, P) < num_classes:
        n += 1
    return n


def _class_tables(cfg: SynthProfile, seed: int) -> _Classes:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _CLASS_STREAM])))
    C, P = cfg.num_classes, cfg.num_sign_prototypes
    rank = np.arange(1, C + 1, dtype=np.float64)
    w = (rank + cfg.zipf_offset) ** -cfg.zipf_exponent
    w /= w.sum()
    # verticals of uneven sizes; the first num_verticals classes seed one vertical each
    vp = 1.0 / np.arange(1, cfg.num_verticals + 1) ** 0.7
    vertical = rng.choice(cfg.num_verticals, size=C, p=vp / vp.sum())
    vertical[: cfg.num_verticals] = rng.permutation(cfg.num_verticals)[: min(C, cfg.num_verticals)]
    # modalities: exact counts, random classes
    fr = np.asarray(cfg.modality_fractions, dtype=np.float64)
    counts = np.floor(fr / fr.sum() * C).astype(int)
    counts[0] += C - counts.sum()
    modality = rng.permutation(np.repeat(np.arange(3), counts))
    rgb_mean = (cfg.rgb_mean_sd * rng.standard_normal(RGB_DIM)).astype(np.float32)
    audio_mean = (cfg.audio_mean_sd * rng.standard_normal(AUDIO_DIM)).astype(np.float32)
    protos = []
    for dim, support, pool in ((RGB_DIM, cfg.rgb_support, cfg.rgb_attributes),
                               (AUDIO_DIM, cfg.audio_support, cfg.audio_attributes)):
        # u0: one direction of the class's own; u1..uP: P distinct attributes of a shared pool
        own_d, own_v = _sparse_dims(rng, C, dim, support), _unit_rows(rng, (C, support))
        pool = pool_size(pool, C, P) if cfg.distinct_signatures else pool
        pool_d, pool_v = _sparse_dims(rng, pool, dim, support), _unit_rows(rng, (pool, support))
        if cfg.distinct_signatures:
            combos = np.asarray(list(itertools.combinations(range(pool), P)), dtype=np.int64)
            pick = combos[rng.permutation(len(combos))[:C]]
        else:
            pick = np.argsort(rng.random((C, pool)), axis=1, kind="stable")[:, :P]
        protos.append((np.concatenate([own_d[:, None], pool_d[pick]], axis=1),
                       np.concatenate([own_v[:, None], pool_v[pick]], axis=1)))
    (rgb_dims, rgb_vals), (audio_dims, audio_vals) = protos
    r = cfg.video_rank
    rgb_basis = _unit_rows(rng, (r, RGB_DIM)) * np.float32(math.sqrt(RGB_DIM / r))
    audio_basis = _unit_rows(rng, (r, AUDIO_DIM)) * np.float32(math.sqrt(AUDIO_DIM / r))
    return _Classes(w, vertical.astype(np.int64), modality.astype(np.int64), rgb_mean,
                    audio_mean, rgb_basis, audio_basis, rgb_dims, rgb_vals, audio_dims, audio_vals)


def _offset(mean: np.ndarray, basis: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``mean + sum_k z_k basis_k``, summed in a fixed order (no BLAS: the same bits everywhere)."""
    out = mean.copy()
    for k in range(len(z)):
        out += z[k] * basis[k]
    return out


# =========================================================================== one video


def _video_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, SPLITS.index(split), index])))


def _draw_labels(rng, cfg: SynthProfile, cls: _Classes, vert_weight: np.ndarray) -> np.ndarray:
    v = int(np.searchsorted(np.cumsum(vert_weight), rng.random() * vert_weight.sum(), side="right"))
    v = min(v, len(vert_weight) - 1)
    k = int(min(1 + rng.poisson(cfg.mean_labels - 1.0), cfg.max_labels, cfg.num_classes))
    in_v = cls.vertical == v
    chosen: list[int] = []
    avail = np.ones(cfg.num_classes, dtype=bool)
    for _ in range(k):
        same, u = rng.random(), rng.random()
        p = cls.weight * avail
        if same < cfg.p_same_vertical and (p * in_v).sum() > 0:
            p = p * in_v
        cs = np.cumsum(p)
        c = min(int(np.searchsorted(cs, u * cs[-1], side="right")), cfg.num_classes - 1)
        while not avail[c]:  # guard against float edge cases at the top of cs
            c -= 1
        chosen.append(c)
        avail[c] = False
    return np.sort(np.asarray(chosen, dtype=np.int64))


def _evidence_vector(dim: int, dims: np.ndarray, vals: np.ndarray, coef: np.ndarray) -> np.ndarray:
    vec = np.zeros(dim, dtype=np.float32)
    for p in range(len(coef)):  # fixed order; dims may repeat across p
        vec[dims[p]] += coef[p] * vals[p]
    return vec


def _evidence_frames(dim: int, dims: np.ndarray, vals: np.ndarray, coef: np.ndarray, L: int) -> np.ndarray:
    """[L, dim] evidence: row t = sum_p coef[t, p] * u_p (coef [L or 1, P+1]), built from
    elementwise float32 products and sums in a fixed order (no BLAS: the same bytes everywhere)."""
    out = np.zeros((L, dim), dtype=np.float32)
    for p in range(coef.shape[1]):
        unit = np.zeros(dim, dtype=np.float32)
        unit[dims[p]] += vals[p]
        out += coef[:, p:p + 1] * unit
    return out


def _quantize32(x: np.ndarray) -> np.ndarray:
    q = (x - _F32_BIAS) * _F32_INV_SCALE
    np.rint(q, out=q)
    np.clip(q, 0, 255, out=q)
    return q.astype(np.uint8)


def _segments(rng, T: int, labels, spans, max_per_label: int):
    starts = np.arange(0, T, SEGMENT_SECONDS, dtype=np.int64)
    ends = np.minimum(starts + SEGMENT_SECONDS, T)
    half = max_per_label // 2
    seg_l, seg_t, seg_s = [], [], []
    for c, (has, a, b) in zip(labels, spans):
        if has:
            overlap = np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0, None)
            pos = np.flatnonzero(2 * overlap >= ends - starts)
            neg = np.flatnonzero(overlap == 0)
        else:
            pos = np.zeros(0, dtype=np.int64)
            neg = np.arange(len(starts))
        pos = np.sort(rng.permutation(pos)[:half])
        neg = np.sort(rng.permutation(neg)[: (half if has else max_per_label)])
        for k, score in sorted([(k, 1.0) for k in pos] + [(k, 0.0) for k in neg]):
            seg_l.append(c)
            seg_t.append(starts[k])
            seg_s.append(score)
    return (np.asarray(seg_l, np.int64), np.asarray(seg_t, np.int64), np.asarray(seg_s, np.float32))


def _make_video(cfg: SynthProfile, cls: _Classes, vert_weight, seed: int, split: str, index: int):
    """One video: (frame-level record, video-level record, ground-truth rows)."""
    rng = _video_rng(seed, split, index)
    T = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    labels = _draw_labels(rng, cfg, cls, vert_weight)
    f32 = np.float32
    rgb_off = _offset(cls.rgb_mean, cls.rgb_basis,
                      f32(cfg.rgb_video_sd) * rng.standard_normal(cfg.video_rank, dtype=f32))
    aud_off = _offset(cls.audio_mean, cls.audio_basis,
                      f32(cfg.audio_video_sd) * rng.standard_normal(cfg.video_rank, dtype=f32))
    rgb = rng.standard_normal((T, RGB_DIM), dtype=f32)
    rgb *= f32(cfg.rgb_frame_sd)
    rgb += rgb_off
    audio = rng.standard_normal((T, AUDIO_DIM), dtype=f32)
    audio *= f32(cfg.audio_frame_sd)
    audio += aud_off
    P = cfg.num_sign_prototypes
    rows, spans = [], []
    for c in labels:
        # every draw is made whatever the modality, so streams do not depend on it
        has = bool(rng.random() >= cfg.p_missing_evidence)
        frac = rng.uniform(*cfg.span_fraction)
        L = max(1, min(T, int(round(frac * T))))
        start = int(rng.integers(0, T - L + 1))
        s = rng.uniform(*cfg.strength)
        signs = rng.integers(0, 2, size=(L, P) if cfg.sign_per_frame else (1, P)) * 2 - 1
        present = rng.random(L) < cfg.audio_presence
        present[L // 2] = True  # at least one frame of sound
        mod = MODALITIES[cls.modality[c]]
        # shape [L or 1, P+1]: (beta, sign_1..sign_P) per frame (or one row for the whole span)
        shape = np.concatenate([np.full((len(signs), 1), cfg.linear_share), signs], 1).astype(np.float32)
        if has and mod in ("visual", "both"):
            rgb[start:start + L] += _evidence_frames(RGB_DIM, cls.rgb_dims[c], cls.rgb_vals[c],
                                                     shape * f32(s * cfg.rgb_amplitude), L)
        if has and mod in ("audio", "both"):
            ev = _evidence_frames(AUDIO_DIM, cls.audio_dims[c], cls.audio_vals[c],
                                  shape * f32(s * cfg.audio_amplitude), L)
            audio[start:start + L][present] += ev[present]
        spans.append((has, start, start + L))
        rows.append((int(c), mod if has else "none", int(has), start if has else 0,
                     start + L if has else 0, T, round(float(s), 4)))
    q_rgb, q_audio = _quantize32(rgb), _quantize32(audio)
    vid = f"{split[:2]}{index:07d}"
    frame_rec = {"id": vid, "labels": labels, "rgb": q_rgb, "audio": q_audio}
    if split == "validate":
        sl, st, ss = _segments(rng, T, labels, spans, cfg.max_segments_per_label)
        frame_rec.update(segment_labels=sl, segment_start_times=st, segment_scores=ss)
    video_rec = {"id": vid, "labels": labels,
                 "mean_rgb": _exact_mean(q_rgb), "mean_audio": _exact_mean(q_audio)}
    return frame_rec, video_rec, [(vid, index) + r for r in rows]


def _exact_mean(q: np.ndarray) -> np.ndarray:
    """``mean_t dequantize(q)[t]`` from the exact integer sum, rounded once to float32."""
    total = q.sum(axis=0, dtype=np.int64)
    return (total / q.shape[0] * _SCALE + _BIAS).astype(np.float32)


# =========================================================================== writing


_SPAN_COLUMNS = ("id", "video_index", "label", "modality", "has_evidence", "start", "end",
                 "num_frames", "strength")


def _resolve(profile, overrides: dict) -> SynthProfile:
    if isinstance(profile, SynthProfile):
        cfg = profile
    elif profile in PROFILES:
        cfg = PROFILES[profile]
    else:
        raise ValueError(f"unknown synth profile {profile!r}; choose one of {sorted(PROFILES)}")
    if overrides:
        bad = sorted(set(overrides) - {f.name for f in dataclasses.fields(SynthProfile)})
        if bad:
            raise ValueError(f"unknown SynthProfile field(s) {bad}")
        cfg = dataclasses.replace(cfg, **overrides)
    if not 1 <= cfg.min_frames <= cfg.max_frames <= 300:
        raise ValueError(f"need 1 <= min_frames <= max_frames <= 300, got {cfg.min_frames}, {cfg.max_frames}")
    if cfg.num_classes < 2 or cfg.num_verticals < 1 or cfg.num_verticals > cfg.num_classes:
        raise ValueError("need num_classes >= 2 and 1 <= num_verticals <= num_classes")
    if cfg.videos_per_shard < 1 or min(cfg.train_videos, cfg.validate_videos, cfg.test_videos) < 0:
        raise ValueError("need videos_per_shard >= 1 and video counts >= 0")
    return cfg


def _manifest_for(cfg: SynthProfile, seed: int) -> dict:
    from afkit import __version__

    return {"format": "afkit-synth", "format_version": FORMAT_VERSION, "afkit_version": __version__,
            "numpy_version": np.__version__, "profile": cfg.name, "seed": int(seed),
            "config": dataclasses.asdict(cfg)}


def read_manifest(out_dir) -> dict | None:
    p = Path(out_dir) / MANIFEST
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_complete(out_dir, profile="smoke", seed: int = 0, **overrides) -> bool:
    """True when ``out_dir`` holds a finished generation of exactly this profile and seed."""
    cfg = _resolve(profile, overrides)
    m = read_manifest(out_dir)
    if m is None or (Path(out_dir) / IN_PROGRESS).exists():
        return False
    want = _manifest_for(cfg, seed)
    return all(m.get(k) == json.loads(json.dumps(want[k])) for k in ("format", "format_version", "seed", "config"))


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)


def _clear(out: Path) -> None:
    """Remove what a previous (interrupted) generation may have left; refuse on foreign data."""
    has_ours = (out / MANIFEST).exists() or (out / IN_PROGRESS).exists()
    ours = [p for sub in ("frame", "video") for p in sorted((out / sub).glob("*.tfrecord*"))]
    if ours and not has_ours:
        raise FileExistsError(
            f"{out} holds TFRecord files but no {MANIFEST}: it is not an afkit synthetic set "
            "(the real release?); refusing to overwrite it. Choose another --out.")
    for p in ours:
        p.unlink()
    for name in ("ground_truth",):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    for name in (MANIFEST, "vocabulary.csv"):
        (out / name).unlink(missing_ok=True)


def _vocabulary_csv(cfg: SynthProfile, cls: _Classes, train_count: np.ndarray) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Index", "TrainVideoCount", "KnowledgeGraphId", "Name", "WikiUrl", "Vertical1",
                "Vertical2", "Vertical3", "WikiDescription"])
    for c in range(cfg.num_classes):
        v = int(cls.vertical[c])
        w.writerow([c, int(train_count[c]), f"/synthetic/{c:05d}", f"Synthetic class {c:04d}", "",
                    f"Synthetic vertical {v:02d}", "", "",
                    "A synthetic class of afkit's embedded data set; it names no real entity."])
    return buf.getvalue()


def _classes_csv(cfg: SynthProfile, cls: _Classes, train_count: np.ndarray) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "vertical", "modality", "weight", "train_count"])
    for c in range(cfg.num_classes):
        w.writerow([c, int(cls.vertical[c]), MODALITIES[cls.modality[c]],
                    f"{cls.weight[c]:.8g}", int(train_count[c])])
    return buf.getvalue()


def generate(out_dir, profile="smoke", seed: int = 0, *, progress: bool = True, **overrides) -> dict:
    """Write the synthetic release of ``profile`` (a name of :data:`PROFILES` or a
    :class:`SynthProfile`; ``overrides`` replace its fields, e.g. ``train_videos=100``) under
    ``out_dir``; returns a summary (the manifest plus ``seconds``).

    Streams one shard at a time (memory: one video's frames plus one shard's video-level
    records). Every shard is written to a temporary name and renamed; ``synth_manifest.json`` is
    written last, so an interrupted run leaves no manifest and :func:`ensure_dataset` redoes it.
    Refuses (``FileExistsError``) to write over TFRecord files that are not a synthetic set.
    """
    cfg = _resolve(profile, overrides)
    seed = int(seed)
    out = Path(out_dir)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    (out / IN_PROGRESS).write_text("generation in progress or interrupted\n")
    for sub in ("frame", "video", "ground_truth"):
        (out / sub).mkdir(exist_ok=True)
    cls = _class_tables(cfg, seed)
    vert_weight = np.bincount(cls.vertical, weights=cls.weight, minlength=cfg.num_verticals)
    train_count = np.zeros(cfg.num_classes, dtype=np.int64)
    counts = {}
    bar = _progress(sum(cfg.videos(s) for s in SPLITS), progress, f"synth {cfg.name}")
    for split in SPLITS:
        n = cfg.videos(split)
        shards = math.ceil(n / cfg.videos_per_shard)
        frames = labels = segments = 0
        gt_path = out / "ground_truth" / f"spans_{split}.csv"
        gt_tmp = gt_path.with_name(gt_path.name + ".tmp")
        with open(gt_tmp, "w", newline="", encoding="utf-8") as gt:
            gw = csv.writer(gt, lineterminator="\n")
            gw.writerow(_SPAN_COLUMNS)
            for k in range(shards):
                lo, hi = k * cfg.videos_per_shard, min(n, (k + 1) * cfg.videos_per_shard)
                video_recs, gt_rows = [], []

                def frame_records():
                    for i in range(lo, hi):
                        fr, vr, rows = _make_video(cfg, cls, vert_weight, seed, split, i)
                        video_recs.append(vr)
                        gt_rows.extend(rows)
                        bar.update(1)
                        yield fr

                name = f"{split}{k:04d}.tfrecord"
                write_records(out / "frame" / name, frame_records())
                write_records(out / "video" / name, video_recs)
                gw.writerows(gt_rows)
                for vr in video_recs:
                    labels += len(vr["labels"])
                    if split == "train":
                        train_count[vr["labels"]] += 1
                frames += _frames_of(gt_rows)
        os.replace(gt_tmp, gt_path)
        counts[split] = {"videos": n, "shards": shards, "frames": frames, "labels": labels}
    bar.close()
    _atomic_text(out / "vocabulary.csv", _vocabulary_csv(cfg, cls, train_count))
    _atomic_text(out / "ground_truth" / "classes.csv", _classes_csv(cfg, cls, train_count))
    _save_prototypes(out / "ground_truth" / "prototypes.npz", cls)
    manifest = _manifest_for(cfg, seed)
    manifest["counts"] = counts
    _atomic_text(out / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / IN_PROGRESS).unlink()
    return {**manifest, "seconds": time.perf_counter() - t0, "out_dir": str(out)}


def _frames_of(gt_rows) -> int:
    seen, total = set(), 0
    for r in gt_rows:  # (id, index, label, modality, has, start, end, T, strength)
        if r[1] not in seen:
            seen.add(r[1])
            total += r[7]
    return total


def _save_prototypes(path: Path, cls: _Classes) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    # np.savez writes a zip with fixed timestamps per numpy version: deterministic bytes
    np.savez(tmp, rgb_dims=cls.rgb_dims.astype(np.int16), rgb_vals=cls.rgb_vals,
             audio_dims=cls.audio_dims.astype(np.int16), audio_vals=cls.audio_vals,
             rgb_mean=cls.rgb_mean, audio_mean=cls.audio_mean)
    os.replace(tmp, path)


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="video", mininterval=1.0)


def ensure_dataset(out_dir, profile="smoke", seed: int = 0, *, progress: bool = True, **overrides) -> dict:
    """Generate the synthetic set under ``out_dir`` unless a complete one of this profile and seed
    is already there (then nothing is written); returns its manifest."""
    if is_complete(out_dir, profile, seed, **overrides):
        return read_manifest(out_dir)
    return generate(out_dir, profile, seed, progress=progress, **overrides)


# =========================================================================== ground truth


def load_ground_truth(data_dir, split: str | None = None):
    """``(classes, spans)`` DataFrames of a synthetic set.

    ``classes``: one row a class: ``index, vertical, modality`` (visual / audio / both),
    ``weight`` (base Zipf weight), ``train_count``. ``spans``: one row a (video, label):
    ``split, id, video_index, label, modality`` (the class's modality, or ``none`` when that
    label has no evidence), ``has_evidence`` (bool), ``start, end`` (frame indices, end
    exclusive, = seconds), ``num_frames`` (T of the video), ``strength``. ``split=None``: all.
    """
    import pandas as pd

    root = Path(data_dir) / "ground_truth"
    if not (root / "classes.csv").is_file():
        raise FileNotFoundError(f"{root / 'classes.csv'} not found: {data_dir} is not a complete "
                                "afkit synthetic set (the real release has no ground truth)")
    splits = SPLITS if split is None else (split,)
    for s in splits:
        if s not in SPLITS:
            raise ValueError(f"unknown split {s!r}; choose one of {SPLITS}")
    classes = pd.read_csv(root / "classes.csv")
    frames = []
    for s in splits:
        df = pd.read_csv(root / f"spans_{s}.csv", dtype={"id": str, "modality": str})
        df.insert(0, "split", s)
        frames.append(df)
    spans = pd.concat(frames, ignore_index=True)
    spans["has_evidence"] = spans["has_evidence"].astype(bool)
    return classes, spans


def load_prototypes(data_dir) -> dict:
    """The class prototype directions as dense arrays: ``{"rgb": float32 [C, P+1, 1024],
    "audio": float32 [C, P+1, 128], "rgb_mean", "audio_mean"}``; index 0 along P+1 is the
    fixed-sign direction ``u0``, 1..P the random-sign ones (all unit norm)."""
    z = np.load(Path(data_dir) / "ground_truth" / "prototypes.npz")
    out = {"rgb_mean": z["rgb_mean"], "audio_mean": z["audio_mean"]}
    for m, dim in (("rgb", RGB_DIM), ("audio", AUDIO_DIM)):
        dims, vals = z[f"{m}_dims"].astype(np.int64), z[f"{m}_vals"]
        dense = np.zeros(dims.shape[:2] + (dim,), dtype=np.float32)
        np.put_along_axis(dense, dims, vals, axis=2)
        out[m] = dense
    return out


# =========================================================================== measured properties


def _load_video_level(data_dir, split: str):
    recs = list(read_records(str(Path(data_dir) / "video" / f"{split}*.tfrecord")))
    ids = [r["id"] for r in recs]
    rgb = np.stack([r["mean_rgb"] for r in recs]) if recs else np.zeros((0, RGB_DIM), np.float32)
    aud = np.stack([r["mean_audio"] for r in recs]) if recs else np.zeros((0, AUDIO_DIM), np.float32)
    labels = [r["labels"] for r in recs]
    return ids, rgb, aud, labels


def _multi_hot(labels, C: int) -> np.ndarray:
    y = np.zeros((len(labels), C), dtype=np.float32)
    for i, l in enumerate(labels):
        y[i, l] = 1.0
    return y


def _gap20(scores: np.ndarray, y: np.ndarray, k: int = 20) -> float:
    """GAP@k: each video's top-k (score, label) pooled, AP over the pool / all positives."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(scores, top, 1).ravel()
    t = np.take_along_axis(y, top, 1).ravel()
    order = np.argsort(-s, kind="stable")
    t = t[order]
    hits = np.cumsum(t)
    prec = hits / np.arange(1, len(t) + 1)
    return float((prec * t).sum() / max(y.sum(), 1))


def _micro_f1(scores: np.ndarray, y: np.ndarray, thr: float = 0.5) -> float:
    p = scores >= thr
    tp = float((p & (y > 0)).sum())
    return 2 * tp / max(float(p.sum() + y.sum()), 1.0)


def probe_gap(data_dir, *, epochs: int = 12, hidden: int = 512, seed: int = 0,
              max_train: int | None = None) -> "object":
    """The unimodal / fusion / linear gap on mean features (video-level files), measured.

    For input ``visual`` (mean_rgb, 1024), ``audio`` (mean_audio, 128) and ``both`` (1152), a
    linear model (``logits = W x + b``) and an MLP (``Linear(d, hidden), ReLU, Dropout(0.2),
    Linear(hidden, C)``) are trained on train (z-scored inputs, sigmoid BCE, Adam 1e-3, batch
    256, ``epochs``) and scored on validate: GAP@20 and micro-F1 at 0.5. A quick check of the
    data's design, not a model of the paper. Returns a DataFrame (model, input, gap20, micro_f1).
    """
    import pandas as pd
    import torch

    m = read_manifest(data_dir)
    C = m["config"]["num_classes"] if m else None
    _, rgb_tr, aud_tr, lab_tr = _load_video_level(data_dir, "train")
    _, rgb_va, aud_va, lab_va = _load_video_level(data_dir, "validate")
    if C is None:
        C = int(max(max((l.max() for l in lab_tr if len(l)), default=0),
                    max((l.max() for l in lab_va if len(l)), default=0))) + 1
    if max_train is not None:
        rgb_tr, aud_tr, lab_tr = rgb_tr[:max_train], aud_tr[:max_train], lab_tr[:max_train]
    y_tr, y_va = _multi_hot(lab_tr, C), _multi_hot(lab_va, C)
    inputs = {"visual": (rgb_tr, rgb_va), "audio": (aud_tr, aud_va),
              "both": (np.hstack([rgb_tr, aud_tr]), np.hstack([rgb_va, aud_va]))}
    rows = []
    for name, (xtr, xva) in inputs.items():
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        xt = torch.from_numpy((xtr - mu) / sd)
        xv = torch.from_numpy((xva - mu) / sd)
        yt = torch.from_numpy(y_tr)
        for kind in ("linear", "mlp"):
            torch.manual_seed(seed)
            d = xt.shape[1]
            if kind == "linear":
                net = torch.nn.Linear(d, C)
            else:
                net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(),
                                          torch.nn.Dropout(0.2), torch.nn.Linear(hidden, C))
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            g = torch.Generator().manual_seed(seed)
            for _ in range(epochs):
                net.train()
                perm = torch.randperm(len(xt), generator=g)
                for b in range(0, len(xt), 256):
                    idx = perm[b:b + 256]
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt[idx]), yt[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            net.eval()
            with torch.no_grad():
                sv = torch.sigmoid(net(xv)).numpy()
            rows.append({"model": kind, "input": name, "gap20": _gap20(sv, y_va),
                         "micro_f1": _micro_f1(sv, y_va)})
    return pd.DataFrame(rows)


def measure_properties(data_dir, *, probe: bool = True, contrast_videos: int = 200, **probe_kw) -> dict:
    """Statistics that show each designed property, measured on the files of ``data_dir``.

    Returns a dict: ``labels`` (train: videos, mean/median labels a video, class frequency: top
    share, median, min, the fitted Zipf slope of log frequency on log rank over the classes
    seen, the share of label pairs inside one vertical vs the share expected if labels were
    independent), ``frames`` (T: min, mean, max, histogram), ``spans`` (evidence span fraction
    of the frames: mean; labels without evidence: share), ``modality`` (classes per modality),
    ``contrast`` (validate frames: mean |projection on the class's sign prototypes| inside vs
    outside the span, per carrying modality), ``probe`` (:func:`probe_gap`, when ``probe``),
    and ``arrays`` (train class counts, frames a video) for the figures.
    """
    classes, spans = load_ground_truth(data_dir)
    C = len(classes)
    out: dict = {}
    tr = spans[spans.split == "train"]
    per_video = tr.groupby("video_index").size()
    counts = np.bincount(tr.label.to_numpy(), minlength=C)
    seen = np.sort(counts[counts > 0])[::-1]
    r = np.arange(1, len(seen) + 1)
    slope = float(np.polyfit(np.log(r), np.log(seen), 1)[0]) if len(seen) > 2 else float("nan")
    # co-occurrence within verticals
    vert = classes.vertical.to_numpy()
    same = total = 0
    for _, g in tr.groupby("video_index").label:
        v = vert[g.to_numpy()]
        k = len(v)
        total += k * (k - 1) // 2
        same += int(sum(np.count_nonzero(v[i + 1:] == v[i]) for i in range(k)))
    pv = np.bincount(vert[tr.label.to_numpy()], minlength=vert.max() + 1) / len(tr)
    out["labels"] = {
        "train_videos": int(len(per_video)), "mean_labels": float(per_video.mean()),
        "median_labels": float(per_video.median()), "max_labels": int(per_video.max()),
        "classes_seen": int((counts > 0).sum()), "num_classes": C,
        "top_class_share": float(counts.max() / len(per_video)),
        "median_class_count": float(np.median(counts)), "min_class_count": int(counts.min()),
        "zipf_slope": slope, "same_vertical_pairs": same / max(total, 1),
        "same_vertical_if_independent": float((pv ** 2).sum()),
    }
    T = spans.drop_duplicates(["split", "video_index"]).num_frames.to_numpy()
    out["frames"] = {"min": int(T.min()), "mean": float(T.mean()), "max": int(T.max())}
    ev = spans[spans.has_evidence]
    out["spans"] = {"mean_span_fraction": float(((ev.end - ev.start) / ev.num_frames).mean()),
                    "no_evidence_share": float(1 - spans.has_evidence.mean())}
    out["modality"] = classes.modality.value_counts().reindex(list(MODALITIES), fill_value=0).to_dict()
    out["signatures"] = signature_sharing(data_dir)
    out["contrast"] = _contrast(data_dir, classes, spans, contrast_videos)
    out["arrays"] = {"train_class_counts": counts, "frames": T}
    if probe:
        out["probe"] = probe_gap(data_dir, **probe_kw)
    return out


def signature_sharing(data_dir) -> dict:
    """Per modality, the share of classes whose set of random-sign prototype directions
    (``u1..uP``) is also another class's: such classes differ only in their small fixed-sign
    ``u0`` part. ``{"rgb": share, "audio": share, "pool_rgb": n, "pool_audio": n}``."""
    z = np.load(Path(data_dir) / "ground_truth" / "prototypes.npz")
    out = {}
    for m in ("rgb", "audio"):
        dims = z[f"{m}_dims"][:, 1:]  # [C, P, support]: a pool direction is its sparse dims
        keys = [frozenset(tuple(sorted(d)) for d in row) for row in dims]
        counts: dict = {}
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
        out[m] = float(np.mean([counts[k] > 1 for k in keys])) if keys else 0.0
        out[f"pool_{m}"] = len({tuple(sorted(d)) for row in dims for d in row})
    return out


def _contrast(data_dir, classes, spans, max_videos: int) -> dict:
    """Mean |projection| of dequantized frames (minus the data set mean) on a label's sign
    prototypes, inside vs outside its span, per modality of the features."""
    proto = load_prototypes(data_dir)
    va = spans[(spans.split == "validate") & spans.has_evidence].set_index("id")
    mod = classes.modality.to_numpy()
    acc = {m: {"inside": [], "outside": []} for m in ("rgb", "audio")}
    for n, rec in enumerate(read_records(str(Path(data_dir) / "frame" / "validate*.tfrecord"))):
        if n >= max_videos:
            break
        if rec["id"] not in va.index:
            continue
        rows = va.loc[[rec["id"]]]
        for _, row in rows.iterrows():
            for m in ("rgb", "audio"):
                carried = MODALITIES[["visual", "audio", "both"].index(mod[row.label])]
                if not (carried == "both" or (carried == "visual") == (m == "rgb")):
                    continue
                x = dequantize(rec[m]) - proto[f"{m}_mean"]
                pr = np.abs(x @ proto[m][row.label, 1:].T).sum(1)
                inside = np.zeros(len(x), bool)
                inside[row.start:row.end] = True
                if inside.all():
                    continue
                acc[m]["inside"].append(pr[inside].mean())
                acc[m]["outside"].append(pr[~inside].mean())
    return {m: {k: float(np.mean(v)) if v else float("nan") for k, v in d.items()}
            for m, d in acc.items()}


def render_card(data_dir, card_dir="data/card", *, probe: bool = True, **probe_kw) -> dict:
    """Measure ``data_dir`` and write the data card's figures and tables under ``card_dir``:
    ``label_histogram.png`` (train videos a class, by rank, log-log), ``frames_histogram.png``,
    ``properties.json`` and, with ``probe``, ``probe.csv`` / ``probe.md``. Returns the
    measurements (:func:`measure_properties`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    props = measure_properties(data_dir, probe=probe, **probe_kw)
    card = Path(card_dir)
    card.mkdir(parents=True, exist_ok=True)
    counts = props["arrays"]["train_class_counts"]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    seen = np.sort(counts[counts > 0])[::-1]
    ax[0].loglog(np.arange(1, len(seen) + 1), seen, ".")
    ax[0].set(xlabel="class rank", ylabel="train videos", title="label frequency (log-log)")
    labels_per_video = np.bincount(_labels_per_video(data_dir))
    ax[1].bar(np.arange(len(labels_per_video)), labels_per_video)
    ax[1].set(xlabel="labels a video", ylabel="train videos", title="labels a video")
    fig.tight_layout()
    fig.savefig(card / "label_histogram.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.hist(props["arrays"]["frames"], bins=30)
    ax.set(xlabel="frames (seconds) a video", ylabel="videos", title="video length")
    fig.tight_layout()
    fig.savefig(card / "frames_histogram.png", dpi=110)
    plt.close(fig)
    m = read_manifest(data_dir) or {}
    summary = {k: v for k, v in props.items() if k not in ("arrays", "probe")}
    summary["profile"], summary["seed"] = m.get("profile"), m.get("seed")
    _atomic_text(card / "properties.json", json.dumps(summary, indent=2) + "\n")
    if probe:
        df = props["probe"]
        df.to_csv(card / "probe.csv", index=False, float_format="%.4f")
        wide = df.pivot(index="model", columns="input", values="gap20")[list(MODALITIES)]
        lines = ["| model | visual | audio | both |", "|---|---|---|---|"]
        for model, row in wide.iterrows():
            lines.append(f"| {model} | " + " | ".join(f"{row[c]:.3f}" for c in MODALITIES) + " |")
        _atomic_text(card / "probe.md", "GAP@20 on validate\n\n" + "\n".join(lines) + "\n")
    return props


def _labels_per_video(data_dir) -> np.ndarray:
    _, spans = load_ground_truth(data_dir, "train")
    return spans.groupby("video_index").size().to_numpy()


# =========================================================================== command line


def main(argv=None) -> int:
    """``python -m afkit synth --profile P --out DIR [--seed S] [--force]`` generates (or, with
    ``--card CARD_DIR``, measures an existing set and renders the data card's figures)."""
    ap = argparse.ArgumentParser(prog="python -m afkit synth", description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="smoke", choices=sorted(PROFILES))
    ap.add_argument("--out", required=True, help="data directory to write (e.g. data/generated/smoke)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="regenerate even if complete")
    for s in SPLITS:
        ap.add_argument(f"--{s}-videos", type=int, default=None, help=f"override the {s} count")
    ap.add_argument("--card", metavar="CARD_DIR", default=None,
                    help="after generating, measure and write the data card's figures here")
    ap.add_argument("--no-probe", action="store_true", help="with --card: skip the model probe")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    overrides = {f"{s}_videos": getattr(a, f"{s}_videos") for s in SPLITS
                 if getattr(a, f"{s}_videos") is not None}
    fn = generate if a.force else ensure_dataset
    t0 = time.perf_counter()
    summary = fn(a.out, a.profile, a.seed, progress=not a.quiet, **overrides)
    print(f"{a.out}: profile {summary['profile']}, seed {summary['seed']}, "
          f"{time.perf_counter() - t0:.1f} s; "
          + ", ".join(f"{s} {c['videos']} videos / {c['shards']} shards"
                      for s, c in summary["counts"].items()))
    if a.card:
        props = render_card(a.out, a.card, probe=not a.no_probe)
        print(json.dumps({k: v for k, v in props.items() if k not in ("arrays", "probe")}, indent=2))
        if "probe" in props:
            print(props["probe"].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
