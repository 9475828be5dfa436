"""The batch manifest: one SQLite file (WAL) in the output directory recording every item's key, state and reason.

An item is one output path (relative to --output). Its key is the input's content hash (sha256, streamed) plus a
job hash (settings hash for its kind + source identity hash); a rerun skips items whose key matches and whose
state is done (and output exists), keeps earlier failures unless asked to retry, and redoes everything else.
States: "running" (handed to a worker; a crash leaves it so, and the next run redoes it), "done" (marked only after
the output was renamed into place), "failed" (with a one-line reason).

Writes go into one open transaction that `commit` ends (the runner commits after every result it records, and a
batch of skips commits every `COMMIT_EVERY` writes): one commit per processed file instead of two, and a rerun over
10,000 finished files commits 40 times, not 10,000. A crash loses only uncommitted writes, never a wrong "done": a
"running" mark lost with them leaves the item without a row (or with its earlier one), and the next run redoes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from filelock import FileLock, Timeout

from faceweave.errors import MediaError, UsageError

MANIFEST_NAME = ".faceweave-batch.sqlite"
LOCK_NAME = ".faceweave-batch.lock"
Status = Literal["running", "done", "failed"]
COMMIT_EVERY = 256
"""Writes after which an open transaction is committed even if the runner has not asked yet."""
_CHUNK = 1 << 20
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    output TEXT PRIMARY KEY,        -- output path relative to the output directory
    input TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    job TEXT NOT NULL,              -- sha256 of (settings hash for the kind, source identity hash)
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,      -- how many times the item was handed to a worker under this key
    reason TEXT NOT NULL DEFAULT '',
    seconds REAL NOT NULL DEFAULT 0,
    swapped INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,          -- stat of the input when hashed: an unchanged file is not hashed again
    mtime_ns INTEGER NOT NULL,
    run INTEGER NOT NULL,           -- the last run that met this item
    dispatched INTEGER NOT NULL,    -- the last run that handed it to a worker
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, finished REAL, options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS walk_failures (run INTEGER NOT NULL, path TEXT NOT NULL, reason TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Item:
    """One row of the manifest."""

    output: str
    input: str
    input_sha256: str
    job: str
    kind: str
    status: Status
    attempts: int
    reason: str
    seconds: float
    swapped: int
    size: int
    mtime_ns: int
    run: int
    dispatched: int


_ITEM_COLUMNS = ", ".join(field.name for field in dataclasses.fields(Item))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's content, read in 1 MiB chunks (memory stays flat for any size)."""
    try:
        with Path(path).open("rb") as stream:
            return stream_sha256(stream)
    except FileNotFoundError as exc:
        raise MediaError(path, "file not found", "check the path") from exc
    except OSError as exc:
        raise MediaError(path, f"cannot read file ({exc.strerror or exc})", "check its permissions (ls -l)") from exc


