"""The Python API: `swap_image` on paths or arrays, `swap_file` from files to a labelled file, `analyse_file`.

For many frames or targets, load an `Engine` once and reuse it (see `faceweave.engine`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from faceweave.app.jobs import analyse_file, draw_faces, run_on_target, swap_image_file
from faceweave.engine import Engine, ImageInput
from faceweave.settings import Settings, load_settings
from faceweave.types import Image

__all__ = ["analyse_file", "draw_faces", "swap_file", "swap_image"]

swap_file = swap_image_file


def _as_list(items: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    if isinstance(items, str | os.PathLike | np.ndarray) or not isinstance(items, Sequence):
        return [items]
    return list(items)


def swap_image(
    source: ImageInput | Sequence[ImageInput],
    target: ImageInput,
    *,
    references: Sequence[ImageInput] = (),
    settings: Settings | None = None,
    **options: Any,
) -> Image:
    """Put the source person's face onto the faces of `target`; returns the new BGR image.

    Args:
        source: one or more photos of the source person (paths or H×W×3 BGR uint8 arrays).
        target: the image to change.
        references: swap only faces matching these people (with several, reference i gets source i).
        settings: full Settings; `options` (e.g. blend=0.8, selector="largest") override single fields.

    Example:
        >>> result = swap_image("me.jpg", "group.jpg", selector="largest")  # doctest: +SKIP
    """
    settings = load_settings(env={}, **options) if settings is None else settings.replace(**options)
    engine = Engine.load(settings)
    return run_on_target(engine, engine.bind(_as_list(source), references), target).image
