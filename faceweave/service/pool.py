"""A bounded pool of worker threads, each with its own warm SwapEngine; full queue → QueueFullError (HTTP 503)."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from faceweave.service.engine import SwapEngine

T = TypeVar("T")
Task = Callable[[SwapEngine], Any]
log = logging.getLogger(__name__)

PRIORITY_SWAP = 0
PRIORITY_JOB = 1


class QueueFullError(Exception):
    """Every worker is busy and the waiting line is at its limit: try again later."""


@dataclass(order=True)
class _Item:
    priority: int
    sequence: int
    task: Task | None = field(compare=False)
    future: Future[Any] | None = field(compare=False)


class WorkerPool:
    """`workers` threads take tasks (callables given the thread's engine) from one priority queue.

    At most `queue_size` tasks wait; interactive swaps go before jobs. The engines load their models at
    start-up when `warm` is set; `ready` turns true once every engine has.

    Example:
        >>> pool = WorkerPool(lambda: SwapEngine(Settings()), workers=2, queue_size=8)  # doctest: +SKIP
        >>> pool.start(); pool.submit(lambda engine: engine.swap(request)).result()  # doctest: +SKIP
    """

    def __init__(self, engine_factory: Callable[[], SwapEngine], workers: int, queue_size: int, warm: bool = True):
        self._factory = engine_factory
        self._workers = workers
        self._limit = queue_size
        self._warm = warm
        self._queue: queue.PriorityQueue[_Item] = queue.PriorityQueue()
        self._lock = threading.Lock()
        self._sequence = itertools.count()
        self._threads: list[threading.Thread] = []
        self._ready = 0
        self._busy = 0
        self._failed: BaseException | None = None

    def start(self) -> None:
        """Start the worker threads (models load in them, in parallel)."""
        for index in range(self._workers):
            thread = threading.Thread(target=self._run, name=f"faceweave-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def ready(self) -> bool:
        """Whether every worker has its models loaded."""
        return self._ready == self._workers and self._failed is None

    @property
    def depth(self) -> int:
        """Tasks waiting for a worker."""
        return self._queue.qsize()

    @property
    def full(self) -> bool:
        """Whether a new task would be refused now (`queue_size` tasks wait)."""
        return self._queue.qsize() >= self._limit

    @property
    def busy(self) -> int:
        """Workers running a task now."""
        return self._busy

    def submit(
        self, task: Callable[[SwapEngine], T], *, priority: int = PRIORITY_SWAP, force: bool = False
    ) -> Future[T]:
        """Queue a task; QueueFullError when `queue_size` tasks already wait (unless `force`, for restored jobs)."""
        future: Future[T] = Future()
        with self._lock:
            if not force and self._queue.qsize() >= self._limit:
                raise QueueFullError(f"{self._queue.qsize()} requests waiting, limit {self._limit}")
            self._queue.put(_Item(priority, next(self._sequence), task, future))
        return future

    def stop(self, timeout: float = 5.0) -> None:
        """Let running tasks finish (up to `timeout` s each), cancel waiting ones, end the threads."""
        for _ in self._threads:
            self._queue.put(_Item(-1, next(self._sequence), None, None))
        for thread in self._threads:
            thread.join(timeout)
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item.future is not None:
                item.future.cancel()

    def _run(self) -> None:
        try:
            engine = self._factory()
            if self._warm:
                engine.warm()
        except BaseException as exc:  # a worker without models must not take work
            log.exception("worker failed to load its models")
            self._failed = exc
            return
        with self._lock:
            self._ready += 1
        while True:
            item = self._queue.get()
            if item.task is None or item.future is None:
                return
            if item.future.set_running_or_notify_cancel():
                self._execute(engine, item.task, item.future)

    def _execute(self, engine: SwapEngine, task: Task, future: Future[Any]) -> None:
        with self._lock:
            self._busy += 1
        try:
            future.set_result(task(engine))
        except BaseException as exc:  # handed to the waiting request, which maps it to a status
            future.set_exception(exc)
        finally:
            with self._lock:
                self._busy -= 1
