"""Uploads checked by size and by content (never by name): images decoded with pixel limits, videos probed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from starlette.datastructures import UploadFile

from faceweave.errors import MediaError
from faceweave.media.image_io import LoadedImage, decode_image
from faceweave.media.video_io import is_video, probe_video
from faceweave.service.config import VideoLimits
from faceweave.service.errors import ServiceError

_CHUNK = 1024 * 1024


async def read_upload(upload: UploadFile, limit: int, role: str) -> bytes:
    """The upload's bytes; 413 as soon as it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ServiceError(413, f"{role} is larger than the limit of {limit} bytes; send a smaller file")
        chunks.append(chunk)
    if size == 0:
        raise ServiceError(422, f"{role} is empty (0 bytes)")
    return b"".join(chunks)


def decode_upload(data: bytes, role: str, max_pixels: int) -> LoadedImage:
    """Decode an uploaded image: 415 when the content is no image, 413 when too many pixels, 422 when corrupt."""
    try:
        return decode_image(data, role, max_pixels)
    except MediaError as exc:
        if exc.problem.startswith("not a supported image"):
            raise ServiceError(415, f"{role} is not a JPEG, PNG, WebP, BMP or TIFF image (checked by content)") from exc
        status = 413 if exc.problem.startswith(("image too large", "image too large for Pillow")) else 422
        raise ServiceError(status, str(exc)) from exc


def store_video(data: bytes, folder: Path, limits: VideoLimits) -> str:
    """Write an uploaded video as `target.mp4`-like file after probing it (415 when no video, 413 over `limits`)."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-", delete=False) as handle:
        handle.write(data)
    probe = Path(handle.name)
    try:
        if not is_video(probe):
            raise ServiceError(415, "target is not a video (checked by content); send images to /v1/swap")
        info = probe_video(probe)
    except MediaError as exc:
        probe.unlink(missing_ok=True)
        raise ServiceError(422, f"target is not a readable video ({exc.problem})") from exc
    except ServiceError:
        probe.unlink(missing_ok=True)
        raise
    try:
        limits.check(info)
    except ServiceError:
        probe.unlink(missing_ok=True)
        raise
    name = "target.video"
    probe.replace(folder / name)
    return name
