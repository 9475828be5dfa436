"""The demo's sample portraits: found in their packages, and the astronaut shipped for a plain install."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

import faceweave.samples as samples
from faceweave.engine import Engine
from faceweave.errors import MediaError
from faceweave.media.image_io import read_image


def test_without_scikit_image_the_shipped_astronaut_is_used(
    monkeypatch: pytest.MonkeyPatch, still_engine: Engine
) -> None:  # issue 20: `faceweave demo` failed after a plain `pip install faceweave`
    real = importlib.util.find_spec

    def no_skimage(name: str, *args: Any) -> Any:
        return None if name == "skimage" else real(name, *args)

    monkeypatch.setattr(samples.importlib.util, "find_spec", no_skimage)
    path = samples.sample_path("astronaut")
    assert path.parent.name == "data" and path.suffix == ".jpg"
    assert len(still_engine.analyser.analyse(read_image(path).image)) == 1


def test_a_missing_package_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(samples.importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(MediaError, match="pip install matplotlib"):
        samples.sample_path("hopper")
    monkeypatch.setattr(samples, "_SHIPPED", {})
    with pytest.raises(MediaError, match="pip install scikit-image"):  # it said `pip install skimage`, a stub
        samples.sample_path("astronaut")
