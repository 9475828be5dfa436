"""End-to-end tests of the command line: `faceweave.cli.main([...])` in-process on real public-domain faces.

Every swap loads the models (~1.5 s), so full swaps are few and the cheap failure cases are checked to fail
before any model is built wherever the CLI promises that (output path, settings).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import stat
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageOps

from faceweave.analysis.analyser import FaceAnalyser
from faceweave.api import analyse_file
from faceweave.cli import main
from faceweave.samples import sample_path
from faceweave.settings import Settings

Pixels = npt.NDArray[np.uint8]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

EXIT_OK, EXIT_USAGE, EXIT_NO_FACE, EXIT_MEDIA = 0, 2, 3, 4
HOPPER = sample_path("hopper")
ASTRONAUT = sample_path("astronaut")


# ----------------------------------------------------------------------------- running the CLI


@dataclasses.dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> Run:
    """Call main() as a fresh process would: its logging.basicConfig must reach (captured) stderr.

    Under pytest the root logger already carries pytest's capture handlers, which would turn main's
    basicConfig into a no-op and hide the CLI's warnings from stderr; they are set aside for the call.
    """
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers.clear()
    try:
        code = main([str(arg) for arg in argv])
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    out, err = capsys.readouterr()
    return Run(code, out, err)


@pytest.fixture(autouse=True)
def no_watermark(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests check pixels far from the face are kept exactly; the invisible watermark changes every pixel by
    design, so it is off here (FACEWEAVE_WATERMARK=false) and tested with the swap in tests/test_inspect.py."""
    monkeypatch.setenv("FACEWEAVE_WATERMARK", "false")


@pytest.fixture
def no_model_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the CLI starts building a face analyser (model loading)."""

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("models were loaded although the command should have failed before any model work")

    monkeypatch.setattr(FaceAnalyser, "__init__", refuse)


# ----------------------------------------------------------------------------- images and checks


def read_bgr(path: Path) -> Pixels:
    decoded = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None, f"{path} does not decode"
    return np.asarray(decoded)


def read_unchanged(path: Path) -> npt.NDArray[np.generic]:
    decoded = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None, f"{path} does not decode"
    return np.asarray(decoded)


def write_png(path: Path, array: npt.NDArray[np.generic]) -> Path:
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded.tobytes())
    return path


def jpeg_bytes(image: Pixels, quality: int = 92) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(encoded.tobytes())


def huge_png_header(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG signature + IHDR declaring width×height RGB, a tiny IDAT and IEND; no pixels allocated."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, deflate, no filter, no interlace
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def faceless(height: int = 320, width: int = 400) -> Pixels:
    """A smooth colour gradient with mild noise: no face for any detector."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.dstack((x / width * 200 + 20, y / height * 200 + 20, (x + y) / (width + height) * 180 + 40))
    noisy = base + rng.normal(0, 6, base.shape)
    return np.ascontiguousarray(np.clip(noisy, 0, 255).astype(np.uint8))


