"""Shared fixtures: real public-domain portraits shipped by installed packages, and ../shared/testdata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from faceweave.media.image_io import read_image
from faceweave.pipeline import Pipeline
from faceweave.samples import sample_path
from faceweave.settings import Settings

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"


@pytest.fixture(scope="session")
def hopper() -> npt.NDArray[np.uint8]:
    """Grace Hopper (matplotlib's sample data), BGR."""
    return read_image(sample_path("hopper")).image


@pytest.fixture(scope="session")
def astronaut() -> npt.NDArray[np.uint8]:
    """Eileen Collins (scikit-image's astronaut), BGR."""
    return read_image(sample_path("astronaut")).image


@pytest.fixture(scope="session")
def hopper_pipeline() -> Pipeline:
    """A still-image pipeline whose source is Grace Hopper (models loaded once per session)."""
    return Pipeline.from_settings(Settings(), sources=[sample_path("hopper")])


@pytest.fixture(scope="session")
def testdata() -> Path:
    """../shared/testdata, or skip when this machine has none."""
    if not (TESTDATA / "images").is_dir():
        pytest.skip("../shared/testdata is not present on this machine")
    return TESTDATA
