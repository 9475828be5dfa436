"""A video output that cannot be written to the end (disk full, file size limit): a clear one-line error, exit 4,
and nothing left under the output name or beside it."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from clip_factory import face_frames, write_clip

from faceweave.samples import sample_path

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="tmpfs and RLIMIT_FSIZE are Linux tools")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames, boxes = face_frames((320, 240), 30, 30)
    return write_clip(tmp_path_factory.mktemp("clip") / "faces.mp4", frames, boxes=boxes).path


def _swap(clip: Path, output: Path, file_size_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # in the child only: writes past the limit fail with EFBIG instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    command = [sys.executable, "-m", "faceweave", "swap", "-s", str(sample_path("hopper"))]
    command += ["--target", str(clip), "--output", str(output)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=limit, check=False)


@contextlib.contextmanager
def _tiny_disk(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def _assert_clean_failure(result: subprocess.CompletedProcess[str], output: Path, reason: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("faceweave: error")]
    assert result.returncode == 4, result.stderr[-2000:]
    assert len(errors) == 1 and str(output) in errors[0] and reason in errors[0]
    assert not output.exists()
    assert list(output.parent.iterdir()) == []  # no .part file left behind


def test_disk_full_while_writing_a_video(clip: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    with _tiny_disk(tmp_path / "disk", "40k") as disk:
        output = disk / "out.mp4"
        _assert_clean_failure(_swap(clip, output), output, "No space left on device")


def test_file_size_limit_while_writing_a_video(clip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    output = folder / "out.mp4"
    _assert_clean_failure(_swap(clip, output, file_size_limit=30_000), output, "File too large")
