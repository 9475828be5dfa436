"""Live outputs and stream input: the browser view over HTTP, virtual camera and window without a device,
a recording that got no frame, and a stream URL served on loopback (whole, and dropped mid-way).
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from clip_factory import face_frames, write_clip

from faceweave import cli
from faceweave.engine import BoundEngine
from faceweave.errors import DeviceError, UsageError
from faceweave.live.capture import CapturedFrame, SourceInfo, open_input
from faceweave.live.session import LiveOptions, LiveSession, create_sinks, open_source
from faceweave.live.sinks import Controls, MjpegSink, RecordSink, VirtualCameraSink, display_problem
from faceweave.media.video_io import probe_video
from faceweave.samples import sample_path
from faceweave.settings import Settings

Image = npt.NDArray[np.uint8]
INFO = SourceInfo("test", 160, 120, Fraction(10))


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """20 frames at 20 fps of a face over a background, as MPEG-TS (readable progressively over HTTP)."""
    frames, boxes = face_frames((320, 240), 20, with_face=20)
    path = tmp_path_factory.mktemp("stream") / "clip.ts"
    return write_clip(path, frames, fps=Fraction(20), boxes=boxes).path.read_bytes()


@pytest.fixture(scope="module")
def pipeline() -> BoundEngine:
    return BoundEngine.load(Settings(), [sample_path("hopper")], mode="video")


@pytest.fixture
def view() -> Iterator[tuple[MjpegSink, Controls]]:
    """A browser view on a free loopback port (closed again after the test)."""
    controls = Controls(hud=True)
    sink = MjpegSink(controls, 0)
    yield sink, controls
    sink.close()


def _captured(image: Image, index: int = 0) -> CapturedFrame:
    return CapturedFrame(image, index, index / 10, time.perf_counter())


def _connect(sink: MjpegSink) -> http.client.HTTPConnection:
    host, port = sink.url.removeprefix("http://").rstrip("/").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=5)


def _read_part(response: http.client.HTTPResponse) -> Image:
    """The next JPEG of a multipart/x-mixed-replace stream, decoded."""
    assert response.readline() == b"--frame\r\n"
    headers = dict(line.decode().strip().split(": ", 1) for line in iter(response.readline, b"\r\n"))
    assert headers["Content-Type"] == "image/jpeg"
    data = response.read(int(headers["Content-Length"]))
    assert response.read(2) == b"\r\n"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, np.uint8)


def test_browser_view_streams_each_new_frame_as_a_jpeg_part(view: tuple[MjpegSink, Controls]) -> None:
    sink, _ = view
    sink.send(np.full((120, 160, 3), 30, np.uint8), _captured(np.zeros((1, 1, 3), np.uint8)))
    connection = _connect(sink)
    connection.request("GET", "/stream")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
    first = _read_part(response)  # the frame sent before the browser connected
    assert first.shape == (120, 160, 3) and abs(float(first.mean()) - 30) < 3
    sink.send(np.full((120, 160, 3), 220, np.uint8), _captured(np.zeros((1, 1, 3), np.uint8), 1))
    assert abs(float(_read_part(response).mean()) - 220) < 3  # the next frame follows on the same connection
    connection.close()


def test_browser_view_page_and_single_frame(view: tuple[MjpegSink, Controls]) -> None:
    sink, _ = view
    connection = _connect(sink)
    connection.request("GET", "/frame.jpg")
    assert connection.getresponse().read() == b"no frame yet"
    sink.send(np.zeros((48, 64, 3), np.uint8), _captured(np.zeros((1, 1, 3), np.uint8)))
    connection.request("GET", "/frame.jpg")
    data = connection.getresponse().read()
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
    connection.request("GET", "/")
    page = connection.getresponse().read()
    assert b'src="/stream"' in page and b"<textarea" in page  # several paths need several lines
    connection.close()


@pytest.mark.parametrize(
    ("body", "status", "paths"),
    [
        (b"/photos/a.jpg\n/photos/b.jpg\n", 202, ["/photos/a.jpg", "/photos/b.jpg"]),  # the page: one per line
        (b'{"paths": ["/photos/c.png"]}', 202, ["/photos/c.png"]),  # a script: JSON
        (b"  \n", 400, None),  # nothing to switch to
    ],
)
def test_browser_view_source_change_reaches_the_controls(
    view: tuple[MjpegSink, Controls], body: bytes, status: int, paths: list[str] | None
) -> None:
    sink, controls = view
    connection = _connect(sink)
    connection.request("POST", "/source", body=body)
    response = connection.getresponse()
    reply = response.read()
    assert response.status == status
    if paths is None:
        assert controls.requests.empty() and b"one source photo path per line" in reply
        return
    requested, done = controls.requests.get_nowait()
    assert requested == paths and json.loads(reply) == {"source": paths} and not done.done()
    connection.close()


def test_browser_view_hud_toggle(view: tuple[MjpegSink, Controls]) -> None:
    sink, controls = view
    connection = _connect(sink)
    for expected in (False, True):
        connection.request("POST", "/hud", body=b"")
        response = connection.getresponse()
        response.read()
        assert response.status == 204 and controls.hud is expected
    connection.close()


def test_browser_view_close_ends_streams_and_refuses_new_connections(view: tuple[MjpegSink, Controls]) -> None:
    sink, _ = view
    sink.send(np.zeros((32, 32, 3), np.uint8), _captured(np.zeros((1, 1, 3), np.uint8)))
    watching = _connect(sink)
    watching.request("GET", "/stream")
    response = watching.getresponse()
    _read_part(response)
    began = time.perf_counter()
    sink.close()
    assert time.perf_counter() - began < 3.0
    assert response.read() == b""  # the open stream ends instead of hanging
    with pytest.raises(ConnectionRefusedError):
        _connect(sink).request("GET", "/")


def test_browser_view_on_a_taken_port_is_a_usage_error(view: tuple[MjpegSink, Controls]) -> None:
    sink, controls = view
    port = int(sink.url.rstrip("/").rsplit(":", 1)[1])
    with pytest.raises(UsageError, match=f"cannot serve on 127.0.0.1:{port}.*pick another --serve port"):
        MjpegSink(controls, port)


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        (None, r"needs pyvirtualcam \(pip install pyvirtualcam\)"),  # not installed
        (RuntimeError("No v4l2 loopback device\nfound"), r"sudo modprobe v4l2loopback"),  # no device, 2-line reason
    ],
)
def test_virtual_camera_without_package_or_device_is_a_device_error(
    monkeypatch: pytest.MonkeyPatch, camera: Exception | None, message: str
) -> None:
    if camera is None:
        monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails even where it is installed
    else:

        def no_device(*args: object, **kwargs: object) -> None:
            raise camera

        fake = types.SimpleNamespace(PixelFormat=types.SimpleNamespace(BGR="bgr"), Camera=no_device)
        monkeypatch.setitem(sys.modules, "pyvirtualcam", fake)
    with pytest.raises(DeviceError, match=message) as error:
        VirtualCameraSink(INFO)
    assert "\n" not in str(error.value)
    assert cli.exit_code(error.value) == cli.EXIT_DEVICE


@pytest.mark.parametrize(
    ("platform", "environ", "problem"),
    [
        ("linux", {}, "DISPLAY is not set"),  # headless server, CI
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, "need XWayland"),  # Wayland without XWayland: Qt would abort
        ("linux", {"DISPLAY": ":0"}, None),  # X11 or XWayland
        ("freebsd14", {}, "DISPLAY is not set"),  # other X11 systems
        ("darwin", {}, None),  # Cocoa: no DISPLAY needed
        ("win32", {}, None),  # Win32 windows
    ],
)
def test_display_problem(platform: str, environ: dict[str, str], problem: str | None) -> None:
    found = display_problem(platform, environ)
    assert found is None if problem is None else (found is not None and problem in found)


def test_live_window_without_display_is_a_clear_device_error_and_records_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    clip = write_clip(tmp_path / "in.mp4", [np.full((48, 64, 3), 90, np.uint8)] * 3).path
    record = tmp_path / "out.mp4"
    argv = ["live", "-s", str(sample_path("hopper")), "--input", str(clip), "--record", str(record), "--window"]
    assert cli.main(argv) == cli.EXIT_DEVICE
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("faceweave: error: --window: no X11 display") and "--serve PORT" in error
    assert not list(tmp_path.glob("*out.mp4*"))  # no empty, unplayable recording left behind


def test_recording_without_frames_leaves_an_existing_file_alone(tmp_path: Path) -> None:
    record = tmp_path / "keep.mp4"
    record.write_bytes(b"an earlier recording")
    sink = RecordSink(record, INFO, Settings())
    sink.close()
    assert record.read_bytes() == b"an earlier recording" and not list(tmp_path.glob(".*.part"))


def test_window_from_create_sinks_closes_the_sinks_made_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with pytest.raises(DeviceError, match="--window"):
        create_sinks(LiveOptions(input="x.mp4", serve=port, window=True), INFO, Controls(), Settings())
    with pytest.raises(ConnectionRefusedError):  # the browser view opened first was closed again
        http.client.HTTPConnection("127.0.0.1", port, timeout=5).request("GET", "/")


@contextmanager
def _serve(data: bytes, sent: float = 1.0) -> Iterator[str]:
    """Serve `data` as /clip.ts on a free loopback port; with `sent` < 1, drop the connection after that share."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: int(len(data) * sent)])
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/clip.ts"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_stream_url_delivers_every_frame_with_increasing_timestamps(clip_bytes: bytes) -> None:
    with _serve(clip_bytes) as url:
        info, frames = open_input(url)
        seen = [(image.shape, seconds) for image, seconds in frames]
    assert (info.width, info.height, info.fps) == (320, 240, Fraction(20))
    assert [shape for shape, _ in seen] == [(240, 320, 3)] * 20
    stamps = np.array([seconds for _, seconds in seen])
    assert np.allclose(np.diff(stamps), 0.05, atol=1e-3)  # increasing, 1/20 s apart


def test_stream_dropped_midway_ends_the_session_cleanly_and_the_recording_plays(
    clip_bytes: bytes, pipeline: BoundEngine, tmp_path: Path
) -> None:
    record = tmp_path / "dropped.mp4"
    with _serve(clip_bytes, sent=0.5) as url:
        options = LiveOptions(input=url, record=str(record))
        info, start = open_source(options)  # as `faceweave live --input URL` does: newest frame only
        grabber = start()
        session = LiveSession(
            pipeline.engine, pipeline.bindings, grabber, create_sinks(options, info, Controls(), Settings())
        )
        summary = session.run()
    assert isinstance(grabber.error, OSError)  # the cut connection, logged instead of raised
    assert 0 < summary.frames < 20 and summary.frames + summary.dropped == summary.captured
    assert probe_video(record).frames == summary.frames
