"""Neural enhancers: face restorers (GFPGAN, CodeFormer, GPEN) on ffhq_512 crops, and Real-ESRGAN on tiles."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from faceweave.faces import Face
from faceweave.geometry.align import (
    box_mask,
    estimate_alignment,
    from_blob,
    paste_back,
    template_points,
    to_blob,
    warp_face,
)
from faceweave.models.loader import load_model
from faceweave.models.session import Runner
from faceweave.settings import Settings
from faceweave.types import Image


class FaceEnhancer:
    """Restores one face at a time; final = original·(1 − blend) + restored·blend inside a feathered box.

    Example:
        >>> enhancer = FaceEnhancer.from_settings(Settings(enhancer="gfpgan_1.4"))  # doctest: +SKIP
        >>> frame = enhancer(frame, faces[0])  # doctest: +SKIP
    """

    def __init__(self, runner: Runner, blend: float = 0.8, fidelity: float = 0.5) -> None:
        self.runner = runner
        self.fidelity = fidelity
        self.mask = box_mask(runner.spec.crop_px, blur=0.3) * np.float32(blend)

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceEnhancer:
        """Load the model named by settings.enhancer."""
        runner = load_model(settings.enhancer, settings, task="face_enhancer")
        return cls(runner, settings.enhancer_blend, settings.codeformer_fidelity)

    @property
    def runners(self) -> tuple[Runner, ...]:
        """The session it runs, for reports."""
        return (self.runner,)

    def restore(self, crop: Image) -> Image:
        """The restored aligned crop."""
        spec = self.runner.spec
        blobs = [to_blob(crop, spec.mean, spec.std, spec.colour)]
        if spec.architecture == "codeformer":
            blobs.append(np.array([self.fidelity], np.float64))
        return from_blob(self.runner.run(*blobs)[0], spec.mean, spec.std, spec.colour)

    def __call__(self, frame: Image, face: Face) -> Image:
        """A copy of `frame` with this face restored."""
        spec = self.runner.spec
        matrix = estimate_alignment(face.landmarks_5, template_points(spec.template or "ffhq_512", spec.crop_px))
        crop = warp_face(frame, matrix, spec.crop_px)
        return paste_back(frame, self.restore(crop), self.mask, matrix)


MOD_SCALE = {1: 4, 2: 2}
"""Input sizes an upscaler of each scale needs a multiple of (RRDBNet pixel-unshuffles at scales 1 and 2)."""


def tile_origins(length: int, tile: int) -> list[int]:
    """Start offsets of tiles covering `length` (the last tile may be shorter)."""
    return list(range(0, max(length, 1), tile))


def upscale_tiled(image: Image, run: Callable[[Image], Image], scale: int, tile: int = 256, pad: int = 16) -> Image:
    """`run` (an ×scale upscaler) applied tile by tile with `pad` px of context around each; crops the overlaps.

    Example:
        >>> up = upscale_tiled(np.zeros((40, 50, 3), np.uint8), lambda t: np.repeat(np.repeat(t, 2, 0), 2, 1), 2, 16)
        >>> up.shape
        (80, 100, 3)
    """
    h, w = image.shape[:2]
    result = np.zeros((h * scale, w * scale, 3), np.uint8)
    for y in tile_origins(h, tile):
        for x in tile_origins(w, tile):
            y0, x0 = max(0, y - pad), max(0, x - pad)
            y1, x1 = min(h, y + tile + pad), min(w, x + tile + pad)
            out = run(image[y0:y1, x0:x1])
            ty1, tx1 = min(h, y + tile), min(w, x + tile)
            top, left = (y - y0) * scale, (x - x0) * scale
            result[y * scale : ty1 * scale, x * scale : tx1 * scale] = out[
                top : top + (ty1 - y) * scale, left : left + (tx1 - x) * scale
            ]
    return result


class FrameEnhancer:
    """Real-ESRGAN-contract upscaler on tiles; the result is brought back to the frame size and blended.

    Example:
        >>> enhancer = FrameEnhancer.from_settings(Settings(frame_enhancer="real_esrgan_x2"))  # doctest: +SKIP
        >>> sharper = enhancer(frame)  # doctest: +SKIP
    """

    def __init__(self, runner: Runner, blend: float = 0.8, tile: int = 256, pad: int = 16) -> None:
        self.runner = runner
        self.blend = blend
        self.tile = tile
        self.pad = pad

    @classmethod
    def from_settings(cls, settings: Settings) -> FrameEnhancer:
        """Load the model named by settings.frame_enhancer."""
        return cls(load_model(settings.frame_enhancer, settings, task="frame_enhancer"), settings.enhancer_blend)

    @property
    def runners(self) -> tuple[Runner, ...]:
        """The session it runs, for reports."""
        return (self.runner,)

    def run_tile(self, tile: Image) -> Image:
        """One tile through the model (×scale)."""
        spec = self.runner.spec
        outputs = self.runner.run(to_blob(tile, spec.mean, spec.std, spec.colour))
        return from_blob(outputs[0], spec.mean, spec.std, spec.colour)

    def upscale(self, frame: Image) -> Image:
        """The frame at the model's scale.

        Frames are first reflect-padded at the bottom and right to a multiple of the model's input granularity,
        as the reference does (Real-ESRGAN `RealESRGANer.pre_process`: RRDBNet unshuffles pixels 2×2 at scale 2
        and 4×4 at scale 1, so those sizes must be even / a multiple of 4); the padding is cropped off after.
        """
        scale = self.runner.spec.scale
        h, w = frame.shape[:2]
        mod = MOD_SCALE.get(scale, 1)
        padded = cv2.copyMakeBorder(frame, 0, -h % mod, 0, -w % mod, cv2.BORDER_REFLECT_101)
        return upscale_tiled(padded, self.run_tile, scale, self.tile, self.pad)[: h * scale, : w * scale]

    def __call__(self, frame: Image) -> Image:
        """The frame enhanced at its own size: upscaled, area-downscaled back, blended with the original."""
        h, w = frame.shape[:2]
        back = cv2.resize(self.upscale(frame), (w, h), interpolation=cv2.INTER_AREA)
        return cv2.addWeighted(back, self.blend, frame, 1 - self.blend, 0)
