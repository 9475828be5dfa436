"""The local batch engine: N worker processes (spawn), each building its Pipeline once, fed through a bounded queue.

The parent hands out at most `max_in_flight` tasks at a time (backpressure: the walk advances only as results come
back), so memory stays flat however many files there are. Workers decode their own inputs (the parent sends paths,
never pixels) and send back small `Outcome`s. A worker that dies (a native crash on some file) costs only the item
it was on, which is recorded as failed; a fresh worker takes its place.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import queue
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from faceweave.batch.worker import Outcome, Task, WorkerConfig, WorkerState
from faceweave.errors import FaceweaveError

log = logging.getLogger(__name__)

Message = tuple[Literal["ready", "start", "done"], int, str | Outcome]
_POLL_SECONDS = 0.5


def worker_main(
    config: WorkerConfig,
    worker_id: int,
    tasks: multiprocessing.Queue[Task | None],
    results: multiprocessing.Queue[Message],
) -> None:
    """A worker process: build the state once, then take tasks until the None sentinel."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops the workers
    state = WorkerState(config)
    results.put(("ready", worker_id, ""))
    while (task := tasks.get()) is not None:
        results.put(("start", worker_id, task.item))
        results.put(("done", worker_id, state.run(task)))


@dataclass
class _Worker:
    process: multiprocessing.context.SpawnProcess
    item: str | None = None
    ready: bool = False


class LocalEngine:
    """A pool of worker processes.

    Example:
        >>> with LocalEngine(WorkerConfig(Settings(), (("me.jpg",),)), workers=2) as engine:  # doctest: +SKIP
        ...     outcomes = list(engine.map(iter(tasks)))
    """

    def __init__(self, config: WorkerConfig, workers: int, max_in_flight: int | None = None) -> None:
        self.config = config
        self.workers = max(1, workers)
        self.max_in_flight = max_in_flight or 2 * self.workers
        self.context = multiprocessing.get_context("spawn")
        self.tasks: multiprocessing.Queue[Task | None] = self.context.Queue()
        self.results: multiprocessing.Queue[Message] = self.context.Queue()
        self.pool: dict[int, _Worker] = {}
        self.next_id = 0
        self.checked = time.monotonic()
        self.start_failures = 0

    def __enter__(self) -> LocalEngine:
        return self  # workers start with the first task: a rerun with nothing to do starts none

    def __exit__(self, *exc_info: object) -> None:
        self.close(graceful=exc_info[0] is None)

    def pids(self) -> list[int]:
        """Process ids of the live workers (for memory sampling)."""
        return [worker.process.pid for worker in self.pool.values() if worker.process.pid is not None]

    def map(self, tasks: Iterator[Task]) -> Iterator[Outcome]:
        """Run tasks, yielding outcomes as they finish (any order); pulls a task only when one is due."""
        in_flight: dict[str, Task] = {}
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < self.max_in_flight:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                if not self.pool:
                    self._start_workers()
                in_flight[task.item] = task
                self.tasks.put(task)
            if not in_flight:
                return
            yield from self._collect(in_flight)

    def _collect(self, in_flight: dict[str, Task]) -> Iterator[Outcome]:
        if time.monotonic() - self.checked > _POLL_SECONDS:
            self.checked = time.monotonic()
            yield from self._replace_dead(in_flight)
        try:
            kind, worker_id, payload = self.results.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            return
        worker = self.pool.get(worker_id)
        if kind == "ready" and worker is not None:
            worker.ready = True
        elif kind == "start" and isinstance(payload, str):
            if worker is not None:
                worker.item = payload
        elif isinstance(payload, Outcome):
            if worker is not None:
                worker.item = None
            in_flight.pop(payload.item, None)
            yield payload

    def _replace_dead(self, in_flight: dict[str, Task]) -> Iterator[Outcome]:
        for worker_id, worker in list(self.pool.items()):
            if worker.process.is_alive():
                continue
            code = worker.process.exitcode
            del self.pool[worker_id]
            self._count_start_failure(worker)
            log.warning("batch worker %d died (exit code %s); starting another", worker_id, code)
            self._start_worker()
            if worker.item is not None and worker.item in in_flight:
                task = in_flight.pop(worker.item)
                yield Outcome(task.item, False, f"worker process died while processing this file (exit code {code})")

    def _start_workers(self) -> None:
        for _ in range(self.workers):
            self._start_worker()

    def _count_start_failure(self, worker: _Worker) -> None:
        self.start_failures += not worker.ready
        if self.start_failures > 2 * self.workers:
            code = worker.process.exitcode
            raise FaceweaveError(f"batch workers exit while starting (exit code {code}); see the messages above")

    def _start_worker(self) -> None:
        worker_id, self.next_id = self.next_id, self.next_id + 1
        process = self.context.Process(
            target=worker_main, args=(self.config, worker_id, self.tasks, self.results), daemon=True
        )
        process.start()
        self.pool[worker_id] = _Worker(process)

    def close(self, graceful: bool = True) -> None:
        """Stop the workers: sentinels and join when graceful, else terminate at once."""
        if graceful:
            for _ in self.pool:
                self.tasks.put(None)
        for worker in self.pool.values():
            if graceful:
                worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
        self.pool.clear()
        self.tasks.close()
        self.results.close()
