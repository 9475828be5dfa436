"""Frozen, validated Settings; precedence: defaults < config file < FACEWEAVE_* environment < flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from faceweave.errors import UsageError
from faceweave.models import catalog

Detector = Literal["auto", "mediapipe", "dlib", "both", "scrfd"]
Selector = Literal["all", "largest", "index", "reference"]
FaceOrder = Literal["left-right", "right-left", "top-bottom", "bottom-top", "large-small", "small-large", "best-worst"]
BlendMode = Literal["feather", "pyramid", "poisson"]
ColorMode = Literal["lighting", "reinhard", "none"]
Smoothing = Literal["rigid", "naive", "none"]
Occluders = Literal["auto", "hands", "glasses", "all", "none"]

CHOICES: dict[str, tuple[str, ...]] = {
    "detector": get_args(Detector),
    "selector": get_args(Selector),
    "face_order": get_args(FaceOrder),
    "blend_mode": get_args(BlendMode),
    "color_mode": get_args(ColorMode),
    "smoothing": get_args(Smoothing),
    "occluders": get_args(Occluders),
}
_RANGES: dict[str, tuple[float, float]] = {
    "detector_score": (0.0, 1.0),
    "min_face_size": (1, 10_000),
    "max_faces": (1, 1_000),
    "face_index": (0, 1_000),
    "reference_threshold": (0.0, 2.0),
    "blend": (0.0, 1.0),
    "lighting_sigma": (0.0, 1.0),
    "border_band": (0.0, 0.5),
    "face_shape": (0.0, 1.0),
    "video_face_shape": (0.0, 1.0),
    "max_image_pixels": (1, 10**10),
    "jpeg_quality": (1, 100),
    "detect_every": (1, 10_000),
    "live_detect_every": (1, 10_000),
    "smoothing_strength": (0.0, 1.0),
    "enhancer_blend": (0.0, 1.0),
    "codeformer_fidelity": (0.0, 1.0),
    "device_id": (0, 1_000),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every knob of the pipeline, validated once.

    Example:
        >>> Settings(blend=0.8).blend
        0.8
    """

    detector: Detector = "auto"
    detector_score: float = 0.5
    min_face_size: int = 20
    max_faces: int = 32
    selector: Selector = "all"
    face_order: FaceOrder = "left-right"
    face_index: int = 0
    reference_threshold: float = 0.6
    blend: float = 1.0
    blend_mode: BlendMode = "feather"
    color_mode: ColorMode = "lighting"
    lighting_sigma: float = 0.3
    border_mask: bool = True
    border_band: float = 0.01
    source_eyes: bool = False
    eye_colour: bool = True
    face_shape: float = 0.6
    video_face_shape: float = 0.0
    occluders: Occluders = "auto"
    require_face: bool = False
    max_image_pixels: int = 80_000_000
    jpeg_quality: int = 95
    detect_every: int = 5
    live_detect_every: int = 30  # live: tracked faces need the detector only to find new ones (a 5–10 ms spike)
    smoothing: Smoothing = "rigid"
    smoothing_strength: float = 0.8
    watermark: bool = True
    c2pa_cert: str = ""
    c2pa_key: str = ""
    # Neural plug-ins (catalog names; see `faceweave models list`). "mesh" / "none": the embedded defaults.
    swapper: str = "mesh"
    enhancer: str = "none"
    frame_enhancer: str = "none"
    enhancer_blend: float = 0.8
    codeformer_fidelity: float = 0.5
    pixel_boost: int = 128
    providers: str = "auto"
    device_id: int = 0
    model_dir: str = ""
    model_download: bool = False

    def __post_init__(self) -> None:
        for name, choices in CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise UsageError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise UsageError(f"{name} must be between {low} and {high}, got {value!r}")
        if bool(self.c2pa_cert) != bool(self.c2pa_key):
            missing = "c2pa_key" if self.c2pa_cert else "c2pa_cert"
            raise UsageError(f"C2PA signing needs both c2pa_cert and c2pa_key; set {missing} too (or neither)")
        self._check_models()

    def _check_models(self) -> None:
        for name, default, task in (
            ("swapper", "mesh", "swapper"),
            ("enhancer", "none", "face_enhancer"),
            ("frame_enhancer", "none", "frame_enhancer"),
        ):
            choices = (default, *catalog.names(task))
            if getattr(self, name) not in choices:
                raise UsageError(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if self.pixel_boost not in (128, 256, 384, 512):
            raise UsageError(f"pixel_boost must be 128, 256, 384 or 512, got {self.pixel_boost!r}")

    def replace(self, **changes: Any) -> Settings:
        """Return a validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _coerce(field: dataclasses.Field[Any], raw: Any) -> Any:
    default: Any = field.default
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise UsageError(f"{field.name} must be true or false, got {raw!r}")
    try:
        return type(default)(raw)
    except (TypeError, ValueError):
        raise UsageError(f"{field.name} must be a {type(default).__name__}, got {raw!r}") from None


def _apply(values: dict[str, Any], layer: Mapping[str, Any], origin: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for key, raw in layer.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise UsageError(f"unknown setting {key!r} in {origin}; known: {', '.join(sorted(fields))}")
        values[name] = _coerce(fields[name], raw)


def load_settings(
    config: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from a TOML config file, FACEWEAVE_* variables and explicit overrides.

    Example:
        >>> load_settings(env={"FACEWEAVE_BLEND": "0.5"}, detector="mediapipe").blend
        0.5
    """
    values: dict[str, Any] = {}
    if config is not None:
        path = Path(config)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read config file '{path}': {error}") from None
        _apply(values, data.get("faceweave", data), f"config file '{path}'")
    environ = os.environ if env is None else env
    known = {f.name for f in dataclasses.fields(Settings)}
    from_env = {k[10:].lower(): v for k, v in environ.items() if k.startswith("FACEWEAVE_") and k[10:].lower() in known}
    _apply(values, from_env, "the environment")
    _apply(values, {k: v for k, v in overrides.items() if v is not None}, "the arguments")
    return Settings(**values)
