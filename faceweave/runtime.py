"""Process-wide thread pools, set once at the command line's edge (a library leaves its host process alone), and
CPU affinity helpers for the batch workers and the live session's two stages.

faceweave's numpy work is small matrices (poses, similarity fits, skin models): a second OpenBLAS thread never
helps there and spins after every call, taking a core from OpenCV and MediaPipe (figures: docs/benchmarks.md;
batch workers set the same variables at spawn).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
"""Environment variables that size the BLAS/OpenMP thread pools of numpy and friends when they load."""


def limit_blas_threads(environ: Mapping[str, str] = os.environ) -> bool:
    """Cap numpy's BLAS pool at one thread, unless the user chose a count; True when it was capped."""
    if any(name in environ for name in THREAD_VARIABLES):
        return False
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    return True


def usable_cpu_ids() -> tuple[int, ...]:
    """Ids of the CPUs this process may run on, ascending (its affinity mask; without one, 0 .. count - 1)."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return tuple(range(os.cpu_count() or 1))


def pin_threads(cpus: Sequence[int], prefix: str | None = None) -> bool:
    """Bind the threads of this process (those whose OS name starts with `prefix`, or all) to `cpus`; threads they
    start later inherit it. False where the OS has no affinity control; OSError when the CPUs are not ours.

    Example: ``pin_threads([1], prefix="mediapipe")``: MediaPipe's graph threads run on CPU 1 only
    """
    if not hasattr(os, "sched_setaffinity"):
        return False
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):  # a thread that ended meanwhile
            if prefix is None or (task / "comm").read_text().startswith(prefix):
                os.sched_setaffinity(int(task.name), cpus)
    return True
