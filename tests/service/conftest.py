"""Service fixtures: apps built by create_app on temporary data folders, real sample faces, a short face clip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from clip_factory import Clip, face_frames, write_clip
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import API_KEY, wait_ready

from faceweave.service.app import create_app
from faceweave.service.config import ServiceConfig


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., FastAPI]:
    """Build an app on tmp_path with API_KEY accepted; keyword arguments change the ServiceConfig."""

    def build(**changes: object) -> FastAPI:
        values: dict[str, object] = {"data_dir": tmp_path / "data", "api_keys": (API_KEY,), "queue_size": 4}
        values.update(changes)
        return create_app(ServiceConfig(**values))  # type: ignore[arg-type]

    return build


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One warm app (1 worker, 2 MB uploads, 4 MP images) shared by a module's tests."""
    config = ServiceConfig(
        data_dir=tmp_path_factory.mktemp("service"),
        api_keys=(API_KEY,),
        max_upload_bytes=2 * 1024 * 1024,
        max_image_pixels=4_000_000,
        rate_limit=0,
    )
    with TestClient(create_app(config)) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """1 s at 8 fps, 320×240: the astronaut's head moving, then face-free frames."""
    frames, boxes = face_frames((320, 240), 8, 5)
    path = tmp_path_factory.mktemp("clip") / "target.mp4"
    return write_clip(path, frames, fps=Fraction(8), boxes=boxes)
