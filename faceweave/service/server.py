"""The HTTP server's connection guards: what uvicorn leaves open to idle, trickling or too many connections."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send a request's headers, and how many connections may be open at once.

    Attributes:
        header_timeout_s: from the first byte of a request (or the connection's opening) to its last header line;
            a connection that takes longer (idle, or trickling a byte at a time) is closed.
        max_connections: open connections beyond this are closed as soon as they are accepted.
        keep_alive_s: an idle connection between requests is closed after this.
    """

    header_timeout_s: float = 10.0
    max_connections: int = 512
    keep_alive_s: float = 5.0


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with `limits` (pass as `uvicorn.run(..., http=...)`).

    uvicorn closes a connection that idles *between* requests, but not one that opens and sends nothing, nor one that
    trickles its headers: a few hundred of those stalled the service and a thousand exhausted its file descriptors.
    """

    class Guarded(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                transport.close()  # refused at once: an error page would cost what the cap protects
                return
            self._await_headers()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and self.conn.their_state is h11.IDLE:
                self._await_headers()  # a request (the next one of a kept-alive connection) starts arriving
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._stop_waiting()  # its headers are in: the body has its own limits (size, the Gate)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def _await_headers(self) -> None:
            self._deadline = self.loop.call_later(limits.header_timeout_s, self._headers_too_slow)

        def _stop_waiting(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _headers_too_slow(self) -> None:
            self._deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return Guarded
