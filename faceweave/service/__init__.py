"""REST service and web UI (`faceweave serve`; needs the `faceweave[service]` extra): create_app, ServiceConfig."""

from __future__ import annotations

from faceweave.service.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":  # imports FastAPI only when asked
        from faceweave.service.app import create_app

        return create_app
    raise AttributeError(name)
