"""Live swaps for /v1/live: a bounded set of engine threads lent to sessions, the newest-frame slot of a connection,
and one connection's swap state (engine, bindings, Stream, label)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from faceweave.app.output import encode_labelled_image
from faceweave.engine import Bindings, Engine, Stream
from faceweave.media.image_io import LoadedImage
from faceweave.provenance.label import Label, label_for
from faceweave.service.engine import SwapEngine
from faceweave.service.uploads import decode_upload
from faceweave.settings import Settings

T = TypeVar("T")

LIVE_ENGINES = 2
"""Engines (settings) a live worker keeps warm: a change of options loads another (about a second)."""
LIVE_IDENTITIES = 4
"""Source identities a live worker keeps: the next session with the same photos starts at once."""


class LiveBusyError(Exception):
    """Every live worker is lent to a session (or live is off): try again later."""


class LiveWorker:
    """One engine thread: a SwapEngine used by this worker's single thread only (MediaPipe graphs are not
    thread-safe), and one Stream per engine, reset for each session so its Face Mesh graphs are reused.

    Example:
        >>> worker = LiveWorker(Settings())  # doctest: +SKIP
        >>> worker.run(lambda engine, streams: engine.cached).result()  # doctest: +SKIP
        (0, 0)
    """

    def __init__(self, base: Settings, name: str = "faceweave-live") -> None:
        self._engine = SwapEngine(base, LIVE_ENGINES, LIVE_IDENTITIES)
        self._streams: weakref.WeakKeyDictionary[Engine, Stream] = weakref.WeakKeyDictionary()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)

    def run(self, task: Callable[[SwapEngine, LiveWorker], T]) -> Future[T]:
        """Run `task(engine, worker)` on this worker's thread, after the tasks submitted before it."""
        return self._executor.submit(task, self._engine, self)

    def fresh_stream(self, engine: Engine) -> Stream:
        """(Worker thread) the engine's Stream, reset: a new run that reuses the previous run's graphs."""
        stream = self._streams.get(engine)
        if stream is None:
            stream = self._streams[engine] = engine.stream()
        else:
            stream.reset()
        return stream

    def close(self) -> None:
        """End the thread once the task it runs now is done (tasks still waiting are cancelled)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class LiveWorkers:
    """At most `limit` live sessions at once, each lent a worker of its own; a returned worker keeps its engines and
    identities warm for the next session.

    Example:
        >>> workers = LiveWorkers(Settings(), limit=2)  # doctest: +SKIP
        >>> worker = workers.acquire(); workers.release(worker)  # doctest: +SKIP
    """

    def __init__(self, base: Settings, limit: int) -> None:
        self._base = base
        self._limit = limit
        self._idle: list[LiveWorker] = []
        self._made = 0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        """Sessions allowed at once (0: live is off)."""
        return self._limit

    @property
    def active(self) -> int:
        """Sessions holding a worker now."""
        with self._lock:
            return self._made - len(self._idle)

    def acquire(self) -> LiveWorker:
        """An idle worker (made on first need); LiveBusyError when `limit` sessions hold one each."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self._made >= self._limit:
                raise LiveBusyError(_busy_reason(self._made, self._limit))
            self._made += 1
            index = self._made
        return LiveWorker(self._base, f"faceweave-live-{index}")

    def release(self, worker: LiveWorker) -> None:
        """Give a worker back (its thread may still finish the frame in flight: the next session's tasks wait)."""
        with self._lock:
            self._idle.append(worker)

    def close(self) -> None:
        """End every idle worker's thread (at shutdown)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()


def _busy_reason(running: int, limit: int) -> str:
    if limit == 0:
        return "live sessions are turned off on this server (--max-live-sessions 0)"
    return f"{running} live session{'s are' if running > 1 else ' is'} running, the most this server allows"


@dataclasses.dataclass(frozen=True)
class LiveSources:
    """A session's decoded source photos (one person) and the sha256 of their bytes (`digest_sources`)."""

    photos: tuple[LoadedImage, ...]
    digest: str


