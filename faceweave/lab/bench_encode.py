"""What the encoder costs: an ffmpeg-equivalent transcode as the speed yardstick, and x264 presets compared.

The yardstick is what `ffmpeg -i clip -an -c:v libx264 -preset veryfast -crf 16 out.mp4` does (the swap's own
preset and CRF), done with PyAV in this process: decode and encode with frame threads, the decoded YUV frames
encoded as they are (no BGR round trip) at the clip's frame rate. A swap can never be faster than its own decode and
encode, so `bench --video` reports its speed against this.

The preset comparison encodes the same swapped frames (kept losslessly on disk) once per preset through the real
writer, and measures size, wall time and fidelity to those frames (PSNR over BGR, SSIM of the luma).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from faceweave.app.video import swap_video
from faceweave.compose.measure import psnr
from faceweave.engine import Engine, FrameResult
from faceweave.media.video_io import VideoReader, probe_video
from faceweave.media.video_writer import EncodeOptions, VideoWriter
from faceweave.samples import sample_path
from faceweave.settings import Settings
from faceweave.types import Image

Report = Callable[[str], None]
YARDSTICK_PRESET = "veryfast"
YARDSTICK_CRF = 18
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


def transcode_seconds(path: Path, output: Path, preset: str = YARDSTICK_PRESET, crf: int = YARDSTICK_CRF) -> float:
    """Wall seconds of decode + libx264 encode of the decoded frames as they are, video only, as the ffmpeg command
    line does it: frame and slice threads on both sides, and a constant frame rate (the stream's average) with
    the encoder's time base one frame. Without timestamps x264 takes every frame for 0.01 s long and spends ~40 %
    fewer bits (and less time) than ffmpeg; with PyAV's slice threads it encodes ~15 % slower."""
    began = time.perf_counter()
    with av.open(str(path)) as source, av.open(str(output), "w") as sink:
        decoder = source.streams.video[0]
        decoder.thread_type = "AUTO"
        rate = decoder.average_rate or Fraction(25)
        encoder = sink.add_stream("libx264", rate=rate, options={"preset": preset, "crf": str(crf)})
        encoder.width, encoder.height = decoder.codec_context.width, decoder.codec_context.height
        encoder.pix_fmt = "yuv420p"
        encoder.codec_context.thread_type = "AUTO"
        encoder.codec_context.time_base = 1 / rate
        for index, frame in enumerate(source.decode(decoder)):
            frame.pts, frame.time_base = index, 1 / rate
            for packet in encoder.encode(frame):
                sink.mux(packet)
        for packet in encoder.encode(None):
            sink.mux(packet)
    return time.perf_counter() - began


def ssim_luma(a: Image, b: Image) -> float:
    """Mean SSIM of the two images' luma (Wang et al. 2004: 11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03)."""
    x = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float32)
    y = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(image: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return cv2.GaussianBlur(image, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(ssim.mean())


def _swapped_frames(settings: Settings, source: Path, clip: Path, folder: Path) -> tuple[np.ndarray[Any, Any], Path]:
    """The swapped frames of `clip` (before encoding) in a memory-mapped .npy file, and the swap's own output."""
    info = probe_video(clip)
    with VideoReader(clip) as reader:
        count = sum(1 for _ in reader)
    frames = np.lib.format.open_memmap(  # type: ignore[no-untyped-call]
        folder / "swapped.npy", mode="w+", dtype=np.uint8, shape=(count, info.height, info.width, 3)
    )
    kept = 0

    def keep(result: FrameResult) -> None:
        nonlocal kept
        if kept < count:
            frames[kept] = result.image
        kept += 1

    engine = Engine.load(settings, mode="video")
    swap_video(engine, engine.bind([source]), clip, folder / "swapped.mp4", on_frame=keep)
    return frames[: min(kept, count)], folder / "swapped.mp4"


def bench_presets(
    settings: Settings,
    source: Path | None,
    clip: Path,
    report: Report,
    presets: Sequence[str] = PRESETS,
    repeat: int = 3,
) -> dict[str, Any]:
    """Size, encode speed and fidelity of each x264 preset at the default CRF, on the swapped frames of `clip`.

    Speed is the median of `repeat` encodes (frames from memory, through the real writer: BGR → YUV, x264, mux).
    """
    settings = settings.replace(watermark=False)  # the frames as swapped; the mark is added per frame either way
    with tempfile.TemporaryDirectory(prefix="faceweave-presets-") as name:
        folder = Path(name)
        frames, swapped = _swapped_frames(settings, source or sample_path("hopper"), clip, folder)
        with VideoReader(swapped) as reader:
            info = reader.info
        figures: dict[str, Any] = {"video": str(clip), "frames": len(frames), "size": f"{info.width}x{info.height}"}
        rows: dict[str, Any] = {}
        step = info.frame_ticks  # one frame apart, not one tick: x264 reads the durations
        for preset in presets:
            output = folder / f"{preset}.mp4"
            seconds = []
            for _ in range(repeat):
                began = time.perf_counter()
                with VideoWriter(output, info, EncodeOptions(preset=preset, audio=False)) as writer:
                    for index, image in enumerate(frames):
                        writer.write(np.asarray(image), index * step)
                seconds.append(time.perf_counter() - began)
            quality = _fidelity(output, frames)
            rows[preset] = {
                "encode_fps": round(len(frames) / statistics.median(seconds), 2),
                "bytes": output.stat().st_size,
                **quality,
            }
            row = rows[preset]
            report(
                f"{preset:10s} {row['encode_fps']:7.1f} fps  {row['bytes'] / 1e6:7.2f} MB"
                f"  PSNR {row['psnr_db']:.2f} dB  SSIM {row['ssim']:.4f}"
            )
        figures["presets"] = rows
    return figures


def _fidelity(path: Path, frames: np.ndarray[Any, Any]) -> dict[str, float]:
    """Mean PSNR and luma SSIM of the decoded `path` against `frames` (pixels the encoder dropped are left out)."""
    scores: list[tuple[float, float]] = []
    with VideoReader(path) as reader:
        for frame in reader:
            if frame.index >= len(frames):
                break
            original = np.asarray(frames[frame.index])[: frame.image.shape[0], : frame.image.shape[1]]
            scores.append((psnr(original, frame.image), ssim_luma(original, frame.image)))
    return {
        "psnr_db": round(statistics.mean(s[0] for s in scores), 3),
        "ssim": round(statistics.mean(s[1] for s in scores), 5),
    }