@dataclasses.dataclass(frozen=True)
class Box:
    x1: int
    y1: int
    x2: int
    y2: int

    def inside(self, image: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        return image[self.y1 : self.y2, self.x1 : self.x2]

    def outside_mask(self, shape: tuple[int, ...], grow: float) -> npt.NDArray[np.bool_]:
        """True far from the face: outside the box grown by `grow` × its size on every side."""
        dx, dy = int((self.x2 - self.x1) * grow), int((self.y2 - self.y1) * grow)
        mask = np.ones(shape[:2], bool)
        mask[max(0, self.y1 - dy) : self.y2 + dy, max(0, self.x1 - dx) : self.x2 + dx] = False
        return mask


def corners(image: npt.NDArray[np.generic], size: int = 48) -> list[npt.NDArray[np.generic]]:
    return [image[:size, :size], image[:size, -size:], image[-size:, :size], image[-size:, -size:]]


def assert_swapped(output: Pixels, target: Pixels, face: Box, *, far_tolerance: int = 1) -> None:
    """The face region changed clearly; far from the face (and in the corners) the image is (almost) the target."""
    assert output.shape == target.shape
    diff = np.abs(output.astype(np.int16) - target.astype(np.int16)).max(axis=2)
    assert face.inside(diff).mean() > 8, "the face region is (nearly) unchanged: no swap happened"
    assert diff[face.outside_mask(diff.shape, grow=0.5)].max() <= far_tolerance, "pixels far from the face changed"
    for corner in corners(diff):
        assert corner.max() <= far_tolerance


def assert_media_error(run: Run, path: Path) -> None:
    assert run.code == EXIT_MEDIA, run
    assert len(run.err_lines) == 1, run.err
    assert run.err_lines[0].startswith("faceweave: error: "), run.err
    assert str(path) in run.err_lines[0], run.err
    assert run.out == ""


def part_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# ----------------------------------------------------------------------------- shared inputs (built once)


@dataclasses.dataclass(frozen=True)
class Inputs:
    folder: Path
    astronaut: Pixels  # BGR, 512×512
    face: Box  # the astronaut's face box (also valid for the grey, RGBA, 16-bit and EXIF-rotated variants)
    grey_png: Path
    rgba_png: Path
    alpha: Pixels
    deep_png: Path
    exif_jpg: Path
    exif_upright: Pixels  # what a viewer shows for exif_jpg (Pillow's exif_transpose), BGR
    faceless_png: Path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    folder = tmp_path_factory.mktemp("inputs")
    astronaut = read_bgr(ASTRONAUT)
    faces, _ = analyse_file(ASTRONAUT, Settings())
    assert len(faces) == 1
    face = Box(*(round(float(v)) for v in faces.boxes[0]))

    height, width = astronaut.shape[:2]
    alpha = np.full((height, width), 255, np.uint8)
    alpha[:, : width // 4] = np.linspace(0, 255, width // 4, dtype=np.uint8)  # a ramp on the left
    alpha[-40:, :] = 0  # a fully transparent band at the bottom
    rgba = np.dstack((astronaut, alpha))

    # EXIF: a non-square crop (so a missing rotation changes the shape) stored rotated 90° counter-clockwise,
    # with Orientation 6 ("rotate 90° clockwise to display") so that viewers show it upright.
    upright = Image.fromarray(np.ascontiguousarray(astronaut[:, :400, ::-1]))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif_jpg = folder / "rotated.jpg"
    stored.save(exif_jpg, format="JPEG", quality=95, exif=exif)
    with Image.open(exif_jpg) as opened:
        assert opened.size == (height, 400)  # really stored sideways
        shown = ImageOps.exif_transpose(opened)
        assert shown.size == (400, height)  # and shown upright
        exif_upright = np.ascontiguousarray(np.asarray(shown.convert("RGB"))[..., ::-1])

    return Inputs(
        folder=folder,
        astronaut=astronaut,
        face=face,
        grey_png=write_png(folder / "grey.png", cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)),
        rgba_png=write_png(folder / "rgba.png", rgba),
        alpha=alpha,
        deep_png=write_png(folder / "deep16.png", astronaut.astype(np.uint16) * 257),
        exif_jpg=exif_jpg,
        exif_upright=exif_upright,
        faceless_png=write_png(folder / "faceless.png", faceless()),
    )


# Bad media: how to make each broken file inside a folder.
def _missing(folder: Path) -> Path:
    return folder / "does-not-exist.jpg"


def _directory(folder: Path) -> Path:
    path = folder / "a-folder.jpg"
    path.mkdir()
    return path


def _zero_bytes(folder: Path) -> Path:
    path = folder / "empty.jpg"
    path.write_bytes(b"")
    return path


def _truncated_jpeg(folder: Path) -> Path:
    data = jpeg_bytes(read_bgr(ASTRONAUT))
    path = folder / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


def _text_as_jpeg(folder: Path) -> Path:
    path = folder / "notes.jpg"
    path.write_text("this is not a picture\n", encoding="utf-8")
    return path


def _huge_png(folder: Path) -> Path:
    path = folder / "huge.png"
    path.write_bytes(huge_png_header())
    return path


# kind -> (how to make the broken file, a word the error message must contain)
BAD_MEDIA: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (_missing, "not found"),  # no such file
    "directory": (_directory, "directory"),  # a folder where a file is expected
    "zero-bytes": (_zero_bytes, "empty"),  # an empty file
    "truncated-jpeg": (_truncated_jpeg, "truncated"),  # a real JPEG of the astronaut cut in half
    "text-as-jpg": (_text_as_jpeg, "not a supported image"),  # a text file with a .jpg name
    "20000x20000-png": (_huge_png, "too large"),  # a decompression bomb: only the header is real, refused unread
}


