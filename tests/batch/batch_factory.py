"""Small face images for batch tests: the bundled public-domain portraits with varied crops, flips and scales."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.media.image_io import read_image
from faceweave.samples import sample_path

Image = npt.NDArray[np.uint8]


def portraits() -> list[Image]:
    """Grace Hopper and Eileen Collins, BGR."""
    return [read_image(sample_path(name)).image for name in ("hopper", "astronaut")]


def varied(image: Image, rng: random.Random, side: int) -> Image:
    """A crop keeping the face (the portraits' faces sit in the upper middle), maybe flipped, scaled to ~`side`."""
    height, width = image.shape[:2]
    margin = rng.uniform(0.0, 0.12)
    top, left = int(height * margin * 0.5), int(width * margin)
    bottom, right = height - int(height * margin), width - int(width * margin * 0.5)
    crop = image[top:bottom, left:right]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    scale = side * rng.uniform(0.85, 1.15) / max(crop.shape[:2])
    size_wh = (max(16, round(crop.shape[1] * scale)), max(16, round(crop.shape[0] * scale)))
    return np.ascontiguousarray(cv2.resize(crop, size_wh, interpolation=cv2.INTER_AREA))


def write_faces(folder: Path, count: int, side: int = 160, seed: int = 0, subdirs: Sequence[str] = ("",)) -> list[Path]:
    """Write `count` varied face images (JPEG and PNG) spread over `subdirs` of `folder`; returns their paths."""
    rng = random.Random(seed)
    sources = portraits()
    paths = []
    for index in range(count):
        directory = folder / subdirs[index % len(subdirs)]
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"face_{index:03d}{'.png' if index % 3 == 0 else '.jpg'}"
        cv2.imwrite(str(path), varied(sources[index % len(sources)], rng, side))
        paths.append(path)
    return paths


def no_face_image(path: Path, side: int = 160) -> Path:
    """A photo region without a face (the astronaut's lower corner: flag and suit)."""
    image = read_image(sample_path("astronaut")).image
    cv2.imwrite(str(path), cv2.resize(np.ascontiguousarray(image[380:, :130]), (side, side)))
    return path
