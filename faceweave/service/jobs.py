"""The persistent job store (SQLite, WAL): job rows plus one folder per job, named by a digest of its id."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from faceweave.service.sqlite import PRIVATE_DIR, private_database, private_dir, transaction

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
MAX_ATTEMPTS = 3  # a job started this many times without finishing (each start died with the process) fails
JobKind = Literal["video", "images"]
STATES: tuple[str, ...] = get_args(JobState)
FINISHED: tuple[str, ...] = ("done", "failed", "cancelled")
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0,
    error TEXT, created REAL NOT NULL, updated REAL NOT NULL, key_id TEXT, consent TEXT,
    options TEXT NOT NULL, inputs TEXT NOT NULL, result TEXT, attempts INTEGER NOT NULL DEFAULT 0
)
"""
REQUEST_KEY = "_request"
"""The key of `Job.options` under which a job keeps what is no setting (its trim, the user's pick of faces)."""
_COLUMNS = "id, kind, state, progress, error, created, updated, key_id, consent, options, inputs, result, attempts"


@dataclasses.dataclass(frozen=True)
class Job:
    """One job row. `options` are Settings overrides, `inputs` the stored upload names by role.

    Example: ``store.get(job_id).state`` gives ``'queued'``
    """

    id: str
    kind: JobKind
    state: JobState
    progress: float
    error: str | None
    created: float
    updated: float
    key_id: str | None
    consent: str | None
    options: Mapping[str, Any]
    inputs: Mapping[str, list[str]]
    result: str | None
    attempts: int = 0

    @property
    def overrides(self) -> dict[str, Any]:
        """The Settings fields the job changes."""
        return {name: value for name, value in self.options.items() if name != REQUEST_KEY}

    @property
    def request(self) -> Mapping[str, Any]:
        """What else the client asked for: `start`, `end` (seconds) and `choice` (FaceChoice.to_json), when sent."""
        extras: Mapping[str, Any] = self.options.get(REQUEST_KEY, {})
        return extras

    def to_public(self) -> dict[str, Any]:
        """What GET /v1/jobs/{id} answers (no file names, no options)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": round(self.progress, 4),
            "error": self.error,
            "created": self.created,
            "updated": self.updated,
            "consent": self.consent,
            "result_ready": self.state == "done" and self.result is not None,
        }


def new_job_id() -> str:
    """A random, URL-safe job id (192 bits)."""
    return secrets.token_urlsafe(24)


def valid_job_id(job_id: str) -> bool:
    """Whether a string can be a job id (checked before any lookup)."""
    return _JOB_ID.fullmatch(job_id) is not None


class JobStore:
    """Job rows in `root/jobs.sqlite`, files in `root/jobs/<sha256(id)[:32]>/` (ids never become paths).

    Example:
        >>> store = JobStore(Path("/tmp/fw"))  # doctest: +SKIP
        >>> store.create("video", options={}, inputs={"target": ["target.mp4"]}).state  # doctest: +SKIP
        'queued'
    """

    def __init__(self, root: Path) -> None:
        self.root = private_dir(root)
        private_dir(root / "jobs")
        self.path = private_database(root / "jobs.sqlite")
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def folder(self, job_id: str) -> Path:
        """The job's folder (made on demand); its name is a digest of the id, never the id itself."""
        folder = self._path(job_id)
        folder.mkdir(exist_ok=True, mode=PRIVATE_DIR)
        return folder

    def _path(self, job_id: str) -> Path:
        if not valid_job_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / "jobs" / hashlib.sha256(job_id.encode()).hexdigest()[:32]

    def create(
        self,
        kind: JobKind,
        *,
        options: Mapping[str, Any],
        inputs: Mapping[str, list[str]],
        job_id: str | None = None,
        key_id: str | None = None,
        consent: str | None = None,
    ) -> Job:
        """Insert a queued job (its files must already be in `folder(job_id)`)."""
        job_id = job_id or new_job_id()
        now = time.time()
        row = (job_id, kind, "queued", now, now, key_id, consent, json.dumps(dict(options)), json.dumps(dict(inputs)))
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, kind, state, created, updated, key_id, consent, options, inputs)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        if not valid_job_id(job_id):
            return None
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def start(self, job_id: str) -> Job | None:
        """Mark a queued job running (attempts + 1); None when it is no longer queued (cancelled meanwhile)."""
        with self._connect() as db:
            changed = db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated = ? "
                "WHERE id = ? AND state = 'queued'",
                (time.time(), job_id),
            ).rowcount
        return self.get(job_id) if changed else None

    def progress(self, job_id: str, fraction: float) -> bool:
        """Record progress of a running job; False when it is no longer running (cancelled: stop working)."""
        with self._connect() as db:
            return bool(
                db.execute(
                    "UPDATE jobs SET progress = ?, updated = ? WHERE id = ? AND state = 'running'",
                    (min(1.0, max(0.0, fraction)), time.time(), job_id),
                ).rowcount
            )

    def finish(self, job_id: str, state: JobState, *, error: str | None = None, result: str | None = None) -> bool:
        """Move a queued or running job to a final state; False when it already was final."""
        progress = ", progress = 1" if state == "done" else ""
        with self._connect() as db:
            return bool(
                db.execute(
                    f"UPDATE jobs SET state = ?, error = ?, result = ?, updated = ?{progress} "
                    "WHERE id = ? AND state IN ('queued', 'running')",
                    (state, error, result, time.time(), job_id),
                ).rowcount
            )

    def sweep_partial_files(self) -> int:
        """Delete the hidden `.NAME….part` files a killed process left in job folders (a result being written when
        it died); returns how many. Run at start, before any job runs."""
        removed = 0
        for part in (self.root / "jobs").glob("*/.*.part"):
            with contextlib.suppress(OSError):
                part.unlink()
                removed += 1
        return removed

    def requeue_running(self, max_attempts: int = MAX_ATTEMPTS) -> list[str]:
        """After a restart: jobs left running by the previous process go back to the queue (ids returned), unless
        they have been started `max_attempts` times already: a job that keeps taking the server down fails, with a
        reason, instead of being retried forever ahead of every other job."""
        now = time.time()
        reason = f"stopped the service {max_attempts} times while running; not retried (try a smaller or other file)"
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET state = 'failed', error = ?, updated = ? WHERE state = 'running' AND attempts >= ?",
                (reason, now, max_attempts),
            )
            ids = [row[0] for row in db.execute("SELECT id FROM jobs WHERE state = 'running'")]
            db.execute("UPDATE jobs SET state = 'queued', progress = 0, updated = ? WHERE state = 'running'", (now,))
        return ids

    def queued(self) -> list[str]:
        """Ids of queued jobs, oldest first."""
        with self._connect() as db:
            return [row[0] for row in db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created")]

    def expired(self, ttl_s: float, now: float | None = None) -> list[str]:
        """Ids of finished jobs last changed more than `ttl_s` seconds ago."""
        cutoff = (time.time() if now is None else now) - ttl_s
        with self._connect() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND updated < ?", (cutoff,)
            )
            return [row[0] for row in rows]

    def over_cap(self, total_bytes: int, per_key_bytes: int) -> list[str]:
        """Ids of finished jobs to delete, oldest first, so that finished results take at most `total_bytes` in all
        and `per_key_bytes` per API key (a result's size is that of its job's files)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, key_id FROM jobs WHERE state IN ('done', 'failed', 'cancelled') ORDER BY updated, id"
            ).fetchall()
        sizes = {job_id: _folder_bytes(self._path(job_id)) for job_id, _ in rows}
        total = sum(sizes.values())
        per_key: dict[str, int] = {}
        for job_id, key_id in rows:
            per_key[key_id] = per_key.get(key_id, 0) + sizes[job_id]
        chosen = []
        for job_id, key_id in rows:  # oldest first
            if total <= total_bytes and per_key[key_id] <= per_key_bytes:
                continue
            chosen.append(job_id)
            total -= sizes[job_id]
            per_key[key_id] -= sizes[job_id]
        return chosen

    def remove_files(self, job_id: str) -> None:
        """Delete the job's folder (inputs and result)."""
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def delete(self, job_id: str) -> None:
        """Delete the row and the files of a job."""
        self.remove_files(job_id)
        with self._connect() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state listed, zeros included)."""
        with self._connect() as db:
            found = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        return {state: int(found.get(state, 0)) for state in STATES}


def _job(row: tuple[Any, ...]) -> Job:
    values = list(row)
    values[9] = json.loads(values[9])
    values[10] = json.loads(values[10])
    return Job(*values)


def _folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
