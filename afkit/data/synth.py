"""The embedded synthetic YouTube-8M release: streamed, seeded, with known ground truth.

A video ``v`` of ``T`` frames (one a second, ``min_frames <= T <= max_frames``) has features,
per modality ``m`` (``rgb``: 1024 dims, ``audio``: 128 dims), before 8-bit quantization::

    x_m[t] = g_m + sigma_video_m * z_v  +  sigma_frame_m * eps_t                   (background)
           + sum_{labels c of v with evidence in m}  1[t in span_c] * a_m[t] * e_{c,m}
    e_{c,m}[t] = s * amp_m * ( beta * u0_{c,m} + sum_{p=1..P} sign_{p,t} * u_{p,c,m} )  (evidence)

``g_m`` a per-dimension mean (one per data set), ``z_v, eps_t ~ N(0, I)``; ``u0, u1..uP`` the
class's unit *prototype directions* (sparse: ``support_m`` random dimensions each); ``sign_{p,t}``
uniform in ``{-1, +1}``, drawn anew for every frame t of the span (``sign_per_frame``; or once
per (video, label) with ``sign_per_frame=False``); ``s`` a strength drawn per (video, label);
``span_c = [start, end)`` a contiguous run of frames; ``a_m[t] = 1`` for rgb and, for audio, 1
with probability ``audio_presence`` (sound is intermittent), else 0.

Labels: class weights are Zipf-Mandelbrot, ``w_r ∝ (r + zipf_offset)^-zipf_exponent`` (class
index = rank, 0 the most frequent, as in the real ``vocabulary.csv``); a video draws a primary
vertical (``∝`` the weight of its classes), then ``K = 1 + Poisson(mean_labels - 1)`` labels (at
most ``max_labels``), each from that vertical with probability ``p_same_vertical`` (else from all
classes), by weight, without replacement. A class carries its evidence in ``visual``, ``audio``
or ``both`` (fractions ``modality_fractions``); a share ``p_missing_evidence`` of labels has
none. All of it is *our reconstruction* (the paper says nothing about a synthetic set); why each
part is there, and what measures it: :mod:`afkit.data.datacard`.

Determinism: every random number of video ``i`` of split ``k`` comes from its own
``Generator(PCG64(SeedSequence([seed, k, i])))``; the class-level tables from
``SeedSequence([seed, 7919])``. Nothing depends on the shard size, the thread count or dict/set
order, and the data path uses only IEEE-exact float32 ``+ - * /``, ``rint`` and comparisons (no
BLAS, no transcendental functions), so the bytes are the same on every machine for a given
NumPy random stream (NumPy does not promise its ``Generator`` streams across versions; the
manifest records the version). Video-level means are formed from exact integer sums of the
quantized frames (``mean = scale * sum(q) / T + bias`` in float64, rounded once to float32),
i.e. the mean of the dequantized frames, as the release's video-level files are.

On disk: the release's layout (``DESIGN.md``, ``data/README.md``), plus ``ground_truth/``
(:func:`load_ground_truth`, :func:`load_prototypes`) and ``synth_manifest.json``, written last.

Unlike the real release, the test split keeps its labels (so that it can be scored). Segments
(validate only): segment ``k`` covers frames ``[5k, min(5k + 5, T))`` and starts at ``5k``
seconds; for every label, up to ``max_segments_per_label // 2`` segments at least half inside
the evidence span are rated 1.0 and up to as many with no overlap 0.0 (all segments are 0.0 for
a label without evidence), sorted by start time.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from afkit.core.provenance import atomic_savez, atomic_write_text
from afkit.io.records import AUDIO_DIM, RGB_DIM, write_records

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
    "pool_size",
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
        return getattr(self, f"{split}_videos")


PROFILES: dict[str, SynthProfile] = {
    # tests and every smoke notebook: seconds
    "smoke": SynthProfile(
        name="smoke",
        num_classes=50,
        num_verticals=6,
        train_videos=320,
        validate_videos=96,
        test_videos=64,
        min_frames=5,
        max_frames=40,
        videos_per_shard=64,
    ),
    # the main job: model differences above seed noise, the whole reproduction on 2 cores
    "cpu": SynthProfile(
        name="cpu",
        num_classes=300,
        num_verticals=12,
        train_videos=12000,
        validate_videos=3000,
        test_videos=3000,
        min_frames=20,
        max_frames=100,
        videos_per_shard=1000,
    ),
    # the real vocabulary size and release-like videos (frames up to 300, ~1000 videos a shard);
    # the video counts are scaled down to fit a 64 GB disk (about 13 GB of frame-level shards);
    # raise them with generate(..., train_videos=...) for throughput tests
    "paper": SynthProfile(
        name="paper",
        num_classes=3862,
        num_verticals=24,
        train_videos=40000,
        validate_videos=10000,
        test_videos=10000,
        min_frames=60,
        max_frames=300,
        videos_per_shard=1000,
    ),
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
    for dim, support, pool in (
        (RGB_DIM, cfg.rgb_support, cfg.rgb_attributes),
        (AUDIO_DIM, cfg.audio_support, cfg.audio_attributes),
    ):
        # u0: one direction of the class's own; u1..uP: P distinct attributes of a shared pool
        own_d, own_v = _sparse_dims(rng, C, dim, support), _unit_rows(rng, (C, support))
        pool = pool_size(pool, C, P) if cfg.distinct_signatures else pool
        pool_d, pool_v = _sparse_dims(rng, pool, dim, support), _unit_rows(rng, (pool, support))
        if cfg.distinct_signatures:
            combos = np.asarray(list(itertools.combinations(range(pool), P)), dtype=np.int64)
            pick = combos[rng.permutation(len(combos))[:C]]
        else:
            pick = np.argsort(rng.random((C, pool)), axis=1, kind="stable")[:, :P]
        protos.append(
            (
                np.concatenate([own_d[:, None], pool_d[pick]], axis=1),
                np.concatenate([own_v[:, None], pool_v[pick]], axis=1),
            )
        )
    (rgb_dims, rgb_vals), (audio_dims, audio_vals) = protos
    r = cfg.video_rank
    rgb_basis = _unit_rows(rng, (r, RGB_DIM)) * np.float32(math.sqrt(RGB_DIM / r))
    audio_basis = _unit_rows(rng, (r, AUDIO_DIM)) * np.float32(math.sqrt(AUDIO_DIM / r))
    return _Classes(
        w,
        vertical.astype(np.int64),
        modality.astype(np.int64),
        rgb_mean,
        audio_mean,
        rgb_basis,
        audio_basis,
        rgb_dims,
        rgb_vals,
        audio_dims,
        audio_vals,
    )


def _offset(mean: np.ndarray, basis: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``mean + sum_k z_k basis_k``, summed in a fixed order (no BLAS: the same bits everywhere)."""
    out = mean.copy()
    for k in range(len(z)):
        out += z[k] * basis[k]
    return out


