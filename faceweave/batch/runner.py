"""run_batch: walk (or glob) the inputs, consult the manifest, hand the work to an engine, record and summarise.

The parent process never decodes pixels: it opens each input once to sniff its kind, stat it and hash it (streamed
sha256, skipped for files whose size and mtime the manifest already knows), writes manifest rows (one commit per
result) and hands paths to the workers, pulling the next input only when the engine has room (backpressure).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, Protocol

from faceweave.batch.discover import (
    IMAGE_EXTENSIONS,
    VIDEO_INPUT_EXTENSIONS,
    count_media_names,
    walk_glob,
)
from faceweave.batch.manifest import Manifest, combine_hashes, file_sha256, sweep_partial_files
from faceweave.batch.options import BatchOptions
from faceweave.batch.planner import Job, Planner, ProgressCallback, Tally
from faceweave.batch.summary import SUMMARY_NAME, BatchSummary, FailedFile, write_summary
from faceweave.batch.worker import Outcome, Task, WorkerConfig
from faceweave.errors import UsageError
from faceweave.provenance.label import settings_hash
from faceweave.settings import Settings, batch_neutral

log = logging.getLogger(__name__)

IMAGE_NEUTRAL = batch_neutral("image")
"""Settings left out of the images' hash (declared video/live-only, or changing no pixel): they redo no image."""
VIDEO_NEUTRAL = batch_neutral("video")
"""Settings left out of the videos' hash (live only, or changing no pixel, e.g. where models live)."""


class Engine(Protocol):
    """Runs tasks, yielding outcomes as they finish; pulls the next task only when it has room."""

    def __enter__(self) -> Engine: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def map(self, tasks: Iterator[Task]) -> Iterator[Outcome]: ...
    def pids(self) -> list[int]: ...


def kind_settings_hashes(settings: Settings) -> dict[str, str]:
    """The settings hash per kind of input, with the settings that cannot change that kind's outputs at defaults.

    Which those are comes from each field's declaration (`modes`, `pixels`, `redoes` in faceweave.settings):
    images ignore video-only settings, neither counts model_dir.
    """
    defaults = Settings()
    hashes = {}
    for kind, neutral in (("image", IMAGE_NEUTRAL), ("video", VIDEO_NEUTRAL)):
        hashes[kind] = settings_hash(settings.replace(**{name: getattr(defaults, name) for name in neutral}))
    return hashes


def run_batch(
    options: BatchOptions,
    settings: Settings,
    progress: ProgressCallback | None = None,
    on_engine: Callable[[Engine], None] | None = None,
) -> BatchSummary:
    """Swap faces in every media file of a folder (or glob), resumably; returns the run's summary.

    Items already done under the same input content, settings and sources are skipped; failures are recorded with
    their reason and never stop the run. `progress` is called after every item; `on_engine` once the engine runs.

    Example:
        >>> options = BatchOptions(output=Path("out"), sources=(Path("me.jpg"),), input=Path("photos"))
        >>> run_batch(options, Settings(require_face=True)).done  # doctest: +SKIP
        42
    """
    options.output.mkdir(parents=True, exist_ok=True)
    job = _prepare_job(options)
    with Manifest.open(options.output) as manifest:
        unclean = manifest.start_run(json.dumps(_describe(options), sort_keys=True))
        removed = sweep_partial_files(options.output) if unclean else 0
        tally = Tally()
        threading.Thread(target=_estimate, args=(options, len(job.source_sets), tally), daemon=True).start()
        planner = Planner(options, kind_settings_hashes(settings), manifest, job, tally, progress)
        config = WorkerConfig(settings, job.source_sets, threads=options.worker_threads)
        with _create_engine(options, config) as engine:
            if on_engine is not None:
                on_engine(engine)
            for outcome in engine.map(planner.tasks()):
                _record(manifest, tally, outcome)
                if progress is not None:
                    progress(tally.progress())
        manifest.finish_run()
        summary = _summarise(options, manifest, tally, removed)
    write_summary(summary, options.output / SUMMARY_NAME)
    return summary


