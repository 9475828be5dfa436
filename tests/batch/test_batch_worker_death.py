"""A worker SIGKILLed in the middle of a file: that file is recorded failed with the reason, a new worker takes over,
the rest of the batch completes and the CLI exits 6. The kill comes from outside, as the OOM killer's would: a
watcher thread finds the spawned worker that has one of the (slow) videos open and kills it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

from batch_factory import write_faces
from clip_factory import face_frames, write_clip

from faceweave.batch.manifest import Manifest
from faceweave.batch.threads import worker_cpus
from faceweave.cli import main
from faceweave.runtime import usable_cpu_ids
from faceweave.samples import sample_path

EXIT_BATCH_FAILED = 6
FRAMES = 12  # most of a second of work per video: ample time to see it open


def _workers(parent: int) -> set[int]:
    """Live spawned worker processes of `parent` (multiprocessing's resource tracker is a child too: not these)."""
    found = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            if b"spawn_main" in entry.joinpath("cmdline").read_bytes():
                found.add(int(entry.name))
    return found


def _open_files(pid: int) -> set[str]:
    names = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                names.add(str(fd.readlink()))
    return names


class Watcher(threading.Thread):
    """Kills the first worker seen with one of `targets` open; notes every worker pid and the killed one's env."""

    def __init__(self, targets: set[str]) -> None:
        super().__init__(daemon=True)
        self.targets, self.parent, self.stop = targets, os.getpid(), threading.Event()
        self.seen: set[int] = set()
        self.cpus: dict[int, set[int]] = {}  # the CPUs each worker may run on, as last seen
        self.killed: tuple[int, str, str] | None = None  # pid, the file it had open, its OPENBLAS_NUM_THREADS

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not self.stop.is_set() and time.monotonic() < deadline:
            for pid in _workers(self.parent):
                self.seen.add(pid)
                with contextlib.suppress(OSError):
                    self.cpus[pid] = os.sched_getaffinity(pid)
                opened = self.targets & _open_files(pid)
                if self.killed is None and opened:
                    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                    threads = next((v[21:] for v in environment if v.startswith(b"OPENBLAS_NUM_THREADS=")), b"")
                    os.kill(pid, signal.SIGKILL)
                    self.killed = (pid, opened.pop(), threads.decode())
            time.sleep(0.005)


def test_a_worker_killed_mid_file_fails_that_file_and_the_rest_completes(tmp_path: Path) -> None:
    source, output = tmp_path / "in", tmp_path / "out"
    write_faces(source, 3)
    frames, boxes = face_frames((320, 240), FRAMES, with_face=FRAMES)
    videos = {write_clip(source / name, frames, boxes=boxes).path for name in ("one.mp4", "two.mp4")}
    watcher = Watcher({str(path) for path in videos})  # whichever a worker opens first is killed; the other is not
    argv = ["batch", "-s", str(sample_path("hopper")), "--input", str(source), "--output", str(output)]

    watcher.start()
    try:
        code = main([*argv, "--workers", "1", "--threads-per-worker", "1"])
    finally:
        watcher.stop.set()
        watcher.join()

    assert watcher.killed is not None, "no worker was seen processing a video"
    _pid, victim, threads = watcher.killed
    assert threads == "1"  # the worker started with its thread budget
    assert code == EXIT_BATCH_FAILED
    summary = json.loads((output / ".faceweave-batch-summary.json").read_text())
    assert (summary["done"], summary["failed"]) == (4, 1)  # 3 images and the other video: a new worker did them
    (failure,) = summary["failures"]
    assert failure["input"] == victim
    assert "worker process died while processing this file (killed by SIGKILL" in failure["reason"]
    # done == 4 above is the replacement's work wherever the kill left files undone; the walk's order is the
    # directory's, so a watcher starved under load can catch the last file, and then no replacement is needed.
    expected = set(worker_cpus(0, 1, 1) or usable_cpu_ids())
    assert all(cpus == expected for cpus in watcher.cpus.values())  # pinned, and the replacement on the same CPUs
    with Manifest.open(output) as manifest:
        row = manifest.get(Path(victim).name)
    assert row is not None and (row.status, row.attempts) == ("failed", 1)
    assert not list(output.rglob("*.part"))  # its half-written temp output was removed