def stream_sha256(stream: IO[bytes], head: bytes = b"") -> str:
    """sha256 of `head` (bytes already read from the stream) followed by the rest of the stream, in 1 MiB chunks.

    Example: ``stream_sha256(io.BytesIO(b"cd"), head=b"ab") == hashlib.sha256(b"abcd").hexdigest()`` gives ``True``
    """
    digest = hashlib.sha256(head)
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def combine_hashes(*parts: str) -> str:
    """sha256 over several hex digests (or other strings), order-sensitive."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class Manifest:
    """The SQLite manifest of one output directory; one process writes it at a time (a lock file enforces it).

    Example:
        >>> with Manifest.open(Path("out")) as manifest:  # doctest: +SKIP
        ...     manifest.failed_items()
    """

    def __init__(self, connection: sqlite3.Connection, lock: FileLock, path: Path) -> None:
        self.connection = connection
        self.lock = lock
        self.path = path
        self.run = 0
        self.pending = 0

    @classmethod
    def open(cls, output_dir: Path) -> Manifest:
        """Open (or create) the manifest in `output_dir`, taking its lock; UsageError if another run holds it."""
        lock = FileLock(output_dir / LOCK_NAME)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise UsageError(
                f"another faceweave batch is writing to '{output_dir}'; wait for it or pick another"
            ) from None
        path = output_dir / MANIFEST_NAME
        try:
            connection = sqlite3.connect(path, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            lock.release()
            raise MediaError(path, f"cannot open the batch manifest ({exc})", "delete it to start afresh") from exc
        connection.row_factory = sqlite3.Row
        return cls(connection, lock, path)

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Commit what is pending (results recorded are true even when the run stops early), close, unlock."""
        try:
            with contextlib.suppress(sqlite3.Error, MediaError):  # never hide the error that stopped the run
                self.commit()
        finally:
            self.connection.close()
            self.lock.release()

    def commit(self) -> None:
        """End the open write transaction, if any (writes start one; see the module docstring); MediaError when the
        manifest cannot be written (a full disk)."""
        with self._writing():
            if self.connection.in_transaction:
                self.connection.execute("COMMIT")
        self.pending = 0

    def _write(self, sql: str, parameters: Sequence[object]) -> sqlite3.Cursor:
        with self._writing():
            if not self.connection.in_transaction:
                self.connection.execute("BEGIN")
            cursor = self.connection.execute(sql, parameters)
        self.pending += 1
        if self.pending >= COMMIT_EVERY:
            self.commit()
        return cursor

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """sqlite3's write errors (disk full, I/O) as the one-line MediaError the CLI maps to exit 4."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise MediaError(
                self.path,
                f"cannot write the batch manifest ({exc})",
                "free some space; the outputs written so far are kept and a new run resumes after them",
            ) from exc

    def start_run(self, options: str) -> bool:
        """Begin a run (`options`: JSON of what was asked); returns whether the previous run ended uncleanly."""
        last = self.connection.execute("SELECT finished FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        cursor = self._write("INSERT INTO runs (started, options) VALUES (?, ?)", (time.time(), options))
        self.run = int(cursor.lastrowid or 0)
        self.commit()
        return last is not None and last["finished"] is None

    def finish_run(self) -> None:
        """Mark the current run as ended cleanly."""
        self._write("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), self.run))
        self.commit()

    def get(self, output: str) -> Item | None:
        """The row for an output path, or None."""
        row = self.connection.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE output = ?", (output,)).fetchone()
        return None if row is None else Item(*row)

    def touch(self, output: str) -> None:
        """Record that this run met an item it skips (so the summary lists its earlier failure)."""
        self._write("UPDATE items SET run = ? WHERE output = ?", (self.run, output))

    def dispatch(self, item: Item) -> None:
        """Record an item as handed to a worker (status running; committed with the next result, see above)."""
        self._write(
            "INSERT OR REPLACE INTO items (output, input, input_sha256, job, kind, status, attempts, reason, seconds,"
            " swapped, size, mtime_ns, run, dispatched, updated)"
            " VALUES (?, ?, ?, ?, ?, 'running', ?, '', 0, 0, ?, ?, ?, ?, ?)",
            (
                item.output, item.input, item.input_sha256, item.job, item.kind, item.attempts,
                item.size, item.mtime_ns, self.run, self.run, time.time(),
            ),
        )  # fmt: skip

    def finish(self, output: str, status: Status, reason: str = "", seconds: float = 0.0, swapped: int = 0) -> None:
        """Record an item's result: "done" only once its output is in place, or "failed" with a reason."""
        self._write(
            "UPDATE items SET status = ?, reason = ?, seconds = ?, swapped = ?, updated = ? WHERE output = ?",
            (status, reason, seconds, swapped, time.time(), output),
        )

    def fail_early(self, item: Item, reason: str) -> None:
        """Record an item that failed before reaching a worker (unreadable, unhashable, name collision)."""
        self.dispatch(item)
        self.finish(item.output, "failed", reason)

    def record_walk_failure(self, path: str, reason: str) -> None:
        """Record a directory or link the walk could not follow (kept per run)."""
        self._write("INSERT INTO walk_failures VALUES (?, ?, ?)", (self.run, path, reason))

    def failed_items(self) -> list[Item]:
        """Failed items met by this run, including failures recorded by earlier runs and skipped now."""
        rows = self.connection.execute(
            f"SELECT {_ITEM_COLUMNS} FROM items WHERE status = 'failed' AND run = ? ORDER BY output", (self.run,)
        )
        return [Item(*row) for row in rows]

    def walk_failures(self) -> list[tuple[str, str]]:
        """(path, reason) of this run's walk failures."""
        rows = self.connection.execute(
            "SELECT path, reason FROM walk_failures WHERE run = ? ORDER BY path", (self.run,)
        )
        return [(row["path"], row["reason"]) for row in rows]

    def attempts(self) -> dict[str, int]:
        """Attempt counter of every item (for tests and audits)."""
        return {row["output"]: row["attempts"] for row in self.connection.execute("SELECT output, attempts FROM items")}

    def counts(self) -> dict[str, int]:
        """How many items this run met, by status."""
        rows = self.connection.execute(
            "SELECT status, COUNT(*) AS n FROM items WHERE run = ? GROUP BY status", (self.run,)
        )
        return {row["status"]: row["n"] for row in rows}


def sweep_partial_files(output_dir: Path) -> int:
    """Delete temp files an interrupted run left (hidden ``.name.XXXXXXXX.part`` beside outputs); returns how many."""
    removed = 0
    for folder, _, names in os.walk(output_dir):
        for name in _partial_names(names):
            with contextlib.suppress(OSError):
                (Path(folder) / name).unlink()
                removed += 1
    return removed


def remove_partial_files(output: Path) -> int:
    """Delete the temp files of one output (``.name.XXXXXXXX.part`` beside it), as a worker that died on it left them.

    Example: ``remove_partial_files(Path("out/a.jpg"))`` removes ``out/.a.jpg.k2j3h4g5.part``, not ``out/a.jpg``
    """
    prefix, removed = f".{output.name}.", 0
    with contextlib.suppress(OSError), os.scandir(output.parent) as entries:
        for entry in entries:
            middle = entry.name[len(prefix) : -len(".part")]  # mkstemp's 8 random characters
            ours = entry.name.startswith(prefix) and entry.name.endswith(".part")
            if ours and len(middle) == 8 and "." not in middle:
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()
                    removed += 1
    return removed


def _partial_names(names: Sequence[str]) -> Iterator[str]:
    return (name for name in names if name.startswith(".") and name.endswith(".part") and name.count(".") >= 3)
