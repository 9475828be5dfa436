"""The source atlas: the source's own occluders (glasses frames, glare, hair over the forehead and cheek edges) are
taken out."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave.engine import BoundEngine
from faceweave.faces import Face
from faceweave.geometry.topology import load_topology
from faceweave.occluders.glasses import GlassesZones
from faceweave.swap.source import ATLAS_PX, AtlasGeometry, SourceIdentity, fill_from_neighbours, fill_with_detail

Image = npt.NDArray[np.uint8]


def _face(pipeline: BoundEngine, image: Image) -> Face:
    faces = pipeline.analyser.analyse(image)
    return faces[int(np.argmax(faces.sizes))]


def _identity(pipeline: BoundEngine, image: Image, border_mask: bool = True) -> SourceIdentity:
    return SourceIdentity.from_faces([(image, _face(pipeline, image))], load_topology(), ["x"], border_mask=border_mask)


def _dark_share(texture: Image, zones: GlassesZones) -> float:
    """Share of the eye band (search zone) darker than a third of the band's median luma: frame-black pixels."""
    luma = cv2.cvtColor(texture[zones.rows], cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    band = luma[zones.search]
    return float((band < np.median(band) / 3).mean())


@pytest.fixture(scope="module")
def hopper_atlases(hopper_swap: BoundEngine, hopper: Image) -> tuple[SourceIdentity, SourceIdentity]:
    """Grace Hopper's atlas as it was photographed (no occluder removal) and as the swap uses it."""
    return _identity(hopper_swap, hopper, border_mask=False), _identity(hopper_swap, hopper)


def test_hopper_frames_are_filled_with_skin(hopper_atlases: tuple[SourceIdentity, SourceIdentity]) -> None:
    raw, cleaned = hopper_atlases
    zones = GlassesZones.create(load_topology(), ATLAS_PX)
    assert _dark_share(raw.texture, zones) > 0.04  # her black browline rims are in the photo
    assert _dark_share(cleaned.texture, zones) < 0.005  # and (almost) none of it is left


def test_hopper_eyes_are_kept(hopper_atlases: tuple[SourceIdentity, SourceIdentity]) -> None:
    raw, cleaned = hopper_atlases
    topology = load_topology()
    zones = GlassesZones.create(topology, ATLAS_PX)
    openings = np.zeros((ATLAS_PX, ATLAS_PX), bool)
    points = topology.uv * (ATLAS_PX - 1)
    for eye in topology.features[2:4]:
        hull = cv2.convexHull(np.round(points[eye]).astype(np.int32))
        mask = np.zeros((ATLAS_PX, ATLAS_PX), np.uint8)
        cv2.fillConvexPoly(mask, hull, 1)
        openings |= mask > 0
    assert openings[zones.rows].sum() > 500
    changed = np.abs(raw.texture.astype(int) - cleaned.texture).max(axis=2)
    assert np.mean(changed[openings] > 2) < 0.02  # eyes, lids and lashes as photographed


def test_frame_over_the_brows_lets_the_target_brows_show(
    hopper_atlases: tuple[SourceIdentity, SourceIdentity],
) -> None:
    _, cleaned = hopper_atlases
    zones = GlassesZones.create(load_topology(), ATLAS_PX)
    brows = np.zeros((ATLAS_PX, ATLAS_PX), bool)
    brows[zones.rows] = zones.brows
    assert cleaned.alpha[brows].mean() < 128  # her rims hide her brows: mostly the target's own brows there


def test_hair_over_the_forehead_is_not_painted(hopper_swap: BoundEngine, hopper: Image) -> None:
    face = _face(hopper_swap, hopper)
    start, end = (np.round(face.mesh[i, :2]).astype(int) for i in (54, 284))  # across the forehead
    painted = hopper.copy()
    # A lock of red hair: darker and more saturated than her skin, of the same hue.
    cv2.line(
        painted,
        (int(start[0]), int(start[1])),
        (int(end[0]), int(end[1])),
        (20, 60, 170),
        max(3, round(0.05 * face.size)),
    )
    points = load_topology().uv * (ATLAS_PX - 1)
    lock = np.zeros((ATLAS_PX, ATLAS_PX), np.uint8)
    a, b = (np.round(points[i]).astype(int) for i in (54, 284))
    cv2.line(lock, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, 9)
    inner = (lock > 0) & (np.abs(np.arange(ATLAS_PX) - ATLAS_PX / 2) < 0.3 * ATLAS_PX)[None, :]
    clean = _identity(hopper_swap, hopper)
    assert clean.alpha[inner].mean() > 150  # her forehead is painted where no hair lies ...
    assert _identity(hopper_swap, painted).alpha[inner].mean() < 40  # ... and not under the lock


def test_hair_hanging_over_the_cheek_edges_is_not_painted(hopper_swap: BoundEngine, hopper: Image) -> None:
    """Red hair down the sides of the face, below the eyes and beyond their outer corners (where a turned target's
    near cheek would stretch it into a streak), is taken out like hair over the forehead."""
    face = _face(hopper_swap, hopper)
    painted = hopper.copy()
    points = load_topology().uv * (ATLAS_PX - 1)
    locks = np.zeros((ATLAS_PX, ATLAS_PX), np.uint8)
    for top, bottom in ((187, 192), (411, 416)):  # down each cheek, outside the eye corners
        start, end = (np.round(face.mesh[i, :2]).astype(int) for i in (top, bottom))
        thickness = max(3, round(0.05 * face.size))
        cv2.line(painted, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])), (20, 60, 170), thickness)
        a, b = (np.round(points[i]).astype(int) for i in (top, bottom))
        cv2.line(locks, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, 9)
    assert _identity(hopper_swap, hopper).alpha[locks > 0].mean() > 200  # her cheeks are painted ...
    assert _identity(hopper_swap, painted).alpha[locks > 0].mean() < 60  # ... and not under the locks


