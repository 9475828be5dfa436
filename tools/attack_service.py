"""Adversarial check of `faceweave serve` on loopback: slow and surplus connections, metric floods, early 413s, a
video bomb, key isolation, CORS, security headers, private files and server paths in job errors.

Starts a real server (a subprocess on a free 127.0.0.1 port, a temporary --data-dir, keys A and B through
FACEWEAVE_API_KEYS, small limits), runs every attack against it, prints a pass/fail table (Markdown) and exits 1 if
any failed, 0 otherwise; the server is always stopped, Ctrl-C included. The default run takes about a minute on two
cores. `--load` runs only the load check instead: 20 client threads × 45 s of real POST /v1/swap against
`--workers 2`, counting statuses (200, 429 and 503 allowed) and sampling the server's RSS every second.

    .venv/bin/python tools/attack_service.py [--load]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import av
import av.video
import cv2
import numpy as np

from faceweave.media.image_io import encode_image, read_image
from faceweave.samples import sample_path

KEY_A, KEY_B = "attack-key-A-0123456789abcdef", "attack-key-B-0123456789abcdef"
HEADER_TIMEOUT = 2.0
MAX_CONNECTIONS = 200
FRAME_PIXELS = 100_000
ORIGIN = "https://ui.example"
LIMITS = ["--max-upload-mb", "2", "--max-video-mb", "5", "--queue-size", "2", "--header-timeout", str(HEADER_TIMEOUT)]
LIMITS += ["--max-connections", str(MAX_CONNECTIONS), "--max-video-frame-pixels", str(FRAME_PIXELS)]
LIMITS += ["--workers", "1", "--cors-origin", ORIGIN]
LOAD_CLIENTS, LOAD_SECONDS = 20, 45.0
Part = tuple[str, str, bytes]
"""A multipart field: name, file name ("" for a plain form field), content."""


@dataclass(frozen=True)
class Server:
    """A running `faceweave serve` subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path


