"""API keys: random secrets stored only as salted sha256 digests in a small SQLite file."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from faceweave.errors import UsageError
from faceweave.service.sqlite import private_database, private_dir, transaction

KEY_PREFIX = "fw_"
RUN_KEY_ID = "run-"  # + a digest of the key: each key given to `serve` is its own identity (jobs, rate limit)
"""The id reported for keys given with `faceweave serve --api-key` (they exist for that run only)."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, salt BLOB NOT NULL, digest BLOB NOT NULL,
    created TEXT NOT NULL, revoked TEXT
)
"""


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """A key's public record: id, name, when it was made and (if so) revoked; never the secret.

    Example: ``ApiKey("a1b2c3d4", "ci", "2025-01-01T00:00:00Z").active`` is True
    """

    id: str
    name: str
    created: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        """Whether requests may use this key."""
        return self.revoked is None


@dataclasses.dataclass(frozen=True)
class _Digest:
    key_id: str
    salt: bytes
    digest: bytes
    revoked: bool


def digest(secret: str, salt: bytes) -> bytes:
    """sha256(salt ‖ secret): keys are 256-bit random tokens, so a fast salted hash is enough (no password)."""
    return hashlib.sha256(salt + secret.encode("utf-8", "surrogatepass")).digest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_key_id(secret: str) -> str:
    """The id of a key given to `serve` (not stored): stable across restarts, so its jobs stay its own, and
    different for each key (32 bits of a hash of a 16+ character secret reveal nothing usable)."""
    return RUN_KEY_ID + hashlib.sha256(secret.encode()).hexdigest()[:8]


class KeyStore:
    """Creates, lists, revokes and checks API keys kept in `path` (SQLite, WAL).

    Example:
        >>> store = KeyStore(Path("/tmp/keys.sqlite"))  # doctest: +SKIP
        >>> record, secret = store.create("ci")  # doctest: +SKIP
        >>> store.check(secret).id == record.id  # doctest: +SKIP
        True
    """

    def __init__(self, path: Path, run_keys: Sequence[str] = ()) -> None:
        private_dir(path.parent)
        self.path = private_database(path)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
        self._run_keys = tuple(self._run_digest(secret) for secret in run_keys)

    def _connect(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    @staticmethod
    def _run_digest(secret: str) -> _Digest:
        salt = secrets.token_bytes(16)
        return _Digest(run_key_id(secret), salt, digest(secret, salt), False)

    def create(self, name: str = "") -> tuple[ApiKey, str]:
        """A new key: its record and the secret, shown once (only its digest is stored)."""
        if len(name) > 200 or not name.isprintable():
            raise UsageError(f"a key name must be at most 200 printable characters, got {name!r}")
        record = ApiKey(secrets.token_hex(4), name, _now())
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        with self._connect() as db:
            row = (record.id, name, salt, digest(secret, salt), record.created)
            db.execute("INSERT INTO keys (id, name, salt, digest, created) VALUES (?, ?, ?, ?, ?)", row)
        return record, secret

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT id, name, created, revoked FROM keys ORDER BY created, id").fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (requests with it then get 403); UsageError when there is no such key."""
        with self._connect() as db:
            db.execute("UPDATE keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (_now(), key_id))
            row = db.execute("SELECT id, name, created, revoked FROM keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            raise UsageError(f"no API key with id {key_id!r}; `faceweave keys list` shows the ids")
        return ApiKey(*row)

    def check(self, secret: str) -> ApiKey | None:
        """The active key this secret belongs to, or None (unknown or revoked); constant time per stored key."""
        found: _Digest | None = None
        for entry in (*self._run_keys, *self._stored()):
            if hmac.compare_digest(digest(secret, entry.salt), entry.digest):
                found = entry
        if found is None or found.revoked:
            return None
        return ApiKey(found.key_id, "--api-key" if found.key_id.startswith(RUN_KEY_ID) else "", "")

    def _stored(self) -> list[_Digest]:
        with self._connect() as db:
            rows = db.execute("SELECT id, salt, digest, revoked FROM keys").fetchall()
        return [_Digest(key_id, salt, value, revoked is not None) for key_id, salt, value, revoked in rows]
