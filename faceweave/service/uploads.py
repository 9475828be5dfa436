"""Uploads checked by size and by content (never by name): images decoded with pixel limits, videos probed."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.datastructures import UploadFile

from faceweave.errors import LimitError, MediaError
from faceweave.media.image_io import LoadedImage, decode_image
from faceweave.media.video_io import VideoLimits, is_video, probe_video
from faceweave.service.errors import ServiceError

_CHUNK = 1024 * 1024


async def read_upload(upload: UploadFile, limit: int, role: str, head: bytes = b"") -> bytes:
    """The upload's bytes (`head`: its first bytes, read already); 413 as soon as they pass `limit`, 422 when
    there are none."""
    return b"".join([chunk async for chunk in _limited(upload, head, limit, role)])


async def _limited(upload: UploadFile, head: bytes, limit: int, role: str) -> AsyncIterator[bytes]:
    """The upload's bytes, `head` first, then 1 MB at a time: 413 as soon as they pass `limit`, 422 at the end when
    there were none."""
    size = len(head)
    yield head
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large(role, limit)
        yield chunk
    if size == 0:
        raise _empty(role)


def checked_size(data: bytes, limit: int, role: str) -> bytes:
    """`data` as it is when it holds 1 to `limit` bytes (an upload that came whole, e.g. a WebSocket message): 413
    above, 422 when empty, in the words a streamed upload gets."""
    if len(data) > limit:
        raise too_large(role, limit)
    if not data:
        raise _empty(role)
    return data


def too_large(role: str, limit: int) -> ServiceError:
    """413 for an upload past `limit` bytes."""
    return ServiceError(413, f"{role} is larger than the limit of {limit} bytes; send a smaller file")


def _empty(role: str) -> ServiceError:
    return ServiceError(422, f"{role} is empty (0 bytes)")


def decode_upload(data: bytes, role: str, max_pixels: int) -> LoadedImage:
    """Decode an uploaded image: 415 when the content is no image, 413 when too many pixels, 422 when corrupt."""
    try:
        return decode_image(data, role, max_pixels)
    except MediaError as exc:
        if exc.problem.startswith("not a supported image"):
            raise ServiceError(415, f"{role} is not a JPEG, PNG, WebP, BMP or TIFF image (checked by content)") from exc
        status = 413 if exc.problem.startswith(("image too large", "image too large for Pillow")) else 422
        raise ServiceError(status, str(exc)) from exc


IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"BM", b"II*\x00", b"MM\x00*")
"""The first bytes of the image formats a job takes; anything else is treated as a video (and probed)."""


async def spool_video(upload: UploadFile, head: bytes, folder: Path, limit: int) -> Path:
    """The upload (its first bytes already read as `head`) copied to a private temp file in `folder`, 1 MB at a time:
    memory stays flat whatever the size; 413 as soon as it passes `limit` (the partial file removed)."""
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-", delete=False)  # noqa: SIM115 - closed below
    path = Path(handle.name)
    try:
        with handle:
            async for chunk in _limited(upload, head, limit, "target"):
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def store_video(probe: Path, folder: Path, limits: VideoLimits) -> str:
    """Keep a spooled upload as the job's target video after probing it (415 when no video, 422 unreadable, 413 over
    `limits`); the spooled file is removed when it is refused."""
    try:
        if not is_video(probe):
            raise ServiceError(415, "target is not a video (checked by content); send images to /v1/swap")
        try:
            info = probe_video(probe)
        except MediaError as exc:
            raise ServiceError(422, f"target is not a readable video ({exc.problem})") from exc
        try:
            limits.check(info)
        except LimitError as exc:
            raise ServiceError(413, f"target {exc.problem}") from exc
    except BaseException:
        probe.unlink(missing_ok=True)
        raise
    name = "target.video"
    probe.replace(folder / name)
    return name
