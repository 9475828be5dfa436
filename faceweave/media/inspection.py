"""`faceweave inspect`: the provenance of an image file as printable lines (label, C2PA, watermark)."""

from __future__ import annotations

import os

from faceweave.media.c2pa_sign import verify_image
from faceweave.media.image_io import read_image
from faceweave.media.provenance import Label, read_label
from faceweave.media.watermark import find_watermark


def inspect_image(path: str | os.PathLike[str], max_pixels: int = 80_000_000) -> list[str]:
    """Lines describing an image's label, C2PA manifest and watermark (``watermark: found <payload>`` or not found).

    Example: ``inspect_image("photo.jpg")[-1]`` gives ``'watermark: not found'`` for an unmarked photo
    """
    label = read_label(path)
    lines = [f"file: {os.fspath(path)}", *label_lines(label), verify_image(path).line()]
    match = find_watermark(read_image(path, max_pixels).image)
    if match is None:
        return [*lines, "watermark: not found"]
    agrees = "no label to compare" if label is None else ("yes" if label.watermark_payload == match.payload else "NO")
    scale = "" if match.scale == 1.0 else f", found at resize factor {match.scale:g}"
    return [
        *lines,
        f"watermark: found {match.payload:08x}",
        f"  matches label: {agrees} (confidence {match.confidence:.1f}{scale})",
    ]


def label_lines(label: Label | None) -> list[str]:
    """The label as indented lines, or ``label: none``."""
    if label is None:
        return ["label: none"]
    optional = [f"  consent: {label.consent}"] * (label.consent is not None)
    optional += [f"  job: {label.job_id}"] * (label.job_id is not None)
    return [
        f"label: {label.software} {label.version} (AI-generated)",
        f"  digital source type: {label.digital_source_type}",
        f"  settings sha256: {label.settings_hash}",
        f"  created: {label.created}",
        *optional,
    ]
