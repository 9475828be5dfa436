"""Video files with PyAV: probe, content sniffing, and a reader thread that decodes BGR frames with exact timestamps.

The writer lives in `video_writer.py`; both share `VideoInfo` and `Span` from here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.container
import av.video
import numpy as np
import numpy.typing as npt

from faceweave.errors import LimitError, MediaError, UsageError

FrameArray = npt.NDArray[np.uint8]
"""H×W×3 uint8 array, BGR channel order, C-contiguous (upright: rotation metadata applied)."""

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".webm"})
"""Output containers the writer supports (inputs are detected by content, any extension)."""

_IMAGE_DEMUXERS = ("image2", "_pipe", "gif", "apng", "webp")  # FFmpeg opens stills as one-frame "videos"
_CORRUPT_HINT = "re-export or re-download the file (ffprobe shows what is wrong)"
_FALLBACK_FPS = Fraction(30)
_POLL_SECONDS = 0.1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds; `width`/`height` are those of the frames the reader delivers (upright).

    Example: ``probe_video("clip.mp4").fps`` gives ``Fraction(30000, 1001)``
    """

    path: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frames: int | None
    duration: float | None
    rotation: int
    """Counter-clockwise degrees (0, 90, 180, 270) the stored frames are turned to stand upright."""
    codec: str
    has_audio: bool
    audio_codec: str | None
    start_time: Fraction
    """Seconds on the container timeline where playback starts (`--start` counts from here)."""
    colorspace: int
    color_primaries: int
    color_trc: int
    video_start: Fraction | None = None
    """Seconds on the container timeline of the video's first frame, where it differs from `start_time` (a stream
    may start after the audio); None: at `start_time`."""

    @property
    def frame_ticks(self) -> int:
        """One frame at `fps`, in `time_base` ticks (at least 1)."""
        return max(1, round(1 / (self.fps * self.time_base)))


@dataclass(frozen=True)
class Span:
    """The part of the input kept, in absolute stream seconds: start ≤ t < end; output timestamps move back by
    `shift` (0 when untrimmed, so timestamps are copied exactly; `start` when trimmed, so output starts near 0).
    """

    start: Fraction | None
    end: Fraction | None
    shift: Fraction

    def contains(self, seconds: Fraction) -> bool:
        """Whether a timestamp (absolute seconds) lies in the span."""
        return (self.start is None or seconds >= self.start) and (self.end is None or seconds < self.end)


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """One decoded frame: BGR pixels (upright) and its presentation timestamp `pts` in units of `time_base`."""

    image: FrameArray
    pts: int
    time_base: Fraction
    index: int
    yuv: av.VideoFrame | None = None
    """The picture as decoded, when it is what `image` was converted from and can be encoded again as it is
    (yuv420p, limited or unspecified range, no rotation); a writer keeps it where a swap left `image` unchanged."""

    @property
    def seconds(self) -> Fraction:
        """Presentation time in absolute stream seconds."""
        return self.pts * self.time_base


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether FFmpeg opens the file as a container with a video stream that is not a still image (content only).

    Example: ``is_video("notes.mp4")`` gives ``False`` for a text file, whatever its name.
    """
    try:
        with av.open(os.fspath(path), "r") as container:
            still = any(part in container.format.name for part in _IMAGE_DEMUXERS)
            return bool(container.streams.video) and not still
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return False


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read the container header and decode the first frame (rotation, colour and "has frames" are known then).

    Raises MediaError for a missing, unreadable or corrupt file, no video stream, or zero frames.
    """
    name = os.fspath(path)
    with open_video(name) as container:
        return _probe_open(container, name)


def open_video(name: str) -> av.container.InputContainer:
    """Open a media file for reading, with faceweave's errors (MediaError naming the file) on failure."""
    if not Path(name).is_file():
        problem = "is a directory, not a video file" if Path(name).is_dir() else "file not found"
        raise MediaError(name, problem, "check the path and that the file exists")
    try:
        return av.open(name, "r")
    except PermissionError as exc:
        raise MediaError(name, "permission denied", "check the file's permissions (ls -l)") from exc
    except av.error.EOFError as exc:  # a container header and then nothing: no frame to read
        if Path(name).stat().st_size == 0:
            raise MediaError(name, "empty file", "the file has 0 bytes; re-export or re-download it") from exc
        raise MediaError(name, "video has no frames (the file ends after its header)", _CORRUPT_HINT) from exc
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        problem = "empty file" if Path(name).stat().st_size == 0 else f"not a readable video ({_reason(exc)})"
        raise MediaError(name, problem, f"check it is a video file; {_CORRUPT_HINT}") from exc


