"""One worker's warm models (the application layer's EngineCache: engines per Settings, source identities per
content) and the swap of one request into labelled bytes."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import time
from collections.abc import Hashable, Sequence
from typing import Any

from faceweave.app.cache import EngineCache, model_names
from faceweave.app.jobs import run_on_target
from faceweave.app.output import encode_labelled_image
from faceweave.engine import Binding, Bindings, Engine, ImageInput, Mode
from faceweave.media.image_io import LoadedImage
from faceweave.provenance.label import label_for
from faceweave.service.choice import FaceChoice, chosen_bindings, describe_faces, ranked_faces
from faceweave.settings import Settings
from faceweave.types import Image

log = logging.getLogger(__name__)

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
    choice: FaceChoice | None = None
    """The faces to swap and the source of each (None: the settings' selector decides)."""
    faces_from: LoadedImage | None = None
    """The picture `choice` numbers the faces of (None: the target itself)."""


@dataclasses.dataclass(frozen=True)
class AnalyseOutput:
    """The faces of one image as /v1/analyse answers them, and the milliseconds it took."""

    width: int
    height: int
    faces: list[dict[str, Any]]
    analyse_ms: float


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


class SwapEngine:
    """Warm models for one worker thread (MediaPipe graphs are not thread-safe: never share an engine).

    Example:
        >>> engine = SwapEngine(Settings())  # doctest: +SKIP
        >>> engine.swap(request).media_type  # doctest: +SKIP
        'image/png'
    """

    def __init__(self, base: Settings, engines: int = 4, identities: int = 16) -> None:
        self.base = base
        self.cache = EngineCache(engines, identities)

    @property
    def cached(self) -> tuple[int, int]:
        """How many engines and source identities this worker holds warm."""
        return self.cache.cached

    def warm(self) -> None:
        """Load the models of the operator's settings now (start-up), not on the first request."""
        self.cache.engine(self.base)

    def analyse(self, image: LoadedImage, settings: Settings) -> AnalyseOutput:
        """The faces of `image` in `settings.face_order`, each with its box, score, pose and a thumbnail."""
        began = time.perf_counter()
        analyser = self.cache.engine(settings, "still").analyser
        faces = ranked_faces(analyser, image.image, settings.face_order)
        described = describe_faces(image.image, faces)
        height, width = image.image.shape[:2]
        return AnalyseOutput(width, height, described, (time.perf_counter() - began) * 1000)

    def bound(
        self,
        settings: Settings,
        mode: Mode,
        digest: str,
        sources: Sequence[ImageInput],
        choice: FaceChoice | None = None,
        picture: Image | None = None,
    ) -> tuple[Engine, Bindings]:
        """The engine for `settings` and `mode` and its bindings of `sources` (analysed once per `digest`); with a
        `choice`, one binding per chosen face of `picture`, the face being the reference its source replaces."""
        engine = self.cache.engine(settings, mode)
        if choice is None:
            return engine, self.cache.bindings(engine, digest, lambda: sources)
        people: dict[int, Binding] = {}
        for source in sorted(set(choice.sources)) or [0]:
            key: Hashable = (digest, source) if choice.sources else digest
            photos = [sources[source]] if choice.sources else list(sources)
            people[source] = self.cache.bindings(engine, key, functools.partial(list, photos))[0]
        assert picture is not None, "a choice needs the picture its face numbers refer to"
        analyser = self.cache.engine(settings, "still").analyser
        faces = ranked_faces(analyser, picture, settings.face_order)
        return engine, chosen_bindings(people, analyser, picture, faces, choice)

    def swap(self, request: SwapInput) -> SwapOutput:
        """Swap, watermark, label (consent and job id included) and encode one image."""
        began = time.perf_counter()
        picture = (request.faces_from or request.target).image
        engine, bindings = self.bound(
            request.settings, "still", request.source_digest, request.sources, request.choice, picture
        )
        bound = time.perf_counter()
        result = run_on_target(engine, bindings, request.target)
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


__all__ = ["AnalyseOutput", "SwapEngine", "SwapInput", "SwapOutput", "digest_sources", "model_names"]
