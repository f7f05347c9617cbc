"""The repository's paths, defined once for the tests and the helper scripts."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
FIXTURES = TESTS / "fixtures"
TF_FIXTURES = FIXTURES / "tf"  # written by TensorFlow: python -m tests.helpers.make_tf_fixtures
NOTEBOOK_FIXTURES = FIXTURES / "notebooks"
