"""Swap faces in video files: decode → Pipeline.process per frame → encode, with timing and audio kept."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from faceweave.errors import MediaError, NoFaceError
from faceweave.media.c2pa_sign import check_signing, sign_video_file
from faceweave.media.image_io import sniff_image
from faceweave.media.provenance import Label, label_for, video_metadata
from faceweave.media.video_io import (
    VIDEO_EXTENSIONS,
    VideoReader,
    expected_frames,
    is_video,
    probe_video,
    resolve_span,
)
from faceweave.media.video_writer import EncodeOptions, VideoWriter, check_video_output, resolve_encoder
from faceweave.pipeline import ImageInput, Pipeline
from faceweave.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """Where a video swap stands: `total` and `eta_seconds` are None when the frame count is unknown."""

    frames: int
    total: int | None
    fps: float
    eta_seconds: float | None


@dataclass(frozen=True)
class VideoSummary:
    """What a video swap did: frames written, frames with at least one face swapped, measured speed."""

    output: Path
    frames: int
    frames_swapped: int
    fps: float
    seconds: float


ProgressCallback = Callable[[Progress], None]


def looks_like_video(path: str | os.PathLike[str]) -> bool:
    """Whether a target should go the video way: FFmpeg opens it as a video, or it is no image by content but
    has a video extension (so a corrupt .mp4 gets a video error, not "not an image").
    """
    if is_video(path):
        return True
    return not sniff_image(path) and Path(path).suffix.lower() in VIDEO_EXTENSIONS | {".avi", ".m4v", ".ts"}


def swap_video(
    pipeline: Pipeline,
    target: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    start: float | None = None,
    end: float | None = None,
    options: EncodeOptions | None = None,
    progress: ProgressCallback | None = None,
    label: Label | None = None,
) -> VideoSummary:
    """Swap faces in every frame of `target` (frames with no face pass through unchanged) and write `output`.

    Frame count, time base and each frame's timestamp are kept (variable frame rate too; a trim moves the
    timeline to start at `start`), the first audio stream is copied or re-encoded, rotation metadata is applied
    to the pixels (the output is upright, with no rotation tag). The output appears only when complete.
    The file carries `label` (default: `label_for(pipeline.settings)`) as container tags, and, unless
    `settings.watermark` is off, every frame carries the label's invisible watermark. When settings.c2pa_cert/
    c2pa_key are set, MP4/MOV outputs are C2PA-signed before they appear (UsageError up front for .mkv/.webm).

    Example:
        >>> pipeline = Pipeline.from_settings(Settings(), ["me.jpg"], mode="video")  # doctest: +SKIP
        >>> swap_video(pipeline, "in.mp4", "out.mp4", start=2.0, end=5.0).frames  # doctest: +SKIP
        90
    """
    _check_video_signing(pipeline.settings, output)
    began = time.perf_counter()
    frames = swapped = 0
    pipeline.reset()  # tracks and smoothing start fresh with every video
    with VideoReader(target, start, end) as reader:
        total = expected_frames(reader.info, reader.span)
        label = label or label_for(pipeline.settings)
        with _labelled_writer(output, reader, options, label, pipeline.settings) as writer:
            for frame in reader:
                result = pipeline.process(frame.image, seconds=float(frame.seconds))
                writer.write(result.image, frame.pts)
                frames += 1
                swapped += bool(result.swapped)
                if progress is not None:
                    progress(_progress(frames, total, time.perf_counter() - began))
            _check_frames(pipeline.settings, reader.info.path, frames, swapped)
    seconds = time.perf_counter() - began
    log.debug("video: %d frames (%d swapped) in %.1f s", frames, swapped, seconds)
    return VideoSummary(Path(output), frames, swapped, frames / seconds if seconds > 0 else 0.0, seconds)


def swap_video_file(
    sources: Sequence[ImageInput],
    target: str | os.PathLike[str],
    output: str | os.PathLike[str],
    settings: Settings,
    references: Sequence[ImageInput] = (),
    *,
    start: float | None = None,
    end: float | None = None,
    options: EncodeOptions | None = None,
    progress: ProgressCallback | None = None,
) -> VideoSummary:
    """swap_video from files, checking the output path, encoder, target and trim before any model loads."""
    options = options or EncodeOptions()
    extension = check_video_output(output)
    spec = resolve_encoder(options, extension)
    spec.options(options.crf, options.preset)  # bad --crf/--preset fail now, not after loading models
    _check_video_signing(settings, output)
    resolve_span(probe_video(target), start, end)
    pipeline = Pipeline.from_settings(settings, sources, references, mode="video")
    return swap_video(pipeline, target, output, start=start, end=end, options=options, progress=progress)


def _labelled_writer(
    output: str | os.PathLike[str],
    reader: VideoReader,
    options: EncodeOptions | None,
    label: Label,
    settings: Settings,
) -> VideoWriter:
    """A writer that tags the container with `label`, marks every frame with its payload (unless settings.watermark
    is off) and C2PA-signs the finished file before it appears (when settings.c2pa_cert/c2pa_key are set).
    """
    extension = Path(output).suffix.lower()
    cert, key = Path(settings.c2pa_cert), Path(settings.c2pa_key)

    def sign(temp: Path) -> None:
        sign_video_file(temp, extension, label, cert, key)

    return VideoWriter(
        output,
        reader.info,
        options,
        audio_from=reader.info.path,
        span=reader.span,
        metadata=video_metadata(label),
        watermark_payload=label.watermark_payload if settings.watermark else None,
        before_publish=sign if settings.c2pa_cert else None,
    )


def _check_video_signing(settings: Settings, output: str | os.PathLike[str]) -> None:
    """When signing is configured: UsageError/MediaError now for a container C2PA cannot sign or bad credentials."""
    if settings.c2pa_cert:
        check_signing(Path(settings.c2pa_cert), Path(settings.c2pa_key), Path(output).suffix.lower(), video=True)


def _progress(frames: int, total: int | None, elapsed: float) -> Progress:
    fps = frames / elapsed if elapsed > 0 else 0.0
    eta = None if total is None or fps <= 0 else max(0.0, (total - frames) / fps)
    return Progress(frames, total, fps, eta)


def _check_frames(settings: Settings, name: str, frames: int, swapped: int) -> None:
    """Raise inside the writer's block (so nothing is written) when there is nothing to keep."""
    if frames == 0:
        raise MediaError(name, "no frames in the chosen time range", "check --start/--end against the video length")
    if swapped == 0 and settings.require_face:
        raise NoFaceError("target", name, "no frame had a face to swap; lower --detector-score or drop --require-face")
    if swapped == 0:
        log.warning("no face swapped in any of the %d frames of '%s'", frames, name)
