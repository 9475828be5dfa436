"""Dense landmarks: MediaPipe Face Mesh (478 points) on a square crop around each detected box; head pose."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from faceweave.faces import FIVE_POINT_IDS
from faceweave.types import FloatArray, Image


def crop_matrix(box: FloatArray, scale: float, crop_px: int) -> FloatArray:
    """2×3 matrix mapping the square of side `scale`·max(box w, h) around the box centre onto crop_px²."""
    centre = (box[:2] + box[2:]) / 2
    side = scale * float(max(box[2] - box[0], box[3] - box[1]))
    k = crop_px / max(side, 1.0)
    return np.array([[k, 0, crop_px / 2 - k * centre[0]], [0, k, crop_px / 2 - k * centre[1]]], np.float32)


class MeshEstimator:
    """Face Mesh with iris refinement, run on one crop per face (the mesh's own detector misses small faces)."""

    def __init__(self, crop_scale: float = 1.9, crop_px: int = 256, tracking: bool = False) -> None:
        from mediapipe.python.solutions import face_mesh

        self._model = face_mesh.FaceMesh(
            static_image_mode=not tracking,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=0.3,
            min_tracking_confidence=0.5,
        )
        self._tracking = tracking
        self._scale = crop_scale
        self._crop_px = crop_px

    def reset(self) -> None:
        """Forget the tracking state (before following a different face). Without tracking the graph keeps no
        state between images (the same crop gives the same points), and a reset would only make the next call
        15–50 ms slower while the graph restarts, so it does nothing."""
        if self._tracking:
            self._model.reset()

    def __call__(self, rgb: Image, box: FloatArray) -> FloatArray | None:
        """(478, 3) points in image pixels for the face in `box`, or None when the mesh finds no face there."""
        matrix = crop_matrix(box, self._scale, self._crop_px)
        crop = cv2.warpAffine(rgb, matrix, (self._crop_px, self._crop_px), flags=cv2.INTER_LINEAR)
        result: Any = self._model.process(crop)
        if not result.multi_face_landmarks:
            return None
        marks = result.multi_face_landmarks[0].landmark
        points = np.array([(p.x, p.y, p.z) for p in marks], np.float32) * self._crop_px
        k = float(matrix[0, 0])
        points[:, 0] = (points[:, 0] - matrix[0, 2]) / k
        points[:, 1] = (points[:, 1] - matrix[1, 2]) / k
        points[:, 2] /= k
        nose = points[4, :2]
        inside = box[0] <= nose[0] <= box[2] and box[1] <= nose[1] <= box[3]
        return points if inside else None


MOUTH_CORNER_SHIFT = np.array([[-0.023, 0.006], [0.010, 0.010]], np.float32)
"""Shifts of the mesh's mouth corners (vertices 61, 291) onto the detector convention the neural models were
trained on, in eye distances in the face's frame (x along the eye line, y down the face): on average the mesh's
corners sit inside dlib's (points 48 and 54) by these amounts, the left one by more than 2 % of the eye distance.
Eyes (iris centres) and nose tip are within 2 % and stay as they are. Measured by tools/five_points.py; figures in
docs/models.md."""


def five_points(mesh: FloatArray) -> FloatArray:
    """(5, 2) eyes (iris centres), nose tip and mouth corners from a (478, 3) mesh, image-left first, in the
    detector convention (eye centres, nose tip, mouth corners; see MOUTH_CORNER_SHIFT)."""
    points = mesh[list(FIVE_POINT_IDS), :2].astype(np.float32)
    x_axis = points[1] - points[0]
    frame = np.stack([x_axis, np.array([-x_axis[1], x_axis[0]], np.float32)])  # rows: eye line, down the face
    points[3:] += MOUTH_CORNER_SHIFT @ frame
    return points


def _mean_row(points: FloatArray) -> FloatArray:
    """(D,) the mean of (N, D) points (a product: several times quicker than mean(axis=0) on small arrays)."""
    weights: FloatArray = np.full(len(points), 1.0 / len(points), np.float32)
    return weights @ points


def similarity_3d(source: FloatArray, target: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """Umeyama: scale, rotation (3×3) and translation that map `source` points onto `target` points."""
    n = len(source)
    mu_s, mu_t = _mean_row(source), _mean_row(target)
    s = source - mu_s
    u, sigma, vt = np.linalg.svd((target - mu_t).T @ s / n)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    rotation = (u * d) @ vt
    scale = float((sigma * d).sum() / (np.einsum("ij,ij->", s, s) / n))
    return scale, rotation.astype(np.float32), (mu_t - scale * rotation @ mu_s).astype(np.float32)


MESH_YAW_SPAN_DEG = 75.0
"""Face Mesh draws a turned head less turned than it is, in x, y and z alike: a 2-D fit of its points reads about
S·tanh(yaw / S) with this S, so full profiles (75–90°) read 57–63° and 45° reads 40°. `unsaturated_yaw` undoes it.
S is set so a full profile (90°) reads 62.5°, the most any test face reads (issue 7)."""


def orthographic_yaw(mesh: FloatArray, canonical: FloatArray) -> float:
    """Yaw in degrees of the canonical face's best orthographic (weak-perspective) fit to the mesh's x, y only.

    The network's predicted depth is left out: the rows of the 2×3 least-squares map from canonical to image points
    are the top rows of a scaled rotation; its nearest pair of orthonormal rows gives the rotation.
    """
    model, image = canonical[:468], mesh[:468, :2]
    centre = _mean_row(model)
    gram = model.T @ model - len(model) * np.outer(centre, centre)  # of the centred model: no (468, 3) copies
    cross = model.T @ (image - _mean_row(image))
    projection = np.linalg.solve(gram, cross).T  # (2, 3): centred image ≈ centred model @ projection.T
    u, _, vt = np.linalg.svd(projection, full_matrices=False)
    row = (u @ vt)[0]
    return float(np.degrees(np.arcsin(np.clip(-row[2], -1.0, 1.0))))


def unsaturated_yaw(reading: float, span: float = MESH_YAW_SPAN_DEG) -> float:
    """The yaw a Face Mesh yaw `reading` stands for: span·atanh(reading / span), within ±90° (the inverse of the
    mesh's saturation, see MESH_YAW_SPAN_DEG; near frontal it changes little: 15° → 15.2°, 30° → 31.8°).

    Example:
        >>> [round(unsaturated_yaw(r)) for r in (-10.0, 30.0, 50.0, 58.0, 63.0)]
        [-10, 32, 60, 77, 90]
    """
    top = span * np.tanh(90.0 / span)
    turn = min(abs(reading), top)
    return float(np.copysign(90.0 if turn >= top else span * np.arctanh(turn / span), reading))


def head_pose(mesh: FloatArray, canonical: FloatArray) -> FloatArray:
    """(3,) yaw, pitch, roll in degrees; yaw > 0 turns the face toward image right, pitch > 0 looks up.

    Pitch and roll come from a 3-D similarity fit of the mesh to the canonical face. Yaw comes from a 2-D fit (the
    network's depth is flattest on turned heads) with Face Mesh's saturation undone, so profiles read 75–90° rather
    than 55–60°: about 0.1 ms in all.
    """
    _, rotation, _ = similarity_3d(canonical[:468], mesh[:468])
    yaw = unsaturated_yaw(orthographic_yaw(mesh, canonical))
    pitch = np.degrees(np.arcsin(np.clip(rotation[1, 2], -1, 1)))
    roll = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return np.array([yaw, pitch, roll], np.float32)
