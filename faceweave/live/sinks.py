"""Where live frames go: an OpenCV window, an MJPEG browser view on localhost, a virtual camera, a recording.

Every sink has `send(frame, captured)` and `close()`; `overlay` says whether it shows the HUD. Keyboard and
browser controls (quit, HUD toggle, change of source) reach the session through a shared `Controls` object.
"""

from __future__ import annotations

import functools
import http.server
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

import cv2

from faceweave.app.output import labelled_video_writer, recording_info
from faceweave.errors import DeviceError, UsageError
from faceweave.live.capture import CapturedFrame, SourceInfo
from faceweave.media.video_writer import EncodeOptions
from faceweave.provenance.label import Label
from faceweave.settings import Settings
from faceweave.types import Image

SourceRequest = tuple[list[str], "Future[None]"]

log = logging.getLogger(__name__)

_PAGE = b"""<!doctype html><title>faceweave live</title>
<body style="margin:0;background:#111;color:#ddd;font-family:sans-serif">
<img src="/stream" style="max-width:100%;display:block;margin:auto">
<form onsubmit="fetch('/source',{method:'POST',body:this.paths.value});return false" style="padding:8px">
source photo path(s), one per line: <textarea name="paths" rows="2" cols="60"></textarea> <button>change source</button>
<button type="button" onclick="fetch('/hud',{method:'POST'})">toggle HUD</button></form></body>"""


class Controls:
    """Thread-safe controls shared by the session and its sinks: stop, HUD on/off, source change requests."""

    def __init__(self, hud: bool = True) -> None:
        self.stop = threading.Event()
        self.hud = hud
        self.requests: queue.Queue[SourceRequest] = queue.Queue()

    def toggle_hud(self) -> None:
        """Show or hide the HUD."""
        self.hud = not self.hud

    def request_source(self, paths: list[str]) -> Future[None]:
        """Ask the session to switch to new source photos between two frames; the future completes then."""
        done: Future[None] = Future()
        self.requests.put((paths, done))
        return done


class Sink(Protocol):
    """A destination for processed frames."""

    overlay: bool

    def send(self, frame: Image, captured: CapturedFrame) -> None: ...

    def close(self) -> None: ...


class WindowSink:
    """An OpenCV window (needs a display): q or Esc quits, h toggles the HUD."""

    overlay = True

    def __init__(self, controls: Controls, title: str = "faceweave live") -> None:
        problem = display_problem(sys.platform, os.environ)
        if problem is None:
            try:
                cv2.namedWindow(title, cv2.WINDOW_NORMAL)
            except cv2.error:  # an OpenCV built without a GUI backend
                problem = "this OpenCV build cannot open windows (a -headless wheel?)"
        if problem is not None:
            raise DeviceError(f"--window: {problem}; use --serve PORT for a browser view instead")
        self._controls = controls
        self._title = title

    def send(self, frame: Image, captured: CapturedFrame) -> None:
        """Show the frame and handle keys."""
        cv2.imshow(self._title, frame)
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            self._controls.stop.set()
        elif key == ord("h"):
            self._controls.toggle_hud()

    def close(self) -> None:
        """Close the window."""
        cv2.destroyWindow(self._title)


def display_problem(platform: str, environ: Mapping[str, str]) -> str | None:
    """Why an OpenCV window cannot open here, or None: on Linux/BSD it needs an X11 display (XWayland under Wayland).

    Checked before OpenCV is asked, because its Qt backend aborts the whole process without one.

    Example:
        >>> display_problem("linux", {})
        'no X11 display (DISPLAY is not set)'
    """
    if platform.startswith(("win32", "cygwin", "darwin")) or environ.get("DISPLAY"):
        return None
    if environ.get("WAYLAND_DISPLAY"):
        return "no X11 display (DISPLAY is not set; OpenCV windows need XWayland under Wayland)"
    return "no X11 display (DISPLAY is not set)"


class _Latest:
    """The newest frame for HTTP clients, JPEG-encoded once per frame on the first client thread that needs it."""

    def __init__(self, quality: int) -> None:
        self.quality = quality
        self.version = 0
        self.closed = False
        self._frame: Image | None = None
        self._jpeg: tuple[int, bytes] | None = None
        self.changed = threading.Condition()

    def put(self, frame: Image) -> None:
        with self.changed:
            self._frame, self.version = frame, self.version + 1
            self.changed.notify_all()

    def jpeg(self) -> tuple[int, bytes] | None:
        with self.changed:
            frame, version, cached = self._frame, self.version, self._jpeg
        if frame is None:
            return None
        if cached is not None and cached[0] == version:
            return cached
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        result = (version, data.tobytes() if ok else b"")
        with self.changed:
            self._jpeg = result
        return result


