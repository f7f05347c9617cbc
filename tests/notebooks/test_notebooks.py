"""Every numbered notebook runs headlessly under papermill (smoke profile), through the same
``python -m afkit reproduce`` a user runs, and writes the artifacts it promises."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from afkit.report.notebook import find_notebooks
from afkit.studies import arms, experiments

pytestmark = pytest.mark.slow

METRICS = ["micro_f1", "macro_f1", "gap", "map", "hit_at_one", "perr"]

# notebook -> {table name: (required columns, expected row labels or a minimum row count)}
TABLES = {
    "00_data": {
        "00_splits": (
            ["split", "videos", "labels_per_video", "frames_mean"],
            ["train", "validate", "test"],
        ),
        "00_class_modalities": (
            ["modality", "classes", "share_of_labels"],
            ["visual", "audio", "both"],
        ),
    },
    "01_features": {
        "01_build": (["split", "videos", "shards_built"], ["train", "validate", "test"]),
        "01_verify": (["split", "videos", "features"], ["train", "validate", "test"]),
        "01_mean_agreement": (["modality", "max_abs_diff", "agrees"], ["mean_rgb", "mean_audio"]),
    },
    "02_train": {
        "02_history": (["epoch", "train_loss", "val_micro_f1", "val_gap"], 2),
        "02_final_metrics": (["metric", "value"], METRICS),
    },
    "03_parameters": {
        "03_fc_late_hypotheses": (["features", "num_classes", "params", "rounds_to_341M"], 8),
        "03_attend_fusion_search": (["hypothesis", "encoder_width", "params", "error_pct"], 1),
        "03_models_paper": (
            ["model", "params", "closed_form", "gflops_per_video"],
            ["fc_late", "attend_fusion"],
        ),
        "03_width_sweep": (["model", "width", "parameters"], 2),
        "03_profile_widths": (
            ["profile", "hidden", "head_width", "ratio"],
            ["paper", "cpu", "smoke"],
        ),
        "03_readings": (
            ["reading", "model", "params", "error_pct", "within_1pct_of_72M"],
            ["chunk_tokens", "feature_sigmoid", "feature_softmax", "modality_tokens"],
        ),
    },
    "04_comparison": {
        "04_comparison": (
            [
                "label",
                "params",
                "paper_params",
                "flops",
                "lr",
                "train_seconds_mean",
                "videos_per_s_mean",
                "paper_f1_pct",
                "seeds",
                "learned",
                "learned_bar",
                "converged",
                "lr_position",
                "epochs_run_max",
                "micro_f1_tuned_mean",
                "best_epoch_mean",
            ]
            + [f"{m}_mean" for m in METRICS]
            + [f"{m}_std" for m in METRICS],
            list(arms.HEADLINE) + list(arms.REFERENCES),
        ),
        "04_search": (
            ["label", "lr", "val_gap", "best_epoch", "epochs_run", "stop_reason", "chosen"],
            2,
        ),
        "04_intervals": (["a", "b", "metric", "diff_points", "lo", "hi"], ["attend_fusion"]),
    },
    "05_fusion_ablation": {
        "05_fusion_ablation": (
            ["label", "params", "lr", "gap_mean", "micro_f1_tuned_mean", "learned"],
            [
                "fc_early",
                "early + attention",
                "early, no attention",
                "fc_late",
                "late + attention (attend_fusion)",
                "late, no attention",
                "hybrid + attention (cross-modal)",
            ],
        )
    },
    "06_attention_config": {
        "06_attention_config": (
            ["label", "params", "flops", "paper_params", "gap_pct", "lr", "learned"],
            ["attend_fusion", "attention off", "MF/STD as tokens"],
        )
    },
    "07_vocabulary_scaling": {
        "07_vocabulary_scaling": (
            [
                "num_classes",
                "model",
                "params",
                "head_share",
                "trained",
                "paper_head_share",
                "micro_f1",
                "gap",
                "learned",
                "converged",
                "train_videos",
                "labels_per_class",
                "reference_gap",
            ],
            len(arms.VOCABULARIES["smoke"]) * 2,
        )
    },
    "08_interpretability": {
        "08_models": (
            ["label", "gap_mean", "learned", "converged"],
            [sp.label for sp in arms.FRAME_SPECS],
        ),
        "08_evidence_auroc": (
            ["target", "method", "mean", "ci_low", "ci_high", "n"],
            ["the union of the video's spans", "the label's span"],
        ),
        "08_deletion": (["k", "method", "mean_drop_top", "mean_drop_random", "ci_low"], 6),
        "08_modality_agreement": (
            ["truth", "n_classes", "balanced_accuracy", "ba_low", "ba_high", "base_rate"],
            ["visual", "audio", "both", "single"],
        ),
        "08_attention_entropy": (["modality", "normalized_entropy"], 2),
        "08_token_readings": (["reading"], 2),
    },
    "09_claim_map": {
        "09_claim_map": (
            [
                "world",
                "group",
                "videos_per_class",
                "baseline",
                "seeds",
                "param_ratio",
                "f1_af",
                "f1_fc",
                "f1_diff",
                "f1_lo",
                "f1_hi",
                "gap_diff",
                "gap_lo",
                "gap_hi",
                "learned_af",
                "converged_fc",
                "status",
                "outcome",
            ],
            ["6 a class"],
        ),
        "09_claim_map_worlds": (
            ["world", "group", "target_videos_per_class", "num_classes", "train_videos"],
            ["6 a class"],
        ),
        "09_claim_map_prediction": (["source", "videos_per_class", "f1_diff", "outcome"], 1),
    },
    "10_readings": {
        "10_readings": (
            [
                "reading",
                "params",
                "paper_params",
                "paper_within_1pct",
                "gap_on",
                "gap_off",
                "gap_diff",
                "gap_lo",
                "gap_hi",
                "micro_f1_diff",
                "micro_f1_lo",
                "micro_f1_hi",
                "matters",
                "gap_minus_fc_late",
            ],
            list(arms.READING_ARMS),
        ),
        "10_arms": (
            ["label", "params", "paper_params", "gap_mean", "micro_f1_tuned_mean", "learned"],
            [arms.SHARED_OFF, "fc_late"],
        ),
        "10_readings_paper": (["reading", "model", "params", "within_1pct_of_72M"], 5),
    },
}

FIGURES = {
    "00_data": ["00_label_frequency", "00_vertical_counts", "00_frame_counts"],
    "01_features": ["01_feature_distributions"],
    "02_train": ["02_learning_curves"],
    "03_parameters": ["03_parameters_vs_width"],
    "04_comparison": ["04_comparison_f1", "04_convergence"],
    "05_fusion_ablation": ["05_fusion_ablation"],
    "06_attention_config": ["06_pareto_params", "06_pareto_flops", "06_pareto_paper_size"],
    "07_vocabulary_scaling": ["07_vocabulary_f1", "07_vocabulary_gap", "07_vocabulary_head_share"],
    "08_interpretability": [
        "08_timeline",
        "08_modality_share",
        "08_modality_share_video_level",
        "08_deletion",
        "08_token_readings",
    ],
    "09_claim_map": ["09_claim_map"],
    "10_readings": ["10_readings_gap_vs_params"],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    out = root / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "afkit",
            "reproduce",
            "--profile",
            "smoke",
            "--out",
            str(out),
            "--data-dir",
            str(root / "data"),
            "--store-dir",
            str(root / "stores"),
            "--no-publish",
            "--no-screenshot",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    return out, proc


def test_every_notebook_is_covered():
    names = [p.stem for p in find_notebooks()]
    assert names == sorted(TABLES) == sorted(FIGURES)


def test_reproduce_runs_every_notebook(run):
    out, proc = run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    meta = json.loads((out / "run.json").read_text())
    assert {k: v["status"] for k, v in meta["notebooks"].items()} == {k: "ok" for k in TABLES}
    assert meta["data_source"] == "synthetic"


@pytest.mark.parametrize("notebook", sorted(TABLES))
def test_notebook_tables(run, notebook):
    out, _ = run
    for name, (columns, rows) in TABLES[notebook].items():
        df = pd.read_csv(out / "tables" / f"{name}.csv")
        assert set(columns) <= set(df.columns), (name, sorted(set(columns) - set(df.columns)))
        if isinstance(rows, int):
            assert len(df) >= rows, name
        else:
            assert set(rows) <= set(df.iloc[:, 0].astype(str)), (name, rows, list(df.iloc[:, 0]))


@pytest.mark.parametrize("notebook", sorted(FIGURES))
def test_notebook_figures(run, notebook):
    out, _ = run
    for name in FIGURES[notebook]:
        png = out / "figures" / f"{name}.png"
        assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_comparison_numbers_are_consistent(run):
    """The comparison table's numbers are the chosen runs' numbers, aggregated (an independent
    recomputation from 04_runs.csv); the chosen learning rate is the search's best validation
    GAP; the paper's columns hold the paper's figures."""
    out, _ = run
    runs = pd.read_csv(out / "tables" / "04_runs.csv")
    table = pd.read_csv(out / "tables" / "04_comparison.csv").set_index("label")
    for label, g in runs[runs["chosen"]].groupby("label"):
        assert table.loc[label, "gap_mean"] == pytest.approx(g["gap"].mean())
        assert table.loc[label, "micro_f1_tuned_mean"] == pytest.approx(g["micro_f1_tuned"].mean())
        assert table.loc[label, "seeds"] == len(g)
        search = runs[(runs["label"] == label) & (runs["seed"] == 0)]
        assert table.loc[label, "lr"] == search.loc[search["val_gap"].idxmax(), "lr"]
    assert (
        table.loc["attend_fusion", "seeds"]
        == table.loc["fc_late", "seeds"]
        == len(experiments.SEEDS["smoke"])
    )
    assert table.loc["fc_late", "paper_params"] == 341_204_524
    assert table.loc["attend_fusion", "paper_f1_pct"] == 75.64
    assert table.loc["fc_late", "paper_f1_pct"] == 75.96
    others = [lab for lab in table.index if lab not in ("attend_fusion", "fc_late")]
    assert (
        table.loc[others, "paper_f1_pct"].isna().all()
    )  # the paper's numbers on its own rows only
    result = json.loads((out / "results" / "04_comparison.json").read_text())
    for ci in (result["data"]["bootstrap"], result["data"]["bootstrap_matched"]):
        for m in ("gap", "micro_f1", "micro_f1_05"):
            assert ci[f"{m}_lo"] <= ci[f"{m}_diff"] <= ci[f"{m}_hi"]
    assert result["profile"] == "smoke" and "git_sha" in result and "versions" in result


def test_vocabulary_budget_and_learned_rule(run):
    """Notebook 07: the same training videos at every trained vocabulary, the labels a class
    recomputed from them (about 3 a video), the learned rule recomputed from each row's
    class-frequency and logistic-regression GAPs, and the smallest vocabulary learned."""
    from afkit.training import protocol

    out, _ = run
    df = pd.read_csv(out / "tables" / "07_vocabulary_scaling.csv")
    done = df[df["trained"]]
    assert set(done["num_classes"]) == set(arms.TRAINED_VOCABULARIES["smoke"])
    assert (done["train_videos"] == arms.VOCAB_DATA["smoke"]["train_videos"]).all()
    per_video = done["labels_per_class"] * done["num_classes"] / done["train_videos"]
    assert per_video.between(2.5, 3.5).all(), per_video
    bar = protocol.learned_bar(done["prior_gap"], done["reference_gap"])
    want = (done["micro_f1_tuned"] > 0) & (done["gap"] >= bar)
    assert (done["learned"].astype(bool) == want).all()
    smallest = done[done["num_classes"] == done["num_classes"].min()]
    assert smallest["learned"].astype(bool).all()


@pytest.mark.parametrize(
    "table",
    [
        "04_comparison",
        "05_fusion_ablation",
        "06_attention_config",
        "10_arms",
    ],
)
def test_every_arm_learned(run, table):
    """The "did it learn" rule, recomputed from the tables: the bar is the class-frequency
    predictor's GAP plus half of the gain of logistic regression (04's logistic row, the same
    store) over it, and an arm learned when its test GAP reaches the bar with micro-F1 above 0.
    The arms of the headline comparison and the attention-on arms learned in the smoke run."""
    from afkit.training import protocol

    out, _ = run
    df = pd.read_csv(out / "tables" / f"{table}.csv")
    floor = protocol.prior_gap(out.parent / "stores")
    logistic = pd.read_csv(out / "tables" / "04_comparison.csv").set_index("label")
    bar = floor + 0.5 * (logistic.loc["logistic", "gap_mean"] - floor)
    assert df["learned_bar"].to_numpy() == pytest.approx(bar)
    want = (df["micro_f1_tuned_mean"] > 0) & (df["gap_mean"] >= bar)
    assert list(df["learned"].astype(bool)) == list(want), df[["label", "gap_mean", "learned"]]
    key = {"attend_fusion", "fc_late", "late + attention (attend_fusion)"}
    assert df.loc[df["label"].isin(key), "learned"].astype(bool).all()


def test_convergence_is_recorded_per_run(run):
    """04_runs: a run converged exactly when its plateau stop fired; one that did not ran to
    the smoke protocol's epoch cap, and one that ended before the cap converged; 04_comparison: an arm converged when all its
    chosen runs did; a chosen rate called interior has a worse rate tried on each side, and
    one at the edge of a grid was extended until its bound."""
    from afkit.training import protocol

    out, _ = run
    cap = protocol.protocol_for("smoke").max_epochs
    runs = pd.read_csv(out / "tables" / "04_runs.csv")
    assert list(runs["converged"]) == list(runs["stop_reason"] == "early_stop")
    # a run that did not converge ran to the cap (the stop may also fire on the cap's epoch)
    assert (runs.loc[~runs["converged"].astype(bool), "epochs_run"] == cap).all()
    assert (runs.loc[runs["epochs_run"] < cap, "converged"]).astype(bool).all()
    summary = pd.read_csv(out / "tables" / "04_comparison.csv").set_index("label")
    for label, g in runs[runs["chosen"]].groupby("label"):
        assert bool(summary.loc[label, "converged"]) == bool(g["converged"].all())
        search = runs[(runs["label"] == label) & (runs["seed"] == 0)].sort_values("lr")
        best = search["val_gap"].idxmax()
        lrs, chosen = list(search["lr"]), search.loc[best, "lr"]
        position = summary.loc[label, "lr_position"]
        if position == "interior":
            assert min(lrs) < chosen < max(lrs)
        else:
            assert chosen in (min(lrs), max(lrs)) and position in ("lower bound", "upper bound")


def test_report_gathers_every_notebook(run):
    out, _ = run
    html = (out / "report.html").read_text()
    md = (out / "REPORT.md").read_text()
    for nb in TABLES:
        assert nb in md and nb in html
    assert "synthetic" in md.lower()


def test_claim_map_table(run):
    """Notebook 09: every world of the smoke grid, two baselines each, the outcome recomputable
    from the numbers, the profile's size ratio, the deciding sizes at every seed, and the
    prediction for the data at hand beside notebook 04's measurement."""
    from afkit.studies import claim_map

    out, _ = run
    table = pd.read_csv(out / "tables" / "09_claim_map.csv", keep_default_na=False)
    names = [w.name for w in claim_map.world_grid("smoke")]
    assert list(dict.fromkeys(table["world"])) == names
    assert sorted(table["baseline"].unique()) == sorted(claim_map.BASELINES)
    assert len(table) == 2 * len(names)
    for r in table.itertuples():
        assert r.f1_lo <= r.f1_hi and r.gap_lo <= r.gap_hi
        assert r.outcome == claim_map.outcome(r.f1_lo, r.f1_hi)
        assert r.f1_diff == pytest.approx(r.f1_af - r.f1_fc, abs=1e-3)
    ratio = table.groupby("baseline")["param_ratio"].median()
    assert 4.0 < ratio["fc_late"] < 5.5 and 0.9 < ratio["fc_late at AF size"] < 1.1
    axis = table[(table["group"] == "size") & (table["baseline"] == "fc_late")]
    seeds = len(experiments.SEEDS["smoke"])
    assert (axis["seeds"] == seeds).sum() == min(claim_map.DECIDING, len(axis))
    result = json.loads((out / "results" / "09_claim_map.json").read_text())["data"]
    assert result["parity_margin"] == claim_map.PARITY_MARGIN
    answer = result["answer"]
    assert answer.startswith("**Answer (synthetic") and "The data at hand has" in answer
    assert "Notebook 04 measured" in answer  # 04 ran before 09
    measured = json.loads((out / "results" / "04_comparison.json").read_text())["data"]
    assert result["at_hand"]["measured"]["f1_diff"] == pytest.approx(
        100 * measured["bootstrap"]["micro_f1_diff"]
    )


