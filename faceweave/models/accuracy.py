"""How close a lighter copy of a model runs to its original, on the real faces of the bundled sample portraits.

Each task is fed what its adapter feeds it (the same template, crop, colour order and normalisation, from the
ModelSpec) and compared on what matters downstream: embedding cosine for embedders, PSNR of the output image for
swappers and enhancers, scores and box / five-point positions of confident anchors for detectors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.compose import measure
from faceweave.errors import MediaError, ModelError
from faceweave.geometry.align import estimate_alignment, from_blob, template_points, to_blob, warp_face
from faceweave.models.session import Runner
from faceweave.models.spec import ModelSpec, Task
from faceweave.samples import sample_path
from faceweave.types import FloatArray, Image

SAMPLE_FACES: dict[str, tuple[tuple[float, float], ...]] = {
    "hopper": ((222.2, 191.5), (305.6, 187.6), (268.1, 238.7), (230.9, 281.5), (302.1, 277.7)),
    "astronaut": ((203.5, 101.0), (246.6, 103.4), (223.4, 126.3), (201.8, 139.8), (245.4, 141.4)),
}
"""Five points of the face in each bundled sample (faceweave's analyser, MediaPipe; tests/models check them)."""
MIN_COSINE = 0.99
"""Embedders: the least cosine between the copy's and the original's embedding of a face."""
MIN_PSNR_DB = 30.0
"""Swappers and enhancers: the least PSNR of the copy's output image against the original's."""
MAX_SCORE_DIFF = 0.02
MAX_BOX_PX = 1.0
"""Detectors, at every anchor either model scores ≥ DETECTION_SCORE: the most score and box / point difference (px)."""
DETECTION_SCORE = 0.5
_STRIDES = (8, 16, 32)  # SCRFD's anchor strides (faceweave.analysis.scrfd.STRIDES; that layer sits above this one)
_MIRROR = [1, 0, 2, 4, 3]  # five points of a mirrored face: the eyes and the mouth corners swap sides


@dataclasses.dataclass(frozen=True)
class Metric:
    """One measured difference and the limit it must meet.

    Example:
        >>> Metric("psnr_db", 41.2, MIN_PSNR_DB, at_least=True).passed
        True
    """

    name: str
    value: float
    limit: float
    at_least: bool

    @property
    def passed(self) -> bool:
        """True when the value meets its limit."""
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def describe(self) -> str:
        """`psnr_db 41.2 (≥ 30)`."""
        return f"{self.name} {self.value:.6g} ({'≥' if self.at_least else '≤'} {self.limit:g})"


def sample_faces() -> list[tuple[Image, FloatArray]]:
    """The bundled portraits with their faces' five points, each also mirrored (four real faces)."""
    import PIL.Image

    faces = []
    for name, points in SAMPLE_FACES.items():
        try:
            with PIL.Image.open(sample_path(name)) as photo:
                image = np.ascontiguousarray(np.asarray(photo.convert("RGB"))[..., ::-1])
        except OSError as error:
            raise MediaError(sample_path(name), f"cannot read the sample portrait ({error})", "reinstall it") from None
        landmarks_5 = np.array(points, np.float32)
        mirrored = np.column_stack([image.shape[1] - 1 - landmarks_5[:, 0], landmarks_5[:, 1]])[_MIRROR]
        faces += [(image, landmarks_5), (np.ascontiguousarray(image[:, ::-1]), mirrored.astype(np.float32))]
    return faces


def _crops(spec: ModelSpec) -> list[Image]:
    """Each sample face aligned on the model's template at its crop size (black outside the frame for embedders)."""
    template = template_points(spec.template or "arcface_128", spec.crop_px)
    return [
        warp_face(image, estimate_alignment(points, template), spec.crop_px, black_border=spec.task == "embedder")
        for image, points in sample_faces()
    ]


def psnr(a: Image, b: Image) -> float:
    """PSNR in dB of two uint8 images (99 for identical ones).

    Example:
        >>> psnr(np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 1, np.uint8))
        48.13080360867909
    """
    return min(99.0, measure.psnr(a, b))  # finite, for the JSON record


def _images_psnr(original: Runner, variant: Runner, items: Sequence[Sequence[npt.NDArray[Any]]]) -> tuple[Metric]:
    """The worst PSNR between the two models' output images over the input items."""
    spec = original.spec

    def image(runner: Runner, item: Sequence[npt.NDArray[Any]]) -> Image:
        return from_blob(runner.run(*item)[0], spec.mean, spec.std, spec.colour)

    worst = min(psnr(image(original, item), image(variant, item)) for item in items)
    return (Metric("psnr_db", worst, MIN_PSNR_DB, at_least=True),)


def _swapper(original: Runner, variant: Runner) -> tuple[Metric, ...]:
    """Output PSNR over the sample faces × two seeded unit latents (the length the emap product is normalised to)."""
    spec = original.spec
    latents = np.random.default_rng(22).normal(size=(2, 512)).astype(np.float32)
    latents /= np.linalg.norm(latents, axis=1, keepdims=True)
    blobs = [to_blob(crop, spec.mean, spec.std, spec.colour) for crop in _crops(spec)]
    return _images_psnr(original, variant, [(blob, latent[None]) for blob in blobs for latent in latents])


def _face_enhancer(original: Runner, variant: Runner) -> tuple[Metric, ...]:
    spec = original.spec
    extra = (np.array([0.5], np.float64),) if spec.architecture == "codeformer" else ()
    return _images_psnr(
        original, variant, [(to_blob(c, spec.mean, spec.std, spec.colour), *extra) for c in _crops(spec)]
    )


def _frame_enhancer(original: Runner, variant: Runner) -> tuple[Metric, ...]:
    """Output PSNR on a 96 px tile around each sample face (an even size, as the ×2 model needs)."""
    spec, tiles = original.spec, []
    for image, points in sample_faces():
        x, y = np.clip(points.mean(axis=0).astype(int) - 48, 0, [image.shape[1] - 96, image.shape[0] - 96])
        tiles.append((to_blob(image[y : y + 96, x : x + 96], spec.mean, spec.std, spec.colour),))
    return _images_psnr(original, variant, tiles)


def _embedder(original: Runner, variant: Runner) -> tuple[Metric, ...]:
    spec, cosines = original.spec, []
    for crop in _crops(spec):
        blob = to_blob(crop, spec.mean, spec.std, spec.colour)
        a, b = (np.asarray(runner.run(blob)[0], np.float64).reshape(-1) for runner in (original, variant))
        cosines.append(float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)))
    return (Metric("cosine", min(cosines), MIN_COSINE, at_least=True),)