def _record(manifest: Manifest, tally: Tally, outcome: Outcome) -> None:
    if outcome.fatal is not None:
        manifest.finish(outcome.item, "failed", outcome.reason)
        raise outcome.fatal
    status: Literal["done", "failed"] = "done" if outcome.ok else "failed"
    manifest.finish(outcome.item, status, outcome.reason, outcome.seconds, outcome.swapped)
    manifest.commit()  # with the rows of the tasks handed out since the last result: one commit per file
    if outcome.ok:
        tally.done += 1
    else:
        tally.failed += 1
        log.info("failed: %s: %s", outcome.item, outcome.reason)


def _prepare_job(options: BatchOptions) -> Job:
    if options.source_glob is not None:
        found = glob.iglob(options.source_glob, recursive=True)  # noqa: PTH207 (absolute patterns too)
        matches = sorted(Path(match) for match in found)
        files = [path for path in matches if path.is_file()]
        if not files:
            raise UsageError(f"--sources {options.source_glob!r} matches no file")
        sets: list[tuple[Path, ...]] = [(path,) for path in files]
    else:
        sets = [options.sources]
    hashes = tuple(combine_hashes(*(file_sha256(path) for path in paths)) for paths in sets)  # unreadable: fatal
    names = tuple(paths[0] if options.source_glob else None for paths in sets)
    text_sets = tuple(tuple(str(path.absolute()) for path in paths) for paths in sets)
    return Job(text_sets, hashes, names)


def _estimate(options: BatchOptions, sets: int, tally: Tally) -> None:
    """Count media-named inputs in the background (no reads, no list kept) so progress can show an ETA."""
    suffixes = IMAGE_EXTENSIONS | VIDEO_INPUT_EXTENSIONS
    try:
        if options.input is not None:
            tally.estimate = count_media_names(options.input, options.output)
        elif options.targets is not None:
            found = walk_glob(options.targets)
            tally.estimate = sets * sum(1 for f in found if f.path.suffix.lower() in suffixes)
    except OSError:  # the estimate is a nicety; the real walk reports problems
        log.debug("could not estimate the number of inputs", exc_info=True)


def _create_engine(options: BatchOptions, config: WorkerConfig) -> Engine:
    if options.engine == "ray":
        try:
            from faceweave.batch.ray_engine import RayEngine
        except ImportError as error:
            raise UsageError(f"the ray engine needs Ray ({error}); pip install 'faceweave[ray]'") from None
        return RayEngine(config, options.workers, options.max_in_flight, options.address, options.gpus_per_worker)
    from faceweave.batch.local import LocalEngine

    return LocalEngine(config, options.workers, options.max_in_flight)


def _summarise(options: BatchOptions, manifest: Manifest, tally: Tally, removed: int) -> BatchSummary:
    elapsed = time.perf_counter() - tally.began
    failures = tuple(
        FailedFile(item.input, item.output, item.reason, item.attempts, item.dispatched != manifest.run)
        for item in manifest.failed_items()
    )
    processed = tally.done + tally.failed
    return BatchSummary(
        output_dir=str(options.output), manifest=str(manifest.path), run=manifest.run,
        done=tally.done, failed=tally.failed, skipped_done=tally.skipped_done, skipped_failed=tally.skipped_failed,
        skipped_non_media=tally.non_media, seconds=elapsed, files_per_second=processed / elapsed if elapsed else 0.0,
        partial_files_removed=removed, failures=failures, walk_failures=tuple(manifest.walk_failures()),
    )  # fmt: skip


def _describe(options: BatchOptions) -> dict[str, object]:
    fields = dataclasses.asdict(options)
    return {key: [str(v) for v in value] if isinstance(value, tuple) else str(value) for key, value in fields.items()}
