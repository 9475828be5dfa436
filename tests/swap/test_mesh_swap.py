"""MeshSwapper helpers: how far a turned head is still swapped."""

from __future__ import annotations

import pytest

from faceweave.swap.mesh_swap import turn_fade


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
