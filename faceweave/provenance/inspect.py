"""`faceweave inspect`: the provenance of an image or video file as printable lines (label, C2PA, watermark)."""

from __future__ import annotations

import os
from pathlib import Path

from faceweave.media.image_io import read_image
from faceweave.media.video_io import VideoReader, is_video, open_video
from faceweave.provenance.c2pa import VIDEO_MIME_TYPES, verify_image
from faceweave.provenance.label import Label, label_from_video_tags, read_label
from faceweave.provenance.watermark import WatermarkMatch, find_watermark

VIDEO_FRAMES_CHECKED = 3
"""How many decoded frames `inspect_video` searches for a watermark (frames 0, 10, 20, ...)."""
_VIDEO_FRAME_STEP = 10


def inspect_file(path: str | os.PathLike[str], max_pixels: int = 80_000_000) -> list[str]:
    """`inspect_video` for files FFmpeg opens as video (by content), `inspect_image` for everything else.

    Example: ``inspect_file("out.mp4")[1]`` gives ``'label: faceweave 0.1.0 (AI-generated)'`` for a faceweave video
    """
    return inspect_video(path) if is_video(path) else inspect_image(path, max_pixels)


def inspect_image(path: str | os.PathLike[str], max_pixels: int = 80_000_000) -> list[str]:
    """Lines describing an image's label, C2PA manifest and watermark (``watermark: found <payload>`` or not found).

    Example: ``inspect_image("photo.jpg")[-1]`` gives ``'watermark: not found'`` for an unmarked photo
    """
    label = read_label(path)
    lines = [f"file: {os.fspath(path)}", *label_lines(label), verify_image(path).line()]
    return [*lines, *watermark_lines(find_watermark(read_image(path, max_pixels).image), label)]


def inspect_video(path: str | os.PathLike[str]) -> list[str]:
    """Lines describing a video's label (container tags), C2PA manifest (MP4/MOV) and the watermark in its first
    decoded frames.

    Example: ``inspect_video("clip.mp4")[-1]`` gives ``'watermark: not found'`` for an unmarked video
    """
    label = read_video_label(path)
    lines = [f"file: {os.fspath(path)}", *label_lines(label), verify_image(path, video_mime(path)).line()]
    return [*lines, *watermark_lines(find_video_watermark(path), label)]


def video_mime(path: str | os.PathLike[str]) -> str | None:
    """The C2PA MIME type of an MP4/MOV video (by extension, else by FFmpeg's container), None for other containers.

    Example: ``video_mime("clip.dat")`` gives ``'video/mp4'`` for an MP4 with another name
    """
    mime = VIDEO_MIME_TYPES.get(Path(path).suffix.lower())
    if mime is not None:
        return mime
    with open_video(os.fspath(path)) as container:
        return "video/mp4" if "mp4" in container.format.name.split(",") else None


def read_video_label(path: str | os.PathLike[str]) -> Label | None:
    """The faceweave label among a video's container (or first video stream's) tags, or None when unlabelled."""
    with open_video(os.fspath(path)) as container:
        tags = dict(container.metadata)
        if container.streams.video:
            tags = {**container.streams.video[0].metadata, **tags}
    return label_from_video_tags(tags)


def watermark_lines(match: WatermarkMatch | None, label: Label | None) -> list[str]:
    """``watermark: found <payload>`` with whether it matches the label, or ``watermark: not found``."""
    if match is None:
        return ["watermark: not found"]
    agrees = "no label to compare" if label is None else ("yes" if label.watermark_payload == match.payload else "NO")
    scale = "" if match.scale == 1.0 else f", found at resize factor {match.scale:g}"
    return [
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


def find_video_watermark(path: str | os.PathLike[str]) -> WatermarkMatch | None:
    """The watermark in frame 0, 10, 20, ... (the first VIDEO_FRAMES_CHECKED of them), or None; stops decoding early.

    Example: ``find_video_watermark("out.mp4").payload == read_video_label("out.mp4").watermark_payload`` is True
    """
    with VideoReader(path) as reader:
        for frame in reader:
            if frame.index % _VIDEO_FRAME_STEP:
                continue
            match = find_watermark(frame.image)
            if match is not None or frame.index >= _VIDEO_FRAME_STEP * (VIDEO_FRAMES_CHECKED - 1):
                return match
    return None