def _probe_open(container: av.container.InputContainer, name: str) -> VideoInfo:
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        raise MediaError(name, f"no video stream (found {kinds})", "pass a video file as the target")
    stream = container.streams.video[0]
    time_base = stream.time_base or Fraction(1, 90_000)
    first = _first_frame(container, stream, name)
    rotation = round(first.rotation / 90) * 90 % 360
    width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
    audio = container.streams.audio[0] if container.streams.audio else None
    return VideoInfo(
        path=name,
        width=width,
        height=height,
        fps=_frame_rate(stream),
        time_base=time_base,
        frames=stream.frames or None,
        duration=_duration(container, stream),
        rotation=rotation,
        codec=stream.codec_context.name,
        has_audio=audio is not None,
        audio_codec=None if audio is None else audio.codec_context.name,
        start_time=Fraction(container.start_time or 0, av.time_base),
        colorspace=int(first.colorspace),
        color_primaries=int(first.color_primaries),
        color_trc=int(first.color_trc),
        video_start=None if first.pts is None else Fraction(first.pts) * time_base,
    )


def _first_frame(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, name: str
) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.DecoderNotFoundError as exc:
        codec = stream.codec_context.name if stream.codec_context is not None else "unknown"
        raise MediaError(
            name,
            f"unsupported video codec ({codec}: no decoder in the bundled FFmpeg)",
            "convert it to H.264 first, e.g. 'ffmpeg -i IN -c:v libx264 -c:a copy OUT.mp4'",
        ) from exc
    except av.FFmpegError as exc:
        raise MediaError(name, f"truncated or corrupt video ({_reason(exc)})", _CORRUPT_HINT) from exc
    raise MediaError(name, "video has no frames", "the file holds no pictures; re-export it")


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    log.warning("no frame rate in the video stream; assuming %s fps", _FALLBACK_FPS)
    return _FALLBACK_FPS


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None if container.duration is None else container.duration / av.time_base


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc).strip()


def resolve_span(info: VideoInfo, start: float | None, end: float | None) -> Span:
    """Turn `--start`/`--end` (seconds from the start of playback) into a Span; UsageError when out of order."""
    for label, value in (("start", start), ("end", end)):
        if value is not None and value < 0:
            raise UsageError(f"--{label} must be ≥ 0 seconds, got {value}")
    if start is not None and end is not None and end <= start:
        raise UsageError(f"--end ({end}) must be after --start ({start})")
    if start is not None and info.duration is not None and start >= info.duration:
        raise UsageError(f"--start {start} is past the end of '{info.path}' ({info.duration:.3f} s long)")
    absolute = [None if v is None else info.start_time + Fraction(v).limit_denominator(1_000_000) for v in (start, end)]
    trimmed = start is not None
    return Span(absolute[0], absolute[1], absolute[0] if trimmed and absolute[0] is not None else Fraction(0))


@dataclass(frozen=True)
class VideoLimits:
    """What one video may ask for, checked from its container before a frame is decoded (None: no limit).

    Attributes:
        frame_pixels: pixels of one frame.
        seconds: its length.
        frames: its frame count (counted by the container, else estimated from the length).
        total_pixels: frames × pixels per frame: the work it asks for.
    """

    frame_pixels: int | None = None
    seconds: float | None = None
    frames: int | None = None
    total_pixels: int | None = None

    def check(self, info: VideoInfo) -> None:
        """LimitError naming the limit the video passes, if any."""
        width, height = info.width, info.height
        seconds = float(info.duration or 0.0)
        frames = expected_frames(info, Span(None, None, Fraction(0))) or 0
        over = [
            (
                self.frame_pixels,
                width * height,
                f"frames of {width}×{height} over the limit of {self.frame_pixels} pixels",
            ),
            (self.seconds, seconds, f"it lasts {seconds:.0f} s, over the limit of {self.seconds} s"),
            (self.frames, frames, f"it has {frames} frames, over the limit of {self.frames}"),
            (
                self.total_pixels,
                frames * width * height,
                f"it is {frames} frames of {width}×{height}, over the limit of {self.total_pixels} pixels",
            ),
        ]
        for limit, value, problem in over:
            if limit is not None and value > limit:
                raise LimitError(info.path, f"video too large: {problem}", "trim it (--start/--end) or scale it down")


