"""MeshSwapper helpers: how far a turned head is still swapped."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave.faces import Face
from faceweave.pipeline import Pipeline
from faceweave.swap.mesh_swap import AtlasLevels, _atlas_step, _warp_texture, mip_choice, turn_fade
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
    warped = _warp_texture(texture, small_x, small_y, (64, 64), AtlasLevels())
    assert float(warped.std()) < 0.3 * float(texture.std())  # averaged, not a speckled subsample
    large_x, large_y = _scaled_maps(1.0, 10.0)  # whole atlas pixels
    assert mip_choice(_atlas_step(large_x, large_y, 1.0)) == (0, 0.0)
    sharp = _warp_texture(texture, large_x, large_y, (64, 64), AtlasLevels())
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
                renders.append(_warp_texture(texture, xs, ys, (128, 128), levels).astype(np.float32))
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
def large_astronaut(hopper_pipeline: Pipeline, astronaut: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], Face]:
    """Eileen Collins at 3×: a face larger than the work grid, whose maps are up-sampled."""
    image = cv2.resize(astronaut, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    faces = hopper_pipeline.analyser.analyse(image)
    return image, faces[int(np.argmax(faces.sizes))]


def test_the_feathered_edge_continues_the_face_not_the_hair_above_it(
    hopper_pipeline: Pipeline, hopper: npt.NDArray[np.uint8], large_astronaut: tuple[npt.NDArray[np.uint8], Face]
) -> None:
    """Just past the face's outline, where the feathered alpha still reaches, the rendered layer holds the colours
    of the face's edge, not of what lay beyond the source's face. Hopper with auburn hair painted over her forehead
    top (the hair is faded out of the swap): before, the layer there held the hair's colour (extrapolated beyond
    the atlas's face, and mixed in by up-sampled maps), a thin line along the forehead top of the swap."""
    topology = hopper_pipeline.swapper.topology
    source_faces = hopper_pipeline.analyser.analyse(hopper)
    source_face = source_faces[int(np.argmax(source_faces.sizes))]
    painted = hopper.copy()
    top = np.round(source_face.mesh[topology.forehead_top, :2]).astype(np.int32)
    cv2.polylines(painted, [top[np.argsort(top[:, 0])]], False, (40, 70, 150), round(0.08 * source_face.size))
    identity = SourceIdentity.from_faces([(painted, source_face)], topology, ["painted"])
    image, face = large_astronaut
    layer = hopper_pipeline.swapper.render(image, face, identity)
    assert layer is not None and layer.region.scale < 0.9
    h, w = layer.region.shape_hw
    colour = cv2.resize(layer.face, (w, h)).astype(np.float32)
    alpha = cv2.resize(layer.alpha, (w, h))
    inside = np.zeros((h, w), np.uint8)
    outline = face.mesh[topology.oval, :2] - (layer.region.x0, layer.region.y0)
    cv2.fillPoly(inside, [np.round(outline).astype(np.int32)], 1)
    distance_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    distance_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    upper = np.arange(h)[:, None] < outline[:, 1].min() + 0.1 * face.size
    beyond = colour[upper & (distance_out > 1) & (distance_out <= 0.04 * face.size)].mean(axis=0)
    band = upper & (distance_in > 1) & (distance_in <= 0.1 * face.size)
    edge = (colour[band] * alpha[band, None]).sum(axis=0) / alpha[band].sum()  # the colour the swap shows there
    assert float(np.abs(beyond - edge).max()) < 15, (beyond, edge)
