"""Video swapping end to end (real face models) on clips generated here, the CLI's video route and its errors,
and (slow) the ../shared/testdata clips.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from c2pa_factory import make_test_credentials
from clip_factory import Clip, Pixels, audio_packets, decode_all, face_frames, write_audio_only, write_clip

from faceweave.app.video import Progress, looks_like_video, swap_video
from faceweave.cli import main
from faceweave.engine import BoundEngine, Engine
from faceweave.errors import MediaError, NoFaceError
from faceweave.media.video_io import probe_video
from faceweave.media.video_writer import EncodeOptions
from faceweave.provenance.c2pa import verify_image
from faceweave.provenance.label import label_from_video_tags, settings_hash
from faceweave.provenance.watermark import find_watermark
from faceweave.samples import sample_path
from faceweave.settings import Settings

EXIT_OK, EXIT_USAGE, EXIT_NO_FACE, EXIT_MEDIA, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
HOPPER = sample_path("hopper")
FAST = EncodeOptions(preset="ultrafast")
PASS_THROUGH_TOLERANCE = 4.0  # mean absolute difference: one more encode (crf 18) plus colour rounding
SWAP_CHANGE = 12.0  # mean absolute difference inside a swapped face


def mean_difference(a: Pixels, b: Pixels) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


@pytest.fixture(scope="module")
def video_pipeline() -> BoundEngine:
    """Grace Hopper as the source, built for video (MediaPipe detection only)."""
    return BoundEngine.load(Settings(), sources=[HOPPER], mode="video")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """2 s at 12 fps, 320×240: the astronaut's head moving for 12 frames, then 12 face-free frames; AAC audio."""
    frames, boxes = face_frames((320, 240), 24, 12)
    path = tmp_path_factory.mktemp("video") / "target.mp4"
    return write_clip(path, frames, fps=Fraction(12), audio_seconds=2.0, boxes=boxes)


