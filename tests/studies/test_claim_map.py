"""afkit.studies.claim_map: the size axis and its worlds, the two-sided outcome, the crossing,
the prose (flips with the numbers), the figure, the data at hand."""

import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from afkit.core import paper  # noqa: E402
from afkit.data import synth  # noqa: E402
from afkit.studies import claim_map as cm  # noqa: E402


@pytest.mark.parametrize(
    "lo,hi,expected",
    [
        (-0.9, 0.9, "holds"),
        (-1.0, 1.0, "holds"),  # the band's edges belong to it
        (1.1, 3.0, "AF ahead"),
        (-4.0, -1.2, "FC ahead"),
        (0.5, 1.5, "inconclusive"),  # straddles +margin: not parity, not beyond it
        (-1.5, 0.0, "inconclusive"),
        (-3.0, 3.0, "inconclusive"),
    ],
)
def test_outcome_is_two_sided(lo, hi, expected):
    assert cm.PARITY_MARGIN == 1.0
    assert cm.outcome(lo, hi) == expected


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_world_grid(profile):
    worlds = cm.world_grid(profile)
    names = [w.name for w in worlds]
    assert len(set(names)) == len(names)
    axis = [w for w in worlds if w.group == "size"]
    assert [w.size for w in axis] == list(cm.VIDEOS_PER_CLASS[profile])
    assert all(not w.knobs for w in axis)
    moved = [w for w in worlds if w.group != "size"]
    if cm.KNOB_WORLDS[profile] is None:
        assert moved == []
    else:
        size, knob, levels = cm.KNOB_WORLDS[profile]
        assert [w.knobs[knob] for w in moved] == list(levels) and {w.size for w in moved} == {size}
        default = getattr(synth.SynthProfile("x", 1, 1, 1, 1, 1, 1, 1, 1), knob)
        assert default not in levels  # the default level is the axis world at that size
        assert size in cm.VIDEOS_PER_CLASS[profile]
    for w in worlds:  # every world is a valid SynthProfile of the base world's size
        cfg = synth._resolve(profile, w.overrides(profile))
        assert cfg.num_classes == cm.BASE_WORLDS[profile]["num_classes"]
        assert cfg.train_videos == math.ceil(w.size * cfg.num_classes / cfg.mean_labels)


def test_train_videos_and_batch():
    # 256 positive labels a class, 30 classes, 3 labels a video: 256 * 30 / 3 = 2560
    assert cm.train_videos("cpu", 256) == 2560
    assert cm.train_videos("smoke", 6) == 32  # 6 * 16 / 3
    assert cm.train_videos("paper", 5) == 1667  # 5 * 1000 / 3 = 1666.7, rounded up
    assert cm.batch_size("cpu", 2560) == 128  # the profile's batch
    assert cm.batch_size("cpu", 640) == 64  # 640 // 8 = 80 -> the power of two below
    assert cm.batch_size("cpu", 320) == 32  # 40 -> 32: at least eight batches an epoch
    assert cm.batch_size("cpu", 80) == cm.MIN_BATCH == 8


def test_cpu_axis_and_budget():
    """The cpu axis runs from a few videos a class to 200+ and past YouTube-8M's threshold, on
    the budget of the comment above VIDEOS_PER_CLASS (5,040 training videos at one seed)."""
    sizes = cm.VIDEOS_PER_CLASS["cpu"]
    assert min(sizes) <= 10 and max(sizes) >= 200 and max(sizes) >= cm.YT8M_FROM
    assert sum(cm.train_videos("cpu", s) for s in sizes) == 5040
    t = cm.worlds_table(cm.world_grid("cpu"), "cpu")
    assert list(t["train_videos"]) == [cm.train_videos("cpu", s) for s in sizes]


def _table(diffs, vpcs=(5, 10, 20, 40, 80, 160), half=0.5, knobs=None, bad=()):
    """A claim-map table: the size axis vs both baselines (the equal-size one 10 points lower),
    plus ``knobs`` ({level: diff}) at the third size; ``bad``: sizes whose FC arm did not
    converge."""
    rows = []

    def row(world, group, size, vpc, b, d, extra):
        lo, hi = d - half, d + half
        ok = size not in bad
        return {
            "world": world,
            "group": group,
            "target_videos_per_class": size,
            "videos_per_class": vpc,
            "train_videos": int(vpc * 50 / 3),
            "num_classes": 50,
            "baseline": b,
            "seeds": 1,
            "param_ratio": 4.8 if b == "fc_late" else 1.0,
            "f1_af": 60.0,
            "f1_fc": 60.0 - d,
            "f1_diff": d,
            "f1_lo": lo,
            "f1_hi": hi,
            "gap_diff": d / 2,
            "gap_lo": d / 2 - half,
            "gap_hi": d / 2 + half,
            "counts": ok,
            "status": "both learned and converged" if ok else f"{b} did not converge",
            "outcome": cm.outcome(lo, hi),
            **extra,
        }

    for v, d in zip(vpcs, diffs, strict=True):
        for b, shift in (("fc_late", 0.0), ("fc_late at AF size", 10.0)):
            rows.append(row(f"{v} a class", "size", v, v * 0.98, b, d + shift, {}))
    for level, d in (knobs or {}).items():
        v = vpcs[2]
        for b, shift in (("fc_late", 0.0), ("fc_late at AF size", 10.0)):
            w = f"{v} a class, linear_share={level:g}"
            rows.append(
                row(w, "linear_share", v, v * 0.98, b, d + shift, {"knob_linear_share": level})
            )
    return pd.DataFrame(rows)


