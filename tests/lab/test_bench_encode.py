"""The encoder yardstick and the preset comparison's measures."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clip_factory import decode_all, face_frames, write_clip

from faceweave.lab.bench_encode import psnr, ssim_luma, transcode_seconds
from faceweave.lab.bench_video import decode_encode_seconds
from faceweave.media.video_encoders import encoder_spec
from faceweave.media.video_io import DecodedFrame
from faceweave.media.video_writer import VideoWriter
from faceweave.provenance.watermark import find_watermark


def test_psnr_and_ssim_rank_a_noisier_copy_lower(astronaut: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    noisy = [
        np.clip(astronaut.astype(np.int16) + rng.normal(0, sigma, astronaut.shape).astype(np.int16), 0, 255).astype(
            np.uint8
        )
        for sigma in (2, 8)
    ]
    assert psnr(astronaut, astronaut) == float("inf")
    assert ssim_luma(astronaut, astronaut) == pytest.approx(1.0)
    assert 40 < psnr(astronaut, noisy[0]) < 45  # σ 2 → 42.1 dB by definition (rounding moves it slightly)
    assert psnr(astronaut, noisy[1]) < psnr(astronaut, noisy[0])
    assert ssim_luma(astronaut, noisy[1]) < ssim_luma(astronaut, noisy[0]) < 1.0


def test_the_transcode_keeps_every_frame(tmp_path: Path) -> None:
    frames, boxes = face_frames((320, 240), 10, with_face=10)
    clip = write_clip(tmp_path / "in.mp4", frames, boxes=boxes).path
    seconds = transcode_seconds(clip, tmp_path / "out.mp4")
    decoded, _, _ = decode_all(tmp_path / "out.mp4")
    assert seconds > 0 and len(decoded) == 10
    assert decoded[0].shape == (240, 320, 3)
    assert psnr(frames[5], decoded[5]) > 30  # CRF 18: close to the source


def test_the_transcode_is_timed_and_threaded_as_ffmpeg_does_it(tmp_path: Path) -> None:
    """The clip's frame rate and one-frame durations (without timestamps x264 took each frame for 0.01 s and spent
    ~40 % fewer bits than ffmpeg), frame threads and whole frames (not PyAV's default slices)."""
    frames, boxes = face_frames((320, 240), 10, with_face=10)
    clip = write_clip(tmp_path / "in.mp4", frames, boxes=boxes).path
    transcode_seconds(clip, tmp_path / "out.mp4")
    with av.open(str(clip)) as source, av.open(str(tmp_path / "out.mp4")) as out:
        rate, stream = source.streams.video[0].average_rate, out.streams.video[0]
        assert stream.average_rate == rate
        packets = [p for p in out.demux(stream) if p.size]
        assert sorted(p.pts * stream.time_base for p in packets) == [i / rate for i in range(10)]
    assert b"sliced_threads=0" in (tmp_path / "out.mp4").read_bytes()


def test_bench_video_reports_the_yardstick_and_the_presets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from faceweave import cli

    frames, boxes = face_frames((320, 240), 8, with_face=8)
    clip = write_clip(tmp_path / "in.mp4", frames, boxes=boxes).path
    assert cli.main(["bench", "--video", str(clip), "--presets", "--json"]) == cli.EXIT_OK
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["transcode_fps"] > 0 and figures["transcode_ratio"] > 0 and figures["mesh_workers"] >= 1
    x264 = encoder_spec("libx264")  # the yardstick transcodes to the swap's own encoder settings
    assert figures["transcode"].startswith(f"decode + libx264 {x264.default_preset} CRF {x264.default_crf},")
    assert figures["transcode_crf18_fps"] > 0 and figures["transcode_crf18_ratio"] > 0
    presets = figures["presets"]
    assert set(presets) == {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium"}
    assert presets["ultrafast"]["bytes"] > presets["medium"]["bytes"]  # the fastest preset compresses least
    assert all(row["psnr_db"] > 30 and 0.9 < row["ssim"] <= 1 for row in presets.values())


@pytest.mark.parametrize("watermark", [True, False])
def test_the_decode_encode_floor_is_what_a_swap_does_around_its_frames(tmp_path: Path, watermark: bool) -> None:
    """bench --video's own decode + encode marks the frames as a swap does (when the watermark is on), and keeps the
    decoded YUV of the pixels nothing changed: no BGR round trip, which moved luma by about a level."""
    frames, boxes = face_frames((512, 512), 6, with_face=6)
    clip = write_clip(tmp_path / "in.mp4", frames, boxes=boxes).path
    seconds, count = decode_encode_seconds(clip, tmp_path, watermark)
    assert seconds > 0 and count == 6
    with av.open(str(clip)) as source, av.open(str(tmp_path / "copy.mp4")) as copy:
        pairs = list(zip(source.decode(video=0), copy.decode(video=0), strict=True))
    luma_shift = np.mean([b.to_ndarray(format="gray").mean() - a.to_ndarray(format="gray").mean() for a, b in pairs])
    assert abs(luma_shift) < 0.3, luma_shift
    found = find_watermark(pairs[3][1].to_ndarray(format="bgr24"))
    assert (found is not None) == watermark


def test_the_presets_are_encoded_at_the_clips_frame_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each frame is written one frame after the last, in the time base of the swapped clip (MP4 counts 1/15360 s
    for a 15 fps clip): one tick each made x264 take the frames for 0.01 s long and spend ~40 % fewer bits."""
    from faceweave.lab import bench_encode
    from faceweave.settings import Settings

    stamps: list[Fraction] = []
    write = bench_encode.VideoWriter.write

    def record(self: VideoWriter, image: np.ndarray, pts: int, original: DecodedFrame | None = None) -> None:
        stamps.append(pts * self.info.time_base)
        write(self, image, pts, original)

    monkeypatch.setattr(bench_encode.VideoWriter, "write", record)
    frames, boxes = face_frames((320, 240), 6, with_face=6)
    clip = write_clip(tmp_path / "in.mp4", frames, boxes=boxes).path
    bench_encode.bench_presets(Settings(), None, clip, lambda _: None, presets=("veryfast",), repeat=1)
    assert stamps[-6:] == [Fraction(i, 15) for i in range(6)]  # the preset's encode (the swap's own came first)
