"""Face shape transfer: pose-free shape comparison, outline-only moves, a background warp that does not tear."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from faceweave.engine import BoundEngine
from faceweave.geometry.topology import Topology, load_topology
from faceweave.samples import sample_path
from faceweave.settings import Settings
from faceweave.swap.shape import (
    MAX_MOVE,
    NO_YAW,
    RING,
    normalise_shape,
    outline_moves,
    outline_weights,
    reshape,
)

FloatArray = npt.NDArray[np.float32]


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology()


def _posed(canonical: FloatArray, yaw_degrees: float = 20.0, scale: float = 60.0) -> FloatArray:
    """The canonical face turned, scaled and moved into a 640×480 frame."""
    angle = np.radians(yaw_degrees)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    return (scale * canonical @ rotation.T + [320, 240, 0]).astype(np.float32)


def _wider(canonical: FloatArray, topology: Topology, factor: float) -> FloatArray:
    """A face whose outline is `factor` times wider than the canonical one (features unchanged)."""
    shape = canonical.copy()
    shape[topology.oval, 0] *= factor
    return shape


def test_normalise_shape_removes_pose_and_size(topology: Topology) -> None:
    canonical = topology.canonical
    shape = normalise_shape(_posed(canonical, 30.0, 80.0), canonical)
    assert np.abs(shape - canonical).max() < 1e-3


def test_weights_move_the_outline_and_never_the_features(topology: Topology) -> None:
    weights = outline_weights(topology)
    assert weights.shape == (len(topology.canonical),)
    assert np.all(weights[topology.oval] == 1.0)
    assert np.all(weights[topology.protected] == 0.0)
    assert weights.min() >= 0.0 and weights.max() <= 1.0


@pytest.mark.parametrize(
    ("source_factor", "yaw", "expect_moves"),
    [
        (1.0, 0.0, False),  # same shape: nothing moves
        (1.06, 0.0, True),  # wider source: the outline widens
        (1.06, NO_YAW + 5, False),  # turned too far: no shape transfer
    ],
)
def test_outline_moves(topology: Topology, source_factor: float, yaw: float, expect_moves: bool) -> None:
    canonical = topology.canonical
    mesh = _posed(canonical, 0.0)
    source = _wider(canonical, topology, source_factor)
    moves = outline_moves(mesh, source, canonical, outline_weights(topology), 1.0, yaw)
    assert moves.shape == (len(mesh), 2)
    assert np.abs(moves[topology.protected]).max() < 1e-3
    if not expect_moves:
        assert np.abs(moves).max() < 1e-3
        return
    oval = topology.oval
    outward = np.sign(mesh[oval, 0] - mesh[oval, 0].mean())
    assert np.all(moves[oval, 0] * outward >= -1e-3)  # every outline point moves outward (or stays)
    assert np.abs(moves[oval, 0]).max() > 1.0


def test_moves_are_clamped(topology: Topology) -> None:
    canonical = topology.canonical
    mesh = _posed(canonical, 0.0, scale=70.0)
    moves = outline_moves(mesh, _wider(canonical, topology, 2.0), canonical, outline_weights(topology), 1.0, 0.0)
    width = 70.0 * float(np.ptp(canonical[:, 0]))
    assert np.linalg.norm(moves, axis=1).max() <= MAX_MOVE * width * 1.01


def test_reshape_moves_pixels_with_the_outline_and_keeps_the_far_background(topology: Topology) -> None:
    ys, xs = np.mgrid[0:480, 0:640].astype(np.float32)
    pattern = 127 + 100 * np.sin(xs / 9) * np.cos(ys / 13)  # smooth, so interpolation stays exact enough
    frame = np.repeat(pattern[..., None], 3, axis=2).astype(np.uint8)
    mesh = _posed(topology.canonical, 0.0)
    moves = np.zeros((len(mesh), 2), np.float32)
    moves[topology.oval, 0] = np.sign(mesh[topology.oval, 0] - 320) * 6  # widen by 6 px each side
    result = reshape(frame, mesh, moves, topology)
    assert np.allclose(result.mesh[:, :2], mesh[:, :2] + moves)
    # far from the face (outside the fading ring) nothing changes
    centre = mesh[topology.oval, :2].mean(axis=0)
    reach = RING * np.abs(mesh[topology.oval, :2] - centre).max(axis=0)
    assert np.array_equal(result.frame[:, : int(centre[0] - reach[0]) - 2], frame[:, : int(centre[0] - reach[0]) - 2])
    # the pixel that sat on an outline point now sits where that point moved to
    index = int(topology.oval[np.argmax(mesh[topology.oval, 0])])  # rightmost outline point
    x, y = mesh[index, :2]
    expected = 127 + 100 * np.sin(x / 9) * np.cos(y / 13)
    assert abs(float(result.frame[round(y), round(x + 6), 0]) - expected) <= 8
    assert abs(float(frame[round(y), round(x + 6), 0]) - expected) > 8  # it did move
    assert not np.array_equal(result.frame, frame)


def test_reshape_without_moves_returns_the_frame(topology: Topology) -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    mesh = _posed(topology.canonical, 0.0, scale=15.0) - [240, 180, 0]
    result = reshape(frame, mesh.astype(np.float32), np.zeros((len(mesh), 2), np.float32), topology)
    assert result.frame is frame


def test_swap_with_face_shape_moves_the_result_toward_the_source_shape(astronaut: npt.NDArray[np.uint8]) -> None:
    topology = load_topology()
    plain = BoundEngine.load(Settings(face_shape=0.0), sources=[sample_path("hopper")])
    shaped = BoundEngine.load(Settings(face_shape=1.0), sources=[sample_path("hopper")])
    source_shape = plain.bindings[0].identity.shape

    def gap(image: npt.NDArray[np.uint8]) -> float:
        faces = plain.analyser.analyse(image)
        shape = normalise_shape(faces.mesh[0], topology.canonical)
        return float(np.linalg.norm((shape - source_shape)[topology.oval, :2], axis=1).mean())

    before, without, with_shape = (
        gap(astronaut),
        gap(plain.process(astronaut).image),
        gap(shaped.process(astronaut).image),
    )
    assert with_shape < without  # the outline moved toward the source's
    assert with_shape < before


def test_no_pixel_moves_farther_than_the_largest_vertex_move(topology: Topology) -> None:
    from faceweave.swap.shape import _backward_map, _warp_triangles

    mesh = _posed(topology.canonical, 15.0, scale=120.0)
    rng = np.random.default_rng(5)
    moves = (rng.normal(0, 3, (len(mesh), 2)) * outline_weights(topology)[:, None]).astype(np.float32)
    moved = mesh.copy()
    moved[:, :2] += moves
    centre = mesh[topology.oval, :2].mean(axis=0)
    outer = centre + RING * (mesh[topology.oval, :2] - centre)
    triangles, order = _warp_triangles(moved, topology)
    before = np.concatenate([mesh[:, :2], outer]).astype(np.float32)
    after = np.concatenate([moved[:, :2], outer]).astype(np.float32)
    positions = _backward_map(after, before, triangles, order, (480, 640))
    ys, xs = np.mgrid[0:480, 0:640]
    reach = np.hypot(positions[..., 0] - xs, positions[..., 1] - ys)
    assert reach.max() <= np.linalg.norm(moves, axis=1).max() + 0.6
