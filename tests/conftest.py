"""Shared test fixtures (keep small)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.paths import TF_FIXTURES
from tests.helpers.videos import make_videos


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


@pytest.fixture
def videos():
    """Factory: ``videos(n, seed=0, frames=None)`` -> list of video dicts (see make_videos)."""
    return make_videos
