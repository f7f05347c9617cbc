"""afkit.models.reconstruction: the 341M / 72M arithmetic, cross-checked against counted models."""

import itertools

import pytest

from afkit.models import attend_fusion as AF
from afkit.models import reconstruction as R
from afkit.models import registry as M


def lin(i, o):
    return i * o + o


def fc_late_by_hand(vis, aud, classes, shared=False):
    hidden = 2 * lin(8192, 8192)
    towers = lin(vis, 8192) + hidden + lin(aud, 8192) + hidden
    return towers + (lin(2 * 8192, classes) if shared else 2 * lin(8192, classes))


def test_fc_late_table_shows_each_hypothesis():
    table = R.fc_late_table()
    assert len(table) == 8
    got = {(r.features, r.num_classes, r.combine): r.params for r in table.itertuples()}
    for (features, classes, combine), params in got.items():
        s = 2 if features == "mean_std" else 1
        assert params == fc_late_by_hand(1024 * s, 128 * s, classes, shared=combine == "concat")
    assert got[("mean", 3862, "logits")] == 341_204_524
    assert got[("mean", 3862, "concat")] == 341_204_524 - 3862
    assert round(got[("mean_std", 3862, "logits")] / 1e6, 1) == 350.6
    assert round(got[("mean", 4716, "logits")] / 1e6, 1) == 355.2
    rounds = {k for k, r in zip(got, table["rounds_to_341M"], strict=True) if r}
    assert rounds == {("mean", 3862, "logits"), ("mean", 3862, "concat")}


@pytest.mark.parametrize("profile", ["paper", "smoke"])
def test_closed_forms_match_counted_registry(profile):
    for name in M.list_models():
        model = M.build(name, profile, device="meta")
        assert R.closed_form_params(model.config) == M.count_parameters(model), name


VARIANTS = [
    ("fc_late", dict(features="mean_std", combine="concat")),
    ("fcrn_gated_early", dict(gating="every", depth=2, hidden=96)),
    ("fcrn_gated_audio", dict(features="mean_std", num_classes=4716)),
    ("attend_fusion", dict(encoder_depth=2, tokens=8, attention_width=48, heads=3, head_width=40)),
    ("attend_fusion", dict(features="mean_std", residual=False)),
    ("attend_fusion_early", dict(features="mean_std", stat_tokens=True, tokens=2)),
    ("attend_fusion_stats", dict(attention="cross")),
    ("attend_fusion_noattn", dict(features="mean_std", stat_tokens=True, tokens=1)),
    ("attend_fusion_frames", dict(encoder_depth=3, attention=False)),
]


@pytest.mark.parametrize("name,overrides", VARIANTS)
def test_closed_forms_match_counted_variants(name, overrides):
    model = M.build(name, "smoke", device="meta", **overrides)
    assert R.closed_form_params(model.config) == M.count_parameters(model)


def test_search_rows_are_within_tolerance_and_real():
    search = R.attend_fusion_search()
    assert set(search["hypothesis"]) == set(R.HYPOTHESES)
    assert (search["params"].sub(72e6).abs() <= 0.01 * 72e6).all()
    # every row recounted from a config, and a sample of rows built and counted on meta
    for i, row in enumerate(search.itertuples()):
        cfg = AF.AttendFusionConfig(
            features=row.features,
            num_classes=row.num_classes,
            stat_tokens=row.stat_tokens,
            encoder_width=row.encoder_width,
            encoder_depth=row.encoder_depth,
            tokens=row.tokens,
            attention_width=row.attention_width,
            heads=1,
            head_width=row.head_width,
        )
        assert cfg.num_tokens == row.num_tokens >= 2
        assert R.attend_fusion_params(cfg) == row.params
        if i % 97 == 0:
            assert M.count_parameters(M.model_from_config(cfg, device="meta")) == row.params


def test_search_is_complete_on_a_slice():
    """Brute force by hand over the grid for mean inputs, 3862 classes, one encoder layer."""
    search = R.attend_fusion_search(hypotheses={"mean, 3862": ("mean", 3862, False)})
    got = {
        (r.encoder_width, r.tokens, r.attention_width, r.head_width)
        for r in search.itertuples()
        if r.encoder_depth == 1
    }
    want = set()
    for E, k, A, H in itertools.product(
        range(512, 8193, 512),
        (2, 4, 8, 16),
        (256, 512, 1024, 2048, 3072, 4096),
        range(512, 8193, 512),
    ):
        d = E // k
        n = (
            lin(1024, E)
            + lin(128, E)
            + 2 * (3 * lin(d, A) + lin(A, d))
            + lin(2 * E, H)
            + lin(H, 3862)
        )
        if abs(n - 72_000_000) <= 720_000:
            want.add((E, k, A, H))
    assert got == want and (2048, 2, 1024, 7680) in got


def test_default_is_chosen_from_the_search_and_built_by_the_paper_profile():
    row, reason = R.choose_attend_fusion()
    paper = M.model_config("attend_fusion", "paper")
    assert (
        row.encoder_width,
        row.encoder_depth,
        row.tokens,
        row.attention_width,
        row.head_width,
    ) == (
        paper.encoder_width,
        paper.encoder_depth,
        paper.tokens,
        paper.attention_width,
        paper.head_width,
    )
    assert row.hypothesis == "mean, 3862" and paper.features == R.PAPER_FEATURES == "mean"
    assert row.params == M.count_parameters(M.build("attend_fusion", device="meta")) == 71_889_174
    assert "71,889,174" in reason and "1024" in reason and "our reconstruction" in reason
    assert R.reason == reason
    assert M.model_config("fc_late", "paper").features == "mean"


def test_main_prints_and_writes_csv(tmp_path, capsys):
    assert R.main(["--csv", str(tmp_path), "--profile", "smoke", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "341204524" in out and "Default paper-size Attend-Fusion" in out
    import pandas as pd

    fc = pd.read_csv(tmp_path / "params_fc_late.csv")
    assert fc.loc[0, "params"] == 341_204_524
    models = pd.read_csv(tmp_path / "params_models_smoke.csv")
    assert list(models["model"]) == M.list_models() and models["matches"].all()
    assert len(pd.read_csv(tmp_path / "params_attend_fusion_search.csv")) == len(
        R.attend_fusion_search()
    )
    assert "Readings of the attention" in out and "`modality_tokens`" in out
    readings = pd.read_csv(tmp_path / "params_readings_smoke.csv")
    assert (
        set(R.READING_MODELS) < set(readings["reading"])
        and (readings["params"] == readings["closed_form"]).all()
    )
    assert len(pd.read_csv(tmp_path / "params_readings_search.csv")) == sum(
        len(R.reading_search(r)) for r in R.READING_MODELS
    )
