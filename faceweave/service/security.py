"""Who is calling (API key from `Authorization: Bearer` or `X-API-Key`) and how often (per-key token buckets)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from faceweave.service.errors import ServiceError
from faceweave.service.keys import KeyStore

ANONYMOUS = "anonymous"
"""The caller's key id in --no-auth mode."""


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: `Authorization: Bearer KEY`, else `X-API-Key: KEY`, else None."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


@dataclass(frozen=True)
class Authenticator:
    """Checks keys against the key store (401 when none is sent, 403 when it is wrong or revoked).

    Example: ``Authenticator(store).key_id({"x-api-key": secret})`` gives the key's id
    """

    keys: KeyStore | None
    """None: --no-auth (localhost only), every caller is `anonymous`."""

    def key_id(self, headers: Mapping[str, str]) -> str:
        """The calling key's id, or a ServiceError (401/403)."""
        if self.keys is None:
            return ANONYMOUS
        secret = presented_key(headers)
        if secret is None:
            raise ServiceError(
                401,
                "missing API key; send `Authorization: Bearer KEY` or `X-API-Key: KEY` (`faceweave keys create`)",
                {"WWW-Authenticate": "Bearer"},
            )
        record = self.keys.check(secret)
        if record is None:
            raise ServiceError(403, "API key is not valid or was revoked; ask the operator for a key")
        return record.id


@dataclass
class RateLimiter:
    """Token buckets per key: `per_minute` requests, bursts up to the same number; 0 turns it off.

    Example: ``RateLimiter(60).take("key-1")`` passes; the 61st call within a second raises a 429
    """

    per_minute: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key_id: str, now: float | None = None) -> None:
        """Spend one token for this key, or raise 429 with Retry-After (seconds until the next token)."""
        if self.per_minute <= 0:
            return
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, stamp = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - stamp) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / rate)
                raise ServiceError(
                    429, f"rate limit of {self.per_minute} requests per minute reached", {"Retry-After": str(wait)}
                )
            self._buckets[key_id] = (tokens - 1.0, now)
