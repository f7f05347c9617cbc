"""The data card of a synthetic release: its designed properties, measured on its files.

Why :mod:`afkit.data.synth`'s generator has the form it has, property by property, and what here
measures each (all of it *our reconstruction*: the paper says nothing about a synthetic set, and
the real release's generating process is unknown; ``tests/data/test_synth.py`` checks each):

- **Labels** (``labels``): heavy-tailed class frequencies (Zipf-Mandelbrot weights), about
  ``mean_labels`` labels a video, co-occurrence within verticals.
- **Where the evidence is** (``spans``, ``contrast``). Each label's evidence lies in one span
  covering a fraction ``U(span_fraction)`` of the frames; the rest is background. Mean pooling
  dilutes it by that fraction (and the per-video offset ``z_v`` does not average away), while a
  frame inside the span stands out from the frames outside it: attention over frames can find it.
- **Which modality** (``modality``, the probe's inputs). Each class carries its evidence in
  ``visual`` only, ``audio`` only or ``both`` (more visual than audio); audio evidence is weaker
  relative to its noise and intermittent: visual-only models beat audio-only ones, and fusion
  beats both (it sees every class, and two views of the ``both`` ones).
- **Non-linear, and why MF+STD** (``signatures``, the probe's linear vs MLP rows). The random
  per-frame signs average out over the span: the mean of the evidence over frames is
  ``s * amp * beta * u0`` (plus a vanishing ``1/sqrt(L)`` sign remainder), so a linear model on
  *mean* features sees only the small ``beta`` part. The sign part shows as extra *spread* over
  frames along ``u1..uP``: the per-dimension standard deviation over frames (the STD of MF+STD)
  grows on the prototypes' dimensions, and a model of the frames can detect ``|u . x_t|``. A
  linear model on mean features is clearly worse than the MLP baselines reading MF+STD, which is
  the paper's motivation for MF+STD. Prototypes of different classes share dimensions
  (interference), a fraction ``p_missing_evidence`` of labels has no evidence at all (label
  noise), and per-(video, label) strengths vary, so no metric saturates.
- **Notebook 08's frame world** (``afkit.studies.arms.FRAME_WORLD``): the same generator with
  ``sign_per_frame=False`` and ``linear_share=1``, i.e. evidence that is *first-order in the
  frames* (every frame of a span is shifted the same way), on fewer classes and shorter videos.
  With per-frame signs a class is an energy detector over frames: the video-level model gets
  that for free from the STD columns, while a frame model must learn it frame by frame, and the
  cpu budget did not suffice for that (test GAP 0.23 against the video-level 0.83). Attention over
  frames is only worth scoring for a model that learned, so the interpretability questions are
  asked where a frame model can learn. Its truth: each label's span, its modality, and for audio
  evidence the frames that carry it (``audio_present``: sound is intermittent).

Read top to bottom: the quick model probe on mean features (:func:`probe_gap`: the unimodal /
fusion / linear gap); the measured properties (:func:`measure_properties`: label statistics,
video lengths, evidence spans, modalities, :func:`signature_sharing`, the inside / outside
contrast of the evidence spans); :func:`render_card` (the card's figures and tables); the
``card`` command. The generator and its ground truth are :mod:`afkit.data.synth`'s; ``data/CARD.md``
states what these measure on the ``cpu`` profile.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from afkit.core.provenance import atomic_write_text, write_json
from afkit.data.synth import MODALITIES, load_ground_truth, load_prototypes, read_manifest
from afkit.io.records import AUDIO_DIM, RGB_DIM, dequantize, read_records
from afkit.metrics import classification as metrics

__all__ = ["probe_gap", "measure_properties", "signature_sharing", "render_card", "main"]


# =========================================================================== the model probe


def _load_video_level(data_dir, split: str):
    """``(mean_rgb [N, 1024], mean_audio [N, 128], labels)`` of a split's video-level files."""
    recs = list(read_records(str(Path(data_dir) / "video" / f"{split}*.tfrecord")))
    rgb = np.stack([r["mean_rgb"] for r in recs]) if recs else np.zeros((0, RGB_DIM), np.float32)
    aud = (
        np.stack([r["mean_audio"] for r in recs]) if recs else np.zeros((0, AUDIO_DIM), np.float32)
    )
    return rgb, aud, [r["labels"] for r in recs]


