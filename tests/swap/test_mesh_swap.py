"""MeshSwapper helpers: how far a turned head is still swapped."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from faceweave.swap.mesh_swap import _mip_level, _warp_texture, turn_fade


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
    assert _mip_level(small_x, small_y, 1.0) == 2
    warped = _warp_texture(texture, small_x, small_y, (64, 64))
    assert float(warped.std()) < 0.3 * float(texture.std())  # averaged, not a speckled subsample
    large_x, large_y = _scaled_maps(1.0, 10.0)  # whole atlas pixels
    assert _mip_level(large_x, large_y, 1.0) == 0
    sharp = _warp_texture(texture, large_x, large_y, (64, 64))
    assert float(sharp.std()) > 0.8 * float(texture.std())  # a face as large as the atlas keeps every pixel
