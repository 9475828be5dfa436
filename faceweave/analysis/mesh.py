"""Dense landmarks: MediaPipe Face Mesh (478 points) on a square crop around each detected box; head pose."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.faces import FIVE_POINT_IDS

FloatArray = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]


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


def five_points(mesh: FloatArray) -> FloatArray:
    """(5, 2) eyes (iris centres), nose tip and mouth corners from a (478, 3) mesh, image-left first."""
    return mesh[list(FIVE_POINT_IDS), :2].astype(np.float32)


def similarity_3d(source: FloatArray, target: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """Umeyama: scale, rotation (3×3) and translation that map `source` points onto `target` points."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s / len(source))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    rotation = (u * d) @ vt
    scale = float((sigma * d).sum() / s.var(axis=0).sum())
    return scale, rotation.astype(np.float32), (mu_t - scale * rotation @ mu_s).astype(np.float32)


def head_pose(mesh: FloatArray, canonical: FloatArray) -> FloatArray:
    """(3,) yaw, pitch, roll in degrees; yaw > 0 turns the face toward image right, pitch > 0 looks up."""
    _, rotation, _ = similarity_3d(canonical[:468], mesh[:468])
    yaw = np.degrees(np.arcsin(np.clip(-rotation[0, 2], -1, 1)))
    pitch = np.degrees(np.arcsin(np.clip(rotation[1, 2], -1, 1)))
    roll = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return np.array([yaw, pitch, roll], np.float32)
