"""Face shape transfer: move the target's jaw and face outline toward the source's, warping the background along.

Shapes are compared in the canonical frame (each mesh aligned to the canonical face by a 3D similarity), so
pose and size cancel and only proportions remain: a wider jaw, a longer chin, fuller cheeks. The move is
largest on the face outline and fades to zero on the brows, eyes, nose and lips, so expression and features
stay the target's. The frame is warped piecewise-affinely: inside the outline through the mesh triangles,
outside it through a ring that fades back to no motion, so the background follows without tearing.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.analysis.mesh import similarity_3d
from faceweave.geometry.raster import affine_maps, dense_map, far_to_near, rasterise, signed_areas
from faceweave.geometry.topology import MESH_POINTS, Topology
from faceweave.types import FloatArray, Image

RING = 1.35  # the warp fades out between the outline and this multiple of it (from the outline's centre)
MAX_MOVE = 0.1  # largest vertex move, as a fraction of the canonical face width
FEATURE_FALLOFF = 0.14  # vertices this far (× face width) from any feature move fully
FULL_YAW, NO_YAW = 25.0, 45.0  # full strength up to FULL_YAW degrees of yaw, none beyond NO_YAW
MAX_WORK_SIDE = 192  # the displacement is small and smooth: a coarse map upsampled is exact enough


@dataclasses.dataclass(frozen=True)
class Reshaped:
    """A frame with one face's outline moved: the new frame and the face's mesh after the move."""

    frame: Image
    mesh: FloatArray


def normalise_shape(mesh: FloatArray, canonical: FloatArray) -> FloatArray:
    """(478, 3) the mesh aligned onto the canonical face by a 3D similarity (pose and size removed)."""
    scale, rotation, shift = similarity_3d(mesh[:MESH_POINTS], canonical[:MESH_POINTS])
    return (scale * mesh @ rotation.T + shift).astype(np.float32)


def outline_weights(topology: Topology) -> FloatArray:
    """(478,) how much each vertex follows the source shape: 1 on the outline, 0 on the features."""
    xy = topology.canonical[:, :2]
    width = float(np.ptp(xy[:, 0]))
    nearest = np.linalg.norm(xy[:, None, :] - xy[None, topology.protected, :], axis=2).min(axis=1)
    ramp = np.clip(nearest / (FEATURE_FALLOFF * width), 0.0, 1.0)
    weights = ramp * ramp * (3 - 2 * ramp)  # smoothstep
    weights[topology.oval] = 1.0
    weights[topology.protected] = 0.0
    return weights.astype(np.float32)


def outline_moves(
    mesh: FloatArray, source_shape: FloatArray, canonical: FloatArray, weights: FloatArray, strength: float, yaw: float
) -> FloatArray:
    """(478, 2) image-space moves that give the target mesh the source's proportions (0 when turned away).

    `weights` come from `outline_weights`; `strength` 0–1 scales the move.
    """
    strength *= float(np.clip((NO_YAW - abs(yaw)) / (NO_YAW - FULL_YAW), 0.0, 1.0))
    if strength <= 0:
        return np.zeros((len(mesh), 2), np.float32)
    scale, rotation, shift = similarity_3d(canonical[:MESH_POINTS], mesh[:MESH_POINTS])
    target_shape = ((mesh - shift) @ rotation) / scale  # inverse of x ↦ s R x + t
    delta = (source_shape - target_shape) * (weights * strength)[:, None]
    limit = MAX_MOVE * float(np.ptp(canonical[:, 0]))
    length = np.linalg.norm(delta, axis=1, keepdims=True)
    delta *= np.minimum(1.0, limit / np.maximum(length, 1e-9))
    return (scale * delta @ rotation.T)[:, :2].astype(np.float32)


def reshape(frame: Image, mesh: FloatArray, moves: FloatArray, topology: Topology) -> Reshaped:
    """Warp `frame` so the mesh vertices move by `moves` (outline ring included); the rest of the frame is kept."""
    moved = mesh.copy()
    moved[:, :2] += moves
    oval = topology.oval
    centre = mesh[oval, :2].mean(axis=0)
    outer = centre + RING * (mesh[oval, :2] - centre)
    x0, y0 = np.floor(outer.min(axis=0)).astype(int)
    x1, y1 = np.ceil(outer.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, frame.shape[1]), min(y1, frame.shape[0])
    if x1 - x0 < 4 or y1 - y0 < 4 or not np.any(np.abs(moves) > 0.05):
        return Reshaped(frame, mesh)
    origin = np.array([x0, y0], np.float32)
    before = np.concatenate([mesh[:, :2], outer]) - origin
    after = np.concatenate([moved[:, :2], outer]) - origin
    triangles, order = _warp_triangles(moved, topology)
    positions = _backward_map(after, before, triangles, order, (y1 - y0, x1 - x0))
    result = frame.copy()
    patch = frame[y0:y1, x0:x1]
    result[y0:y1, x0:x1] = cv2.remap(patch, positions, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Reshaped(result, moved)


def _warp_triangles(moved: FloatArray, topology: Topology) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Ring triangles (outline → outer ring, drawn first) then the front-facing mesh triangles, far to near."""
    oval = topology.oval
    count = len(oval)
    outer_ids = np.arange(count, dtype=np.int32) + len(moved)
    nxt = np.roll(np.arange(count), -1)
    ring = np.concatenate(
        [np.stack([oval, oval[nxt], outer_ids[nxt]], 1), np.stack([oval, outer_ids[nxt], outer_ids], 1)]
    ).astype(np.int32)
    surface = topology.triangles
    front = np.flatnonzero(signed_areas(moved, surface) > 0)
    order_face = front[far_to_near(moved, surface[front])] + len(ring)
    triangles = np.concatenate([ring, surface]).astype(np.int32)
    return triangles, np.concatenate([np.arange(len(ring)), order_face]).astype(np.int32)


