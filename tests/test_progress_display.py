"""The command line's progress bars (issue 20): shown on a terminal or with -v, silent otherwise, and log lines (a
batch's failures) printed on their own lines above the bar, never into it; a video bar counts the frames of the
--start/--end span."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
from clip_factory import face_frames, write_clip

import faceweave.batch
from faceweave.batch import BatchOptions, BatchProgress, BatchSummary
from faceweave.cli import main
from faceweave.samples import sample_path
from faceweave.settings import Settings

EXIT_OK = 0
FAILURE = "faceweave: failed: bad.jpg: not a supported image"
Run = Callable[[list[str], bool], tuple[int, str, str]]


def screen(text: str) -> list[str]:
    """The lines a terminal shows for `text`: a carriage return goes back to the start of the line, and what follows
    overwrites it (trailing blanks dropped)."""
    lines: list[str] = []
    line: list[str] = []
    column = 0
    for char in text:
        if char == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        elif char == "\r":
            column = 0
        else:
            line[column : column + 1] = [char]
            column += 1
    if line:
        lines.append("".join(line).rstrip())
    return lines


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("abc\rxy\n", ["xyc"]),  # overwritten in place
        ("bar 10%\r       \rlog line\nbar 20%", ["log line", "bar 20%"]),  # tqdm.write: clear, print, redraw
        ("bar 10%log line\n", ["bar 10%log line"]),  # a collision stays visible as one mixed line
    ],
)
def test_screen(text: str, shown: list[str]) -> None:
    assert screen(text) == shown


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """main() with logging set up as in a fresh process, its standard error a (fake) terminal or not."""

    def call(argv: list[str], terminal: bool) -> tuple[int, str, str]:
        monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)  # capsys's stream
        return _main(argv, capsys)

    return call


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    root = logging.getLogger()  # pytest's handlers would turn main's logging.basicConfig into a no-op
    saved = root.handlers[:], root.level
    root.handlers.clear()
    try:
        code = main(argv)
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- batch (run_batch faked: no workers)


def fake_run_batch(options: BatchOptions, settings: Settings, progress: object = None) -> BatchSummary:
    """Three files: one done, one failing (logged as runner.py does), one done; reports after each."""
    assert progress is None or callable(progress)
    runner_log = logging.getLogger("faceweave.batch.runner")
    for done, failed in ((1, 0), (1, 1), (2, 1)):
        if failed and done == 1:
            runner_log.info("failed: %s: %s", "bad.jpg", "not a supported image")
        if progress is not None:
            progress(BatchProgress(done, failed, 0, 3, 0.1 * (done + failed), 10.0, 0.0))
    return BatchSummary(str(options.output), "manifest", 1, 2, 1, 0, 0, 0, 0.3, 10.0, 0, (), ())


@pytest.fixture
def batch_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(faceweave.batch, "run_batch", fake_run_batch)
    (tmp_path / "in").mkdir()
    return ["batch", "-s", str(sample_path("hopper")), "--input", str(tmp_path / "in"), "-o", str(tmp_path / "out")]


def test_batch_failure_line_prints_above_the_bar(run: Run, batch_argv: list[str]) -> None:
    code, out, err = run(["-v", *batch_argv], terminal=True)
    assert code == EXIT_OK and out.strip().endswith(".faceweave-batch-summary.json")
    lines = screen(err)
    assert FAILURE in lines  # a line of its own: no piece of the bar before or after it
    bar = [line for line in lines if line.startswith("batch:")]
    assert bar and re.search(r"\b3/3 \[.*files/s, 0 skipped, 1 failed\]", bar[-1])
    assert lines.index(FAILURE) < lines.index(bar[-1])
    assert lines[-1].startswith("batch run 1: 2 done, 1 failed")  # the summary after the bar, on its own line


def test_batch_bar_on_a_terminal_without_verbose(run: Run, batch_argv: list[str]) -> None:
    code, _, err = run(batch_argv, terminal=True)
    lines = screen(err)
    assert code == EXIT_OK and any(line.startswith("batch: 100%") for line in lines)
    assert FAILURE not in lines  # failures print during the run with -v only; the summary lists them


def test_no_bar_when_not_a_terminal(run: Run, batch_argv: list[str]) -> None:
    code, _, err = run(batch_argv, terminal=False)
    assert code == EXIT_OK
    assert "\r" not in err and "files/s," not in err and "batch:" not in err
    assert err.startswith("batch run 1:")  # the summary only


# ----------------------------------------------------------------------------- video: frames of the --start/--end span


@pytest.fixture(scope="module")
def five_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s at 10 fps, 96×64, no face (the swap writes it unchanged, with a warning)."""
    frames, _ = face_frames((96, 64), 50, 0)
    return write_clip(tmp_path_factory.mktemp("clip") / "five.mp4", frames, fps=Fraction(10)).path


