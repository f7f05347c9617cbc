"""Shared test fixtures (keep small)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.paths import TF_FIXTURES


@pytest.fixture(autouse=True, scope="session")
def _afkit_cache_dir(tmp_path_factory):
    """Keep afkit's cache (record indexes of read-only data) out of the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AFKIT_CACHE_DIR", str(tmp_path_factory.mktemp("afkit-cache")))
    yield
    mp.undo()


@pytest.fixture
def tf_fixtures() -> Path:
    """tests/fixtures/tf: files written and read by TensorFlow
    (tests/helpers/make_tf_fixtures.py)."""
    assert (TF_FIXTURES / "expected.json").is_file(), (
        "run python -m tests.helpers.make_tf_fixtures (see its docstring)"
    )
    return TF_FIXTURES


def make_videos(n: int, *, seed: int = 0, frames=None, start: int = 0) -> list[dict]:
    """``n`` random video dicts in the afkit.io.records layout: video-level, or frame-level with
    ``frames`` (an int or a list of frame counts)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = {
            "id": f"vid{start + i:05d}",
            "labels": np.sort(rng.choice(3862, size=i % 4, replace=False)).astype(np.int64),
        }
        if frames is None:
            v["mean_rgb"] = rng.standard_normal(1024).astype(np.float32)
            v["mean_audio"] = rng.standard_normal(128).astype(np.float32)
        else:
            t = frames if isinstance(frames, int) else frames[i % len(frames)]
            v["rgb"] = rng.integers(0, 256, (t, 1024), dtype=np.uint8)
            v["audio"] = rng.integers(0, 256, (t, 128), dtype=np.uint8)
        out.append(v)
    return out


@pytest.fixture
def videos():
    """Factory: ``videos(n, seed=0, frames=None)`` -> list of video dicts (see make_videos)."""
    return make_videos
