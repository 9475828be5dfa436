"""Frozen, validated Settings, declared once; precedence: defaults < config file < FACEWEAVE_* environment < flags.

Every field is declared exactly once, in a section below, with `setting(default, help, ...)`: its help text, range
or choices (choices of a `Literal` field come from the type), CLI flag, whether REST clients may set it, and the
modes it applies to. Everything else is generated from that declaration (`FIELDS`):

* validation (`Section.__post_init__`) and the TOML / FACEWEAVE_* layer (`load_settings`),
* the command-line flags, one argument group per section (`faceweave.cli`),
* the REST form and its validation, and the service's client-settable list (`faceweave.service`),
* the batch settings hash per kind of input (`faceweave.batch.runner.kind_settings_hashes`).

Adding a field means adding one `setting(...)` line to its section (and using it). A component that reads only one
section takes that section's type (`def __init__(self, settings: SwapSettings)`); `Settings` inherits every section,
so it is accepted everywhere, and keeps the flat API: `Settings(blend=0.8).blend`, `settings.replace(blend=0.5)`.

The flags stay on argparse (stdlib), generated from the declaration: no new dependency for a tool whose flags are
data, the TOML/env layering is a dozen lines here, argparse already does prefix matching of long options and
suggests close choices, and shell completion can come later from `argcomplete` on the same parser without
changing it. A parsing library (click, typer, cyclopts) would add a dependency and a second description of the
same fields, which is what this module exists to remove.
"""

# ruff: noqa: RUF009  # `setting(...)` returns a dataclasses.Field, as field(...) does: no shared mutable default

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar, get_args, get_origin, get_type_hints

from faceweave.errors import UsageError
from faceweave.models import catalog

Detector = Literal["auto", "mediapipe", "dlib", "both", "scrfd"]
Selector = Literal["all", "largest", "index", "reference"]
FaceOrder = Literal["left-right", "right-left", "top-bottom", "bottom-top", "large-small", "small-large", "best-worst"]
BlendMode = Literal["feather", "pyramid", "poisson"]
ColorMode = Literal["lighting", "reinhard", "none"]
Smoothing = Literal["rigid", "naive", "none"]
Occluders = Literal["auto", "hands", "glasses", "all", "none"]

Mode = Literal["image", "video", "live"]
"""Where a setting has an effect: still images (swap, batch, service), video files, live streams."""
Redo = Literal["all", "video", "nothing"]
"""Which batch outputs a changed setting redoes on resume: every output, videos only, none (no pixel changes)."""
ALL_MODES: tuple[Mode, ...] = ("image", "video", "live")
_KEY = "faceweave"  # the key of a field's Spec in its dataclass metadata
_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class Spec:
    """How one settings field is declared (kept in the field's metadata); see `setting`."""

    help: str
    flag: str | None = ""
    """The CLI flag: "" derives it from the name (`--blend-mode`; `--no-watermark` for a field that defaults to
    True, `--source-eyes` for one that defaults to False); None: no settings flag (a command may have its own)."""
    bounds: tuple[float, float] | None = None
    """Inclusive range of a number."""
    choices: tuple[object, ...] = ()
    """The allowed values of a field that is not a `Literal` (a `Literal` field's come from its type)."""
    catalog: str | None = None
    """A model task: the allowed values are the default and the catalog's models of that task."""
    client: bool = False
    """REST clients may set it per request (else it stays the operator's); a `catalog` field only to a model installed
    in the server's store, the default or the operator's (never downloaded for a client)."""
    client_choices: tuple[str, ...] = ()
    """Narrower choices for REST clients (e.g. no selector that needs reference photos)."""
    modes: tuple[Mode, ...] = ALL_MODES
    pixels: bool = True
    """False: changes no output pixel (where models live, where the signing key lives)."""
    redoes: Redo | None = None
    """Which batch outputs a change redoes; None: derived from `modes` and `pixels`."""
    labelled: bool = True
    """Part of the label's settings hash (False: where the signing key lives)."""


def setting(
    default: _T,
    help: str,
    *,
    flag: str | None = "",
    bounds: tuple[float, float] | None = None,
    choices: tuple[object, ...] = (),
    catalog: str | None = None,
    client: bool = False,
    client_choices: tuple[str, ...] = (),
    modes: tuple[Mode, ...] = ALL_MODES,
    pixels: bool = True,
    redoes: Redo | None = None,
    labelled: bool = True,
) -> _T:
    """Declare a settings field: its default and its `Spec` (help, flag, range or choices, REST, modes).

    Example: ``blend: float = setting(1.0, "swap strength 0–1", bounds=(0.0, 1.0), client=True)``
    """
    spec = Spec(help, flag, bounds, choices, catalog, client, client_choices, modes, pixels, redoes, labelled)
    field: _T = dataclasses.field(default=default, metadata={_KEY: spec})
    return field


