"""MeshSwapper helpers: how far a turned head is still swapped."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave.engine import Engine
from faceweave.faces import Face
from faceweave.swap.mesh_swap import AtlasLevels, _atlas_step, _warp_texture, mip_choice, turn_fade, up_sample_maps
from faceweave.swap.source import SourceIdentity


@pytest.mark.parametrize(
    ("yaw", "pitch", "expected"),
    [
        (0.0, 0.0, 1.0),  # frontal: full swap
        (-55.0, 10.0, 1.0),  # well turned but supported
        (67.5, 0.0, 0.5),  # half-way through the yaw fade
        (90.0, 0.0, 0.0),  # profile: no swap rather than a smeared half-face
        (0.0, -70.0, 0.0),  # looking far down
    ],
)
def test_turn_fade(yaw: float, pitch: float, expected: float) -> None:
    assert turn_fade(yaw, pitch) == pytest.approx(expected)


def _scaled_maps(step: float, offset: float, side: int = 64) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Work-grid maps that look the atlas up `step` atlas pixels apart (a face `step` times smaller than it)."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    return (xs * step + offset).astype(np.float32), (ys * step + offset).astype(np.float32)


def test_small_faces_sample_a_filtered_atlas_instead_of_aliasing() -> None:
    rng = np.random.default_rng(5)
    texture = rng.integers(0, 256, (512, 512, 3)).astype(np.uint8)  # detail finer than a small face can show
    small_x, small_y = _scaled_maps(7.0, 10.3)
    assert _atlas_step(small_x, small_y, 1.0) == pytest.approx(7.0)
    assert mip_choice(7.0)[0] == 2
    warped = _warp_texture(texture, small_x, small_y, cv2.merge([small_x, small_y]), AtlasLevels())
    assert float(warped.std()) < 0.3 * float(texture.std())  # averaged, not a speckled subsample
    large_x, large_y = _scaled_maps(1.0, 10.0)  # whole atlas pixels
    assert mip_choice(_atlas_step(large_x, large_y, 1.0)) == (0, 0.0)
    sharp = _warp_texture(texture, large_x, large_y, cv2.merge([large_x, large_y]), AtlasLevels())
    assert float(sharp.std()) > 0.8 * float(texture.std())  # a face as large as the atlas keeps every pixel


def test_subpixel_motion_of_a_textured_source_does_not_shimmer() -> None:
    """Below a halving (here 1.9 atlas pixels a step) the rest of the reduction is band-limited: a face moving by a
    fraction of a pixel changes far less than a plain bilinear look-up would (the flicker on textured sources)."""
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (512, 512, 3)).astype(np.uint8), (0, 0), 0.7)
    level, sigma = mip_choice(1.9)
    assert level == 0 and sigma > 0

    def change(levels: AtlasLevels | None) -> float:
        renders = []
        for offset in (40.0, 40.95):  # the face moved half an output pixel
            xs, ys = _scaled_maps(1.9, offset, side=128)
            if levels is None:
                renders.append(cv2.remap(texture, xs, ys, cv2.INTER_LINEAR).astype(np.float32))
            else:
                renders.append(_warp_texture(texture, xs, ys, cv2.merge([xs, ys]), levels).astype(np.float32))
        moved = np.abs(renders[1][:-1, :-1] - (renders[0][:-1, :-1] + renders[0][1:, 1:]) / 2)
        return float(moved.mean())

    assert change(AtlasLevels()) < 0.6 * change(None)


def test_atlas_levels_are_cached_per_texture_and_never_served_for_another() -> None:
    levels = AtlasLevels(size=2)
    first = np.full((64, 64, 3), 100, np.uint8)
    blurred = levels(first, 1, 0.8)
    assert blurred.shape == (32, 32, 3) and levels(first, 1, 0.8) is blurred  # made once
    assert levels(first, 0, 0.0) is first  # nothing to filter
    other = np.full((64, 64, 3), 200, np.uint8)
    assert int(levels(other, 1, 0.8)[0, 0, 0]) == 200


@pytest.fixture(scope="module")
def large_astronaut(still_engine: Engine, astronaut: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], Face]:
    """Eileen Collins at 3×: a face larger than the work grid, whose maps are up-sampled."""
    image = cv2.resize(astronaut, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    faces = still_engine.analyser.analyse(image)
    return image, faces[int(np.argmax(faces.sizes))]


def test_the_swap_stays_inside_the_face_outline(
    still_engine: Engine, hopper: npt.NDArray[np.uint8], large_astronaut: tuple[npt.NDArray[np.uint8], Face]
) -> None:
    """Past the target face's outline the frame is left as it was, however the source looked beyond its own face:
    Hopper with auburn hair painted over her forehead top. Before, the feathered alpha spread past the outline and
    laid what the atlas held there over the frame (a line of hair colour along the forehead top, a glow of skin
    over the background beside a turned face)."""
    topology = still_engine.topology
    source_faces = still_engine.analyser.analyse(hopper)
    source_face = source_faces[int(np.argmax(source_faces.sizes))]
    painted = hopper.copy()
    top = np.round(source_face.mesh[topology.forehead_top, :2]).astype(np.int32)
    cv2.polylines(painted, [top[np.argsort(top[:, 0])]], False, (40, 70, 150), round(0.08 * source_face.size))
    identity = SourceIdentity.from_faces([(painted, source_face)], topology, ["painted"])
    image, face = large_astronaut
    swapper = still_engine.mesh_swapper
    layer = swapper.render(image, face, identity)
    assert layer is not None
    result = swapper.compose(image, layer, swapper.recolour(layer, face), face)  # no face-shape warp
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(face.mesh[topology.oval, :2]).astype(np.int32)], 1)
    change = np.abs(result.astype(np.float32) - image.astype(np.float32)).mean(axis=2)
    beyond = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    within = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    assert float(change[(beyond > 1) & (beyond <= 0.04 * face.size)].mean()) < 0.6  # before: 1.0
    assert float(change[within > 0.1 * face.size].mean()) > 10  # while the face itself changed


def test_up_sampled_maps_do_not_mix_the_face_edge_with_the_outside() -> None:
    """A face's maps up-sampled from the work grid: pixels along its edges look the atlas up where the face's own
    map continues, not part-way toward the -1 of the outside (a plain resize did: a line of pixels along every edge
    looked up atlas texels half-way to its corner)."""
    side, step = 100, 2.5
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    inside = (xs - 50) ** 2 + (ys - 50) ** 2 < 40**2
    small_x = np.where(inside, 100 + step * xs, -1).astype(np.float32)
    small_y = np.where(inside, 80 + step * ys, -1).astype(np.float32)
    positions = up_sample_maps(small_x, small_y, (250, 250))
    big_y, big_x = np.mgrid[0:250, 0:250].astype(np.float32)
    work_x, work_y = (big_x + 0.5) / 2.5 - 0.5, (big_y + 0.5) / 2.5 - 0.5  # where each pixel lies on the work grid
    reached = positions[..., 0] >= 0
    assert reached.sum() > 0.4 * 250 * 250
    error_x = np.abs(positions[..., 0] - (100 + step * work_x))[reached]
    error_y = np.abs(positions[..., 1] - (80 + step * work_y))[reached]
    assert max(float(error_x.max()), float(error_y.max())) < step  # within one work-grid step (plain resize: ~300)
    assert np.all(positions[~reached] == -1)
