"""Read images strictly (size checked from the header, no silent truncation) and write them atomically."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import BmpImagePlugin, Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, WebPImagePlugin

from faceweave.errors import MediaError, UsageError

ImageArray = npt.NDArray[np.uint8]
"""H×W×3 uint8 array, BGR channel order, C-contiguous."""
AlphaArray = npt.NDArray[np.uint8]
"""H×W uint8 array, 0 = transparent, 255 = opaque."""

SUPPORTED_OUTPUT_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
_ALPHA_EXTENSIONS = frozenset({".png", ".webp", ".tif", ".tiff"})
_OPENERS: Mapping[str, Callable[[IO[bytes]], Image.Image]] = {
    "JPEG": JpegImagePlugin.JpegImageFile,  # the plugin classes read the header only and, unlike Image.open,
    "PNG": PngImagePlugin.PngImageFile,  # leave the size check to us: no global Image.MAX_IMAGE_PIXELS to change
    "WEBP": WebPImagePlugin.WebPImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
}
_BMP_HEADER_SIZES = frozenset(size.to_bytes(4, "little") for size in (12, 40, 52, 56, 64, 108, 124))
_HEAD_BYTES = 32
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error, zlib.error)
_CORRUPT_HINT = "re-export or re-download the file"


@dataclass(frozen=True)
class ImageMetadata:
    """Metadata written where the format allows: XMP (JPEG, PNG, WebP, TIFF), EXIF Software/ImageDescription
    (JPEG, WebP; TIFF tags), PNG iTXt chunks; BMP carries none.

    Example: ``encode_image(image, ".jpg", metadata=ImageMetadata(software="faceweave 0.1.0"))``
    """

    xmp: bytes = b""
    software: str = ""
    description: str = ""
    png_text: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded still image, colour and alpha apart; `bit_depth` is the file's (8 or 16), pixels are 8-bit.

    Example: ``read_image("photo.png").image.shape`` gives ``(480, 640, 3)``
    """

    image: ImageArray
    alpha: AlphaArray | None
    name: str
    bit_depth: int

    def __post_init__(self) -> None:
        _check_arrays(self.image, self.alpha)
        if not self.image.flags.c_contiguous or self.bit_depth not in (8, 16):
            raise UsageError(f"image must be C-contiguous and bit_depth 8 or 16, got bit_depth {self.bit_depth}")


def read_image(path: str | os.PathLike[str], max_pixels: int = 80_000_000) -> LoadedImage:
    """Read a JPEG, PNG, WebP, BMP or TIFF file as BGR pixels with EXIF orientation applied.

    Example: ``read_image("photos/me.jpg", max_pixels=50_000_000).bit_depth`` gives ``8``
    """
    name = os.fspath(path)
    with _open_for_reading(name) as stream:
        return _decode_stream(stream, name, max_pixels)


def decode_image(data: bytes, name: str, max_pixels: int = 80_000_000) -> LoadedImage:
    """Decode an image held in memory with the same checks as `read_image`; `name` is used in messages.

    Example: ``decode_image(Path("me.png").read_bytes(), "upload.png").name`` gives ``'upload.png'``
    """
    return _decode_stream(io.BytesIO(data), name, max_pixels)


def sniff_image(path: str | os.PathLike[str]) -> bool:
    """Return whether a file starts like a supported image (magic bytes only; unreadable files give False).

    Example: ``sniff_image("notes.txt")`` gives ``False``
    """
    with contextlib.suppress(OSError), Path(path).open("rb") as stream:
        return sniff_image_head(stream.read(SNIFF_BYTES))
    return False


SNIFF_BYTES = _HEAD_BYTES
"""How many leading bytes of a file `sniff_image_head` looks at."""


def sniff_image_head(head: bytes) -> bool:
    """`sniff_image` for the first `SNIFF_BYTES` bytes of a file already read (no second open).

    Example: ``sniff_image_head(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(24))`` gives ``True``
    """
    return _sniff_format(head) is not None