def _backward_map(
    after: FloatArray,
    before: FloatArray,
    triangles: npt.NDArray[np.int32],
    order: npt.NDArray[np.int32],
    hw: tuple[int, int],
) -> FloatArray:
    """Full-size (h, w, 2) remap map: each output pixel's position in the input (identity outside the triangles).

    Built as a displacement on a coarse grid: inside a proper triangle it is a convex blend of the vertex
    moves, so anything longer than the longest move comes from a sliver triangle and is clamped.
    """
    h, w = hw
    scale = min(1.0, MAX_WORK_SIDE / max(h, w))
    work = (after + 0.5) * scale - 0.5
    small_h, small_w = max(1, round(h * scale)), max(1, round(w * scale))
    ids = rasterise(work, triangles, order, (small_h, small_w))
    map_x, map_y = dense_map(ids, affine_maps(after, before, triangles), scale)
    grid_x = ((np.arange(small_w, dtype=np.float32) + 0.5) / scale - 0.5)[None, :]
    grid_y = ((np.arange(small_h, dtype=np.float32) + 0.5) / scale - 0.5)[:, None]
    outside = ids == 0
    dx = np.where(outside, 0.0, map_x - grid_x).astype(np.float32)
    dy = np.where(outside, 0.0, map_y - grid_y).astype(np.float32)
    limit = float(np.linalg.norm(before - after, axis=1).max()) + 0.5
    length = np.sqrt(dx * dx + dy * dy)
    shrink = np.minimum(1.0, limit / np.maximum(length, 1e-6)).astype(np.float32)
    moves = cv2.merge([dx * shrink, dy * shrink])  # one 2-channel resize costs less than two
    if scale < 1.0:
        moves = cv2.resize(moves, (w, h), interpolation=cv2.INTER_LINEAR)
    moves[..., 0] += np.arange(w, dtype=np.float32)[None, :]
    moves[..., 1] += np.arange(h, dtype=np.float32)[:, None]
    return moves