def _detector_canvas(image: Image, input_px: int) -> Image:
    """The image shrunk to fit input_px² and pasted top-left into zeros, as the detector's adapter feeds it."""
    k = input_px / max(image.shape[:2])
    size_wh = (max(1, int(image.shape[1] * k)), max(1, int(image.shape[0] * k)))
    canvas = np.zeros((input_px, input_px, 3), np.uint8)
    canvas[: size_wh[1], : size_wh[0]] = cv2.resize(image, size_wh, interpolation=cv2.INTER_LINEAR)
    return canvas


def _detector(original: Runner, variant: Runner) -> tuple[Metric, ...]:
    """Score and box / five-point differences (input pixels) at every anchor either model finds confident."""
    spec, score_diff, box_px, confident = original.spec, 0.0, 0.0, 0
    for image, _ in sample_faces():
        blob = to_blob(_detector_canvas(image, spec.crop_px or 640), spec.mean, spec.std, spec.colour)
        a, b = original.run(blob), variant.run(blob)
        for level, stride in enumerate(_STRIDES):
            scores = np.stack([np.asarray(a[level]).reshape(-1), np.asarray(b[level]).reshape(-1)])
            mask = scores.max(axis=0) >= DETECTION_SCORE
            confident += int(mask.sum())
            if not mask.any():
                continue
            score_diff = max(score_diff, float(np.abs(scores[0] - scores[1])[mask].max()))
            for kind in (1, 2):  # box distances, five-point offsets (× stride = pixels)
                index = kind * len(_STRIDES) + level
                rows_a, rows_b = (np.asarray(o[index]).reshape(mask.size, -1)[mask] for o in (a, b))
                box_px = max(box_px, float(np.abs(rows_a - rows_b).max()) * stride)
    if confident == 0:
        raise ModelError(f"{spec.name} finds no face in the sample portraits, so its copy cannot be checked")
    return Metric("score_diff", score_diff, MAX_SCORE_DIFF, False), Metric("box_px", box_px, MAX_BOX_PX, False)


CHECKS: dict[Task, Callable[[Runner, Runner], tuple[Metric, ...]]] = {
    "swapper": _swapper,
    "face_enhancer": _face_enhancer,
    "frame_enhancer": _frame_enhancer,
    "embedder": _embedder,
    "detector": _detector,
}
"""The comparison for each task."""


def compare(original: Runner, variant: Runner) -> tuple[Metric, ...]:
    """The metrics of a variant against its original, each with its limit (all must pass).

    Example:
        >>> [m.describe() for m in compare(original, variant)]  # doctest: +SKIP
        ['psnr_db 51.3 (≥ 30)']
    """
    return CHECKS[original.spec.task](original, variant)
