"""Video reader/writer on small clips generated here with PyAV (no face models): timing, audio, trim, sizes,
rotation, containers, encoders, bad input and interrupted writes.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clip_factory import (
    Clip,
    Pixels,
    audio_packets,
    audio_seconds,
    background,
    decode_all,
    face_frames,
    write_audio_only,
    write_clip,
    write_zero_frames,
)

from faceweave.errors import MediaError, UsageError
from faceweave.media.video_encoders import ENCODERS, encoder_available, encoder_spec
from faceweave.media.video_io import VideoReader, is_video, probe_video
from faceweave.media.video_writer import EncodeOptions, VideoWriter, check_video_output

CODEC_TOLERANCE = 4.0  # mean absolute difference per channel after one more near-lossless encode


def copy_video(
    source: Path,
    output: Path,
    options: EncodeOptions | None = None,
    start: float | None = None,
    end: float | None = None,
) -> VideoWriter:
    """Decode and re-encode a file with no processing; returns the (closed) writer."""
    with (
        VideoReader(source, start, end) as frames,
        VideoWriter(output, frames.info, options, audio_from=source, span=frames.span) as writer,
    ):
        for frame in frames:
            writer.write(frame.image, frame.pts)
    return writer


def leftovers(folder: Path) -> list[str]:
    """Hidden temp files the writer may have left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def mean_difference(a: Pixels, b: Pixels) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """2 s, 15 fps, 160×120, a face in the first half, an AAC sine track."""
    frames, boxes = face_frames((160, 120), 30, 15)
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    return write_clip(path, frames, audio_seconds=2.0, boxes=boxes)


# ----------------------------------------------------------------------------- probe and sniffing


def test_probe_reports_the_stream(clip: Clip) -> None:
    info = probe_video(clip.path)
    assert (info.width, info.height, info.fps, info.frames) == (160, 120, Fraction(15), 30)
    assert (info.codec, info.has_audio, info.audio_codec, info.rotation) == ("h264", True, "aac", 0)
    assert info.duration == pytest.approx(2.0, abs=0.07)


def test_is_video_sniffs_content_not_names(clip: Clip, tmp_path: Path) -> None:
    renamed = tmp_path / "holiday.jpg"
    renamed.write_bytes(clip.path.read_bytes())
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    png = tmp_path / "still.mp4"
    png.write_bytes(Path(__file__).parent.parent.joinpath("conftest.py").read_bytes())
    from faceweave.samples import sample_path

    assert is_video(renamed)  # a video named .jpg is a video
    assert not is_video(text)  # a text file named .mp4 is not
    assert not is_video(sample_path("astronaut"))  # FFmpeg opens PNGs as one-frame streams: still not a video
    assert not is_video(tmp_path / "missing.mp4")


# ----------------------------------------------------------------------------- timing and audio