AHEAD = [5.0, 4.0, 3.5, 3.0, 2.5, 2.0]  # Attend-Fusion ahead at every size
OVERTAKEN = [4.0, 3.0, 0.68, -1.32, -2.0, -2.5]  # FC late fusion overtakes at 40 a class
PARITY = [3.0, 2.0, 0.2, -0.3, -0.2, 0.1]  # parity from 20 a class on, never below -0.32
BELOW = [-1.0, -1.5, -2.0, -2.5, -3.0, -3.5]  # below the paper's -0.32 everywhere


def test_crossing_interpolates_in_log_videos_per_class():
    t = _table(OVERTAKEN)
    c = cm.crossing(t)
    # +0.68 at 20 and -1.32 at 40 (x 0.98): -0.32 is half way, so sqrt(19.6 * 39.2)
    assert c["videos_per_class"] == pytest.approx(math.sqrt(19.6 * 39.2))
    assert c["between_targets"] == (20, 40) and c["direction"] == "falls"
    assert cm.crossing(_table(AHEAD)) is None and cm.crossing(_table(BELOW)) is None
    assert cm.deciding_sizes(t) == [20, 40]
    assert cm.deciding_sizes(_table(AHEAD)) == [80, 160]  # the nearest to -0.32
    assert cm.deciding_sizes(_table(BELOW)) == [5, 10]


def test_crossing_is_the_last_one_when_noise_makes_the_curve_wander():
    # crosses -0.32 three times: down between 10 and 20, up between 20 and 40, down between 80
    # and 160; the last decides the large-data side (and the seeds go there)
    wandering = [1.0, 0.5, -1.0, 0.0, 0.2, -0.84]
    c = cm.crossing(_table(wandering))
    assert c["crossings"] == 3 and c["between_targets"] == (80, 160)
    assert c["videos_per_class"] == pytest.approx(math.sqrt(80 * 0.98 * 160 * 0.98))
    assert cm.deciding_sizes(_table(wandering)) == [80, 160]
    assert "the last of its 3 crossings" in cm.answer(_table(wandering))
    assert cm.crossing(_table(OVERTAKEN))["crossings"] == 1


def test_curve_at():
    t = _table(OVERTAKEN)
    mid = cm.curve_at(t, math.sqrt(19.6 * 39.2))  # half way in log
    assert mid["f1_diff"] == pytest.approx(-0.32) and mid["between"] == (19.6, 39.2)
    assert mid["f1_hi"] - mid["f1_lo"] == pytest.approx(1.0)
    assert cm.curve_at(t, 39.2)["f1_diff"] == pytest.approx(-1.32)
    assert cm.curve_at(t, 1000.0) is None and cm.curve_at(t, 1.0) is None


def test_answer_flips_with_the_numbers():
    ahead, over, below = (cm.answer(_table(d)) for d in (AHEAD, OVERTAKEN, BELOW))
    assert "Attend-Fusion is ahead beyond the margin (the claim is exceeded, not matched) at " in (
        ahead
    )
    assert "the claim holds (parity)" not in ahead  # AF ahead is never called "holds"
    assert (
        "No crossing of the paper's -0.32 within the sizes tried: the difference stays above"
        in (ahead)
    )
    assert "falls through the paper's -0.32 between 20 and 39 videos a class, at about 28" in over
    # +0.68 +- 0.5 and -1.32 +- 0.5 each straddle an edge of the +-1 band
    assert "the interval straddles an edge of the band (inconclusive) at 20 and 39" in over
    parity = cm.answer(_table(PARITY))
    assert "the claim holds (parity) at 20, 39, 78 and 157 videos a class" in parity
    assert "No crossing" in parity and "stays above it" in parity
    assert "FC late fusion is ahead beyond the margin (the claim fails) at 78 and 157" in over
    assert "stays below it" in below
    assert "falls from +5.00 to +2.00" in ahead and "falls from -1.00 to -3.50" in below
    assert "reaches into it (up to 157)" in ahead
    short = cm.answer(_table(AHEAD[:4], vpcs=(5, 10, 20, 40)))
    assert "stops short of it (at 39)" in short
    assert "Every arm learned and converged" in ahead
    nc = cm.answer(_table(AHEAD, bad=(10,)))
    assert "10 a class vs fc_late: fc_late did not converge" in nc and "Every arm" not in nc
    assert "at 5, 10 (fc_late did not converge), 20" in nc  # named where the sentence uses it


