"""One worker's warm models: Pipelines cached by Settings, source identities cached by content, swap → bytes."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TypeVar

from faceweave.api import run_on_target
from faceweave.media.image_io import LoadedImage
from faceweave.media.provenance import encode_labelled_image, label_for
from faceweave.pipeline import Binding, Pipeline
from faceweave.settings import Settings

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")
MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


@dataclasses.dataclass(frozen=True, eq=False)
class SwapInput:
    """A decoded swap request: source photos (one person), the target, the settings and the label's extras.

    `source_digest` identifies the sources' content (sha256), so their identity is analysed once per worker.
    """

    sources: tuple[LoadedImage, ...]
    source_digest: str
    target: LoadedImage
    settings: Settings
    extension: str
    consent: str | None = None
    job_id: str | None = None


@dataclasses.dataclass(frozen=True)
class SwapOutput:
    """The encoded, labelled result and what happened: faces found, faces swapped, milliseconds per stage."""

    data: bytes
    media_type: str
    faces: int
    swapped: int
    sources_ms: float
    analyse_ms: float
    swap_ms: float
    encode_ms: float


def digest_sources(blobs: Sequence[bytes]) -> str:
    """sha256 over the sources' bytes (length-prefixed, in order)."""
    hasher = hashlib.sha256()
    for blob in blobs:
        hasher.update(len(blob).to_bytes(8, "big"))
        hasher.update(blob)
    return hasher.hexdigest()


def model_names(settings: Settings) -> dict[str, str]:
    """The models a swap with these settings uses (for logs)."""
    return {
        "detector": settings.detector,
        "swapper": settings.swapper,
        "enhancer": settings.enhancer,
        "frame_enhancer": settings.frame_enhancer,
    }


class SwapEngine:
    """Warm models for one worker thread (MediaPipe graphs are not thread-safe: never share an engine).

    Example:
        >>> engine = SwapEngine(Settings())  # doctest: +SKIP
        >>> engine.swap(request).media_type  # doctest: +SKIP
        'image/png'
    """

    def __init__(self, base: Settings, pipelines: int = 4, identities: int = 16) -> None:
        self.base = base
        self._pipelines: OrderedDict[Settings, Pipeline] = OrderedDict()
        self._bindings: OrderedDict[tuple[Settings, str], list[Binding]] = OrderedDict()
        self._sizes = (pipelines, identities)

    @property
    def cached(self) -> tuple[int, int]:
        """How many Pipelines and source identities this engine holds warm."""
        return len(self._pipelines), len(self._bindings)

    def warm(self) -> None:
        """Load the models of the operator's settings now (start-up), not on the first request."""
        self.pipeline(self.base)

    def pipeline(self, settings: Settings) -> Pipeline:
        """The still-image Pipeline for these settings (built once, least recently used dropped)."""
        pipeline = self._pipelines.get(settings)
        if pipeline is None:
            began = time.perf_counter()
            pipeline = Pipeline.create(settings)
            log.info(
                "models loaded",
                extra={"models": model_names(settings), "load_ms": round((time.perf_counter() - began) * 1000, 1)},
            )
        _remember(self._pipelines, settings, pipeline, self._sizes[0])
        return pipeline

    def bind(self, pipeline: Pipeline, sources: Sequence[LoadedImage], source_digest: str) -> None:
        """Give the pipeline the identity of these sources (analysed once per content and settings)."""
        key = (pipeline.settings, source_digest)
        bindings = self._bindings.get(key)
        if bindings is None:
            bindings = [pipeline.build_binding(sources)]
        _remember(self._bindings, key, bindings, self._sizes[1])
        pipeline.bindings = bindings

    def swap(self, request: SwapInput) -> SwapOutput:
        """Swap, watermark, label (consent and job id included) and encode one image."""
        began = time.perf_counter()
        pipeline = self.pipeline(request.settings)
        self.bind(pipeline, request.sources, request.source_digest)
        bound = time.perf_counter()
        result = run_on_target(pipeline, request.target)
        swapped = time.perf_counter()
        label = label_for(request.settings, consent=request.consent, job_id=request.job_id)
        data = encode_labelled_image(
            result.image,
            request.extension,
            request.settings,
            alpha=request.target.alpha,
            label=label,
            swapped=bool(result.swapped),
        )
        done = time.perf_counter()
        return SwapOutput(
            data=data,
            media_type=MEDIA_TYPES.get(request.extension, "application/octet-stream"),
            faces=len(result.faces),
            swapped=len(result.swapped),
            sources_ms=(bound - began) * 1000,
            analyse_ms=result.stage_ms[0],
            swap_ms=result.stage_ms[1],
            encode_ms=(done - swapped) * 1000,
        )


def _remember(cache: OrderedDict[K, V], key: K, value: V, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
