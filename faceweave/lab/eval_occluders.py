"""Occluders for the quality evaluation: a drawn hand-held microphone, and a real hand cut out of a photo.

Both are pasted over the lower face of a target; `occluder_kept` then says how much of the occluder the swap
left unchanged (the share of its pixels over the face that moved by at most KEPT_TOLERANCE).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.faces import Face
from faceweave.occluders.hands import BONES, PALM, HandDetector, hand_mask
from faceweave.types import Image

Mask = npt.NDArray[np.uint8]
"""H×W uint8, 255 where the occluder (or the face) is, else 0."""

KEPT_TOLERANCE = 12  # an occluder pixel counts as unchanged when no channel moved by more than this (0–255)
EDGE_PX = 2  # occluder edges (anti-aliased, feathered) are left out of `occluder_kept`
HAND_WIDTH_SHARE = 0.9  # a pasted hand is this share of the face box width
MIN_HAND_PX = 60  # smaller hands are not cut out (too blurry once scaled to a face)


@dataclasses.dataclass(frozen=True)
class Cutout:
    """A cut-out object: BGR pixels and an alpha (0–255) of the same height and width."""

    image: Image
    alpha: Mask
    origin: str


def face_width(face: Face) -> float:
    """The width of the face's box (cheek to cheek), in pixels."""
    return float(face.box[2] - face.box[0])


