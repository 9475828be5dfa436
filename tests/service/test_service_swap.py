"""POST /v1/swap on a warm app: real faces change, labels carry consent, every refusal has its status."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from service_helpers import AUTH, plain_png, swap_files

from faceweave.media.image_io import decode_image, read_image
from faceweave.provenance.label import read_label
from faceweave.samples import sample_path
from faceweave.service.keys import KeyStore

FACE_CHANGE = 10.0  # mean absolute difference inside the astronaut's face after the swap


def test_swap_changes_the_face_and_labels_the_output(client: TestClient, tmp_path: Path) -> None:
    response = client.post("/v1/swap", files=swap_files(), data={"consent": "both agreed", "blend": "1"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-faces-swapped"] == "1"
    before = read_image(sample_path("astronaut")).image
    after = decode_image(response.content, "result").image
    face = (slice(40, 200), slice(160, 300))  # the astronaut's face
    difference = np.abs(after[face].astype(np.int16) - before[face].astype(np.int16)).mean()
    assert difference > FACE_CHANGE
    assert np.abs(after[400:, :100].astype(np.int16) - before[400:, :100].astype(np.int16)).mean() < 3  # background
    output = tmp_path / "result.png"
    output.write_bytes(response.content)
    label = read_label(output)
    assert label is not None and label.consent == "both agreed"


def test_jpeg_target_gives_jpeg_and_format_field_wins(client: TestClient) -> None:
    jpeg = io.BytesIO()
    Image.open(sample_path("astronaut")).convert("RGB").save(jpeg, "JPEG", quality=90)
    response = client.post("/v1/swap", files=swap_files(jpeg.getvalue(), "t.jpg"), headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    response = client.post("/v1/swap", files=swap_files(), data={"format": "webp"}, headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),  # no key at all
        ({"X-API-Key": "wrong-key-0123456789"}, 403),  # unknown key
        ({"Authorization": "Bearer wrong-key-0123456789"}, 403),  # unknown bearer token
        ({"Authorization": "Basic abc"}, 401),  # another scheme is no key
    ],
)
def test_missing_or_wrong_key(client: TestClient, headers: dict[str, str], status: int) -> None:
    response = client.post("/v1/swap", files=swap_files(), headers=headers)
    assert response.status_code == status
    assert "detail" in response.json() and response.headers["x-request-id"]


def test_stored_key_works_until_revoked(client: TestClient) -> None:
    store = KeyStore(client.app.state.service.config.keys_path)  # type: ignore[attr-defined]
    record, secret = store.create("tester")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/v1/jobs/" + "x" * 32, headers=bearer).status_code == 404  # authenticated: no such job
    store.revoke(record.id)
    assert client.get("/v1/jobs/" + "x" * 32, headers=bearer).status_code == 403


@pytest.mark.parametrize(
    ("target", "name", "status"),
    [
        (b"this is plain text, not a photo" * 10, "photo.jpg", 415),  # a text file named .jpg
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "broken.jpg", 422),  # a JPEG header with nothing behind it
        (plain_png(2500, 2000), "huge.png", 413),  # 5 MP > the 4 MP limit (decompression-bomb guard)
        (b"\x00" * (3 * 1024 * 1024), "big.jpg", 413),  # 3 MB > the 2 MB upload limit
        (b"", "empty.jpg", 422),  # zero bytes
    ],
)
def test_bad_uploads(client: TestClient, target: bytes, name: str, status: int) -> None:
    response = client.post("/v1/swap", files=swap_files(target, name), headers=AUTH)
    assert response.status_code == status, response.text


def test_oversized_body_refused_before_parsing(client: TestClient) -> None:
    body = b"x" * (20 * 1024 * 1024)
    headers = {**AUTH, "Content-Type": "multipart/form-data; boundary=x"}
    assert client.post("/v1/swap", content=body, headers=headers).status_code == 413


def test_no_face_with_require_face_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/swap", files=swap_files(plain_png(320, 240)), data={"require_face": "true"}, headers=AUTH
    )
    assert response.status_code == 422
    assert "no face" in response.json()["detail"]


def test_no_face_without_require_face_returns_the_image(client: TestClient) -> None:
    response = client.post("/v1/swap", files=swap_files(plain_png(320, 240)), headers=AUTH)
    assert response.status_code == 200 and response.headers["x-faces-swapped"] == "0"


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"blend": "2"}, 422),  # out of range: rejected by the schema
        ({"selector": "everyone"}, 422),  # not a choice
        ({"selector": "reference"}, 422),  # needs reference photos, which /v1/swap does not take
        ({"max_image_pixels": "10"}, 200),  # not a client option: ignored, the operator's limit stays
    ],
)
def test_bad_options(client: TestClient, data: dict[str, str], status: int) -> None:
    response = client.post("/v1/swap", files=swap_files(), data=data, headers=AUTH)
    assert response.status_code == status, response.text


def test_health_ready_metrics_and_ui(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True
    metrics = client.get("/metrics").text
    for name in ("faceweave_http_requests_total", "faceweave_http_request_seconds_bucket", "faceweave_queue_depth"):
        assert name in metrics
    assert 'faceweave_jobs{state="queued"}' in metrics
    page = client.get("/")
    assert page.status_code == 200 and "getUserMedia" in page.text and "/v1/swap" in page.text
    assert "/v1/swap" in client.get("/openapi.json").json()["paths"]


def test_metrics_labels_stay_bounded_whatever_the_paths(client: TestClient) -> None:  # issue 19, item 7
    before = client.get("/metrics").text.count("faceweave_http_requests_total{")
    for i in range(40):  # unauthenticated junk: random job paths, deep paths, odd methods
        client.get(f"/v1/jobs/x/{i}-{'a' * i}")
        client.get(f"/v1/jobs/{i}/result/extra")
        client.get(f"/no/such/{i}")
        client.request(f"FOO{i}", "/healthz")
    text = client.get("/metrics").text
    rows = [line for line in text.splitlines() if line.startswith("faceweave_http_requests_total{")]
    assert len(rows) <= before + 12  # a few new (method, route, status) rows, not one per request
    assert all(f"-{'a' * 5}" not in row and "FOO" not in row for row in rows)


def test_a_browser_preflight_is_answered_before_the_key_check(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(cors_origins=("https://ui.example",))
    with TestClient(app) as client:  # issue 19, item 13: the Gate used to answer OPTIONS with 401
        preflight = client.options(
            "/v1/swap",
            headers={
                "Origin": "https://ui.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "X-API-Key",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == "https://ui.example"
        unkeyed = client.post("/v1/swap", headers={"Origin": "https://ui.example"})
        assert unkeyed.status_code == 401  # the real request still needs its key


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:  # issue 19, item 14
    for answer in (client.get("/"), client.get("/v1/jobs/none", headers=AUTH), client.get("/healthz")):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert client.get("/docs").status_code == 404  # its page loads scripts from a CDN: not served
    assert client.get("/openapi.json").status_code == 200
