"""The local batch engine: N spawned worker processes, each building its Pipeline once, each on its own pipe.

The parent hands out at most `max_in_flight` tasks at a time, each to the worker holding the fewest (backpressure:
the walk advances only as results come back), so memory stays flat however many files there are. Workers decode
their own inputs (the parent sends paths, never pixels) and send back small `Outcome`s. Every worker has a pipe of
its own and the parent knows which tasks each one holds, in order, so a worker that dies (a native crash on some
file, the out-of-memory killer, kill -9) breaks nothing shared: the file it had begun is recorded as failed, the
tasks queued behind it go to the others, its half-written temp output is removed, and a fresh worker is started
when the next task needs one. Each worker starts with its thread budget (`WorkerConfig.threads`) in its environment
and, when the budgets fit in the usable CPUs, pinned to CPUs of its own (a replacement takes the dead one's), see
`faceweave.batch.threads`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.context
import selectors
import signal
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from faceweave.batch.manifest import remove_partial_files
from faceweave.batch.threads import pin_process, thread_environment, worker_cpus, worker_environment
from faceweave.batch.worker import Outcome, Task, WorkerConfig, WorkerState
from faceweave.errors import FaceweaveError

log = logging.getLogger(__name__)

_WAIT_SECONDS = 1.0


def worker_main(
    config: WorkerConfig, connection: Connection, started: ctypes.c_int64, cpus: tuple[int, ...] | None = None
) -> None:
    """A worker process: build the state once, then run tasks from the pipe until None (or the parent is gone).

    `started` (shared memory) counts the tasks it began, -1 while it loads: the parent reads it only if the worker
    dies, to tell a file that killed it from tasks it never began, with no message (and no wake-up) per file.
    `cpus`: the CPUs it is pinned to, with the threads its models start (None: wherever the OS puts it).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops the workers
    if cpus is not None:
        pin_process(cpus)
    state = WorkerState(config)
    started.value = 0
    with contextlib.suppress(EOFError, BrokenPipeError):  # the parent is gone: nobody to report to
        while (task := connection.recv()) is not None:
            started.value += 1
            connection.send(state.run(task))


