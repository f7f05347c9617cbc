"""The store the training and protocol tests share."""

from pathlib import Path

import pytest

from afkit.data import featurize
from tests.helpers.training_data import make_frame_data


@pytest.fixture(scope="package")
def store_dir(tmp_path_factory) -> Path:
    """Features (mean_std) and frames of ``make_frame_data``'s default set: 24 classes, 192 train,
    48 validate and 40 test videos."""
    root = tmp_path_factory.mktemp("train")
    data = make_frame_data(root / "data")
    featurize.build(root / "store", data, feature_set="mean_std", frames=True, progress=False)
    return root / "store"