# =========================================================================== one video


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


def _evidence_frames(
    dim: int, dims: np.ndarray, vals: np.ndarray, coef: np.ndarray, L: int
) -> np.ndarray:
    """[L, dim] evidence: row t = sum_p coef[t, p] * u_p (coef [L or 1, P+1]), built from
    elementwise float32 products and sums in a fixed order (no BLAS: the same bytes everywhere)."""
    out = np.zeros((L, dim), dtype=np.float32)
    for p in range(coef.shape[1]):
        unit = np.zeros(dim, dtype=np.float32)
        unit[dims[p]] += vals[p]
        out += coef[:, p : p + 1] * unit
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
    for c, (has, a, b) in zip(labels, spans, strict=True):
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
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, SPLITS.index(split), index]))
    )
    T = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    labels = _draw_labels(rng, cfg, cls, vert_weight)
    f32 = np.float32
    rgb_off = _offset(
        cls.rgb_mean,
        cls.rgb_basis,
        f32(cfg.rgb_video_sd) * rng.standard_normal(cfg.video_rank, dtype=f32),
    )
    aud_off = _offset(
        cls.audio_mean,
        cls.audio_basis,
        f32(cfg.audio_video_sd) * rng.standard_normal(cfg.video_rank, dtype=f32),
    )
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
        shape = np.concatenate([np.full((len(signs), 1), cfg.linear_share), signs], 1).astype(
            np.float32
        )
        if has and mod in ("visual", "both"):
            rgb[start : start + L] += _evidence_frames(
                RGB_DIM, cls.rgb_dims[c], cls.rgb_vals[c], shape * f32(s * cfg.rgb_amplitude), L
            )
        if has and mod in ("audio", "both"):
            ev = _evidence_frames(
                AUDIO_DIM,
                cls.audio_dims[c],
                cls.audio_vals[c],
                shape * f32(s * cfg.audio_amplitude),
                L,
            )
            audio[start : start + L][present] += ev[present]
        spans.append((has, start, start + L))
        rows.append(
            (
                int(c),
                mod if has else "none",
                int(has),
                start if has else 0,
                start + L if has else 0,
                T,
                round(float(s), 4),
                # frame start + j of the span carries audio evidence where char j is "1" (the
                # audio_presence draw; "" without audio evidence)
                "".join("1" if x else "0" for x in present) if has and mod != "visual" else "",
            )
        )
    q_rgb, q_audio = _quantize32(rgb), _quantize32(audio)
    vid = f"{split[:2]}{index:07d}"
    frame_rec = {"id": vid, "labels": labels, "rgb": q_rgb, "audio": q_audio}
    if split == "validate":
        sl, st, ss = _segments(rng, T, labels, spans, cfg.max_segments_per_label)
        frame_rec.update(segment_labels=sl, segment_start_times=st, segment_scores=ss)
    video_rec = {
        "id": vid,
        "labels": labels,
        "mean_rgb": _exact_mean(q_rgb),
        "mean_audio": _exact_mean(q_audio),
    }
    return frame_rec, video_rec, [(vid, index) + r for r in rows]


