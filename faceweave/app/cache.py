"""EngineCache: engines built once per (Settings, mode), source bindings analysed once per (engine, sources)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from faceweave.engine import Bindings, Engine, ImageInput, Mode
from faceweave.errors import FaceweaveError
from faceweave.settings import Settings

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")


class EngineCache:
    """Warm engines and bindings for one thread (MediaPipe graphs are not thread-safe: never share a cache).

    Engines are kept per (settings, mode), bindings per (settings, mode, key), both least recently used first out.
    `key` names the sources' content (e.g. a sha256 of their bytes, or their paths in a batch); a binding that
    failed (no face in the source) is kept as its error, so every later request with those sources fails the same
    way without analysing them again.

    Example:
        >>> cache = EngineCache()
        >>> engine, bindings = cache.bound(Settings(), "still", ("me.jpg",), ["me.jpg"])  # doctest: +SKIP
    """

    def __init__(self, engines: int = 4, bindings: int = 16) -> None:
        self._engines: OrderedDict[tuple[Settings, Mode], Engine] = OrderedDict()
        self._bindings: OrderedDict[tuple[Settings, Mode, Hashable], Bindings | FaceweaveError] = OrderedDict()
        self._sizes = (engines, bindings)

    @property
    def cached(self) -> tuple[int, int]:
        """How many engines and source bindings are held warm."""
        return len(self._engines), len(self._bindings)

    def engine(self, settings: Settings, mode: Mode = "still") -> Engine:
        """The engine for these settings and mode (built once)."""
        key = (settings, mode)
        engine = self._engines.get(key)
        if engine is None:
            began = time.perf_counter()
            engine = Engine.load(settings, mode)
            load_ms = round((time.perf_counter() - began) * 1000, 1)
            log.info("models loaded", extra={"models": model_names(settings), "mode": mode, "load_ms": load_ms})
        _remember(self._engines, key, engine, self._sizes[0])
        return engine

    def bindings(
        self,
        engine: Engine,
        key: Hashable,
        sources: Callable[[], Sequence[ImageInput]],
        references: Sequence[ImageInput] = (),
    ) -> Bindings:
        """The engine's bindings of these sources (`sources()` is called only when they are not cached)."""
        cache_key = (engine.settings, engine.mode, key)
        found = self._bindings.get(cache_key)
        if found is None:
            try:
                found = engine.bind(sources(), references)
            except FaceweaveError as error:
                found = error
        _remember(self._bindings, cache_key, found, self._sizes[1])
        if isinstance(found, FaceweaveError):
            raise found
        return found

    def bound(
        self, settings: Settings, mode: Mode, key: Hashable, sources: Sequence[ImageInput]
    ) -> tuple[Engine, Bindings]:
        """`engine(settings, mode)` and its bindings of `sources` (known by `key`)."""
        engine = self.engine(settings, mode)
        return engine, self.bindings(engine, key, lambda: sources)


def model_names(settings: Settings) -> dict[str, str]:
    """The models a swap with these settings uses (for logs)."""
    return {
        "detector": settings.detector,
        "swapper": settings.swapper,
        "enhancer": settings.enhancer,
        "frame_enhancer": settings.frame_enhancer,
    }


def _remember(cache: OrderedDict[K, V], key: K, value: V, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
