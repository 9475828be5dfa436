"""The command line caps numpy's BLAS pool at one thread unless the user chose a count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from faceweave.runtime import _pass_through, limit_blas_threads
from faceweave.samples import sample_path


def _blas_threads() -> list[int]:
    return [int(pool["num_threads"]) for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_pool_is_capped_unless_the_user_chose() -> None:
    np.ones((4, 4)) @ np.ones((4, 4))  # the BLAS library is loaded
    with threadpool_limits(limits=2, user_api="blas"):  # restored afterwards, whatever the test does
        assert not limit_blas_threads({"OPENBLAS_NUM_THREADS": "2"})
        assert _blas_threads() and all(n == min(2, n) for n in _blas_threads())
        assert limit_blas_threads({})
        assert _blas_threads() == [1] * len(_blas_threads())


NOISE = b"W0000 00:00:1796622515.878294    7040 inference_feedback_manager.cc:114] Feedback manager requires a model\n"


def test_native_log_lines_are_dropped_and_the_rest_passes(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    with out.open("wb") as handle:
        tail = _pass_through(
            NOISE + b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nfaceweave: a warning\n", handle.fileno()
        )
        assert tail == b""
        tail = _pass_through(b"\rfaceweave: frame 3/10, 9.5 fps", handle.fileno())  # a progress line: at once
        assert tail == b""
        tail = _pass_through(b"W0000 00:00:17966", handle.fileno())  # may be noise: held until the line ends
        assert tail == b"W0000 00:00:17966"
        assert _pass_through(tail + NOISE[len(tail) :], handle.fileno()) == b""
    assert out.read_bytes() == b"faceweave: a warning\n\rfaceweave: frame 3/10, 9.5 fps"


def test_the_command_line_prints_no_native_log_lines_unless_verbose() -> None:
    image = str(sample_path("hopper"))
    quiet = subprocess.run([sys.executable, "-m", "faceweave.cli", "analyse", image], capture_output=True, check=True)
    assert b"W0000" not in quiet.stderr and b"TensorFlow Lite" not in quiet.stderr, quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-m", "faceweave.cli", "-v", "analyse", image], capture_output=True, check=True
    )
    assert b"TensorFlow Lite" in loud.stderr or b"W0000" in loud.stderr  # -v keeps them (they were always there)
