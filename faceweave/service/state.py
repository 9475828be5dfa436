"""Service: everything one app instance owns (store, keys, pool, live workers, metrics, janitor), on app.state."""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field

from faceweave.service.config import ServiceConfig
from faceweave.service.engine import SwapEngine
from faceweave.service.jobs import JobStore
from faceweave.service.keys import KeyStore
from faceweave.service.live_engine import LiveWorkers
from faceweave.service.model_choice import ModelChoices
from faceweave.service.observe import Metrics
from faceweave.service.pool import PRIORITY_JOB, WorkerPool
from faceweave.service.runner import JobRunner
from faceweave.service.security import Authenticator, RateLimiter
from faceweave.settings import Settings

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Service:
    """The running parts of one app; `start()` in the app's lifespan, `stop()` at shutdown.

    Example: ``Service.create(ServiceConfig(data_dir=Path("/tmp/fw"), no_auth=True)).start()``
    """

    config: ServiceConfig
    store: JobStore
    auth: Authenticator
    limiter: RateLimiter
    pool: WorkerPool
    runner: JobRunner
    metrics: Metrics
    base: Settings
    """The operator's Settings (image pixel limit capped by the service's); requests override OPTION_FIELDS only."""
    live: LiveWorkers
    """The engine threads lent to /v1/live sessions, at most `config.max_live_sessions`."""
    models: ModelChoices
    """The models clients may choose (those installed in the store), looked up again by the janitor."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _janitor: threading.Thread | None = None

    @classmethod
    def create(cls, config: ServiceConfig) -> Service:
        """Open the stores and build the pool (no thread runs until `start`)."""
        store = JobStore(config.data_dir)
        keys = None if config.no_auth else KeyStore(config.keys_path, config.api_keys)
        base = config.settings.replace(max_image_pixels=min(config.settings.max_image_pixels, config.max_image_pixels))
        pool = WorkerPool(functools.partial(SwapEngine, base), config.workers, config.queue_size, config.warm_up)
        live = LiveWorkers(base, config.max_live_sessions)
        metrics = Metrics(lambda: pool.depth, lambda: pool.busy, store.counts, lambda: live.active)
        runner = JobRunner(store, base, config.max_image_pixels)
        limiter = RateLimiter(config.rate_limit)
        models = ModelChoices.scan(base)
        return cls(config, store, Authenticator(keys), limiter, pool, runner, metrics, base, live, models)

    def start(self) -> None:
        """Remove the partial results a killed process left, start workers, re-queue jobs a previous process left
        running or queued, start the janitor."""
        self.store.sweep_partial_files()  # before any worker can be writing one
        self.pool.start()
        restored = self.store.requeue_running()
        queued = self.store.queued()
        for job_id in queued:
            self.pool.submit(functools.partial(self.runner, job_id), priority=PRIORITY_JOB, force=True)
        if queued:
            log.info("jobs restored", extra={"requeued_running": len(restored), "queued": len(queued)})
        self._janitor = threading.Thread(target=self._sweep_loop, name="faceweave-janitor", daemon=True)
        self._janitor.start()

    def stop(self) -> None:
        """Stop the janitor and the workers (running jobs stay `running` in the store: the next start re-queues)."""
        self._stop.set()
        self.pool.stop()
        self.live.close()
        if self._janitor is not None:
            self._janitor.join(5)

    def sweep(self, now: float | None = None) -> int:
        """Delete finished jobs older than the result TTL, then the oldest finished ones while results take more than
        the total or a key's cap (rows and files); returns how many."""
        expired = self.store.expired(self.config.result_ttl_s, now)
        for job_id in expired:
            self.store.delete(job_id)
        evicted = self.store.over_cap(self.config.max_results_bytes, self.config.max_results_bytes_per_key)
        for job_id in evicted:
            self.store.delete(job_id)
        return len(expired) + len(evicted)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.config.janitor_interval_s):
            try:
                removed = self.sweep()
                self.models = self.models.refresh(self.base)  # models installed or removed while the server runs
            except Exception:  # the janitor must outlive a locked database or a full disk
                log.exception("janitor sweep failed")
                continue
            if removed:
                log.info("expired jobs deleted", extra={"count": removed})