def _targets(labels, C: int) -> np.ndarray:
    """The 0/1 training targets [N, C] of sparse labels."""
    y = np.zeros((len(labels), C), dtype=np.float32)
    for i, lab in enumerate(labels):
        y[i, lab] = 1.0
    return y


def _fit(net, x, y, *, epochs: int, seed: int) -> None:
    """Sigmoid BCE, Adam 1e-3, batch 256, ``epochs`` passes in a seeded random order.

    A loop of its own, not :mod:`afkit.training.train`'s: that one trains registered models on a
    feature store, and the probe is a bare ``nn.Module`` on in-memory arrays of the video-level
    files.
    """
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=g)
        for b in range(0, len(x), 256):
            idx = perm[b : b + 256]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def probe_gap(
    data_dir, *, epochs: int = 12, hidden: int = 512, seed: int = 0, max_train: int | None = None
) -> "object":
    """The unimodal / fusion / linear gap on mean features (video-level files), measured.

    For input ``visual`` (mean_rgb, 1024), ``audio`` (mean_audio, 128) and ``both`` (1152), a
    linear model (``logits = W x + b``) and an MLP (``Linear(d, hidden), ReLU, Dropout(0.2),
    Linear(hidden, C)``) are trained on train (z-scored inputs, sigmoid BCE, Adam 1e-3, batch
    256, ``epochs``) and scored on validate: GAP@20 (:func:`afkit.metrics.classification.gap`) and
    micro-F1 at 0.5 (:func:`afkit.metrics.classification.f1_at_threshold`). A quick check of the
    data's design, not a model of the paper. Returns a DataFrame (model, input, gap20, micro_f1).
    """
    import pandas as pd
    import torch

    m = read_manifest(data_dir)
    C = m["config"]["num_classes"] if m else None
    rgb_tr, aud_tr, lab_tr = _load_video_level(data_dir, "train")
    rgb_va, aud_va, lab_va = _load_video_level(data_dir, "validate")
    if C is None:
        C = (
            int(
                max(
                    max((v.max() for v in lab_tr if len(v)), default=0),
                    max((v.max() for v in lab_va if len(v)), default=0),
                )
            )
            + 1
        )
    if max_train is not None:
        rgb_tr, aud_tr, lab_tr = rgb_tr[:max_train], aud_tr[:max_train], lab_tr[:max_train]
    yt = torch.from_numpy(_targets(lab_tr, C))
    inputs = {
        "visual": (rgb_tr, rgb_va),
        "audio": (aud_tr, aud_va),
        "both": (np.hstack([rgb_tr, aud_tr]), np.hstack([rgb_va, aud_va])),
    }
    rows = []
    for name, (xtr, xva) in inputs.items():
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        xt = torch.from_numpy((xtr - mu) / sd)
        xv = torch.from_numpy((xva - mu) / sd)
        for kind in ("linear", "mlp"):
            torch.manual_seed(seed)
            d = xt.shape[1]
            if kind == "linear":
                net = torch.nn.Linear(d, C)
            else:
                net = torch.nn.Sequential(
                    torch.nn.Linear(d, hidden),
                    torch.nn.ReLU(),
                    torch.nn.Dropout(0.2),
                    torch.nn.Linear(hidden, C),
                )
            _fit(net, xt, yt, epochs=epochs, seed=seed)
            net.eval()
            with torch.no_grad():
                sv = torch.sigmoid(net(xv)).numpy()
            rows.append(
                {
                    "model": kind,
                    "input": name,
                    "gap20": metrics.gap(sv, lab_va, top_k=20),
                    "micro_f1": metrics.f1_at_threshold(sv, lab_va, 0.5)[0],
                }
            )
    return pd.DataFrame(rows)


# =========================================================================== measured properties