def test_round_trip_keeps_count_rate_timestamps_and_audio(clip: Clip, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    writer = copy_video(clip.path, output)
    frames, pts, time_base = decode_all(output)
    assert len(frames) == 30 and writer.frames_written == 30
    assert [p * time_base for p in pts] == [p * clip.time_base for p in clip.pts]
    assert probe_video(output).fps == Fraction(15)
    assert writer.audio is not None and writer.audio.copied
    assert [p[2] for p in audio_packets(output)] == [p[2] for p in audio_packets(clip.path)]  # bit-exact copy
    assert audio_seconds(output) == pytest.approx(audio_seconds(clip.path), abs=1e-3)
    for got, sent in zip(frames, clip.frames, strict=True):
        assert mean_difference(got, sent) < CODEC_TOLERANCE


def test_x264_encodes_with_frame_threads_as_ffmpeg_does(clip: Clip, tmp_path: Path) -> None:
    """Frame threads, whole frames (PyAV's default of slice threads cut each frame in two slices and encoded ~15 %
    slower on two cores); x264 writes its settings into the stream."""
    output = tmp_path / "out.mp4"
    copy_video(clip.path, output)
    settings = output.read_bytes()
    assert b"x264 - core" in settings and b"sliced_threads=0" in settings


@pytest.mark.parametrize(
    ("extension", "time_exact"),
    [
        (".mp4", True),  # MP4/MOV keep the input's time base: pts identical
        (".mov", True),
        (".mkv", False),  # Matroska stores milliseconds and starts at the earliest (AAC priming) packet
    ],
)
def test_variable_frame_rate_survives(tmp_path: Path, extension: str, time_exact: bool) -> None:
    frames = [background((96, 64), i) for i in range(10)]
    stamps = [0, 40, 80, 150, 190, 300, 340, 380, 500, 540]  # irregular gaps, milliseconds
    source = write_clip(tmp_path / "vfr.mp4", frames, pts=stamps, time_base=Fraction(1, 1000), audio_seconds=0.6)
    output = tmp_path / f"out{extension}"
    copy_video(source.path, output)
    _, pts, time_base = decode_all(output)
    seconds = [Fraction(p) * time_base for p in pts]
    wanted = [Fraction(s, 1000) for s in stamps]
    if time_exact:
        assert seconds == wanted
    else:  # the whole timeline may move by the audio's priming delay; the gaps stay exact
        assert [b - a for a, b in itertools.pairwise(seconds)] == [b - a for a, b in itertools.pairwise(wanted)]


@pytest.mark.parametrize(
    ("extension", "audio_codec", "copied"),
    [
        (".mp4", "aac", True),
        (".mov", "aac", True),
        (".mkv", "aac", True),
        (".webm", "opus", False),  # WebM refuses AAC: re-encoded to Opus (and video defaults to VP9)
    ],
)
def test_containers_and_audio(clip: Clip, tmp_path: Path, extension: str, audio_codec: str, copied: bool) -> None:
    output = tmp_path / f"out{extension}"
    writer = copy_video(clip.path, output)
    info = probe_video(output)
    assert info.audio_codec == audio_codec and writer.audio is not None and writer.audio.copied is copied
    assert len(decode_all(output)[0]) == 30
    assert audio_seconds(output) == pytest.approx(2.0, abs=0.05)


def test_trim_keeps_the_window_and_starts_near_zero(clip: Clip, tmp_path: Path) -> None:
    output = tmp_path / "trim.mp4"
    with VideoReader(clip.path, start=0.5, end=1.5) as reader:
        kept = [(frame.index, frame.seconds) for frame in reader]
    assert len(kept) == 15 and kept[0][1] == Fraction(8, 15)  # frames at 8/15 s … 22/15 s
    copy_video(clip.path, output, start=0.5, end=1.5)
    frames, pts, time_base = decode_all(output)
    assert len(frames) == 15
    seconds = [p * time_base for p in pts]
    assert abs(seconds[0] - (Fraction(8, 15) - Fraction(1, 2))) < 0.001  # moved back by --start (MP4: ms offset)
    assert all(b - a == Fraction(1, 15) for a, b in itertools.pairwise(seconds))
    assert mean_difference(frames[0], clip.frames[8]) < CODEC_TOLERANCE
    assert audio_seconds(output) == pytest.approx(1.0, abs=0.05)  # copied audio cut at packet boundaries


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (-1.0, None, "--start must be ≥ 0"),
        (1.0, 0.5, "must be after --start"),
        (5.0, None, "past the end"),
    ],
)
def test_bad_trim_is_a_usage_error(clip: Clip, start: float, end: float | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        VideoReader(clip.path, start=start, end=end)


# ----------------------------------------------------------------------------- sizes, rotation, encoders


@pytest.mark.parametrize(
    ("encoder", "size_wh"),
    [
        ("libx264", (640, 358)),  # H.264 yuv420p needs even sides: last column and row dropped, never scaled
        ("libvpx-vp9", (641, 359)),  # VP9 encodes odd sizes as they are
    ],
)
def test_odd_size(tmp_path: Path, encoder: str, size_wh: tuple[int, int]) -> None:
    source = write_clip(tmp_path / "odd.mkv", [background((641, 359), i) for i in range(3)], codec="libvpx-vp9")
    assert probe_video(source.path).width == 641
    output = tmp_path / "odd_out.mkv"
    writer = copy_video(
        source.path, output, EncodeOptions(encoder=encoder, preset="ultrafast" if encoder == "libx264" else "8")
    )
    assert writer.size_wh == size_wh
    frames, _, _ = decode_all(output)
    assert frames[0].shape == (size_wh[1], size_wh[0], 3)
    assert mean_difference(frames[0], source.frames[0][: size_wh[1], : size_wh[0]]) < CODEC_TOLERANCE


def test_rotation_metadata_is_applied_and_output_is_upright(tmp_path: Path) -> None:
    stored = background((96, 64), 0)
    stored[:16, :16] = (0, 0, 255)  # a red square top-left in the stored frame
    source = write_clip(tmp_path / "phone.mp4", [stored] * 3, rotation=90)  # 90° counter-clockwise on display
    info = probe_video(source.path)
    assert (info.rotation, info.width, info.height) == (90, 64, 96)
    with VideoReader(source.path) as reader:
        first = next(iter(reader)).image
    upright = np.rot90(stored)
    assert first.shape == upright.shape and mean_difference(first, upright) < CODEC_TOLERANCE
    assert first[-8, 8, 2] > 200  # the red square is now bottom-left
    output = tmp_path / "upright.mp4"
    copy_video(source.path, output)
    out = probe_video(output)
    assert (out.rotation, out.width, out.height) == (0, 64, 96)  # pixels turned, no rotation tag written


@pytest.mark.parametrize("name", [spec.name for spec in ENCODERS if not spec.hardware])
def test_each_software_encoder_writes_a_playable_file(tmp_path: Path, name: str) -> None:
    spec = encoder_spec(name)
    if not encoder_available(spec):
        pytest.skip(f"{name} is not in this FFmpeg build")
    source = write_clip(tmp_path / "in.mp4", [background((64, 48), i) for i in range(4)])
    output = tmp_path / "out.mkv"
    copy_video(source.path, output, EncodeOptions(encoder=name, crf=spec.default_crf, preset=spec.presets[-1]))
    assert probe_video(output).codec in (spec.codec, "libdav1d", "libvpx-vp9")
    assert len(decode_all(output)[0]) == 4


@pytest.mark.parametrize(
    ("options", "extension", "message"),
    [
        (EncodeOptions(encoder="libx264"), ".webm", "cannot hold h264"),  # WebM holds VP8/VP9/AV1 only
        (EncodeOptions(encoder="nope"), ".mp4", "unknown video encoder"),
        (EncodeOptions(crf=99), ".mp4", "--crf for libx264 must be 0–51"),
        (EncodeOptions(preset="warp"), ".mp4", "--preset for libx264 must be one of"),
        (EncodeOptions(encoder="libvpx-vp9", preset="fast"), ".mkv", "--preset for libvpx-vp9"),  # VP9 takes 0-8
    ],
)
def test_bad_encoder_options(clip: Clip, tmp_path: Path, options: EncodeOptions, extension: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        VideoWriter(tmp_path / f"out{extension}", probe_video(clip.path), options)
    assert leftovers(tmp_path) == []


def test_missing_hardware_encoder_is_a_clear_usage_error(clip: Clip, tmp_path: Path) -> None:
    spec = encoder_spec("h264_nvenc")
    if encoder_available(spec):
        pytest.skip("this machine has NVENC")
    with pytest.raises(UsageError, match="h264_nvenc is not available here"):
        VideoWriter(tmp_path / "out.mp4", probe_video(clip.path), EncodeOptions(encoder="h264_nvenc"))


# ----------------------------------------------------------------------------- bad input and output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, clip: d.joinpath("text.mp4").write_text("hello\n") and d / "text.mp4", "not a readable video"),
        (lambda d, clip: d.joinpath("empty.mp4").write_bytes(b"") or d / "empty.mp4", "empty file"),
        (lambda d, clip: _truncated(clip.path, d / "cut.mp4"), "not a readable video"),  # moov atom lost
        (lambda d, clip: _garbled(clip.path, d / "garbled.mp4"), "not a readable video|corrupt"),
        (lambda d, clip: write_audio_only(d / "song.mp4"), "no video stream"),
        (lambda d, clip: write_zero_frames(d / "zero.mkv"), "no frames"),  # a video track, not one frame
        (lambda d, clip: write_zero_frames(d / "zero.mp4"), "no video stream"),  # MP4 drops empty tracks
        (lambda d, clip: d / "missing.mp4", "file not found"),
        (lambda d, clip: d, "is a directory"),
    ],
    ids=[
        *("text-named-mp4", "empty", "truncated", "garbled-header", "audio-only"),
        *("zero-frames-mkv", "zero-frames-mp4", "missing", "folder"),
    ],
)
def test_bad_input_is_a_media_error_naming_the_file(clip: Clip, tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path, clip)
    with pytest.raises(MediaError, match=message) as caught:
        VideoReader(path)
    assert str(path) in str(caught.value)


