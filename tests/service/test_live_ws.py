"""/v1/live over a WebSocket with real faces: the handshake, swapped and labelled frames, the newest frame winning,
changes of options, and every refusal with its close code (4000 + the HTTP status /v1/swap would give)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import API_KEY, plain_png

from faceweave.media.image_io import decode_image, read_image
from faceweave.provenance.label import read_label
from faceweave.provenance.watermark import find_watermark
from faceweave.samples import sample_path
from faceweave.service.live_engine import FrameSlot

FACE = (slice(40, 200), slice(160, 300))  # the astronaut's face
FAR = (slice(400, 512), slice(0, 100))  # her sleeve, far from the face
CHANGED = 10.0  # mean absolute difference inside a swapped face
KEPT = 3.0  # ... and far from it (JPEG and the watermark change every pixel a little)
BURST = 8  # frames sent at once by the newest-frame test

Session = Any  # starlette's WebSocketTestSession


def _frame() -> tuple[bytes, np.ndarray]:
    """The astronaut as the JPEG a browser would send, and that JPEG decoded (what the server swaps)."""
    ok, encoded = cv2.imencode(".jpg", read_image(sample_path("astronaut")).image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return encoded.tobytes(), cv2.imdecode(encoded, cv2.IMREAD_COLOR)


FRAME, FRAME_IMAGE = _frame()
HOPPER = sample_path("hopper").read_bytes()


def _hello(session: Session, sources: list[bytes] | None = None, **fields: Any) -> None:
    """The first message (`api_key` defaults to the test key) and the source photos (Grace Hopper by default)."""
    sources = [HOPPER] if sources is None else sources
    session.send_text(json.dumps({"api_key": API_KEY, "sources": len(sources), **fields}))
    for source in sources:
        session.send_bytes(source)


def _ready(session: Session, **fields: Any) -> None:
    _hello(session, **fields)
    assert session.receive_json() == {"ready": True}


def _answer(session: Session) -> tuple[dict[str, Any], np.ndarray, bytes]:
    """The next swapped frame: its JSON head, the decoded image and the JPEG bytes."""
    head = session.receive_json()
    data = session.receive_bytes()
    assert data.startswith(b"\xff\xd8\xff"), head
    return head, decode_image(data, "answer").image, data


def _refused(session: Session) -> tuple[dict[str, Any], int]:
    """The error message and the close code that follows it."""
    body = session.receive_json()
    closing = session.receive()
    assert closing["type"] == "websocket.close", closing
    return body, int(closing["code"])


def _change(after: np.ndarray, region: tuple[slice, slice]) -> float:
    return float(np.abs(after[region].astype(np.int16) - FRAME_IMAGE[region].astype(np.int16)).mean())


def _idle(client: TestClient, seconds: float = 10.0) -> None:
    """Wait until every live worker is back (the server frees a session after the socket closes)."""
    live = client.app.state.service.live  # type: ignore[attr-defined]
    deadline = time.monotonic() + seconds
    while live.active:
        assert time.monotonic() < deadline, f"{live.active} live session(s) still held"
        time.sleep(0.02)


def test_a_frame_comes_back_swapped_and_labelled(client: TestClient, tmp_path: Path) -> None:
    with client.websocket_connect("/v1/live") as session:
        _ready(session, consent="both agreed", options={"blend": 1})
        session.send_bytes(FRAME)
        head, swapped, data = _answer(session)
    assert head["frame"] == 1 and head["faces"] == 1 and head["swapped"] == 1 and head["dropped"] == 0
    assert head["ms"] > 0
    assert _change(swapped, FACE) > CHANGED
    assert _change(swapped, FAR) < KEPT
    path = tmp_path / "frame.jpg"
    path.write_bytes(data)
    label = read_label(path)
    assert label is not None and label.consent == "both agreed"
    mark = find_watermark(swapped)
    assert mark is not None and mark.payload == label.watermark_payload
    _idle(client)  # closing the socket gave the worker back


def test_the_newest_frame_wins(client: TestClient) -> None:
    with client.websocket_connect("/v1/live") as session:
        _ready(session)
        for _ in range(BURST):
            session.send_bytes(FRAME)
        heads = []
        while not heads or heads[-1]["frame"] < BURST:  # the last frame is never dropped: nothing comes after it
            heads.append(_answer(session)[0])
    frames = [head["frame"] for head in heads]
    assert frames == sorted(set(frames)), frames  # in order, each once
    assert len(heads) < BURST, frames  # older frames were dropped, not queued
    assert heads[-1]["dropped"] == BURST - len(heads) > 0
    assert all(head["swapped"] == 1 for head in heads)


def test_options_change_mid_stream(client: TestClient) -> None:
    with client.websocket_connect("/v1/live") as session:
        _ready(session)
        session.send_bytes(FRAME)
        assert _change(_answer(session)[1], FACE) > CHANGED
        session.send_text(json.dumps({"options": {"blend": 0}}))  # no swap strength: the face stays the target's
        session.send_bytes(FRAME)
        head, kept, _ = _answer(session)
    assert head["frame"] == 2
    assert _change(kept, FACE) < KEPT


def test_the_key_may_come_in_a_header(client: TestClient) -> None:
    with client.websocket_connect("/v1/live", headers={"X-API-Key": API_KEY}) as session:
        _ready(session, api_key=None)


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"api_key": None}, 4401, "missing API key"),  # no key in the message nor the headers
        ({"api_key": "wrong-key-0123456789"}, 4403, "not valid"),  # an unknown key
        ({"sources": [plain_png(320, 240, (176, 164, 150))]}, 4422, "no face"),  # the source photo shows nobody
        ({"sources": [b"x" * (2 * 1024 * 1024 + 1)]}, 4413, "larger than the limit"),  # over the 2 MB upload limit
        ({"sources": [b"this is not a picture"]}, 4415, "not a JPEG, PNG"),  # checked by content
        ({"sources": []}, 4422, "send 1 to 8 source photos"),  # no source at all
        ({"options": {"blend": 2}}, 4422, "blend"),  # out of range
        ({"options": {"format": "png"}}, 4422, "format"),  # a form field that has no meaning live
        ({"consent": "two\nlines"}, 4400, "printable text on one line"),  # as /v1/swap checks it
    ],
)
def test_refusals(client: TestClient, fields: dict[str, Any], code: int, words: str) -> None:
    with client.websocket_connect("/v1/live") as session:
        _hello(session, **fields)
        body, closed = _refused(session)
    assert closed == code and body["status"] == code - 4000, body
    assert words in body["error"], body
    _idle(client)


def test_a_first_message_that_is_not_json(client: TestClient) -> None:
    with client.websocket_connect("/v1/live") as session:
        session.send_text("hello")
        body, closed = _refused(session)
    assert closed == 4400 and "JSON object" in body["error"]


def test_a_page_of_another_origin_is_refused(client: TestClient) -> None:
    with client.websocket_connect("/v1/live", headers={"Origin": "https://evil.example"}) as session:
        body, closed = _refused(session)
    assert closed == 4403 and "--cors-origin" in body["error"]


def test_too_many_sessions_are_refused(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(max_live_sessions=1, warm_up=False, rate_limit=0)) as local:
        with local.websocket_connect("/v1/live") as first:
            _ready(first)
            with local.websocket_connect("/v1/live") as second:
                _hello(second)
                body, closed = _refused(second)
            assert closed == 4503 and body["status"] == 503 and body["retry_after"] >= 1
            assert body["error"] == "1 live session is running, the most this server allows; try again later"
            first.send_bytes(FRAME)  # the first session is unharmed
            assert _answer(first)[0]["swapped"] == 1
        _idle(local)
        with local.websocket_connect("/v1/live") as again:  # its worker is free again, and warm
            _ready(again)
        metrics = local.get("/metrics").text
    assert 'faceweave_rejected_total{reason="live"} 1.0' in metrics
    assert 'faceweave_live_frames_total{outcome="answered"} 1.0' in metrics


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"require_consent": True}, 4400),  # no consent statement
        ({"max_live_sessions": 0}, 4503),  # live turned off
    ],
)
def test_server_choices_are_respected(make_app: Callable[..., FastAPI], changes: dict[str, Any], code: int) -> None:
    with TestClient(make_app(warm_up=False, **changes)) as local, local.websocket_connect("/v1/live") as session:
        _hello(session)
        assert _refused(session)[1] == code


def test_no_auth_needs_no_key(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(api_keys=(), no_auth=True, warm_up=False)) as local:
        with local.websocket_connect("/v1/live") as session:
            _ready(session, api_key=None)
        assert local.get("/v1/info").json()["max_live_sessions"] == 2


def test_a_silent_client_is_closed(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(warm_up=False, live_idle_s=0.3)) as local, local.websocket_connect("/v1/live") as session:
        body, closed = _refused(session)
    assert closed == 4408 and "nothing received" in body["error"]


def test_frame_slot_keeps_only_the_newest() -> None:
    async def scenario() -> list[object]:
        slot = FrameSlot()
        slot.put(b"1")
        slot.put(b"2")  # replaces frame 1, which is dropped
        first = await slot.take()
        waiter = asyncio.create_task(slot.take())
        await asyncio.sleep(0)
        slot.put(b"3")
        second = await waiter
        slot.put(b"4")
        slot.close()  # a waiting frame is forgotten
        assert first is not None and second is not None
        return [first.index, first.data, second.index, slot.dropped, await slot.take()]

    assert asyncio.run(scenario()) == [2, b"2", 3, 1, None]
