"""Colour: low-frequency lighting transfer (default) and Reinhard LAB statistics (option)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.compose.resample import shrink
from faceweave.types import FloatArray, Image

GainFilter = Callable[[FloatArray], FloatArray]
"""Temporal state hook: takes this frame's low-resolution (h, w, 3) gain, returns the gain to apply."""


def masked_low_pass(image: FloatArray, weight: FloatArray, sigma_px: float) -> FloatArray:
    """Gaussian low-pass of `image` counting only weighted pixels (normalised convolution), same size.

    Works on a grid about sigma/3 coarser (the result is smooth), so cost does not grow with sigma.
    """
    h, w = image.shape[:2]
    factor = max(1.0, sigma_px / 3.0)
    small_wh = (max(1, round(w / factor)), max(1, round(h / factor)))
    low = _small_low_pass(image, weight, small_wh, sigma_px / factor)
    return cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def _small_low_pass(
    image: npt.NDArray[np.generic], weight: FloatArray, small_wh: tuple[int, int], sigma: float
) -> FloatArray:
    small_image = shrink(image, small_wh).astype(np.float32) + 1.0
    small_weight = shrink(weight, small_wh)
    blurred = cv2.GaussianBlur(small_image * small_weight[..., None], (0, 0), sigma)
    norm = cv2.GaussianBlur(small_weight, (0, 0), sigma)
    return (blurred / np.maximum(norm, 1e-4)[..., None]).astype(np.float32)


def transfer_lighting(
    face: Image,
    target: Image,
    weight: FloatArray,
    sigma_px: float,
    face_weight: FloatArray | None = None,
    gain_filter: GainFilter | None = None,
) -> Image:
    """Give `face` the target's low-frequency shading and tone, keeping its own detail.

    result = face · low(target) / low(face), per channel, where low is a masked Gaussian (σ ≈ 6% of the
    face size) and `weight` (any resolution) says which target pixels to learn from (`face_weight`, if
    given, which face pixels: e.g. skin only, so beards and brows do not tint the other side). Works on
    grey sources where LAB statistics fail. `gain_filter` (video) smooths the low-resolution gain over time.
    """
    h, w = face.shape[:2]
    factor = max(1.0, sigma_px / 3.0)
    small_wh = (max(1, round(w / factor)), max(1, round(h / factor)))
    sigma = sigma_px / factor
    face_weight = weight if face_weight is None else face_weight
    low_target = _small_low_pass(target, weight, small_wh, sigma)
    low_face = _small_low_pass(face, face_weight, small_wh, sigma)
    known = (low_face > 1e-3) & (low_target > 1e-3)  # pixels far from any weighted pixel keep gain 1
    gain = np.where(known, low_target / np.where(known, low_face, 1.0), 1.0).astype(np.float32)
    gain = np.clip(gain, 0.25, 4.0) if gain_filter is None else gain_filter(np.clip(gain, 0.25, 4.0))
    gain = cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(face, gain, dtype=cv2.CV_8U)


def transfer_reinhard(face: Image, target: Image, weight: FloatArray) -> Image:
    """Match LAB mean and standard deviation of `face` to `target` inside the weighted region."""
    region = weight > 0.5
    if region.sum() < 16:
        return face
    face_lab = cv2.cvtColor(face, cv2.COLOR_BGR2LAB).astype(np.float32)
    target_lab = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(np.float32)
    f_mean, f_std = face_lab[region].mean(axis=0), face_lab[region].std(axis=0) + 1e-3
    t_mean, t_std = target_lab[region].mean(axis=0), target_lab[region].std(axis=0)
    matched = (face_lab - f_mean) * (t_std / f_std) + t_mean
    return cv2.cvtColor(np.clip(matched, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


class GainSmoother:
    """Exponential smoothing of a lighting-gain map across frames (the map is resized to each frame's grid).

    The gain grid is laid over the face's region, which follows the mesh, so grid cells stay on the same part
    of the face from frame to frame. `weight` is the share of the new frame (1 = no smoothing).

    Example:
        >>> smoother = GainSmoother(0.3)
        >>> smoother(np.ones((4, 4, 3), np.float32)).shape
        (4, 4, 3)
    """

    def __init__(self, weight: float) -> None:
        self.weight = weight
        self._gain: FloatArray | None = None

    def __call__(self, gain: FloatArray) -> FloatArray:
        """The smoothed gain, same shape as `gain`."""
        previous = self._gain
        if previous is not None and previous.shape[:2] != gain.shape[:2]:
            previous = cv2.resize(previous, (gain.shape[1], gain.shape[0]), interpolation=cv2.INTER_LINEAR)
            previous = previous.reshape(gain.shape)
        if previous is None or previous.shape != gain.shape:
            self._gain = gain.astype(np.float32)
        else:
            self._gain = (self.weight * gain + (1 - self.weight) * previous).astype(np.float32)
        return self._gain
