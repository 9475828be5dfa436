"""`faceweave inspect` and the provenance of `faceweave swap` outputs, through the command line in-process."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from clip_factory import face_frames, write_clip

from faceweave.cli import _parser, _settings, main
from faceweave.media.video_io import VideoReader
from faceweave.media.video_writer import EncodeOptions, VideoWriter
from faceweave.provenance.inspect import read_video_label
from faceweave.provenance.label import label_for, read_label, video_metadata
from faceweave.samples import sample_path
from faceweave.settings import Settings

EXIT_OK, EXIT_USAGE, EXIT_MEDIA = 0, 2, 4


def inspect_lines(capsys: pytest.CaptureFixture[str], path: Path) -> list[str]:
    capsys.readouterr()
    assert main(["inspect", str(path)]) == EXIT_OK
    return capsys.readouterr().out.splitlines()


@pytest.fixture(scope="module")
def swapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("inspect") / "swapped.jpg"
    code = main(["swap", "-s", str(sample_path("hopper")), "-t", str(sample_path("astronaut")), "-o", str(output)])
    assert code == EXIT_OK
    return output


def test_swap_output_carries_label_and_watermark(capsys: pytest.CaptureFixture[str], swapped: Path) -> None:
    label = read_label(swapped)
    assert label is not None
    lines = inspect_lines(capsys, swapped)
    assert lines[0] == f"file: {swapped}"
    assert f"label: faceweave {label.version} (AI-generated)" in lines
    assert (
        "  digital source type: http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
        in lines
    )
    assert f"  settings sha256: {label.settings_hash}" in lines
    assert any(line.startswith("c2pa: ") for line in lines)  # "none", or "not installed" without the extra
    assert f"watermark: found {label.watermark_payload:08x}" in lines
    assert lines[-1].startswith("  matches label: yes")


def test_inspect_unmarked_photo(capsys: pytest.CaptureFixture[str]) -> None:
    lines = inspect_lines(capsys, sample_path("hopper"))
    assert "label: none" in lines
    assert lines[-1] == "watermark: not found"
    assert "c2pa: none" in lines or any(line.startswith("c2pa: not installed") for line in lines)


def test_inspect_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["inspect", str(tmp_path / "absent.png")]) == EXIT_MEDIA
    assert "file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "watermark"),
    [
        ([], True),  # on by default
        (["--no-watermark"], False),  # the flag turns it off
    ],
)
def test_no_watermark_flag(flags: list[str], watermark: bool) -> None:
    args = _parser().parse_args(["swap", "-s", "a.jpg", "-t", "b.jpg", "-o", "c.png", *flags])
    assert _settings(args).watermark is watermark


def test_c2pa_flags_need_each_other(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    argv = ["swap", "-s", "a.jpg", "-t", "b.jpg", "-o", str(tmp_path / "c.png"), "--c2pa-cert", "chain.pem"]
    assert main(argv) == EXIT_USAGE
    assert "c2pa_key" in capsys.readouterr().err


@pytest.fixture(scope="module")
def plain_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames, 320×240, a face in the first 6, written by the test helper: no label, no watermark."""
    frames, boxes = face_frames((320, 240), 12, 6)
    return write_clip(tmp_path_factory.mktemp("plain") / "plain.mp4", frames, fps=Fraction(12), boxes=boxes).path


def test_inspect_unlabelled_video(capsys: pytest.CaptureFixture[str], plain_clip: Path) -> None:
    lines = inspect_lines(capsys, plain_clip)
    assert lines[:2] == [f"file: {plain_clip}", "label: none"]
    assert lines[-1] == "watermark: not found"


@pytest.mark.parametrize(
    "extension",
    [
        ".mp4",  # mdta tags (movflags=use_metadata_tags)
        ".mov",  # same muxer family as MP4
        ".mkv",  # Matroska tags (read back upper-case)
        ".webm",  # Matroska tags, VP9 video
    ],
)
def test_video_writer_tags_every_container(tmp_path: Path, plain_clip: Path, extension: str) -> None:
    label = label_for(Settings(), job_id="job-7")
    output = tmp_path / f"out{extension}"
    options = EncodeOptions(preset="ultrafast" if extension != ".webm" else "8")
    with (
        VideoReader(plain_clip) as reader,
        VideoWriter(output, reader.info, options, metadata=video_metadata(label)) as w,
    ):
        for frame in reader:
            w.write(frame.image, frame.pts)
    assert read_video_label(output) == label
