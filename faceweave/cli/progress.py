"""Progress bars (tqdm, imported when a bar is drawn) and the terminal handles they write to."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from faceweave.app.video import Progress
    from faceweave.batch import BatchProgress
    from faceweave.models.store import DownloadProgress


class _Bar:
    """A tqdm bar on `stream`, made at the first report (so its rate leaves out loading the models)."""

    def __init__(self, stream: TextIO, columns: int | None, **options: Any) -> None:
        width = (columns or 81) - 1  # tqdm's own size probe fails on the filtered descriptor 2, and on 0×0 terminals
        self.options = {"file": stream, "ncols": width, "nrows": 20, "mininterval": 0.25, **options}
        self.bar: Any = None  # tqdm ships no type information

    def start(self, done: float = 0, total: float | None = None, postfix: str = "") -> None:
        """Draw the bar now, at `done` (later reports count from here)."""
        from tqdm import tqdm  # type: ignore[import-untyped]

        self.close()
        self.bar = tqdm(total=total, initial=done, postfix=postfix or None, **self.options)

    def show(self, done: float, total: float | None, postfix: str = "") -> None:
        """Move the bar to `done` of `total` (None: not known yet, so no ETA) with `postfix` after the rate."""
        if self.bar is None or done < self.bar.n:  # the first report, or a download starting over
            self.start(done, total, postfix)
        self.bar.total = total
        if postfix:
            self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(done - self.bar.n)

    def frames(self, progress: Progress) -> None:
        self.show(progress.frames, progress.total)

    def files(self, progress: BatchProgress) -> None:
        """Files swapped (or failed) of those left to swap: skipped files count in neither, so rate and ETA hold."""
        left = None if progress.estimate is None else max(0, progress.estimate - progress.skipped)
        self.show(progress.done + progress.failed, left, f"{progress.skipped} skipped, {progress.failed} failed")

    def download(self, progress: DownloadProgress) -> None:
        self.show(progress.done, progress.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def _progress_bar(args: argparse.Namespace, **options: Any) -> Iterator[_Bar | None]:
    """A progress bar when standard error is a terminal (or with -v), else None: nothing is written. Meanwhile log
    lines (-v: a batch's failures) print on their own lines above the bar."""
    if not (getattr(args, "terminal", False) or args.verbose):
        yield None
        return
    from tqdm.contrib.logging import logging_redirect_tqdm  # type: ignore[import-untyped]

    stream = _display(args)
    bar = _Bar(stream, getattr(args, "columns", None), **options)
    console = list(logging.getLogger().handlers)
    with logging_redirect_tqdm():
        for handler in logging.getLogger().handlers:
            if handler not in console and isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)  # tqdm's: it clears the bar, prints the line and redraws the bar there
        try:
            yield bar
        finally:
            bar.close()


def _display(args: argparse.Namespace) -> TextIO:
    """Where the bars and the lines around them go: standard error (its terminal reached directly, see cli.main)."""
    stream: TextIO = getattr(args, "display", None) or sys.stderr
    return stream


def _open_terminal() -> TextIO:
    """Standard error's terminal opened a second time, for the bars and the lines printed around them: they reach it
    in order, past the native-log filter, whose thread would let a line on standard output overtake them."""
    sys.stderr.flush()
    duplicate = os.dup(sys.stderr.fileno())
    return os.fdopen(duplicate, "w", encoding=sys.stderr.encoding, errors="backslashreplace", buffering=1)


def _columns() -> int | None:
    """The width of the terminal on standard error, or None when it has none."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or None  # 0: a terminal that gives no size
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        return None
