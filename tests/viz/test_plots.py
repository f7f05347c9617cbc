"""afkit.viz.plots: every plot returns a labelled, titled, source-captioned figure; save_figure
writes real PNG/SVG files; the Pareto front and the colour rules match hand-computed answers."""

import struct

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from afkit.viz import plots


@pytest.fixture(autouse=True)
def _close_figures():
    plots.set_style()
    yield
    plt.close("all")


def _texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


def _check_labelled(fig, source_word="synthetic"):
    """Every visible axes has x and y labels, the figure has a title, and its source is stated."""
    axes = [a for a in fig.axes if a.get_visible()]
    assert axes
    for ax in axes:
        assert ax.get_xlabel().strip(), f"axes {ax.get_title()!r} has no x label"
        assert ax.get_ylabel().strip(), f"axes {ax.get_title()!r} has no y label"
    titles = [a.get_title() for a in axes] + ([fig._suptitle.get_text()] if fig._suptitle else [])
    assert any(t.strip() for t in titles)
    assert source_word in _texts(fig)


def _lines_data(ax):
    return [
        (ln.get_label(), np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float))
        for ln in ax.get_lines()
    ]


def test_pareto_front_hand_computed():
    # cost, score: (1, 1) (2, 3) (3, 2) (4, 4) (2, 3) duplicate; (3, 2) is dominated by (2, 3)
    cost = [1, 2, 3, 4, 2]
    score = [1, 3, 2, 4, 3]
    assert plots.pareto_front(cost, score).tolist() == [True, True, False, True, True]
    # equal cost, lower score is dominated; equal score, higher cost is dominated
    assert plots.pareto_front([1, 1], [2, 1]).tolist() == [True, False]
    assert plots.pareto_front([1, 2], [5, 5]).tolist() == [True, False]
    with pytest.raises(ValueError, match="1-D of one shape"):
        plots.pareto_front([1, 2], [1])


def test_pareto_front_against_brute_force():
    rng = np.random.default_rng(3)
    c, s = rng.integers(0, 6, 40), rng.integers(0, 6, 40)
    expected = [
        not any((c[j] <= c[i] and s[j] >= s[i]) and (c[j] < c[i] or s[j] > s[i]) for j in range(40))
        for i in range(40)
    ]
    assert plots.pareto_front(c, s).tolist() == expected


def test_families_and_modalities():
    assert [
        plots.family_of(m)
        for m in (
            "fc_late",
            "fcrn_early",
            "fcrn_gated_late",
            "attend_fusion_frames",
            "FCRN+gating",
            "Attend-Fusion",
            "FC late fusion",
            "svm",
        )
    ] == ["fc", "fcrn", "fcrn_gated", "attend_fusion", "fcrn_gated", "attend_fusion", "fc", "other"]
    assert [
        plots.modality_of(b) for b in ("mean_rgb", "std_audio", "attention (visual)", "fused")
    ] == ["visual", "audio", "visual", "fusion"]
    assert plots.model_color("attend_fusion_cross") == plots.FAMILY_COLORS["attend_fusion"]
    assert len(set(plots.MODALITY_COLORS.values())) == 3
    assert len(set(plots.FAMILY_COLORS.values())) == len(plots.FAMILY_COLORS)


def test_save_figure_writes_real_files(tmp_path):
    fig = plots.plot_frame_counts(np.arange(1, 301))
    written = plots.save_figure(fig, "frames", tmp_path / "figs")
    assert [p.name for p in written] == ["frames.png", "frames.svg"]
    png = written[0].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    # 150 dpi: the 7 x 4.2 inch default figure is ~1050 px wide (bbox "tight" trims a little)
    assert 800 < width < 1300 and 450 < height < 900
    assert "<svg" in written[1].read_text()[:500]
    with pytest.raises(ValueError, match="plain file stem"):
        plots.save_figure(fig, "../escape", tmp_path)
    with pytest.raises(ValueError, match="unsupported figure format"):
        plots.save_figure(fig, "x", tmp_path, formats=("docx",))


