"""StageClock: the one timing hook of the swap; each stage adds its milliseconds under its name."""

from __future__ import annotations

import time


class StageClock:
    """Milliseconds per named stage of one frame, summed over faces, in the order stages first ran.

    `lap(name)` adds the time since the previous lap (or since the clock was made) to `name`.

    Example:
        >>> clock = StageClock()
        >>> clock.lap("detect") >= 0.0
        True
        >>> list(clock.stages)
        ['detect']
    """

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self._stages: dict[str, float] = {}

    def restart(self) -> None:
        """Start the next lap now (time since the last lap is not counted)."""
        self._last = time.perf_counter()

    def lap(self, name: str) -> float:
        """Add the time since the last lap to `name`; returns it in ms."""
        now = time.perf_counter()
        spent = (now - self._last) * 1000
        self._last = now
        self._stages[name] = self._stages.get(name, 0.0) + spent
        return spent

    @property
    def stages(self) -> dict[str, float]:
        """A copy of the ms per stage so far."""
        return dict(self._stages)
