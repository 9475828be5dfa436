"""A swap never writes over what it reads, and the CLI never replaces an existing output unless told to."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from clip_factory import face_frames, write_clip

from faceweave.api import swap_file
from faceweave.cli import main
from faceweave.errors import UsageError
from faceweave.samples import sample_path
from faceweave.settings import Settings

EXIT_OK, EXIT_USAGE = 0, 2


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the bundled source and target photos (the tests try to write over them)."""
    source, target = tmp_path / "hopper.jpg", tmp_path / "astronaut.png"
    shutil.copyfile(sample_path("hopper"), source)
    shutil.copyfile(sample_path("astronaut"), target)
    return source, target


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A short face clip, to be written over."""
    path = tmp_path / "clip.mp4"
    write_clip(path, face_frames((96, 96), 3, with_face=3)[0])
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        code = main([str(arg) for arg in argv])
    finally:
        root.handlers[:] = saved
    return code, capsys.readouterr().err


@pytest.mark.parametrize("which", ["target", "source"])
def test_the_cli_refuses_to_write_over_an_input(
    capsys: pytest.CaptureFixture[str], photos: tuple[Path, Path], which: str
) -> None:
    source, target = photos
    victim = target if which == "target" else source
    before = victim.read_bytes()
    code, err = run(capsys, "swap", "-s", source, "-t", target, "-o", victim, "--overwrite")
    assert code == EXIT_USAGE
    assert f"it is the input '{victim}'" in err and len(err.strip().splitlines()) == 1
    assert victim.read_bytes() == before


def test_an_input_under_another_name_is_still_refused(photos: tuple[Path, Path]) -> None:
    source, target = photos
    link = target.with_name("link.png")
    os.link(target, link)  # the same file by another name
    before = target.read_bytes()
    with pytest.raises(UsageError, match="it is the input"):
        swap_file([source], target, link, Settings())
    assert target.read_bytes() == before


def test_an_existing_output_needs_overwrite(
    capsys: pytest.CaptureFixture[str], photos: tuple[Path, Path], tmp_path: Path
) -> None:
    source, target = photos
    output = tmp_path / "out.png"
    output.write_bytes(b"keep me")
    code, err = run(capsys, "swap", "-s", source, "-t", target, "-o", output)
    assert code == EXIT_USAGE and "exists; pass --overwrite (-y)" in err
    assert output.read_bytes() == b"keep me"
    code, _ = run(capsys, "swap", "-s", source, "-t", target, "-o", output, "-y")
    assert code == EXIT_OK and output.read_bytes() != b"keep me"


def test_a_video_is_never_written_over_itself(
    capsys: pytest.CaptureFixture[str], photos: tuple[Path, Path], clip: Path
) -> None:
    source, _ = photos
    before = clip.read_bytes()
    code, err = run(capsys, "swap", "-s", source, "-t", clip, "-o", clip, "-y")
    assert code == EXIT_USAGE and "it is the input" in err
    assert clip.read_bytes() == before


def test_a_live_recording_neither_replaces_a_file_nor_its_input(
    capsys: pytest.CaptureFixture[str], photos: tuple[Path, Path], clip: Path, tmp_path: Path
) -> None:
    source, _ = photos
    before = clip.read_bytes()
    code, err = run(capsys, "live", "-s", source, "--input", clip, "--record", clip, "-y")
    assert code == EXIT_USAGE and "it is the input" in err and clip.read_bytes() == before
    recording = tmp_path / "earlier.mp4"
    recording.write_bytes(b"an earlier recording")
    code, err = run(capsys, "live", "-s", source, "--input", clip, "--record", recording)
    assert code == EXIT_USAGE and "exists; pass --overwrite (-y)" in err
    assert recording.read_bytes() == b"an earlier recording"