def _exact_mean(q: np.ndarray) -> np.ndarray:
    """``mean_t dequantize(q)[t]`` from the exact integer sum, rounded once to float32."""
    total = q.sum(axis=0, dtype=np.int64)
    return (total / q.shape[0] * _SCALE + _BIAS).astype(np.float32)


# =========================================================================== writing


_SPAN_COLUMNS = (
    "id",
    "video_index",
    "label",
    "modality",
    "has_evidence",
    "start",
    "end",
    "num_frames",
    "strength",
    "audio_present",
)


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
        raise ValueError(
            f"need 1 <= min_frames <= max_frames <= 300, got {cfg.min_frames}, {cfg.max_frames}"
        )
    if cfg.num_classes < 2 or cfg.num_verticals < 1 or cfg.num_verticals > cfg.num_classes:
        raise ValueError("need num_classes >= 2 and 1 <= num_verticals <= num_classes")
    if cfg.videos_per_shard < 1 or min(cfg.train_videos, cfg.validate_videos, cfg.test_videos) < 0:
        raise ValueError("need videos_per_shard >= 1 and video counts >= 0")
    return cfg


def _manifest_for(cfg: SynthProfile, seed: int) -> dict:
    import afkit

    return {
        "format": "afkit-synth",
        "format_version": FORMAT_VERSION,
        "afkit_version": afkit.__version__,
        "numpy_version": np.__version__,
        "profile": cfg.name,
        "seed": int(seed),
        "config": dataclasses.asdict(cfg),
    }