def encode_image(
    image: ImageArray,
    extension: str,
    alpha: AlphaArray | None = None,
    quality: int = 95,
    text: Mapping[str, str] | None = None,
    metadata: ImageMetadata | None = None,
) -> bytes:
    """Encode in memory; alpha is kept for PNG, WebP and TIFF, `quality` is for JPEG and WebP, `text` for PNG.

    `metadata` (XMP, EXIF text, PNG iTXt) is written into every format that can hold it (all but BMP).

    Example: ``encode_image(image, ".png", text={"Software": "faceweave"})[:4]`` gives ``b"\\x89PNG"``
    """
    extension = _check_extension(extension)
    _check_arrays(image, alpha)
    if not 1 <= quality <= 100:
        raise UsageError(f"quality must be between 1 and 100, got {quality}")
    picture = Image.fromarray(np.ascontiguousarray(image[..., ::-1]))
    if alpha is not None and extension in _ALPHA_EXTENSIONS:
        picture.putalpha(Image.fromarray(np.ascontiguousarray(alpha)))
    buffer = io.BytesIO()
    try:
        options = _save_options(extension, quality, text, metadata or ImageMetadata())
        picture.save(buffer, format=Image.registered_extensions()[extension], **options)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot encode this image as {extension} ({exc}); try .png instead") from exc
    return buffer.getvalue()


def write_image(
    path: str | os.PathLike[str],
    image: ImageArray,
    alpha: AlphaArray | None = None,
    quality: int = 95,
    text: Mapping[str, str] | None = None,
    metadata: ImageMetadata | None = None,
) -> Path:
    """Write atomically: encode in memory, write a hidden temp file, fsync, rename; failures leave nothing behind.

    Example: ``write_image("out/result.jpg", image, quality=90)`` gives ``PosixPath('out/result.jpg')``
    """
    target = Path(path)
    extension = check_output_path(target)
    return write_encoded(target, encode_image(image, extension, alpha, quality, text, metadata))


