"""Encode BGR frames to a video file on a writer thread: exact timestamps, audio carried over, atomic output,
optional container tags (the provenance label) and an invisible watermark on every frame.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import queue
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import av.container
import av.video
import numpy as np
from av.packet import Packet
from av.video.reformatter import Interpolation

from faceweave.errors import MediaError, UsageError
from faceweave.media.audio_track import AudioTrack, create_audio_track
from faceweave.media.image_io import check_output_location, new_file_mode
from faceweave.media.video_encoders import ENCODERS, EncoderSpec, default_encoder, encoder_available, encoder_spec
from faceweave.media.video_io import VIDEO_EXTENSIONS, DecodedFrame, FrameArray, Span, VideoInfo
from faceweave.media.yuv import Plane, edited_over, luma_plane

_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
_MUXER_OPTIONS = {"mp4": {"movflags": "+faststart"}, "mov": {"movflags": "+faststart"}}
_TAGGED_MUXER_OPTIONS = {
    "mp4": {"movflags": "+faststart+use_metadata_tags"},  # keep custom keys (faceweave_label, ...) as mdta tags
    "mov": {"movflags": "+faststart+use_metadata_tags"},
}
_AUDIO_LEAD = Fraction(1, 2)  # mux audio up to this far ahead of the video for even interleaving
_POLL_SECONDS = 0.1
_MPEG_RANGE = 1  # AVCOL_RANGE_MPEG: limited (16-235) range, what players expect from yuv420p
# Accurate rounding halves swscale's default darkening of a BGR → YUV → BGR round trip (−2.2 → −1.2 levels).
_TO_YUV = Interpolation.BILINEAR | Interpolation.ACCURATE_RND
_WRITE_HINT = "check free disk space and permissions of the output folder"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode: `encoder` None = libx264 (libvpx-vp9 for .webm); `crf`/`preset` None = the encoder's default.

    Example: ``EncodeOptions(encoder="libx265", crf=24, preset="fast")``
    """

    encoder: str | None = None
    crf: int | None = None
    preset: str | None = None
    audio: bool = True


@dataclass(frozen=True)
class _Frame:
    frame: Future[av.VideoFrame]
    """The frame marked and in YUV, made on the prepare thread."""
    pts: int


def check_video_output(path: str | os.PathLike[str]) -> str:
    """Fail early, before any work, when a video cannot be written there; returns the extension.

    Raises UsageError for an unsupported extension, MediaError for a missing or read-only directory.
    """
    target = Path(path)
    extension = target.suffix.lower()
    if extension not in VIDEO_EXTENSIONS:
        supported = ", ".join(sorted(VIDEO_EXTENSIONS))
        raise UsageError(f"unsupported video output extension {target.suffix!r} in '{target}'; use one of {supported}")
    check_output_location(target, "out/result.mp4")
    return extension


def resolve_encoder(options: EncodeOptions, extension: str) -> EncoderSpec:
    """The encoder for an output extension, checked against this machine and the container; UsageError if not."""
    spec = encoder_spec(options.encoder or default_encoder(extension))
    if not encoder_available(spec):
        what = "no usable device/driver" if spec.hardware else "not in this FFmpeg build"
        raise UsageError(f"video encoder {spec.name} is not available here ({what}); try --encoder libx264")
    if not _container_accepts(_FORMATS[extension], spec.name):
        fits = ", ".join(
            s.name for s in ENCODERS if _container_accepts(_FORMATS[extension], s.name) and encoder_available(s)
        )
        raise UsageError(f"{extension} cannot hold {spec.codec} video ({spec.name}); use --encoder {fits} or .mkv")
    return spec


def _open_output(temp: str, format_name: str, metadata: Mapping[str, str] | None) -> av.container.OutputContainer:
    """Open the temp output; with tags, MP4/MOV are told to keep custom keys (`use_metadata_tags`)."""
    options = (_TAGGED_MUXER_OPTIONS if metadata else _MUXER_OPTIONS).get(format_name)
    container = av.open(temp, "w", format=format_name, options=options)
    container.metadata.update(metadata or {})
    return container


def _container_accepts(format_name: str, codec: str) -> bool:
    with av.open(io.BytesIO(), "w", format=format_name) as container:
        return codec in container.supported_codecs


