"""Face detectors: MediaPipe full-range (fast) and dlib HOG (finds what MediaPipe misses), and their merge."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from faceweave.compose.resample import shrink, shrink_to_side
from faceweave.types import FloatArray, Image

MEDIAPIPE_SIDE = 640  # px: the longest side BlazeFace is given (it looks at 192 px)


@dataclasses.dataclass(frozen=True)
class Detections:
    """Boxes (N, 4) x1, y1, x2, y2 in pixels, scores (N,) in [0, 1], and the detector's own five points (N, 5, 2)
    where it gives them (SCRFD), else None."""

    boxes: FloatArray
    scores: FloatArray
    landmarks_5: FloatArray | None = None

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, index: npt.NDArray[np.intp]) -> Detections:
        """The detections at these indices, in this order."""
        points = None if self.landmarks_5 is None else self.landmarks_5[index]
        return Detections(self.boxes[index], self.scores[index], points)


class Detector(Protocol):
    """Finds face boxes in an RGB image."""

    def __call__(self, rgb: Image) -> Detections: ...


class MediaPipeDetector:
    """MediaPipe's full-range BlazeFace (bundled .tflite), about 5 ms on one core at any frame size.

    The model sees the frame at 192 px, so larger frames are shrunk to `MEDIAPIPE_SIDE` first: the graph's own
    copy and resize of a 720p or 1080p frame cost as much as the model.
    """

    def __init__(self, min_score: float) -> None:
        from mediapipe.python.solutions import face_detection

        self._model = face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score)

    def __call__(self, rgb: Image) -> Detections:
        result: Any = self._model.process(shrink_to_side(rgb, MEDIAPIPE_SIDE))  # boxes come back relative
        if not result.detections:
            return Detections.empty()
        h, w = rgb.shape[:2]
        boxes, scores = [], []
        for detection in result.detections:
            box = detection.location_data.relative_bounding_box
            boxes.append((box.xmin * w, box.ymin * h, (box.xmin + box.width) * w, (box.ymin + box.height) * h))
            scores.append(detection.score[0])
        return Detections(np.array(boxes, np.float32), np.array(scores, np.float32))


class DlibDetector:
    """dlib's HOG detector: slower (≈65 ms at 720p) but finds tilted and group-photo faces MediaPipe misses."""

    def __init__(self, max_side: int = 1600) -> None:
        import dlib

        self._model = dlib.get_frontal_face_detector()
        self._max_side = max_side

    def __call__(self, rgb: Image) -> Detections:
        h, w = rgb.shape[:2]
        scale = min(1.0, self._max_side / max(h, w))
        small = rgb if scale == 1.0 else shrink(rgb, (round(w * scale), round(h * scale)))
        upsample = 1 if max(small.shape[:2]) < 800 else 0
        rects, confidences, _ = self._model.run(small, upsample, 0.0)
        if not rects:
            return Detections.empty()
        boxes = np.array([(r.left(), r.top(), r.right(), r.bottom()) for r in rects], np.float32) / scale
        scores = (0.5 + 0.5 * np.tanh(np.array(confidences, np.float32))).astype(np.float32)
        return Detections(boxes.astype(np.float32), scores)


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """(len(a), len(b)) intersection over union of two box sets."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)).astype(np.float32)


def merge_detections(first: Detections, second: Detections, overlap: float = 0.3) -> Detections:
    """`first` plus the boxes of `second` that overlap none of `first` (first wins ties)."""
    if len(first) == 0 or len(second) == 0:
        return second if len(first) == 0 else first
    keep = box_iou(second.boxes, first.boxes).max(axis=1) < overlap
    points = None
    if first.landmarks_5 is not None and second.landmarks_5 is not None:
        points = np.concatenate([first.landmarks_5, second.landmarks_5[keep]])
    return Detections(
        np.concatenate([first.boxes, second.boxes[keep]]), np.concatenate([first.scores, second.scores[keep]]), points
    )
