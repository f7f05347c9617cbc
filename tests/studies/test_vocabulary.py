"""Notebook 07's fixed training budget: the same training videos at every vocabulary, and the
labels a class counted from the store against the generator's own ground truth."""

import pytest

from afkit.data import featurize, synth
from afkit.studies import arms


def test_the_budget_is_the_same_at_every_vocabulary():
    for profile in ("smoke", "cpu", "paper"):
        n = arms.VOCAB_DATA[profile]["train_videos"]
        sizes = [arms.vocabulary_data(profile, c) for c in arms.VOCABULARIES[profile]]
        assert {d["train_videos"] for d in sizes} == {n}
        assert {d["test_videos"] for d in sizes} == {max(n // 4, 32)}
    assert set(arms.TRAINED_VOCABULARIES["cpu"]) >= {1000, 3862}
    # N * mean_labels / C, by hand: 1500 * 3 / 1000 and 1500 * 3 / 3862
    assert arms.expected_labels_per_class("cpu", 1000) == pytest.approx(4.5)
    assert arms.expected_labels_per_class("cpu", 3862) == pytest.approx(4500 / 3862)


def test_train_label_counts_match_the_ground_truth(tmp_path):
    c = 40
    sizes = dict(arms.vocabulary_data("smoke", c), train_videos=60, validate_videos=16)
    synth.generate(tmp_path / "data", "smoke", 0, progress=False, num_classes=c, **sizes)
    featurize.build(tmp_path / "stores", tmp_path / "data", feature_set="mean_std", progress=False)
    got = arms.train_label_counts(tmp_path / "stores")
    _, spans = synth.load_ground_truth(tmp_path / "data", "train")
    per_class = spans.groupby("label").size()
    assert got["train_videos"] == spans["id"].nunique() == 60
    assert got["labels_per_class"] == pytest.approx(len(spans) / c)
    assert got["classes_unseen"] == pytest.approx(1 - len(per_class) / c)


def test_a_world_of_another_budget_is_kept_beside_not_rebuilt_over(tmp_path, monkeypatch):
    """Notebook 07 rerun after its budget changed (e.g. by an upgrade): the new world gets its
    own data, store and runs next to the old one, which stays as it was (a store of other
    sources is never rebuilt over: featurize would refuse)."""
    kw = dict(sizes=(20,), trained=(20,), models=("logistic",), progress=False)
    first = arms.vocabulary_experiment(tmp_path, "smoke", **kw)
    old = tmp_path / "stores" / "20-240"
    manifest = sorted(p.name for p in old.rglob("*"))
    monkeypatch.setitem(arms.VOCAB_DATA, "smoke", dict(arms.VOCAB_DATA["smoke"], train_videos=120))
    second = arms.vocabulary_experiment(tmp_path, "smoke", **kw)
    assert (tmp_path / "stores" / "20-120").is_dir()
    assert sorted(p.name for p in old.rglob("*")) == manifest
    assert list(first["train_videos"]) == [240] and list(second["train_videos"]) == [120]