def measure_properties(
    data_dir, *, probe: bool = True, contrast_videos: int = 200, **probe_kw
) -> dict:
    """Statistics that show each designed property, measured on the files of ``data_dir``.

    Returns a dict: ``labels`` (train: videos, mean/median labels a video, class frequency: top
    share, median, min, the fitted Zipf slope of log frequency on log rank over the classes
    seen, the share of label pairs inside one vertical vs the share expected if labels were
    independent), ``frames`` (T: min, mean, max, histogram), ``spans`` (evidence span fraction
    of the frames: mean; labels without evidence: share), ``modality`` (classes per modality),
    ``signatures`` (:func:`signature_sharing`), ``contrast`` (validate frames: mean |projection on
    the class's sign prototypes| inside vs outside the span, per carrying modality), ``probe``
    (:func:`probe_gap`, when ``probe``), and ``arrays`` (train class counts, frames a video) for the
    figures.
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
        same += int(sum(np.count_nonzero(v[i + 1 :] == v[i]) for i in range(k)))
    pv = np.bincount(vert[tr.label.to_numpy()], minlength=vert.max() + 1) / len(tr)
    out["labels"] = {
        "train_videos": int(len(per_video)),
        "mean_labels": float(per_video.mean()),
        "median_labels": float(per_video.median()),
        "max_labels": int(per_video.max()),
        "classes_seen": int((counts > 0).sum()),
        "num_classes": C,
        "top_class_share": float(counts.max() / len(per_video)),
        "median_class_count": float(np.median(counts)),
        "min_class_count": int(counts.min()),
        "zipf_slope": slope,
        "same_vertical_pairs": same / max(total, 1),
        "same_vertical_if_independent": float((pv**2).sum()),
    }
    T = spans.drop_duplicates(["split", "video_index"]).num_frames.to_numpy()
    out["frames"] = {"min": int(T.min()), "mean": float(T.mean()), "max": int(T.max())}
    ev = spans[spans.has_evidence]
    out["spans"] = {
        "mean_span_fraction": float(((ev.end - ev.start) / ev.num_frames).mean()),
        "no_evidence_share": float(1 - spans.has_evidence.mean()),
    }
    out["modality"] = (
        classes.modality.value_counts().reindex(list(MODALITIES), fill_value=0).to_dict()
    )
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
                inside[row.start : row.end] = True
                if inside.all():
                    continue
                acc[m]["inside"].append(pr[inside].mean())
                acc[m]["outside"].append(pr[~inside].mean())
    return {
        m: {k: float(np.mean(v)) if v else float("nan") for k, v in d.items()}
        for m, d in acc.items()
    }


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
    write_json(card / "properties.json", summary)
    if probe:
        df = props["probe"]
        atomic_write_text(card / "probe.csv", df.to_csv(index=False, float_format="%.4f"))
        wide = df.pivot(index="model", columns="input", values="gap20")[list(MODALITIES)]
        lines = ["| model | visual | audio | both |", "|---|---|---|---|"]
        for model, row in wide.iterrows():
            lines.append(f"| {model} | " + " | ".join(f"{row[c]:.3f}" for c in MODALITIES) + " |")
        atomic_write_text(card / "probe.md", "GAP@20 on validate\n\n" + "\n".join(lines) + "\n")
    return props


def _labels_per_video(data_dir) -> np.ndarray:
    _, spans = load_ground_truth(data_dir, "train")
    return spans.groupby("video_index").size().to_numpy()


# =========================================================================== command line


def main(argv=None) -> int:
    """``python -m afkit card DATA_DIR [--out CARD_DIR] [--no-probe]``: measures a synthetic set
    (made by ``python -m afkit synth``) and writes the data card's figures and tables."""
    ap = argparse.ArgumentParser(prog="python -m afkit card", description=__doc__.split("\n")[0])
    ap.add_argument("data_dir", help="a synthetic set (e.g. data/generated/cpu)")
    ap.add_argument("--out", default="data/card", help="the card's folder (default data/card)")
    ap.add_argument("--no-probe", action="store_true", help="skip the model probe")
    a = ap.parse_args(argv)
    props = render_card(a.data_dir, a.out, probe=not a.no_probe)
    print(json.dumps({k: v for k, v in props.items() if k not in ("arrays", "probe")}, indent=2))
    if "probe" in props:
        print(props["probe"].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
