"""Glasses frames in front of faces: the detector, the target's occluder mask, and the pipeline keeping frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave.engine import BoundEngine
from faceweave.engine.chain import restore
from faceweave.engine.profile import occluder_kinds
from faceweave.faces import Face
from faceweave.geometry.topology import load_topology
from faceweave.media.image_io import read_image
from faceweave.occluders import glasses as glasses_module
from faceweave.occluders.glasses import GlassesFinder, GlassesZones, find_glasses
from faceweave.samples import sample_path
from faceweave.settings import Settings

Image = npt.NDArray[np.uint8]


def _face(pipeline: BoundEngine, image: Image) -> Face:
    faces = pipeline.analyser.analyse(image)
    return faces[int(np.argmax(faces.sizes))]


def _mask_share(mask: npt.NDArray[np.uint8] | None, face: Face) -> float:
    """Share of the face box under the mask."""
    if mask is None:
        return 0.0
    x0, y0, x1, y1 = np.round(face.box).astype(int)
    return float((mask[max(0, y0) : y1, max(0, x0) : x1] > 0).mean())


def _draw_glasses(image: Image, face: Face) -> npt.NDArray[np.uint8]:
    """Draws a black frame (two rims, a bridge, two arms) over the eyes; returns the drawn mask."""
    mesh = face.mesh[:, :2]
    thickness = max(2, round(0.03 * face.size))
    mask = np.zeros(image.shape[:2], np.uint8)
    rims = []
    for eye in ((33, 133, 159, 145), (362, 263, 386, 374)):  # outer/inner corner, upper and lower lid
        xs, ys = mesh[list(eye), 0], mesh[list(eye), 1]
        half_w, half_h = (xs.max() - xs.min()) * 0.75, (ys.max() - ys.min()) * 1.6 + 0.06 * face.size
        centre = (float(xs.mean()), float(ys.mean()))
        box = np.round([centre[0] - half_w, centre[1] - half_h, centre[0] + half_w, centre[1] + half_h]).astype(int)
        cv2.rectangle(mask, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), 255, thickness)
        rims.append(box)
    (left, right) = sorted(rims, key=lambda b: int(b[0]))
    bridge_y = int((left[1] + right[1]) / 2 + thickness)
    cv2.line(mask, (int(left[2]), bridge_y), (int(right[0]), bridge_y), 255, thickness)
    for x, y in ((int(left[0]), int(left[1]) + thickness), (int(right[2]), int(right[1]) + thickness)):
        temple = mesh[127] if x == int(left[0]) else mesh[356]
        cv2.line(mask, (x, y), (round(float(temple[0])), y), 255, thickness)
    image[mask > 0] = (20, 20, 25)
    return mask


@pytest.fixture(scope="module")
def finder() -> GlassesFinder:
    return GlassesFinder(load_topology())


def test_zones_are_where_glasses_sit() -> None:
    zones = GlassesZones.create(load_topology(), 256)
    assert zones.search.shape == (zones.rows.stop - zones.rows.start, 256)
    assert zones.bridge.any() and not (zones.bridge & ~zones.search).any()
    assert not (zones.search & zones.eyes).any()  # the eyes are never searched
    columns = np.flatnonzero(zones.bridge.any(axis=0))
    assert 0.35 * 256 < columns.mean() < 0.65 * 256  # the bridge box is over the nose


def test_band_of_the_wrong_size_is_refused() -> None:
    zones = GlassesZones.create(load_topology(), 256)
    with pytest.raises(ValueError, match="band must be"):
        find_glasses(np.zeros((256, 256, 3), np.uint8), zones)


def test_plain_skin_has_no_glasses() -> None:
    zones = GlassesZones.create(load_topology(), 256)
    band = np.full((*zones.search.shape, 3), (120, 140, 190), np.uint8)
    assert find_glasses(band, zones) is None


def test_hopper_wears_glasses(hopper_swap: BoundEngine, hopper: Image, finder: GlassesFinder) -> None:
    face = _face(hopper_swap, hopper)
    mask = finder(hopper, face)
    assert mask is not None
    share = _mask_share(mask, face)
    assert 0.03 < share < 0.25
    luma = cv2.cvtColor(hopper, cv2.COLOR_BGR2GRAY)
    x0, y0, x1, y1 = np.round(face.box).astype(int)
    face_luma = float(np.median(luma[y0:y1, x0:x1]))
    assert float(np.median(luma[mask > 0])) < 0.7 * face_luma  # the mask lies on her dark rims


def test_astronaut_wears_none(hopper_swap: BoundEngine, astronaut: Image, finder: GlassesFinder) -> None:
    assert finder(astronaut, _face(hopper_swap, astronaut)) is None


def test_drawn_frame_is_found(hopper_swap: BoundEngine, astronaut: Image, finder: GlassesFinder) -> None:
    image = astronaut.copy()
    face = _face(hopper_swap, image)
    drawn = _draw_glasses(image, face)
    mask = finder(image, face)
    assert mask is not None
    inner = cv2.erode(drawn, np.ones((3, 3), np.uint8)) > 0
    assert (mask[inner] > 0).mean() > 0.8  # the frame is covered ...
    assert (mask > 0).sum() < 3 * (drawn > 0).sum()  # ... by a mask not much larger than it


def test_target_keeps_its_drawn_frame(hopper_swap: BoundEngine, astronaut: Image) -> None:
    image = astronaut.copy()
    face = _face(hopper_swap, image)
    drawn = _draw_glasses(image, face)
    result = hopper_swap.process(image).image
    inner = cv2.erode(drawn, np.ones((3, 3), np.uint8)) > 0
    changed = np.abs(result.astype(int) - image).max(axis=2)
    assert np.median(changed[inner]) < 3  # the frame's pixels are the original ones
    assert (changed[inner] < 12).mean() > 0.9
    x0, y0, x1, y1 = np.round(face.box).astype(int)
    assert changed[y0:y1, x0:x1].mean() > 10  # while the face around it was swapped


def test_without_glasses_occluders_the_frame_is_painted_over(astronaut: Image) -> None:
    pipeline = BoundEngine.load(Settings(occluders="hands"), sources=[sample_path("hopper")])
    image = astronaut.copy()
    drawn = _draw_glasses(image, _face(pipeline, image))
    result = pipeline.process(image).image
    inner = cv2.erode(drawn, np.ones((3, 3), np.uint8)) > 0
    changed = np.abs(result.astype(int) - image).max(axis=2)
    assert np.median(changed[inner]) > 20  # the check above can fail: this is what the occluder step prevents


@pytest.mark.parametrize(
    ("occluders", "mode", "expected"),
    [
        ("auto", "still", (True, True)),  # stills: hands and glasses
        ("auto", "video", (False, False)),  # video and live: off by default, for speed and steadiness
        ("hands", "video", (True, False)),
        ("glasses", "still", (False, True)),
        ("glasses", "video", (False, True)),
        ("all", "video", (True, True)),
        ("none", "still", (False, False)),
    ],
)
def test_occluder_kinds(occluders: str, mode: str, expected: tuple[bool, bool]) -> None:
    assert occluder_kinds(occluders, mode) == expected  # type: ignore[arg-type]


def test_occluders_hands_never_builds_the_glasses_finder(monkeypatch: pytest.MonkeyPatch, astronaut: Image) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("GlassesFinder must not be built with occluders='hands'")

    monkeypatch.setattr(glasses_module.GlassesFinder, "__init__", refuse)
    pipeline = BoundEngine.load(Settings(occluders="hands"), sources=[sample_path("hopper")])
    assert pipeline.process(astronaut).swapped == (0,)


def test_restore_puts_back_only_the_masked_pixels() -> None:
    original = np.full((40, 50, 3), 10, np.uint8)
    result = np.full((40, 50, 3), 200, np.uint8)
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 10:30] = 255
    restored = restore(original, result, mask, softness=1.0)
    assert np.all(restored[13:17, 13:27] < 15)
    assert np.all(restored[30:, :] == 200) and np.all(restored[:, 40:] == 200)
    assert restore(original, result, np.zeros((40, 50), np.uint8)) is result


NO_GLASSES = [
    "obama_01.jpg",  # dark skin, strong brows
    "biden_02.jpg",  # deep wrinkles, glabella lines
    "rose_leslie_01.jpg",  # red hair over the temple
    "kit_harington_02.jpg",  # dark hair and beard, 3/4 view
    "deepface_C_01.jpg",  # older man, crow's feet, very large
    "deepface_D_01.jpg",  # dark background
    "alex_lacamoire_01.jpg",  # dark curly hair and beard
]


@pytest.mark.testdata
@pytest.mark.parametrize("name", NO_GLASSES)
def test_no_mask_on_faces_without_glasses(
    testdata: Path, hopper_swap: BoundEngine, finder: GlassesFinder, name: str
) -> None:
    image = read_image(testdata / "images" / name).image
    face = _face(hopper_swap, image)
    assert _mask_share(finder(image, face), face) < 0.005


@pytest.mark.testdata
@pytest.mark.parametrize("name", ["deepface_A_01.jpg", "deepface_A_02.jpg"])  # dark rectangular frames
def test_mask_on_faces_with_glasses(testdata: Path, hopper_swap: BoundEngine, finder: GlassesFinder, name: str) -> None:
    image = read_image(testdata / "images" / name).image
    face = _face(hopper_swap, image)
    assert 0.03 < _mask_share(finder(image, face), face) < 0.2