def test_answer_knob_clause():
    near = cm.answer(_table(AHEAD, knobs={0.05: 3.3, 1.0: 3.8}))
    far = cm.answer(_table(AHEAD, knobs={0.05: 1.0, 1.0: 6.0}))
    assert "linear_share from 0.05 to 1 moves the difference from +3.30 to +3.80" in near
    assert "within the noise" in near and "beyond the noise" in far
    assert "the size axis spans 3.00 points" in near


def test_answer_at_hand_prediction_against_measured():
    t = _table(OVERTAKEN)
    hand = {"videos_per_class": math.sqrt(19.6 * 39.2), "videos": 900, "num_classes": 50}
    inside = cm.answer(t, {**hand, "measured": _measured(-0.5, 0.4)})
    outside = cm.answer(t, {**hand, "measured": _measured(+2.0, 0.4)})
    absent = cm.answer(t, {**hand, "measured": None})
    assert "the size axis predicts -0.32 [-0.82, +0.18]" in inside
    assert "the prediction lies inside the measured interval" in inside
    assert "misses the measured difference by -2.32 points" in outside
    assert "results file is absent" in absent
    beyond = cm.answer(t, {**hand, "videos_per_class": 500.0, "measured": None})
    assert "outside the axis (5 to 157): the curve makes no prediction" in beyond
    p = cm.prediction_table(t, {**hand, "measured": _measured(2.0, 0.4)})
    assert list(p["outcome"]) == ["holds", "AF ahead"]


def _measured(d, half):
    return {"f1_diff": d, "f1_lo": d - half, "f1_hi": d + half, "seeds": 3, "baseline": "fc_late"}


def test_a_table_read_back_from_csv(tmp_path):
    t = _table(OVERTAKEN, knobs={0.05: 1.0, 1.0: 2.0})
    t.to_csv(tmp_path / "t.csv", index=False)
    back = pd.read_csv(tmp_path / "t.csv")
    assert cm.answer(back) == cm.answer(t)


def test_plot_claim_map():
    fig = cm.plot_claim_map(
        _table(OVERTAKEN, knobs={1.0: 2.0}, bad=(10,)),
        {"videos_per_class": 30.0, "measured": _measured(-0.5, 0.4)},
    )
    f1, gap = fig.axes
    assert f1.get_xscale() == "log" and gap.get_xscale() == "log"
    assert any(
        len(line.get_ydata()) == 2 and abs(line.get_ydata()[0] - paper.F1_DIFF) < 1e-9
        for line in f1.get_lines()
    )
    band = [p for p in f1.patches if p.get_alpha() == 0.15]
    assert len(band) == 1
    assert band[0].get_y() == pytest.approx(-1.0) and band[0].get_height() == pytest.approx(2.0)
    assert any("synthetic" in t.get_text() for t in fig.texts)


def test_videos_per_class_and_the_data_at_hand(tmp_path):
    """Measured on a real store against a count of its labels; 04's bootstrap read back in
    points; absent without notebook 04's results."""
    from afkit.data import featurize, store

    data, st = tmp_path / "data", tmp_path / "store"
    world = cm.world_grid("smoke")[0]
    synth.ensure_dataset(data, "smoke", 0, progress=False, **world.overrides("smoke"))
    featurize.build(st, data, feature_set="mean_std", progress=False)
    train = store.open_store(st / "train")
    labels = sum(len(train.labels(i)) for i in range(len(train)))
    got = cm.videos_per_class(st)
    assert got["videos_per_class"] == pytest.approx(labels / train.num_classes)
    assert got["videos"] == len(train) == cm.train_videos("smoke", world.size)
    out = tmp_path / "out"
    assert cm.data_at_hand(st, out)["measured"] is None
    (out / "results").mkdir(parents=True)
    ci = {"micro_f1_diff": -0.0123, "micro_f1_lo": -0.02, "micro_f1_hi": -0.004, "seeds_a": 3}
    (out / "results" / "04_comparison.json").write_text(json.dumps({"data": {"bootstrap": ci}}))
    m = cm.data_at_hand(st, out)["measured"]
    assert m["f1_diff"] == pytest.approx(-1.23) and m["f1_lo"] == pytest.approx(-2.0)
    assert m["seeds"] == 1  # seeds_b missing: the fewer of the two


def test_outcomes_in_the_table_follow_the_rule():
    t = _table(OVERTAKEN)
    assert list(t["outcome"]) == [cm.outcome(a, b) for a, b in zip(t.f1_lo, t.f1_hi, strict=True)]
    assert np.isin(t["outcome"], cm.OUTCOMES).all()