# ----------------------------------------------------------------------------- swap: success


def test_swap_writes_a_swapped_image(capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Inputs) -> None:
    output = tmp_path / "out.png"
    run = run_cli(capsys, "swap", "--source", HOPPER, "--target", ASTRONAUT, "--output", output)

    assert run.code == EXIT_OK, run.err
    assert run.out.strip() == str(output)
    assert run.err == ""
    result = read_bgr(output)
    assert result.shape == inputs.astronaut.shape
    assert_swapped(result, inputs.astronaut, inputs.face, far_tolerance=0)  # PNG: far pixels are exactly kept
    assert part_files(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


# Unusual but valid targets; each must still get the face swapped.
TARGET_VARIANTS = [
    pytest.param("grey_png", id="grey-png"),  # 1-channel 8-bit PNG
    pytest.param("rgba_png", id="rgba-png"),  # 4-channel PNG: the alpha channel must survive into a PNG output
    pytest.param("deep_png", id="16-bit-png"),  # cv2.imwrite of a uint16 array
]


@pytest.mark.parametrize("variant", TARGET_VARIANTS)
def test_swap_accepts_target_variants(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Inputs, variant: str
) -> None:
    target: Path = getattr(inputs, variant)
    output = tmp_path / "out.png"
    run = run_cli(capsys, "swap", "-s", HOPPER, "-t", target, "-o", output)

    assert run.code == EXIT_OK, run.err
    assert run.out.strip() == str(output)
    result = read_unchanged(output)
    if variant == "grey_png":
        expected = cv2.cvtColor(cv2.cvtColor(inputs.astronaut, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        assert_swapped(np.asarray(result), expected, inputs.face)
    elif variant == "rgba_png":
        assert result.ndim == 3 and result.shape[2] == 4, f"alpha channel dropped: {result.shape}"
        np.testing.assert_array_equal(result[..., 3], inputs.alpha)
        assert_swapped(np.ascontiguousarray(result[..., :3]), inputs.astronaut, inputs.face)
    else:
        assert result.dtype == np.uint8 and result.shape == inputs.astronaut.shape
        assert_swapped(np.asarray(result), inputs.astronaut, inputs.face)  # v*257 reads back as v
    assert part_files(tmp_path) == []


def test_swap_applies_exif_orientation(capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Inputs) -> None:
    output = tmp_path / "upright.png"
    run = run_cli(capsys, "swap", "-s", HOPPER, "-t", inputs.exif_jpg, "-o", output)

    assert run.code == EXIT_OK, run.err  # the face is only findable once the image is turned upright
    result = read_bgr(output)
    assert result.shape == inputs.exif_upright.shape == (512, 400, 3)  # upright, not as stored (400×512)
    assert_swapped(result, inputs.exif_upright, inputs.face, far_tolerance=0)


def test_swap_handles_unicode_and_spaces_in_paths(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Inputs
) -> None:
    source = tmp_path / "dossier été" / "visage 1.jpg"
    target = tmp_path / "цель 目标" / "astronaute ü.png"
    output = tmp_path / "sortie ñ" / "résultat final ✓.png"
    for folder in (source.parent, target.parent, output.parent):
        folder.mkdir()
    shutil.copyfile(HOPPER, source)
    shutil.copyfile(ASTRONAUT, target)

    run = run_cli(capsys, "swap", "--source", source, "--target", target, "--output", output)

    assert run.code == EXIT_OK, run.err
    assert run.out.strip() == str(output)
    assert_swapped(read_bgr(output), inputs.astronaut, inputs.face, far_tolerance=0)
    assert part_files(output.parent) == []


# ----------------------------------------------------------------------------- swap: unreadable media


@pytest.mark.parametrize("role", ["source", "target"])
@pytest.mark.parametrize("kind", list(BAD_MEDIA))
def test_swap_rejects_bad_media(capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, role: str) -> None:
    make, problem = BAD_MEDIA[kind]
    bad = make(tmp_path)
    source, target = (bad, ASTRONAUT) if role == "source" else (HOPPER, bad)
    output = tmp_path / "out.png"
    run = run_cli(capsys, "swap", "--source", source, "--target", target, "--output", output)

    assert_media_error(run, bad)
    assert problem in run.err
    assert not output.exists()
    assert part_files(tmp_path) == []


# ----------------------------------------------------------------------------- swap: output path


@pytest.mark.usefixtures("no_model_work")
def test_swap_output_directory_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    output = tmp_path / "not-there" / "deeper" / "out.png"
    run = run_cli(capsys, "swap", "-s", HOPPER, "-t", ASTRONAUT, "-o", output)

    assert_media_error(run, output.parent)
    assert list(tmp_path.iterdir()) == []  # nothing created, not even the folders


# Output names whose extension no writer supports: usage errors, before any model is loaded.
UNSUPPORTED_OUTPUTS = [
    pytest.param("out.gif", id="gif"),  # a real image format, but not one we write
    pytest.param("out.xyz", id="xyz"),  # not an image format at all
    pytest.param("out", id="no-extension"),  # no extension to choose a format from
]


@pytest.mark.usefixtures("no_model_work")
@pytest.mark.parametrize("name", UNSUPPORTED_OUTPUTS)
def test_swap_unsupported_output_extension(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    output = tmp_path / name
    run = run_cli(capsys, "swap", "-s", HOPPER, "-t", ASTRONAUT, "-o", output)

    assert run.code == EXIT_USAGE, run
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith("faceweave: error: "), run.err
    assert "extension" in run.err and str(output) in run.err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield folder
    folder.chmod(stat.S_IRWXU)


@pytest.mark.skipif(IS_ROOT, reason="root can write into read-only folders")
@pytest.mark.usefixtures("no_model_work")
def test_swap_read_only_output_directory(capsys: pytest.CaptureFixture[str], read_only_dir: Path) -> None:
    run = run_cli(capsys, "swap", "-s", HOPPER, "-t", ASTRONAUT, "-o", read_only_dir / "out.png")

    assert_media_error(run, read_only_dir)
    assert list(read_only_dir.iterdir()) == []


# ----------------------------------------------------------------------------- swap: no face


def test_swap_no_face_in_source(capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Inputs) -> None:
    output = tmp_path / "out.png"
    run = run_cli(capsys, "swap", "-s", inputs.faceless_png, "-t", ASTRONAUT, "-o", output)

    assert run.code == EXIT_NO_FACE, run
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith("faceweave: error: "), run.err
    assert "source" in run.err and str(inputs.faceless_png) in run.err
    assert list(tmp_path.iterdir()) == []


def test_swap_no_face_in_target_writes_it_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Inputs
) -> None:
    output = tmp_path / "out.png"
    run = run_cli(capsys, "swap", "-s", HOPPER, "-t", inputs.faceless_png, "-o", output)

    assert run.code == EXIT_OK, run.err
    assert run.out.strip() == str(output)
    np.testing.assert_array_equal(read_bgr(output), read_bgr(inputs.faceless_png))
    assert "no face" in run.err and str(inputs.faceless_png) in run.err, f"no warning on stderr: {run.err!r}"
    assert "error" not in run.err


def test_swap_no_face_in_target_with_require_face(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Inputs
) -> None:
    output = tmp_path / "out.png"
    run = run_cli(capsys, "swap", "-s", HOPPER, "-t", inputs.faceless_png, "-o", output, "--require-face")

    assert run.code == EXIT_NO_FACE, run
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith("faceweave: error: "), run.err
    assert "target" in run.err and str(inputs.faceless_png) in run.err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- swap: --reference


# (reference photo, --require-face, expected exit code, whether the astronaut's face gets swapped)
REFERENCE_CASES = [
    pytest.param(ASTRONAUT, False, EXIT_OK, True, id="reference-matches"),  # the target person: swapped
    pytest.param(HOPPER, False, EXIT_OK, False, id="reference-matches-nobody"),  # someone else: target unchanged
    pytest.param(HOPPER, True, EXIT_NO_FACE, False, id="no-match-require-face"),  # ... and that is an error
]


@pytest.mark.parametrize(("reference", "require_face", "code", "swapped"), REFERENCE_CASES)
def test_swap_with_reference(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    inputs: Inputs,
    reference: Path,
    require_face: bool,
    code: int,
    swapped: bool,
) -> None:
    output = tmp_path / "out.png"
    flags = ["--require-face"] if require_face else []
    run = run_cli(capsys, "swap", "-s", HOPPER, "-t", ASTRONAUT, "-o", output, "--reference", reference, *flags)

    assert run.code == code, run
    if code == EXIT_NO_FACE:
        assert len(run.err_lines) == 1 and run.err_lines[0].startswith("faceweave: error: "), run.err
        assert "reference" in run.err and str(ASTRONAUT) in run.err
        assert list(tmp_path.iterdir()) == []
    elif swapped:
        assert_swapped(read_bgr(output), inputs.astronaut, inputs.face, far_tolerance=0)
    else:
        np.testing.assert_array_equal(read_bgr(output), inputs.astronaut)
        assert "no face swapped" in run.err


# ----------------------------------------------------------------------------- swap: bad usage


# (arguments after `swap`, how it fails) — "exit": main returns 2; "argparse": SystemExit(2).
USAGE_CASES = [
    pytest.param(["--frobnicate"], "argparse", id="unknown-option"),  # not an option of swap
    pytest.param(["--blend", "2"], "exit", id="blend-out-of-range"),  # parses as float, the library rejects it
    pytest.param(["--blend", "strong"], "argparse", id="blend-not-a-number"),  # argparse's type=float rejects it
    pytest.param(["--selector", "tallest"], "argparse", id="unknown-selector"),  # not one of the choices
    pytest.param(["--face-index", "-1"], "exit", id="face-index-negative"),  # out of the settings' range
]


@pytest.mark.usefixtures("no_model_work")
@pytest.mark.parametrize(("extra", "how"), USAGE_CASES)
def test_swap_bad_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], how: str) -> None:
    argv = ["swap", "-s", HOPPER, "-t", ASTRONAUT, "-o", tmp_path / "out.png", *extra]
    if how == "argparse":
        with pytest.raises(SystemExit) as raised:
            run_cli(capsys, *argv)
        assert raised.value.code == EXIT_USAGE
        assert "usage:" in capsys.readouterr().err
    else:
        run = run_cli(capsys, *argv)
        assert run.code == EXIT_USAGE, run
        assert len(run.err_lines) == 1 and run.err_lines[0].startswith("faceweave: error: "), run.err
        assert extra[0].removeprefix("--").replace("-", "_") in run.err  # names the setting
    assert list(tmp_path.iterdir()) == []


# Required arguments left out: argparse exits with 2 before anything runs.
MISSING_ARGUMENTS = [
    pytest.param(["swap", "-s", HOPPER, "-o", "out.png"], id="no-target"),
    pytest.param(["swap", "-t", ASTRONAUT, "-o", "out.png"], id="no-source"),
    pytest.param(["swap", "-s", HOPPER, "-t", ASTRONAUT], id="no-output"),
    pytest.param([], id="no-command"),
]


@pytest.mark.usefixtures("no_model_work")
@pytest.mark.parametrize("argv", MISSING_ARGUMENTS)
def test_missing_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[object]) -> None:
    with pytest.raises(SystemExit) as raised:
        run_cli(capsys, *argv)
    assert raised.value.code == EXIT_USAGE
    assert "required" in capsys.readouterr().err


