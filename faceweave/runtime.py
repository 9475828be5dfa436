"""Process-wide thread pools, set once at the command line's edge (a library leaves its host process alone), and
CPU affinity helpers for the batch workers and the live session's two stages.

faceweave's numpy work is small matrices (poses, similarity fits, skin models): a second OpenBLAS thread never
helps there and spins after every call, taking a core from OpenCV and MediaPipe (figures: docs/benchmarks.md;
batch workers set the same variables at spawn).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
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


NATIVE_NOISE = re.compile(
    rb"[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]"  # absl (MediaPipe C++): "W0000 00:00:1796622515.8  7040 file.cc:114]"
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog"
)
"""Lines the native libraries write straight to file descriptor 2 (environment variables do not silence them)."""
_MAYBE_NOISE = re.compile(rb"[IWE]\d{0,4}( |$)|I?N?F?O?:?$|INFO: |W?A?R?N?I?N?G?:?$|WARNING: ")
"""The start of a line that could still become NATIVE_NOISE (held back until the line ends)."""


def quiet_native_logs() -> Callable[[], None]:
    """Route file descriptor 2 through a filter that drops the native libraries' log lines (everything else passes,
    partial lines such as a progress line at once); returns the function that restores it. For the command line's
    edge: the process's descriptor 2 is its own there."""
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            pending = _pass_through(pending + chunk, original)
        if pending and not NATIVE_NOISE.match(pending):
            os.write(original, pending)
        os.close(read_end)

    thread = threading.Thread(target=pump, name="faceweave-stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(original, 2)  # the pipe's last write end closes (children aside): the pump drains and ends
        thread.join(2.0)
        os.close(original)

    return restore


def _pass_through(data: bytes, out: int) -> bytes:
    """Write `data`'s complete lines (ended by \\n or \\r) to `out` but native noise; returns the unfinished tail,
    written at once unless it could still turn out to be noise."""
    lines = re.split(rb"(?<=[\r\n])", data)
    tail = lines.pop()
    kept = b"".join(line for line in lines if not NATIVE_NOISE.match(line))
    if tail and not _MAYBE_NOISE.match(tail):
        kept, tail = kept + tail, b""
    if kept:
        os.write(out, kept)
    return tail
