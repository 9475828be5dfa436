"""The one labelled output writer: every image and video a front door writes is labelled as AI-generated,
watermarked (unless `Settings.watermark` is off) and C2PA-signed when a certificate is configured, and appears
atomically (complete, or not at all)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

from faceweave.errors import UsageError
from faceweave.media.image_io import AlphaArray, ImageArray, check_output_path, encode_image, write_encoded
from faceweave.media.video_io import Span, VideoInfo
from faceweave.media.video_writer import EncodeOptions, VideoWriter
from faceweave.provenance.c2pa import check_signing, sign_image, sign_video_file
from faceweave.provenance.label import Label, image_metadata, label_for, video_metadata
from faceweave.provenance.watermark import LumaMarker, embed_watermark
from faceweave.settings import Settings

log = logging.getLogger(__name__)


def check_not_an_input(output: str | os.PathLike[str], inputs: Iterable[object]) -> None:
    """UsageError when `output` would replace one of the `inputs` (those given as paths): the same path, or the same
    file under another name (a link). A swap never writes over what it reads, whatever the caller allows."""
    out = Path(output)
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            continue  # an array or a loaded image: nothing on disk to protect
        given = Path(item)
        same = out.resolve() == given.resolve()
        if not same and out.exists() and given.exists():
            try:
                same = out.samefile(given)
            except OSError:
                same = False
        if same:
            raise UsageError(f"refusing to write '{out}': it is the input '{given}'; choose another output file")


def check_no_clobber(output: str | os.PathLike[str], overwrite: bool) -> None:
    """UsageError when `output` exists and replacing it was not asked for (the CLI's `--overwrite`, `-y`)."""
    if not overwrite and Path(output).exists():
        raise UsageError(f"'{output}' exists; pass --overwrite (-y) to replace it, or choose another output file")


def write_labelled_image(
    path: str | os.PathLike[str],
    image: ImageArray,
    settings: Settings,
    *,
    alpha: AlphaArray | None = None,
    label: Label | None = None,
    swapped: bool = True,
) -> Label:
    """Write a swap result: watermark (unless settings.watermark is off or nothing was swapped), label, and a C2PA
    signature when configured.

    Example: ``write_labelled_image("out/result.jpg", image, Settings()).watermark_payload`` gives the mark's payload
    """
    extension = check_output_path(path)
    label = label or label_for(settings)
    if extension == ".bmp":
        log.warning("BMP has no metadata fields: '%s' carries the watermark but no label; use .png", path)
    write_encoded(path, encode_labelled_image(image, extension, settings, alpha=alpha, label=label, swapped=swapped))
    return label


def encode_labelled_image(
    image: ImageArray,
    extension: str,
    settings: Settings,
    *,
    alpha: AlphaArray | None = None,
    label: Label | None = None,
    swapped: bool = True,
) -> bytes:
    """`write_labelled_image` in memory: the watermarked, labelled (and, when configured, signed) encoded bytes.

    Example: ``encode_labelled_image(image, ".png", Settings(), label=label_for(Settings(), job_id="j1"))[:4]``
    gives ``b"\\x89PNG"``
    """
    label = label or label_for(settings)
    marked = embed_watermark(image, label.watermark_payload) if settings.watermark and swapped else image
    data = encode_image(marked, extension, alpha, settings.jpeg_quality, metadata=image_metadata(label))
    if settings.c2pa_cert:
        data = sign_image(data, extension, label, Path(settings.c2pa_cert), Path(settings.c2pa_key))
    return data


def check_video_signing(settings: Settings, output: str | os.PathLike[str]) -> None:
    """When signing is configured: UsageError/MediaError now for a container C2PA cannot sign or bad credentials."""
    if settings.c2pa_cert:
        check_signing(Path(settings.c2pa_cert), Path(settings.c2pa_key), Path(output).suffix.lower(), video=True)


def labelled_video_writer(
    output: str | os.PathLike[str],
    info: VideoInfo,
    settings: Settings,
    *,
    label: Label | None = None,
    options: EncodeOptions | None = None,
    audio_from: str | os.PathLike[str] | None = None,
    span: Span | None = None,
) -> VideoWriter:
    """A writer that tags the container with `label` (default: `label_for(settings)`), marks every frame with its
    payload (unless settings.watermark is off) and C2PA-signs the finished file before it appears (when
    settings.c2pa_cert/c2pa_key are set).
    """
    label = label or label_for(settings)
    extension = Path(output).suffix.lower()
    cert, key = Path(settings.c2pa_cert), Path(settings.c2pa_key)

    def sign(temp: Path) -> None:
        sign_video_file(temp, extension, label, cert, key)

    return VideoWriter(
        output,
        info,
        options,
        audio_from=audio_from,
        span=span,
        metadata=video_metadata(label),
        mark=LumaMarker(label.watermark_payload) if settings.watermark else None,
        before_publish=sign if settings.c2pa_cert else None,
    )


def recording_info(name: str, width: int, height: int, fps: Fraction) -> VideoInfo:
    """The VideoInfo of a live recording: millisecond timestamps (frames are written at their capture time), no
    audio, BT.709."""
    return VideoInfo(
        path=name, width=width, height=height, fps=fps, time_base=Fraction(1, 1000),
        frames=None, duration=None, rotation=0, codec="", has_audio=False, audio_codec=None,
        start_time=Fraction(0), colorspace=1, color_primaries=1, color_trc=1,
    )  # fmt: skip