# ----------------------------------------------------------------------------- analyse


@pytest.mark.parametrize("sample", ["hopper", "astronaut"])  # each a single-face portrait
def test_analyse_prints_one_face(capsys: pytest.CaptureFixture[str], sample: str) -> None:
    path = sample_path(sample)
    run = run_cli(capsys, "analyse", path)

    assert run.code == EXIT_OK, run.err
    report = json.loads(run.out)
    assert report["image"] == str(path)
    assert len(report["faces"]) == 1
    face = report["faces"][0]
    assert {"box", "score", "landmarks_5", "pose"} <= face.keys()
    x1, y1, x2, y2 = face["box"]
    height, width = read_bgr(path).shape[:2]
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    assert 0.5 <= face["score"] <= 1
    assert len(face["landmarks_5"]) == 5
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face["landmarks_5"])
    assert set(face["pose"]) == {"yaw", "pitch", "roll"}
    assert all(abs(angle) < 30 for angle in face["pose"].values())  # both portraits face the camera


def test_analyse_debug_image(capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Inputs) -> None:
    debug = tmp_path / "debug.png"
    run = run_cli(capsys, "analyse", ASTRONAUT, "--debug-image", debug)

    assert run.code == EXIT_OK, run.err
    assert len(json.loads(run.out)["faces"]) == 1
    assert debug.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    drawing = read_bgr(debug)
    assert drawing.shape == inputs.astronaut.shape
    assert inputs.face.inside(drawing).tobytes() != inputs.face.inside(inputs.astronaut).tobytes()  # boxes drawn


