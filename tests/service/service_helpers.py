"""Helpers shared by the service tests (a plain module: `conftest` names clash across folders)."""

from __future__ import annotations

import io
import time

import cv2
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from faceweave.media.image_io import read_image
from faceweave.samples import sample_path

API_KEY = "test-key-0123456789abcdef"
AUTH = {"X-API-Key": API_KEY}
Files = list[tuple[str, tuple[str, bytes, str]]]


def swap_files(target: bytes | None = None, target_name: str = "target.png") -> Files:
    """Multipart parts: Grace Hopper as the source, the astronaut (or `target`) as the target."""
    body = sample_path("astronaut").read_bytes() if target is None else target
    return [
        ("source", ("hopper.jpg", sample_path("hopper").read_bytes(), "image/jpeg")),
        ("target", (target_name, body, "application/octet-stream")),
    ]


def wait_ready(client: TestClient, seconds: float = 30.0) -> None:
    """Poll /readyz until the workers have their models."""
    deadline = time.monotonic() + seconds
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "service not ready in time"
        time.sleep(0.1)


def wait_job(
    client: TestClient, job_id: str, seconds: float = 60.0, headers: dict[str, str] = AUTH
) -> dict[str, object]:
    """Poll a job until it is finished; returns its last state."""
    deadline = time.monotonic() + seconds
    while True:
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, f"job still {job['state']} after {seconds} s"
        time.sleep(0.1)


def two_people() -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """A PNG of the astronaut with Grace Hopper's portrait, at half size, on her right (as tests/test_selection.py
    builds it), and the two faces' regions (x1, y1, x2, y2), left to right: face 0 and face 1 of /v1/analyse."""
    astronaut = read_image(sample_path("astronaut")).image
    small = cv2.resize(read_image(sample_path("hopper")).image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    image = np.full((astronaut.shape[0], astronaut.shape[1] + small.shape[1], 3), 128, np.uint8)
    image[:, : astronaut.shape[1]] = astronaut
    image[: small.shape[0], astronaut.shape[1] :] = small
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    right = astronaut.shape[1]
    return encoded.tobytes(), [(170, 60, 280, 190), (right + 70, 40, right + 190, 200)]


def plain_png(width: int, height: int, colour: tuple[int, int, int] = (90, 120, 150)) -> bytes:
    """A PNG of one flat colour: an image that shows no face."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()
