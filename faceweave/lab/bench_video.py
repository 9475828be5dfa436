"""Video and live benchmarks: fps, per-stage ms, speed vs decode+encode alone, capture→output latency, flicker."""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceweave.app.video import swap_video
from faceweave.engine import Bindings, Engine, Stages, split_stages
from faceweave.errors import FaceweaveError, UsageError
from faceweave.lab.bench import describe_neural, neural_models
from faceweave.lab.bench_encode import YARDSTICK_CRF, YARDSTICK_PRESET, transcode_seconds
from faceweave.lab.flicker import Flicker, measure_clip
from faceweave.live.capture import FrameGrabber, open_input
from faceweave.live.session import LiveSession
from faceweave.media.video_io import VideoReader, probe_video
from faceweave.media.video_writer import EncodeOptions, VideoWriter, resolve_encoder
from faceweave.provenance.watermark import LumaMarker
from faceweave.samples import sample_path
from faceweave.settings import Settings

Report = Callable[[str], None]
RESIZE = {"720p": (1280, 720), "1080p": (1920, 1080)}


def letterbox(image: np.ndarray[Any, np.dtype[np.uint8]], size_wh: tuple[int, int]) -> np.ndarray[Any, Any]:
    """The image scaled to fit `size_wh` (aspect kept), centred on black."""
    w, h = size_wh
    k = min(w / image.shape[1], h / image.shape[0])
    scaled = cv2.resize(image, (round(image.shape[1] * k), round(image.shape[0] * k)), interpolation=cv2.INTER_CUBIC)
    canvas = np.zeros((h, w, 3), np.uint8)
    y, x = (h - scaled.shape[0]) // 2, (w - scaled.shape[1]) // 2
    canvas[y : y + scaled.shape[0], x : x + scaled.shape[1]] = scaled
    return canvas


def resized_copy(path: Path, size: str | None, folder: Path, fps: int | None = None) -> Path:
    """The clip re-encoded (H.264) in `folder`: letterboxed to 720p or 1080p when `size` is given, and with
    `fps` its frames re-timed to that rate (a faster camera; audio dropped, since it would no longer match)."""
    if size is not None and size not in RESIZE:
        raise UsageError(f"--resize must be one of {', '.join(RESIZE)}, got {size!r}")
    output = folder / f"{path.stem}_{size or 'same'}_{fps or 'native'}.mp4"
    with VideoReader(path) as reader:
        size_wh = RESIZE[size] if size is not None else (reader.info.width, reader.info.height)
        info = dataclasses.replace(reader.info, width=size_wh[0], height=size_wh[1])
        if fps is not None:
            info = dataclasses.replace(info, fps=Fraction(fps), time_base=Fraction(1, fps), start_time=Fraction(0))
        options = EncodeOptions(crf=18, preset="veryfast")
        with VideoWriter(output, info, options, audio_from=None if fps else path) as writer:
            for frame in reader:
                image = letterbox(frame.image, size_wh) if size is not None else frame.image
                writer.write(image, frame.index if fps is not None else frame.pts)
    return output


def decode_encode_seconds(path: Path, folder: Path, watermark: bool = True) -> tuple[float, int]:
    """Wall time of decode + encode alone and frame count: what a swap does around its frames with nothing swapped
    (the same reader, writer, encoder settings and watermark; each frame handed back with its decoded original, so
    its YUV is kept as a swap keeps the pixels it did not change). Writes `folder`/copy.mp4."""
    began, frames = time.perf_counter(), 0
    mark = LumaMarker(0) if watermark else None
    with (
        VideoReader(path) as reader,
        VideoWriter(folder / "copy.mp4", reader.info, audio_from=path, mark=mark) as writer,
    ):
        for frame in reader:
            writer.write(frame.image, frame.pts, original=frame)
            frames += 1
    return time.perf_counter() - began, frames


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else 0.0