@dataclasses.dataclass(frozen=True)
class Section:
    """A group of settings fields; validates its fields from their declaration when built."""

    TITLE: ClassVar[str] = "settings"
    """The heading of the section's CLI argument group."""

    def __post_init__(self) -> None:
        for field in declared(type(self)).values():
            field.check(getattr(self, field.name))
        self._check()

    def _check(self) -> None:
        """Rules across fields; a section that has some extends this (calling super()._check())."""

    def replace(self, **changes: Any) -> Self:
        """Return a validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class DetectSettings(Section):
    """Face detection: which detector, and which faces it reports."""

    TITLE: ClassVar[str] = "detection"

    detector: Detector = setting("auto", "face detector; auto: MediaPipe + dlib re-scan on stills")
    detector_score: float = setting(0.5, "minimum detection score", bounds=(0.0, 1.0), client=True)
    min_face_size: int = setting(20, "ignore faces smaller than this many pixels", bounds=(1, 10_000), client=True)
    max_faces: int = setting(32, "at most this many faces per image", bounds=(1, 1_000), client=True)


@dataclasses.dataclass(frozen=True)
class SelectSettings(Section):
    """Which of the detected target faces are swapped."""

    TITLE: ClassVar[str] = "face selection"

    selector: Selector = setting(
        "largest",
        "which target faces to swap (largest: one person, in video the one largest when first seen; all: everyone;"
        " reference: faces like a --reference photo)",
        client=True,
        client_choices=("all", "largest", "index"),  # the service takes no reference photos
    )
    face_order: FaceOrder = setting("left-right", "order used by --face-index", client=True)
    face_index: int = setting(0, "with --selector index: the n-th face in --face-order", bounds=(0, 1_000), client=True)
    reference_threshold: float = setting(0.6, "max dlib distance to a --reference", bounds=(0.0, 2.0))


@dataclasses.dataclass(frozen=True)
class SwapSettings(Section):
    """How a face is swapped and blended into the target."""

    TITLE: ClassVar[str] = "swap and blend"

    blend: float = setting(1.0, "swap strength 0–1", bounds=(0.0, 1.0), client=True)
    blend_mode: BlendMode = setting("feather", "how the face is blended into the target", client=True)
    color_mode: ColorMode = setting("lighting", "how the face's colour and lighting are matched", client=True)
    lighting_sigma: float = setting(
        0.3, "blur of the lighting transfer, a fraction of the face size", flag=None, bounds=(0.0, 1.0)
    )
    border_mask: bool = setting(
        True, "mask the face's border band by the target's skin, leaving the source's occluders out", client=True
    )
    border_band: float = setting(0.01, "width of the face's border band", flag=None, bounds=(0.0, 0.5))
    source_eyes: bool = setting(False, "take the source's eyes too", client=True)
    eye_colour: bool = setting(True, "give the irises the source's colour", client=True)
    face_shape: float = setting(
        0.6, "move a still target's outline toward the source's, 0–1", bounds=(0.0, 1.0), client=True
    )
    video_face_shape: float = setting(
        0.0,
        "the same for video and live (0: saves 4–12 ms/frame)",
        bounds=(0.0, 1.0),
        modes=("video", "live"),
        redoes="all",  # in the image hash since batch manifests began: existing manifests resume unchanged
    )
    occluders: Occluders = setting("auto", "kept in front of the face; auto: hands and glasses frames on stills")


@dataclasses.dataclass(frozen=True)
class TrackSettings(Section):
    """Video and live: how often the detector runs, and how landmarks are smoothed between frames."""

    TITLE: ClassVar[str] = "video and live tracking"

    detect_every: int = setting(5, "video: run the detector every N frames", bounds=(1, 10_000), modes=("video",))
    live_detect_every: int = setting(  # live: tracked faces need the detector only to find new ones (a 5–10 ms spike)
        30, "live: run the detector every N frames", bounds=(1, 10_000), modes=("live",)
    )
    smoothing: Smoothing = setting("rigid", "video/live landmark smoothing", modes=("video", "live"))
    mesh_threads: int = setting(
        0,
        "video: threads that mesh a frame's faces side by side (0: 2 where 2 CPUs are free, else 1); same output",
        bounds=(0, 64),
        modes=("video",),
        pixels=False,
        labelled=False,
    )
    smoothing_strength: float = setting(0.8, "video/live smoothing 0–1", bounds=(0.0, 1.0), modes=("video", "live"))


@dataclasses.dataclass(frozen=True)
class OutputSettings(Section):
    """What a run accepts and writes: guards, encoding, watermark and C2PA signing."""

    TITLE: ClassVar[str] = "input guards and output"

    require_face: bool = setting(
        False,
        "fail when a target has no face (swap --require-face; batch unless --allow-no-face)",
        flag=None,
        client=True,
    )
    max_image_pixels: int = setting(80_000_000, "refuse larger images (decompression-bomb guard)", bounds=(1, 10**10))
    jpeg_quality: int = setting(95, "JPEG output quality", bounds=(1, 100), client=True)
    watermark: bool = setting(True, "add an invisible watermark to every output")
    c2pa_cert: str = setting(
        "", "PEM certificate chain: sign outputs with C2PA (needs --c2pa-key)", pixels=False, labelled=False
    )
    c2pa_key: str = setting("", "PEM private key of --c2pa-cert", pixels=False, labelled=False)

    def _check(self) -> None:
        super()._check()
        if bool(self.c2pa_cert) != bool(self.c2pa_key):
            missing = "c2pa_key" if self.c2pa_cert else "c2pa_cert"
            raise UsageError(f"C2PA signing needs both c2pa_cert and c2pa_key; set {missing} too (or neither)")


@dataclasses.dataclass(frozen=True)
class RuntimeSettings(Section):
    """Where neural models live and what runs them (ONNX Runtime providers, device)."""

    TITLE: ClassVar[str] = "model runtime (ONNX Runtime)"

    providers: str = setting("auto", "ONNX Runtime providers, e.g. cuda,cpu; auto: the best installed")
    device_id: int = setting(0, "GPU index for cuda / tensorrt / directml", bounds=(0, 1_000))
    model_dir: str = setting("", "model folder (default ~/.cache/faceweave/models)", pixels=False)
    model_download: bool = setting(False, "fetch missing models", flag="--download-models", pixels=False)


@dataclasses.dataclass(frozen=True)
class ModelSettings(RuntimeSettings):
    """Neural plug-ins (catalog names; see `faceweave models list`); "mesh" / "none": the embedded defaults.

    It includes RuntimeSettings: whatever loads a model needs to know where it lives and what runs it.
    """

    TITLE: ClassVar[str] = "neural models (see `faceweave models list`; none is downloaded unless asked)"

    swapper: str = setting(
        "mesh", "mesh: the embedded default, or a catalog swapper, e.g. inswapper_128", catalog="swapper", client=True
    )
    enhancer: str = setting(
        "none",
        "none or a face enhancer: gfpgan_1.4, codeformer, gpen_bfr_512",
        catalog="face_enhancer",
        client=True,
    )
    frame_enhancer: str = setting(
        "none", "none or real_esrgan_x2 / real_esrgan_x4", catalog="frame_enhancer", client=True
    )
    enhancer_blend: float = setting(0.8, "enhancer strength 0–1", bounds=(0.0, 1.0), client=True)
    codeformer_fidelity: float = setting(0.5, "CodeFormer fidelity weight 0–1", bounds=(0.0, 1.0))
    pixel_boost: int = setting(128, "swap crop size", choices=(128, 256, 384, 512))


# Bases are listed last section first: dataclasses take fields from the last base first, so fields(), repr() and
# asdict() read detection → models.
@dataclasses.dataclass(frozen=True)
class Settings(ModelSettings, OutputSettings, TrackSettings, SwapSettings, SelectSettings, DetectSettings):
    """Every knob of the pipeline, validated once: all sections in one frozen object.

    Example:
        >>> Settings(blend=0.8).blend
        0.8
    """


SECTIONS: tuple[type[Section], ...] = (
    DetectSettings,
    SelectSettings,
    SwapSettings,
    TrackSettings,
    OutputSettings,
    ModelSettings,
    RuntimeSettings,
)
"""The sections in the order their CLI groups are shown; together they declare every field of Settings once."""


@dataclasses.dataclass(frozen=True)
class Declared:
    """One declared settings field, resolved: name, section, default, type, choices and its Spec."""

    name: str
    section: type[Section]
    default: Any
    kind: type
    """bool, int, float or str: what the TOML / environment layer converts to."""
    literal: tuple[str, ...]
    """The choices of a `Literal` field (() for any other)."""
    spec: Spec

    @property
    def flag(self) -> str | None:
        """The CLI flag, or None when the field has no settings flag."""
        if self.spec.flag is None or self.spec.flag:
            return self.spec.flag
        stem = self.name.replace("_", "-")
        return f"--no-{stem}" if self.default is True else f"--{stem}"

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return "FACEWEAVE_" + self.name.upper()

    @property
    def redoes(self) -> Redo:
        """Which batch outputs a change of this field redoes."""
        if self.spec.redoes is not None:
            return self.spec.redoes
        if not self.spec.pixels or not {"image", "video"} & set(self.spec.modes):
            return "nothing"
        return "all" if "image" in self.spec.modes else "video"

    def allowed(self) -> tuple[object, ...]:
        """The values it may take; () when any value of its type within its bounds will do."""
        if self.literal:
            return self.literal
        if self.spec.catalog is not None:
            return (self.default, *catalog.names(self.spec.catalog))
        return self.spec.choices

    def check(self, value: object) -> None:
        """Raise UsageError, naming the field, when `value` is not allowed."""
        allowed = self.allowed()
        if allowed and value not in allowed:
            if all(isinstance(choice, str) for choice in allowed):
                raise UsageError(f"{self.name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
            *head, last = map(str, allowed)
            raise UsageError(f"{self.name} must be {', '.join(head)} or {last}, got {value!r}")
        if self.spec.bounds is not None:
            low, high = self.spec.bounds
            if not low <= value <= high:  # type: ignore[operator]  # a number, by declaration
                raise UsageError(f"{self.name} must be between {low} and {high}, got {value!r}")

    def coerce(self, raw: object) -> Any:
        """A TOML or environment value converted to the field's type (UsageError when it cannot be)."""
        if self.kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise UsageError(f"{self.name} must be true or false, got {raw!r}")
        try:
            return self.kind(raw)
        except (TypeError, ValueError):
            raise UsageError(f"{self.name} must be a {self.kind.__name__}, got {raw!r}") from None


