"""Command line: `faceweave swap | analyse | bench | eval | demo | inspect`; the only place that knows exit codes.

`main` and the `COMMANDS` table are here; the parser and its settings flags in `parser`, the subcommands in
`commands` and `lab_commands`, the progress bars in `progress`, the exit codes in `exits`.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from collections.abc import Callable, Sequence

from faceweave.cli.commands import (
    cmd_analyse,
    cmd_batch,
    cmd_completion,
    cmd_demo,
    cmd_inspect,
    cmd_keys,
    cmd_live,
    cmd_models,
    cmd_serve,
    cmd_swap,
)
from faceweave.cli.exits import EXIT_BATCH_FAILED as EXIT_BATCH_FAILED
from faceweave.cli.exits import EXIT_DEVICE as EXIT_DEVICE
from faceweave.cli.exits import EXIT_FAILURE as EXIT_FAILURE
from faceweave.cli.exits import EXIT_INTERRUPTED as EXIT_INTERRUPTED
from faceweave.cli.exits import EXIT_MEDIA as EXIT_MEDIA
from faceweave.cli.exits import EXIT_NO_FACE as EXIT_NO_FACE
from faceweave.cli.exits import EXIT_OK as EXIT_OK
from faceweave.cli.exits import EXIT_USAGE as EXIT_USAGE
from faceweave.cli.exits import exit_code as exit_code
from faceweave.cli.lab_commands import cmd_bench, cmd_eval
from faceweave.cli.parser import _add_settings as _add_settings
from faceweave.cli.parser import _parser as _parser
from faceweave.cli.parser import _settings as _settings
from faceweave.cli.progress import _columns, _open_terminal
from faceweave.errors import FaceweaveError
from faceweave.runtime import limit_blas_threads, quiet_native_logs

VIDEO_LIMIT_FLAGS = ("max_video_seconds", "max_video_frames", "max_video_pixels")


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "swap": cmd_swap,
    "analyse": cmd_analyse,
    "analyze": cmd_analyse,
    "bench": cmd_bench,
    "eval": cmd_eval,
    "demo": cmd_demo,
    "live": cmd_live,
    "inspect": cmd_inspect,
    "models": cmd_models,
    "batch": cmd_batch,
    "serve": cmd_serve,
    "keys": cmd_keys,
    "completion": cmd_completion,
}


LIBRARY_HINT = "install it (Debian/Ubuntu: apt-get install libgl1 libglib2.0-0 libgomp1), or use the faceweave image"


def _missing_system_library(error: ImportError) -> str | None:
    """The shared library an import failed on (OpenCV and MediaPipe need libGL, glib, libgomp in slim containers),
    or None when the import failed for another reason."""
    found = re.search(r"([\w.+-]+\.so(?:\.\d+)*): cannot open shared object file", str(error))
    return found.group(1) if found else None


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM raises KeyboardInterrupt: every writer's clean-up (atomic files, the video writer's abort) runs."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 usage, 3 no face, 4 bad media, 6 batch files failed, 1 other)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="faceweave: %(message)s")
    limit_blas_threads()  # the process is ours here: numpy's small matrices need no second (spinning) thread
    signal.signal(signal.SIGTERM, _interrupt)  # kill, a container stop: unwind as Ctrl-C does, .part files removed
    args.terminal = sys.stderr.isatty()  # before the filter below makes descriptor 2 a pipe
    args.columns = _columns() if args.terminal else None  # the progress bars' width, for the same reason
    quiet = argv is None and not args.verbose  # a process of ours: MediaPipe's noise is filtered out of descriptor 2
    args.display = _open_terminal() if quiet and args.terminal else None
    restore = quiet_native_logs() if quiet else None
    try:
        return COMMANDS[args.command](args)
    except FaceweaveError as error:
        print(f"faceweave: error: {error}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        print("faceweave: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ImportError as error:
        library = _missing_system_library(error)
        if library is None:
            raise
        print(f"faceweave: error: the system library {library} is missing; {LIBRARY_HINT}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if restore is not None:
            restore()
        if args.display is not None:
            args.display.close()
