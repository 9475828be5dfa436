"""Masks: atlas-space face templates and a skin-colour model for the border band (pure functions)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.types import FloatArray, Image

Mask = npt.NDArray[np.uint8]


def ramp_from_edge(region: Mask, width_px: float) -> FloatArray:
    """0 on the region's edge rising linearly to 1 at `width_px` inside (0 outside)."""
    padded = cv2.copyMakeBorder(region, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    inside = cv2.distanceTransform((padded > 0).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    return np.clip(inside / max(width_px, 1e-3), 0.0, 1.0).astype(np.float32)


def vertical_ramp(shape_hw: tuple[int, int], y_start: float, y_end: float) -> FloatArray:
    """0 above y_start rising to 1 at y_end (rows), as an H×W float image."""
    rows = (np.arange(shape_hw[0], dtype=np.float32) - y_start) / max(y_end - y_start, 1e-3)
    return np.repeat(np.clip(rows, 0.0, 1.0)[:, None], shape_hw[1], axis=1)


def polygon_mask(shape_hw: tuple[int, int], points: FloatArray) -> Mask:
    """255 inside the convex hull of the points."""
    mask = np.zeros(shape_hw, np.uint8)
    hull = cv2.convexHull(np.round(points[:, :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def disc_mask(shape_hw: tuple[int, int], centres: FloatArray, radius: int) -> Mask:
    """255 inside discs of `radius` around each (x, y) centre (e.g. cheek samples for a SkinModel)."""
    mask = np.zeros(shape_hw, np.uint8)
    for x, y in np.round(centres[:, :2]).astype(int).tolist():
        cv2.circle(mask, (x, y), radius, 255, -1)
    return mask


@dataclasses.dataclass(frozen=True)
class SkinModel:
    """Gaussian model of skin colour in YCrCb sampled from a face's cheeks.

    Chroma separates hair, hats and background; luma (with a wide floor, so shading still counts as
    skin) separates dark beards and brows that share the skin's chroma.
    """

    mean: FloatArray
    inverse_covariance: FloatArray

    @classmethod
    def from_pixels(cls, image: Image, mask: Mask) -> SkinModel | None:
        """Fit on the BGR pixels under mask; None when too few pixels to trust."""
        colour = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)[mask > 0].astype(np.float32)
        if len(colour) < 30:
            return None
        covariance = np.cov(colour.T) + np.diag([225.0, 4.0, 4.0])  # floors: shading and flat (grey) skin
        return cls(colour.mean(axis=0), np.linalg.inv(covariance).astype(np.float32))

    def distance(self, image: Image, luma_weight: float = 1.0) -> FloatArray:
        """Per-pixel Mahalanobis distance of the colour to the model (`luma_weight` 0: chroma only).

        With Σ⁻¹ = L·Lᵀ, the squared distance is |Lᵀ·D·(c − μ)|² (D weights luma): one affine
        cv2.transform and a channel sum instead of a per-pixel quadratic form in numpy.
        """
        colour = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb).astype(np.float32)
        linear = np.linalg.cholesky(self.inverse_covariance.astype(np.float64)).T @ np.diag([luma_weight, 1.0, 1.0])
        affine = np.hstack([linear, -(linear @ self.mean.astype(np.float64))[:, None]]).astype(np.float32)
        whitened = cv2.transform(colour, affine)
        squared = cv2.transform(cv2.multiply(whitened, whitened), np.ones((1, 3), np.float32))
        return cv2.sqrt(squared)

    def likelihood(self, image: Image, tolerance: float = 3.0, luma_weight: float = 1.0) -> FloatArray:
        """1 for skin-like colour fading to 0 beyond `tolerance` standard deviations (`luma_weight` 0: chroma only)."""
        distance = self.distance(image, luma_weight)
        return np.clip(1.5 - distance / (2 * tolerance), 0.0, 1.0).astype(np.float32)
