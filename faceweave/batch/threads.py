"""Per-worker thread budgets: how many threads each batch worker's native pools may use, and how that is applied.

A worker's parallel pools are OpenCV's (`cv2.setNumThreads`, applied in the worker) and the BLAS/OpenMP libraries'
(OpenBLAS under numpy), which read their size from the environment once, when the library loads. A spawned worker
loads numpy while it unpickles its target, before any of its own code runs, so the variables must already be in the
environment it starts with: `worker_environment` sets them in this process only while a worker starts.

Without a budget each worker's spare OpenBLAS thread spins after every small BLAS call, CPU spent for nothing
(figures: docs/batch.md).
MediaPipe's legacy solutions run TFLite/XNNPACK without a thread pool, but a worker's work hops between its main
thread and six graph threads several times per file; unpinned, a woken thread often queued behind the other worker
while the other core sat idle. So when the workers' budgets fit in the usable CPUs, each worker and the threads its
models start are pinned to CPUs of their own (`worker_cpus`, `pin_process`). The parent is not pinned: it needs
well under 1 ms per file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence

from faceweave.runtime import THREAD_VARIABLES, pin_threads, usable_cpu_ids

log = logging.getLogger(__name__)

_ENVIRONMENT_LOCK = threading.Lock()  # the environment is per process, so is the lock around changing it


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else the CPU count)."""
    return len(usable_cpu_ids())


def worker_cpus(slot: int, workers: int, threads: int, cpus: Sequence[int] | None = None) -> tuple[int, ...] | None:
    """The CPUs worker `slot` (0 .. workers - 1) is pinned to: `threads` usable CPUs of its own, or None (not
    pinned) when the workers' budgets together need more CPUs than there are, or the slot would get them all.

    Example: ``worker_cpus(1, workers=2, threads=1, cpus=[0, 1])`` gives ``(1,)``;
    ``worker_cpus(0, workers=3, threads=1, cpus=[0, 1])`` gives ``None``
    """
    usable = tuple(cpus) if cpus is not None else usable_cpu_ids()
    if not 0 <= slot < workers or workers * threads > len(usable) or threads >= len(usable):
        return None
    return tuple(usable[slot * threads : (slot + 1) * threads])


def pin_process(cpus: Sequence[int]) -> bool:
    """Bind every thread of this process to `cpus` (threads it starts later inherit it); False where it cannot.

    Example: ``pin_process([1])`` in a worker: it and the threads its models start run on CPU 1 only
    """
    try:
        return pin_threads(cpus)
    except OSError as error:  # the CPUs were taken from us (cgroup cpuset changed): run unpinned
        log.warning("could not pin batch worker to CPUs %s (%s); it runs unpinned", list(cpus), error)
        return False


def default_threads(workers: int, cpus: int | None = None) -> int:
    """Threads per worker when none are asked for: the usable CPUs shared out, at least one.

    Example: ``default_threads(2, cpus=8)`` gives ``4``; ``default_threads(4, cpus=2)`` gives ``1``
    """
    return max(1, (cpus if cpus is not None else usable_cpus()) // max(1, workers))


def thread_environment(threads: int) -> dict[str, str]:
    """The variables that size a new process's BLAS/OpenMP pools: one thread, whatever the budget (`threads`
    sizes OpenCV's pool). faceweave's matrices are small: a second BLAS thread never helps and spins after every
    call (one worker with a 2-thread budget: 89 ms of CPU per 160 px image with 2 BLAS threads, see README).

    Example: ``thread_environment(2)["OPENBLAS_NUM_THREADS"]`` gives ``"1"``
    """
    if threads < 1:
        raise ValueError(f"threads per worker must be at least 1, got {threads}")
    return dict.fromkeys(THREAD_VARIABLES, "1")


@contextlib.contextmanager
def worker_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables while a child process starts (it inherits them), then restore this process's.

    Example:
        >>> with worker_environment(thread_environment(1)):  # doctest: +SKIP
        ...     process.start()
    """
    with _ENVIRONMENT_LOCK:
        earlier = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in earlier.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
