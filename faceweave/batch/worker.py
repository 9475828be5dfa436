"""What a batch worker does with one item: decode the target, swap, write the labelled output atomically.

`WorkerState` is what each worker process (local engine) or actor (Ray engine) holds: the application layer's
EngineCache (engines built once: still and, on the first video, video mode; one source binding per source set,
built on first use).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faceweave.app.cache import EngineCache
from faceweave.app.jobs import run_on_target
from faceweave.app.output import write_labelled_image
from faceweave.batch.discover import Kind
from faceweave.engine import Bindings, Engine, Mode, load_input
from faceweave.errors import FaceweaveError, ModelError, UsageError
from faceweave.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs to build its pipelines: the settings and the source sets (one identity each)."""

    settings: Settings
    source_sets: tuple[tuple[str, ...], ...]
    threads: int = 1
    """The worker's thread budget: OpenCV's pool, and BLAS/OpenMP's through the environment it starts with
    (`faceweave.batch.threads`); 1 gives each worker one core, so N workers scale to N cores."""


@dataclass(frozen=True)
class Task:
    """One item for a worker: swap source set `source_set` into `input`, write `output` (absolute path)."""

    item: str
    input: str
    output: str
    kind: Kind
    source_set: int


@dataclass(frozen=True)
class Outcome:
    """A worker's answer; `fatal` is set when no item can succeed (models missing, the only source has no face)."""

    item: str
    ok: bool
    reason: str = ""
    seconds: float = 0.0
    swapped: int = 0
    fatal: FaceweaveError | None = None


def one_line(error: BaseException) -> str:
    """An error as one line for the manifest: the message, or the type name when the message is empty."""
    text = " ".join(str(error).split())
    return text if isinstance(error, FaceweaveError) and text else f"{type(error).__name__}: {text}".rstrip(": ")


class WorkerState:
    """Engines and source bindings of one worker, built once and reused for every item it processes.

    Example:
        >>> state = WorkerState(WorkerConfig(Settings(), (("me.jpg",),)))  # doctest: +SKIP
        >>> state.run(Task("a.jpg", "in/a.jpg", "out/a.jpg", "image", 0)).ok  # doctest: +SKIP
        True
    """

    def __init__(self, config: WorkerConfig) -> None:
        import cv2

        cv2.setNumThreads(config.threads)
        self.config = config
        self.cache = EngineCache(engines=2, bindings=2 * len(config.source_sets))

    def run(self, task: Task) -> Outcome:
        """Process one item; every error becomes a failed Outcome (the run goes on), never an exception."""
        began = time.perf_counter()
        try:
            engine, bindings = self._bound(task)
        except FaceweaveError as error:
            return Outcome(task.item, False, one_line(error), fatal=self._fatal(error))
        try:
            swapped = self._swap(engine, bindings, task)
        except FaceweaveError as error:
            return Outcome(task.item, False, one_line(error), time.perf_counter() - began)
        except Exception as error:  # one bad file never stops the run: record what happened and go on
            log.exception("unexpected error on '%s'", task.input)
            return Outcome(task.item, False, one_line(error), time.perf_counter() - began)
        return Outcome(task.item, True, "", time.perf_counter() - began, swapped)

    def _fatal(self, error: FaceweaveError) -> FaceweaveError | None:
        """Errors no later item can escape: models that do not load, or a bad source when there is only one."""
        if isinstance(error, ModelError | UsageError) or len(self.config.source_sets) == 1:
            return error
        return None

    def _bound(self, task: Task) -> tuple[Engine, Bindings]:
        """The engine for the item's kind and its source set's bindings (a failed source set fails every item)."""
        sources: Sequence[str] = self.config.source_sets[task.source_set]
        mode: Mode = "video" if task.kind == "video" else "still"
        return self.cache.bound(self.config.settings, mode, task.source_set, sources)

    def _swap(self, engine: Engine, bindings: Bindings, task: Task) -> int:
        if task.kind == "video":
            return _swap_video(engine, bindings, task)
        loaded = load_input(Path(task.input), engine.settings)
        result = run_on_target(engine, bindings, loaded)
        settings = engine.settings
        write_labelled_image(task.output, result.image, settings, alpha=loaded.alpha, swapped=bool(result.swapped))
        return len(result.swapped)


def _swap_video(engine: Engine, bindings: Bindings, task: Task) -> int:
    from faceweave.app.video import swap_video
    from faceweave.media.video_writer import check_video_output

    check_video_output(task.output)
    summary = swap_video(engine, bindings, task.input, task.output)
    return summary.frames_swapped
