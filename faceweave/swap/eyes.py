"""Iris colour: the target keeps its own eyes (gaze, lids, blinks, catch-lights), recoloured to the source's irises.

Eye colour is part of who someone is, gaze is part of what they are doing: so the eye openings stay the
target's pixels and only the irises move toward the source's measured colour (LAB shift inside a soft iris
disc clipped to the eye opening; pupil and sclera untouched in effect since the disc is the iris).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.types import FloatArray, Image

IRISES = ((468, (469, 470, 471, 472)), (473, (474, 475, 476, 477)))  # (centre, contour) per eye
LIGHTNESS_SHARE = 1.0  # the iris takes the source's lightness too (blue irises are lighter than brown)
MAX_LIGHTNESS_GAIN = 1.25  # a shadowed or downcast iris is lightened at most this much (no flat, glowing discs)
MIN_PIXELS = 12  # fewer iris pixels than this (closed eyes, tiny faces): no measurement
VISIBLE = (0.5, 0.75)  # share of the iris discs inside the eye openings: no recolour at the first, full at the second


def iris_mask(shape_hw: tuple[int, int], mesh: FloatArray, eye_triangles: npt.NDArray[np.int32]) -> FloatArray:
    """(h, w) 0–1: both iris discs, soft-edged, clipped to the eye openings (so lids cover the iris as they do)."""
    h, w = shape_hw
    opening = np.zeros((h, w), np.uint8)
    fixed = np.round(mesh[:, :2] * 4).astype(np.int32)
    for triangle in eye_triangles:
        cv2.fillConvexPoly(opening, fixed[triangle], 255, lineType=cv2.LINE_8, shift=2)
    discs = np.zeros((h, w), np.float32)
    for centre, contour in IRISES:
        radius = _iris_radius(mesh, centre, contour)
        if radius < 1.0:
            continue
        cx, cy = (round(float(v) * 4) for v in mesh[centre, :2])
        cv2.circle(discs, (cx, cy), round(radius * 4), 1.0, -1, lineType=cv2.LINE_AA, shift=2)
    soft = cv2.GaussianBlur(discs, (0, 0), 0.8)
    return (soft * (opening.astype(np.float32) / 255)).astype(np.float32)


def iris_colour(image: Image, mesh: FloatArray, eye_triangles: npt.NDArray[np.int32]) -> FloatArray | None:
    """(3,) median LAB colour of the visible irises (pupil and highlights left out), or None when too few pixels."""
    found = _irises(image, mesh, eye_triangles)
    return None if found is None else found[2]


def recolour_irises(
    image: Image,
    mesh: FloatArray,
    eye_triangles: npt.NDArray[np.int32],
    colour: FloatArray,
    strength: float = 1.0,
    in_place: bool = False,
) -> Image:
    """`image` (a copy unless `in_place`) with the irises (found from `mesh`) shifted toward the LAB `colour`."""
    found = _irises(image, mesh, eye_triangles) if strength > 0 else None
    if found is None:
        return image
    (x0, y0, x1, y1), mask, current, lab, touched = found
    # Half-closed eyes (a squint, a smile, a blink) show a sliver of iris between the lids: recoloured, the sliver
    # became a flat light bar across the eye, so the recolour fades out as the lids cover the irises.
    shown = float(mask.sum()) / max(_disc_area(mesh), 1.0)
    strength *= float(np.clip((shown - VISIBLE[0]) / (VISIBLE[1] - VISIBLE[0]), 0.0, 1.0))
    if strength <= 0:
        return image
    weight = (mask[touched] * strength)[:, None]
    moved = lab.copy()
    moved[:, 1:] += weight * (colour[1:] - current[1:])  # chroma: shifted to the source's
    wanted = current[0] + LIGHTNESS_SHARE * (colour[0] - current[0])
    gain = float(np.clip(wanted / max(float(current[0]), 1.0), 1 / MAX_LIGHTNESS_GAIN, MAX_LIGHTNESS_GAIN))
    moved[:, :1] *= 1.0 + weight * (gain - 1.0)  # lightness: scaled, so the iris keeps its texture and its shading
    moved = np.clip(moved + 0.5, 0, 255).astype(np.uint8)
    result = image if in_place else image.copy()
    patch = result[y0:y1, x0:x1]
    patch[touched] = cv2.cvtColor(moved[None], cv2.COLOR_LAB2BGR)[0]
    return result


def _irises(
    image: Image, mesh: FloatArray, eye_triangles: npt.NDArray[np.int32]
) -> tuple[tuple[int, int, int, int], FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]] | None:
    """Box around the eyes, soft iris mask, median iris colour, and the LAB colours of the pixels the mask
    touches (only those: the LAB round trip is not exact, every other pixel stays as it was); None if unseen."""
    box = _box(mesh, image.shape[:2])
    if box is None:
        return None
    x0, y0, x1, y1 = box
    local = mesh.copy()
    local[:, 0] -= x0
    local[:, 1] -= y0
    mask = iris_mask((y1 - y0, x1 - x0), local, eye_triangles)
    inside = mask > 0.5
    if inside.sum() < MIN_PIXELS:
        return None
    touched = mask > 1e-3
    lab = cv2.cvtColor(image[y0:y1, x0:x1][touched][None], cv2.COLOR_BGR2LAB)[0].astype(np.float32)
    pixels = lab[inside[touched]]
    low, high = np.percentile(pixels[:, 0], [25, 85])
    kept = pixels[(pixels[:, 0] >= low) & (pixels[:, 0] <= high)]
    colour = np.median(kept if len(kept) >= MIN_PIXELS // 2 else pixels, axis=0).astype(np.float32)
    return box, mask, colour, lab, touched


def _iris_radius(mesh: FloatArray, centre: int, contour: tuple[int, ...]) -> float:
    """An iris's radius in pixels: the mean distance of its four contour points from its centre."""
    return float(np.linalg.norm(mesh[list(contour), :2] - mesh[centre, :2], axis=1).mean())


def _disc_area(mesh: FloatArray) -> float:
    """Pixels of both iris discs as `iris_mask` draws them (before the lids clip them; under 1 px: none)."""
    radii = [_iris_radius(mesh, centre, contour) for centre, contour in IRISES]
    return float(sum(np.pi * radius**2 for radius in radii if radius >= 1.0))


def _box(mesh: FloatArray, frame_hw: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The clipped rectangle around both eyes (iris points with a margin), or None when outside the frame."""
    points = mesh[[centre for centre, _ in IRISES] + [p for _, contour in IRISES for p in contour], :2]
    radius = float(np.linalg.norm(points[2:6] - points[0], axis=1).mean()) * 3 + 2  # rows: 2 centres, contours
    x0, y0 = (max(0, int(v - radius)) for v in points.min(axis=0))
    x1 = min(int(frame_hw[1]), int(points[:, 0].max() + radius) + 1)
    y1 = min(int(frame_hw[0]), int(points[:, 1].max() + radius) + 1)
    return None if x1 - x0 < 3 or y1 - y0 < 3 else (x0, y0, x1, y1)
