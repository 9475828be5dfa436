"""Video swap jobs: decode → Engine.process per frame (a Stream per video) → labelled encode; timing, audio kept."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from faceweave.analysis.track import TrackerStats
from faceweave.app.output import check_not_an_input, check_video_signing, labelled_video_writer
from faceweave.engine import Bindings, Engine, FrameResult, ImageInput, load_photos
from faceweave.errors import MediaError, NoFaceError
from faceweave.media.image_io import sniff_image
from faceweave.media.video_io import (
    VIDEO_EXTENSIONS,
    VideoLimits,
    VideoReader,
    expected_frames,
    is_video,
    probe_video,
    resolve_span,
)
from faceweave.media.video_writer import EncodeOptions, check_video_output, resolve_encoder
from faceweave.provenance.label import Label
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
    tracker: TrackerStats | None = None
    """The run's tracker counters (detector runs, tracks started, scene cuts)."""


ProgressCallback = Callable[[Progress], None]


def looks_like_video(path: str | os.PathLike[str]) -> bool:
    """Whether a target should go the video way: FFmpeg opens it as a video, or it is no image by content but
    has a video extension (so a corrupt .mp4 gets a video error, not "not an image").
    """
    if is_video(path):
        return True
    return not sniff_image(path) and Path(path).suffix.lower() in VIDEO_EXTENSIONS | {".avi", ".m4v", ".ts"}


def swap_video(
    engine: Engine,
    bindings: Bindings,
    target: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    start: float | None = None,
    end: float | None = None,
    options: EncodeOptions | None = None,
    progress: ProgressCallback | None = None,
    label: Label | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> VideoSummary:
    """Swap faces in every frame of `target` (frames with no face pass through unchanged) and write `output`.

    Each video gets a fresh Stream (tracks and smoothing start anew). Frame count, time base and each frame's
    timestamp are kept (variable frame rate too; a trim moves the timeline to start at `start`), the first audio
    stream is copied or re-encoded, rotation metadata is applied to the pixels (the output is upright, with no
    rotation tag). The output appears only when complete, labelled by `faceweave.app.output` (`label`, default
    `label_for(engine.settings)`: container tags, a watermark in every frame unless `settings.watermark` is off,
    and a C2PA signature on MP4/MOV when settings.c2pa_cert/c2pa_key are set). `on_frame` sees every frame's
    result (e.g. its stage times).

    Example:
        >>> engine = Engine.load(Settings(), mode="video")  # doctest: +SKIP
        >>> bindings = engine.bind(["me.jpg"])  # doctest: +SKIP
        >>> swap_video(engine, bindings, "in.mp4", "out.mp4", start=2.0, end=5.0).frames  # doctest: +SKIP
        90
    """
    settings = engine.settings
    check_video_signing(settings, output)
    began = time.perf_counter()
    frames = swapped = 0
    stream = engine.stream()
    with VideoReader(target, start, end) as reader:
        total = expected_frames(reader.info, reader.span)
        with labelled_video_writer(
            output, reader.info, settings, label=label, options=options, audio_from=reader.info.path, span=reader.span
        ) as writer:
            for frame in reader:
                result = engine.process(frame.image, bindings, stream, seconds=float(frame.seconds))
                writer.write(result.image, frame.pts, original=frame)
                frames += 1
                swapped += bool(result.swapped)
                if on_frame is not None:
                    on_frame(result)
                if progress is not None:
                    progress(_progress(frames, total, time.perf_counter() - began))
            _check_frames(settings, reader.info.path, frames, swapped)
            exact = bool(reader.info.frames) and reader.span.start is None and reader.span.end is None
            _check_complete(reader.info.path, frames, total, exact)
    seconds = time.perf_counter() - began
    log.debug("video: %d frames (%d swapped) in %.1f s", frames, swapped, seconds)
    fps = frames / seconds if seconds > 0 else 0.0
    return VideoSummary(Path(output), frames, swapped, fps, seconds, stream.tracker.stats)


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
    limits: VideoLimits | None = None,
) -> VideoSummary:
    """swap_video from files, checking the output path (never an input), encoder, target, trim and `limits` (from the
    container: LimitError) before any model loads."""
    options = options or EncodeOptions()
    extension = check_video_output(output)
    check_not_an_input(output, [target, *sources, *references])
    spec = resolve_encoder(options, extension)
    spec.options(options.crf, options.preset)  # bad --crf/--preset fail now, not after loading models
    check_video_signing(settings, output)
    info = probe_video(target)
    resolve_span(info, start, end)
    if limits is not None:
        limits.check(info)
    photos, references = load_photos(sources, references, settings)
    engine = Engine.load(settings, mode="video")
    bindings = engine.bind(photos, references)
    return swap_video(engine, bindings, target, output, start=start, end=end, options=options, progress=progress)


def _progress(frames: int, total: int | None, elapsed: float) -> Progress:
    fps = frames / elapsed if elapsed > 0 else 0.0
    eta = None if total is None or fps <= 0 else max(0.0, (total - frames) / fps)
    return Progress(frames, total, fps, eta)


def _check_complete(name: str, frames: int, total: int | None, exact: bool) -> None:
    """MediaError (inside the writer's block, so nothing is written) when decoding ended well short of the frames the
    container promises: a truncated or damaged file must not "succeed" with part of the video. Slack: 2 % (at least
    2 frames) of an exact count, 10 % (at least 5) of one estimated from the duration."""
    if total is None or total <= 0:
        return
    slack = max(2, round(0.02 * total)) if exact else max(5, round(0.1 * total))
    if frames < total - slack:
        raise MediaError(
            name,
            f"decoding ended after {frames} of the {total} frames the file promises (truncated or damaged)",
            "repair or download it again; to keep what decodes, re-mux it first (ffmpeg -i in.mp4 -c copy fixed.mp4)",
        )


def _check_frames(settings: Settings, name: str, frames: int, swapped: int) -> None:
    """Raise inside the writer's block (so nothing is written) when there is nothing to keep."""
    if frames == 0:
        raise MediaError(name, "no frames in the chosen time range", "check --start/--end against the video length")
    if swapped == 0 and settings.require_face:
        hint = "no frame had a face to swap; lower --detector-score, or to keep it unchanged swap without"
        raise NoFaceError("target", name, hint + " --require-face or batch with --allow-no-face")
    if swapped == 0:
        log.warning("no face swapped in any of the %d frames of '%s'", frames, name)
