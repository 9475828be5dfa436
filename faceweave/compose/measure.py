"""How far apart two images are: the one PSNR that the watermark check, the model-variant check and the encoder
benchmark all use."""

from __future__ import annotations

import numpy as np

from faceweave.types import Image


def psnr(reference: Image, changed: Image) -> float:
    """Peak signal-to-noise ratio in dB between two same-sized uint8 images (inf when identical).

    Example:
        >>> psnr(np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 1, np.uint8))
        48.13080360867909
    """
    error = np.mean((reference.astype(np.float64) - changed.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))
