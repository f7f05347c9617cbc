"""afkit.studies.claim_map: the worlds, the verdict, the prose (flips with the numbers), the
figure, the probe."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from afkit.core import paper
from afkit.data import synth  # noqa: E402
from afkit.studies import claim_map as cm  # noqa: E402


def test_claim_floor_is_the_papers_difference_minus_the_margin():
    assert paper.F1_DIFF == pytest.approx(-0.32)
    assert cm.CLAIM_FLOOR == pytest.approx(-1.32)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_world_grid(profile):
    assert len(cm.world_grid(profile)) == {"smoke": 4, "cpu": 13, "paper": 22}[profile]
    worlds = cm.world_grid(profile)
    names = [w.name for w in worlds]
    assert names[0] == "default" and len(set(names)) == len(names)
    default = synth.SynthProfile("x", 1, 1, 1, 1, 1, 1, 1, 1)
    for k in cm.KNOBS:  # the generator's defaults are the claim map's defaults
        assert cm._DEFAULTS[k] == getattr(default, k), k
    for knob, levels in cm.LEVELS[profile].items():
        assert cm._DEFAULTS[knob] in levels  # one level is the default world
        one = [w for w in worlds if w.varies == (knob,)]
        assert len(one) == len(levels) - 1
    inter = [w for w in worlds if len(w.varies) == 2]
    a, b = cm.INTERACTION
    assert len(inter) == (1 if profile == "smoke" else 4)
    for w in inter:  # the corners: each knob at an extreme level
        for k in (a, b):
            values = [cm._level_value(k, v) for v in cm.LEVELS[profile][k]]
            assert cm._level_value(k, w.knobs[k]) in (min(values), max(values))
    for w in worlds:  # every world is a valid SynthProfile
        cfg = synth._resolve(profile, w.overrides(profile))
        assert abs(sum(cfg.modality_fractions) - 1) < 1e-9
        for k, v in w.knobs.items():
            assert getattr(cfg, k) == v


def test_cpu_budget():
    """The cpu grid: 13 worlds; the search (3 arms x the protocol's rates) in the default world,
    3 arms in the 12 others."""
    from afkit.training import protocol

    assert len(cm.world_grid("cpu")) == 13
    assert cm.training_runs("cpu") == 3 * len(protocol.PROTOCOLS["cpu"].lrs) + 36
    assert cm.BASE_WORLDS["cpu"]["train_videos"] <= 2000
    assert cm.training_runs("smoke") == 6 + 3 * 3


@pytest.mark.parametrize(
    "diff,lo,hi,verdict",
    [
        (0.5, 0.1, 0.9, "reverses"),
        (-0.3, -1.0, 0.4, "holds"),
        (-1.32, -2.0, -0.5, "holds"),
        (-3.0, -4.0, -2.0, "fails"),
        (-1.5, -2.5, -1.0, "unclear"),
    ],
)
def test_claim_verdict(diff, lo, hi, verdict):
    assert cm.claim_verdict(diff, lo, hi) == verdict


def _table(diffs, std_share, half=0.4):
    rows = []
    worlds = cm.world_grid("cpu")
    for w, d, s in zip(worlds, diffs, std_share, strict=True):
        for b, shift in (("fc_late", 0.0), ("fc_late_matched", 1.0)):
            row = {
                "world": w.name,
                "group": w.group,
                "varies": "+".join(w.varies),
                "baseline": b,
                "params_af": 600_000,
                "params_fc": 3_000_000 if b == "fc_late" else 600_000,
                "param_ratio": 5.0 if b == "fc_late" else 1.0,
                "f1_af": 60.0,
                "f1_fc": 60.0 - d - shift,
                "f1_diff": d + shift,
                "f1_lo": d + shift - half,
                "f1_hi": d + shift + half,
                "gap_diff": d,
                "gap_lo": d - half,
                "gap_hi": d + half,
                "learned": True,
                "n_videos": 500,
                "probe_gap_mf": 30.0,
                "probe_gap_mfstd": 30.0 + s,
                "std_share": s,
            }
            row.update({k: cm._level_value(k, w.knobs.get(k, cm._DEFAULTS[k])) for k in cm.KNOBS})
            row["verdict"] = cm.claim_verdict(row["f1_diff"], row["f1_lo"], row["f1_hi"])
            rows.append(row)
    return pd.DataFrame(rows)


def test_describe_flips_with_the_numbers():
    n = len(cm.world_grid("cpu"))
    share = np.linspace(0, 12, n)
    good = _table(np.linspace(-1.0, 0.0, n), share)  # all within the floor, rising with the share
    bad = _table(np.linspace(-3.0, -8.0, n), share)  # all far below, falling with the share
    tg, tb = (
        cm.answer(good, {"std_share": 6.0, "probe_gap_mfstd": 36.0}),
        cm.answer(bad, {"std_share": 6.0, "probe_gap_mfstd": 36.0}),
    )
    assert f"It holds in all {n} worlds" in tg and "holds in none" not in tg
    assert f"It holds in none of the {n} worlds: it fails in {n}" in tb
    assert "the claim should hold there" in tg and "the claim should fail there" in tb
    assert "rho +1.00" in tg and "rho -1.00" in tb
    mixed = _table(np.r_[np.full(n - 3, -0.5), [2.0, -5.0, -1.5]], share, half=0.8)
    tm = cm.answer(mixed)
    assert f"It holds in {n - 3} of {n} worlds" in tm
    assert "reverses in 1" in tm and "fails in 1" in tm and "unclear in 1" in tm
    assert "extrapolation" in cm.answer(good, {"std_share": 40.0, "probe_gap_mfstd": 70.0})
    real = cm.answer(good, {"std_share": 6.0, "probe_gap_mfstd": 36.0}, source="real")
    assert real.startswith("**Answer (synthetic worlds") and "the data at hand: real" in real
    no_std = cm.answer(good, {"std_share": float("nan"), "probe_gap_mfstd": float("nan")})
    assert "cannot be measured" in no_std


def test_a_table_read_back_from_csv(tmp_path):
    n = len(cm.world_grid("cpu"))
    t = _table(np.linspace(-2, 1, n), np.arange(n))
    t.to_csv(tmp_path / "t.csv", index=False)
    back = pd.read_csv(tmp_path / "t.csv")  # the default world's empty "varies" reads as NaN
    assert cm.answer(back) == cm.answer(t)
    assert len(cm.plot_claim_map(back).axes) == len(cm.KNOBS) + 1


def test_plot_claim_map():
    n = len(cm.world_grid("cpu"))
    fig = cm.plot_claim_map(_table(np.linspace(-2, 1, n), np.arange(n)))
    assert len(fig.axes) == len(cm.KNOBS) + 1
    texts = [t.get_text() for t in fig.texts]
    assert any("synthetic" in t for t in texts)
    ax = fig.axes[0]
    assert any(
        abs(line.get_ydata()[0] - paper.F1_DIFF) < 1e-9
        for line in ax.get_lines()
        if len(line.get_ydata()) == 2
    )


def test_label_information_sees_the_std(tmp_path):
    """On a world where mean pooling keeps almost nothing (beta 0), the STD carries most of
    the probe's GAP; the probe runs on a plain store."""
    from afkit.data import featurize

    data, st = tmp_path / "data", tmp_path / "store"
    synth.ensure_dataset(
        data,
        "smoke",
        0,
        progress=False,
        linear_share=0.0,
        **{**cm.BASE_WORLDS["smoke"], "train_videos": 300},
    )
    featurize.build(st, data, feature_set="mean_std", progress=False)
    info = cm.label_information(st)
    assert info["std_share"] == pytest.approx(info["probe_gap_mfstd"] - info["probe_gap_mf"])
    assert info["std_share"] > 2.0, info
