"""Blending a rendered face into a frame: feathered alpha (default), Laplacian pyramid, Poisson (option)."""

from __future__ import annotations

import cv2
import numpy as np

from faceweave.compose.resample import shrink
from faceweave.types import FloatArray, Image


def feather(alpha: FloatArray, sigma_px: float, erode_px: float = 0.0) -> FloatArray:
    """Soften a 0–1 mask: optional erosion then a Gaussian (at reduced resolution for wide sigmas)."""
    if erode_px >= 1:
        size = int(2 * round(erode_px) + 1)
        alpha = cv2.erode(alpha, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    if sigma_px < 0.5:
        return alpha
    h, w = alpha.shape
    factor = max(1.0, sigma_px / 3.0)
    if factor == 1.0:
        return cv2.GaussianBlur(alpha, (0, 0), sigma_px)
    small = shrink(alpha, (max(1, round(w / factor)), max(1, round(h / factor))))
    small = cv2.GaussianBlur(small, (0, 0), sigma_px / factor)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def alpha_blend(background: Image, foreground: Image, alpha: FloatArray) -> Image:
    """background·(1−alpha) + foreground·alpha, alpha H×W in 0–1."""
    return cv2.blendLinear(foreground, background, alpha, 1.0 - alpha)


def pyramid_blend(background: Image, foreground: Image, alpha: FloatArray, levels: int = 5) -> Image:
    """Laplacian-pyramid blend: low frequencies mix over wide zones, detail over narrow ones."""
    levels = max(1, min(levels, int(np.log2(max(min(alpha.shape), 2))) - 2))
    bg, fg, a = background.astype(np.float32), foreground.astype(np.float32), alpha.astype(np.float32)
    bg_pyr, fg_pyr, a_pyr = [bg], [fg], [a]
    for _ in range(levels):
        bg_pyr.append(cv2.pyrDown(bg_pyr[-1]))
        fg_pyr.append(cv2.pyrDown(fg_pyr[-1]))
        a_pyr.append(cv2.pyrDown(a_pyr[-1]))
    result = bg_pyr[-1] * (1 - a_pyr[-1][..., None]) + fg_pyr[-1] * a_pyr[-1][..., None]
    for level in range(levels - 1, -1, -1):
        size = (bg_pyr[level].shape[1], bg_pyr[level].shape[0])
        bg_lap = bg_pyr[level] - cv2.pyrUp(bg_pyr[level + 1], dstsize=size)
        fg_lap = fg_pyr[level] - cv2.pyrUp(fg_pyr[level + 1], dstsize=size)
        weight = a_pyr[level][..., None]
        result = cv2.pyrUp(result, dstsize=size) + bg_lap * (1 - weight) + fg_lap * weight
    return np.clip(result + 0.5, 0, 255).astype(np.uint8)


def poisson_blend(background: Image, foreground: Image, alpha: FloatArray) -> Image:
    """cv2.seamlessClone of the region alpha > 0.5 (slow on large faces; washes identity out)."""
    mask = (alpha > 0.5).astype(np.uint8) * 255
    if mask.sum() == 0 or min(mask.shape) < 4:
        return background
    mask[[0, -1], :] = 0
    mask[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(mask)
    centre = (x + w // 2, y + h // 2)
    return cv2.seamlessClone(foreground, background, mask, centre, cv2.NORMAL_CLONE)