class MjpegSink:
    """A browser view on http://127.0.0.1:PORT/ (MJPEG); POST /source (paths, one per line) and POST /hud.

    `port=0` picks a free port; the chosen one is in `url`.
    """

    overlay = True

    def __init__(self, controls: Controls, port: int, host: str = "127.0.0.1", quality: int = 80) -> None:
        self._latest = _Latest(quality)
        handler = _handler(self._latest, controls)
        try:
            self._server = http.server.ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise UsageError(f"cannot serve on {host}:{port} ({exc.strerror}); pick another --serve port") from exc
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="faceweave-mjpeg", daemon=True)
        self._thread.start()

    def send(self, frame: Image, captured: CapturedFrame) -> None:
        """Publish the frame to connected browsers."""
        self._latest.put(frame)

    def close(self) -> None:
        """Stop serving."""
        with self._latest.changed:
            self._latest.closed = True
            self._latest.changed.notify_all()
        self._server.shutdown()
        self._server.server_close()


def _handler(latest: _Latest, controls: Controls) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

        def do_GET(self) -> None:
            if self.path == "/":
                self._reply(200, "text/html", _PAGE)
            elif self.path == "/frame.jpg":
                found = latest.jpeg()
                self._reply(200, "image/jpeg", found[1]) if found else self._reply(503, "text/plain", b"no frame yet")
            elif self.path == "/stream":
                self._stream()
            else:
                self._reply(404, "text/plain", b"not found")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            if self.path == "/hud":
                controls.toggle_hud()
                self._reply(204, "text/plain", b"")
            elif self.path == "/source":
                paths = _paths(body)
                if not paths:
                    self._reply(400, "text/plain", b"send one source photo path per line")
                    return
                controls.request_source(paths)
                self._reply(202, "application/json", json.dumps({"source": paths}).encode())
            else:
                self._reply(404, "text/plain", b"not found")

        def _reply(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            seen = -1
            try:
                while True:
                    with latest.changed:
                        latest.changed.wait_for(functools.partial(_fresh, latest, seen), 1.0)
                        if latest.closed:
                            return
                    found = latest.jpeg()
                    if found is None or found[0] == seen:
                        continue
                    seen = found[0]
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(found[1])}\r\n\r\n"
                    self.wfile.write(head.encode() + found[1] + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


def _fresh(latest: _Latest, seen: int) -> bool:
    return latest.version != seen or latest.closed


def _paths(body: str) -> list[str]:
    text = body.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("paths", [])
        except (ValueError, AttributeError):
            return []
        return [str(p) for p in value] if isinstance(value, list) else []
    return [line.strip() for line in text.splitlines() if line.strip()]


class VirtualCameraSink:
    """A virtual webcam through pyvirtualcam (v4l2loopback on Linux, OBS on Windows/macOS)."""

    overlay = True

    def __init__(self, info: SourceInfo) -> None:
        try:
            import pyvirtualcam  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise DeviceError(
                "--virtual-camera needs pyvirtualcam (pip install pyvirtualcam) and a loopback device"
            ) from None
        try:
            fmt = pyvirtualcam.PixelFormat.BGR
            self._camera: Any = pyvirtualcam.Camera(info.width, info.height, float(info.fps), fmt=fmt)
        except (RuntimeError, ValueError) as exc:
            reason = " ".join(str(exc).split())
            raise DeviceError(
                f"no virtual camera device ({reason}); on Linux run 'sudo modprobe v4l2loopback devices=1',"
                " on Windows/macOS install OBS (its virtual camera)"
            ) from exc
        log.info("virtual camera: %s", self._camera.device)

    def send(self, frame: Image, captured: CapturedFrame) -> None:
        """Hand the frame to the virtual camera."""
        self._camera.send(frame)

    def close(self) -> None:
        """Release the device."""
        self._camera.close()


class RecordSink:
    """Records the clean frames (no HUD) with their capture timestamps, labelled as AI-generated and watermarked
    like every other output (`faceweave.app.output`); the file is finalised on close, even after Ctrl-C or a
    source that dropped mid-way, and appears under its name only when complete.
    """

    overlay = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        info: SourceInfo,
        settings: Settings,
        options: EncodeOptions | None = None,
        label: Label | None = None,
    ) -> None:
        video = recording_info(info.name, info.width, info.height, info.fps)
        self._time_base = video.time_base
        options = options or EncodeOptions(preset="veryfast")
        self._writer = labelled_video_writer(Path(path), video, settings, label=label, options=options)
        self.frames = 0
        self._start: float | None = None  # the recording's timeline starts at its first frame

    def send(self, frame: Image, captured: CapturedFrame) -> None:
        """Queue the frame for encoding at its capture time."""
        if self._start is None:
            self._start = captured.seconds
        self._writer.write(frame, round((captured.seconds - self._start) / self._time_base))
        self.frames += 1

    def close(self) -> None:
        """Finish the file (flush the encoder, move it into place); without a single frame nothing is written."""
        if self.frames == 0:  # an empty file would not play, and must not replace one already there
            log.warning("nothing recorded (no frame reached the recording); '%s' not written", self._writer.path)
            self._writer.abort()
            return
        self._writer.close()
