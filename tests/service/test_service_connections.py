"""A real server under idle, trickling and too many connections still answers /healthz (issue 19, item 6)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

import uvicorn
from fastapi import FastAPI

from faceweave.service.server import ConnectionLimits, guarded_protocol

LIMITS = ConnectionLimits(header_timeout_s=0.5, max_connections=30, keep_alive_s=1)


@pytest.fixture
def server(make_app: Callable[..., FastAPI]) -> Iterator[int]:
    """The service on a free loopback port, with LIMITS; yields the port."""
    config = uvicorn.Config(
        make_app(warm_up=False), host="127.0.0.1", port=0, log_config=None, access_log=False,
        http=guarded_protocol(LIMITS), timeout_keep_alive=1, lifespan="on",
    )  # fmt: skip
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    port = int(instance.servers[0].sockets[0].getsockname()[1])
    yield port
    instance.should_exit = True
    thread.join(10)


def healthz(port: int) -> int:
    """The status of GET /healthz on a new connection (0 when the connection is refused or dropped)."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(OSError):
            answer = sock.recv(64)
            return int(answer.split()[1]) if answer.startswith(b"HTTP/1.1") else 0
    return 0


def closed(sock: socket.socket) -> bool:
    """Whether the server closed this connection (a read gives end-of-file or a reset)."""
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_idle_and_trickling_connections_are_closed_and_health_answers(server: int, tmp_path: Path) -> None:
    idle = [socket.create_connection(("127.0.0.1", server)) for _ in range(20)]
    trickling = [socket.create_connection(("127.0.0.1", server)) for _ in range(5)]
    try:
        for sock in trickling:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and then one byte now and then, never the blank line
        assert healthz(server) == 200  # 25 open, under the cap: answered at once
        time.sleep(0.3)
        for sock in trickling:
            sock.sendall(b"X")
        time.sleep(0.6)  # past the header deadline
        assert all(closed(sock) for sock in idle + trickling)
        assert healthz(server) == 200
    finally:
        for sock in idle + trickling:
            sock.close()


def test_connections_beyond_the_cap_are_closed_at_once(server: int) -> None:
    opened = [socket.create_connection(("127.0.0.1", server)) for _ in range(LIMITS.max_connections + 10)]
    try:
        time.sleep(0.1)
        assert sum(closed(sock) for sock in opened) >= 10  # no descriptors held for them
        time.sleep(0.6)  # the others miss their header deadline
        assert healthz(server) == 200
    finally:
        for sock in opened:
            sock.close()


def test_a_normal_keep_alive_client_is_not_cut_off(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=3) as sock:
        for _ in range(3):  # three requests on one connection, each sent whole
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while b'{"status":"ok"}' not in answer:  # headers and body may come in two reads
                chunk = sock.recv(4096)
                assert chunk, f"closed after {answer!r}"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
            time.sleep(0.3)  # idle between requests, under the keep-alive time
