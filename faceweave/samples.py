"""Real, public-domain portraits that installed packages ship, for the demo and the core tests.

- Grace Hopper (US Navy photo, public domain): matplotlib's sample data (matplotlib comes with mediapipe).
- Eileen Collins (NASA photo, public domain): scikit-image's `astronaut.png` when scikit-image is installed (the
  `dev` extra), else the JPEG copy of it in `faceweave/data/`, so `faceweave demo` works from a plain install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from faceweave.errors import MediaError

_SAMPLES = {
    "hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    "astronaut": ("skimage", "data/astronaut.png"),
}
_SHIPPED = {"astronaut": Path(__file__).parent / "data" / "astronaut.jpg"}
"""Copies shipped with faceweave, for samples whose package is not a base dependency."""
_PIP_NAMES = {"skimage": "scikit-image"}


def sample_path(name: str) -> Path:
    """The path of a bundled sample portrait ("hopper" or "astronaut").

    Example:
        >>> sample_path("hopper").name
        'grace_hopper.jpg'
    """
    package, relative = _SAMPLES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        if name in _SHIPPED and _SHIPPED[name].is_file():
            return _SHIPPED[name]
        pip_name = _PIP_NAMES.get(package, package)
        raise MediaError(package, f"sample '{name}' needs the package", f"pip install {pip_name}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise MediaError(path, f"sample '{name}' is missing from its package", f"reinstall {package}")
    return path


def sample_names() -> tuple[str, ...]:
    """Names accepted by sample_path."""
    return tuple(_SAMPLES)
