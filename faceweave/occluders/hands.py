"""Hands in front of faces: MediaPipe Hands (bundled model) → an occlusion mask the swap leaves alone."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from mediapipe.python.solutions import hands as mp_hands

from faceweave.types import FloatArray

Mask = npt.NDArray[np.uint8]

PALM = (0, 1, 5, 9, 13, 17)  # wrist, thumb base and the four knuckles
BONES = tuple(sorted(mp_hands.HAND_CONNECTIONS))
FINGER_WIDTH = 0.28  # finger thickness as a fraction of the palm width (wrist → little-finger knuckle span)
GROW = 0.12  # the mask is grown by this fraction of the palm width: hands edges blur and move


class HandDetector:
    """Finds hands and returns their 21 landmarks each, in pixels.

    Example:
        >>> hands = HandDetector()  # doctest: +SKIP
        >>> [points.shape for points in hands(rgb)]  # doctest: +SKIP
        [(21, 2)]
    """

    def __init__(self, max_hands: int = 4, score: float = 0.5, still: bool = True) -> None:
        self._model = mp_hands.Hands(
            static_image_mode=still, max_num_hands=max_hands, model_complexity=1, min_detection_confidence=score
        )

    def __call__(self, rgb: npt.NDArray[np.uint8]) -> list[FloatArray]:
        """Landmarks (21, 2) per hand found in an RGB image."""
        result = self._model.process(rgb)
        if not result.multi_hand_landmarks:
            return []
        h, w = rgb.shape[:2]
        return [
            np.array([[p.x * w, p.y * h] for p in hand.landmark], np.float32) for hand in result.multi_hand_landmarks
        ]

    def close(self) -> None:
        """Release the graph."""
        self._model.close()


def hand_mask(shape_hw: tuple[int, int], hands: list[FloatArray]) -> Mask | None:
    """(h, w) uint8, 255 where a hand is (palm polygon + thick finger bones, grown a little); None when no hands."""
    if not hands:
        return None
    mask = np.zeros(shape_hw, np.uint8)
    widths = []
    for points in hands:
        width = float(np.linalg.norm(points[0] - points[17]) + np.linalg.norm(points[5] - points[17])) / 2
        widths.append(width)
        palm = np.round(cv2.convexHull(points[list(PALM)])).astype(np.int32)
        cv2.fillPoly(mask, [palm], 255, lineType=cv2.LINE_8)
        thickness = max(2, round(width * FINGER_WIDTH))
        for a, b in BONES:
            start, end = (tuple(round(float(v)) for v in points[i]) for i in (a, b))
            cv2.line(mask, start, end, 255, thickness, lineType=cv2.LINE_8)
    grow = 2 * max(1, round(max(widths) * GROW)) + 1
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
