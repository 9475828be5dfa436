"""The command line caps numpy's BLAS pool at one thread unless the user chose a count."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from faceweave.runtime import limit_blas_threads


def _blas_threads() -> list[int]:
    return [int(pool["num_threads"]) for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_pool_is_capped_unless_the_user_chose() -> None:
    np.ones((4, 4)) @ np.ones((4, 4))  # the BLAS library is loaded
    with threadpool_limits(limits=2, user_api="blas"):  # restored afterwards, whatever the test does
        assert not limit_blas_threads({"OPENBLAS_NUM_THREADS": "2"})
        assert _blas_threads() and all(n == min(2, n) for n in _blas_threads())
        assert limit_blas_threads({})
        assert _blas_threads() == [1] * len(_blas_threads())
