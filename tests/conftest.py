"""Shared fixtures: real public-domain portraits shipped by installed packages, and ../shared/testdata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from faceweave.engine import Bindings, BoundEngine, Engine
from faceweave.media.image_io import read_image
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
def still_engine() -> Engine:
    """A still-image engine with the default settings (models loaded once per session)."""
    return Engine.load(Settings())


@pytest.fixture(scope="session")
def hopper_bindings(still_engine: Engine) -> Bindings:
    """Grace Hopper as the source person, bound by `still_engine`."""
    return still_engine.bind([sample_path("hopper")])


@pytest.fixture(scope="session")
def hopper_swap(still_engine: Engine, hopper_bindings: Bindings) -> BoundEngine:
    """`still_engine` with Grace Hopper bound as the source."""
    return BoundEngine(still_engine, hopper_bindings)


@pytest.fixture(scope="session")
def testdata() -> Path:
    """../shared/testdata, or skip when this machine has none."""
    if not (TESTDATA / "images").is_dir():
        pytest.skip("../shared/testdata is not present on this machine")
    return TESTDATA
