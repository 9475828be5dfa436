"""/v1/live: webcam frames swapped over a WebSocket. Errors become `{"error", "status"}` and a 4000+status close
code here, and only here."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from starlette.concurrency import run_in_threadpool
from starlette.types import Message

from faceweave.errors import FaceweaveError
from faceweave.service.config import OPTION_FIELDS
from faceweave.service.engine import digest_sources
from faceweave.service.errors import ServiceError, status_for
from faceweave.service.live_engine import FrameSlot, LiveBusyError, LiveRun, LiveSources, LiveWorker
from faceweave.service.model_choice import client_overrides, client_settings
from faceweave.service.routes import MAX_SOURCES, check_consent, client_field
from faceweave.service.state import Service
from faceweave.service.uploads import checked_size, decode_upload, too_large
from faceweave.settings import FIELDS, Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")

LIVE_OPTIONS = tuple(name for name in OPTION_FIELDS if name != "require_face")
"""The /v1/swap settings a live session may set (a frame without a face simply comes back unchanged)."""
MAX_TEXT_CHARS = 64 * 1024
"""The longest JSON text message accepted (the first message, or a change of options)."""
CLOSE_BASE = 4000
"""A refused or failed session closes with CLOSE_BASE + the HTTP status /v1/swap would give (4401, 4413, ...)."""


class _LiveForm(BaseModel):
    """Options a live session may set (the settings subset of /v1/swap's form); unknown names are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def overrides(self) -> dict[str, Any]:
        """The Settings fields these options change."""
        return {name: getattr(self, name) for name in LIVE_OPTIONS if getattr(self, name) is not None}


if TYPE_CHECKING:
    LiveOptions = _LiveForm
else:  # generated from the settings' declaration, as /v1/swap's form is
    LiveOptions = create_model(
        "LiveOptions",
        __base__=_LiveForm,
        __doc__=_LiveForm.__doc__,
        __module__=__name__,
        **{name: client_field(FIELDS[name]) for name in LIVE_OPTIONS},
    )


class _Hello(BaseModel):
    """The first message of a session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: str | None = Field(None, max_length=512)
    options: dict[str, Any] = Field(default_factory=dict)
    sources: int
    consent: str | None = Field(None, max_length=2000)


class _Change(BaseModel):
    """A change of options mid-stream."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    options: dict[str, Any]


@dataclasses.dataclass
class _Session:
    """What the event loop keeps of a session; the worker's thread owns `run`."""

    key_id: str
    worker: LiveWorker
    run: LiveRun
    options: dict[str, Any]
    settings: Settings
    slot: FrameSlot = dataclasses.field(default_factory=FrameSlot)
    answered: int = 0


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    """Swap webcam frames over a WebSocket, newest frame first.

    Protocol (docs/service.md has it in full):

    1. The client sends JSON text ``{"api_key": KEY, "options": {...}, "sources": N, "consent": TEXT}`` (only
       ``sources`` is required; ``options`` takes /v1/swap's settings fields, ``require_face`` excepted; the key may
       come as ``Authorization: Bearer KEY`` or ``X-API-Key`` instead), then N binary messages: the source
       photos (JPEG, PNG or WebP, each within /v1/swap's upload limit).
    2. The server answers ``{"ready": true}`` once the source identity is built.
    3. The client sends frames as binary JPEG messages. The server swaps only the newest frame not yet swapped (older
       ones are dropped, never queued; one frame in flight per connection) in a live Stream (tracking, smoothing)
       and answers JSON text ``{"frame": K, "faces": n, "swapped": m, "ms": ms, "dropped": d}`` (K: the 1-based
       index of the frame it answers; d: frames dropped so far), then the binary JPEG, labelled as AI-generated and
       watermarked.
    4. ``{"options": {...}}`` changes options (merged; null restores the server's value); closing ends the session.

    Any error sends ``{"error": MESSAGE, "status": HTTP_STATUS}`` (with ``retry_after`` for 429 and 503) and closes
    with code 4000 + HTTP_STATUS: 4400 bad message or option, 4401/4403 missing/wrong key or foreign origin, 4408
    nothing received for ``live_idle_s``, 4413 too large, 4415 not an image, 4422 no face in a source, an invalid
    field or a model that is not installed, 4429 rate limit, 4503 every live session taken.
    """
    service: Service = websocket.app.state.service
    await websocket.accept()
    began, session = time.monotonic(), None
    try:
        _check_origin(websocket.headers, service.config.cors_origins)
        key_id, hello = await _hello(websocket, service)
        session = await _open(websocket, service, key_id, hello)
        await websocket.send_json({"ready": True})
        await _stream(websocket, service, session)
    except WebSocketDisconnect:
        pass
    except Exception as error:
        await _refuse(websocket, _service_error(service, error))
    finally:
        if session is not None:
            service.live.release(session.worker)
            _log_end(session, time.monotonic() - began)


def _check_origin(headers: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    """403 for a browser page of another origin (browsers do not apply CORS to WebSockets), unless the operator
    allowed that origin with --cors-origin; clients that send no Origin (scripts) pass."""
    origin = headers.get("origin")
    if origin is None or origin in allowed or urlsplit(origin).netloc == headers.get("host", ""):
        return
    raise ServiceError(
        403, f"pages from {origin} may not open live sessions here (the operator allows an origin with --cors-origin)"
    )


async def _hello(websocket: WebSocket, service: Service) -> tuple[str, _Hello]:
    """The first message: authenticated (message key, else the headers'), rate-limited, then validated."""
    message = _json(await _receive(websocket, service.config.live_idle_s), "the first message")
    key = message.get("api_key")
    headers = dict(websocket.headers)
    if isinstance(key, str) and key.strip():
        headers = {"x-api-key": key}
    try:
        key_id = service.auth.key_id(headers)
    except ServiceError as error:
        if error.status != 401:
            raise
        raise ServiceError(401, "missing API key; put it in the first message as `api_key`") from None
    try:
        service.limiter.take(key_id)
    except ServiceError:
        service.metrics.rejected.labels("rate").inc()
        raise
    try:
        hello = _Hello.model_validate(message)
    except ValidationError as exc:
        raise ServiceError(422, f"invalid first message: {_problems(exc)}") from exc
    if not 1 <= hello.sources <= MAX_SOURCES:
        raise ServiceError(422, f"send 1 to {MAX_SOURCES} source photos, got {hello.sources}")
    return key_id, hello


async def _open(websocket: WebSocket, service: Service, key_id: str, hello: _Hello) -> _Session:
    """Check consent and options, take a live worker (503 when none is free), read the sources and build their
    identity on the worker's thread."""
    consent = check_consent(hello.consent, service.config.require_consent)
    settings = _settings(service, hello.options)
    try:
        worker = service.live.acquire()
    except LiveBusyError as exc:
        service.metrics.rejected.labels("live").inc()
        retry = {"Retry-After": str(service.config.retry_after_s)}
        raise ServiceError(503, f"{exc}; try again later", retry) from exc
    try:
        sources = await _sources(websocket, service, hello.sources)
        run = LiveRun(sources, consent, service.config.max_video_frame_pixels)
        await asyncio.wrap_future(worker.run(functools.partial(run.prepare, settings=settings)))
    except BaseException:
        service.live.release(worker)
        raise
    return _Session(key_id, worker, run, dict(hello.options), settings)


async def _sources(websocket: WebSocket, service: Service, count: int) -> LiveSources:
    """`count` binary messages, each a source photo within the upload limit, decoded off the event loop."""
    limit, pixels = service.config.max_upload_bytes, service.config.max_image_pixels
    blobs, photos = [], []
    for number in range(1, count + 1):
        data = (await _receive(websocket, service.config.live_idle_s)).get("bytes")
        if data is None:
            raise ServiceError(422, f"expected source photo {number} of {count} as a binary message")
        blobs.append(checked_size(data, limit, f"source {number}"))
        photos.append(await run_in_threadpool(decode_upload, data, "source", pixels))
    return LiveSources(tuple(photos), await run_in_threadpool(digest_sources, blobs))


async def _stream(websocket: WebSocket, service: Service, session: _Session) -> None:
    """Swap the newest frame until the client leaves; a receive task fills the slot meanwhile."""
    slot = session.slot
    receiver = asyncio.create_task(_receive_frames(websocket, service, session))
    try:
        while (frame := await slot.take()) is not None:
            task = functools.partial(
                session.run.swap, data=frame.data, seconds=frame.seconds, settings=session.settings
            )
            answer = await asyncio.wrap_future(session.worker.run(task))
            if slot.closed:
                break
            head = {"frame": frame.index, "faces": answer.faces, "swapped": answer.swapped}
            await websocket.send_json(head | {"ms": round(answer.ms, 1), "dropped": slot.dropped})
            await websocket.send_bytes(answer.data)
            session.answered += 1
            service.metrics.live_frames.labels("answered").inc()
    except BaseException:
        receiver.cancel()
        with contextlib.suppress(BaseException):
            await receiver
        raise
    await receiver  # its error (a bad message, a silent client), or nothing after a disconnect


async def _receive_frames(websocket: WebSocket, service: Service, session: _Session) -> None:
    """Put each binary message in the slot (the newest wins) and apply each change of options, until the client
    leaves or sends something wrong; the slot is closed either way."""
    config, slot = service.config, session.slot
    try:
        while True:
            message = await _receive(websocket, config.live_idle_s)
            data = message.get("bytes")
            if data is None:
                change = _json(message, "a message during the stream")
                session.settings, session.options = _changed(service, session.options, change)
                continue
            if len(data) > config.max_upload_bytes:
                raise too_large(f"frame {slot.received + 1}", config.max_upload_bytes)
            had = slot.dropped
            slot.put(data)
            if slot.dropped > had:
                service.metrics.live_frames.labels("dropped").inc()
    except WebSocketDisconnect:
        return
    finally:
        slot.close()


def _changed(service: Service, options: dict[str, Any], message: dict[str, Any]) -> tuple[Settings, dict[str, Any]]:
    """The settings and options after a `{"options": {...}}` message (merged into the session's options)."""
    try:
        change = _Change.model_validate(message)
    except ValidationError as exc:
        raise ServiceError(422, f"invalid message: {_problems(exc)}; send frames as binary JPEG") from exc
    merged = {**options, **change.options}
    return _settings(service, merged), merged


def _settings(service: Service, options: dict[str, Any]) -> Settings:
    """The operator's settings with the client's options: 422 for an unknown name, a value out of range or a model
    that is not installed, 400 when they conflict."""
    try:
        parsed = LiveOptions.model_validate(options)
    except ValidationError as exc:
        raise ServiceError(422, f"invalid options: {_problems(exc)}") from exc
    return client_settings(service.base, client_overrides(service.models, service.base, parsed.overrides()))


async def _receive(websocket: WebSocket, idle_s: float) -> Message:
    """The next message; WebSocketDisconnect when the client left, 408 when it sent nothing for `idle_s`."""
    try:
        message = await asyncio.wait_for(websocket.receive(), idle_s)
    except TimeoutError:
        raise ServiceError(408, f"nothing received for {idle_s:g} s; the live session was closed") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    return message


def _json(message: Message, what: str) -> dict[str, Any]:
    """A text message's JSON object (400 when it is binary, not JSON or not an object; 413 when too long)."""
    text = message.get("text")
    if text is None:
        raise ServiceError(400, f"{what} must be JSON text, not binary")
    if len(text) > MAX_TEXT_CHARS:
        raise ServiceError(413, f"{what} is longer than {MAX_TEXT_CHARS} characters")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ServiceError(400, f'{what} must be a JSON object, e.g. {{"sources": 1}}')
    return value


def _problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in error.errors())


def _service_error(service: Service, error: Exception) -> ServiceError:
    """The answer to an error: ServiceErrors as they are, library errors by `status_for`, anything else a 500."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, FaceweaveError):
        return ServiceError(status_for(error), str(error))
    log.exception("live session failed")
    return ServiceError(500, "the live session failed on the server; try again")


async def _refuse(websocket: WebSocket, error: ServiceError) -> None:
    """Send the error and close with CLOSE_BASE + its status (quietly when the client is gone already)."""
    body: dict[str, Any] = {"error": error.detail, "status": error.status}
    if "Retry-After" in error.headers:
        body["retry_after"] = int(error.headers["Retry-After"])
    reason = error.detail.encode()[:120].decode(errors="ignore")  # a close reason holds 123 bytes at most
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.send_json(body)
        await websocket.close(CLOSE_BASE + error.status, reason)


def _log_end(session: _Session, seconds: float) -> None:
    slot = session.slot
    extra = {"key_id": session.key_id, "frames": slot.received, "answered": session.answered}
    log.info("live session ended", extra=extra | {"dropped": slot.dropped, "seconds": round(seconds, 1)})
