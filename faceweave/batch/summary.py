"""What a batch run reports: progress while it runs, and a summary (JSON file + readable table) at the end."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUMMARY_NAME = ".faceweave-batch-summary.json"


@dataclass(frozen=True)
class BatchProgress:
    """Where a run stands; `estimate` (media-named files to meet) and `eta_seconds` are None until known."""

    done: int
    failed: int
    skipped: int
    estimate: int | None
    elapsed: float
    files_per_second: float
    eta_seconds: float | None


@dataclass(frozen=True)
class FailedFile:
    """A failed item with its one-line reason; `earlier` when an earlier run recorded it and this run kept it."""

    input: str
    output: str
    reason: str
    attempts: int
    earlier: bool


@dataclass(frozen=True)
class BatchSummary:
    """The end of a run: counts for this run, and every failure met (this run's and kept earlier ones).

    Example: ``run_batch(options, settings).ok`` is True when nothing failed, now or before
    """

    output_dir: str
    manifest: str
    run: int
    done: int
    failed: int
    skipped_done: int
    skipped_failed: int
    skipped_non_media: int
    seconds: float
    files_per_second: float
    partial_files_removed: int
    failures: tuple[FailedFile, ...]
    walk_failures: tuple[tuple[str, str], ...]

    @property
    def summary_path(self) -> Path:
        """Where the run's JSON summary is written."""
        return Path(self.output_dir) / SUMMARY_NAME

    @property
    def ok(self) -> bool:
        """Whether every item met is done and the walk met no unreadable directory or link loop."""
        return not self.failures and not self.walk_failures

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (failures as objects, walk failures as {path, reason})."""
        fields = dataclasses.asdict(self)
        fields["walk_failures"] = [{"path": path, "reason": reason} for path, reason in self.walk_failures]
        fields["ok"] = self.ok
        return fields


def write_summary(summary: BatchSummary, path: Path) -> Path:
    """Write the summary as JSON atomically (temp file + rename); returns the path."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(summary.to_json(), stream, indent=2)
    Path(temp).replace(path)
    return path


def summary_table(summary: BatchSummary, limit: int = 200) -> str:
    """A readable report: counts, then one row per failed file (input, reason), at most `limit` rows."""
    lines = [
        f"batch run {summary.run}: {summary.done} done, {summary.failed} failed in {summary.seconds:.1f} s"
        f" ({summary.files_per_second:.2f} files/s); skipped: {summary.skipped_done} already done,"
        f" {summary.skipped_failed} failed before (use --retry-failed), {summary.skipped_non_media} not media",
    ]
    rows = [(f.input, ("[earlier run] " if f.earlier else "") + f.reason) for f in summary.failures]
    rows += [(path, reason) for path, reason in summary.walk_failures]
    if rows:
        width = min(60, max(len(name) for name, _ in rows))
        lines.append(f"{len(rows)} failed:")
        lines.append(f"  {'file'.ljust(width)}  reason")
        lines += [f"  {_clip(name, width).ljust(width)}  {reason}" for name, reason in rows[:limit]]
        if len(rows) > limit:
            lines.append(f"  ... and {len(rows) - limit} more in {summary.output_dir}/{SUMMARY_NAME}")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]