@dataclass
class _Worker:
    """A live worker: its process, the parent's end of its pipe, and the tasks it holds (oldest first)."""

    process: multiprocessing.context.SpawnProcess
    connection: Connection
    started: ctypes.c_int64
    slot: int
    """Which of the pool's places (0 .. workers - 1) it fills: its CPUs, taken over by a replacement."""
    tasks: deque[Task] = field(default_factory=deque)
    answered: int = 0

    @property
    def ready(self) -> bool:
        """Whether it got past loading its models."""
        return self.started.value >= 0

    @property
    def busy(self) -> bool:
        """Whether it began tasks[0] (a death then fails that file; tasks not begun are handed on)."""
        return self.started.value > self.answered


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
        self.environment = thread_environment(config.threads)
        self.pool: dict[int, _Worker] = {}
        self.selector = selectors.DefaultSelector()  # every worker's pipe and process sentinel
        self.handed_back: deque[Task] = deque()  # held by a worker that died before beginning them
        self.next_id = 0
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
        exhausted = False
        while True:
            while self._in_flight() < self.max_in_flight:
                task = self.handed_back.popleft() if self.handed_back else None
                if task is None and not exhausted:
                    task = next(tasks, None)
                    exhausted = task is None
                if task is None:
                    break
                self._send(task)
            if not self._in_flight():
                return
            yield from self._collect()

    def _in_flight(self) -> int:
        return sum(len(worker.tasks) for worker in self.pool.values())

    def _send(self, task: Task) -> None:
        while len(self.pool) < self.workers:
            self._start_worker()
        worker = min(self.pool.values(), key=lambda candidate: len(candidate.tasks))
        worker.tasks.append(task)  # kept even if the send fails: a dead worker's tasks not begun are handed on
        with contextlib.suppress(OSError):  # broken pipe: it died, and its sentinel says so on the next wait
            worker.connection.send(task)

    def _collect(self) -> Iterator[Outcome]:
        for key, _ in self.selector.select(timeout=_WAIT_SECONDS):
            worker = self.pool.get(key.data)
            if worker is None:  # both handles of a dead worker can be ready at once
                continue
            if key.fileobj is worker.connection:
                outcome = self._receive(worker)
                if outcome is not None:
                    yield outcome
                    continue
            yield from self._drain(worker)  # it died: what it sent before still counts
            yield from self._bury(key.data)

    def _receive(self, worker: _Worker) -> Outcome | None:
        """The one outcome the selector says is waiting; None at end-of-file (it died)."""
        try:
            outcome: Outcome = worker.connection.recv()
        except (EOFError, OSError):
            return None
        return _answered(worker, outcome)

    def _drain(self, worker: _Worker) -> Iterator[Outcome]:
        with contextlib.suppress(EOFError, OSError):
            while worker.connection.poll():
                yield _answered(worker, worker.connection.recv())

    def _bury(self, worker_id: int) -> Iterator[Outcome]:
        worker = self.pool.pop(worker_id)
        worker.process.join(timeout=5)
        if worker.process.is_alive():  # its pipe ended but it lingers: it cannot work any more
            worker.process.kill()
            worker.process.join(timeout=5)
        self.selector.unregister(worker.connection)
        self.selector.unregister(worker.process.sentinel)
        worker.connection.close()
        how = _exit_text(worker.process.exitcode)
        log.warning("batch worker %d (pid %s) died (%s); a new one starts with the next task", worker_id,
                    worker.process.pid, how)  # fmt: skip
        self._count_start_failure(worker)
        if worker.busy and worker.tasks:
            task = worker.tasks.popleft()
            remove_partial_files(Path(task.output))  # its temp output, half written
            reason = f"worker process died while processing this file ({how}); --retry-failed tries it again"
            yield Outcome(task.item, False, reason)
        self.handed_back.extend(worker.tasks)

    def _count_start_failure(self, worker: _Worker) -> None:
        self.start_failures += not worker.ready
        if self.start_failures > 2 * self.workers:
            how = _exit_text(worker.process.exitcode)
            raise FaceweaveError(f"batch workers exit while starting ({how}); see the messages above")

    def _start_worker(self) -> None:
        worker_id, self.next_id = self.next_id, self.next_id + 1
        slot = min(set(range(self.workers)) - {worker.slot for worker in self.pool.values()})
        cpus = worker_cpus(slot, self.workers, self.config.threads)  # None: budgets overlap, not pinned
        parent_end, child_end = self.context.Pipe(duplex=True)
        started = self.context.RawValue(ctypes.c_int64, -1)
        process = self.context.Process(
            target=worker_main, args=(self.config, child_end, started, cpus), daemon=True,
            name=f"faceweave-batch-{worker_id}",
        )  # fmt: skip
        with worker_environment(self.environment):  # read by BLAS/OpenMP as the worker loads numpy
            process.start()
        child_end.close()  # the worker holds it now; closing ours lets its death show as end-of-file
        self.pool[worker_id] = _Worker(process, parent_end, started, slot)
        self.selector.register(parent_end, selectors.EVENT_READ, worker_id)
        self.selector.register(process.sentinel, selectors.EVENT_READ, worker_id)

    def close(self, graceful: bool = True) -> None:
        """Stop the workers: a None task each and join when graceful, else terminate at once."""
        for worker in self.pool.values():
            if graceful:
                with contextlib.suppress(OSError):
                    worker.connection.send(None)
        for worker in self.pool.values():
            if graceful:
                worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
            worker.connection.close()
        self.pool.clear()
        self.selector.close()


def _answered(worker: _Worker, outcome: Outcome) -> Outcome:
    """Note that a worker answered its oldest task (a worker answers in the order it got them)."""
    finished = worker.tasks.popleft()
    worker.answered += 1
    assert finished.item == outcome.item, "a worker answers its tasks in the order it got them"
    return outcome


def _exit_text(code: int | None) -> str:
    """How a process ended, in words: "exit code 1", "killed by SIGKILL (often the out-of-memory killer)"."""
    if code is None or code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"killed by {name}" + (" (often the out-of-memory killer)" if name == "SIGKILL" else "")
