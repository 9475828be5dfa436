"""A swap stopped by SIGTERM (kill, a container stop) leaves no half-written file, as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clip_factory import face_frames, write_clip

from faceweave.samples import sample_path

EXIT_INTERRUPTED = 130


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_mid_video_leaves_no_part_file(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    write_clip(clip, face_frames((320, 240), 240, with_face=240)[0])
    output = tmp_path / "out.mp4"
    env = os.environ | {"FACEWEAVE_WATERMARK": "false"}
    command = [sys.executable, "-m", "faceweave.cli", "swap", "-s", str(sample_path("hopper")), "-t", str(clip)]
    process = subprocess.Popen([*command, "-o", str(output)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".out.mp4.*.part")):  # encoding has started
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the swap never started writing"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no output, no .part
