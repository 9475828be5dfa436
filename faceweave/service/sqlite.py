"""One short SQLite transaction per call, and private files: the job store and the key store share these."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def transaction(path: Path, timeout: float = 10.0) -> Iterator[sqlite3.Connection]:
    """A connection that commits on success, rolls back on error, and is always closed.

    Example: ``with transaction(Path("jobs.sqlite")) as db: db.execute("SELECT 1")``
    """
    db = sqlite3.connect(path, timeout=timeout)
    try:
        with db:
            yield db
    finally:
        db.close()


PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def private_dir(path: Path) -> Path:
    """`path` made (with its parents) and readable by this user only: uploaded faces, results and keys live there."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    path.chmod(PRIVATE_DIR)
    return path


def private_database(path: Path) -> Path:
    """The SQLite file at `path`, created empty if missing, readable by this user only (SQLite gives its -wal and -shm
    files the same permissions)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))
    path.chmod(PRIVATE_FILE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new file readable by this user only."""
    with os.fdopen(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE), "wb") as handle:
        handle.write(data)
