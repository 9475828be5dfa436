"""One short SQLite transaction per call: the job store and the key store share this."""

from __future__ import annotations

import contextlib
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