def bench_video(
    settings: Settings, source: Path | None, path: Path, resize: str | None, report: Report
) -> dict[str, Any]:
    """Swap speed on a video file vs its own decode+encode alone and vs an ffmpeg-equivalent transcode
    (`bench_encode.transcode_seconds`) to the swap's own encoder settings (libx264, its default preset and CRF), and
    vs one at veryfast CRF 18 (the yardstick before the default CRF became 16); per-stage medians, mesh threads."""
    source = source or sample_path("hopper")
    x264 = resolve_encoder(EncodeOptions(encoder="libx264"), ".mp4")
    with tempfile.TemporaryDirectory(prefix="faceweave-bench-") as name:
        folder = Path(name)
        clip = resized_copy(path, resize, folder) if resize else path
        info = probe_video(clip)
        base_seconds, frames = decode_encode_seconds(clip, folder, settings.watermark)
        yardstick_seconds = transcode_seconds(clip, folder / "yardstick.mp4", x264.default_preset, x264.default_crf)
        crf18_seconds = transcode_seconds(clip, folder / "yardstick18.mp4", YARDSTICK_PRESET, YARDSTICK_CRF)
        engine = Engine.load(settings, mode="video")
        # Only each frame's stage times are kept: holding every FrameResult kept every output frame alive (0.9 GB
        # for 150 frames at 1080p), and the fresh memory each frame then needed slowed the swap being timed.
        stages: list[Stages] = []
        bound = engine.bind([source])
        summary = swap_video(engine, bound, clip, folder / "swapped.mp4", on_frame=lambda r: stages.append(r.stages))
    stats = summary.tracker
    assert stats is not None
    splits = [split_stages(frame) for frame in stages]
    figures: dict[str, Any] = {
        "video": str(path),
        "size": f"{info.width}x{info.height}",
        "frames": frames,
        "fps": round(summary.fps, 2),
        "decode_encode_fps": round(frames / base_seconds, 2),
        "speed_ratio": round(base_seconds / summary.seconds, 3),
        "transcode_fps": round(frames / yardstick_seconds, 2),
        "transcode_ratio": round(yardstick_seconds / summary.seconds, 3),
        "transcode": f"decode + libx264 {x264.default_preset} CRF {x264.default_crf}, video only (as ffmpeg would)",
        "transcode_crf18_fps": round(frames / crf18_seconds, 2),
        "transcode_crf18_ratio": round(crf18_seconds / summary.seconds, 3),
        "mesh_workers": engine.mesh_workers,
        "analyse_ms": _median([analysed for analysed, _ in splits]),
        "swap_ms": _median([rest for _, rest in splits]),
        "stages": _stage_medians(stages),
        "detector_runs": stats.detections,
        "tracks": stats.tracks_started,
    }
    # Neural chain (issue 22): which models ran, where, and the batch size chosen for each.
    neural = neural_models(engine)
    if neural:
        figures["neural"] = neural
        report(describe_neural(neural))
    report(
        f"{path.name} {figures['size']}: {figures['fps']} fps swapping vs {figures['decode_encode_fps']} fps"
        f" decode+encode alone (ratio {figures['speed_ratio']:.2f}), {figures['transcode_fps']} fps for a"
        f" transcode to the same settings (ratio {figures['transcode_ratio']:.2f}; at CRF {YARDSTICK_CRF}"
        f" {figures['transcode_crf18_ratio']:.2f}); median analyse"
        f" {figures['analyse_ms']} ms, swap {figures['swap_ms']} ms; detector on {stats.detections}/{frames} frames,"
        f" {stats.tracks_started} tracks, {engine.mesh_workers} mesh threads"
    )
    return figures


def _stage_medians(frames: list[Stages]) -> dict[str, float]:
    """Median ms per stage over the frames that ran it (the real chain: every processor the settings chose)."""
    samples: dict[str, list[float]] = {}
    for stages in frames:
        for name, ms in stages:
            samples.setdefault(name, []).append(ms)
    return {name: _median(values) for name, values in samples.items()}