@dataclasses.dataclass(frozen=True)
class LiveAnswer:
    """One swapped frame: the labelled, watermarked JPEG, faces found and swapped, ms from decode to encode."""

    data: bytes
    faces: int
    swapped: int
    ms: float


@dataclasses.dataclass(frozen=True)
class _Bound:
    settings: Settings
    engine: Engine
    bindings: Bindings
    stream: Stream
    label: Label


class LiveRun:
    """One connection's swap state: the live engine and bindings for the current settings, its Stream (tracking and
    smoothing across frames) and its label. Only its worker's thread calls `prepare` and `swap`.

    Example:
        >>> run = LiveRun(sources, consent=None, max_pixels=3840 * 2160)  # doctest: +SKIP
        >>> worker.run(lambda engine, w: run.swap(engine, w, jpeg, time.monotonic(), settings)).result().faces
        1
    """

    def __init__(self, sources: LiveSources, consent: str | None, max_pixels: int) -> None:
        self._sources = sources
        self._consent = consent
        self._max_pixels = max_pixels
        self._bound: _Bound | None = None

    def prepare(self, engine: SwapEngine, worker: LiveWorker, settings: Settings) -> None:
        """Load the live engine for `settings` and the sources' identity (NoFaceError when a source shows no face);
        a new Stream whenever the settings change. Nothing happens when they did not."""
        if self._bound is not None and self._bound.settings == settings:
            return
        live, bindings = engine.bound(settings, "live", self._sources.digest, self._sources.photos)
        label = label_for(settings, consent=self._consent)
        self._bound = _Bound(settings, live, bindings, worker.fresh_stream(live), label)

    def swap(
        self, engine: SwapEngine, worker: LiveWorker, data: bytes, seconds: float, settings: Settings
    ) -> LiveAnswer:
        """Decode a frame (ServiceError 413/415/422 as an upload), swap it in the run's Stream (`seconds`: when it
        arrived, for smoothing) and encode it as a labelled JPEG, watermarked like every live output frame."""
        began = time.perf_counter()
        self.prepare(engine, worker, settings)
        bound = self._bound
        assert bound is not None, "prepare sets the bound engine"
        frame = decode_upload(data, "frame", self._max_pixels).image
        result = bound.engine.process(frame, bound.bindings, bound.stream, seconds=seconds)
        encoded = encode_labelled_image(result.image, ".jpg", bound.settings, label=bound.label)
        ms = (time.perf_counter() - began) * 1000
        return LiveAnswer(encoded, len(result.faces), len(result.swapped), ms)


@dataclasses.dataclass(frozen=True)
class QueuedFrame:
    """A received frame waiting to be swapped: its 1-based index in the connection, its bytes, when it arrived."""

    index: int
    data: bytes
    seconds: float


class FrameSlot:
    """The newest unprocessed frame of one connection (one event loop): `put` overwrites, `take` waits.

    Frames are never queued: a frame put while another waits replaces it and counts as dropped.

    Example:
        >>> slot = FrameSlot()
        >>> slot.put(b"a"), slot.put(b"b"), slot.dropped
        (1, 2, 1)
    """

    def __init__(self) -> None:
        self.received = 0
        self.dropped = 0
        self._waiting: QueuedFrame | None = None
        self._closed = False
        self._changed = asyncio.Event()

    @property
    def closed(self) -> bool:
        """Whether `close` was called (the connection ended or failed)."""
        return self._closed

    def put(self, data: bytes) -> int:
        """Keep `data` as the newest frame (replacing, and dropping, one still waiting); returns its index."""
        self.received += 1
        if self._waiting is not None:
            self.dropped += 1
        self._waiting = QueuedFrame(self.received, data, time.monotonic())
        self._changed.set()
        return self.received

    async def take(self) -> QueuedFrame | None:
        """The newest frame once there is one (it leaves the slot); None once the slot is closed."""
        while self._waiting is None and not self._closed:
            self._changed.clear()
            await self._changed.wait()
        if self._closed:
            return None
        frame, self._waiting = self._waiting, None
        return frame

    def close(self) -> None:
        """No more frames: a waiting frame is forgotten and `take` answers None."""
        self._closed = True
        self._waiting = None
        self._changed.set()
