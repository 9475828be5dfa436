"""`create_app(config)`: the FastAPI app (no globals: everything lives on `app.state.service`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from faceweave import __version__
from faceweave.errors import FaceweaveError
from faceweave.service.config import MB, ServiceConfig
from faceweave.service.errors import ServiceError, status_for
from faceweave.service.gate import Gate, Observe, error_response
from faceweave.service.live_socket import router as live_router
from faceweave.service.model_choice import MODEL_HEADERS
from faceweave.service.routes import MAX_SOURCES, router
from faceweave.service.state import Service

_DESCRIPTION = """Swap faces over HTTP. Every output is labelled as AI-generated (IPTC digital source type) and
watermarked. Authenticate with `Authorization: Bearer KEY` or `X-API-Key: KEY`. Webcam frames are swapped live over
the WebSocket `/v1/live` (its protocol is in docs/service.md; the key may travel in its first message)."""


FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#4f46e5"/>'
    b'<circle cx="25" cy="32" r="15" fill="none" stroke="#fff" stroke-width="5"/>'
    b'<circle cx="39" cy="32" r="15" fill="none" stroke="#c7d2fe" stroke-width="5"/></svg>'
)
"""The page's icon (SVG), served at /favicon.ico so browsers find it without a 404."""


def create_app(config: ServiceConfig) -> FastAPI:
    """The service app for this configuration; models load when the app starts (lifespan).

    Example:
        >>> app = create_app(ServiceConfig(data_dir=Path("/tmp/fw"), no_auth=True))  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    service = Service.create(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(  # no /docs or /redoc: their pages load scripts from a CDN (blank offline); /openapi.json stays
        title="faceweave",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.include_router(router)
    app.include_router(live_router)
    _add_exception_handlers(app)
    _add_health(app, service)
    # The last added runs first: Observe, then CORS (a browser's preflight OPTIONS carries no key and must be answered
    # before the Gate asks for one), then the Gate, then the routes.
    app.add_middleware(
        Gate,
        auth=service.auth,
        limiter=service.limiter,
        limit_for=_limit(config),
        metrics=service.metrics,
        queue_full=lambda: service.pool.full,
        retry_after_s=config.retry_after_s,
    )
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "X-Faces", "X-Faces-Swapped", *MODEL_HEADERS.values(), "Retry-After"],
        )
    app.add_middleware(Observe, metrics=service.metrics)
    return app


def _limit(config: ServiceConfig) -> Callable[[str], int]:
    limits = {
        "/v1/swap": (MAX_SOURCES + 1) * config.max_upload_bytes + MB,  # + multipart framing and option fields
        "/v1/analyse": config.max_upload_bytes + MB,
    }

    def limit_for(path: str) -> int:
        return limits.get(path, config.max_request_bytes)

    return limit_for


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def _add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> JSONResponse:
        return error_response(error, _request_id(request))

    @app.exception_handler(FaceweaveError)
    async def library_error(request: Request, error: FaceweaveError) -> JSONResponse:
        return error_response(ServiceError(status_for(error), str(error)), _request_id(request))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return error_response(ServiceError(422, f"invalid request: {problems}"), _request_id(request))


def _add_health(app: FastAPI, service: Service) -> None:
    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: every worker has its models loaded", responses={503: {}})
    async def readyz() -> JSONResponse:
        ready = service.pool.ready
        body = {"ready": ready, "queue_depth": service.pool.depth, "workers_busy": service.pool.busy}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", summary="The web UI", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        page = resources.files("faceweave.service").joinpath("static/index.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})
