"""The arms of each notebook: which specs notebooks 04-07 and 10 train, and their tables.

- notebook 04 (:func:`comparison_specs`): the starter code's references, the paper's baselines
  (:data:`COMPARISON`) and the size-matched arms (:func:`fc_late_at_af_size`);
  :func:`with_paper_columns` puts the paper's reported numbers (:mod:`afkit.core.paper`) beside
  ours;
- notebook 05 (:func:`fusion_ablation_specs`): early / late / hybrid fusion, with and without
  attention;
- notebook 06 (:func:`attention_sweep_specs`): heads, attention width, tokens, attention off;
- notebook 07 (:func:`vocabulary_experiment`): the vocabulary sizes (:data:`VOCABULARIES`), a
  synthetic set per size (:func:`vocabulary_data`) and the classifier's share of the
  parameters (:func:`head_share`);
- notebook 08's frame world and its arms (:data:`FRAME_WORLD`, :func:`frame_world`,
  :data:`FRAME_SPECS`);
- notebook 10 (:func:`readings_specs`, :func:`reading_pairs`): every reading of the attention
  with its attention-off twin, the paired tests of each pair and their table.

Arms are trained by :func:`afkit.studies.experiments.run_grid`; the sentences stating what they
found are :mod:`afkit.studies.answers`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from afkit.core import paper
from afkit.models import registry as models
from afkit.models.reconstruction import PAPER_FEATURES
from afkit.studies.experiments import (
    SEEDS,
    Spec,
    matched_width,
    mean_over_seeds,
    model_params,
    not_learned_note,
    paired_tests,
    reference_gap,
    run_grid,
)

# notebook 04 at a glance: the paper's baselines and Attend-Fusion (comparison_specs adds the
# size-matched arms and the starter code's reference models)
COMPARISON = (
    "fc_audio",
    "fc_visual",
    "fc_early",
    "fc_late",
    "fcrn_late",
    "fcrn_gated_late",
    "attend_fusion",
)
REFERENCES = ("logistic", "moe")  # the YouTube-8M starter code's video-level models
# the arms of notebook 04 that the cpu and smoke profiles train: the headline pair and the
# references of the learned rule (with the size-matched FC late fusion comparison_specs adds).
# Single-modality, early-fusion and residual baselines and Attend-Fusion grown to FC size decide
# nothing about the paper's claim and cost half of the budget, which the convergence protocol
# needs (README: what was cut); the paper profile trains all of COMPARISON
HEADLINE = ("fc_late", "attend_fusion")


def fc_late_at_af_size(
    profile: str, num_classes: int | None = None, features: str = "mean_std"
) -> tuple[int, int]:
    """The hidden width of ``fc_late`` at Attend-Fusion's parameter count: (at ``profile`` with
    ``num_classes`` and ``features``, at paper size with the paper profile's inputs)."""
    af = model_params("attend_fusion", profile, num_classes, features)
    hidden = matched_width("fc_late", af, profile, num_classes=num_classes, features=features)
    paper_af = model_params("attend_fusion", "paper", features=PAPER_FEATURES)
    return hidden, matched_width("fc_late", paper_af, "paper", features=PAPER_FEATURES)


