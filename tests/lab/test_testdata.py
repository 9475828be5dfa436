"""Slow end-to-end checks on ../shared/testdata (skipped when absent; run by `make test-all`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceweave.analysis.analyser import FaceAnalyser
from faceweave.engine import Engine
from faceweave.lab.eval import load_photos, run_pairs, summarise
from faceweave.media.image_io import read_image
from faceweave.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.testdata]


@pytest.mark.parametrize(
    ("name", "at_least"),
    [
        ("group_six_adults.jpg", 6),  # dark skin tones, glasses
        ("group_children.jpg", 8),  # eight small faces
        ("group_elderly_family.jpg", 6),  # small faces in a 500 px photo (dlib re-scan)
        ("group_three_men.jpg", 3),  # glasses, grimace
        ("noface_dogs_collage.jpg", 0),  # dog faces are not human faces
    ],
)
def test_group_photos(testdata: Path, name: str, at_least: int) -> None:
    faces = FaceAnalyser(Settings()).analyse(read_image(testdata / "images" / name).image)
    assert len(faces) >= at_least
    if at_least == 0:
        assert len(faces) == 0


def test_identity_moves_to_the_source_on_real_pairs(testdata: Path, tmp_path: Path) -> None:
    folder = tmp_path / "subset"
    folder.mkdir()
    for name in ("obama_01.jpg", "biden_02.jpg", "rose_leslie_02.jpg", "deepface_D_01.jpg", "deepface_B_01.jpg"):
        (folder / name).symlink_to(testdata / "images" / name)
    engine = Engine.load(Settings(selector="largest"))
    pairs = [pair for pair, _ in run_pairs(engine, load_photos(folder, engine))]
    summary = summarise(pairs)
    assert summary["pairs"] == 20
    assert summary["closer_to_source_rate"] >= 0.85
    assert summary["mean_landmark_error"] <= 0.03