def test_label_frequency_is_sorted_rank_plot():
    fig = plots.plot_label_frequency([3, 0, 10, 1])
    _check_labelled(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    ((_, x, y),) = _lines_data(ax)
    assert x.tolist() == [1, 2, 3] and y.tolist() == [10, 3, 1]  # zero dropped, descending
    with pytest.raises(ValueError, match="no positive"):
        plots.plot_label_frequency([0, 0])


def test_vertical_counts_and_frame_histogram():
    fig = plots.plot_vertical_counts({"Games": 5, "Arts": 9, "Autos": 1})
    _check_labelled(fig)
    bars = fig.axes[0].patches
    assert [b.get_width() for b in bars] == [1, 5, 9]  # ascending: largest drawn on top
    fig = plots.plot_frame_counts([10, 10, 20, 300], bins=3, source="real")
    _check_labelled(fig, "YouTube-8M release")
    assert sum(p.get_height() for p in fig.axes[0].patches) == 4


def test_feature_distributions_one_panel_per_block_coloured_by_modality():
    rng = np.random.default_rng(0)
    blocks = {
        "mean_rgb": rng.normal(size=(20, 8)),
        "mean_audio": rng.normal(size=(20, 4)),
        "std_audio": rng.gamma(2.0, size=(20, 4)),
    }
    fig = plots.plot_feature_distributions(blocks)
    _check_labelled(fig)
    visible = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in visible] == [
        "mean_rgb (visual)",
        "mean_audio (audio)",
        "std_audio (audio)",
    ]
    colours = [matplotlib.colors.to_hex(a.patches[0].get_facecolor()) for a in visible]
    assert colours == [
        plots.MODALITY_COLORS["visual"].lower(),
        plots.MODALITY_COLORS["audio"].lower(),
        plots.MODALITY_COLORS["audio"].lower(),
    ]


def test_learning_curves_per_run():
    df = pd.DataFrame(
        {
            "epoch": [1, 2, 1, 2],
            "train_loss": [1.0, 0.5, 1.2, 0.7],
            "val_micro_f1": [10.0, 20.0, 5.0, 15.0],
            "model": ["fc_late"] * 2 + ["attend_fusion"] * 2,
        }
    )
    fig = plots.plot_learning_curves(df, hue="model")
    _check_labelled(fig)
    loss_ax, metric_ax = fig.axes
    lines = {lab: y.tolist() for lab, _, y in _lines_data(metric_ax)}
    assert lines == {"fc_late": [10.0, 20.0], "attend_fusion": [5.0, 15.0]}
    with pytest.raises(KeyError, match="no metric column"):
        plots.plot_learning_curves(df.drop(columns="val_micro_f1"))


def test_parameters_vs_width_marks_paper_counts():
    df = pd.DataFrame(
        {
            "width": [1, 2, 1, 2],
            "parameters": [1e6, 4e6, 2e6, 8e6],
            "model": ["fc_late", "fc_late", "attend_fusion", "attend_fusion"],
        }
    )
    fig = plots.plot_parameters_vs_width(df)
    _check_labelled(fig, "arithmetic")
    ys = [y[0] for lab, x, y in _lines_data(fig.axes[0]) if len(set(y)) == 1 and len(y) == 2]
    assert sorted(ys) == [72e6, 341e6]
    assert "paper: FC late fusion 341M" in _texts(fig) and "paper: Attend-Fusion 72M" in _texts(fig)


def test_comparison_mean_and_std_over_seeds_with_paper_markers():
    df = pd.DataFrame(
        {
            "model": ["a_fc_late"] * 3 + ["attend_fusion"] * 3,
            "seed": [0, 1, 2] * 2,
            "micro_f1": [1.0, 2.0, 6.0, 4.0, 4.0, 4.0],
        }
    )
    fig = plots.plot_comparison(df, paper={"attend_fusion": 75.64})
    _check_labelled(fig)
    ax = fig.axes[0]
    # error bars: mean 3 +- std(ddof=1) sqrt(7) for the first model
    caps = [c for c in ax.collections if isinstance(c, matplotlib.collections.LineCollection)]
    segments = [s for c in caps for s in c.get_segments()]
    spans = sorted(round(float(seg[1][0] - seg[0][0]), 6) for seg in segments)
    assert spans == sorted([0.0, round(2 * np.sqrt(7.0), 6)])
    # the paper's value (real data) in its own panel, never on the axis of ours
    star = [ln for a in fig.axes for ln in a.get_lines() if ln.get_marker() == "*"]
    assert len(star) == 1 and star[0].get_xdata()[0] == 75.64 and star[0].axes is fig.axes[1]
    assert fig.axes[1].get_title() == "the paper (real data)"
    with pytest.raises(ValueError, match="spread must be"):
        plots.plot_comparison(df, spread="iqr")


