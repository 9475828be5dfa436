"""Process-wide thread pools, set once at the command line's edge (a library leaves its host process alone).

faceweave's numpy work is small matrices (poses, similarity fits, skin models): a second OpenBLAS thread never
helps there and spins after every call, taking a core from OpenCV and MediaPipe. Measured on 2 cores: live
720p 39 → 45 fps; batch workers 20–30 ms of CPU per image saved (they set the same variables at spawn).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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
