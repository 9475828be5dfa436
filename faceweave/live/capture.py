"""Live capture: camera, file and stream sources, and a grabber thread that keeps only the newest frame.

A source is an iterator of `(image, seconds)`; `FrameGrabber` runs it on its own thread. With `drop=True`
(cameras, streams, files played in real time) a frame that the consumer has not taken yet is replaced by the
next one, so processing always works on the newest frame and frames still leave in capture order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import av
import av.container
import cv2
import numpy as np

from faceweave.errors import DeviceError, MediaError
from faceweave.media.video_io import VideoReader, probe_video
from faceweave.types import Image

Frames = Iterator[tuple[Image, float]]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class CapturedFrame:
    """A frame as the grabber delivered it: BGR pixels, capture order, media time and wall-clock arrival."""

    image: Image
    index: int
    seconds: float
    """Media time (file/stream timestamp, or seconds since the camera opened)."""
    captured: float
    """time.perf_counter() when the frame became available (latency is measured from here)."""


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What a live source delivers: frame size and nominal rate."""

    name: str
    width: int
    height: int
    fps: Fraction


def open_camera(index: int) -> tuple[SourceInfo, Frames]:
    """A camera by index (OpenCV); DeviceError when it does not exist or delivers nothing."""
    capture = cv2.VideoCapture(index)
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok or first is None:
        capture.release()
        raise DeviceError(
            f"camera {index} not found or not delivering frames; check --camera (0 is the first) or use --input FILE"
        )
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    info = SourceInfo(f"camera {index}", first.shape[1], first.shape[0], Fraction(fps).limit_denominator(1001))

    def frames() -> Frames:
        began = time.perf_counter()
        image: Image | None = first
        try:
            while image is not None:
                yield np.ascontiguousarray(image), time.perf_counter() - began
                ok, image = capture.read()
                if not ok:
                    log.warning("camera %d stopped delivering frames", index)
                    image = None
        finally:
            capture.release()

    return info, frames()


def open_input(location: str) -> tuple[SourceInfo, Frames]:
    """A video file (decoded on VideoReader's thread) or a stream URL (PyAV); frames with media timestamps."""
    if "://" in location and not location.startswith("file://"):
        return _open_stream(location)
    info = probe_video(location)

    def frames() -> Frames:
        with VideoReader(location) as reader:
            for frame in reader:
                yield frame.image, float(frame.seconds - info.start_time)

    return SourceInfo(info.path, info.width, info.height, info.fps), frames()


def _open_stream(url: str) -> tuple[SourceInfo, Frames]:
    try:
        container = av.open(url, "r", timeout=10.0)
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(url, f"cannot open stream ({exc})", "check the URL and that the stream is live") from exc
    if not container.streams.video:
        container.close()
        raise MediaError(url, "no video stream", "pass a URL that carries video")
    stream = container.streams.video[0]
    rate = Fraction(stream.average_rate or stream.guessed_rate or 30)
    info = SourceInfo(url, stream.codec_context.width, stream.codec_context.height, rate)

    def frames() -> Frames:
        began = time.perf_counter()
        with contextlib.closing(container):
            for frame in container.decode(stream):
                seconds = float(frame.time) if frame.time is not None else time.perf_counter() - began
                yield np.asarray(frame.to_ndarray(format="bgr24"), np.uint8), seconds

    return info, frames()


class FrameGrabber:
    """Runs a source on its own thread; `get()` returns the newest frame not yet taken, or None at the end.

    `drop=True` keeps only the newest frame (older untaken ones are counted in `dropped`); `drop=False`
    waits for the consumer (a file processed frame by frame). `realtime=True` paces frames at their media
    timestamps, as a camera would deliver them. A source that fails mid-way ends the capture cleanly (the
    error is logged and kept in `error`).

    Example:
        >>> info, frames = open_input("clip.mp4")  # doctest: +SKIP
        >>> with FrameGrabber(frames, realtime=True, drop=True) as grabber:  # doctest: +SKIP
        ...     while (frame := grabber.get()) is not None:
        ...         print(frame.index, frame.seconds)
    """

    def __init__(self, frames: Frames, *, realtime: bool, drop: bool) -> None:
        self.realtime = realtime
        self.drop = drop
        self.captured = 0
        self.dropped = 0
        self.error: BaseException | None = None
        self._frames = frames
        self._slot: CapturedFrame | None = None
        self._ended = False
        self._closed = threading.Event()
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="faceweave-live-capture", daemon=True)
        self._thread.start()

    def __enter__(self) -> FrameGrabber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, timeout: float | None = None) -> CapturedFrame | None:
        """The newest frame (blocks until one arrives); None when the source has ended (or on timeout)."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        with self._lock:
            while self._slot is None and not self._ended:
                remaining = None if deadline is None else deadline - time.perf_counter()
                if remaining is not None and remaining <= 0:
                    return None
                self._lock.wait(remaining)
            frame, self._slot = self._slot, None
            self._lock.notify_all()
            return frame

    @property
    def ended(self) -> bool:
        """True once the source is exhausted and the last frame has been taken."""
        with self._lock:
            return self._ended and self._slot is None

    def close(self) -> None:
        """Stop capturing and wait for the thread (safe to call twice)."""
        self._closed.set()
        with self._lock:
            self._lock.notify_all()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        start: tuple[float, float] | None = None
        try:
            for index, (image, seconds) in enumerate(self._frames):
                if self._closed.is_set():
                    break
                start = start or (time.perf_counter(), seconds)
                if self.realtime:
                    self._closed.wait(max(0.0, start[0] + (seconds - start[1]) - time.perf_counter()))
                self._publish(CapturedFrame(image, index, seconds, time.perf_counter()))
        except (MediaError, av.FFmpegError, OSError) as exc:
            log.warning("live input ended early: %s", exc)
            self.error = exc
        except BaseException as exc:  # kept for the consumer, never lost in a thread
            log.error("live capture failed: %r", exc)
            self.error = exc
        finally:
            with contextlib.suppress(Exception):
                close = getattr(self._frames, "close", None)
                if close is not None:
                    close()
            with self._lock:
                self._ended = True
                self._lock.notify_all()

    def _publish(self, frame: CapturedFrame) -> None:
        with self._lock:
            if not self.drop:
                while self._slot is not None and not self._closed.is_set():
                    self._lock.wait(0.1)
            if self._slot is not None:
                self.dropped += 1
            self._slot = frame
            self.captured += 1
            self._lock.notify_all()
