"""Untrusted runs and outputs (issue 28, points 1, 5, 8 and 9): a checkpoint that would run
code, of another format, damaged, or resumed on other data; NaN scores in a submission; a
report link to ``javascript:``; ids that would forge CSV rows; bad notebook parameters."""

from __future__ import annotations

import html

import numpy as np
import pytest
import torch

from afkit.data import featurize
from afkit.interpret import attribution
from afkit.io.records import write_records
from afkit.report import markup, notebook
from afkit.training import inference as runs
from afkit.training import train

RUN = dict(model="fc_late", epochs=1, batch_size=16, num_threads=1, progress=False, features="mean")


def _data(root, seed):
    rng = np.random.default_rng(seed)
    (root / "video").mkdir(parents=True)
    (root / "vocabulary.csv").write_text("Index,Name\n" + "".join(f"{i},c\n" for i in range(8)))
    for split, n in (("train", 48), ("validate", 16)):
        recs = [
            {
                "id": f"{split}{i:03d}",
                "labels": np.unique(rng.integers(0, 8, 2)).astype(np.int64),
                "mean_rgb": rng.standard_normal(1024).astype(np.float32),
                "mean_audio": rng.standard_normal(128).astype(np.float32),
            }
            for i in range(n)
        ]
        write_records(root / "video" / f"{split}0000.tfrecord", recs)
    return root


def _store(root, seed):
    featurize.build(root / "store", _data(root / "data", seed), feature_set="mean", progress=False)
    return root / "store"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-run")
    store = _store(root, 0)
    train.train(train.make_config("smoke", **RUN), store, root / "run")
    return root / "run", store, root


