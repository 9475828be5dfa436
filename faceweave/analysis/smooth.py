"""Temporal smoothing for video: One-Euro filters, mesh smoothing with the rigid head motion removed, gain smoothing.

Naive smoothing of image-space landmarks lags behind every head movement. `MeshSmoother` in "rigid" mode first
fits the frame's 3D similarity (canonical face → mesh), filters only the face's shape in that head frame
(expression + landmark noise), then re-applies the current pose: head motion passes through with no lag.
"""

from __future__ import annotations

import math

import numpy as np

from faceweave.analysis.mesh import similarity_3d
from faceweave.settings import Smoothing
from faceweave.types import FloatArray

DEFAULT_DT = 1 / 30  # seconds between frames when no timestamps are given


def _alpha(dt: float, cutoff: FloatArray | float) -> FloatArray:
    """Exponential-smoothing factor of a first-order low-pass with this cutoff (Hz) at time step dt."""
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff, np.float32))
    return (1.0 / (1.0 + tau / dt)).astype(np.float32)


class OneEuroFilter:
    """One-Euro filter (Casiez et al. 2012) over arrays of points (..., D): the cutoff rises with each point's speed.

    Still points are smoothed hard (cutoff `min_cutoff` Hz), fast ones barely (cutoff + `beta` × speed).

    Example:
        >>> f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
        >>> f(np.zeros((2, 3), np.float32), 1 / 30).shape
        (2, 3)
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._value: FloatArray | None = None
        self._speed: FloatArray | None = None

    def reset(self) -> None:
        """Forget the history (the next value passes through unchanged)."""
        self._value = self._speed = None

    def __call__(self, value: FloatArray, dt: float = DEFAULT_DT) -> FloatArray:
        """The filtered value (same shape); `dt` is the time since the previous call, in seconds."""
        value = np.asarray(value, np.float32)
        if self._value is None or self._speed is None or self._value.shape != value.shape or dt <= 0:
            self._value, self._speed = value.copy(), np.zeros_like(value)
            return value.copy()
        a_d = _alpha(dt, self.d_cutoff)
        self._speed = a_d * (value - self._value) / dt + (1 - a_d) * self._speed
        speed = np.linalg.norm(self._speed, axis=-1, keepdims=True)
        a = _alpha(dt, self.min_cutoff + self.beta * speed)
        self._value = (a * value + (1 - a) * self._value).astype(np.float32)
        return self._value.copy()


def cutoff_for(strength: float) -> float:
    """Minimum cutoff (Hz) for a 0–1 smoothing strength: 0 → 30 Hz (off in practice), 0.5 → 3 Hz, 1 → 0.3 Hz."""
    return 30.0 * 100.0 ** (-strength)


class MeshSmoother:
    """Smooths one track's (478, 3) meshes over time; mode "rigid" (default), "naive" (image space) or "none".

    Example:
        >>> smoother = MeshSmoother(load_topology().canonical, "rigid", 0.5)  # doctest: +SKIP
        >>> smoothed = smoother(mesh, 1 / 30)  # doctest: +SKIP
    """

    # beta in canonical units (≈ 2.7 per face width): an expression moving at ~1 face width/s opens the cutoff
    # by ~8 Hz; image-space speeds are in pixels, so naive mode scales beta by a typical 1/100 face width.
    RIGID_BETA = 3.0
    NAIVE_BETA = 0.03

    def __init__(self, canonical: FloatArray, mode: Smoothing, strength: float) -> None:
        self.mode = mode
        self._canonical = canonical[:468].astype(np.float32)
        beta = self.RIGID_BETA if mode == "rigid" else self.NAIVE_BETA
        self._filter = OneEuroFilter(cutoff_for(strength), beta)

    def __call__(self, mesh: FloatArray, dt: float = DEFAULT_DT) -> FloatArray:
        """The smoothed mesh for this frame (the first call returns `mesh` itself)."""
        if self.mode == "none":
            return mesh
        if self.mode == "naive":
            return self._filter(mesh, dt)
        scale, rotation, shift = similarity_3d(self._canonical, mesh[:468])
        local = ((mesh - shift) @ rotation) / scale  # the shape in the head's own frame (canonical units)
        smoothed = self._filter(local, dt)
        return (scale * smoothed @ rotation.T + shift).astype(np.float32)