def comparison_specs(
    profile: str, num_classes: int | None = None, features: str = "mean_std"
) -> list[Spec]:
    """Notebook 04's arms: the starter code's references (logistic, MoE), the paper's
    baselines (:data:`COMPARISON`; at the cpu and smoke profiles only :data:`HEADLINE`), and
    the size-matched arms that separate attention from size: fc_late shrunk to Attend-Fusion's
    parameter count (and at paper size also fcrn_late shrunk alike and Attend-Fusion grown to
    fc_late's). The headline pair and the matched pair train at every seed of the profile; the
    other arms at the tuning seed only."""
    all_seeds = SEEDS[profile]
    fc = model_params("fc_late", profile, num_classes, features)
    paper_fc = model_params("fc_late", "paper", features=PAPER_FEATURES)
    hidden, paper_hidden = fc_late_at_af_size(profile, num_classes, features)
    head = matched_width(
        "attend_fusion", fc, profile, field="head_width", num_classes=num_classes, features=features
    )
    paper_head = matched_width(
        "attend_fusion", paper_fc, "paper", field="head_width", features=PAPER_FEATURES
    )
    one = (0,)
    baselines = [m for m in COMPARISON if profile == "paper" or m in HEADLINE]
    grown = [
        Spec(
            f"attend_fusion at FC size (head {head})",
            "attend_fusion",
            {"head_width": head},
            paper_overrides={"head_width": paper_head},
            seeds=one,
        ),
        Spec(
            f"fcrn_late at AF size (hidden {hidden})",
            "fcrn_late",
            {"hidden": hidden},
            paper_overrides={"hidden": paper_hidden},
            seeds=one,
        ),
    ]
    return (
        [Spec(m, m, seeds=one) for m in REFERENCES]
        + [
            Spec(m, m, seeds=all_seeds if m in ("fc_late", "attend_fusion") else one)
            for m in baselines
        ]
        + [
            Spec(
                f"fc_late at AF size (hidden {hidden})",
                "fc_late",
                {"hidden": hidden},
                paper_overrides={"hidden": paper_hidden},
                seeds=all_seeds,
            ),
        ]
        + (grown if profile == "paper" else [])
    )


def matched_label(summary: pd.DataFrame, prefix: str) -> str:
    """The label of the size-matched arm starting with ``prefix`` (e.g.
    ``"fc_late at AF size"``)."""
    return next(lab for lab in summary["label"] if lab.startswith(prefix))


HEADLINE_COLUMNS = [
    "label",
    "params",
    "paper_params",
    "lr",
    "lr_position",
    "best_epoch_mean",
    "epochs_run_max",
    "converged",
    "gap_mean",
    "gap_std",
    "micro_f1_tuned_mean",
    "micro_f1_mean",
    "map_mean",
    "seeds",
    "learned",
    "paper_f1_pct",
    "paper_reported_params",
]


