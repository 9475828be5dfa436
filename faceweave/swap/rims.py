"""Light glasses rims in the source atlas: the loop of each lens traced around its eye.

Dark frames are found by `faceweave.occluders.glasses.find_glasses`; translucent or light rims (amber, cream,
clear plastic) are not dark, and their lower halves run through the eye bags, where wrinkles make lines as strong
as theirs. A rim is a lens's outline: a closed, smooth curve around the eye, lying outside the eye bags. So each
lens is traced in polar coordinates around its eye by dynamic programming over the angle (a smooth radius, the
strongest light ridge of yellowness and brightness on the way, a small reward for lying further out, which keeps
the trace on the outermost loop rather than on an eye-bag wrinkle inside it), and only the strong parts of the
trace are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.types import FloatArray, Image

BoolMask = npt.NDArray[np.bool_]

ANGLES_DEG = (-40, 235)  # traced below the eye line and up both sides (the top rims are dark: found elsewhere)
INNER_GAP = 0.55  # the trace keeps this many eye half-widths outside the eye opening (the eye bags)
OUTER_REACH = 2.4  # ... and within this many eye half-widths of the eye centre
REACH_REWARD = 0.3  # reward per eye half-width of radius: the outermost of two equal loops wins
STEP_COST = 0.3  # penalty per pixel of radius change between neighbouring degrees
MAX_STEP = 2  # pixels of radius change allowed per degree
STRONG = 0.4  # parts of the trace weaker than this (× the 95th percentile of the ridge response) are not rims
RIDGE_SIGMA = 1 / 256  # of the atlas side: about half a rim's width
RIM_WIDTH = 1 / 56  # of the atlas side: the band filled along a trace


def light_ridges(texture: Image, sigma: float) -> FloatArray:
    """(H, W) ≥ 0 response of thin lines more yellow (Lab b*) and, less so, lighter than both their sides."""
    lab = cv2.cvtColor(texture, cv2.COLOR_BGR2LAB).astype(np.float32)
    return _bright_ridge(lab[..., 2], sigma) + 0.3 * _bright_ridge(lab[..., 0], sigma)


def _bright_ridge(channel: FloatArray, sigma: float) -> FloatArray:
    """Scale-normalised minus the most negative Hessian eigenvalue: high along thin bright lines."""
    smooth = cv2.GaussianBlur(channel, (0, 0), sigma)
    dxx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0, ksize=3)
    dyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2, ksize=3)
    dxy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1, ksize=3)
    lowest = (dxx + dyy) / 2 - np.sqrt(((dxx - dyy) / 2) ** 2 + dxy**2)
    return (np.maximum(-lowest, 0.0) * sigma**2).astype(np.float32)


def trace(reward: FloatArray, low: npt.NDArray[np.int64], high: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """(A,) the radius per angle row of `reward` (A, R) with the largest total reward, minus STEP_COST per pixel of
    change between rows (at most MAX_STEP), each radius within [low, high) of its row.

    Example: a reward of 1 along radius 5 and 0 elsewhere gives 5 on every row its window allows.
    """
    rows, radii = reward.shape
    outside = np.float32(-1e9)
    allowed = (np.arange(radii)[None, :] >= low[:, None]) & (np.arange(radii)[None, :] < high[:, None])
    gains = np.where(allowed, reward, outside).astype(np.float32)
    score = gains[0].copy()
    back = np.zeros((rows, radii), np.int64)
    for row in range(1, rows):
        best = np.full(radii, outside, np.float32)
        origin = np.zeros(radii, np.int64)
        for step in range(-MAX_STEP, MAX_STEP + 1):
            moved = np.full(radii, outside, np.float32)  # moved[r] = score[r - step]
            if step >= 0:
                moved[step:] = score[: radii - step]
            else:
                moved[:step] = score[-step:]
            moved -= STEP_COST * abs(step)
            better = moved > best
            best[better] = moved[better]
            origin[better] = (np.arange(radii) - step)[better]
        score = np.maximum(best + gains[row], outside)
        back[row] = origin
    path = np.zeros(rows, np.int64)
    path[-1] = int(np.argmax(score))
    for row in range(rows - 1, 0, -1):
        path[row - 1] = back[row, path[row]]
    return path


def find_rims(texture: Image, eyes: Sequence[FloatArray]) -> BoolMask:
    """(H, W) True over the light rims of the lenses around `eyes` ((N, 2) atlas points of each eye's outline; each
    traced from its temple side, so the left one mirrored)."""
    size = texture.shape[0]
    response = light_ridges(texture, max(1.0, RIDGE_SIGMA * size))
    rims = np.zeros(texture.shape[:2], np.uint8)
    degrees = np.arange(ANGLES_DEG[0], ANGLES_DEG[1] + 1)
    middle = float(np.mean([eye[:, 0].mean() for eye in eyes]))
    for eye in eyes:
        centre = eye.mean(axis=0)
        half_w, half_h = max(float(np.ptp(eye[:, 0])) / 2, 2.0), max(float(np.ptp(eye[:, 1])) / 2, 1.0)
        reach = int(np.ceil(OUTER_REACH * half_w)) + 2
        origin = (float(centre[0]), float(centre[1]))
        polar = cv2.warpPolar(response, (reach, 360), origin, reach, cv2.WARP_POLAR_LINEAR)
        own = degrees if centre[0] >= middle else 180 - degrees  # both traced from the temple side
        rows = polar[np.mod(own, 360)]
        rows = rows / max(float(np.percentile(rows, 95)), 1e-6)
        theta = np.radians(own)
        opening = 1 / np.sqrt(np.cos(theta) ** 2 / half_w**2 + np.sin(theta) ** 2 / half_h**2)
        low = np.clip(opening + INNER_GAP * half_w, 0, reach - 2).astype(np.int64)
        high = np.maximum(np.full(len(own), int(OUTER_REACH * half_w)), low + 1)
        reward = np.minimum(rows, 2.0) - STRONG + REACH_REWARD * np.arange(reach)[None, :] / half_w
        radius = trace(reward.astype(np.float32), low, high)
        strong = rows[np.arange(len(own)), radius] >= STRONG
        points = np.stack([centre[0] + radius * np.cos(theta), centre[1] + radius * np.sin(theta)], axis=1)
        width = max(3, round(RIM_WIDTH * size))
        for i in np.flatnonzero(strong[:-1] & strong[1:]):
            a, b = np.round(points[i]).astype(int), np.round(points[i + 1]).astype(int)
            cv2.line(rims, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1, width)
    return rims > 0