def bench_flicker(settings: Settings, source: Path | None, path: Path, report: Report) -> dict[str, Any]:
    """Motion-compensated flicker of the output vs the input, for no, naive and rigid-removed smoothing; then a
    control with a frame of the clip itself as the source.

    The measure undoes the face's rigid motion only, so expression moves a source's texture as "change": a
    source with more texture than the target's face (wrinkles, a beard) scores higher even when it follows the
    face exactly. The control swaps the person onto themself: what remains is the pipeline's own flicker.
    """
    results = measure_clip(settings, [source or sample_path("hopper")], path, ("none", "naive", "rigid"))
    figures: dict[str, Any] = {}
    for mode, flicker in results.items():
        figures[mode] = _flicker_figures(flicker)
        report(
            f"flicker {path.name} smoothing={mode}: output {flicker.output:.2f} vs input {flicker.input:.2f}"
            f" levels/frame, ratio {flicker.ratio:.2f} ({flicker.pairs} frame pairs)"
        )
    with tempfile.TemporaryDirectory(prefix="faceweave-flicker-") as folder:
        own = _middle_frame(path, Path(folder) / "own_face.png")
        try:
            control = measure_clip(settings, [own], path, ("rigid",))["rigid"]
        except FaceweaveError as exc:
            report(f"flicker {path.name} control: skipped ({exc})")
            return figures
    figures["own_face_rigid"] = _flicker_figures(control)
    report(
        f"flicker {path.name} control (a frame of the clip as the source), smoothing=rigid: output"
        f" {control.output:.2f} vs input {control.input:.2f} levels/frame, ratio {control.ratio:.2f}"
    )
    return figures


def _flicker_figures(flicker: Flicker) -> dict[str, float]:
    return {"input": round(flicker.input, 3), "output": round(flicker.output, 3), "ratio": round(flicker.ratio, 3)}


def _middle_frame(path: Path, output: Path) -> Path:
    """The clip's middle frame (its first when the count is unknown) written as a PNG: a photo of its own person."""
    with VideoReader(path) as reader:
        middle = (reader.info.frames or 0) // 2
        chosen = next((frame.image for frame in reader if frame.index >= middle), None)
    if chosen is None:
        raise UsageError(f"{path}: no frames to measure flicker on")
    cv2.imwrite(str(output), chosen)
    return output


def bench_live(
    settings: Settings, source: Path | None, path: Path, resize: str | None, report: Report, fps: int | None = None
) -> dict[str, Any]:
    """The file played at its native rate as a camera would deliver it, through a LiveSession with no sinks."""
    engine = Engine.load(settings, mode="live")
    bindings = engine.bind([source or sample_path("hopper")])
    with tempfile.TemporaryDirectory(prefix="faceweave-bench-") as name:
        clip = resized_copy(path, resize, Path(name), fps) if resize or fps else path
        info, frames = open_input(str(clip))
        _warm_up(engine, bindings, clip)
        session = LiveSession(engine, bindings, FrameGrabber(frames, realtime=True, drop=True), [])
        summary = session.run()
    figures: dict[str, Any] = {"input": str(path), "size": f"{info.width}x{info.height}"}
    figures |= {"native_fps": round(float(info.fps), 2)} | summary.to_json()
    report(
        f"live {path.name} {figures['size']} at {float(info.fps):.2f} fps native: {summary.fps:.1f} fps out,"
        f" {summary.frames}/{summary.captured} frames processed ({summary.dropped} dropped);"
        f" latency p50 {summary.p50_latency_ms:.1f} ms, p95 {summary.p95_latency_ms:.1f} ms;"
        f" analyse {summary.analyse_ms:.1f} ms (p95 {summary.analyse_p95_ms:.1f}), swap {summary.swap_ms:.1f} ms"
        f" (p95 {summary.swap_p95_ms:.1f}), output {summary.output_ms:.1f} ms (p95 {summary.output_p95_ms:.1f}) median"
    )
    return figures


def _warm_up(engine: Engine, bindings: Bindings, clip: Path) -> None:
    """One frame through the engine first (first-call costs), without a stream: a stream's tracker would take the
    Face Mesh graphs a live engine readied at load (`LIVE_WARM_GRAPHS`) and drop them with it."""
    with VideoReader(clip) as reader:
        for frame in reader:
            engine.process(frame.image, bindings)
            break