def expected_frames(info: VideoInfo, span: Span) -> int | None:
    """The number of frames a span should hold (exact when untrimmed and the container counts, else estimated)."""
    if span.start is None and span.end is None and info.frames:
        return info.frames
    if info.duration is None:
        return None
    first = info.start_time if info.video_start is None else max(info.video_start, info.start_time)
    begin = max(first, span.start) if span.start is not None else first
    last = first + Fraction(info.duration).limit_denominator(1_000_000)
    finish = min(last, span.end) if span.end is not None else last
    return max(0, round((finish - begin) * info.fps))


def upright(image: FrameArray, rotation: int) -> FrameArray:
    """Apply a display rotation (counter-clockwise degrees, a multiple of 90) to stored pixels."""
    return image if rotation == 0 else np.ascontiguousarray(np.rot90(image, rotation // 90))


class VideoReader:
    """Decodes a video on its own thread into a bounded queue; iterate to get DecodedFrame objects in order.

    Memory stays flat: at most `queue_size` frames wait. Frames are upright (rotation metadata applied).

    Example:
        >>> with VideoReader("clip.mp4", start=1.0, end=3.0) as reader:  # doctest: +SKIP
        ...     for frame in reader:
        ...         print(frame.index, frame.seconds, frame.image.shape)
    """

    def __init__(
        self, path: str | os.PathLike[str], start: float | None = None, end: float | None = None, queue_size: int = 8
    ) -> None:
        self.info = probe_video(path)
        self.span = resolve_span(self.info, start, end)
        self._queue: queue.Queue[DecodedFrame | BaseException | None] = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faceweave-video-reader", daemon=True)
        self._thread.start()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[DecodedFrame]:
        while True:
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._thread.is_alive():
                    continue
                return  # closed: the thread is gone and nothing is left
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop decoding and wait for the thread (safe to call twice)."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()  # unblock a producer waiting on a full queue
        self._thread.join()

    def _run(self) -> None:
        item: BaseException | None = None
        try:
            with open_video(self.info.path) as container:
                self._decode(container)
        except MediaError as exc:
            item = exc
        except (av.FFmpegError, OSError, MemoryError) as exc:
            item = MediaError(self.info.path, f"truncated or corrupt video ({_reason(exc)})", _CORRUPT_HINT)
            item.__cause__ = exc
        except BaseException as exc:  # handed to the consumer, never lost in a thread
            item = exc
        self._put(item)

    def _decode(self, container: av.container.InputContainer) -> None:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = self.info.time_base
        if self.span.start is not None and self.span.start > self.info.start_time:
            container.seek(int(self.span.start / time_base), stream=stream)  # the key frame at or before start
        step = self.info.frame_ticks
        index, last_pts = 0, None
        for frame in container.decode(stream):
            pts = frame.pts if frame.pts is not None else (0 if last_pts is None else last_pts + step)
            last_pts = pts
            seconds = pts * time_base
            if self.span.end is not None and seconds >= self.span.end:
                return
            if not self.span.contains(seconds):
                continue
            image = np.asarray(frame.to_ndarray(format="bgr24", src_color_range=frame.color_range or None), np.uint8)
            kept = self.info.rotation == 0 and frame.format.name == "yuv420p" and frame.color_range in (0, 1)
            decoded = DecodedFrame(upright(image, self.info.rotation), pts, time_base, index, frame if kept else None)
            if not self._put(decoded):
                return
            index += 1

    def _put(self, item: DecodedFrame | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False
