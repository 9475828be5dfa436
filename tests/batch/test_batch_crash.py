"""THE crash test: kill -9 the whole `faceweave batch` process group half-way, rerun, and the output tree equals an
uninterrupted run's: same files, no partial or temp files, nothing processed twice beyond what was in flight."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from batch_factory import write_faces

from faceweave.batch.manifest import MANIFEST_NAME
from faceweave.media.image_io import read_image
from faceweave.samples import sample_path

COUNT, WORKERS = 30, 2
MAX_IN_FLIGHT = 2 * WORKERS  # the engine's default


def _command(source: Path, output: Path) -> list[str]:
    runner = "import sys; from faceweave.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", runner, "batch", "-s", str(sample_path("hopper")), "--input", str(source),
            "--output", str(output), "--workers", str(WORKERS)]  # fmt: skip


def _done(output: Path) -> set[str]:
    path = output / MANIFEST_NAME
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return {row[0] for row in db.execute("SELECT output FROM items WHERE status = 'done'")}
    except sqlite3.Error:  # created but not yet initialised
        return set()


def _attempts(output: Path) -> dict[str, int]:
    with sqlite3.connect(output / MANIFEST_NAME) as db:
        return dict(db.execute("SELECT output, attempts FROM items"))


def _files(output: Path) -> set[str]:
    return {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()}


def _media(output: Path) -> set[str]:
    return {name for name in _files(output) if not Path(name).name.startswith(".")}


def _kill_half_way(source: Path, output: Path) -> set[str]:
    process = subprocess.Popen(
        _command(source, output), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    try:
        while len(_done(output)) < 0.3 * COUNT and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the whole group: parent and every worker at once
        process.wait()
    return _done(output)


def test_kill_9_half_way_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    source = tmp_path / "in"
    write_faces(source, COUNT, side=220, subdirs=("", "x", "x/y"))
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"

    done_at_kill = _kill_half_way(source, crashed)
    assert 0.3 * COUNT <= len(done_at_kill) < COUNT, f"killed at {len(done_at_kill)} of {COUNT}, not half-way"
    for name in _media(crashed):  # visible outputs are whole: written to a temp file, then renamed
        read_image(crashed / name)

    assert subprocess.run(_command(source, crashed), capture_output=True).returncode == 0
    assert subprocess.run(_command(source, clean), capture_output=True).returncode == 0

    assert _media(crashed) == _media(clean) and len(_media(clean)) == COUNT
    assert not [name for name in _files(crashed) if name.endswith(".part")]
    for name in _media(crashed):
        read_image(crashed / name)
    attempts = _attempts(crashed)
    assert all(attempts[name] == 1 for name in done_at_kill)  # finished before the kill: never redone
    redone = [name for name, count in attempts.items() if count > 1]
    assert len(redone) <= MAX_IN_FLIGHT and max(attempts.values()) <= 2  # only what was in flight, once more