class VideoWriter:
    """Encodes frames on its own thread; the file appears at `path` only when `close()` succeeds.

    Frames go to a hidden temp file beside `path`, renamed over it at the end; an exception or Ctrl-C inside
    the `with` block (or `abort()`) deletes the temp file, so there is never a half-written output.
    Each frame keeps its own pts (in `info.time_base`), so variable frame rates and exact timing survive.
    Encoders that need even sizes (H.264/H.265) get odd-sized frames with the last column/row dropped.
    `metadata` becomes container tags (e.g. `provenance.video_metadata(label)`; MP4/MOV keep custom keys through
    ``movflags=use_metadata_tags``); `mark` (e.g. the provenance watermark's `LumaMarker`) changes the luma
    plane of every frame in place, after its conversion to limited-range YUV, on the prepare thread.
    `before_publish` is called with the finished temp file before the rename and may rewrite it (C2PA signing);
    if it raises, the temp file is deleted and no output appears.

    Example:
        >>> with VideoReader("in.mp4") as reader, VideoWriter("out.mp4", reader.info, audio_from="in.mp4") as writer:
        ...     for frame in reader:  # doctest: +SKIP
        ...         writer.write(frame.image, frame.pts)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        info: VideoInfo,
        options: EncodeOptions | None = None,
        *,
        audio_from: str | os.PathLike[str] | None = None,
        span: Span | None = None,
        queue_size: int = 8,
        metadata: Mapping[str, str] | None = None,
        mark: Callable[[Plane], None] | None = None,
        before_publish: Callable[[Path], None] | None = None,
    ) -> None:
        options = options or EncodeOptions()
        self.path = Path(path)
        extension = check_video_output(self.path)
        self.spec = resolve_encoder(options, extension)
        self.info = info
        self.span = span or Span(None, None, Fraction(0))
        self.frames_written = 0
        self.mark = mark
        self._before_publish = before_publish
        self._shift = round(self.span.shift / info.time_base)
        self._last_pts: int | None = None
        self._queue: queue.Queue[_Frame | None] = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._finished = False
        # Marking and BGR -> YUV conversion run on a thread of their own, one frame ahead of the encoder: on the
        # writer thread they made it the slowest stage of a video swap (60 ms a 1080p frame with the mark).
        self._prepare = ThreadPoolExecutor(1, thread_name_prefix="faceweave-video-prepare")
        # The temp name is known before the file exists, and everything after its creation is inside the try: a
        # Ctrl-C or SIGTERM at any point of the constructor leaves no .part behind.
        self._temp = self.path.parent / f".{self.path.name}.{secrets.token_hex(4)}.part"
        try:
            os.close(os.open(self._temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            self._container = _open_output(str(self._temp), _FORMATS[extension], metadata)
            self._stream = self._add_video_stream(options)
            self.audio = self._add_audio(audio_from) if options.audio and audio_from is not None else None
            self._container.start_encoding()
            self._thread = threading.Thread(target=self._run, name="faceweave-video-writer", daemon=True)
            self._thread.start()
        except BaseException as exc:
            self.abort()
            if isinstance(exc, av.FFmpegError):
                raise MediaError(self.path, f"cannot start encoding ({exc})", _WRITE_HINT) from exc
            raise

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None:
            self.close()
        else:
            self.abort()

    @property
    def size_wh(self) -> tuple[int, int]:
        """The encoded (width, height): the frames' size, odd sides made even for encoders that need it."""
        return self._stream.width, self._stream.height

    def write(self, image: FrameArray, pts: int, original: DecodedFrame | None = None) -> None:
        """Queue one BGR frame with its presentation timestamp (in the input's time_base, before the span shift).

        `original`: the decoded frame `image` was made from (by a swap that changed some of its pixels). Where its
        YUV picture can be encoded as it is, the pixels `image` left unchanged keep their decoded values (a BGR
        round trip moves luma by about a level) and only the 2×2 blocks that changed are converted.
        """
        if image.shape != (self.info.height, self.info.width, 3) or image.dtype != np.uint8:
            expected = f"{self.info.height}×{self.info.width}×3 uint8"
            raise UsageError(f"frame must be {expected} like the input, got {image.dtype} {image.shape}")
        self._check_running()
        self._put(_Frame(self._prepare.submit(self._convert, image, original), pts))

    def close(self) -> Path:
        """Flush the encoders, finish the file and move it into place; returns the output path."""
        if self._finished:
            return self.path
        try:
            self._put(None)
            self._thread.join()
            self._prepare.shutdown(wait=True)
            self._raise_thread_error()
            if self._before_publish is not None:
                self._before_publish(self._temp)
            _sync(self._temp)
            mode = new_file_mode(self.path)
            if mode is not None:
                self._temp.chmod(mode)
            self._temp.replace(self.path)
        except BaseException:
            self.abort()
            raise
        self._finished = True
        return self.path

    def abort(self) -> None:
        """Stop encoding and delete the temp file; the output path is left untouched (safe to call twice)."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        thread: threading.Thread | None = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive():  # not started when the constructor was interrupted
            thread.join()
        self._prepare.shutdown(wait=True, cancel_futures=True)
        self._discard()
        self._finished = True

    def _add_video_stream(self, options: EncodeOptions) -> av.video.stream.VideoStream:
        info = self.info
        stream = self._container.add_stream(
            self.spec.name, rate=info.fps, options=self.spec.options(options.crf, options.preset)
        )
        assert isinstance(stream, av.video.stream.VideoStream)
        even = self.spec.even_size
        stream.width = info.width - info.width % 2 if even else info.width
        stream.height = info.height - info.height % 2 if even else info.height
        if (stream.width, stream.height) != (info.width, info.height):
            log.info(
                "%s needs even sizes: dropping the last column/row (%d×%d)", self.spec.name, stream.width, stream.height
            )
        stream.pix_fmt = "yuv420p"
        stream.time_base = info.time_base
        context = stream.codec_context
        # Frame and slice threads, as the ffmpeg command line allows (PyAV allows slices only: x264 then cuts every
        # frame in two slices and, with two cores to itself, encodes ~15 % slower).
        context.thread_type = "AUTO"
        context.time_base = info.time_base
        context.color_range = _MPEG_RANGE
        context.colorspace, context.color_primaries, context.color_trc = (
            info.colorspace,
            info.color_primaries,
            info.color_trc,
        )
        return stream

    def _add_audio(self, source: str | os.PathLike[str]) -> AudioTrack | None:
        return create_audio_track(os.fspath(source), self._container, self.span)

    def _check_running(self) -> None:
        """Raise the writer thread's error, or MediaError when it has stopped (closed, aborted)."""
        self._raise_thread_error()
        if not self._thread.is_alive():
            raise MediaError(self.path, "the writer has stopped", "start a new VideoWriter")

    def _put(self, item: _Frame | None) -> None:
        while True:
            self._check_running()
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def _raise_thread_error(self) -> None:
        error = self._error
        if error is None:
            return
        if isinstance(error, av.FFmpegError | OSError):
            raise MediaError(self.path, f"cannot write video ({error})", _WRITE_HINT) from error
        raise error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    item = self._queue.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    continue
                if item is None:
                    self._finish()
                    return
                self._encode(item)
        except BaseException as exc:  # handed to the caller by write()/close()
            self._error = exc

    def _encode(self, item: _Frame) -> None:
        pts = item.pts - self._shift
        if self._last_pts is not None and pts <= self._last_pts:
            log.warning("frame pts %d not after %d; moved to keep the stream valid", pts, self._last_pts)
            pts = self._last_pts + 1
        self._last_pts = pts
        frame = item.frame.result()
        frame.pts, frame.time_base = pts, self.info.time_base
        self._mux(self._stream.encode(frame))
        if self.audio is not None:
            self._mux(self.audio.pump(self.span.shift + pts * self.info.time_base + _AUDIO_LEAD))
        self.frames_written += 1

    def _convert(self, image: FrameArray, original: DecodedFrame | None = None) -> av.VideoFrame:
        """A BGR frame cut to the encoded size, in limited-range YUV 4:2:0 (over `original`'s decoded picture where
        it can be), its luma marked (on the prepare thread)."""
        width, height = self.size_wh
        image = image if image.shape[:2] == (height, width) else np.ascontiguousarray(image[:height, :width])
        if original is not None and original.yuv is not None and self._fits(original.yuv, original.image, image):
            frame = edited_over(original.yuv, original.image, image, self._to_yuv)
        else:
            frame = self._to_yuv(image)
        if self.mark is not None:
            self.mark(luma_plane(frame))
        return frame

    def _to_yuv(self, image: FrameArray) -> av.VideoFrame:
        """BGR to the encoded limited-range YUV 4:2:0 in the output's colour matrix."""
        return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(
            format="yuv420p", dst_colorspace=self.info.colorspace, dst_color_range=_MPEG_RANGE, interpolation=_TO_YUV
        )

    def _fits(self, decoded: av.VideoFrame, before: FrameArray, image: FrameArray) -> bool:
        """Whether a decoded picture can stand for the unchanged pixels of `image`: the encoded size and colour
        matrix, and the BGR it was converted to has the size of `image`."""
        same_size = (decoded.width, decoded.height) == self.size_wh and before.shape == image.shape
        return same_size and decoded.colorspace == self.info.colorspace

    def _finish(self) -> None:
        self._mux(self._stream.encode(None))
        if self.audio is not None:
            self._mux(self.audio.finish())
        self._container.close()

    def _mux(self, packets: list[Packet[Any]]) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _discard(self) -> None:
        with contextlib.suppress(av.FFmpegError, OSError, AttributeError):
            self._container.close()
        audio: AudioTrack | None = getattr(self, "audio", None)
        if audio is not None:
            with contextlib.suppress(av.FFmpegError, OSError):
                audio.close()
        with contextlib.suppress(OSError):
            self._temp.unlink()


def _sync(path: Path) -> None:
    with path.open("rb+") as stream:
        os.fsync(stream.fileno())
