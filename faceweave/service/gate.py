"""ASGI middleware run before any body is read: request id, access log and metrics; auth, rate and size limits."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceweave.service.errors import ServiceError, busy
from faceweave.service.observe import Metrics
from faceweave.service.security import Authenticator, RateLimiter

log = logging.getLogger("faceweave.service.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_JOB_ROUTES = (
    (re.compile(r"/v1/jobs/[^/]+"), "/v1/jobs/{id}"),
    (re.compile(r"/v1/jobs/[^/]+/result"), "/v1/jobs/{id}/result"),
)
_ROUTES = frozenset(
    {"/", "/favicon.ico", "/healthz", "/readyz", "/metrics", "/v1/swap", "/v1/analyse", "/v1/info", "/v1/jobs"}
    | {"/openapi.json"}
)
PUBLIC = frozenset({"/v1/info"})
"""/v1/ paths answered without a key (GET only): the web UI asks them whether it needs one."""
SECURITY_HEADERS = (  # on every answer: the web UI loads nothing from elsewhere and is framed by no one
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
        b" blob:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none';"
        b" form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_name(path: str) -> str:
    """The route template a path matches, for metrics and logs: one of a fixed set (job ids folded into `{id}`),
    "other" for anything else. Never the raw path: a label per path let unauthenticated requests grow /metrics
    without bound."""
    if path in _ROUTES:
        return path
    return next((template for pattern, template in _JOB_ROUTES if pattern.fullmatch(path)), "other")


def method_name(method: str) -> str:
    """The HTTP method for metrics, "other" for anything outside the standard set (a client can send any token)."""
    return method if method in _METHODS else "other"


def error_response(error: ServiceError, request_id: str) -> JSONResponse:
    """The JSON body every error answer has: {"detail": message, "request_id": id}."""
    headers = {**error.headers, "X-Request-ID": request_id}
    return JSONResponse({"detail": error.detail, "request_id": request_id}, error.status, headers=headers)


class Observe:
    """Gives each request an id (X-Request-ID, echoed back), times it, counts it and logs one JSON line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers += [(key, value) for key, value in SECURITY_HEADERS if key not in present]
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - began
            route = route_name(scope["path"])
            self.metrics.requests.labels(method_name(scope["method"]), route, str(status[0])).inc()
            self.metrics.latency.labels(route).observe(seconds)
            state = scope["state"]
            extra = {"request_id": request_id, "method": scope["method"], "route": route, "status": status[0]}
            extra |= {"ms": round(seconds * 1000, 1), "key_id": state.get("key_id"), **state.get("log_extra", {})}
            log.info("request", extra=extra)


class Gate:
    """Guards /v1/: 401/403 without a valid key, 429 over the key's rate, 503 when the queue is full, 413 when the
    body passes its limit.

    All of it happens before the body is read, so a rejected upload costs no parsing.
    """

    def __init__(
        self,
        app: ASGIApp,
        auth: Authenticator,
        limiter: RateLimiter,
        limit_for: Callable[[str], int],
        metrics: Metrics,
        queue_full: Callable[[], bool] = lambda: False,
        retry_after_s: int = 2,
    ) -> None:
        self.app = app
        self.auth = auth
        self.limiter = limiter
        self.limit_for = limit_for
        self.metrics = metrics
        self.queue_full = queue_full
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/") or _public(scope):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        try:
            headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
            state["key_id"] = self.auth.key_id(headers)
            if scope["method"] == "POST":
                self._rate(state["key_id"])
                self._room()
            limit = self.limit_for(scope["path"])
            _check_length(headers.get("content-length"), limit)
        except ServiceError as error:
            await error_response(error, state.get("request_id", "-"))(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)

    def _room(self) -> None:
        """503 before the upload is read when every worker is busy and the queue is full (it used to come only
        after the whole body had been received)."""
        if self.queue_full():
            self.metrics.rejected.labels("queue").inc()
            raise busy("the queue is full", self.retry_after_s)

    def _rate(self, key_id: str) -> None:
        try:
            self.limiter.take(key_id)
        except ServiceError:
            self.metrics.rejected.labels("rate").inc()
            raise


def _public(scope: Scope) -> bool:
    return scope["path"] in PUBLIC and scope["method"] == "GET"


def _check_length(header: str | None, limit: int) -> None:
    if header is None:
        return
    if not header.isdigit():
        raise ServiceError(400, "Content-Length must be a number of bytes")
    if int(header) > limit:
        raise ServiceError(413, f"request body of {header} bytes is over the limit of {limit} bytes")


def _counting(receive: Receive, limit: int) -> Receive:
    """A receive that raises 413 once more than `limit` body bytes arrived (chunked uploads included)."""
    seen = [0]

    async def counted() -> Message:
        message: Any = await receive()
        if message["type"] == "http.request":
            seen[0] += len(message.get("body", b""))
            if seen[0] > limit:
                raise HTTPException(413, f"request body is over the limit of {limit} bytes")
        return message

    return counted


def _request_id(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key.lower() == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex
