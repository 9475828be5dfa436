"""SCRFD / RetinaFace-style ONNX face detector: letterbox, anchor decode per stride (boxes + five points), NMS."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.analysis.detect import Detections
from faceweave.geometry.align import to_blob
from faceweave.models.session import Runner
from faceweave.types import FloatArray, Image

STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2


@dataclasses.dataclass(frozen=True)
class ScrfdFaces:
    """Boxes (N, 4) x1, y1, x2, y2, scores (N,) and five points (N, 5, 2), in frame pixels, best first."""

    boxes: FloatArray
    scores: FloatArray
    landmarks_5: FloatArray


def letterbox(image: Image, input_px: int) -> tuple[Image, FloatArray]:
    """The image resized to fit input_px² and pasted top-left into zeros, and the (x, y) scales applied.

    The resized size is the reference's (insightface `SCRFD._detect_candidates`: the long side becomes input_px, the
    short side int(...) of its share); each axis keeps its own scale, so points map back exactly on both axes.
    """
    h, w = image.shape[:2]
    tall = h > w
    size_wh = (max(1, int(input_px / (h / w))), input_px) if tall else (input_px, max(1, int(input_px * (h / w))))
    resized = cv2.resize(image, size_wh, interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((input_px, input_px, 3), np.uint8)
    canvas[: size_wh[1], : size_wh[0]] = resized
    return canvas, np.array([size_wh[0] / w, size_wh[1] / h], np.float32)


def anchor_centres(height: int, width: int, stride: int, anchors: int = ANCHORS_PER_CELL) -> FloatArray:
    """(height·width·anchors, 2) anchor centres (x, y) in input pixels, row-major, anchors of a cell adjacent."""
    ys, xs = np.mgrid[:height, :width]
    centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centres, anchors, axis=0)


def decode(
    outputs: Sequence[npt.NDArray[Any]], input_px: int, threshold: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Boxes, scores and five points (input pixels) above `threshold` from the 9 outputs (scores, boxes, points)."""
    boxes, scores, points = [], [], []
    count = len(STRIDES)
    for level, stride in enumerate(STRIDES):
        score = np.asarray(outputs[level], np.float32).reshape(-1)
        distance = np.asarray(outputs[level + count], np.float32).reshape(-1, 4) * stride
        offsets = np.asarray(outputs[level + 2 * count], np.float32).reshape(-1, 5, 2) * stride
        side = input_px // stride
        centres = anchor_centres(side, side, stride, max(1, len(score) // (side * side)))
        keep = np.flatnonzero(score >= threshold)
        centre = centres[keep]
        boxes.append(np.concatenate([centre - distance[keep, :2], centre + distance[keep, 2:]], axis=1))
        scores.append(score[keep])
        points.append(centre[:, None, :] + offsets[keep])
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(points).astype(np.float32),
    )


def nms(boxes: FloatArray, scores: FloatArray, threshold: float) -> npt.NDArray[np.int64]:
    """Indices of the boxes kept by greedy non-maximum suppression (IoU > threshold removed), best first.

    Areas count pixels inclusively ((x2 − x1 + 1)·(y2 − y1 + 1)), as the reference's `SCRFD.nms` whose 0.4 default
    was tuned with them.
    """
    order = np.argsort(-scores, kind="stable")
    areas = np.prod(boxes[:, 2:] - boxes[:, :2] + 1, axis=1)
    keep: list[int] = []
    while order.size:
        best, rest = int(order[0]), order[1:]
        keep.append(best)
        top_left = np.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(bottom_right - top_left + 1, 0, None), axis=1)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-6)
        order = rest[iou <= threshold]
    return np.array(keep, np.int64)


class ScrfdDetector:
    """Runs an SCRFD-contract model on BGR frames.

    Example:
        >>> detector = ScrfdDetector(load_model("scrfd_10g", settings), min_score=0.5)  # doctest: +SKIP
        >>> found = detector.detect(frame)  # doctest: +SKIP
    """

    def __init__(self, runner: Runner, min_score: float = 0.5, nms_threshold: float = 0.4) -> None:
        self.runner = runner
        self.min_score = min_score
        self.nms_threshold = nms_threshold
        self.input_px = runner.spec.crop_px

    def detect(self, image: Image) -> ScrfdFaces:
        """Faces in a BGR frame."""
        spec = self.runner.spec
        canvas, scales = letterbox(image, self.input_px)
        outputs = self.runner.run(to_blob(canvas, spec.mean, spec.std, spec.colour))
        boxes, scores, points = decode(outputs, self.input_px, self.min_score)
        boxes, points = boxes / np.tile(scales, 2), points / scales
        keep = nms(boxes, scores, self.nms_threshold)  # in frame pixels, as the reference (its +1 is in pixels)
        return ScrfdFaces(boxes[keep], scores[keep], points[keep])

    def __call__(self, rgb: Image) -> Detections:
        """Boxes, scores and SCRFD's own five points for the analyser (which passes RGB)."""
        found = self.detect(np.ascontiguousarray(rgb[..., ::-1]))
        return Detections(found.boxes, found.scores, found.landmarks_5)