@pytest.mark.parametrize(
    ("span", "frames"),
    [
        ([], 50),  # the whole clip
        (["--start", "2"], 30),  # 2 s to the end: the total leaves out what --start skips
        (["--start", "1", "--end", "3"], 20),
    ],
)
def test_video_bar_counts_the_span(run: Run, five_seconds: Path, tmp_path: Path, span: list[str], frames: int) -> None:
    output = tmp_path / "out.mp4"
    argv = ["swap", "-s", str(sample_path("hopper")), "-t", str(five_seconds), "-o", str(output), *span]
    code, out, err = run([*argv, "--preset", "ultrafast"], terminal=True)
    assert code == EXIT_OK and out.strip() == str(output)
    lines = screen(err)
    warning = next(line for line in lines if line.startswith("faceweave: no face swapped"))
    assert warning == f"faceweave: no face swapped in any of the {frames} frames of '{five_seconds}'"
    assert re.fullmatch(rf"swap: 100%\|█+\| {frames}/{frames} \[\d\d:\d\d<00:00, +[\d.]+ frames/s\]", lines[-1])


def test_video_without_terminal_writes_no_progress(run: Run, five_seconds: Path, tmp_path: Path) -> None:
    argv = ["swap", "-s", str(sample_path("hopper")), "-t", str(five_seconds), "-o", str(tmp_path / "o.mp4")]
    code, _, err = run([*argv, "--preset", "ultrafast", "--end", "1"], terminal=False)
    assert code == EXIT_OK and err == f"faceweave: no face swapped in any of the 10 frames of '{five_seconds}'\n"


# ----------------------------------------------------------------------------- a real terminal (a pseudo-terminal)


def run_in_terminal(argv: list[str], columns: int = 100, fake_batch: bool = False) -> str:
    """Run `faceweave ARGV` as a process of its own (`fake_batch`: with fake_run_batch) with standard output and
    error on one pseudo-terminal, so the native-log filter is on as for a user; returns what the terminal received."""
    pty = pytest.importorskip("pty")  # POSIX only
    import fcntl
    import struct
    import termios

    try:
        master, slave = pty.openpty()
    except OSError as error:  # a container without /dev/pts
        pytest.skip(f"no pseudo-terminal here ({error})")
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    command = [sys.executable, "-m", "faceweave.cli", *argv]
    if fake_batch:
        fake = "import faceweave.batch, test_progress_display; faceweave.batch.run_batch = test_progress_display."
        command[1:3] = ["-c", f"{fake}fake_run_batch; import sys; from faceweave.cli import main; sys.exit(main())"]
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # for fake_run_batch
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=environment)
    os.close(slave)
    received = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the last process holding the terminal has ended
            break
        if not chunk:
            break
        received.append(chunk)
    os.close(master)
    assert process.wait(timeout=120) == EXIT_OK
    return b"".join(received).decode("utf-8")


def test_video_bar_on_a_real_terminal(five_seconds: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    argv = ["swap", "-s", str(sample_path("hopper")), "-t", str(five_seconds), "-o", str(output), "--start", "3"]
    lines = screen(run_in_terminal([*argv, "--preset", "ultrafast"]))
    assert lines[0] == f"faceweave: no face swapped in any of the 20 frames of '{five_seconds}'"  # no native noise
    assert re.fullmatch(r"swap: 100%\|█+\| 20/20 \[.*frames/s\]", lines[1]) and len(lines[1]) == 99
    assert lines[2:] == [str(output)]  # standard output's line after the bar's, not into it


def test_batch_bar_on_a_real_terminal(batch_argv: list[str]) -> None:
    lines = screen(run_in_terminal(batch_argv, fake_batch=True))
    assert re.fullmatch(r"batch: 100%\|█+\| 3/3 \[.*files/s, 0 skipped, 1 failed\]", lines[0])
    assert lines[1].startswith("batch run 1: 2 done, 1 failed")  # the summary table, then standard output's line
    assert lines[2:] == [str(Path(batch_argv[-1]) / ".faceweave-batch-summary.json")]