def test_pareto_plot_draws_the_front():
    df = pd.DataFrame(
        {"parameters": [1, 2, 3, 4], "micro_f1": [1, 3, 2, 4], "model": ["fc_late"] * 4}
    )
    fig = plots.plot_pareto(df)
    _check_labelled(fig)
    front = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "Pareto front"]
    assert len(front) == 1
    xs = sorted(set(np.asarray(front[0].get_xdata(), float).tolist()))
    assert xs == [1.0, 2.0, 4.0]
    # front=False (no member beyond the noise): the dots only, and the title claims no front
    fig = plots.plot_pareto(df, front=False)
    _check_labelled(fig)
    assert not [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "Pareto front"]
    assert "Pareto" not in fig.axes[0].get_title()
    assert len(fig.axes[0].collections) == 1  # the four dots of the one model


def test_vocabulary_scaling_and_interpretability_plots():
    df = pd.DataFrame(
        {"num_classes": [100, 100, 3862], "micro_f1": [50.0, 52.0, 40.0], "model": ["fc_late"] * 3}
    )
    fig = plots.plot_vocabulary_scaling(df)
    _check_labelled(fig)
    ((_, x, y),) = [d for d in _lines_data(fig.axes[0]) if d[0] == "fc_late"]
    assert x.tolist() == [100, 3862] and y.tolist() == [51.0, 40.0]  # seeds averaged

    fig = plots.plot_attention_timeline(
        {"attention (visual)": [1.0, 1.0, 2.0], "attention (audio)": [0.0, 0.0, 4.0]},
        spans=[(1, 3)],
    )
    _check_labelled(fig)
    data = {lab: y.tolist() for lab, _, y in _lines_data(fig.axes[0])}
    assert data["attention (visual)"] == [0.25, 0.25, 0.5] and data["attention (audio)"] == [
        0,
        0,
        1,
    ]
    with pytest.raises(ValueError, match="0 <= start < end"):
        plots.plot_attention_timeline({"audio": [1.0, 2.0]}, spans=[(2, 1)])

    share = pd.DataFrame(
        {"class": ["x", "y"], "audio_share": [0.25, 1.0], "true_audio_share": ["visual", "both"]}
    )
    fig = plots.plot_modality_share(share)
    _check_labelled(fig)
    ((_, tx, _),) = [d for d in _lines_data(fig.axes[0]) if d[0] == "true audio share"]
    assert tx.tolist() == [0.0, 0.5]
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        plots.plot_modality_share(share.assign(audio_share=[1.5, 0.0]))


def test_bad_inputs_are_clear_errors():
    with pytest.raises(KeyError, match="lacks column"):
        plots.plot_comparison(pd.DataFrame({"model": ["a"]}))
    with pytest.raises(ValueError, match="source must name"):
        plots.plot_frame_counts([1, 2], source="")


def test_token_readings_draw_each_class_where_its_truth_puts_it():
    classes = pd.DataFrame(
        {
            "modality": ["visual", "audio", "both", "visual"],
            "audio_weight": [0.2, 0.9, 0.5, np.nan],
            "spread_weight_visual": [0.3, 0.4, 0.6, 0.7],
            "spread_weight_audio": [0.1, 0.8, 0.9, 0.2],
            "truth_share_visual": [0.7, 0.5, 0.8, 0.9],
            "truth_share_audio": [0.4, 0.6, 0.95, 0.3],
        }
    )
    fig = plots.plot_token_readings(classes, note="m: converged")
    _check_labelled(fig)
    assert (
        "synthetic data" in fig._suptitle.get_text() and "m: converged" in fig._suptitle.get_text()
    )
    left, right = fig.axes
    dots = {c.get_label(): c.get_offsets() for c in left.collections}
    # one dot a read class, at its group's position, its weight as height
    assert dots["visual classes"][:, 1].tolist() == [0.2]
    assert dots["audio classes"][:, 1].tolist() == [0.9]
    assert abs(dots["both classes"][0, 0] - 2) <= 0.15
    points = {c.get_label(): np.asarray(c.get_offsets()) for c in right.collections}
    # visual tokens: the classes with visual evidence (visual, both, visual); audio: audio, both
    np.testing.assert_allclose(points["visual tokens"], [[0.7, 0.3], [0.8, 0.6], [0.9, 0.7]])
    np.testing.assert_allclose(points["audio tokens"], [[0.6, 0.8], [0.95, 0.9]])
    real = plots.plot_token_readings(classes, source="real")
    assert "real data" in real._suptitle.get_text()
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        plots.plot_token_readings(classes.assign(audio_weight=[1.5, 0, 0, 0]))
    with pytest.raises(KeyError, match="lacks column"):
        plots.plot_token_readings(classes.drop(columns="modality"))


def test_token_readings_without_truth_say_so():
    fig = plots.plot_token_readings(pd.DataFrame(), source="real")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("No ground truth" in t for t in texts)
    assert "real data" in fig._suptitle.get_text()
