"""Per-worker thread budgets: the default share of CPUs, the variables, and the environment a spawned child gets."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from faceweave.batch import BatchOptions
from faceweave.batch.threads import (
    default_threads,
    pin_process,
    thread_environment,
    worker_cpus,
    worker_environment,
)
from faceweave.errors import UsageError
from faceweave.runtime import THREAD_VARIABLES, usable_cpu_ids


@pytest.mark.parametrize(
    ("workers", "cpus", "expected"),
    [
        (1, 2, 2),  # one worker gets every CPU
        (2, 2, 1),  # one each
        (3, 8, 2),  # rounded down
        (4, 2, 1),  # more workers than CPUs: still one thread each
    ],
)
def test_default_threads_share_the_cpus(workers: int, cpus: int, expected: int) -> None:
    assert default_threads(workers, cpus) == expected


def _options(workers: int, threads: int | None) -> BatchOptions:
    return BatchOptions(Path("out"), (Path("me.jpg"),), Path("in"), workers=workers, threads_per_worker=threads)


def test_options_resolve_the_budget() -> None:
    assert _options(2, 3).worker_threads == 3
    assert _options(1, None).worker_threads == default_threads(1)
    with pytest.raises(UsageError, match="--threads-per-worker must be at least 1, got 0"):
        _options(1, 0)


def test_thread_environment_names_every_pool() -> None:
    assert thread_environment(2) == dict.fromkeys(THREAD_VARIABLES, "1")  # BLAS: one thread, whatever the budget
    with pytest.raises(ValueError, match="at least 1"):
        thread_environment(0)


def _report(queue: multiprocessing.Queue[dict[str, str | None]]) -> None:
    queue.put({name: os.environ.get(name) for name in THREAD_VARIABLES})


def test_a_child_started_inside_gets_the_budget_and_ours_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # set before: restored after
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)  # absent before: absent after
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[dict[str, str | None]] = context.Queue()
    child = context.Process(target=_report, args=(queue,))
    with worker_environment(thread_environment(1)):
        child.start()
    try:
        assert queue.get(timeout=60) == dict.fromkeys(THREAD_VARIABLES, "1")
    finally:
        child.join(timeout=10)
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ


@pytest.mark.parametrize(
    ("slot", "workers", "threads", "cpus", "expected"),
    [
        (0, 2, 1, (0, 1), (0,)),  # two workers on two CPUs: one each
        (1, 2, 1, (0, 1), (1,)),
        (0, 1, 1, (0, 1), (0,)),  # one single-threaded worker: one CPU, the other left to the parent
        (1, 2, 2, (0, 1, 2, 3), (2, 3)),  # each worker's budget, side by side
        (1, 2, 1, (4, 6), (6,)),  # ids from the affinity mask, not 0 .. n - 1
        (0, 1, 2, (0, 1), None),  # the budget is every CPU: nothing to pin
        (0, 3, 1, (0, 1), None),  # more workers than CPUs: the OS shares them out
        (0, 2, 2, (0, 1, 2), None),  # budgets overlap
        (2, 2, 1, (0, 1, 2, 3), None),  # no such slot
    ],
)
def test_worker_cpus_gives_each_worker_cpus_of_its_own(
    slot: int, workers: int, threads: int, cpus: tuple[int, ...], expected: tuple[int, ...] | None
) -> None:
    assert worker_cpus(slot, workers, threads, cpus) == expected


def _pinned(cpus: tuple[int, ...], queue: multiprocessing.Queue[list[set[int]]]) -> None:
    before = threading.Event()
    earlier = threading.Thread(target=before.wait)  # a thread started before pinning is pinned too
    earlier.start()
    pin_process(cpus)
    later = threading.Thread(target=before.wait)  # and one started after inherits it
    later.start()
    queue.put([os.sched_getaffinity(int(task.name)) for task in Path("/proc/self/task").iterdir()])
    before.set()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_pin_process_pins_every_thread() -> None:
    cpus = usable_cpu_ids()[-1:]
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[set[int]]] = context.Queue()
    child = context.Process(target=_pinned, args=(cpus, queue))
    child.start()
    try:
        affinities = queue.get(timeout=60)
    finally:
        child.join(timeout=10)
    assert len(affinities) >= 3 and all(found == set(cpus) for found in affinities)
