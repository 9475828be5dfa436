"""Flicker: frame-to-frame change inside a face after undoing the face's own motion, output vs input.

For consecutive frames showing the same tracked face, frame t−1 is warped onto frame t with the 2D similarity
that maps the face's mesh at t−1 onto its mesh at t; the mean absolute difference inside the face (the mesh's
convex hull, shrunk a little) is that frame's change. The same reference meshes (an unsmoothed tracking pass)
serve the input and every output, so smoothing modes are compared on equal terms.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.engine import Engine, ImageInput
from faceweave.media.video_io import VideoReader
from faceweave.settings import Settings, Smoothing
from faceweave.types import FloatArray, Image

Reference = tuple[int, FloatArray] | None  # (track id, mesh) of the measured face, per frame


@dataclasses.dataclass(frozen=True)
class Flicker:
    """Mean motion-compensated change per frame pair (0–255 levels) of the input and the output, and their ratio."""

    pairs: int
    input: float
    output: float

    @property
    def ratio(self) -> float:
        """Output flicker / input flicker (1 = as steady as the input)."""
        return self.output / self.input if self.input > 0 else float("nan")


def similarity_2d(source: FloatArray, target: FloatArray) -> FloatArray:
    """2×3 least-squares similarity (rotation, uniform scale, shift) mapping `source` points onto `target`."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    a = float((s * t).sum()) / max(float((s * s).sum()), 1e-9)
    b = float((s[:, 0] * t[:, 1] - s[:, 1] * t[:, 0]).sum()) / max(float((s * s).sum()), 1e-9)
    rotation = np.array([[a, -b], [b, a]], np.float32)
    return np.hstack([rotation, (mu_t - rotation @ mu_s)[:, None]]).astype(np.float32)


def face_mask(mesh: FloatArray, shape_hw: tuple[int, int], shrink: float = 0.06) -> npt.NDArray[np.bool_]:
    """The mesh's convex hull, eroded by `shrink` × the face size (edges and background left out)."""
    mask = np.zeros(shape_hw, np.uint8)
    hull = cv2.convexHull(np.round(mesh[:468, :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    radius = max(1, round(shrink * float(np.ptp(mesh[:468, 0]))))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    return mask > 0


def pair_change(previous: Image, frame: Image, previous_mesh: FloatArray, mesh: FloatArray) -> float | None:
    """Mean absolute change inside the face between two frames after undoing the face's motion (None: no pixels)."""
    matrix = similarity_2d(previous_mesh[:468, :2], mesh[:468, :2])
    h, w = frame.shape[:2]
    warped = cv2.warpAffine(previous, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = face_mask(mesh, (h, w))
    if not mask.any():
        return None
    return float(cv2.absdiff(warped, frame)[mask].mean())


def _series(frames: Iterator[Image], references: list[Reference]) -> list[float]:
    changes: list[float] = []
    previous: tuple[Image, Reference] | None = None
    for frame, reference in zip(frames, references, strict=False):
        before = previous[1] if previous is not None else None
        if previous is not None and before is not None and reference is not None and before[0] == reference[0]:
            change = pair_change(previous[0], frame, before[1], reference[1])
            if change is not None:
                changes.append(change)
        previous = (frame, reference)
    return changes


def _outputs(
    settings: Settings, sources: list[ImageInput], path: str | os.PathLike[str], references: list[Reference] | None
) -> Iterator[Image]:
    engine = Engine.load(settings, mode="video")
    bindings, stream = engine.bind(sources), engine.stream()
    with VideoReader(path) as reader:
        for frame in reader:
            result = engine.process(frame.image, bindings, stream, seconds=float(frame.seconds))
            if references is not None:
                swapped = [int(result.faces.tracks[i]) for i in result.swapped]
                face = int(np.argmax(result.faces.sizes)) if swapped else -1
                references.append((int(result.faces.tracks[face]), result.faces.mesh[face]) if swapped else None)
            yield result.image


def _inputs(path: str | os.PathLike[str]) -> Iterator[Image]:
    with VideoReader(path) as reader:
        for frame in reader:
            yield frame.image


def measure_clip(
    settings: Settings, sources: list[ImageInput], path: str | os.PathLike[str], modes: tuple[Smoothing, ...]
) -> dict[str, Flicker]:
    """Flicker of the input and of the output under each smoothing mode (an unsmoothed pass gives the meshes)."""
    references: list[Reference] = []
    # _series zips frames (first) with references: each output frame appends its reference before it is paired.
    unsmoothed = _series(_outputs(settings.replace(smoothing="none"), sources, path, references), references)
    own = _series(_inputs(path), references)
    results: dict[str, Flicker] = {}
    for mode in modes:
        if mode == "none":
            results[mode] = Flicker(len(unsmoothed), _mean(own), _mean(unsmoothed))
            continue
        changes = _series(_outputs(settings.replace(smoothing=mode), sources, path, None), references)
        results[mode] = Flicker(len(changes), _mean(own), _mean(changes))
    return results


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0
