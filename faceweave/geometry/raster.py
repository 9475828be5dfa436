"""Triangle rasterisation and dense piecewise-affine maps (pure functions on arrays)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.types import FloatArray

IntArray = npt.NDArray[np.int32]
IdMap = npt.NDArray[np.uint16]

_SHIFT = 2  # sub-pixel bits for cv2.fillConvexPoly


def signed_areas(points: FloatArray, triangles: IntArray) -> FloatArray:
    """(T,) signed screen areas; positive = counter-clockwise in x-right/y-down terms (front-facing)."""
    a, b, c = (points[triangles[:, i], :2] for i in range(3))
    cross: FloatArray = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    return (cross * 0.5).astype(np.float32)


def surface_areas(points: FloatArray, triangles: IntArray) -> FloatArray:
    """(T,) areas of the triangles in 3D (the mesh's x, y, z)."""
    a, b, c = (points[triangles[:, i], :3] for i in range(3))
    return (0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)).astype(np.float32)


def far_to_near(points: FloatArray, triangles: IntArray) -> IntArray:
    """Triangle indices sorted for painter's order (largest mean z first)."""
    depth = points[triangles, 2].mean(axis=1)
    return np.argsort(-depth, kind="stable").astype(np.int32)


def affine_maps(from_points: FloatArray, to_points: FloatArray, triangles: IntArray) -> FloatArray:
    """(T, 2, 3) affine matrices taking each triangle in `from_points` onto the same triangle in `to_points`.

    Closed form (2×2 inverse per triangle); degenerate source triangles get a zero linear part.
    """
    p = from_points[triangles, :2].astype(np.float64)
    q = to_points[triangles, :2].astype(np.float64)
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    f1, f2 = q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    inv_det = np.where(np.abs(det) > 1e-9, 1.0 / np.where(det == 0, 1.0, det), 0.0)
    # inverse of [[e1x, e2x], [e1y, e2y]] is [[e2y, -e2x], [-e1y, e1x]] / det
    inverse = (
        np.stack([np.stack([e2[:, 1], -e2[:, 0]], 1), np.stack([-e1[:, 1], e1[:, 0]], 1)], 1) * inv_det[:, None, None]
    )
    linear = np.stack([f1, f2], axis=2) @ inverse  # (T, 2, 2)
    shift = q[:, 0] - np.einsum("tij,tj->ti", linear, p[:, 0])
    return np.concatenate([linear, shift[:, :, None]], axis=2).astype(np.float32)


def rasterise(points: FloatArray, triangles: IntArray, order: IntArray, shape_hw: tuple[int, int]) -> IdMap:
    """Draw triangles (in `order`, later ones on top) into an id map; pixel = triangle index + 1, 0 = none.

    Points are in the id map's pixel frame; triangles partly outside are clipped.
    """
    ids = np.zeros(shape_hw, np.uint16)
    fixed = np.round(points[:, :2] * (1 << _SHIFT)).astype(np.int32)
    fill = cv2.fillConvexPoly  # one call per triangle: ~0.5 µs of it is the call itself, so nothing else per loop
    for corners, colour in zip(fixed[triangles[order]], (order + 1).tolist(), strict=True):
        fill(ids, corners, colour, cv2.LINE_8, _SHIFT)
    return ids


def dense_map(ids: IdMap, affines: FloatArray, scale: float = 1.0) -> tuple[FloatArray, FloatArray]:
    """Per-pixel coordinates from an id map and per-triangle affines.

    The id map may be a `scale`-times smaller rendering: its pixel j stands for full-size coordinate
    (j + 0.5) / scale - 0.5, so that cv2.resize(INTER_LINEAR) of the maps lines up exactly.
    Pixels with id 0 get -1 (outside any source), which cv2.remap treats as border.
    """
    h, w = ids.shape
    table = np.concatenate([np.zeros((1, 2, 3), np.float32), affines]).reshape(-1, 6)
    table[0] = (0, 0, -1, 0, 0, -1)  # id 0: the constant -1
    coefficients = np.take(table, ids, axis=0)  # (h, w, 6): one gather instead of a (h, w, 2, 3) fancy index
    xs = np.broadcast_to(((np.arange(w, dtype=np.float32) + 0.5) / scale - 0.5)[None, :], (h, w))
    ys = np.broadcast_to(((np.arange(h, dtype=np.float32) + 0.5) / scale - 0.5)[:, None], (h, w))
    map_x = coefficients[..., 0] * xs
    map_x += coefficients[..., 1] * ys
    map_x += coefficients[..., 2]
    map_y = coefficients[..., 3] * xs
    map_y += coefficients[..., 4] * ys
    map_y += coefficients[..., 5]
    return map_x, map_y
