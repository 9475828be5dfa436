"""A synthetic crowd clip for the video and live benchmarks: real faces, 6–12 of them, moving and growing.

No crowded street footage is on hand, so one is built from what is: talking-head clips and group photos laid out
as tiles of a 1080p frame. Each tile drifts, and the group photos slowly zoom in (people walking towards the
camera), so the tracker sees motion, faces that grow, and some that leave or enter a tile's edge. The clip is
only for timing: its faces are real, its scene is not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from faceweave.errors import UsageError
from faceweave.media.image_io import read_image
from faceweave.media.video_io import VideoInfo, VideoReader
from faceweave.media.video_writer import EncodeOptions, VideoWriter
from faceweave.types import Image

FRAME_WH = (1920, 1080)
GRID = (3, 2)  # columns, rows
CLIP_NAMES = (
    "liveportrait_d11_girl_talking.mp4",
    "liveportrait_d3_woman_expressions.mp4",
    "hamilton_short_clip.mp4",
    "liveportrait_d0_man_greenscreen.mp4",
)
PHOTO_NAMES = ("group_six_adults.jpg", "group_three_men.jpg")


@dataclasses.dataclass(frozen=True)
class CrowdSpec:
    """What goes in the crowd: clip and photo paths (tiles in that order), seconds, frame rate, frame size."""

    clips: tuple[Path, ...]
    photos: tuple[Path, ...]
    seconds: float = 6.0
    fps: int = 25
    size_wh: tuple[int, int] = FRAME_WH

    @classmethod
    def from_testdata(cls, testdata: Path, seconds: float = 6.0, fps: int = 25) -> CrowdSpec:
        """The default crowd from ../shared/testdata (video/ and images/); UsageError naming a missing file."""
        clips = tuple(testdata / "video" / name for name in CLIP_NAMES)
        photos = tuple(testdata / "images" / name for name in PHOTO_NAMES)
        missing = [str(path) for path in (*clips, *photos) if not path.is_file()]
        if missing:
            raise UsageError(f"the crowd clip needs {', '.join(missing)}; pass the testdata folder that holds them")
        return cls(clips, photos, seconds, fps)


def _cells(spec: CrowdSpec) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of each grid cell."""
    columns, rows = GRID
    w, h = spec.size_wh[0] // columns, spec.size_wh[1] // rows
    return [(c * w, r * h, w, h) for r in range(rows) for c in range(columns)]


def _cover(image: Image, w: int, h: int, zoom: float, shift: tuple[float, float]) -> Image:
    """`image` scaled to cover w×h times `zoom`, cropped round its centre moved by `shift` (fractions of w, h)."""
    k = max(w / image.shape[1], h / image.shape[0]) * zoom
    cx = image.shape[1] / 2 + shift[0] * w / k
    cy = image.shape[0] / 2 + shift[1] * h / k
    matrix = np.array([[k, 0, w / 2 - k * cx], [0, k, h / 2 - k * cy]], np.float32)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def _looped(path: Path) -> Iterator[Image]:
    """A clip's frames, from the start again when it ends."""
    while True:
        with VideoReader(path) as reader:
            yielded = False
            for frame in reader:
                yielded = True
                yield frame.image
        if not yielded:
            raise UsageError(f"'{path}' has no frames")


def crowd_frames(spec: CrowdSpec) -> Iterator[Image]:
    """The crowd clip's frames, BGR, `spec.size_wh`."""
    cells = _cells(spec)
    if len(spec.clips) + len(spec.photos) > len(cells):
        raise UsageError(f"at most {len(cells)} tiles fit the crowd grid")
    clips = [_looped(path) for path in spec.clips]
    photos = [read_image(path).image for path in spec.photos]
    count = round(spec.seconds * spec.fps)
    for index in range(count):
        t = index / max(1, count - 1)
        canvas = np.zeros((spec.size_wh[1], spec.size_wh[0], 3), np.uint8)
        sources: Sequence[tuple[Image, float, tuple[float, float]]] = [
            (next(clip), 1.05 + 0.1 * t, (0.04 * math.sin(2 * math.pi * (t + i / 4)), 0.03 * t))
            for i, clip in enumerate(clips)
        ] + [(photo, 1.0 + 0.6 * t, (0.05 * (t - 0.5), -0.04 * t)) for photo in photos]
        for (x, y, w, h), (image, zoom, shift) in zip(cells, sources, strict=False):
            canvas[y : y + h, x : x + w] = _cover(image, w, h, zoom, shift)
        yield canvas


def write_crowd_clip(spec: CrowdSpec, output: Path) -> Path:
    """Encode the crowd clip (H.264, CRF 18, veryfast) to `output`; returns it."""
    frames = round(spec.seconds * spec.fps)
    bt709 = 1  # colour space, primaries and transfer of HD video
    info = VideoInfo(
        path=str(output),
        width=spec.size_wh[0],
        height=spec.size_wh[1],
        fps=Fraction(spec.fps),
        time_base=Fraction(1, spec.fps),
        frames=frames,
        duration=spec.seconds,
        rotation=0,
        codec="h264",
        has_audio=False,
        audio_codec=None,
        start_time=Fraction(0),
        colorspace=bt709,
        color_primaries=bt709,
        color_trc=bt709,
    )
    with VideoWriter(output, info, EncodeOptions(crf=18, preset="veryfast", audio=False)) as writer:
        for index, frame in enumerate(crowd_frames(spec)):
            writer.write(frame, index)
    return output
