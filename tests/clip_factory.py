"""Small test videos made with PyAV in the tests themselves: a real face moving over a textured background,
optionally followed by face-free frames, with a sine-wave audio track; plus broken files for the error cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.audio
import av.video
import cv2
import numpy as np
import numpy.typing as npt

from faceweave.media.image_io import read_image
from faceweave.samples import sample_path

Pixels = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]
SAMPLE_RATE = 44_100


@dataclass(frozen=True, eq=False)
class Clip:
    """A generated video: the frames as encoded (BGR), their pts and time base, and where the face is."""

    path: Path
    frames: list[Pixels]
    pts: list[int]
    time_base: Fraction
    face_boxes: list[Box | None]  # x1, y1, x2, y2 per frame, None when no face


def background(size_wh: tuple[int, int], phase: int) -> Pixels:
    """A smooth, slowly moving colour gradient with mild texture (so frames differ but compress well)."""
    width, height = size_wh
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    blue = 120 + 50 * np.sin((x + 3 * phase) / 37.0)
    green = 110 + 40 * np.cos((y - 2 * phase) / 29.0)
    red = 100 + 30 * np.sin((x + y) / 53.0)
    return np.clip(np.dstack([blue, green, red]), 0, 255).astype(np.uint8)


def astronaut_head(side: int) -> Pixels:
    """Eileen Collins' head and shoulders (scikit-image's astronaut), square, `side` pixels."""
    image = read_image(sample_path("astronaut")).image
    return cv2.resize(image[20:230, 120:330], (side, side), interpolation=cv2.INTER_AREA)


def face_frames(size_wh: tuple[int, int], count: int, with_face: int) -> tuple[list[Pixels], list[Box | None]]:
    """`count` frames; the first `with_face` show the head moving left to right and growing a little."""
    width, height = size_wh
    frames: list[Pixels] = []
    boxes: list[Box | None] = []
    for i in range(count):
        frame = background(size_wh, i)
        box: Box | None = None
        if i < with_face:
            side = int(height * (0.6 + 0.1 * i / max(1, with_face - 1)))
            x = int((width - side) * (0.2 + 0.6 * i / max(1, with_face - 1)))
            y = (height - side) // 2
            frame[y : y + side, x : x + side] = astronaut_head(side)
            box = (x, y, x + side, y + side)
        frames.append(frame)
        boxes.append(box)
    return frames, boxes


def write_clip(
    path: Path,
    frames: Sequence[Pixels],
    *,
    fps: Fraction = Fraction(15),
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    codec: str = "libx264",
    audio_seconds: float | None = None,
    rotation: int = 0,
    boxes: Sequence[Box | None] | None = None,
) -> Clip:
    """Encode frames (near-lossless) with the given timestamps, optional sine audio and display rotation."""
    time_base = time_base or 1 / fps
    pts = list(pts) if pts is not None else [round(i / fps / time_base) for i in range(len(frames))]
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options={"crf": "10", "preset": "ultrafast"})
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        audio = _audio_stream(container) if audio_seconds else None
        for image, stamp in zip(frames, pts, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = stamp, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio is not None and audio_seconds:
            _write_sine(container, audio, audio_seconds)
    face_boxes: list[Box | None] = list(boxes) if boxes is not None else [None] * len(frames)
    return Clip(path, list(frames), pts, time_base, face_boxes)


def _audio_stream(container: av.container.OutputContainer) -> av.audio.AudioStream:
    stream = container.add_stream("aac", rate=SAMPLE_RATE)
    assert isinstance(stream, av.audio.AudioStream)
    stream.layout = "mono"
    return stream


def _write_sine(container: av.container.OutputContainer, stream: av.audio.AudioStream, seconds: float) -> None:
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE)).astype(np.float32)
    for start in range(0, len(samples), 1024):
        chunk = np.ascontiguousarray(samples[None, start : start + 1024])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def write_audio_only(path: Path, seconds: float = 0.5) -> Path:
    """An MP4 holding only an AAC sine wave."""
    with av.open(str(path), "w", format="mp4") as container:
        _write_sine(container, _audio_stream(container), seconds)
    return path


def write_zero_frames(path: Path) -> Path:
    """An MP4 with a video stream header and not a single frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()  # header and trailer, no packet
    return path


def decode_all(path: Path) -> tuple[list[Pixels], list[int], Fraction]:
    """Every frame (BGR, as stored: no rotation applied), its pts and the stream time base, straight from PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert stream.time_base is not None
        return (
            [np.asarray(f.to_ndarray(format="bgr24"), np.uint8) for f in frames],
            [int(f.pts or 0) for f in frames],
            stream.time_base,
        )


def audio_packets(path: Path) -> list[tuple[int, int, bytes]]:
    """(pts, duration, payload) of every audio packet, for stream-copy checks."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        packets = container.demux(container.streams.audio[0])
        return [(int(p.pts), int(p.duration or 0), bytes(p)) for p in packets if p.size and p.pts is not None]


def audio_seconds(path: Path) -> float:
    """Total decoded audio duration in seconds (0 without audio)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        return sum(f.samples / f.sample_rate for f in container.decode(container.streams.audio[0]))