class _Payload:
    """Unpickling this creates a file: what a hostile checkpoint would do (and worse)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


# ----------------------------------------------------------------------------- point 1


def test_a_checkpoint_that_would_run_code_is_refused(run, tmp_path):
    folder, store, _ = run
    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    for name in (train.CHECKPOINT, train.FINAL):
        good = torch.load(folder / name, map_location="cpu", weights_only=True)
        torch.save({**good, "extra": _Payload(marker)}, hostile / name)
    with pytest.raises(ValueError, match=r"not a safe afkit checkpoint.*weights_only=True"):
        train.train(train.make_config("smoke", **RUN), store, hostile, resume=True)
    with pytest.raises(ValueError, match=r"model.pt: not a safe afkit checkpoint"):
        runs.load_run(hostile)
    with pytest.raises(Exception, match="(?i)weights.only"):
        attribution._state_dict(hostile / train.FINAL)
    assert not marker.exists(), "loading a checkpoint ran its code"


@pytest.mark.parametrize(
    "edit,match",
    [
        (
            lambda c: c.update(format=1),
            r"format 1, this afkit reads format 2 .*train the run again",
        ),
        (lambda c: c.update(format=3), r"format 3, this afkit reads format 2: written by a newer"),
        (lambda c: c.pop("format"), r"format None"),
        (lambda c: c.pop("optimizer"), r"damaged checkpoint: it lacks \['optimizer'\]"),
        (lambda c: c.pop("rng"), r"damaged checkpoint: it lacks \['rng'\]"),
    ],
)
def test_a_checkpoint_of_another_format_or_damaged_is_a_clear_error(run, tmp_path, edit, match):
    folder, store, _ = run
    ckpt = torch.load(folder / train.CHECKPOINT, map_location="cpu", weights_only=True)
    edit(ckpt)
    out = tmp_path / "r"
    out.mkdir()
    torch.save(ckpt, out / train.CHECKPOINT)
    with pytest.raises(ValueError, match=match):
        train.train(train.make_config("smoke", **RUN), store, out, resume=True)


def test_a_final_model_of_another_format_is_a_clear_error(run, tmp_path):
    folder, _, _ = run
    state = torch.load(folder / train.FINAL, map_location="cpu", weights_only=True)
    state.pop("format")
    (tmp_path / "r").mkdir()
    torch.save(state, tmp_path / "r" / train.FINAL)
    with pytest.raises(ValueError, match="checkpoint format None, this afkit reads format 2"):
        runs.load_run(tmp_path / "r")
    assert runs.load_run(folder)[1].model == "fc_late"  # a run of this afkit loads


def test_resume_on_another_store_of_the_same_shape_is_refused(run, tmp_path):
    folder, store, _ = run
    other = _store(tmp_path, 1)  # the same sizes and vocabulary, other data
    out = tmp_path / "run"
    out.mkdir()
    (out / train.CHECKPOINT).write_bytes((folder / train.CHECKPOINT).read_bytes())
    with pytest.raises(ValueError, match=r"is not the store the checkpoint trained on"):
        train.train(train.make_config("smoke", **RUN), other, out, resume=True)
    out2 = tmp_path / "same"
    out2.mkdir()
    (out2 / train.CHECKPOINT).write_bytes((folder / train.CHECKPOINT).read_bytes())
    train.train(train.make_config("smoke", **RUN), store, out2, resume=True)  # the same: fine


def test_the_checkpoint_holds_tensors_and_plain_values_only(run):
    folder, _, _ = run
    ckpt = torch.load(folder / train.CHECKPOINT, map_location="cpu", weights_only=True)
    assert ckpt["format"] == train.CHECKPOINT_FORMAT == 2
    assert set(ckpt["store"]) == {"train", "validate"}


# ----------------------------------------------------------------------------- point 5


def test_nan_scores_never_reach_a_submission(tmp_path):
    scores = np.full((3, 5), 0.5, np.float32)
    scores[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 video\(s\) have non-finite scores .* 'b'"):
        runs.write_submission(tmp_path / "s.csv", ["a", "b", "c"], scores)
    assert not (tmp_path / "s.csv").exists()


# ----------------------------------------------------------------------------- point 8


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>x</script>",
        "vbscript:x",
        "\x01javascript:alert(1)",
        " javascript:alert(1)".strip() + "//",
    ],
)
def test_markdown_links_to_other_schemes_are_not_made_live(url):
    out = markup.markdown_to_html(f"see [here]({url}) now")
    assert "<a " not in out and "here" in out
    assert "href" not in out


@pytest.mark.parametrize(
    "url", ["https://x.org/a?b=1", "http://x", "mailto:a@b.c", "#top", "f/a.csv"]
)
def test_markdown_links_that_are_safe_stay_links(url):
    out = markup.markdown_to_html(f"see [here]({url}) now")
    assert f'<a href="{html.escape(url)}">here</a>' in out


def test_submission_ids_cannot_forge_rows(tmp_path):
    ids = ["plain", "a,b", 'q"uote', "new\nline,9 0.99"]
    scores = np.arange(12, dtype=np.float32).reshape(4, 3) / 12
    runs.write_submission(tmp_path / "s.csv", ids, scores, top_k=2)
    back = runs.read_submission(tmp_path / "s.csv")
    assert list(back) == ids
    assert back["a,b"] == [
        (2, pytest.approx(5 / 12, rel=1e-5)),
        (1, pytest.approx(4 / 12, rel=1e-5)),
    ]
    import csv

    with open(tmp_path / "s.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 5 and [r[0] for r in rows[1:]] == ids  # an independent CSV reader


# ----------------------------------------------------------------------------- point 9


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(seed=-1), r"seed must be an integer in \[0, 2\*\*32\)"),
        (dict(seed=2**32), r"seed must be an integer"),
        (dict(seed=1.5), r"seed must be an integer"),
        (dict(seed=True), r"seed must be an integer"),
        (dict(device="gpu"), r"device must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'"),
        (dict(device="cuda:x"), r"device must be"),
    ],
)
def test_setup_checks_seed_and_device_before_any_work(tmp_path, monkeypatch, kw, match):
    def no_work(*a, **k):
        raise AssertionError("data generated before the parameters were checked")

    monkeypatch.setattr(notebook, "ensure_data", no_work)
    with pytest.raises(ValueError, match=match):
        notebook.setup(
            "smoke", data_dir=None, store_dir=tmp_path / "s", out_dir=tmp_path / "o", **kw
        )
    assert not (tmp_path / "s").exists() and not (tmp_path / "o").exists()