@pytest.mark.usefixtures("no_model_work")
def test_analyse_text_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    notes = _text_as_jpeg(tmp_path)
    run = run_cli(capsys, "analyse", notes)

    assert_media_error(run, notes)


def test_analyse_alias_analyze(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    run = run_cli(capsys, "analyze", missing)

    assert_media_error(run, missing)


def test_pngs_are_readable_by_pillow(inputs: Inputs) -> None:
    """Sanity check of the generated inputs (a broken fixture would make the variant tests meaningless)."""
    assert inputs.deep_png.read_bytes()[24:26] == bytes([16, 2])  # IHDR: really 16-bit RGB
    with Image.open(inputs.grey_png) as grey:
        assert grey.mode == "L"
    with Image.open(inputs.rgba_png) as rgba:
        assert rgba.mode == "RGBA"
    header = huge_png_header()
    assert len(header) < 200 and struct.unpack(">II", header[16:24]) == (20_000, 20_000)
    assert zlib.crc32(header[12:29]) == struct.unpack(">I", header[29:33])[0]  # a valid IHDR chunk


def test_a_missing_system_library_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceweave.cli as cli  # issue 20: a slim container without libGL printed an ImportError traceback

    def broken(args: object) -> int:
        raise ImportError("libGL.so.1: cannot open shared object file: No such file or directory")

    monkeypatch.setitem(cli.COMMANDS, "analyse", broken)
    run = run_cli(capsys, "analyse", HOPPER)
    assert run.code == 1 and len(run.err_lines) == 1
    assert "the system library libGL.so.1 is missing" in run.err and "apt-get install libgl1" in run.err


# ----------------------------------------------------------------------------- help and shell completion

SUBCOMMANDS = ("swap", "analyse", "bench", "eval", "live", "demo", "inspect", "batch", "models", "serve", "keys")


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", [*SUBCOMMANDS, "completion"])
def test_every_subcommand_help_ends_with_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    text = help_text(capsys, command)
    examples = text.split("\nexamples:\n", 1)[1].splitlines()
    commands = [line for line in examples if line.startswith("  faceweave ") or line.startswith("  FACEWEAVE_")]
    assert 2 <= len(commands) <= 3, examples


def test_swap_help_is_short_and_shows_its_examples(capsys: pytest.CaptureFixture[str]) -> None:
    import faceweave.cli as cli

    text = help_text(capsys, "swap")
    assert text.splitlines()[0] == "usage: faceweave swap --source PHOTO --target FILE --output FILE [options]"
    examples = text.split("\nexamples:\n", 1)[1]
    assert "-t photo.jpg" in examples and "--start 12 --end 20" in examples and "-r guest.jpg" in examples
    swap = next(a for a in cli._parser()._actions if a.dest == "command").choices["swap"]  # type: ignore[attr-defined]
    missing = [flag for action in swap._actions for flag in action.option_strings if flag not in text]
    assert missing == []  # a shorter usage line, not fewer options


def test_completion_bash_script_is_valid_and_completes(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "completion", "bash")
    assert run.code == 0
    assert all(command in run.out for command in (*SUBCOMMANDS, "completion"))
    subprocess.run(["bash", "-n"], input=run.out, text=True, check=True)
    probe = 'COMP_WORDS=(faceweave sw); COMP_CWORD=1; _shtab_faceweave; echo "${COMPREPLY[*]}"\n'
    probe += 'COMP_WORDS=(faceweave swap --sta); COMP_CWORD=2; _shtab_faceweave; echo "${COMPREPLY[*]}"\n'
    done = subprocess.run(["bash"], input=run.out + probe, text=True, capture_output=True, check=True)
    assert done.stdout.splitlines() == ["swap", "--start"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_completion_zsh_and_fish(capsys: pytest.CaptureFixture[str], shell: str) -> None:
    run = run_cli(capsys, "completion", shell)
    assert run.code == 0 and "swap" in run.out and "--reference" in run.out
    if shutil.which(shell):
        subprocess.run([shell, "-n"], input=run.out, text=True, check=True)