def write_encoded(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write already encoded image bytes atomically (as `write_image` does), e.g. after signing them.

    Example: ``write_encoded("out/result.png", encode_image(image, ".png"))`` gives ``PosixPath('out/result.png')``
    """
    target = Path(path)
    check_output_path(target)
    try:
        _replace_atomically(target, data, new_file_mode(target))
    except OSError as exc:
        raise MediaError(target, f"cannot write image ({exc.strerror or exc})", "check space and permissions") from exc
    return target


def read_image_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Metadata Pillow reads from a file's header (PNG text chunks, "xmp", "exif" bytes) without decoding pixels.

    Example: ``read_image_info("out/result.png").get("xmp", b"")[:9]`` gives ``b'<?xpacket'``
    """
    name = os.fspath(path)
    with _open_for_reading(name) as stream:
        image_format = _sniff_format(stream.read(_HEAD_BYTES))
        if image_format is None:
            problem = "not a supported image (content is not JPEG/PNG/WebP/BMP/TIFF)"
            raise MediaError(name, problem, "pass an image file")
        stream.seek(0)
        try:
            opened = _OPENERS[image_format](stream)
            return {key: value for key, value in opened.info.items() if isinstance(key, str)}
        except _DECODE_ERRORS as exc:
            raise MediaError(name, f"truncated or corrupt image ({exc})", _CORRUPT_HINT) from exc


def check_output_path(path: str | os.PathLike[str]) -> str:
    """Fail early, before any work, when an image cannot be written there; returns the extension.

    Raises UsageError for an unsupported extension, MediaError for a missing or read-only directory.
    """
    target = Path(path)
    extension = _check_extension(target.suffix, str(target))
    check_output_location(target, "out/result.png")
    return extension


def check_output_location(target: Path, example: str) -> None:
    """MediaError when `target` is a directory or its folder is missing or not writable (`example`: a good name)."""
    if target.is_dir():
        raise MediaError(target, "output is a directory", f"give a file name such as {example}")
    if not target.parent.is_dir():
        raise MediaError(target.parent, "output directory does not exist", "create it first (mkdir -p) or pick another")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise MediaError(target.parent, "output directory is not writable", "fix its permissions or pick another")


def _open_for_reading(name: str) -> IO[bytes]:
    try:
        return Path(name).open("rb")
    except FileNotFoundError as exc:
        raise MediaError(name, "file not found", "check the path and that the file exists") from exc
    except IsADirectoryError as exc:
        raise MediaError(name, "is a directory, not an image file", "pass the path of an image file") from exc
    except PermissionError as exc:
        raise MediaError(name, "permission denied", "check the file's permissions (ls -l)") from exc
    except OSError as exc:
        raise MediaError(name, f"cannot read file ({exc.strerror or exc})", "check the disk and the path") from exc


def _decode_stream(stream: IO[bytes], name: str, max_pixels: int) -> LoadedImage:
    head = stream.read(_HEAD_BYTES)
    if not head:
        raise MediaError(name, "empty file", "the file has 0 bytes; re-export or re-download it")
    image_format = _sniff_format(head)
    if image_format is None:
        problem = "not a supported image (content is not JPEG/PNG/WebP/BMP/TIFF)"
        raise MediaError(name, problem, "check the file really is an image; convert other formats to PNG or JPEG")
    stream.seek(0)
    try:
        opened = _OPENERS[image_format](stream)
        _check_size(opened.size, name, max_pixels)
        opened.load()  # strict: a truncated file raises instead of decoding as grey
        bit_depth = _bit_depth(opened, head)
        colour, alpha = _decode_16bit(stream, name) if bit_depth == 16 else _split_channels(opened)
        orientation = _orientation(opened)
    except Image.DecompressionBombError as exc:
        raise MediaError(name, f"image too large for Pillow ({exc})", "shrink it; see Image.MAX_IMAGE_PIXELS") from exc
    except (*_DECODE_ERRORS, cv2.error) as exc:
        raise MediaError(name, f"truncated or corrupt image ({exc})", _CORRUPT_HINT) from exc
    oriented_alpha = None if alpha is None else np.ascontiguousarray(_orient(alpha, orientation))
    return LoadedImage(np.ascontiguousarray(_orient(colour, orientation)), oriented_alpha, name, bit_depth)


def _sniff_format(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:2] == b"BM" and head[14:18] in _BMP_HEADER_SIZES:
        return "BMP"
    return None


def _check_size(size_wh: tuple[int, int], name: str, max_pixels: int) -> None:
    width, height = size_wh
    if width < 1 or height < 1:
        raise MediaError(name, f"truncated or corrupt image (header says {width}×{height})", _CORRUPT_HINT)
    if width * height > max_pixels:
        found = f"{width}×{height} = {width * height / 1e6:.4g} megapixels, limit {max_pixels / 1e6:.4g}"
        raise MediaError(name, f"image too large: {found}", "shrink it, or raise the max_image_pixels setting")


def _bit_depth(opened: Image.Image, head: bytes) -> int:
    if opened.format == "PNG":
        return 16 if head[24] == 16 else 8  # IHDR bit depth
    if isinstance(opened, TiffImagePlugin.TiffImageFile):
        return 16 if max(opened.tag_v2.get(258) or (8,)) > 8 else 8  # BitsPerSample
    return 8


def _decode_16bit(stream: IO[bytes], name: str) -> tuple[ImageArray, AlphaArray | None]:
    """Pillow keeps only the high byte of 16-bit colour, so OpenCV decodes and rounds: round(v / 257)."""
    stream.seek(0)
    decoded = cv2.imdecode(np.frombuffer(stream.read(), np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.dtype != np.uint16:
        found = "no pixels decoded" if decoded is None else f"{decoded.dtype} samples"
        raise MediaError(name, f"unsupported or corrupt deep-colour image ({found})", "convert it to an 8-bit PNG")
    scaled = np.asarray(cv2.convertScaleAbs(decoded, alpha=1 / 257), np.uint8)  # 65535 → 255, 32896 → 128
    if scaled.ndim == 2:
        return np.repeat(scaled[..., np.newaxis], 3, axis=2), None
    return scaled[..., :3], (scaled[..., 3] if scaled.shape[2] == 4 else None)


def _split_channels(opened: Image.Image) -> tuple[ImageArray, AlphaArray | None]:
    if opened.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in opened.info:
        rgba = np.asarray(opened.convert("RGBA"))
        return rgba[..., 2::-1], rgba[..., 3]
    return np.asarray(opened.convert("RGB"))[..., ::-1], None


def _orientation(opened: Image.Image) -> int:
    with contextlib.suppress(*_DECODE_ERRORS):  # a broken EXIF block does not make the pixels unreadable
        return int(opened.getexif().get(0x0112, 1))  # the EXIF Orientation tag
    return 1


def _orient(array: npt.NDArray[np.uint8], orientation: int) -> npt.NDArray[np.uint8]:
    """Apply an EXIF orientation as `PIL.ImageOps.exif_transpose` does (values outside 2-8: unchanged)."""
    if orientation in (5, 6, 7, 8):
        array = np.swapaxes(array, 0, 1)
    flip_rows = orientation in (3, 4, 7, 8)
    flip_columns = orientation in (2, 3, 6, 7)
    return array[:: -1 if flip_rows else 1, :: -1 if flip_columns else 1]


def _check_extension(extension: str, target: str = "") -> str:
    normalised = "." + extension.lower().removeprefix(".")
    if normalised not in SUPPORTED_OUTPUT_EXTENSIONS:
        where, supported = target and f" in {target!r}", ", ".join(sorted(SUPPORTED_OUTPUT_EXTENSIONS))
        raise UsageError(f"unsupported output extension {extension!r}{where}; use one of {supported}")
    return normalised


def _check_arrays(image: ImageArray, alpha: AlphaArray | None) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"image must be an H×W×3 uint8 BGR array, got {image.dtype} {image.shape}")
    if alpha is not None and (alpha.dtype != np.uint8 or alpha.shape != image.shape[:2]):
        raise UsageError(f"alpha must be an H×W uint8 array {image.shape[:2]}, got {alpha.dtype} {alpha.shape}")


def _save_options(
    extension: str, quality: int, text: Mapping[str, str] | None, metadata: ImageMetadata
) -> dict[str, Any]:
    if extension in (".jpg", ".jpeg", ".webp"):
        return {"quality": quality, **_exif_options(metadata)}
    if extension in (".tif", ".tiff"):
        return {"compression": "tiff_lzw", "tiffinfo": _tiff_tags(metadata)}
    return {"pnginfo": _png_info(text or {}, metadata)} if extension == ".png" else {}


def _exif_options(metadata: ImageMetadata) -> dict[str, Any]:
    options: dict[str, Any] = {"xmp": metadata.xmp} if metadata.xmp else {}
    exif = Image.Exif()
    if metadata.software:
        exif[0x0131] = metadata.software  # Software
    if metadata.description:
        exif[0x010E] = metadata.description  # ImageDescription
    return {**options, "exif": exif.tobytes()} if len(exif) else options


def _tiff_tags(metadata: ImageMetadata) -> dict[int, Any]:
    tags = {305: metadata.software, 270: metadata.description, 700: metadata.xmp}  # Software, ImageDescription, XMP
    return {tag: value for tag, value in tags.items() if value}


def _png_info(text: Mapping[str, str], metadata: ImageMetadata) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        _check_png_key(key)
        info.add_text(key, value)  # Latin-1 values become tEXt chunks, others iTXt
    labelled = (("Software", metadata.software), ("Description", metadata.description), *metadata.png_text)
    for key, value in labelled:
        if value:
            _check_png_key(key)
            info.add_itxt(key, value)
    if metadata.xmp:
        info.add_itxt("XML:com.adobe.xmp", metadata.xmp.decode("utf-8"))
    return info


def _check_png_key(key: str) -> None:
    if not (1 <= len(key) <= 79 and key.isprintable() and max(map(ord, key)) < 256):
        raise UsageError(f"PNG text keys must be 1-79 printable Latin-1 characters, got {key!r}; use an ASCII key")


def _replace_atomically(target: Path, data: bytes, mode: int | None) -> None:
    handle, temp_name = tempfile.mkstemp(prefix="." + target.name + ".", suffix=".part", dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            temp.chmod(mode)
        temp.replace(target)
    except BaseException:  # KeyboardInterrupt included: never leave a .part file or a partial image
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def new_file_mode(target: Path) -> int | None:
    """The mode `open(target, 'w')` would give: the old file's, else 0o666 minus the umask; None if unknown."""
    with contextlib.suppress(OSError):
        return target.stat().st_mode & 0o7777
    with contextlib.suppress(OSError, ValueError, StopIteration):  # Linux: read the umask without changing it
        status = Path("/proc/self/status").read_text().splitlines()
        return 0o666 & ~int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    return None  # keep mkstemp's private 0o600
