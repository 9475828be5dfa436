"""Tests for faceweave.media.image_io: strict reading, header-only size limits, colour modes, atomic writing."""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import resource
import stat
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageOps, PngImagePlugin

from faceweave.errors import MediaError, UsageError
from faceweave.media import image_io
from faceweave.media.image_io import (
    SUPPORTED_OUTPUT_EXTENSIONS,
    LoadedImage,
    decode_image,
    encode_image,
    read_image,
    sniff_image,
    write_image,
)

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
Pixels = npt.NDArray[np.uint8]


# ----------------------------------------------------------------------------- builders (all in memory / tmp_path)


def _photo(height: int = 96, width: int = 128) -> Pixels:
    """A synthetic BGR 'photo': smooth gradients plus hard-edged shapes."""
    y, x = np.mgrid[0:height, 0:width]
    channels = (x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 255 // (width + height - 2))
    image = np.ascontiguousarray(np.dstack(channels).astype(np.uint8))
    cv2.circle(image, (width // 3, height // 2), height // 4, (30, 200, 90), -1)
    cv2.rectangle(image, (width // 2, height // 5), (width - 8, height // 2), (220, 40, 160), -1)
    return image


def _to_pil(image: Pixels) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(image[..., ::-1]))


def _pil_bytes(picture: Image.Image, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _jpeg_bytes(image: Pixels | None = None, **options: Any) -> bytes:
    return _pil_bytes(_to_pil(_photo() if image is None else image), "JPEG", quality=95, **options)


def _png_bytes(image: Pixels | None = None) -> bytes:
    return _pil_bytes(_to_pil(_photo() if image is None else image), "PNG")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose IHDR claims width×height RGB while its IDAT holds a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF0 header is patched to claim width×height."""
    data = bytearray(_jpeg_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _parts(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# ----------------------------------------------------------------------------- reading: what cannot be read


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


READ_ERRORS = [
    # the path does not exist at all
    pytest.param("nope.jpg", "missing", "file not found", id="missing"),
    # a directory that happens to be named like an image
    pytest.param("album.jpg", "directory", "is a directory", id="directory"),
    # a zero-byte file, e.g. an interrupted download
    pytest.param("empty.png", lambda: b"", "empty file", id="zero-byte"),
    # a text file named .jpg
    pytest.param("notes.jpg", lambda: b"not a picture\n" * 8, "not a supported image", id="text-as-jpg"),
    # a GIF: a real image, but not a supported input format
    pytest.param("anim.gif", lambda: _pil_bytes(Image.new("P", (4, 4)), "GIF"), "not a supported image", id="gif"),
    # a valid JPEG cut in half: Pillow must not fill the rest with grey
    pytest.param("half.jpg", lambda: _half(_jpeg_bytes()), "truncated or corrupt", id="half-jpeg"),
    # a valid PNG cut in half, inside its IDAT data
    pytest.param("half.png", lambda: _half(_png_bytes()), "truncated or corrupt", id="half-png"),
    # a PNG cut inside its first chunk (no size known yet)
    pytest.param("stub.png", lambda: _png_bytes()[:20], "truncated or corrupt", id="png-header-cut"),
    # JPEG magic bytes followed by garbage
    pytest.param(
        "junk.jpg", lambda: b"\xff\xd8\xff" + bytes(range(256)) * 4, "truncated or corrupt", id="jpeg-garbage"
    ),
    # a PNG whose IDAT is not zlib data
    pytest.param(
        "zlib.png", lambda: _png_claiming(8, 8).replace(b"x\x9c", b"zz", 1), "truncated or corrupt", id="bad-zlib"
    ),
    # a PNG whose header claims a zero width
    pytest.param("zero.png", lambda: _png_claiming(0, 8), "truncated or corrupt", id="png-zero-width"),
]
Content = Callable[[], bytes] | str


def _make(directory: Path, filename: str, content: Content) -> Path:
    path = directory / filename
    if content == "directory":
        path.mkdir()
    elif callable(content):
        path.write_bytes(content())
    return path


@pytest.mark.parametrize(("filename", "content", "problem"), READ_ERRORS)
def test_read_image_rejects_unreadable_media(tmp_path: Path, filename: str, content: Content, problem: str) -> None:
    path = _make(tmp_path, filename, content)
    with pytest.raises(MediaError) as excinfo:
        read_image(path)
    assert excinfo.value.problem.startswith(problem)
    assert excinfo.value.hint, "every media error carries a hint"
    assert str(path) in str(excinfo.value) and "\n" not in str(excinfo.value)


@pytest.mark.parametrize(("filename", "content", "problem"), [case for case in READ_ERRORS if callable(case.values[1])])
def test_decode_image_rejects_the_same_bytes(tmp_path: Path, filename: str, content: Content, problem: str) -> None:
    with pytest.raises(MediaError) as excinfo:
        decode_image(_make(tmp_path, filename, content).read_bytes(), "upload.bin")
    assert excinfo.value.problem.startswith(problem)
    assert excinfo.value.path == "upload.bin"


def test_permission_denied_is_reported_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "secret.png", _png_bytes())

    def deny(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(MediaError, match="permission denied"):
        read_image(path)
    assert sniff_image(path) is False


@pytest.mark.skipif(IS_ROOT, reason="root can read a chmod 000 file; covered by the monkeypatched test")
def test_permission_denied_on_a_real_chmod_000_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "secret.png", _png_bytes())
    path.chmod(0)
    try:
        with pytest.raises(MediaError, match="permission denied"):
            read_image(path)
    finally:
        path.chmod(0o644)


# ----------------------------------------------------------------------------- reading: size limit from the header

BOMBS = [
    # PNG: IHDR says 20000×20000, IDAT holds 64 bytes
    pytest.param(_png_claiming, id="png"),
    # JPEG: a real small JPEG whose SOF0 is patched to 20000×20000
    pytest.param(_jpeg_claiming, id="jpeg"),
]


@pytest.mark.parametrize("make", BOMBS)
def test_huge_image_rejected_from_header_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[int, int], bytes]
) -> None:
    path = _write(tmp_path / "bomb.img", make(20_000, 20_000))

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    peak_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(MediaError) as excinfo:
        read_image(path)
    assert time.perf_counter() - started < 0.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kib < 100 * 1024  # 400 MP would be 1.2 GB
    assert excinfo.value.problem == "image too large: 20000×20000 = 400 megapixels, limit 80"
    assert "max_image_pixels" in excinfo.value.hint
    with pytest.raises(MediaError, match="image too large"):
        decode_image(path.read_bytes(), "bomb")


def test_max_pixels_is_an_inclusive_limit(tmp_path: Path) -> None:
    path = _write(tmp_path / "small.png", _png_bytes(_photo(100, 100)))
    assert read_image(path, max_pixels=10_000).image.shape == (100, 100, 3)
    with pytest.raises(MediaError, match=r"image too large: 100×100 = 0\.01 megapixels, limit 0\.009999"):
        read_image(path, max_pixels=9_999)


@pytest.mark.parametrize("extension", [".tiff", ".webp"])  # the two decoders that check Pillow's own limit too
def test_pillow_decompression_bomb_error_becomes_a_media_error(monkeypatch: pytest.MonkeyPatch, extension: str) -> None:
    data = encode_image(_photo(10, 10), extension)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)  # Pillow raises above 2 × 20 pixels
    with pytest.raises(MediaError, match="image too large for Pillow"):
        decode_image(data, f"big{extension}", max_pixels=1_000_000)


def test_pillow_global_limit_is_left_alone(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(MediaError):
        read_image(_write(tmp_path / "bomb.png", _png_claiming(20_000, 20_000)))
    read_image(_write(tmp_path / "fine.png", _png_bytes()))
    assert before == Image.MAX_IMAGE_PIXELS


# ----------------------------------------------------------------------------- reading: colour modes and bit depths


def _palette_with_transparent_red() -> Image.Image:
    picture = Image.new("P", (6, 4), 1)
    picture.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    picture.info["transparency"] = 1
    return picture


MODES = [
    # 8-bit greyscale: three equal channels, no alpha
    pytest.param(lambda: Image.new("L", (6, 4), 77), (77, 77, 77), None, id="L"),
    # 1-bit bitmap: white is 255
    pytest.param(lambda: Image.new("1", (6, 4), 1), (255, 255, 255), None, id="1-bit"),
    # RGB: channel order is reversed to BGR
    pytest.param(lambda: Image.new("RGB", (6, 4), (10, 20, 30)), (30, 20, 10), None, id="RGB"),
    # RGBA: colour made BGR, alpha returned apart
    pytest.param(lambda: Image.new("RGBA", (6, 4), (10, 20, 30, 40)), (30, 20, 10), 40, id="RGBA"),
    # grey + alpha
    pytest.param(lambda: Image.new("LA", (6, 4), (90, 200)), (90, 90, 90), 200, id="LA"),
    # palette whose entry 1 (red) is marked transparent by tRNS
    pytest.param(_palette_with_transparent_red, (0, 0, 255), 0, id="P-tRNS"),
]


@pytest.mark.parametrize(("make", "bgr", "alpha"), MODES)
def test_png_colour_modes(
    tmp_path: Path, make: Callable[[], Image.Image], bgr: tuple[int, ...], alpha: int | None
) -> None:
    picture = make()
    options = {"transparency": picture.info["transparency"]} if "transparency" in picture.info else {}
    loaded = read_image(_write(tmp_path / "mode.png", _pil_bytes(picture, "PNG", **options)))
    assert loaded.image.shape == (4, 6, 3) and loaded.image.dtype == np.uint8 and loaded.image.flags.c_contiguous
    assert (loaded.image == np.array(bgr, np.uint8)).all()
    assert loaded.bit_depth == 8
    if alpha is None:
        assert loaded.alpha is None
    else:
        assert loaded.alpha is not None and (loaded.alpha == alpha).all()


def test_16bit_grey_png_rounds_every_value(tmp_path: Path) -> None:
    ramp = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    path = tmp_path / "ramp16.png"
    assert cv2.imwrite(str(path), ramp)
    loaded = read_image(path)
    expected = ((ramp.astype(np.uint32) + 128) // 257).astype(np.uint8)  # round(v / 257)
    assert loaded.bit_depth == 16 and loaded.alpha is None
    for channel in range(3):
        np.testing.assert_array_equal(loaded.image[..., channel], expected)


SIXTEEN_BIT = [
    # 16-bit RGB PNG: 65535 → 255, 32896 → 128 and 200 → 1 (rounded; keeping the high byte would give 0)
    pytest.param(".png", 3, id="png-rgb16"),
    # 16-bit RGBA PNG: alpha 32896 → 128, kept apart
    pytest.param(".png", 4, id="png-rgba16"),
    # 16-bit RGB TIFF: same scaling through the TIFF path
    pytest.param(".tiff", 3, id="tiff-rgb16"),
    # 16-bit RGBA TIFF
    pytest.param(".tiff", 4, id="tiff-rgba16"),
]


@pytest.mark.parametrize(("extension", "channels"), SIXTEEN_BIT)
def test_16bit_colour_is_scaled_not_truncated(tmp_path: Path, extension: str, channels: int) -> None:
    deep = np.zeros((5, 7, channels), np.uint16)
    deep[..., :3] = (65535, 32896, 200)  # B, G, R
    if channels == 4:
        deep[..., 3] = 32896
    path = tmp_path / f"deep{extension}"
    assert cv2.imwrite(str(path), deep)
    loaded = read_image(path)
    assert loaded.bit_depth == 16
    assert (loaded.image == np.array([255, 128, 1], np.uint8)).all()
    assert (loaded.alpha is None) if channels == 3 else (loaded.alpha is not None and (loaded.alpha == 128).all())


def test_cmyk_jpeg_is_converted_to_bgr(tmp_path: Path) -> None:
    path = _write(tmp_path / "cmyk.jpg", _pil_bytes(Image.new("CMYK", (16, 16), (255, 0, 0, 0)), "JPEG", quality=95))
    loaded = read_image(path)
    assert loaded.image.shape == (16, 16, 3)
    assert np.abs(loaded.image.astype(int) - (255, 255, 0)).max() <= 3  # cyan in BGR


# ----------------------------------------------------------------------------- reading: EXIF orientation


def _marked(height: int = 20, width: int = 40) -> Pixels:
    """White, with a red block in the top-left corner and a green block in the top-right corner (BGR)."""
    image = np.full((height, width, 3), 255, np.uint8)
    image[:6, :6] = (0, 0, 255)
    image[:6, -6:] = (0, 255, 0)
    return image


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _close(pixel: Pixels, bgr: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - bgr).max() <= 40)


def test_exif_orientation_6_rotates_clockwise(tmp_path: Path) -> None:
    path = _write(tmp_path / "rotated.jpg", _jpeg_bytes(_marked(), exif=_exif(6)))
    image = read_image(path).image
    assert image.shape == (40, 20, 3) and image.flags.c_contiguous
    assert _close(image[1, -2], (0, 0, 255)), "the stored top-left corner is shown top-right"
    assert _close(image[-2, -2], (0, 255, 0)), "the stored top-right corner is shown bottom-right"
    assert _close(image[1, 1], (255, 255, 255))


@pytest.mark.parametrize("orientation", range(1, 9))  # every EXIF orientation, against Pillow's own transpose
def test_every_orientation_matches_pillow_exif_transpose(tmp_path: Path, orientation: int) -> None:
    path = _write(tmp_path / "oriented.jpg", _jpeg_bytes(_marked(), exif=_exif(orientation)))
    with Image.open(path) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))[..., ::-1]
    np.testing.assert_array_equal(read_image(path).image, expected)


def test_orientation_is_applied_to_alpha_too(tmp_path: Path) -> None:
    rgba = np.zeros((20, 40, 4), np.uint8)
    rgba[:6, :6, 3] = 255  # opaque top-left corner only
    path = _write(tmp_path / "alpha.png", _pil_bytes(Image.fromarray(rgba), "PNG", exif=_exif(6)))
    loaded = read_image(path)
    assert loaded.alpha is not None and loaded.alpha.shape == (40, 20)
    assert loaded.alpha[0, -1] == 255 and loaded.alpha[0, 0] == 0


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("extension", sorted(SUPPORTED_OUTPUT_EXTENSIONS))  # every writable format reads back
def test_every_output_format_round_trips(tmp_path: Path, extension: str) -> None:
    photo = _photo()
    path = write_image(tmp_path / f"out{extension}", photo)
    assert path == tmp_path / f"out{extension}" and sniff_image(path)
    loaded = read_image(path)
    error = np.abs(loaded.image.astype(int) - photo).mean()
    assert error <= (3.0 if extension in (".jpg", ".jpeg", ".webp") else 0.0)


UNICODE_NAMES = [
    # accents, CJK and spaces in both the folder and the file name
    pytest.param("dossier é 照片", "mon visage ✓.png", id="png"),
    # the same with a JPEG and an upper-case extension
    pytest.param("résumé photos", "Ünïcödé face.JPG", id="jpeg-upper"),
]


@pytest.mark.parametrize(("folder", "filename"), UNICODE_NAMES)
def test_unicode_and_space_paths_round_trip(tmp_path: Path, folder: str, filename: str) -> None:
    path = _mkdir(tmp_path / folder) / filename
    photo = _photo()
    assert write_image(path, photo) == path
    loaded = read_image(path)
    assert loaded.name == str(path)
    assert np.abs(loaded.image.astype(int) - photo).mean() <= 3.0


ALPHA_CASES = [
    # PNG keeps alpha exactly
    pytest.param(".png", True, id="png"),
    # TIFF keeps alpha exactly
    pytest.param(".tiff", True, id="tiff"),
    # WebP keeps alpha (lossless alpha plane even at lossy quality)
    pytest.param(".webp", True, id="webp"),
    # JPEG cannot carry alpha: it is dropped, not an error
    pytest.param(".jpg", False, id="jpeg"),
    # BMP output is written without alpha
    pytest.param(".bmp", False, id="bmp"),
]


@pytest.mark.parametrize(("extension", "kept"), ALPHA_CASES)
def test_alpha_round_trip(tmp_path: Path, extension: str, kept: bool) -> None:
    alpha = np.tile(np.arange(128, dtype=np.uint8) * 2, (96, 1))
    loaded = read_image(write_image(tmp_path / f"alpha{extension}", _photo(), alpha=alpha))
    if kept:
        assert loaded.alpha is not None
        np.testing.assert_array_equal(loaded.alpha, alpha)
    else:
        assert loaded.alpha is None


def test_png_text_chunks_round_trip(tmp_path: Path) -> None:
    text = {"Software": "faceweave 0.1", "Source": "my photo.jpg", "Comment": "visage ✓ 照片"}  # last one needs iTXt
    path = write_image(tmp_path / "tagged.png", _photo(), text=text)
    with Image.open(path) as png:
        assert isinstance(png, PngImagePlugin.PngImageFile)
        assert dict(png.text) == text


@pytest.mark.parametrize(
    "key",
    [
        "",  # empty key
        "k" * 80,  # longer than 79 characters
        "ключ",  # not Latin-1
        "tab\there",  # not printable
    ],
)
def test_png_text_keys_are_validated(key: str) -> None:
    with pytest.raises(UsageError, match="PNG text keys"):
        encode_image(_photo(), ".png", text={key: "value"})


def test_jpeg_quality_changes_size() -> None:
    photo = _photo(240, 320)
    photo[::2, ::3] = 0  # fine detail that low quality throws away
    assert len(encode_image(photo, ".jpg", quality=30)) < 0.7 * len(encode_image(photo, ".jpg", quality=95))


@pytest.mark.parametrize("quality", [0, 101])  # just outside the 1-100 range
def test_quality_out_of_range_is_a_usage_error(quality: int) -> None:
    with pytest.raises(UsageError, match="quality"):
        encode_image(_photo(), ".jpg", quality=quality)


@pytest.mark.parametrize("extension", [".png", ".jpg", ".webp", ".tif", ".bmp"])  # one per decoder
def test_decode_image_equals_read_image(tmp_path: Path, extension: str) -> None:
    path = write_image(tmp_path / f"same{extension}", _photo())
    from_bytes = decode_image(path.read_bytes(), "upload")
    from_path = read_image(path)
    np.testing.assert_array_equal(from_bytes.image, from_path.image)
    assert from_bytes.name == "upload" and from_bytes.bit_depth == from_path.bit_depth


# ----------------------------------------------------------------------------- writing: refusals and atomicity

BAD_OUTPUTS = [
    # GIF is not an output format
    pytest.param("out.gif", id="gif"),
    # unknown extension
    pytest.param("out.xyz", id="xyz"),
    # no extension at all
    pytest.param("out", id="none"),
]


@pytest.mark.parametrize("filename", BAD_OUTPUTS)
def test_unsupported_output_extension(tmp_path: Path, filename: str) -> None:
    with pytest.raises(UsageError, match=r"unsupported output extension.*\.jpg.*\.png"):
        write_image(tmp_path / filename, _photo())
    assert _parts(tmp_path) == []


def test_encode_image_rejects_unsupported_extension_and_accepts_bare_ones() -> None:
    with pytest.raises(UsageError, match=r"'\.gif'; use one of \.bmp"):
        encode_image(_photo(), ".gif")
    assert encode_image(_photo(), "PNG")[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("image", "alpha"),
    [
        (np.zeros((4, 4), np.uint8), None),  # greyscale array where BGR is expected
        (np.zeros((4, 4, 3), np.float32), None),  # float pixels
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8)),  # alpha of the wrong size
    ],
)
def test_bad_arrays_are_usage_errors(image: Pixels, alpha: Pixels | None) -> None:
    with pytest.raises(UsageError, match="must be an H×W"):
        encode_image(image, ".png", alpha=alpha)


def test_output_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as excinfo:
        write_image(tmp_path / "no" / "such" / "out.png", _photo())
    assert excinfo.value.problem == "output directory does not exist"
    assert "create" in excinfo.value.hint
    assert _parts(tmp_path) == []


def test_read_only_output_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(MediaError, match="output directory is not writable"):
        write_image(tmp_path / "out.png", _photo())
    assert _parts(tmp_path) == []


@pytest.mark.skipif(IS_ROOT, reason="root can write into a read-only directory; covered by the monkeypatched test")
def test_real_read_only_output_directory(tmp_path: Path) -> None:
    folder = _mkdir(tmp_path / "locked")
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(MediaError, match="output directory is not writable"):
            write_image(folder / "out.png", _photo())
    finally:
        folder.chmod(0o755)


FAILURES = [
    # the rename fails (e.g. the target became a directory meanwhile)
    pytest.param("replace", OSError(errno.EISDIR, "Is a directory"), MediaError, id="rename-oserror"),
    # Ctrl-C arrives just before the rename
    pytest.param("replace", KeyboardInterrupt(), KeyboardInterrupt, id="rename-ctrl-c"),
    # the disk fills up while flushing to disk
    pytest.param("fsync", OSError(errno.ENOSPC, "No space left on device"), MediaError, id="fsync-disk-full"),
    # an unexpected bug during the write propagates unchanged
    pytest.param("fsync", RuntimeError("boom"), RuntimeError, id="fsync-bug"),
]


@pytest.mark.parametrize(("where", "error", "expected"), FAILURES)
def test_failed_write_leaves_old_file_and_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, error: BaseException, expected: type[BaseException]
) -> None:
    target = _write(tmp_path / "result.png", b"previous result")

    def fail(*args: Any, **kwargs: Any) -> None:
        raise error

    if where == "replace":
        monkeypatch.setattr(Path, "replace", fail)
    else:
        monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(expected):
        write_image(target, _photo())
    assert _parts(tmp_path) == ["result.png"]
    assert target.read_bytes() == b"previous result"


def test_failed_encoding_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(image_io, "encode_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "result.png", _photo())
    assert _parts(tmp_path) == []


def test_write_goes_through_a_hidden_part_file_in_the_same_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renames: list[tuple[Path, Path]] = []
    original = Path.replace

    def spy(self: Path, target: Any) -> Path:
        renames.append((self, Path(target)))
        assert self.read_bytes()[:4] == b"\x89PNG", "the temp file is complete before the rename"
        return original(self, target)

    monkeypatch.setattr(Path, "replace", spy)
    final = write_image(tmp_path / "result.png", _photo())
    [(temp, target)] = renames
    assert temp.parent == tmp_path and temp.name.startswith(".result.png.") and temp.name.endswith(".part")
    assert target == final and _parts(tmp_path) == ["result.png"]


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    fresh = write_image(tmp_path / "fresh.png", _photo())
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    kept = _write(tmp_path / "kept.png", b"old")
    kept.chmod(0o640)
    write_image(kept, _photo())
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640


# ----------------------------------------------------------------------------- sniffing and the container

SNIFF_CASES = [
    # each supported format, written by Pillow
    *[pytest.param(extension, True, id=extension) for extension in (".jpg", ".png", ".webp", ".bmp", ".tif")],
    # plain text
    pytest.param("text", False, id="text"),
    # a zero-byte file
    pytest.param("empty", False, id="empty"),
    # a GIF (real image, unsupported)
    pytest.param("gif", False, id="gif"),
    # a path that does not exist
    pytest.param("missing", False, id="missing"),
    # a directory
    pytest.param("directory", False, id="directory"),
]


@pytest.mark.parametrize(("kind", "expected"), SNIFF_CASES)
def test_sniff_image(tmp_path: Path, kind: str, expected: bool) -> None:
    contents = {"text": b"BM but not a bitmap, just text", "empty": b"", "gif": b"GIF89a" + bytes(32)}
    if kind.startswith("."):
        path = write_image(tmp_path / f"image{kind}", _photo())
    elif kind == "directory":
        path = _mkdir(tmp_path / "folder.png")
    elif kind == "missing":
        path = tmp_path / "missing.png"
    else:
        path = _write(tmp_path / "file.jpg", contents[kind])
    assert sniff_image(path) is expected


def test_loaded_image_is_frozen_and_validated() -> None:
    loaded = LoadedImage(np.zeros((2, 3, 3), np.uint8), None, "x", 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.name = "y"  # type: ignore[misc]
    with pytest.raises(UsageError):
        LoadedImage(np.zeros((2, 3, 3), np.uint8), None, "x", 12)
    with pytest.raises(UsageError):
        LoadedImage(np.zeros((3, 2, 3), np.uint8).transpose(1, 0, 2), None, "x", 8)  # not C-contiguous
