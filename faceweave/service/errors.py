"""The service's one error type and the single place library errors become HTTP statuses."""

from __future__ import annotations

from faceweave.errors import DeviceError, FaceweaveError, LimitError, MediaError, ModelError, NoFaceError, UsageError


class ServiceError(Exception):
    """An HTTP error answer: status, a one-line message saying what to do, and optional headers (Retry-After)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def busy(reason: str, retry_after_s: int) -> ServiceError:
    """The 503 of a full queue, with Retry-After (the Gate answers it before the body, the routes when it filled
    meanwhile)."""
    return ServiceError(503, f"all workers are busy ({reason}); retry later", {"Retry-After": str(retry_after_s)})


def status_for(error: FaceweaveError) -> int:
    """HTTP status of a library error: NoFace 422, Media 422 (415 when the content is no image), Usage 400."""
    if isinstance(error, NoFaceError):
        return 422
    if isinstance(error, LimitError):
        return 413
    if isinstance(error, MediaError):
        return 415 if error.problem.startswith("not a supported image") else 422
    if isinstance(error, UsageError):
        return 400
    if isinstance(error, ModelError | DeviceError):
        return 503
    return 500
