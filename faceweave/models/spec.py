"""ModelSpec and TensorSpec: what a neural model file is, where it comes from and what it must look like."""

from __future__ import annotations

import dataclasses
from typing import Literal

Task = Literal["swapper", "embedder", "detector", "face_enhancer", "frame_enhancer"]
Architecture = Literal["inswapper", "arcface", "scrfd", "gfpgan", "codeformer", "gpen", "real_esrgan"]
ColourOrder = Literal["rgb", "bgr"]
Variant = Literal["original", "fp16", "int8"]
"""A model file as published, or a lighter copy `faceweave models optimize` made of it (float16, dynamic int8)."""
VARIANT_MARK = "@"
"""Joins a catalog name and a variant: `inswapper_128@fp16`."""
Dim = int | None
"""A tensor dimension: a fixed size, or None when the model accepts any (dynamic axes)."""


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One model input or output: name (None: any), shape and the element types accepted.

    Example:
        >>> TensorSpec("target", (1, 3, 128, 128)).dtypes
        ('float32',)
    """

    name: str | None
    shape: tuple[Dim, ...]
    dtypes: tuple[str, ...] = ("float32",)

    def describe(self) -> str:
        """`name 1×3×?×? float32` for messages."""
        dims = "×".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name or '<any name>'} {dims} {'|'.join(self.dtypes)}"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything faceweave knows about one model file, pinned in the repository.

    Attributes:
        name: catalog name used on the command line (`inswapper_128`).
        task: what the model does in the pipeline.
        architecture: which adapter runs it.
        file_name: name of the file in the model store.
        urls: primary download URL first, then mirrors (all must serve the same bytes).
        sha256: hex digest of the file, or None when no published value could be confirmed.
        size: file size in bytes, or None when unknown.
        inputs / outputs: the contract checked when a session is created.
        template: five-point alignment template (see faceweave.geometry.align.TEMPLATES), or None.
        crop_px: side of the aligned crop (or of the detector's input canvas).
        mean / std: blob = (pixel / 255 − mean) / std, per channel in `colour` order; outputs are
            mapped back with the same values.
        colour: channel order the model expects.
        licence: short licence text shown by `models list` and when downloading.
        commercial: False when the weights may not be used commercially.
        scale: output / input size for frame enhancers (1 otherwise).
        source: where the sha256 and size were read (citation).
        variant: "original" for a catalog file; "fp16" / "int8" for a copy made by `faceweave models optimize`
            (named `<catalog name>@<variant>`, its file `<stem>.<variant>.onnx`, its sha256 recorded, not pinned).
    """

    name: str
    task: Task
    architecture: Architecture
    file_name: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    licence: str
    commercial: bool
    template: str | None = None
    crop_px: int = 0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    colour: ColourOrder = "rgb"
    scale: int = 1
    source: str = ""
    variant: Variant = "original"

    @property
    def original_name(self) -> str:
        """The catalog name of the file this one was made from (its own name for an original).

        Example:
            >>> find_spec("inswapper_128@fp16").original_name  # doctest: +SKIP
            'inswapper_128'
        """
        return self.name.partition(VARIANT_MARK)[0]

    def __post_init__(self) -> None:
        if self.sha256 is not None and (len(self.sha256) != 64 or self.sha256.strip("0123456789abcdef")):
            raise ValueError(f"ModelSpec {self.name!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if not self.urls:
            raise ValueError(f"ModelSpec {self.name!r}: at least one URL is needed")