def _truncated(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def _garbled(source: Path, target: Path) -> Path:
    data = bytearray(source.read_bytes())
    data[:64] = bytes(range(64))
    target.write_bytes(bytes(data))
    return target


def test_truncated_stream_with_header_fails_or_stops_cleanly(clip: Clip, tmp_path: Path) -> None:
    """A Matroska file cut mid-stream opens (header first): the reader ends early or raises MediaError, never hangs."""
    whole = tmp_path / "whole.mkv"
    copy_video(clip.path, whole)
    cut = _truncated(whole, tmp_path / "cut.mkv")
    try:
        with VideoReader(cut) as reader:
            count = sum(1 for _ in reader)
        assert 0 < count < 30
    except MediaError as error:
        assert str(cut) in str(error)


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("out.avi", UsageError, "unsupported video output extension"),
        ("out.gif", UsageError, "use one of .mkv, .mov, .mp4, .webm"),
        ("missing/out.mp4", MediaError, "output directory does not exist"),
        ("folder.mp4", MediaError, "output is a directory"),
    ],
)
def test_bad_output_path(tmp_path: Path, name: str, error: type[Exception], message: str) -> None:
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(error, match=message):
        check_video_output(tmp_path / name)


def test_wrong_frame_shape_is_refused(clip: Clip, tmp_path: Path) -> None:
    with (
        pytest.raises(UsageError, match="frame must be 120×160×3 uint8"),
        VideoWriter(tmp_path / "out.mp4", probe_video(clip.path)) as writer,
    ):
        writer.write(np.zeros((10, 10, 3), np.uint8), 0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_interrupted_encode_leaves_no_file(clip: Clip, tmp_path: Path, interruption: type[BaseException]) -> None:
    output = tmp_path / "out.mp4"
    with (
        pytest.raises(interruption),
        VideoReader(clip.path) as reader,
        VideoWriter(output, reader.info, audio_from=clip.path) as writer,
    ):
        for frame in reader:
            writer.write(frame.image, frame.pts)
            if frame.index == 10:
                assert leftovers(tmp_path)  # the temp file exists while encoding
                raise interruption()
    assert list(tmp_path.iterdir()) == []  # no output, no hidden .part file


@pytest.mark.parametrize("step", ["os.close", "threading.Thread.start"])
def test_an_interrupt_while_the_writer_starts_leaves_no_file(
    clip: Clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """SIGTERM (KeyboardInterrupt) can land just after the temp file appears, before the writer is entered: a flaky
    leftover .part in test_signals came from there (the temp file was made before the cleanup could know its name)."""
    import faceweave.media.video_writer as video_writer

    module, name = step.rsplit(".", 1)
    owner = {"os": video_writer.os, "threading.Thread": video_writer.threading.Thread}[module]
    original = getattr(owner, name)

    def interrupted(*args: object) -> None:
        if not leftovers(tmp_path):
            original(*args)  # some other call: not the writer's own start
            return
        original(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(owner, name, interrupted)
    with pytest.raises(KeyboardInterrupt):
        VideoWriter(tmp_path / "out.mp4", probe_video(clip.path))
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_frames_are_marked_and_converted_ahead_of_the_encoder_in_order(clip: Clip, tmp_path: Path) -> None:
    """The YUV conversion and the mark (on the converted frame's luma) run on a prepare thread of their own (on the
    writer thread they made it the slowest stage of a 1080p swap); frames still come out in order, each marked once."""
    import threading

    seen: list[tuple[str, int]] = []

    def mark(luma: np.ndarray) -> None:
        seen.append((threading.current_thread().name, int(luma[0, 0])))

    with VideoReader(clip.path) as reader, VideoWriter(tmp_path / "out.mp4", reader.info, mark=mark) as writer:
        for frame in reader:
            image = frame.image.copy()
            image[:2, :2] = 8 * frame.index  # a tag per frame, brighter each frame
            writer.write(image, frame.pts)
    tags = [tag for _, tag in seen]
    assert len(tags) == len(clip.frames) and tags == sorted(set(tags)), tags
    assert {name.split("_")[0] for name, _ in seen} == {"faceweave-video-prepare"}
    assert len(decode_all(tmp_path / "out.mp4")[0]) == len(clip.frames)


def test_an_existing_output_survives_a_failed_write(clip: Clip, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    output.write_bytes(b"previous result")
    with pytest.raises(KeyboardInterrupt), VideoWriter(output, probe_video(clip.path)) as writer:
        writer.write(clip.frames[0], 0)
        raise KeyboardInterrupt
    assert output.read_bytes() == b"previous result" and leftovers(tmp_path) == []


def test_reader_stops_early_without_hanging(clip: Clip) -> None:
    with VideoReader(clip.path, queue_size=2) as reader:
        first = [frame.index for _, frame in zip(range(3), reader, strict=False)]
    assert first == [0, 1, 2]
    assert not reader._thread.is_alive()


def test_unsupported_codec_names_the_problem_and_the_fix(tmp_path: Path) -> None:
    mkv = write_clip(tmp_path / "clip.mkv", [background((64, 48), i) for i in range(3)]).path
    data = mkv.read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    unknown = tmp_path / "unknown.mkv"
    unknown.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_FACEWEAVE/XYZ"))  # a codec id no FFmpeg knows
    assert is_video(unknown)
    with pytest.raises(MediaError, match=r"unsupported video codec .*convert it to H\.264"):
        probe_video(unknown)
