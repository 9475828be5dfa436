"""Rasterisation and dense maps: edge cases of the pure geometry functions."""

from __future__ import annotations

import numpy as np
import pytest

from faceweave.geometry.raster import affine_maps, dense_map, far_to_near, rasterise, signed_areas


def test_affine_maps_send_vertices_exactly() -> None:
    rng = np.random.default_rng(1)
    source = rng.uniform(0, 200, (30, 3)).astype(np.float32)
    target = rng.uniform(0, 200, (30, 3)).astype(np.float32)
    triangles = np.arange(30, dtype=np.int32).reshape(10, 3)
    matrices = affine_maps(source, target, triangles)
    for matrix, triangle in zip(matrices, triangles, strict=True):
        for vertex in triangle:
            assert np.allclose(matrix @ [*source[vertex, :2], 1], target[vertex, :2], atol=1e-2)


def test_degenerate_triangles_do_not_blow_up() -> None:
    points = np.array([[0, 0, 0], [1, 1, 0], [2, 2, 0]], np.float32)  # collinear
    matrices = affine_maps(points, points * 2, np.array([[0, 1, 2]], np.int32))
    assert np.isfinite(matrices).all()


def test_painter_order_puts_near_triangles_on_top() -> None:
    points = np.array([[0, 0, 5], [40, 0, 5], [0, 40, 5], [0, 0, -5], [40, 0, -5], [0, 40, -5]], np.float32)
    triangles = np.array([[0, 1, 2], [3, 4, 5]], np.int32)
    ids = rasterise(points, triangles, far_to_near(points, triangles), (50, 50))
    assert ids[5, 5] == 2  # the nearer (z = -5) triangle wins
    assert ids[45, 45] == 0


@pytest.mark.parametrize(
    ("scale", "tolerance"),
    [
        (1.0, 1e-3),  # full resolution: exact
        (0.5, 1e-3),  # reduced grid: pixel centres line up after resize
    ],
)
def test_dense_map_of_an_identity_affine_returns_pixel_coordinates(scale: float, tolerance: float) -> None:
    ids = np.ones((int(40 * scale), int(60 * scale)), np.uint16)
    identity = np.array([[[1, 0, 0], [0, 1, 0]]], np.float32)
    map_x, map_y = dense_map(ids, identity, scale)
    assert abs(map_x[0, 0] - (0.5 / scale - 0.5)) < tolerance
    assert abs(map_y[-1, 0] - ((ids.shape[0] - 0.5) / scale - 0.5)) < tolerance


def test_dense_map_marks_uncovered_pixels() -> None:
    ids = np.zeros((4, 4), np.uint16)
    map_x, _ = dense_map(ids, np.zeros((1, 2, 3), np.float32))
    assert (map_x == -1).all()


def test_signed_area_sign_follows_winding() -> None:
    points = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], np.float32)
    assert signed_areas(points, np.array([[0, 1, 2]], np.int32))[0] == 50
    assert signed_areas(points, np.array([[0, 2, 1]], np.int32))[0] == -50
