"""``notebook.setup``, the one setup call of every notebook: bad parameters stop it with one
sentence that says what is wrong and what to pass (not a traceback deep in afkit)."""

import json

import pytest

from afkit.report import notebook


def fake_release(root, classes: int = 3):
    """A folder that looks like a release to setup: video/ and frame/ TFRecord names and a
    vocabulary of ``classes`` rows (setup checks its parameters before reading any record)."""
    for sub in ("video", "frame"):
        (root / sub).mkdir(parents=True)
        (root / sub / "train0000.tfrecord").write_bytes(b"")
    rows = "".join(f"{i},label{i}\n" for i in range(classes))
    (root / "vocabulary.csv").write_text("Index,Name\n" + rows)
    return root


def fake_store(store_dir, *, num_classes: int, source_dir):
    split = store_dir / "train"
    split.mkdir(parents=True)
    manifest = {
        "num_classes": num_classes,
        "split": "train",
        "sources": [
            {
                "path": str(source_dir / "frame" / "train0000.tfrecord"),
                "name": "train0000.tfrecord",
                "size": 0,
            }
        ],
    }
    (split / "manifest.json").write_text(json.dumps(manifest))
    return store_dir


def one_sentence(message: str) -> bool:
    return "\n" not in message and "Traceback" not in message


def test_unknown_profile(tmp_path):
    with pytest.raises(ValueError) as e:
        notebook.setup("fast", out_dir=tmp_path / "out")
    msg = str(e.value)
    assert "unknown profile 'fast'" in msg and "profile='smoke'" in msg and "'paper'" in msg
    assert one_sentence(msg)


def test_data_dir_that_does_not_exist(tmp_path):
    missing = tmp_path / "no-such-release"
    with pytest.raises(FileNotFoundError) as e:
        notebook.setup(
            "smoke", data_dir=missing, store_dir=tmp_path / "s", out_dir=tmp_path / "out"
        )
    msg = str(e.value)
    assert str(missing) in msg and "does not exist" in msg and "data_dir=None" in msg
    assert one_sentence(msg)
    assert not missing.exists()  # nothing was generated in a folder the user named by mistake


def test_folder_that_is_not_a_release(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    with pytest.raises(ValueError) as e:
        notebook.setup("smoke", data_dir=folder, store_dir=tmp_path / "s", out_dir=tmp_path / "out")
    msg = str(e.value)
    assert "is not a YouTube-8M release" in msg and "video/" in msg and "data_dir=None" in msg
    assert one_sentence(msg)


def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "train0000.tfrecord"
    f.write_bytes(b"")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        notebook.setup("smoke", data_dir=f, store_dir=tmp_path / "s", out_dir=tmp_path / "out")


def test_store_of_another_vocabulary(tmp_path):
    data = fake_release(tmp_path / "release", classes=3)
    stores = fake_store(tmp_path / "stores", num_classes=3862, source_dir=data)
    with pytest.raises(ValueError) as e:
        notebook.setup("smoke", data_dir=data, store_dir=stores, out_dir=tmp_path / "out")
    msg = str(e.value)
    assert "3862 classes" in msg and "has 3 (vocabulary.csv)" in msg and "pass the store_dir" in msg
    assert one_sentence(msg)


def test_store_built_from_other_data(tmp_path):
    data = fake_release(tmp_path / "release", classes=3)
    other = tmp_path / "other-release"
    stores = fake_store(tmp_path / "stores", num_classes=3, source_dir=other)
    with pytest.raises(ValueError) as e:
        notebook.setup("smoke", data_dir=data, store_dir=stores, out_dir=tmp_path / "out")
    msg = str(e.value)
    assert f"was built from {other}" in msg and str(data) in msg
    assert one_sentence(msg)


def test_good_parameters_resolve(tmp_path):
    data = fake_release(tmp_path / "release")
    got = notebook.check_parameters(
        "paper", data_dir=str(data), store_dir=tmp_path / "s", out_dir=tmp_path / "o"
    )
    assert got == (data.resolve(), (tmp_path / "s").resolve(), (tmp_path / "o").resolve())
    default_data, _, _ = notebook.check_parameters("smoke")
    assert default_data == notebook.REPO / "data" / "generated" / "smoke"
