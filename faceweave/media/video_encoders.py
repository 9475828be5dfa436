"""Video encoders as data: which FFmpeg encoder, its quality and speed options, and whether this machine has it."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av

from faceweave.errors import UsageError

_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_NVENC_PRESETS = ("p1", "p2", "p3", "p4", "p5", "p6", "p7")


@dataclass(frozen=True)
class EncoderSpec:
    """One video encoder: `crf` is its constant-quality value (lower is better), `preset` its speed knob."""

    name: str
    codec: str
    crf_range: tuple[int, int]
    default_crf: int
    presets: tuple[str, ...]
    default_preset: str
    quality_option: str = "crf"
    preset_option: str = "preset"
    extra: tuple[tuple[str, str], ...] = ()
    even_size: bool = False
    """yuv420p at odd width/height is refused by this encoder: the last column/row is dropped."""
    hardware: bool = False

    def options(self, crf: int | None, preset: str | None) -> dict[str, str]:
        """FFmpeg encoder options for a quality and preset (None: this encoder's defaults); UsageError if invalid."""
        crf = self.default_crf if crf is None else crf
        preset = self.default_preset if preset is None else str(preset)
        low, high = self.crf_range
        if not low <= crf <= high:
            raise UsageError(f"--crf for {self.name} must be {low}–{high} (lower is better quality), got {crf}")
        if preset not in self.presets:
            raise UsageError(f"--preset for {self.name} must be one of {', '.join(self.presets)}; got {preset!r}")
        return {self.quality_option: str(crf), self.preset_option: preset, **dict(self.extra)}


def _numbers(low: int, high: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(low, high + 1))


ENCODERS: tuple[EncoderSpec, ...] = (
    # veryfast at CRF 16 matches medium at CRF 18 (PSNR within 0.2 dB, SSIM within 0.0001 on the crowd and a
    # talking-head clip) at about twice the encode speed and ~10 % larger files: docs/benchmarks.md, "Encoder".
    EncoderSpec("libx264", "h264", (0, 51), 16, _X26X_PRESETS, "veryfast", even_size=True),
    EncoderSpec(
        "libx265",
        "hevc",
        (0, 51),
        22,
        _X26X_PRESETS,
        "medium",
        extra=(("x265-params", "log-level=error"),),
        even_size=True,
    ),
    EncoderSpec(
        "libvpx-vp9",
        "vp9",
        (0, 63),
        32,
        _numbers(0, 8),
        "4",
        preset_option="cpu-used",
        extra=(("b", "0"), ("deadline", "good"), ("row-mt", "1")),
    ),
    EncoderSpec("libsvtav1", "av1", (0, 63), 32, _numbers(0, 13), "8"),
    EncoderSpec("libaom-av1", "av1", (0, 63), 32, _numbers(0, 8), "6", preset_option="cpu-used", extra=(("b", "0"),)),
    EncoderSpec("h264_nvenc", "h264", (0, 51), 23, _NVENC_PRESETS, "p4", "cq", even_size=True, hardware=True),
    EncoderSpec("hevc_nvenc", "hevc", (0, 51), 25, _NVENC_PRESETS, "p4", "cq", even_size=True, hardware=True),
    EncoderSpec("av1_nvenc", "av1", (0, 63), 32, _NVENC_PRESETS, "p4", "cq", hardware=True),
)
"""Encoders faceweave drives; `available_encoders()` says which of them this machine can open."""

ENCODER_NAMES = tuple(spec.name for spec in ENCODERS)


def encoder_spec(name: str) -> EncoderSpec:
    """The spec of an encoder by FFmpeg name; UsageError listing the known ones otherwise."""
    for spec in ENCODERS:
        if spec.name == name:
            return spec
    raise UsageError(f"unknown video encoder {name!r}; use one of {', '.join(ENCODER_NAMES)}")


def encoder_available(spec: EncoderSpec) -> bool:
    """Whether this FFmpeg build has the encoder and, for hardware ones, a device that opens it."""
    if spec.name not in av.codecs_available:
        return False
    if not spec.hardware:
        return True
    try:
        context = av.CodecContext.create(spec.name, "w")
        assert isinstance(context, av.VideoCodecContext)
        context.width, context.height, context.pix_fmt = 256, 256, "yuv420p"
        context.time_base = Fraction(1, 25)
        context.open()
    except (av.FFmpegError, OSError):
        return False
    return True


def available_encoders() -> tuple[str, ...]:
    """Names of the encoders in ENCODERS this machine can use (hardware ones are test-opened)."""
    return tuple(spec.name for spec in ENCODERS if encoder_available(spec))


def default_encoder(extension: str) -> str:
    """libx264, except WebM, which only holds VP8/VP9/AV1: libvpx-vp9."""
    return "libvpx-vp9" if extension == ".webm" else "libx264"
