"""ServiceConfig: everything the operator decides about the REST service, validated once."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from faceweave.errors import UsageError
from faceweave.media.video_io import VideoLimits
from faceweave.settings import CLIENT_FIELDS, Settings

MB = 1024 * 1024

OPTION_FIELDS: tuple[str, ...] = CLIENT_FIELDS
"""Settings a client may change per request (declared `client=True` in faceweave.settings; models only among those
installed, see service.model_choice); paths, limits and the watermark stay the operator's."""


DATA_DIR_ENV = "FACEWEAVE_DATA_DIR"


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where jobs, results and API keys live unless --data-dir says otherwise: FACEWEAVE_DATA_DIR (containers set
    it once for `serve` and `keys`), else ~/.local/share/faceweave/service."""
    given = environ.get(DATA_DIR_ENV, "").strip()
    return Path(given) if given else Path.home() / ".local" / "share" / "faceweave" / "service"


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass(frozen=True)
class ServiceConfig:
    """The operator's choices for `faceweave serve` / `create_app`.

    Example:
        >>> ServiceConfig(data_dir=Path("/tmp/fw"), workers=2, queue_size=16).keys_path.name
        'keys.sqlite'
    """

    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: tuple[str, ...] = ()
    """Plain keys accepted for this run only (hashed in memory, never written)."""
    no_auth: bool = False
    workers: int = 1
    queue_size: int = 8
    max_upload_bytes: int = 20 * MB
    max_video_bytes: int = 200 * MB
    max_image_pixels: int = 40_000_000
    max_video_frame_pixels: int = 3840 * 2160
    """A video job's frames may be at most this large (4K UHD): far below the still limit, since a job holds many."""
    max_video_seconds: float = 600.0
    max_video_frames: int = 30_000
    max_video_total_pixels: int = 30_000 * 1920 * 1080 // 2
    """Frames × pixels per frame of one video job (the work it asks for): 10 min of 1080p at 25 fps fits."""
    max_batch_images: int = 50
    rate_limit: int = 120
    """Requests per minute per API key on the POST endpoints (0: no limit)."""
    result_ttl_s: float = 3600.0
    max_results_bytes: int = 20 * 1024 * MB
    """Finished jobs' files may take this much in all; the janitor deletes the oldest beyond it ..."""
    max_results_bytes_per_key: int = 5 * 1024 * MB
    """... and beyond this much for one API key."""
    janitor_interval_s: float = 30.0
    require_consent: bool = False
    cors_origins: tuple[str, ...] = ()
    retry_after_s: int = 2
    max_live_sessions: int = 2
    """Webcam sessions on /v1/live at once, each with its own engine thread (0: live is off); more get 503."""
    live_idle_s: float = 60.0
    """A live session is closed when its client sends nothing for this long (handshake included)."""
    settings: Settings = dataclasses.field(default_factory=Settings)
    warm_up: bool = True
    """Load the models of every worker at start-up (/readyz turns ready when done)."""

    def __post_init__(self) -> None:
        if self.no_auth and not is_loopback(self.host):
            raise UsageError(f"--no-auth is only allowed on localhost, got --host {self.host}; create an API key")
        if self.no_auth and self.api_keys:
            raise UsageError("--no-auth and --api-key contradict each other; pick one")
        limits = {
            "workers": (self.workers, 1, 64),
            "queue_size": (self.queue_size, 1, 100_000),
            "port": (self.port, 0, 65_535),
            "max_upload_bytes": (self.max_upload_bytes, 1024, 10**10),
            "max_video_bytes": (self.max_video_bytes, 1024, 10**11),
            "max_image_pixels": (self.max_image_pixels, 1, 10**10),
            "max_video_frame_pixels": (self.max_video_frame_pixels, 1, 10**10),
            "max_video_seconds": (self.max_video_seconds, 0.001, 10**7),
            "max_video_frames": (self.max_video_frames, 1, 10**9),
            "max_video_total_pixels": (self.max_video_total_pixels, 1, 10**15),
            "max_batch_images": (self.max_batch_images, 1, 10_000),
            "rate_limit": (self.rate_limit, 0, 10**7),
            "max_results_bytes": (self.max_results_bytes, 1, 10**15),
            "max_results_bytes_per_key": (self.max_results_bytes_per_key, 1, 10**15),
            "retry_after_s": (self.retry_after_s, 1, 3600),
            "max_live_sessions": (self.max_live_sessions, 0, 64),
            "live_idle_s": (self.live_idle_s, 0.001, 86_400),
        }
        for name, (value, low, high) in limits.items():
            if not low <= value <= high:
                raise UsageError(f"{name} must be between {low} and {high}, got {value}")
        if self.result_ttl_s <= 0 or self.janitor_interval_s <= 0:
            raise UsageError("result_ttl_s and janitor_interval_s must be positive")
        if any(len(key) < 16 for key in self.api_keys):
            raise UsageError("an --api-key must be at least 16 characters; `faceweave keys create` makes good ones")

    @property
    def video_limits(self) -> VideoLimits:
        """What one video job may ask for (checked from the container before decoding)."""
        return VideoLimits(
            self.max_video_frame_pixels, self.max_video_seconds, self.max_video_frames, self.max_video_total_pixels
        )

    @property
    def keys_path(self) -> Path:
        """The SQLite file of hashed API keys."""
        return self.data_dir / "keys.sqlite"

    @property
    def jobs_path(self) -> Path:
        """The SQLite job store."""
        return self.data_dir / "jobs.sqlite"

    @property
    def max_request_bytes(self) -> int:
        """The largest request body accepted (a video job with its source photos)."""
        return self.max_video_bytes + 4 * self.max_upload_bytes

    def replace(self, **changes: object) -> ServiceConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