_DECLARED: dict[type[Section], Mapping[str, Declared]] = {}


def declared(cls: type[Section] = Settings) -> Mapping[str, Declared]:
    """The declared fields of a section (or of Settings: all of them), by name, in field order."""
    known = _DECLARED.get(cls)
    if known is not None:
        return known
    hints = get_type_hints(cls)
    owners = {name: owner for owner in reversed(cls.__mro__) for name in vars(owner).get("__annotations__", {})}
    fields: dict[str, Declared] = {}
    for field in dataclasses.fields(cls):
        spec = field.metadata.get(_KEY)
        if not isinstance(spec, Spec):
            raise TypeError(f"{cls.__name__}.{field.name} is not declared with setting(...)")
        hint = hints[field.name]
        literal = tuple(get_args(hint)) if get_origin(hint) is Literal else ()
        fields[field.name] = Declared(field.name, owners[field.name], field.default, type(field.default), literal, spec)
    _DECLARED[cls] = fields
    return fields


def section_fields(section: type[Section]) -> tuple[Declared, ...]:
    """The fields a section declares itself (not those it inherits)."""
    return tuple(field for field in declared(section).values() if field.section is section)


FIELDS: Mapping[str, Declared] = declared(Settings)
"""Every settings field, declared once; the CLI, REST form, layering and batch hash are generated from it."""
CHOICES: dict[str, tuple[str, ...]] = {name: field.literal for name, field in FIELDS.items() if field.literal}
"""The choices of every `Literal` field (the CLI's `choices=`)."""
CLIENT_FIELDS: tuple[str, ...] = tuple(name for name, field in FIELDS.items() if field.spec.client)
"""Settings REST clients may set per request."""


def batch_neutral(kind: Literal["image", "video"]) -> tuple[str, ...]:
    """The fields left at their defaults in the batch settings hash of `kind` outputs (changing them redoes none)."""
    counted: tuple[Redo, ...] = ("all",) if kind == "image" else ("all", "video")
    return tuple(name for name, field in FIELDS.items() if field.redoes not in counted)


def _apply(values: dict[str, Any], layer: Mapping[str, Any], origin: str) -> None:
    for key, raw in layer.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise UsageError(f"unknown setting {key!r} in {origin}; known: {', '.join(sorted(FIELDS))}")
        values[name] = FIELDS[name].coerce(raw)


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
    from_env = {
        k[10:].lower(): v for k, v in environ.items() if k.startswith("FACEWEAVE_") and k[10:].lower() in FIELDS
    }
    _apply(values, from_env, "the environment")
    _apply(values, {k: v for k, v in overrides.items() if v is not None}, "the arguments")
    return Settings(**values)