def test_swap_video_changes_faces_only_and_keeps_timing_and_audio(
    video_pipeline: BoundEngine, clip: Clip, tmp_path: Path
) -> None:
    reports: list[Progress] = []
    output = tmp_path / "swapped.mp4"
    summary = swap_video(
        video_pipeline.engine, video_pipeline.bindings, clip.path, output, options=FAST, progress=reports.append
    )
    assert (summary.frames, summary.frames_swapped) == (24, 12)
    assert summary.fps > 0 and summary.seconds > 0 and summary.output == output
    assert [r.frames for r in reports] == list(range(1, 25)) and reports[0].total == 24
    assert reports[-1].eta_seconds == 0
    decoded, pts, time_base = decode_all(output)
    source, source_pts, source_base = decode_all(clip.path)
    assert [p * time_base for p in pts] == [p * source_base for p in source_pts]
    assert [p[2] for p in audio_packets(output)] == [p[2] for p in audio_packets(clip.path)]
    for index, (got, before, box) in enumerate(zip(decoded, source, clip.face_boxes, strict=True)):
        if box is None:
            assert mean_difference(got, before) < PASS_THROUGH_TOLERANCE, f"frame {index} without a face changed"
            continue
        x1, y1, x2, y2 = box
        inner = (slice(y1 + (y2 - y1) // 4, y2 - (y2 - y1) // 4), slice(x1 + (x2 - x1) // 4, x2 - (x2 - x1) // 4))
        assert mean_difference(got[inner], before[inner]) > SWAP_CHANGE, f"face in frame {index} not swapped"
        outside = np.ones(got.shape[:2], bool)
        outside[max(0, y1 - 8) : y2 + 8, max(0, x1 - 8) : x2 + 8] = False
        assert mean_difference(got[outside], before[outside]) < PASS_THROUGH_TOLERANCE


def test_trimmed_swap(video_pipeline: BoundEngine, clip: Clip, tmp_path: Path) -> None:
    output = tmp_path / "trim.mkv"
    summary = swap_video(
        video_pipeline.engine, video_pipeline.bindings, clip.path, output, start=0.5, end=1.5, options=FAST
    )
    assert summary.frames == 12 and summary.frames_swapped == 6  # frames 6–17; faces in 6–11
    assert len(decode_all(output)[0]) == 12


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_interrupted_swap_leaves_no_file(
    video_pipeline: BoundEngine, clip: Clip, tmp_path: Path, interruption: type[BaseException]
) -> None:
    def stop_at_five(progress: Progress) -> None:
        if progress.frames == 5:
            raise interruption()

    with pytest.raises(interruption):
        swap_video(
            video_pipeline.engine,
            video_pipeline.bindings,
            clip.path,
            tmp_path / "out.mp4",
            options=FAST,
            progress=stop_at_five,
        )
    assert list(tmp_path.iterdir()) == []


def test_require_face_fails_without_writing(tmp_path: Path) -> None:
    frames, _ = face_frames((96, 64), 4, 0)
    faceless = write_clip(tmp_path / "faceless.mp4", frames)
    pipeline = BoundEngine.load(Settings(require_face=True), sources=[HOPPER], mode="video")
    with pytest.raises(NoFaceError, match="no frame had a face"):
        swap_video(pipeline.engine, pipeline.bindings, faceless.path, tmp_path / "out.mp4", options=FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faceless.mp4"]


# ----------------------------------------------------------------------------- provenance


@pytest.mark.parametrize(
    "name",
    [
        "swapped.mp4",  # MP4: custom keys kept as mdta tags through movflags=use_metadata_tags
        "swapped.mkv",  # Matroska: keeps every tag as is
    ],
)
def test_swapped_video_is_labelled_and_watermarked(
    video_pipeline: BoundEngine, clip: Clip, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    output = tmp_path / name
    swap_video(
        video_pipeline.engine, video_pipeline.bindings, clip.path, output, options=FAST
    )  # H.264 at the default crf
    with av.open(str(output)) as container:
        label = label_from_video_tags(container.metadata)
    assert label is not None and label.settings_hash == settings_hash(video_pipeline.settings)
    decoded = decode_all(output)[0]
    for index in (0, 13, 23):  # the keyframe, a face-free frame, the last frame
        match = find_watermark(decoded[index])
        assert match is not None and match.payload == label.watermark_payload, f"no watermark in frame {index}"
    capsys.readouterr()
    assert main(["inspect", str(output)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert f"label: faceweave {label.version} (AI-generated)" in lines
    assert f"watermark: found {label.watermark_payload:08x}" in lines
    assert lines[-1].startswith("  matches label: yes")


def test_no_watermark_flag_leaves_the_label_only(
    clip: Clip, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "plain.mp4"
    argv = ["swap", "-s", HOPPER, "-t", clip.path, "-o", output, "--end", "0.5", "--preset", "ultrafast"]
    assert main([str(a) for a in [*argv, "--no-watermark"]]) == EXIT_OK, capsys.readouterr().err
    assert all(find_watermark(frame) is None for frame in decode_all(output)[0])
    capsys.readouterr()
    assert main(["inspect", str(output)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("label: faceweave ") for line in lines)
    assert lines[-1] == "watermark: not found"


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with a throw-away C2PA test chain; skips without the optional c2pa-python."""
    pytest.importorskip("c2pa", reason="the optional c2pa-python extra is not installed")
    credentials = make_test_credentials(tmp_path_factory.mktemp("c2pa"))
    return Settings(c2pa_cert=str(credentials.chain), c2pa_key=str(credentials.key))


def test_signed_video_validates_and_tampering_is_detected(
    clip: Clip, signing: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "signed.mp4"
    pipeline = BoundEngine.load(signing, sources=[HOPPER], mode="video")
    swap_video(pipeline.engine, pipeline.bindings, clip.path, output, end=0.5, options=FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signed.mp4"]  # no temp files left
    capsys.readouterr()
    assert main(["inspect", str(output)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    c2pa_line = next(line for line in lines if line.startswith("c2pa: "))
    assert c2pa_line.startswith("c2pa: Valid (") and "compositeWithTrainedAlgorithmicMedia" in c2pa_line
    assert any(line.startswith("label: faceweave ") for line in lines)  # the label survives signing
    assert lines[-1].startswith("  matches label: yes")  # and so does the watermark
    assert len(decode_all(output)[0]) == 6  # still plays: 0.5 s at 12 fps
    data = bytearray(output.read_bytes())
    mdat = data.index(b"mdat")
    size = int.from_bytes(data[mdat - 4 : mdat], "big")
    data[mdat + size // 2] ^= 0xFF  # flip a byte in the middle of the encoded frames
    output.write_bytes(bytes(data))
    assert verify_image(output).state == "Invalid"


def test_failed_signing_leaves_no_file(clip: Clip, signing: Settings, tmp_path: Path) -> None:
    broken = dataclasses.replace(signing, c2pa_cert=signing.c2pa_key)  # PEM, but no certificate in it
    pipeline = BoundEngine.load(broken, sources=[HOPPER], mode="video")
    with pytest.raises(MediaError, match="C2PA signing failed"):
        swap_video(pipeline.engine, pipeline.bindings, clip.path, tmp_path / "out.mov", end=0.25, options=FAST)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.mkv", "out.webm"])
def test_signing_refuses_matroska_before_models_load(
    clip: Clip,
    signing: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    def no_models(*args: object, **kwargs: object) -> None:
        raise AssertionError("models were loaded before the error was found")

    monkeypatch.setattr(Engine, "load", no_models)
    keys = ["--c2pa-cert", signing.c2pa_cert, "--c2pa-key", signing.c2pa_key]
    argv = ["swap", "-s", str(HOPPER), "-t", str(clip.path), "-o", str(tmp_path / name), *keys]
    assert main(argv) == EXIT_USAGE
    assert "write .mp4 or .mov" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- the command line


def test_cli_swaps_a_video_detected_by_content(clip: Clip, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disguised = tmp_path / "target.dat"  # the name says nothing: the content decides
    disguised.write_bytes(clip.path.read_bytes())
    output = tmp_path / "out.mov"
    argv = ["swap", "-s", HOPPER, "-t", disguised, "-o", output, "--start", "0.25", "--end", "0.75"]
    code = main([str(a) for a in [*argv, "--crf", "30", "--preset", "ultrafast"]])
    assert code == EXIT_OK, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == str(output)
    info = probe_video(output)
    assert info.frames == 6 and info.audio_codec == "aac"


@pytest.mark.parametrize(
    ("target", "output", "extra", "code", "message"),
    [
        ("text.mp4", "out.mp4", [], EXIT_MEDIA, "not a readable video"),  # a text file named .mp4
        ("song.mp4", "out.mp4", [], EXIT_MEDIA, "no video stream"),  # audio only
        ("clip", "out.avi", [], EXIT_USAGE, "unsupported video output extension"),
        ("clip", "missing/out.mp4", [], EXIT_MEDIA, "output directory does not exist"),
        ("clip", "out.webm", ["--encoder", "libx264"], EXIT_USAGE, "cannot hold h264"),
        ("clip", "out.mp4", ["--crf", "80"], EXIT_USAGE, "--crf for libx264 must be 0–51"),
        ("clip", "out.mp4", ["--start", "9"], EXIT_USAGE, "past the end"),
        ("image", "out.png", ["--start", "1"], EXIT_USAGE, "apply to video targets only"),
    ],
)
def test_cli_video_errors_fail_before_models_load(
    clip: Clip,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    output: str,
    extra: list[str],
    code: int,
    message: str,
) -> None:
    def no_models(*args: object, **kwargs: object) -> None:
        raise AssertionError("models were loaded before the error was found")

    monkeypatch.setattr(Engine, "load", no_models)
    (tmp_path / "text.mp4").write_text("hello\n")
    write_audio_only(tmp_path / "song.mp4")
    paths = {"clip": clip.path, "image": sample_path("astronaut")}
    target_path = paths.get(target, tmp_path / target)
    assert main(["swap", "-s", str(HOPPER), "-t", str(target_path), "-o", str(tmp_path / output), *extra]) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not any(p.name.startswith(".") for p in tmp_path.rglob("*"))


def test_routing_by_content(clip: Clip, tmp_path: Path) -> None:
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    assert looks_like_video(clip.path)
    assert looks_like_video(tmp_path / "broken.mp4")  # no image, video name: gets the video error message
    assert not looks_like_video(sample_path("astronaut"))


# ----------------------------------------------------------------------------- ../shared/testdata


@pytest.mark.slow
@pytest.mark.testdata
def test_shared_clip_swaps_with_timing_and_audio(video_pipeline: BoundEngine, tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "video" / "hamilton_short_clip.mp4"
    if not source.is_file():
        pytest.skip("../shared/testdata/video is not present on this machine")
    output = tmp_path / "hamilton.mp4"
    summary = swap_video(video_pipeline.engine, video_pipeline.bindings, source, output)
    before, after = probe_video(source), probe_video(output)
    assert summary.frames == before.frames == after.frames == 275
    assert summary.frames_swapped > 200
    assert (after.fps, after.time_base, after.audio_codec) == (before.fps, before.time_base, "aac")
    assert [p[2] for p in audio_packets(output)] == [p[2] for p in audio_packets(source)]
    _, pts, time_base = decode_all(output)
    _, source_pts, source_base = decode_all(source)
    assert [p * time_base for p in pts] == [p * source_base for p in source_pts]
