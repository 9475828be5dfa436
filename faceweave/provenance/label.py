"""Provenance labels: every output marked as AI-generated (IPTC digital source type), with software and settings hash.

The label is written as an XMP packet (JPEG APP1, PNG iTXt `XML:com.adobe.xmp`, WebP XMP chunk, TIFF tag 700), plus
EXIF Software/ImageDescription (JPEG, WebP, TIFF) and PNG iTXt `Software`/`Description`/`faceweave.label`; videos get
container tags from `video_metadata`. Writing labelled outputs (watermark, label, C2PA, atomic write) is
`faceweave.app.output`'s job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from faceweave.errors import UsageError
from faceweave.media.image_io import (
    ImageMetadata,
    read_image_info,
)
from faceweave.settings import FIELDS, Settings

log = logging.getLogger(__name__)

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
"""IPTC NewsCodes term for a composite that includes media made by a trained algorithm (a face swap)."""
NAMESPACE = "urn:faceweave:provenance:1.0/"
"""XMP namespace of faceweave's own label fields."""
PNG_LABEL_KEY = "faceweave.label"
VIDEO_LABEL_KEY = "faceweave_label"
_NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "faceweave": NAMESPACE,
}
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Label:
    """What made an output: software, settings (sha256), time, IPTC digital source type, optional consent and job.

    Example: ``label_for(Settings()).digital_source_type.endswith("compositeWithTrainedAlgorithmicMedia")`` is True
    """

    software: str
    version: str
    settings_hash: str
    created: str
    digital_source_type: str = DIGITAL_SOURCE_TYPE
    consent: str | None = None
    job_id: str | None = None

    def __post_init__(self) -> None:
        if not self.software or not self.version or not self.created:
            raise UsageError(f"a label needs software, version and created, got {self!r}")
        if not _HEX64.fullmatch(self.settings_hash):
            raise UsageError(f"settings_hash must be 64 lowercase hex digits (sha256), got {self.settings_hash!r}")

    def to_dict(self) -> dict[str, str]:
        """The label's fields, optional ones left out when unset."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces, ASCII): the same label always gives the same text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def watermark_payload(self) -> int:
        """The 32-bit watermark payload tying pixels to this label: the first 4 bytes of sha256(to_json())."""
        return int.from_bytes(hashlib.sha256(self.to_json().encode()).digest()[:4], "big")

    @property
    def summary(self) -> str:
        """One human-readable line (EXIF ImageDescription, PNG Description, video comment)."""
        return (
            f"AI-generated composite (IPTC compositeWithTrainedAlgorithmicMedia) made with {self.software} "
            f"{self.version}; settings sha256 {self.settings_hash}"
        )

    @classmethod
    def from_dict(cls, fields: Mapping[str, object]) -> Label:
        """Rebuild a label from `to_dict` output; unknown keys are ignored, wrong types raise UsageError."""
        known = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in fields.items() if key in known}
        if not all(isinstance(value, str) for value in values.values()):
            raise UsageError(f"label fields must be strings, got {values!r}")
        try:
            return cls(**values)  # type: ignore[arg-type]  # checked to be str above
        except TypeError as exc:
            raise UsageError(f"incomplete label ({exc}); expected {sorted(known)}") from exc


def settings_hash(settings: Settings) -> str:
    """sha256 of the Settings as canonical JSON (sorted keys), leaving out the fields declared `labelled=False`
    (where the signing key lives, how many threads ran: they change no pixel).

    Example: ``settings_hash(Settings()) == settings_hash(Settings(c2pa_cert="a", c2pa_key="b"))`` is True
    """
    values = {key: value for key, value in dataclasses.asdict(settings).items() if FIELDS[key].spec.labelled}
    return hashlib.sha256(json.dumps(values, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def label_for(
    settings: Settings, *, consent: str | None = None, job_id: str | None = None, created: dt.datetime | None = None
) -> Label:
    """The label for an output made now with these settings.

    Example: ``label_for(Settings(), job_id="job-7").software`` gives ``'faceweave'``
    """
    moment = (created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return Label(
        software="faceweave",
        version=_version(),
        settings_hash=settings_hash(settings),
        created=moment.isoformat(timespec="seconds").replace("+00:00", "Z"),
        consent=consent,
        job_id=job_id,
    )


def image_metadata(label: Label) -> ImageMetadata:
    """What `encode_image` writes for a label: XMP packet, EXIF/PNG text and the JSON label in PNG iTXt."""
    return ImageMetadata(
        xmp=xmp_packet(label),
        software=f"{label.software} {label.version}",
        description=label.summary,
        png_text=((PNG_LABEL_KEY, label.to_json()),),
    )


def xmp_packet(label: Label) -> bytes:
    """An XMP packet with Iptc4xmpExt:DigitalSourceType, xmp:CreatorTool/CreateDate and faceweave:* fields."""
    fields = {
        "Iptc4xmpExt:DigitalSourceType": label.digital_source_type,
        "xmp:CreatorTool": f"{label.software} {label.version}",
        "xmp:CreateDate": label.created,
        "faceweave:Software": label.software,
        "faceweave:Version": label.version,
        "faceweave:SettingsHash": label.settings_hash,
        "faceweave:Consent": label.consent,
        "faceweave:JobId": label.job_id,
    }
    attributes = "".join(f"\n    {key}={quoteattr(value)}" for key, value in fields.items() if value is not None)
    namespaces = "".join(f'\n    xmlns:{prefix}="{uri}"' for prefix, uri in _NS.items() if prefix != "rdf")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{_NS["rdf"]}">\n'
        f'  <rdf:Description rdf:about=""{namespaces}{attributes}/>\n'
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def parse_xmp(packet: bytes | str) -> Label | None:
    """The faceweave label in an XMP packet (attribute or element form), or None when it holds none."""
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else packet
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # XMP never needs them; refuse entity expansion tricks
        return None
    try:
        root = ElementTree.fromstring(text.strip(" \x00\ufeff"))
    except ElementTree.ParseError:
        return None
    values: dict[str, str] = {}
    for description in root.iter(f"{{{_NS['rdf']}}}Description"):
        values.update(description.attrib)
        values.update({child.tag: (child.text or "").strip() for child in description})
    wanted = {
        "software": "faceweave:Software",
        "version": "faceweave:Version",
        "settings_hash": "faceweave:SettingsHash",
        "created": "xmp:CreateDate",
        "digital_source_type": "Iptc4xmpExt:DigitalSourceType",
        "consent": "faceweave:Consent",
        "job_id": "faceweave:JobId",
    }
    found = {name: values[_qualified(key)] for name, key in wanted.items() if _qualified(key) in values}
    return _label_or_none(found)


def read_label(path: str | os.PathLike[str]) -> Label | None:
    """The faceweave label of an image file (XMP first, then PNG's JSON text), or None when unlabelled.

    Example: ``read_label("out/result.jpg").settings_hash`` gives the sha256 of the Settings used
    """
    info = read_image_info(path)
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(xmp, bytes | str) and (label := parse_xmp(xmp)) is not None:
        return label
    text = info.get(PNG_LABEL_KEY)
    return label_from_json(text) if isinstance(text, str) else None


def label_from_json(text: str) -> Label | None:
    """A label from its canonical JSON (PNG text, video tag), or None when the text is not one."""
    try:
        fields = json.loads(text)
    except json.JSONDecodeError:
        return None
    return _label_or_none(fields) if isinstance(fields, dict) else None


def video_metadata(label: Label) -> dict[str, str]:
    """Container tags for MP4/MOV/MKV (e.g. PyAV ``output.metadata.update(video_metadata(label))``).

    `comment`, `description` and `creation_time` survive every muxer; MP4/MOV keep the other keys only with
    ``options={"movflags": "use_metadata_tags"}``; Matroska keeps them all. `label_from_video_tags` reads them back.
    """
    return {
        "comment": label.summary,
        "description": label.summary,
        "creation_time": label.created,
        "software": f"{label.software} {label.version}",
        "digital_source_type": label.digital_source_type,
        "settings_hash": label.settings_hash,
        VIDEO_LABEL_KEY: label.to_json(),
    }


def label_from_video_tags(tags: Mapping[str, str]) -> Label | None:
    """The label among a container's tags (keys compared case-insensitively), or None."""
    lowered = {key.lower(): value for key, value in tags.items()}
    text = lowered.get(VIDEO_LABEL_KEY)
    return label_from_json(text) if text is not None else None


def _qualified(key: str) -> str:
    prefix, name = key.split(":")
    return f"{{{_NS[prefix]}}}{name}"


def _label_or_none(fields: Mapping[str, object]) -> Label | None:
    try:
        return Label.from_dict(fields)
    except UsageError:
        return None


def _version() -> str:
    try:
        return importlib_metadata.version("faceweave")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"