def read_manifest(out_dir) -> dict | None:
    """The manifest of the set in ``out_dir``; None if it has none (or an unreadable one)."""
    try:
        return json.loads((Path(out_dir) / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):  # a missing file is an OSError too
        return None


def is_complete(out_dir, profile="smoke", seed: int = 0, **overrides) -> bool:
    """True when ``out_dir`` holds a finished generation of exactly this profile and seed."""
    cfg = _resolve(profile, overrides)
    m = read_manifest(out_dir)
    if m is None or (Path(out_dir) / IN_PROGRESS).exists():
        return False
    want = _manifest_for(cfg, seed)
    return all(
        m.get(k) == json.loads(json.dumps(want[k]))
        for k in ("format", "format_version", "seed", "config")
    )


def _clear(out: Path) -> None:
    """Remove what a previous (interrupted) generation may have left; refuse on foreign data."""
    has_ours = (out / MANIFEST).exists() or (out / IN_PROGRESS).exists()
    ours = [p for sub in ("frame", "video") for p in sorted((out / sub).glob("*.tfrecord*"))]
    if ours and not has_ours:
        raise FileExistsError(
            f"{out} holds TFRecord files but no {MANIFEST}: it is not an afkit synthetic set "
            "(the real release?); refusing to overwrite it. Choose another --out."
        )
    for p in ours:
        p.unlink()
    if (out / "ground_truth").is_dir():
        shutil.rmtree(out / "ground_truth")
    for name in (MANIFEST, "vocabulary.csv"):
        (out / name).unlink(missing_ok=True)


def _csv_text(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _vocabulary_csv(cfg: SynthProfile, cls: _Classes, train_count: np.ndarray) -> str:
    return _csv_text(
        [
            "Index",
            "TrainVideoCount",
            "KnowledgeGraphId",
            "Name",
            "WikiUrl",
            "Vertical1",
            "Vertical2",
            "Vertical3",
            "WikiDescription",
        ],
        (
            [
                c,
                int(train_count[c]),
                f"/synthetic/{c:05d}",
                f"Synthetic class {c:04d}",
                "",
                f"Synthetic vertical {int(cls.vertical[c]):02d}",
                "",
                "",
                "A synthetic class of afkit's embedded data set; it names no real entity.",
            ]
            for c in range(cfg.num_classes)
        ),
    )


def _classes_csv(cfg: SynthProfile, cls: _Classes, train_count: np.ndarray) -> str:
    return _csv_text(
        ["index", "vertical", "modality", "weight", "train_count"],
        (
            [
                c,
                int(cls.vertical[c]),
                MODALITIES[cls.modality[c]],
                f"{cls.weight[c]:.8g}",
                int(train_count[c]),
            ]
            for c in range(cfg.num_classes)
        ),
    )


def generate(
    out_dir, profile="smoke", seed: int = 0, *, progress: bool = True, **overrides
) -> dict:
    """Write the synthetic release of ``profile`` (a name of :data:`PROFILES` or a
    :class:`SynthProfile`; ``overrides`` replace its fields, e.g. ``train_videos=100``) under
    ``out_dir``; returns a summary (the manifest plus ``seconds``).

    Streams one shard at a time (memory: one video's frames plus one shard's video-level
    records, and a split's ground-truth rows). Every file is written to a temporary
    name and renamed (:mod:`afkit.core.provenance`'s atomic writes); ``synth_manifest.json`` is
    written last, so an interrupted run leaves no manifest and :func:`ensure_dataset` redoes it.
    Refuses (``FileExistsError``) to write over TFRecord files that are not a synthetic set.
    """
    from tqdm.auto import tqdm

    cfg, seed, out, t0 = _resolve(profile, overrides), int(seed), Path(out_dir), time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    (out / IN_PROGRESS).write_text("generation in progress or interrupted\n")
    for sub in ("frame", "video", "ground_truth"):
        (out / sub).mkdir(exist_ok=True)
    cls = _class_tables(cfg, seed)
    vert_weight = np.bincount(cls.vertical, weights=cls.weight, minlength=cfg.num_verticals)
    train_count = np.zeros(cfg.num_classes, dtype=np.int64)
    counts = {}
    bar = tqdm(
        total=sum(cfg.videos(s) for s in SPLITS),
        desc=f"synth {cfg.name}",
        unit="video",
        mininterval=1.0,
        disable=not progress,
    )
    for split in SPLITS:
        n = cfg.videos(split)
        shards = math.ceil(n / cfg.videos_per_shard)
        frames = labels = 0
        split_rows = []  # the split's ground truth: one row a (video, label)
        for k in range(shards):
            lo, hi = k * cfg.videos_per_shard, min(n, (k + 1) * cfg.videos_per_shard)
            video_recs, gt_rows = [], []

            def frame_records(split, lo, hi, video_recs, gt_rows):
                # the frame records of videos [lo, hi), made one at a time; their video-level
                # records and ground-truth rows are collected on the way
                for i in range(lo, hi):
                    fr, vr, rows = _make_video(cfg, cls, vert_weight, seed, split, i)
                    video_recs.append(vr)
                    gt_rows.extend(rows)
                    bar.update(1)
                    yield fr

            name = f"{split}{k:04d}.tfrecord"
            write_records(out / "frame" / name, frame_records(split, lo, hi, video_recs, gt_rows))
            write_records(out / "video" / name, video_recs)
            split_rows += gt_rows
            for vr in video_recs:
                labels += len(vr["labels"])
                if split == "train":
                    train_count[vr["labels"]] += 1
            frames += sum({r[1]: r[7] for r in gt_rows}.values())  # T of each video (index r[1])
        atomic_write_text(
            out / "ground_truth" / f"spans_{split}.csv", _csv_text(_SPAN_COLUMNS, split_rows)
        )
        counts[split] = {"videos": n, "shards": shards, "frames": frames, "labels": labels}
    bar.close()
    atomic_write_text(out / "vocabulary.csv", _vocabulary_csv(cfg, cls, train_count))
    atomic_write_text(out / "ground_truth" / "classes.csv", _classes_csv(cfg, cls, train_count))
    # np.savez writes a zip with fixed timestamps per numpy version: deterministic bytes
    atomic_savez(
        out / "ground_truth" / "prototypes.npz",
        rgb_dims=cls.rgb_dims.astype(np.int16),
        rgb_vals=cls.rgb_vals,
        audio_dims=cls.audio_dims.astype(np.int16),
        audio_vals=cls.audio_vals,
        rgb_mean=cls.rgb_mean,
        audio_mean=cls.audio_mean,
    )
    manifest = _manifest_for(cfg, seed)
    manifest["counts"] = counts
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / IN_PROGRESS).unlink()
    return {**manifest, "seconds": time.perf_counter() - t0, "out_dir": str(out)}


def ensure_dataset(
    out_dir, profile="smoke", seed: int = 0, *, progress: bool = True, **overrides
) -> dict:
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
    exclusive, = seconds), ``num_frames`` (T of the video), ``strength``, ``audio_present``
    (labels with audio evidence: one character a frame of the span, ``"1"`` where the frame
    carries it -- sound is intermittent, ``audio_presence`` -- else ``""``; a set written
    before this column existed reads as ``""``). ``split=None``: all.
    """
    import pandas as pd

    root = Path(data_dir) / "ground_truth"
    if not (root / "classes.csv").is_file():
        raise FileNotFoundError(
            f"{root / 'classes.csv'} not found: {data_dir} is not a complete "
            "afkit synthetic set (the real release has no ground truth)"
        )
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    splits = SPLITS if split is None else (split,)
    classes = pd.read_csv(root / "classes.csv")
    frames = []
    for s in splits:
        df = pd.read_csv(
            root / f"spans_{s}.csv", dtype={"id": str, "modality": str, "audio_present": str}
        )
        df["audio_present"] = df.get("audio_present", pd.Series("", index=df.index)).fillna("")
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


# =========================================================================== command line


def main(argv=None) -> int:
    """``python -m afkit synth --profile P --out DIR [--seed S] [--force]`` generates the set
    (``python -m afkit card DIR`` then measures it: :mod:`afkit.data.datacard`)."""
    ap = argparse.ArgumentParser(prog="python -m afkit synth", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--profile",
        default="smoke",
        choices=sorted(PROFILES),
        help="the set's size: "
        + ", ".join(
            f"{n} ({q.num_classes} classes, {sum(q.videos(s) for s in SPLITS):,} videos)"
            for n, q in PROFILES.items()
        ),
    )
    ap.add_argument(
        "--out", required=True, help="data directory to write (e.g. data/generated/smoke)"
    )
    ap.add_argument("--seed", type=int, default=0, help="the same seed gives the same bytes")
    ap.add_argument("--force", action="store_true", help="regenerate even if complete")
    for s in SPLITS:
        ap.add_argument(f"--{s}-videos", type=int, default=None, help=f"override the {s} count")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    overrides = {
        f"{s}_videos": getattr(a, f"{s}_videos")
        for s in SPLITS
        if getattr(a, f"{s}_videos") is not None
    }
    fn = generate if a.force else ensure_dataset
    t0 = time.perf_counter()
    summary = fn(a.out, a.profile, a.seed, progress=not a.quiet, **overrides)
    print(
        f"{a.out}: profile {summary['profile']}, seed {summary['seed']}, "
        f"{time.perf_counter() - t0:.1f} s; "
        + ", ".join(
            f"{s} {c['videos']} videos / {c['shards']} shards" for s, c in summary["counts"].items()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
