"""Output quality presets a client names with `quality=`: JPEG quality for images, x264 CRF and preset for video jobs.

The one place the names map to values; /v1/info lists them as they apply on this server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from faceweave.media.video_encoders import encoder_spec
from faceweave.media.video_writer import EncodeOptions
from faceweave.settings import Settings

QualityName = Literal["standard", "high", "small"]
VIDEO_ENCODER = "libx264"
"""The encoder of a video job's MP4 result."""


@dataclasses.dataclass(frozen=True)
class Quality:
    """One preset: a label, a line of help, and the values it sets (None: the server's own)."""

    label: str
    help: str
    jpeg_quality: int | None = None
    crf: int | None = None
    """libx264's constant-quality value (lower: better and larger)."""
    x264_preset: str | None = None
    """libx264's speed preset (slower: smaller files at the same quality)."""

    def overrides(self) -> dict[str, Any]:
        """The Settings fields it sets."""
        return {} if self.jpeg_quality is None else {"jpeg_quality": self.jpeg_quality}

    def encode_options(self) -> EncodeOptions:
        """How a video job's result is encoded."""
        return EncodeOptions(encoder=VIDEO_ENCODER, crf=self.crf, preset=self.x264_preset)

    def describe(self, base: Settings) -> dict[str, Any]:
        """The preset as /v1/info lists it: the values that apply on a server whose settings are `base`."""
        encoder = encoder_spec(VIDEO_ENCODER)
        return {
            "label": self.label,
            "help": self.help,
            "jpeg_quality": base.jpeg_quality if self.jpeg_quality is None else self.jpeg_quality,
            "crf": encoder.default_crf if self.crf is None else self.crf,
            "x264_preset": encoder.default_preset if self.x264_preset is None else self.x264_preset,
        }


QUALITIES: Mapping[QualityName, Quality] = {
    "standard": Quality("Standard", "the server's own settings"),
    "high": Quality("High", "finest detail, larger files", jpeg_quality=98, crf=12),
    "small": Quality(
        "Smaller files", "fine detail softens; video encodes slower", jpeg_quality=80, crf=23, x264_preset="medium"
    ),
}
"""The presets, in the order a page shows them ("standard" first: no change)."""