def with_paper_columns(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` plus the paper's reported F1 (%) and parameters on the rows of the paper's
    own two models (the arms labelled ``attend_fusion`` and ``fc_late``; real data; NaN on
    every other row, the size-matched variants included), in columns named ``paper_*``."""
    out = summary.copy()
    for col, reported in (
        ("paper_f1_pct", paper.F1_PCT),
        ("paper_reported_params", paper.PARAMETERS),
    ):
        out[col] = [reported.get(lab, np.nan) for lab in out["label"]]
    return out


def fusion_ablation_specs(
    profile: str, num_classes: int | None = None, features: str = "mean_std"
) -> list[Spec]:
    """Notebook 05's arms: early / late / hybrid fusion, each with and without attention, and
    FC late fusion shrunk to Attend-Fusion's parameter count (the parameter-matched pair).

    *Our definitions*: early = inputs concatenated before one encoder; late = an encoder (and
    attention) per modality, concatenated before the head; hybrid = per-modality encoders whose
    tokens attend across modalities (cross-modal attention) before the late head."""
    width, paper_width = fc_late_at_af_size(profile, num_classes, features)
    one = (0,)  # one seed an arm (the tuning seed); notebook 04 has the seed spread
    return [
        Spec("fc_early", "fc_early", seeds=one),
        Spec("early + attention", "attend_fusion_early", seeds=one),
        Spec("early, no attention", "attend_fusion_early", {"attention": "none"}, seeds=one),
        Spec("fc_late", "fc_late", seeds=one),
        Spec("late + attention (attend_fusion)", "attend_fusion", seeds=one),
        Spec("late, no attention", "attend_fusion_noattn", seeds=one),
        Spec("hybrid + attention (cross-modal)", "attend_fusion_cross", seeds=one),
        Spec(
            f"fc_late matched (hidden {width})",
            "fc_late",
            {"hidden": width},
            paper_overrides={"hidden": paper_width},
            seeds=one,
        ),
    ]


# notebook 08's frame world: the cpu world's second-order evidence (a sign redrawn every frame)
# makes a class an energy detector over frames, which the video-level model reads for free from
# the STD columns and a frame model must learn per frame; in 6 epochs it did not (test GAP 0.23
# against 0.83). Here each (video, label) draws its signs once and the fixed prototype u0
# carries as much as the signed ones (first-order evidence in every frame of the span), on
# fewer, shorter videos and fewer classes, so that a frame model trains under the protocol
# within the profile's budget (measured at cpu: ~6 s an epoch, one thread). The data card
# (afkit.data.datacard) says why; the world's spans and audio-present frames are its truth.
FRAME_WORLD = {
    "smoke": dict(
        num_classes=12,
        num_verticals=3,
        train_videos=480,
        validate_videos=160,
        test_videos=160,
        min_frames=8,
        max_frames=24,
        videos_per_shard=160,
        sign_per_frame=False,
        linear_share=1.0,
        rgb_amplitude=6.0,
        audio_amplitude=6.0,
    ),
    "cpu": dict(
        num_classes=40,
        num_verticals=4,
        train_videos=3000,
        validate_videos=750,
        test_videos=750,
        min_frames=20,
        max_frames=60,
        videos_per_shard=500,
        sign_per_frame=False,
        linear_share=1.0,
    ),
}
# its arms: the frame model, its no-attention control (masked mean over frames) trained alike,
# the video-level Attend-Fusion on the same world (the bar it must come within 10 GAP points
# of) and logistic regression (the learned rule's reference)
FRAME_SPECS = (
    Spec("frame-level attention", "attend_fusion_frames"),
    Spec("frame-level mean pooling", "attend_fusion_frames", {"attention": False}),
    Spec("video-level Attend-Fusion", "attend_fusion"),
    Spec("logistic regression", "logistic"),
)


def frame_world(profile: str, root, seed: int = 0) -> tuple[Path, Path]:
    """Notebook 08's frame world (:data:`FRAME_WORLD`; the ``paper`` profile uses the cpu
    world's sizes) generated under ``root/data`` and featurized with its frames under
    ``root/stores``; ``(data_dir, store_dir)``. Nothing is rewritten when both are complete."""
    from afkit.data import featurize, synth

    root = Path(root)
    data, stores = root / "data", root / "stores"
    world = FRAME_WORLD.get(profile, FRAME_WORLD["cpu"])
    synth.ensure_dataset(
        data, "smoke" if profile == "smoke" else "cpu", seed, progress=False, **world
    )
    featurize.build(stores, data, feature_set="mean_std", frames=True, progress=False)
    return data, stores


def frame_study(  # noqa: PLR0913  (a notebook step's keyword options, with defaults)
    root,
    profile: str,
    *,
    source: str = "synthetic",
    data_dir=None,
    store_dir=None,
    seed: int = 0,
    device="cpu",
    progress=True,
) -> dict:
    """Notebook 08's models: :data:`FRAME_SPECS` under the protocol at one seed on the frame
    world (synthetic ``source``: :func:`frame_world` under ``root``; a real release: its own
    ``data_dir`` and ``store_dir``), and whether the frame-level attention model is fit to
    explain (:func:`afkit.interpret.evidence.frames_check`: learned, converged, and within 10
    test GAP points of the video-level Attend-Fusion on the same data).

    Returns ``data_dir``, ``store_dir``, ``summary`` (:func:`mean_over_seeds` with the learned
    rule, by label), ``check``, ``control`` (the paired test of attention pooling against its
    mean-pooling control on the test videos, :func:`paired_tests`) and ``frames_dir`` /
    ``video_dir`` (the chosen runs of the attention model and the video-level model)."""
    from afkit.interpret import evidence
    from afkit.training import protocol as proto

    root = Path(root)
    if source == "synthetic":
        data_dir, store_dir = frame_world(profile, root, seed)
    runs = root / "runs"
    specs = [replace(sp, seeds=(seed,)) for sp in FRAME_SPECS]
    grid = run_grid(specs, store_dir, runs, profile, progress=progress, device=device)
    floor = proto.prior_gap(store_dir)
    reference = reference_gap(store_dir, runs, profile, device=device)
    summary = mean_over_seeds(grid, floor_gap=floor, reference_gap=reference).set_index("label")
    chosen = grid[grid["chosen"]].set_index("label")["run_dir"]
    attention, control, video = (sp.label for sp in FRAME_SPECS[:3])
    check = evidence.frames_check(
        summary.loc[attention, "gap_mean"],
        summary.loc[video, "gap_mean"],
        learned=bool(summary.loc[attention, "learned"]),
        converged=bool(summary.loc[attention, "converged"]),
    )
    return {
        "data_dir": Path(data_dir),
        "store_dir": Path(store_dir),
        "summary": summary,
        "check": check,
        "control": paired_tests(grid, [(attention, control)], store_dir, seed=seed)[0],
        "frames_dir": chosen[attention],
        "video_dir": chosen[video],
    }


# the video-level readings whose attention weights are read directly (notebook 08; the same
# arms, hence the same runs, as notebook 10's)
TOKEN_READINGS = (
    Spec("modality tokens", "attend_fusion_modality_tokens"),
    Spec("MF/STD tokens", "attend_fusion_stats"),
)


def token_reading_runs(
    store_dir, runs_dir, profile: str, *, seed: int = 0, device="cpu", progress=True
) -> tuple[dict, pd.DataFrame]:
    """The chosen runs of :data:`TOKEN_READINGS` under the protocol at one seed on
    ``store_dir`` (``{label: run folder}``) and their summary with the learned rule
    (:func:`mean_over_seeds`, by label)."""
    from afkit.training import protocol as proto

    specs = [replace(sp, seeds=(seed,)) for sp in TOKEN_READINGS]
    grid = run_grid(specs, store_dir, runs_dir, profile, progress=progress, device=device)
    reference = reference_gap(store_dir, runs_dir, profile, device=device)
    summary = mean_over_seeds(
        grid, floor_gap=proto.prior_gap(store_dir), reference_gap=reference
    ).set_index("label")
    chosen = grid[grid["chosen"]].set_index("label")["run_dir"]
    return {sp.label: chosen[sp.label] for sp in TOKEN_READINGS}, summary


def attention_sweep_specs(profile: str) -> list[Spec]:
    """Notebook 06's arms around the profile's Attend-Fusion: heads, attention width, number of
    tokens (chunks), the MF/STD statistics as tokens and attention off, one seed each. Each
    arm's paper-size twin (for the paper-size axis) applies the same change to the paper
    configuration: the same heads or tokens, the attention width scaled by the same factor."""
    cfg = models.model_config("attend_fusion", profile)
    paper_cfg = models.model_config("attend_fusion", "paper")
    out = [Spec("attend_fusion", "attend_fusion"), Spec("attention off", "attend_fusion_noattn")]
    # the frame-level model is not an arm here: ~40x a video-level epoch, it cannot take the
    # protocol's search within the cpu budget (notebook 08 says what it does learn)
    # the extremes of each axis only: the sweep's differences are read against 04's seed spread,
    # and the middle values cost budget without deciding more
    for h in (1, 8):
        if h != cfg.heads and cfg.attention_width % h == 0:
            out.append(
                Spec(f"heads={h}", "attend_fusion", {"heads": h}, paper_overrides={"heads": h})
            )
    for factor in (0.25, 2.0):
        a, pa = int(cfg.attention_width * factor), int(paper_cfg.attention_width * factor)
        if a % cfg.heads == 0 and pa % paper_cfg.heads == 0:
            out.append(
                Spec(
                    f"attention width={a}",
                    "attend_fusion",
                    {"attention_width": a},
                    paper_overrides={"attention_width": pa},
                )
            )
    for k in (2, 8):
        if k != cfg.tokens and cfg.encoder_width % k == 0 and paper_cfg.encoder_width % k == 0:
            out.append(
                Spec(f"tokens={k}", "attend_fusion", {"tokens": k}, paper_overrides={"tokens": k})
            )
    out.append(Spec("MF/STD as tokens", "attend_fusion_stats"))
    return [replace(o, seeds=(0,)) for o in out]


def with_sweep_columns(summary: pd.DataFrame) -> pd.DataFrame:
    """Notebook 06: test GAP and micro-F1 (validate threshold) in %."""
    out = summary.copy()
    out["gap_pct"] = 100 * out["gap_mean"]
    out["micro_f1_pct"] = 100 * out["micro_f1_tuned_mean"]
    return out


# notebook 07: the vocabulary sizes C (3862: the 2018 release; 4716: the 2017 one, the paper's)
VOCABULARIES = {
    "smoke": (20, 50, 100, 400),
    "cpu": (100, 300, 1000, 3862, 4716, 20000),
    "paper": (1000, 3862, 4716, 20000),
}
# the sizes that are trained (the others are parameter arithmetic only: the answer computes what
# the budget would give them, :func:`afkit.studies.answers.untrained_note`)
TRAINED_VOCABULARIES = {
    "smoke": (20, 50, 100),
    "cpu": (100, 300, 1000, 3862),
    "paper": (1000, 3862, 4716, 20000),
}
# notebook 07's synthetic sets: the training BUDGET is held fixed across vocabularies (the same
# number of training videos, ``train_videos``, at every size; a quarter of it each for validate
# and test), so that the vocabulary is the one thing that changes, and the labels a class
# (N * ~3 labels a video / C) fall as C grows: the second axis of the table. Fixed videos rather
# than fixed optimizer steps: a study's budget is the data it can afford, and the plateau
# protocol sets the steps of every run itself.
#
# cpu, the arithmetic (measured at N = 1500, C = 3862, one process, nice, on the shared 2-core
# machine; user seconds an epoch, validation included): fc_late 1.4 s, attend_fusion 0.7 s,
# logistic (the learned rule's reference) 1.25 s, i.e. 2.2 ms per training video an epoch for
# the three models at 3862 classes; scaled by their parameters, 0.9 ms at 1000, 0.56 at 300,
# 0.47 at 100: 4.1 ms per video an epoch over the four vocabularies. Under the plateau protocol
# a run takes ~30-50 epochs and an arm ~3 rate trials: ~120 epochs, 0.5 s per training video.
# 8 minutes on 2 workers (960 worker-seconds, less ~15 s of generation and featurizing (3.4 s
# for the 3862-class set) and the pool's uneven ends) hold ~1500 training videos: 45 labels a
# class at 100 classes, 15 at 300, 4.5 at 1000, 1.2 at 3862. Measured under the protocol at
# 3862 classes: fc_late at 3e-3 stops after 11 epochs (flat at GAP 0.011: nothing learned at 1.2
# labels a class), logistic after 24 (GAP 0.26), so 3862 costs less than the 120 epochs assumed;
# fc_late at 3e-3 stops after 46 epochs at 1000 classes (GAP 0.27) and 39 at 100 (GAP 0.71).
# Per vocabulary, ~2.5 trials an arm at those epochs: ~130 worker-seconds at 3862, ~210 at 1000,
# ~140 at 300, ~120 at 100: ~600 in all, ~5-6 minutes on 2 workers with the pool's uneven ends.
# The cost is linear in train_videos: lower it if a measured cpu run exceeds 8 minutes.
VOCAB_DATA = {
    "smoke": dict(train_videos=240, min_frames=4, max_frames=12),
    "cpu": dict(train_videos=1500, min_frames=10, max_frames=30),
    "paper": dict(train_videos=100_000, min_frames=30, max_frames=120),
}


def vocabulary_data(profile: str, num_classes: int) -> dict:
    """Sizes of notebook 07's synthetic set at ``num_classes``: the profile's fixed
    ``train_videos`` (:data:`VOCAB_DATA`, the same at every vocabulary), a quarter of that each
    for validate and test (at least 32)."""
    d = dict(VOCAB_DATA[profile])
    n = d.pop("train_videos")
    return {
        **d,
        "train_videos": n,
        "validate_videos": max(n // 4, 32),
        "test_videos": max(n // 4, 32),
    }


def expected_labels_per_class(profile: str, num_classes: int) -> float:
    """Positive training labels a class that :data:`VOCAB_DATA`'s budget gives ``num_classes``
    classes on average: ``train_videos * mean_labels / C`` (the generator's ``mean_labels`` a
    video, :class:`afkit.data.synth.SynthProfile`)."""
    from afkit.data import synth

    return VOCAB_DATA[profile]["train_videos"] * synth.PROFILES[profile].mean_labels / num_classes


def train_label_counts(store_dir) -> dict:
    """Of a store's train split: ``train_videos``, ``labels_per_class`` (positive labels a class,
    the mean over the vocabulary) and ``classes_unseen`` (the share of classes with no training
    video)."""
    from afkit.data import store

    train = store.open_store(Path(store_dir) / "train")
    counts = np.zeros(train.num_classes, dtype=np.int64)
    for i in range(len(train)):
        counts[train.labels(i)] += 1
    return {
        "train_videos": len(train),
        "labels_per_class": float(counts.sum() / train.num_classes),
        "classes_unseen": float((counts == 0).mean()),
    }


def head_share(name: str, profile: str, num_classes: int, features: str = "mean_std") -> dict:
    """Parameters of ``name`` at ``profile`` with ``num_classes`` classes, and the share of them
    in the classifier(s) (the parameters that grow with the vocabulary: the difference between
    the model at C and at 1 class, divided by (C - 1), times C)."""
    n = model_params(name, profile, num_classes, features)
    n1 = model_params(name, profile, 1, features)
    head = (n - n1) / (num_classes - 1) * num_classes if num_classes > 1 else 0
    return {"params": n, "head_params": int(round(head)), "head_share": head / n}


def _train_vocabulary(root: Path, profile: str, c: int, models, seed: int, device, progress):
    """One trained vocabulary of notebook 07: its synthetic set, store, ``models`` under the
    protocol at one seed and the learned rule's references; (summary by label, store counts,
    class-frequency GAP, logistic regression's GAP)."""
    from afkit.data import featurize, synth
    from afkit.training import protocol as proto

    sizes = vocabulary_data(profile, c)
    # one folder per world (classes and training budget): a world of another budget, e.g. one
    # left by an earlier version, is kept beside it, never rebuilt over
    key = f"{c}-{sizes['train_videos']}"
    data = root / "data" / key
    synth.ensure_dataset(data, profile, seed, progress=False, num_classes=c, **sizes)
    stores, runs = root / "stores" / key, root / "runs" / key
    featurize.build(stores, data, feature_set="mean_std", progress=False)
    floor = proto.prior_gap(stores)
    # logistic regression (the learned rule's reference) in the same grid as the models, so that
    # the two workers share its trials with theirs; reference_gap then reads its runs back
    refs = [] if "logistic" in models else [Spec("logistic", "logistic", seeds=(0,))]
    grid = run_grid(
        [Spec(m, m, seeds=(0,)) for m in models] + refs,
        stores,
        runs,
        profile,
        progress=progress,
        device=device,
    )
    reference = reference_gap(stores, runs, profile, device=device)
    summary = mean_over_seeds(grid, floor_gap=floor, reference_gap=reference)
    return summary.set_index("label"), train_label_counts(stores), floor, reference


def vocabulary_experiment(  # noqa: PLR0913  (a notebook step's keyword options, with defaults)
    root,
    profile: str,
    *,
    models=("fc_late", "attend_fusion"),
    sizes=None,
    trained=None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """Notebook 07: for each vocabulary size C, parameters and head share at this profile and
    at paper size; for the ``trained`` sizes (:data:`TRAINED_VOCABULARIES`) also a synthetic
    set of the profile's fixed training budget (:func:`vocabulary_data`, under
    ``root/data/<C>-<training videos>``),
    its store and ``models`` trained under the protocol at one seed, scored on test, each with
    the learned rule against logistic regression on that store
    (:func:`afkit.studies.experiments.reference_gap`) and its convergence. One row per
    (C, model); ``trained`` False rows carry no scores, only the labels a class the budget would
    give them (``labels_per_class``: :func:`expected_labels_per_class`)."""
    root = Path(root)
    trained = TRAINED_VOCABULARIES[profile] if trained is None else trained
    rows = []
    for c in sizes or VOCABULARIES[profile]:
        done = None
        if c in trained:
            done = _train_vocabulary(root, profile, c, models, seed, device, progress)
        for name in models:
            prof, at_paper = (
                head_share(name, profile, c),
                head_share(name, "paper", c, PAPER_FEATURES),
            )
            row = {
                "num_classes": c,
                "model": name,
                "trained": done is not None,
                "train_videos": VOCAB_DATA[profile]["train_videos"],
                "labels_per_class": expected_labels_per_class(profile, c),
                "classes_unseen": np.nan,
                "params": prof["params"],
                "head_share": prof["head_share"],
                "paper_params": at_paper["params"],
                "paper_head_share": at_paper["head_share"],
                "prior_gap": np.nan,
                "reference_gap": np.nan,
            }
            if done is not None:
                s, counts, floor, reference = done
                r = s.loc[name]
                row.update(
                    {
                        **counts,
                        "prior_gap": floor,
                        "reference_gap": reference,
                        "lr": r["lr"],
                        "lr_position": r["lr_position"],
                        "epochs_run": int(r["epochs_run_max"]),
                        "gap": r["gap_mean"],
                        "micro_f1": r["micro_f1_mean"],
                        "micro_f1_tuned": r["micro_f1_tuned_mean"],
                        "learned": bool(r["learned"]),
                        "converged": bool(r["converged"]),
                        "counts": bool(r["counts"]),
                    }
                )
            rows.append(row)
    return pd.DataFrame(rows)


def vocabulary_summary(vocab: pd.DataFrame) -> pd.DataFrame:
    """Notebook 07's table (one row per (num_classes, model)), sorted by size."""
    return vocab.sort_values(["num_classes", "model"]).reset_index(drop=True)


def vocabulary_shown(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The trained rows of notebook 07's table that count (learned and converged), for its
    score figures, and the caption note naming those left out
    (:func:`afkit.studies.experiments.not_learned_note`)."""
    trained = table[table["trained"].astype(bool)]
    named = trained.assign(label=trained["model"] + " at " + trained["num_classes"].astype(str))
    return trained[trained["counts"].astype(bool)], not_learned_note(named)


# notebook 10: the readings of "scores and re-weights that modality's features"
# (afkit.models.attend_fusion. READINGS, besides the chunk tokens and the MF/STD tokens), each with
# its attention-off twin
READING_ARMS = {  # reading -> (label, registered model)
    "chunk tokens": ("chunk tokens (attend_fusion)", "attend_fusion"),
    "MF/STD tokens": ("MF/STD tokens (attend_fusion_stats)", "attend_fusion_stats"),
    "feature sigmoid": ("feature sigmoid", "attend_fusion_feature_sigmoid"),
    "feature softmax": ("feature softmax", "attend_fusion_feature_softmax"),
    "modality tokens": ("modality tokens", "attend_fusion_modality_tokens"),
}
SHARED_OFF = "attention off (attend_fusion_noattn)"


def _readings(
    profile: str, num_classes: int | None, features: str
) -> tuple[list[Spec], list[tuple]]:
    def config(name, **overrides):
        return models.config_dict(models.model_config(name, profile, **overrides))

    one = (0,)
    shared = config("attend_fusion_noattn")
    arms, pairs = [Spec(SHARED_OFF, "attend_fusion_noattn", seeds=one)], []
    for reading, (label, name) in READING_ARMS.items():
        arms.append(Spec(label, name, seeds=one))
        if config(name, attention="none") == shared:
            # the same network as attend_fusion_noattn (identity attention, same widths): trained
            # once
            pairs.append((reading, label, SHARED_OFF))
        else:
            off = f"{label}, off"
            arms.append(Spec(off, name, {"attention": "none"}, seeds=one))
            pairs.append((reading, label, off))
    hidden, paper_hidden = fc_late_at_af_size(profile, num_classes, features)
    arms += [
        Spec("fc_late", "fc_late", seeds=one),
        Spec(
            f"fc_late at AF size (hidden {hidden})",
            "fc_late",
            {"hidden": hidden},
            paper_overrides={"hidden": paper_hidden},
            seeds=one,
        ),
    ]
    return arms, pairs


def readings_specs(
    profile: str, num_classes: int | None = None, features: str = "mean_std"
) -> list[Spec]:
    """Notebook 10's arms, one seed each: every reading of the attention (:data:`READING_ARMS`)
    with and without its attention; an off twin that is the same network as
    ``attend_fusion_noattn`` (the feature-wise and modality-token readings with a = 1 / no
    attention, at the profile's widths) is that one arm, trained once; then ``fc_late`` and
    ``fc_late`` shrunk to Attend-Fusion's size (:func:`fc_late_at_af_size`)."""
    return _readings(profile, num_classes, features)[0]


def reading_pairs(
    profile: str, num_classes: int | None = None, features: str = "mean_std"
) -> list[tuple]:
    """(reading, label with attention, label of its attention-off twin) for each reading of
    :func:`readings_specs`: the pairs of notebook 10's paired tests."""
    return _readings(profile, num_classes, features)[1]


def reading_tests(grid: pd.DataFrame, pairs: list[tuple], store_dir, **kwargs) -> list[dict]:
    """:func:`afkit.studies.experiments.paired_tests` (test split) of each reading with vs without
    its attention, for ``pairs`` (:func:`reading_pairs`); each dict also names its ``reading``."""
    tests = paired_tests(grid, [(on, off) for _, on, off in pairs], store_dir, **kwargs)
    return [{**t, "reading": r} for (r, _, _), t in zip(pairs, tests, strict=True)]


def readings_results(
    summary: pd.DataFrame, tests: list[dict], fc_label: str = "fc_late"
) -> pd.DataFrame:
    """Notebook 10's table: one row per reading (``tests``: :func:`reading_tests` of each reading
    on vs off, in :func:`reading_pairs` order, each dict with ``reading``), in points: test GAP
    and micro-F1 (validate threshold) on and off, the differences and their 95% intervals,
    ``matters`` ("helps" / "hurts" when the GAP interval excludes 0, else "no"), the paper-size
    params and whether they are within 1% of 72M, the test GAP gap to ``fc_label``, ``learned``
    (the arm with attention) and ``converged`` (both arms of the pair)."""
    s = summary.set_index("label")
    fc = s.loc[fc_label, "gap_mean"]
    reported = paper.PARAMETERS["attend_fusion"]
    rows = []
    for t in tests:
        on, off = s.loc[t["a"]], s.loc[t["b"]]
        matters = "helps" if t["gap_lo"] > 0 else "hurts" if t["gap_hi"] < 0 else "no"
        rows.append(
            {
                "reading": t["reading"],
                "label": t["a"],
                "off_label": t["b"],
                "params": int(on["params"]),
                "off_params": int(off["params"]),
                "paper_params": int(on["paper_params"]),
                "paper_within_1pct": bool(abs(on["paper_params"] - reported) <= 0.01 * reported),
                "gap_on": 100 * on["gap_mean"],
                "gap_off": 100 * off["gap_mean"],
                "gap_diff": 100 * t["gap_diff"],
                "gap_lo": 100 * t["gap_lo"],
                "gap_hi": 100 * t["gap_hi"],
                "micro_f1_on": 100 * on["micro_f1_tuned_mean"],
                "micro_f1_off": 100 * off["micro_f1_tuned_mean"],
                "micro_f1_diff": 100 * t["micro_f1_diff"],
                "micro_f1_lo": 100 * t["micro_f1_lo"],
                "micro_f1_hi": 100 * t["micro_f1_hi"],
                "matters": matters,
                "gap_minus_fc_late": 100 * (on["gap_mean"] - fc),
                "learned": bool(on["learned"]) if "learned" in s else True,
                # both arms of the pair: a difference is read only when both converged
                "converged": bool(on["converged"] and off["converged"])
                if "converged" in s
                else True,
                "evaluated_on": on["evaluated_on"] if "evaluated_on" in s else "test",
            }
        )
    return pd.DataFrame(rows)
