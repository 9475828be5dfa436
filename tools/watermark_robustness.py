"""Measure the invisible watermark: PSNR and detection after JPEG re-saves, resizing and cropping; prints a table.

Usage: python tools/watermark_robustness.py [IMAGE_DIR]   (default ../shared/testdata/images, else bundled samples)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.compose.measure import psnr
from faceweave.media.image_io import read_image
from faceweave.provenance.watermark import embed_watermark, find_watermark
from faceweave.samples import sample_path

Image = npt.NDArray[np.uint8]
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "images"
PAYLOAD = 0x5EED_F00D


def jpeg(quality: int) -> Callable[[Image], Image]:
    def attack(image: Image) -> Image:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8)

    return attack


def resize(factor: float) -> Callable[[Image], Image]:
    def attack(image: Image) -> Image:
        height, width = image.shape[:2]
        size_wh = (round(width * factor), round(height * factor))
        return np.asarray(cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA), np.uint8)

    return attack


def crop(fraction: float) -> Callable[[Image], Image]:
    """Keep `fraction` of each side, starting at an odd offset (not aligned with any grid)."""

    def attack(image: Image) -> Image:
        height, width = image.shape[:2]
        top, left = int(height * (1 - fraction) * 0.37) + 3, int(width * (1 - fraction) * 0.61) + 5
        return np.ascontiguousarray(image[top : top + int(height * fraction), left : left + int(width * fraction)])

    return attack


def chain(*attacks: Callable[[Image], Image]) -> Callable[[Image], Image]:
    def attack(image: Image) -> Image:
        for step in attacks:
            image = step(image)
        return image

    return attack


ATTACKS: dict[str, Callable[[Image], Image]] = {  # "crop 50 % per side" keeps a quarter of the picture
    "none (PNG)": lambda image: image,
    "JPEG q95": jpeg(95),
    "JPEG q90": jpeg(90),
    "JPEG q75": jpeg(75),
    "JPEG q50": jpeg(50),
    "resize 50 %": resize(0.5),
    "resize 50 % + JPEG q90": chain(resize(0.5), jpeg(90)),
    "resize 75 % + JPEG q90": chain(resize(0.75), jpeg(90)),
    "crop 75 % per side": crop(0.75),
    "crop 50 % per side": crop(0.5),
    "crop 50 % + JPEG q75": chain(crop(0.5), jpeg(75)),
    "crop 70 % + resize 50 % + JPEG q90": chain(crop(0.7), resize(0.5), jpeg(90)),
}


def images(folder: Path) -> list[tuple[str, Image]]:
    paths = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    paths = paths or [sample_path("hopper"), sample_path("astronaut")]
    return [(path.name, read_image(path).image) for path in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args()
    photos = images(args.folder)
    marked = [(name, embed_watermark(image, PAYLOAD)) for name, image in photos]
    psnrs = [psnr(image, mark) for (_, image), (_, mark) in zip(photos, marked, strict=True)]
    sizes = sorted((image.shape[0] * image.shape[1], f"{image.shape[1]}×{image.shape[0]}") for _, image in photos)
    print(f"{len(photos)} photos ({sizes[0][1]} … {sizes[-1][1]}), payload {PAYLOAD:#010x}")
    print(f"PSNR marked vs original: mean {np.mean(psnrs):.1f} dB, min {np.min(psnrs):.1f} dB\n")
    print(f"| {'attack':<36} | found | wrong |    ms | missed on (original size) |")
    print(f"|{'-' * 38}|-------|-------|-------|---------------------------|")
    for attack_name, attack in ATTACKS.items():
        found, wrong, missed = 0, 0, []
        start = time.perf_counter()
        for (_, mark), (_, image) in zip(marked, photos, strict=True):
            match = find_watermark(attack(mark))
            found += match is not None and match.payload == PAYLOAD
            wrong += match is not None and match.payload != PAYLOAD
            if match is None:
                missed.append(f"{image.shape[1]}×{image.shape[0]}")
        ms = (time.perf_counter() - start) * 1000 / len(marked)
        counts = f"{found:>2}/{len(marked):<2} | {wrong:>5} | {ms:>5.0f}"
        print(f"| {attack_name:<36} | {counts} | {', '.join(missed) or '-'} |")
    false_positives = 0
    for _, image in photos:
        for attack in (ATTACKS["none (PNG)"], ATTACKS["JPEG q90"], ATTACKS["resize 50 %"]):
            false_positives += find_watermark(attack(image)) is not None
    tries = 3 * len(photos)
    print(f"\nunmarked originals (as is, JPEG q90, resized 50 %): {false_positives} false detections in {tries}")


if __name__ == "__main__":
    main()
