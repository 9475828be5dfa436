"""BatchOptions: what a batch runs over and how (the `faceweave batch` flags), validated once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from faceweave.batch.discover import check_pattern
from faceweave.batch.threads import default_threads
from faceweave.errors import UsageError

EngineName = Literal["local", "ray"]


@dataclass(frozen=True)
class BatchOptions:
    """What to run over: --input DIR (mirrored) or --targets GLOB (named by --output-pattern), and how.

    `sources` form one identity; `source_glob` matches several sources, each its own identity (a cartesian
    product with the targets). `threads_per_worker` is each worker's thread budget (default: the usable CPUs
    shared out among the workers, at least 1).

    Example: ``BatchOptions(output=Path("out"), sources=(Path("me.jpg"),), input=Path("photos"), workers=2)``
    """

    output: Path
    sources: tuple[Path, ...] = ()
    input: Path | None = None
    targets: str | None = None
    source_glob: str | None = None
    output_pattern: str | None = None
    workers: int = 2
    engine: EngineName = "local"
    retry_failed: bool = False
    address: str | None = None
    gpus_per_worker: float = 0.0
    max_in_flight: int | None = None
    threads_per_worker: int | None = None

    def __post_init__(self) -> None:
        if (self.input is None) == (self.targets is None):
            raise UsageError("give exactly one of --input DIR or --targets 'GLOB'")
        if bool(self.sources) == bool(self.source_glob):
            raise UsageError("give --source PATH (repeatable, one person) or --sources 'GLOB' (one person per file)")
        if self.source_glob and self.targets is None:
            raise UsageError("--sources 'GLOB' goes with --targets 'GLOB'; with --input use --source")
        if self.output_pattern is not None and self.targets is None:
            raise UsageError("--output-pattern goes with --targets; --input mirrors the input tree")
        if self.workers < 1 or (self.max_in_flight is not None and self.max_in_flight < 1):
            raise UsageError(f"--workers must be at least 1, got {self.workers}")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise UsageError(f"--threads-per-worker must be at least 1, got {self.threads_per_worker}")
        if self.gpus_per_worker < 0:
            raise UsageError(f"--gpus-per-worker must be 0 or more, got {self.gpus_per_worker}")
        if self.input is not None and self.input.resolve() == self.output.resolve():
            raise UsageError("--output must differ from --input (outputs would overwrite the inputs)")
        if self.targets is not None:
            check_pattern(self.pattern, self.source_glob is not None)

    @property
    def worker_threads(self) -> int:
        """The thread budget of each worker: `threads_per_worker`, or the usable CPUs // workers (at least 1)."""
        return self.threads_per_worker or default_threads(self.workers)

    @property
    def pattern(self) -> str:
        """The output pattern in use (targets mode)."""
        if self.output_pattern is not None:
            return self.output_pattern
        return "{target_stem}_{source_stem}{ext}" if self.source_glob else "{target_stem}{ext}"