@dataclass(frozen=True)
class Reply:
    """An HTTP answer; header names lower-cased."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON ({} when it is not)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return {}


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    attack: str
    expected: str
    happened: str
    ok: bool


# --- the server and HTTP ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_server(root: Path, flags: list[str]) -> Iterator[Server]:
    """`faceweave serve` on a free loopback port with data in `root/data` (left for the server to create), ready."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port, data_dir, log_path = int(probe.getsockname()[1]), root / "data", root / "server.log"
    command = [sys.executable, "-m", "faceweave.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    environment = {**os.environ, "FACEWEAVE_API_KEYS": f"{KEY_A},{KEY_B}"}
    with log_path.open("wb") as log:
        process = subprocess.Popen([*command, *flags], stdout=log, stderr=subprocess.STDOUT, env=environment)
    server = Server(process, port, data_dir)
    try:
        wait_ready(server, log_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(server: Server, log_path: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.process.poll() is None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if call(server.port, "GET", "/readyz", timeout=2).status == 200:
                return
        time.sleep(0.5)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the server was not ready within {timeout_s:.0f} s; its log ends:\n{tail}")


def call(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> Reply:
    """One request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def healthz(port: int) -> int:
    """/healthz's status, 0 when the connection fails."""
    try:
        return call(port, "GET", "/healthz", timeout=5).status
    except (OSError, http.client.HTTPException):
        return 0


def multipart(parts: list[Part]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type."""
    boundary = "attack" + os.urandom(8).hex()
    chunks: list[bytes] = []
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks += [f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode(), content, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def post(port: int, path: str, key: str, parts: list[Part], timeout: float = 60) -> Reply:
    body, content_type = multipart(parts)
    return call(port, "POST", path, {"X-API-Key": key, "Content-Type": content_type}, body, timeout)


def swap_parts() -> list[Part]:
    """Hopper as the source, the astronaut as the target."""
    hopper, astronaut = sample_path("hopper").read_bytes(), sample_path("astronaut").read_bytes()
    return [("source", "hopper.jpg", hopper), ("target", "astronaut.png", astronaut)]


def wait_job(port: int, key: str, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """The job's JSON once it is done, failed or cancelled (or as it is after `timeout_s`)."""
    deadline, job = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline:
        job = call(port, "GET", f"/v1/jobs/{job_id}", {"X-API-Key": key}).json()
        if job.get("state") in ("done", "failed", "cancelled"):
            break
        time.sleep(0.5)
    return dict(job)


# --- raw sockets -----------------------------------------------------------------------------------------------------


def open_sockets(port: int, count: int) -> list[socket.socket]:
    """`count` connections that have sent nothing (non-blocking)."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    for sock in sockets:
        sock.setblocking(False)
    return sockets


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def close_times(sockets: list[socket.socket], began: float, until: float) -> list[float | None]:
    """Seconds from `began` until the server closed each socket (None: still open at `until`)."""
    times: list[float | None] = [None] * len(sockets)
    while None in times and time.monotonic() < until:
        for index, sock in enumerate(sockets):
            if times[index] is None and closed_by_server(sock):
                times[index] = time.monotonic() - began
        time.sleep(0.05)
    return times


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def closing(times: list[float | None]) -> str:
    closed = [t for t in times if t is not None]
    span = f", after {min(closed):.1f}–{max(closed):.1f} s" if closed else ""
    return f"{len(closed)}/{len(times)} closed by the server{span}"


# --- the attacks: each returns (what happened, passed) ---------------------------------------------------------------


def idle_connections(server: Server) -> tuple[str, bool]:
    began = time.monotonic()
    sockets = open_sockets(server.port, 150)
    health = healthz(server.port)
    times = close_times(sockets, began, began + HEADER_TIMEOUT + 1)
    close_all(sockets)
    return f"/healthz {health}; {closing(times)}", health == 200 and None not in times


def trickling_headers(server: Server) -> tuple[str, bool]:
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    began = time.monotonic()
    sockets = open_sockets(server.port, 20)
    times: list[float | None] = [None] * len(sockets)
    health = step = 0
    while None in times and time.monotonic() < began + HEADER_TIMEOUT + 2:
        for index, sock in enumerate(sockets):
            if times[index] is None and (closed_by_server(sock) or not send_byte(sock, request[step : step + 1])):
                times[index] = time.monotonic() - began
        health = healthz(server.port) if step == 1 else health
        step += 1
        time.sleep(0.5)
    close_all(sockets)
    return f"/healthz {health}; {closing(times)}", health == 200 and None not in times


def send_byte(sock: socket.socket, byte: bytes) -> bool:
    """False when the connection is gone."""
    try:
        sock.send(byte)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return True


def too_many_connections(server: Server) -> tuple[str, bool]:
    extra = 20
    time.sleep(0.5)  # the earlier attacks' connections are gone
    began = time.monotonic()
    sockets = open_sockets(server.port, MAX_CONNECTIONS + extra)
    time.sleep(0.5)
    refused = [index for index, sock in enumerate(sockets) if closed_by_server(sock)]
    while_full = healthz(server.port)
    held = [sock for index, sock in enumerate(sockets) if index not in refused]
    times = close_times(held, began, began + HEADER_TIMEOUT + 1)
    health = healthz(server.port)
    close_all(sockets)
    which = "the last" if refused == list(range(MAX_CONNECTIONS, MAX_CONNECTIONS + extra)) else "not just the last"
    happened = (
        f"{len(refused)} closed within 0.5 s ({which} {extra} opened); /healthz while full {while_full or 'refused'}"
    )
    return f"{happened}; the others: {closing(times)}; then /healthz {health}", len(refused) == extra and health == 200


def metrics_cardinality(server: Server, count: int = 2000) -> tuple[str, bool]:
    rng, statuses = random.Random(4), Counter[int]()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    deadline = time.monotonic() + 90
    for index in range(count):
        if time.monotonic() > deadline:
            break
        token = rng.randbytes(6).hex()
        method = ("GET", rng.choice(("PROPFIND", "BREW", "TRACE", "MKCOL", "LOCK")), "X" + token.upper())[index % 3]
        path = rng.choice((f"/v1/jobs/x/{token}", f"/{token}", f"/v1/{token}/{token}", f"/v1/jobs/{token}"))
        try:
            connection.request(method, path)
            response = connection.getresponse()
            response.read()
            statuses[response.status] += 1
        except (OSError, http.client.HTTPException):
            statuses[0] += 1
            connection.close()  # reopened by the next request
    connection.close()
    text = call(server.port, "GET", "/metrics").body.decode()
    lines = sum(line.startswith("faceweave_http_requests_total{") for line in text.splitlines())
    sent = ", ".join(f"{status}×{n}" for status, n in sorted(statuses.items()))
    return f"{sum(statuses.values())} sent ({sent}); {lines} request-counter lines", lines < 40


def early_413(server: Server) -> tuple[str, bool]:
    declared, chunk = 200 * 1024 * 1024, b"x" * 65536
    head = f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY_A}\r\n"
    head += f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {declared}\r\n\r\n"
    sent, answer, began = 0, b"", time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head.encode())
        while not answer and time.monotonic() < began + 10:
            if select.select([sock], [], [], 0.05)[0]:
                answer = sock.recv(65536) or b"EOF"
            else:
                with contextlib.suppress(OSError):
                    sock.sendall(chunk)  # slowly: 64 KiB every 50 ms
                    sent += len(chunk)
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else repr(answer[:20])
    happened = f"{status} after {time.monotonic() - began:.2f} s, {sent / 2**20:.1f} of {declared // 2**20} MB sent"
    return happened, status == "413" and sent < declared // 20


def video_bomb(server: Server, folder: Path) -> tuple[str, bool]:
    path = folder / "bomb.mp4"
    write_face_video(path, (640, 480), frames=5)
    parts = [("source", "hopper.jpg", sample_path("hopper").read_bytes()), ("target", "clip.mp4", path.read_bytes())]
    reply = post(server.port, "/v1/jobs", KEY_A, parts)
    detail = str(reply.json().get("detail", ""))
    return f"{reply.status} {detail!r}", reply.status == 413 and f"{FRAME_PIXELS} pixels" in detail


def write_face_video(path: Path, size_wh: tuple[int, int], frames: int) -> None:
    """A short H.264 MP4 of the astronaut's face at `size_wh`."""
    face = cv2.resize(read_image(sample_path("astronaut")).image, size_wh, interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15, options={"preset": "ultrafast"})
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = size_wh[0], size_wh[1], "yuv420p"
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(face, format="bgr24")))
        container.mux(stream.encode(None))


def separate_keys(server: Server) -> tuple[str, bool]:
    reply = post(server.port, "/v1/jobs", KEY_A, swap_parts())
    if reply.status != 202:
        return f"A's job answered {reply.status} {reply.body[:80]!r}", False
    job = f"/v1/jobs/{reply.json()['id']}"
    asks = (("GET", job), ("GET", job + "/result"), ("DELETE", job))
    as_b = [call(server.port, method, path, {"X-API-Key": KEY_B}).status for method, path in asks]
    state = wait_job(server.port, KEY_A, job.rsplit("/", 1)[1]).get("state")
    result = call(server.port, "GET", job + "/result", {"X-API-Key": KEY_A})
    happened = f"B: GET {as_b[0]}, result {as_b[1]}, DELETE {as_b[2]}; A: job {state}, result {result.status}"
    return happened, as_b == [404, 404, 404] and state == "done" and result.status == 200


def cors(server: Server) -> tuple[str, bool]:
    def preflight(origin: str) -> Reply:
        asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
        return call(server.port, "OPTIONS", "/v1/swap", {"Origin": origin, **asked})

    ours, theirs = preflight(ORIGIN), preflight("https://evil.example")
    allowed = ours.headers.get("access-control-allow-origin")
    foreign = theirs.headers.get("access-control-allow-origin")
    keyless = call(server.port, "POST", "/v1/swap", {"Origin": ORIGIN}, b"").status
    happened = f"preflight {ours.status} allow-origin {allowed}; evil.example {theirs.status} allow-origin {foreign}"
    ok = ours.status == 200 and allowed == ORIGIN and foreign is None and keyless == 401
    return happened + f"; POST without key {keyless}", ok


SECURITY_HEADERS = (
    ("content-security-policy", "frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
)


def security_headers(server: Server) -> tuple[str, bool]:
    answers = {"/": call(server.port, "GET", "/"), "401": call(server.port, "GET", "/v1/jobs/nope")}
    answers["404"] = call(server.port, "GET", "/no-such-page")
    missing = [
        f"{name} lacks {header}"
        for name, reply in answers.items()
        for header, value in SECURITY_HEADERS
        if value not in reply.headers.get(header, "")
    ]
    docs, redoc = call(server.port, "GET", "/docs").status, call(server.port, "GET", "/redoc").status
    statuses = "/".join(str(reply.status) for reply in answers.values())
    happened = f"answers {statuses}: {'; '.join(missing) or 'all three headers on each'}; /docs {docs}, /redoc {redoc}"
    return happened, not missing and docs == 404 and redoc == 404


def private_files(server: Server) -> tuple[str, bool]:
    """Modes under the data dir while an image job's uploads are stored (queued or running) and after it is done."""
    reply = post(server.port, "/v1/jobs", KEY_A, swap_parts())
    modes = file_modes(server.data_dir)
    state = wait_job(server.port, KEY_A, reply.json()["id"]).get("state") if reply.status == 202 else reply.status
    modes |= file_modes(server.data_dir)
    uploads = sum("/inputs/" in name for name in modes)
    wrong = [f"{name} {mode:o}" for name, (mode, want) in sorted(modes.items()) if mode != want]
    happened = f"{len(modes)} paths ({uploads} uploads, job {state}): " + (", ".join(wrong[:4]) or "all private")
    return happened + (f" and {len(wrong) - 4} more" if len(wrong) > 4 else ""), len(modes) > 1 and not wrong


def file_modes(root: Path) -> dict[str, tuple[int, int]]:
    """(mode, mode wanted) of `root` and everything under it, by path from its parent."""
    modes = {}
    for path in [root, *root.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):  # a job's inputs go when it ends
            mode = path.lstat().st_mode & 0o777
            modes[str(path.relative_to(root.parent))] = (mode, 0o700 if path.is_dir() else 0o600)
    return modes


def error_paths(server: Server) -> tuple[str, bool]:
    hopper = ("source", "hopper.jpg", sample_path("hopper").read_bytes())
    corrupt = b"\xff\xd8\xff\xe0" + random.Random(11).randbytes(4096)
    blank = encode_image(np.full((240, 320, 3), 128, np.uint8), ".png")  # no face: with require_face, a failed job
    outcomes = [job_error(server, [hopper, ("target", "broken.jpg", corrupt)])]
    outcomes.append(job_error(server, [hopper, ("target", "blank.png", blank), ("require_face", "", b"true")]))
    root = str(server.data_dir.parent)
    leaks = [message for _, message in outcomes if root in message or str(Path(root).resolve()) in message]
    happened = "; ".join(f"{how}: {message[:70]!r}" for how, message in outcomes)
    ok = outcomes[0][0] in ("422 at upload", "job failed") and outcomes[1][0] == "job failed" and not leaks
    return happened + ("; LEAKS the data dir" if leaks else ""), ok


def job_error(server: Server, parts: list[Part]) -> tuple[str, str]:
    """How a job went wrong ("422 at upload", "job failed", ...) and its message."""
    reply = post(server.port, "/v1/jobs", KEY_A, parts)
    if reply.status != 202:
        return f"{reply.status} at upload", str(reply.json().get("detail", reply.body[:200]))
    job = wait_job(server.port, KEY_A, reply.json()["id"])
    return f"job {job.get('state')}", str(job.get("error"))


# --- the runs --------------------------------------------------------------------------------------------------------

Attack = Callable[[Server], tuple[str, bool]]


def attacks(folder: Path) -> list[tuple[str, str, Attack]]:
    """(name, expected, attack), in the order they run."""
    settle = HEADER_TIMEOUT + 1
    return [
        ("1 idle connections", f"150 silent sockets: /healthz 200, all closed within {settle:g} s", idle_connections),
        ("2 trickling headers", f"20 × 1 byte/0.5 s: closed within {HEADER_TIMEOUT + 2:g} s", trickling_headers),
        (
            "3 too many connections",
            f"{MAX_CONNECTIONS}+20 open: 20 closed at once, /healthz 200 later",
            too_many_connections,
        ),
        ("4 metrics cardinality", "2,000 random paths/methods: < 40 counter lines", metrics_cardinality),
        ("5 early 413", "Content-Length 200 MB sent slowly: 413 before 5% is sent", early_413),
        ("6 video bomb", f"640×480 MP4, limit {FRAME_PIXELS} px: 413 naming it", lambda s: video_bomb(s, folder)),
        ("7 keys are identities", "B gets 404 on A's job, its result and DELETE", separate_keys),
        ("8 CORS preflight", f"{ORIGIN} allowed (200), others not; POST without key 401", cors),
        ("9 security headers", "CSP, nosniff, X-Frame-Options on / and errors; /docs 404", security_headers),
        ("10 private data", "data dir, folders 0700; files 0600, uploads too", private_files),
        ("11 job errors hide paths", "corrupt / face-less target fails; no data-dir path in it", error_paths),
    ]


def run_attacks(root: Path) -> int:
    rows = []
    with running_server(root, LIMITS) as server:
        for name, expected, attack in attacks(root):
            began = time.monotonic()
            try:
                happened, ok = attack(server)
            except Exception as exc:  # a crash of one attack (or of the server) is its FAIL, not the run's end
                happened, ok = f"error: {exc!r}"[:200], False
            print(f"{'PASS' if ok else 'FAIL'} {name} ({time.monotonic() - began:.1f} s)", file=sys.stderr)
            rows.append(Row(name, expected, happened, ok))
    print("| attack | expected | happened | result |\n|---|---|---|---|")
    for row in rows:
        cells = (row.attack, row.expected, row.happened, "PASS" if row.ok else "FAIL")
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return 0 if all(row.ok for row in rows) else 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sample_rss(pid: int, samples: list[float], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        with contextlib.suppress(OSError):
            samples.append(rss_mb(pid))


def swap_loop(port: int, key: str, until: float, statuses: Counter[int], lock: threading.Lock) -> None:
    """POST /v1/swap (hopper onto the astronaut) until `until`, honouring Retry-After (at most 5 s)."""
    parts = swap_parts()
    while time.monotonic() < until:
        try:
            reply = post(port, "/v1/swap", key, parts, timeout=120)
            status, wait = reply.status, float(reply.headers.get("retry-after", "0"))
        except (OSError, http.client.HTTPException):
            status, wait = 0, 0.0
        with lock:
            statuses[status] += 1
        time.sleep(min(wait, 5.0, max(0.0, until - time.monotonic())))


def run_load(root: Path) -> int:
    statuses, lock, stop = Counter[int](), threading.Lock(), threading.Event()
    with running_server(root, ["--workers", "2"]) as server:
        samples = [rss_mb(server.process.pid)]
        sampler = threading.Thread(target=sample_rss, args=(server.process.pid, samples, stop), daemon=True)
        until = time.monotonic() + LOAD_SECONDS
        keys = [KEY_A if index % 2 else KEY_B for index in range(LOAD_CLIENTS)]
        arguments = [(server.port, key, until, statuses, lock) for key in keys]
        clients = [threading.Thread(target=swap_loop, args=args, daemon=True) for args in arguments]  # Ctrl-C ends them
        for thread in [sampler, *clients]:
            thread.start()
        for thread in clients:
            thread.join()
        stop.set()
        sampler.join()
    counts = ", ".join(f"{status}×{n}" for status, n in sorted(statuses.items()))
    print(f"{LOAD_CLIENTS} clients × {LOAD_SECONDS:g} s of POST /v1/swap, --workers 2: {counts}")
    print(f"server RSS: {samples[0]:.0f} MB when ready, peak {max(samples):.0f} MB ({len(samples)} samples)")
    unexpected = sorted(set(statuses) - {200, 429, 503})
    if unexpected:
        print(f"FAIL: unexpected statuses {unexpected}")
    return 1 if unexpected else 0


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Adversarial loopback check of `faceweave serve`.")
    parser.add_argument(
        "--load", action="store_true", help=f"only the load check ({LOAD_CLIENTS} × {LOAD_SECONDS:g} s)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)  # `kill` stops the server too
    try:
        with tempfile.TemporaryDirectory(prefix="faceweave-attack-") as folder:
            return run_load(Path(folder)) if args.load else run_attacks(Path(folder))
    except KeyboardInterrupt:
        print("interrupted (the server was stopped)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
