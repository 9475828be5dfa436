"""Stream: all temporal state of one video or live run (tracks, smoothing, lighting gains)."""

from __future__ import annotations

from collections.abc import Iterable

from faceweave.analysis.track import FaceTracker
from faceweave.compose.color import GainFilter, GainSmoother

GAIN_WEIGHT = 0.35  # share of the new frame in a track's smoothed lighting gain


class Stream:
    """What one video or live run remembers from frame to frame; made by `Engine.stream()`, one per run.

    Two owners, so two threads can share a stream without a lock: the analysis stage owns `tracker` (track ids,
    Face Mesh graphs, landmark smoothing, cached embeddings), the render stage owns the per-track lighting gains.

    Example:
        >>> stream = engine.stream()  # doctest: +SKIP
        >>> result = engine.process(frame, bindings, stream, seconds=0.04)  # doctest: +SKIP
    """

    def __init__(self, tracker: FaceTracker) -> None:
        self.tracker = tracker
        self._gains: dict[int, GainSmoother] = {}
        self.followed: int | None = None
        """(Analysis stage) with `--selector largest`: the track of the face that was largest when first seen, which
        keeps the swap while its track lives (another face growing larger does not take it over)."""

    def gain_filter(self, track_id: int) -> GainFilter | None:
        """(Render stage) the lighting-gain smoother of a track; None for untracked faces (id < 0)."""
        if track_id < 0:
            return None
        smoother = self._gains.get(track_id)
        if smoother is None:
            smoother = self._gains[track_id] = GainSmoother(GAIN_WEIGHT)
        return smoother

    def keep_gains(self, track_ids: Iterable[int]) -> None:
        """(Render stage) forget the gains of tracks that ended (a track id is never reused)."""
        alive = set(track_ids)
        for track_id in [t for t in self._gains if t not in alive]:
            del self._gains[track_id]

    def reset(self) -> None:
        """Forget everything (before an unrelated sequence of frames): tracks, smoothing, gains."""
        self.tracker.reset()
        self._gains.clear()
        self.followed = None