def test_hair_reaching_the_brow_tails_is_not_painted(hopper_swap: BoundEngine, hopper: Image) -> None:
    """Red hair over the temples that touches the outer ends of the brows (rose_leslie_02's) is hair too: only the
    brows themselves are spared by the hair test, not the wider margin the skin test gives the features."""
    face = _face(hopper_swap, hopper)
    painted = hopper.copy()
    points = load_topology().uv * (ATLAS_PX - 1)
    locks = np.zeros((ATLAS_PX, ATLAS_PX), np.uint8)
    for tail, temple in ((46, 139), (276, 368), (70, 71), (300, 301)):  # from each brow's outer end outward
        start, end = (np.round(face.mesh[i, :2]).astype(int) for i in (tail, temple))
        thickness = max(3, round(0.04 * face.size))
        cv2.line(painted, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])), (20, 60, 170), thickness)
        a, b = (np.round(points[i]).astype(int) for i in (tail, temple))
        cv2.line(locks, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, 7)
    assert _identity(hopper_swap, hopper).alpha[locks > 0].mean() > 140
    assert _identity(hopper_swap, painted).alpha[locks > 0].mean() < 70  # was ~150: kept as "brow"


def test_fill_with_detail_keeps_known_pixels_and_adds_texture() -> None:
    rng = np.random.default_rng(0)
    image = np.clip(128 + rng.normal(0, 12, (64, 64, 3)), 0, 255).astype(np.uint8)
    image[28:36] = 0  # a black bar across a textured patch
    hidden = np.zeros((64, 64), bool)
    hidden[27:37] = True
    avoid = np.zeros_like(hidden)
    filled = fill_with_detail(image, hidden, avoid)
    smooth = fill_from_neighbours(image, ~hidden)
    assert np.array_equal(filled[~hidden], image[~hidden])
    assert abs(float(filled[hidden].mean()) - 128) < 8  # the bar is gone, the skin tone is back
    assert filled[hidden].std() > 3 * smooth[hidden].std()  # and it is not a flat smear


def test_fill_with_detail_borrows_nothing_from_avoided_pixels() -> None:
    image = np.full((32, 32, 3), 120, np.uint8)
    image[:, 20:] = 0  # e.g. an eye opening to the right of the hidden strip
    image[:, 20::2] = 255
    hidden = np.zeros((32, 32), bool)
    hidden[:, 14:20] = True
    avoid = np.zeros_like(hidden)
    avoid[:, 20:] = True
    filled = fill_with_detail(image, hidden, avoid)
    assert filled[:, 14:18].astype(int).std() < 12  # no stripes mirrored in from the avoided side


def test_lighting_skin_marks_cheeks_not_pupils_and_travels_with_alpha_and_band(
    hopper_atlases: tuple[SourceIdentity, SourceIdentity],
) -> None:
    """The source's skin likelihood is computed once, in atlas space, and remapped with alpha and band in one call."""
    atlas = hopper_atlases[1]
    points = AtlasGeometry.create(load_topology(), ATLAS_PX).points
    cheeks = [atlas.skin[int(y), int(x)] for x, y in points[[50, 280, 205, 425], :2]]
    pupils = [atlas.skin[int(y), int(x)] for x, y in points[[468, 473], :2]]
    assert min(cheeks) > 200 and max(pupils) < 60, (cheeks, pupils)
    assert atlas.masks.shape == (ATLAS_PX, ATLAS_PX, 3)
    assert (atlas.masks[..., 0] == atlas.alpha).all() and (atlas.masks[..., 1] == atlas.band).all()
    assert (atlas.masks[..., 2] == atlas.skin).all()