def test_readings_table_is_consistent(run):
    """Notebook 10: one row per reading, each interval around its difference, ``matters`` read
    from the interval, the readings' paper-size counts within 1% of 72M, the answer saved."""
    out, _ = run
    t = pd.read_csv(out / "tables" / "10_readings.csv").set_index("reading")
    assert list(t.index) == list(arms.READING_ARMS)
    assert ((t["gap_lo"] <= t["gap_diff"]) & (t["gap_diff"] <= t["gap_hi"])).all()
    for r in t.itertuples():
        assert r.matters == ("helps" if r.gap_lo > 0 else "hurts" if r.gap_hi < 0 else "no")
    readings = ["chunk tokens", "feature sigmoid", "feature softmax", "modality tokens"]
    assert t.loc[readings, "paper_within_1pct"].all()
    assert (t.loc[readings, "paper_params"].sub(72e6).abs() <= 0.72e6).all()
    result = json.loads((out / "results" / "10_readings.json").read_text())
    assert (
        "chosen by its parameter count alone" in result["data"]["answer"]
        or "none can be said" in result["data"]["answer"]
    )
    off = result["data"]["off_vs_fc_late"]
    assert off["a"] == arms.SHARED_OFF and off["b"] == "fc_late"
    assert off["micro_f1_lo"] <= off["micro_f1_diff"] <= off["micro_f1_hi"]


def test_frame_attention_finds_the_evidence(run):
    """Issue 26's smoke check: the frame model trained on the tiny frame world attends to the
    frames that carry its videos' evidence more than a uniform attention does, beyond the
    bootstrap interval over videos (08_evidence_auroc), and each method's baselines are there."""
    out, _ = run
    df = pd.read_csv(out / "tables" / "08_evidence_auroc.csv")
    union = df[df["target"] == "the union of the video's spans"].set_index("method")
    assert {"attention", "uniform", "random"} <= set(union.index)
    assert union.loc["uniform", "mean"] == pytest.approx(0.5)
    assert union.loc["attention", "ci_low"] > union.loc["uniform", "ci_high"], union
    span = df[df["target"] == "the label's span"].set_index("method")
    assert {"integrated_gradients", "input_x_gradient", "uniform", "random"} <= set(span.index)
