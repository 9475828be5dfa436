"""Observability: Prometheus metrics on a per-app registry, and one-line JSON logs with request ids and timings."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _JobsCollector(Collector):
    """Reads the job counts from the store at scrape time."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("faceweave_jobs", "Jobs in the store by state", labels=["state"])
        for state, count in self._counts().items():
            family.add_metric([state], count)
        yield family


class Metrics:
    """The service's metrics; one instance (and registry) per app, so tests can build many apps.

    Example: ``Metrics(lambda: 0, lambda: 0, dict).requests.labels("GET", "/healthz", "200").inc()``
    """

    def __init__(
        self,
        queue_depth: Callable[[], int],
        busy: Callable[[], int],
        job_counts: Callable[[], dict[str, int]],
        live_sessions: Callable[[], int] = lambda: 0,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "faceweave_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "faceweave_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.swap_stage = Histogram(
            "faceweave_swap_stage_seconds",
            "Swap time per stage",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "faceweave_rejected", "Requests refused for load (503) or rate (429)", ["reason"], registry=self.registry
        )
        depth = Gauge("faceweave_queue_depth", "Tasks waiting for a worker", registry=self.registry)
        depth.set_function(lambda: float(queue_depth()))
        working = Gauge("faceweave_workers_busy", "Workers running a task", registry=self.registry)
        working.set_function(lambda: float(busy()))
        live = Gauge("faceweave_live_sessions", "WebSocket live sessions holding a live worker", registry=self.registry)
        live.set_function(lambda: float(live_sessions()))
        self.live_frames = Counter(
            "faceweave_live_frames",
            "Live frames answered or dropped (a newer one came)",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(_JobsCollector(job_counts))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every `extra=` field (request_id, ms, ...)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_json_logs(level: int = logging.INFO) -> None:
    """Send faceweave's and uvicorn's logs to stderr as JSON lines (called by `faceweave serve`, not on import)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("faceweave", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
