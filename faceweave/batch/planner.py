"""The batch planner: turns the files a walk (or glob) meets into worker tasks, consulting and writing the manifest.

Per input it opens the file once: the first bytes tell its kind (images by magic; anything else asks FFmpeg), fstat
gives the size and mtime, and the same open stream is hashed, only when the manifest does not already know the file's
(size, mtime). Output folders are made once per folder, not per file. The run's counts live in `Tally`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faceweave.batch.discover import (
    VIDEO_INPUT_EXTENSIONS,
    Found,
    Kind,
    WalkFailure,
    classify_head,
    mirrored_name,
    patterned_name,
    walk_glob,
    walk_tree,
)
from faceweave.batch.manifest import Item, Manifest, combine_hashes, stream_sha256
from faceweave.batch.summary import BatchProgress
from faceweave.batch.worker import Task
from faceweave.errors import MediaError
from faceweave.media.image_io import SNIFF_BYTES

if TYPE_CHECKING:
    from faceweave.batch.options import BatchOptions

ProgressCallback = Callable[[BatchProgress], None]


@dataclass
class Tally:
    """Running counts of one run (mutable state of the run, not data handed out)."""

    began: float = dataclasses.field(default_factory=time.perf_counter)
    done: int = 0
    failed: int = 0
    skipped_done: int = 0
    skipped_failed: int = 0
    non_media: int = 0
    estimate: int | None = None

    def progress(self) -> BatchProgress:
        """Where the run stands now."""
        elapsed = time.perf_counter() - self.began
        processed = self.done + self.failed
        rate = processed / elapsed if elapsed > 0 else 0.0
        met = processed + self.skipped_done + self.skipped_failed
        eta = None if self.estimate is None or rate <= 0 else max(0.0, (self.estimate - met) / rate)
        skipped = self.skipped_done + self.skipped_failed
        return BatchProgress(self.done, self.failed, skipped, self.estimate, elapsed, rate, eta)


@dataclass(frozen=True)
class Job:
    """The source sets (one identity each), their content hashes and, with --sources, the file naming outputs."""

    source_sets: tuple[tuple[str, ...], ...]
    source_hashes: tuple[str, ...]
    source_names: tuple[Path | None, ...]


@dataclass(frozen=True)
class _Input:
    """What one open of an input told: its kind, stat, outputs (one per source set) with their rows, and hash."""

    path: str
    kind: Kind
    size: int
    mtime_ns: int
    names: tuple[str, ...]
    rows: tuple[Item | None, ...]
    digest: str


class Planner:
    """Turns met files into tasks, recording skips and early failures in the manifest as it goes.

    Example: ``for task in Planner(options, hashes, manifest, job, Tally(), None).tasks(): ...``
    """

    def __init__(
        self,
        options: BatchOptions,
        settings_hashes: dict[str, str],
        manifest: Manifest,
        job: Job,
        tally: Tally,
        progress: ProgressCallback | None,
    ) -> None:
        self.options = options
        self.manifest = manifest
        self.job = job
        self.settings_hashes = settings_hashes
        self.tally = tally
        self.progress = progress
        self.output_root = options.output.resolve()
        self.made: Path | None = None  # the output folder made last: the walk meets a folder's files together

    def tasks(self) -> Iterator[Task]:
        """Tasks for every file met that is not already done (or failed before, unless retrying)."""
        for met in self._met():
            if isinstance(met, WalkFailure):
                self.manifest.record_walk_failure(str(met.path), met.reason)
                continue
            yield from self._plan_file(met)

    def _met(self) -> Iterator[Found | WalkFailure]:
        if self.options.input is not None:
            return walk_tree(self.options.input, skip=self.options.output)
        assert self.options.targets is not None
        return (found for found in walk_glob(self.options.targets) if not self._in_output(found.path))

    def _in_output(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.output_root)

    def _plan_file(self, found: Found) -> Iterator[Task]:
        try:
            met = self._read_input(found)
        except OSError as error:
            self._fail_unreadable(found, error)
            return
        if met is None:
            self.tally.non_media += 1
            return
        for index, (name, row) in enumerate(zip(met.names, met.rows, strict=True)):
            task = self._plan(met, index, name, row)
            if task is not None:
                yield task
            elif self.progress is not None:
                self.progress(self.tally.progress())

    def _read_input(self, found: Found) -> _Input | None:
        """Read what planning needs with one open (None for non-media); OSError when the file cannot be read."""
        path = str(found.path.absolute())
        with found.path.open("rb") as stream:
            status = os.fstat(stream.fileno())
            head = stream.read(SNIFF_BYTES)
            kind = classify_head(found.path, head)
            if kind is None:
                return None
            names = tuple(self._name(found, kind, index) for index in range(len(self.job.source_sets)))
            rows = tuple(self.manifest.get(name) for name in names)
            stat = (status.st_size, status.st_mtime_ns)
            known = (row.input_sha256 for row in rows if row and row.input == path and (row.size, row.mtime_ns) == stat)
            digest = next(known, None) or stream_sha256(stream, head)
        return _Input(path, kind, status.st_size, status.st_mtime_ns, names, rows, digest)

    def _name(self, found: Found, kind: Kind, index: int) -> str:
        if self.options.input is not None:
            return mirrored_name(found.relative, kind).as_posix()
        return patterned_name(self.options.pattern, found, self.job.source_names[index], kind).as_posix()

    def _plan(self, met: _Input, index: int, name: str, row: Item | None) -> Task | None:
        if row is not None and row.run == self.manifest.run and row.input != met.path:
            reason = f"output name '{name}' is already taken by '{row.input}' in this run; change --output-pattern"
            self.manifest.record_walk_failure(met.path, reason)
            return None
        job = combine_hashes(self.settings_hashes[met.kind], self.job.source_hashes[index])
        same = row is not None and row.input_sha256 == met.digest and row.job == job
        if same and row is not None and self._skip(row, name):
            return None
        attempts = row.attempts + 1 if same and row is not None else 1
        output = self.options.output / name
        self._make_folder(output.parent)
        item = Item(name, met.path, met.digest, job, met.kind, "running", attempts, "", 0.0, 0, met.size, met.mtime_ns,
                    0, 0)  # fmt: skip
        self.manifest.dispatch(item)
        return Task(name, met.path, str(output.absolute()), met.kind, index)

    def _make_folder(self, folder: Path) -> None:
        if folder != self.made:
            folder.mkdir(parents=True, exist_ok=True)
            self.made = folder

    def _skip(self, row: Item, name: str) -> bool:
        if row.status == "done" and (self.options.output / name).is_file():
            self.manifest.touch(name)
            self.tally.skipped_done += 1
            return True
        if row.status == "failed" and not self.options.retry_failed:
            self.manifest.touch(name)
            self.tally.skipped_failed += 1
            return True
        return False

    def _fail_unreadable(self, found: Found, error: OSError) -> None:
        message = f"cannot read file ({error.strerror or error})"
        reason = str(MediaError(found.path, message, "check its permissions (ls -l)"))
        guess: Kind = "video" if found.path.suffix.lower() in VIDEO_INPUT_EXTENSIONS else "image"
        for index in range(len(self.job.source_sets)):
            name = self._name(found, guess, index)
            row = self.manifest.get(name)
            attempts = row.attempts + 1 if row is not None else 1
            path = str(found.path.absolute())
            item = Item(name, path, "", "", guess, "failed", attempts, reason, 0.0, 0, -1, -1, 0, 0)
            self.manifest.fail_early(item, reason)
            self.tally.failed += 1
