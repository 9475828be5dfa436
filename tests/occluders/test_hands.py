"""Hands in front of faces stay in front: the mask, and the pipeline putting the hand's pixels back."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave.engine import BoundEngine
from faceweave.occluders import hands as hands_module
from faceweave.occluders.hands import HandDetector, hand_mask
from faceweave.samples import sample_path
from faceweave.settings import Settings

Image = npt.NDArray[np.uint8]


def _open_hand(centre: tuple[float, float], size: float) -> npt.NDArray[np.float32]:
    """21 MediaPipe-ordered landmarks of an upright open hand (wrist at the bottom), `size` px tall."""
    cx, cy = centre
    wrist = [(0.0, 0.5)]
    thumb = [(-0.2, 0.35), (-0.3, 0.2), (-0.38, 0.08), (-0.45, -0.02)]
    fingers = [(dx, y) for dx in (-0.12, 0.0, 0.12, 0.22) for y in (0.05, -0.15, -0.3, -0.45)]
    unit = np.array(wrist + thumb + fingers, np.float32)
    return (unit * size + [cx, cy]).astype(np.float32)


def test_no_hands_no_mask() -> None:
    assert hand_mask((100, 100), []) is None


def test_mask_covers_palm_and_fingertips_only() -> None:
    hand = _open_hand((100, 100), 100)
    mask = hand_mask((200, 200), [hand])
    assert mask is not None
    for x, y in hand:
        assert mask[round(float(y)), round(float(x))] == 255  # every landmark is under the mask
    assert mask[5, 5] == 0 and mask[195, 195] == 0
    assert 0.05 < (mask > 0).mean() < 0.5


def test_hand_over_the_face_is_kept(monkeypatch: pytest.MonkeyPatch, astronaut: Image) -> None:
    pipeline = BoundEngine.load(Settings(face_shape=0.0), sources=[sample_path("hopper")])
    face = pipeline.analyser.analyse(astronaut)[0]
    cheek = face.mesh[205, :2]  # the subject's right cheek
    hand = _open_hand((float(cheek[0]), float(cheek[1])), face.size * 0.5)
    monkeypatch.setattr(HandDetector, "__call__", lambda self, rgb: [hand])
    result = pipeline.process(astronaut).image
    mask = hand_mask(astronaut.shape[:2], [hand])
    assert mask is not None
    inner = cv2.erode(mask, np.ones((9, 9), np.uint8)) > 0  # away from the soft edge
    changed = np.abs(result.astype(int) - astronaut).max(axis=2)
    assert changed[inner].mean() < 2  # the hand's pixels are the original ones
    face_box = face.box.astype(int)
    face_area = changed[face_box[1] : face_box[3], face_box[0] : face_box[2]]
    assert face_area.mean() > 10  # while the face around it was swapped


def test_occluders_none_never_loads_hands(monkeypatch: pytest.MonkeyPatch, astronaut: Image) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("HandDetector must not be built with occluders='none'")

    monkeypatch.setattr(hands_module.HandDetector, "__init__", refuse)
    pipeline = BoundEngine.load(Settings(occluders="none"), sources=[sample_path("hopper")])
    assert pipeline.process(astronaut).swapped == (0,)