def face_hull(shape_hw: tuple[int, int], face: Face) -> Mask:
    """255 inside the convex hull of the face's 468 mesh points."""
    mask = np.zeros(shape_hw, np.uint8)
    hull = cv2.convexHull(np.round(face.mesh[:468, :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def _point(xy: npt.NDArray[np.float64]) -> tuple[int, int]:
    return round(float(xy[0])), round(float(xy[1]))


def draw_microphone(image: Image, face: Face) -> tuple[Image, Mask]:
    """A hand-held microphone in front of the mouth: a shaded mesh ball over the lips, a handle leaving the face.

    Example:
        >>> occluded, mask = draw_microphone(image, faces[0])  # doctest: +SKIP
    """
    width = face_width(face)
    head = face.landmarks_5[3:5].mean(axis=0).astype(np.float64) + np.array([0.0, 0.08 * width])
    end = head + np.array([-0.45 * width, 1.3 * width])
    radius, thickness = max(2, round(0.2 * width)), max(2, round(0.16 * width))
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.line(mask, _point(head), _point(end), 255, thickness)
    cv2.circle(mask, _point(head), radius, 255, -1)
    out = image.copy()
    cv2.line(out, _point(head), _point(end), (34, 34, 36), thickness, cv2.LINE_AA)
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    dx, dy = xs - head[0], ys - head[1]
    ball = dx * dx + dy * dy <= radius * radius
    light = np.hypot(dx + 0.4 * radius, dy + 0.4 * radius) / (1.6 * radius)  # lit from the upper left
    grille = ((xs + ys) % 5 == 0) | ((xs - ys) % 5 == 0)
    shade = np.clip(150 - 110 * light - 35 * grille, 20, 255)[ball]
    out[ball] = np.stack([shade, shade, shade + 4], axis=1).clip(0, 255).astype(np.uint8)
    return out, mask


def cut_hand(image: Image, hand: npt.NDArray[np.float32], origin: str) -> Cutout | None:
    """The hand whose 21 MediaPipe landmarks are given, cut out by GrabCut seeded with the hand mask."""
    rough = hand_mask((image.shape[0], image.shape[1]), [hand])
    if rough is None:
        return None
    x, y, w, h = cv2.boundingRect(rough)
    if min(w, h) < MIN_HAND_PX:
        return None
    pad = max(w, h) // 4
    x0, y0 = max(0, x - pad), max(0, y - pad)
    crop = np.ascontiguousarray(image[y0 : y + h + pad, x0 : x + w + pad])
    rough = rough[y0 : y + h + pad, x0 : x + w + pad]
    seeds = np.full(rough.shape, cv2.GC_BGD, np.uint8)
    seeds[cv2.dilate(rough, np.ones((9, 9), np.uint8)) > 0] = cv2.GC_PR_BGD
    seeds[rough > 0] = cv2.GC_PR_FGD
    local = hand - np.array([x0, y0], np.float32)
    for a, b in BONES:
        cv2.line(seeds, _point(local[a]), _point(local[b]), int(cv2.GC_FGD), 2)
    cv2.fillConvexPoly(seeds, np.round(local[list(PALM)]).astype(np.int32), int(cv2.GC_FGD))
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(crop, seeds, None, background, foreground, 5, cv2.GC_INIT_WITH_MASK)
    alpha = _largest_component(np.where((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD), 255, 0).astype(np.uint8))
    x, y, w, h = cv2.boundingRect(alpha)
    return Cutout(crop[y : y + h, x : x + w].copy(), alpha[y : y + h, x : x + w].copy(), origin)


def _largest_component(mask: Mask) -> Mask:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count <= 1:
        return mask
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.where(labels == biggest, 255, 0).astype(np.uint8)


def find_hand(pictures: Iterable[tuple[str, Image]]) -> Cutout | None:
    """The largest hand of the first picture where MediaPipe Hands finds one big enough to cut out."""
    detector = HandDetector(max_hands=4)
    try:
        for name, image in pictures:
            hands = detector(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            hands.sort(key=lambda points: -float(np.ptp(points, axis=0).prod()))
            for hand in hands:
                cutout = cut_hand(image, hand, name)
                if cutout is not None:
                    return cutout
    finally:
        detector.close()
    return None


def paste_hand(image: Image, face: Face, cutout: Cutout) -> tuple[Image, Mask]:
    """The cut-out hand, HAND_WIDTH_SHARE of the face width, over the mouth and chin, its wrist below the chin."""
    width = face_width(face)
    k = HAND_WIDTH_SHARE * width / cutout.image.shape[1]
    patch = cv2.resize(cutout.image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(cutout.alpha, (patch.shape[1], patch.shape[0]), interpolation=cv2.INTER_AREA)
    mouth = face.landmarks_5[3:5].mean(axis=0)
    x, y = round(float(mouth[0]) - 0.6 * patch.shape[1]), round(float(face.box[3]) + 0.3 * width - patch.shape[0])
    full_patch = np.zeros_like(image)
    full_alpha = np.zeros(image.shape[:2], np.uint8)
    ys = slice(max(y, 0), min(y + patch.shape[0], image.shape[0]))
    xs = slice(max(x, 0), min(x + patch.shape[1], image.shape[1]))
    inner_y, inner_x = slice(ys.start - y, ys.stop - y), slice(xs.start - x, xs.stop - x)
    full_patch[ys, xs] = patch[inner_y, inner_x]
    full_alpha[ys, xs] = alpha[inner_y, inner_x]
    soft = cv2.GaussianBlur(full_alpha.astype(np.float32) / 255, (0, 0), 0.8)[..., None]
    out = (full_patch * soft + image * (1 - soft)).round().astype(np.uint8)
    return out, np.where(full_alpha >= 128, 255, 0).astype(np.uint8)


def occluder_kept(before: Image, after: Image, occluder: Mask, face: Mask) -> float | None:
    """Share of the occluder's pixels over the face (edges left out) that the swap left unchanged; None if none."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * EDGE_PX + 1, 2 * EDGE_PX + 1))
    inner = (cv2.erode(occluder, kernel) > 0) & (face > 0)
    if not inner.any():
        return None
    moved = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=2)
    return float((moved[inner] <= KEPT_TOLERANCE).mean())


def covered_share(occluder: Mask, face: Mask) -> float:
    """Share of the face hull the occluder covers."""
    inside = face > 0
    return float((occluder[inside] > 0).mean()) if inside.any() else 0.0
