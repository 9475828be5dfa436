"""Pure geometry and tensor helpers for neural face models: five-point alignment, warp, paste-back, blobs.

Five points are (5, 2) float32 pixels: image-left eye, image-right eye, nose tip, left and right mouth
corners. A `matrix` is a 2×3 float32 affine from frame pixels to crop pixels. A `blob` is 1×3×H×W float32.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.errors import UsageError
from faceweave.types import FloatArray, Image

# Normalised (0–1) templates; multiply by the crop size. From the public ArcFace / FFHQ conventions.
TEMPLATES: dict[str, FloatArray] = {
    "arcface_112_v1": np.array(
        [[0.35473214, 0.45658929], [0.64526786, 0.45658929], [0.50000000, 0.61154464],
         [0.37913393, 0.77687500], [0.62086607, 0.77687500]], np.float32,
    ),
    "arcface_112_v2": np.array(
        [[0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.50022500, 0.64050536],
         [0.37097589, 0.82469196], [0.63151696, 0.82325089]], np.float32,
    ),
    "arcface_128": np.array(
        [[0.36167656, 0.40387734], [0.63696719, 0.40235469], [0.50019687, 0.56044219],
         [0.38710391, 0.72160547], [0.61507734, 0.72034453]], np.float32,
    ),
    "ffhq_512": np.array(
        [[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
         [0.39308822, 0.72541100], [0.61150205, 0.72490465]], np.float32,
    ),
}  # fmt: skip


def template_points(name: str, crop_px: int) -> FloatArray:
    """A template's five points in pixels of a crop_px² crop.

    Example:
        >>> [round(float(v), 2) for v in template_points("arcface_112_v2", 112)[0]]
        [38.29, 51.7]
    """
    if name not in TEMPLATES:
        raise UsageError(f"unknown alignment template {name!r}; known: {', '.join(TEMPLATES)}")
    return (TEMPLATES[name] * crop_px).astype(np.float32)


def estimate_alignment(landmarks_5: FloatArray, template: FloatArray) -> FloatArray:
    """The least-squares similarity (rotation, uniform scale, shift) taking `landmarks_5` onto `template` (Umeyama).

    Example:
        >>> points = template_points("arcface_128", 128)
        >>> np.allclose(estimate_alignment(points, points), np.eye(2, 3), atol=1e-5)
        True
    """
    source = np.asarray(landmarks_5, np.float64)
    target = np.asarray(template, np.float64)
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    variance = float((s**2).sum()) / len(s)
    if variance < 1e-12:
        raise UsageError("five points are all in one place; cannot align a face from them")
    u, sigma, vt = np.linalg.svd(t.T @ s / len(s))
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(sigma) @ d)) / variance
    shift = mu_t - scale * rotation @ mu_s
    return np.hstack([scale * rotation, shift[:, None]]).astype(np.float32)


def warp_face(image: Image, matrix: FloatArray, crop_px: int, *, black_border: bool = False) -> Image:
    """The crop_px² aligned crop; where it leaves the frame, edges are replicated (or black, as insightface's
    `norm_crop`, with `black_border`)."""
    border = cv2.BORDER_CONSTANT if black_border else cv2.BORDER_REPLICATE
    return cv2.warpAffine(image, matrix, (crop_px, crop_px), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def box_mask(crop_px: int, blur: float = 0.3, padding: float = 0.0) -> FloatArray:
    """A crop_px² 0–1 mask, 1 in the middle and feathered to 0 at the edges.

    `blur` is the feather width as a fraction of half the crop; `padding` trims that fraction of each side first.
    """
    mask = np.ones((crop_px, crop_px), np.float32)
    feather = max(1, int(crop_px * 0.5 * blur))
    edge = max(feather // 2, 1) + int(crop_px * padding)
    mask[:edge, :] = 0
    mask[-edge:, :] = 0
    mask[:, :edge] = 0
    mask[:, -edge:] = 0
    return cv2.GaussianBlur(mask, (0, 0), feather * 0.25).astype(np.float32)


def paste_back(image: Image, crop: Image, mask: FloatArray, matrix: FloatArray) -> Image:
    """A copy of `image` with `crop` (aligned by `matrix`) blended back through the inverse affine, weighted by `mask`.

    Only the frame rectangle the crop covers is warped, so the cost follows the face size, not the frame size.
    """
    h, w = crop.shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float32) @ inverse.T
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1 = min(image.shape[1], int(np.ceil(corners[:, 0].max())) + 1)
    y1 = min(image.shape[0], int(np.ceil(corners[:, 1].max())) + 1)
    result = image.copy()
    if x1 <= x0 or y1 <= y0:
        return result
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    face = cv2.warpAffine(crop, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    region = result[y0:y1, x0:x1].astype(np.float32)
    blended = region + (face.astype(np.float32) - region) * np.clip(alpha, 0, 1)
    result[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return result


def to_blob(
    crop: Image, mean: tuple[float, float, float], std: tuple[float, float, float], colour: str = "rgb"
) -> FloatArray:
    """1×3×H×W float32 (pixel / 255 − mean) / std from a BGR uint8 crop, channels in `colour` order.

    Computed as (pixel − 255·mean) / (255·std), the reference implementations' form ((x − 127.5) / 128 for SCRFD,
    (x − 127.5) / 127.5 for ArcFace), so the blobs match theirs to the last bit where those constants are exact.
    """
    pixels = crop[..., ::-1] if colour == "rgb" else crop
    offset = (np.array(mean, np.float64) * 255).astype(np.float32)
    divisor = (np.array(std, np.float64) * 255).astype(np.float32)
    scaled = (pixels.astype(np.float32) - offset) / divisor
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[None], dtype=np.float32)


def from_blob(
    blob: npt.NDArray[Any], mean: tuple[float, float, float], std: tuple[float, float, float], colour: str = "rgb"
) -> Image:
    """A BGR uint8 image from a 1×3×H×W (or 3×H×W) model output: (blob × std + mean) × 255, clipped."""
    planes = np.asarray(blob, np.float32).reshape(-1, *blob.shape[-2:])[:3].transpose(1, 2, 0)
    pixels = (planes * np.array(std, np.float32) + np.array(mean, np.float32)) * 255
    image = np.clip(pixels + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[..., ::-1] if colour == "rgb" else image)


def split_polyphase(crop: Image, k: int) -> list[Image]:
    """k² sub-images of a (k·n)² crop: pixel (i·k + a, j·k + b) goes to sub-image a·k + b at (i, j)."""
    return [np.ascontiguousarray(crop[a::k, b::k]) for a in range(k) for b in range(k)]


def merge_polyphase(parts: list[Image], k: int) -> Image:
    """Inverse of `split_polyphase`."""
    h, w = parts[0].shape[:2]
    merged = np.empty((h * k, w * k, *parts[0].shape[2:]), parts[0].dtype)
    for index, part in enumerate(parts):
        merged[index // k :: k, index % k :: k] = part
    return merged
