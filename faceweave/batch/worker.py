"""What a batch worker does with one item: decode the target, swap, write the labelled output atomically.

`WorkerState` is what each worker process (local engine) or actor (Ray engine) holds: Pipelines built once (still
and, on the first video, video mode), and one source binding per source set, built on first use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faceweave.api import run_on_target
from faceweave.batch.discover import Kind
from faceweave.errors import FaceweaveError, ModelError, UsageError
from faceweave.media.provenance import write_labelled_image
from faceweave.pipeline import Binding, Pipeline, load_input
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
    """Pipelines and source bindings of one worker, built once and reused for every item it processes.

    Example:
        >>> state = WorkerState(WorkerConfig(Settings(), (("me.jpg",),)))  # doctest: +SKIP
        >>> state.run(Task("a.jpg", "in/a.jpg", "out/a.jpg", "image", 0)).ok  # doctest: +SKIP
        True
    """

    def __init__(self, config: WorkerConfig) -> None:
        import cv2

        cv2.setNumThreads(config.threads)
        self.config = config
        self.pipelines: dict[str, Pipeline] = {}
        self.bindings: dict[tuple[str, int], list[Binding] | FaceweaveError] = {}

    def run(self, task: Task) -> Outcome:
        """Process one item; every error becomes a failed Outcome (the run goes on), never an exception."""
        began = time.perf_counter()
        try:
            pipeline = self._pipeline(task)
        except FaceweaveError as error:
            return Outcome(task.item, False, one_line(error), fatal=self._fatal(error))
        try:
            swapped = self._swap(pipeline, task)
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

    def _pipeline(self, task: Task) -> Pipeline:
        mode = "video" if task.kind == "video" else "still"
        key = (mode, task.source_set)
        if key not in self.bindings:
            self.bindings[key] = self._bind(mode, task.source_set)
        bindings = self.bindings[key]
        if isinstance(bindings, FaceweaveError):
            raise bindings
        pipeline = self.pipelines[mode]
        pipeline.bindings = bindings
        return pipeline

    def _bind(self, mode: str, source_set: int) -> list[Binding] | FaceweaveError:
        sources: Sequence[str] = self.config.source_sets[source_set]
        try:
            if mode not in self.pipelines:
                built = Pipeline.from_settings(
                    self.config.settings, sources, mode="video" if mode == "video" else "still"
                )
                self.pipelines[mode] = built
                return built.bindings
            return [self.pipelines[mode].build_binding(sources)]
        except FaceweaveError as error:  # kept: every later item of this source set fails the same way
            return error

    def _swap(self, pipeline: Pipeline, task: Task) -> int:
        if task.kind == "video":
            return _swap_video(pipeline, task)
        loaded = load_input(Path(task.input), pipeline.settings)
        result = run_on_target(pipeline, loaded)
        settings = pipeline.settings
        write_labelled_image(task.output, result.image, settings, alpha=loaded.alpha, swapped=bool(result.swapped))
        return len(result.swapped)


def _swap_video(pipeline: Pipeline, task: Task) -> int:
    from faceweave.media.video_writer import check_video_output
    from faceweave.video import swap_video

    check_video_output(task.output)
    summary = swap_video(pipeline, task.input, task.output)
    return summary.frames_swapped
