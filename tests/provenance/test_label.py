"""Tests for faceweave.provenance.label and c2pa_sign: labels round-trip through every format, C2PA signs/verifies."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from c2pa_factory import Credentials, make_test_credentials
from PIL import Image

from faceweave.app.output import write_labelled_image
from faceweave.errors import MediaError, UsageError
from faceweave.media.image_io import read_image, write_image
from faceweave.provenance import c2pa as c2pa_sign
from faceweave.provenance.label import (
    DIGITAL_SOURCE_TYPE,
    label_for,
    label_from_video_tags,
    parse_xmp,
    read_label,
    settings_hash,
    video_metadata,
    xmp_packet,
)
from faceweave.provenance.watermark import find_watermark
from faceweave.settings import Settings, load_settings

Pixels = npt.NDArray[np.uint8]
NO_MARK = Settings(watermark=False)
WHEN = dt.datetime(2025, 5, 4, 3, 2, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def small(astronaut: Pixels) -> Pixels:
    return np.ascontiguousarray(astronaut[:256, :256])


def test_label_for_describes_the_output() -> None:
    label = label_for(Settings(blend=0.7), consent="subject agreed in writing", job_id="job-7", created=WHEN)
    assert (label.software, label.created, label.job_id) == ("faceweave", "2025-05-04T03:02:01Z", "job-7")
    assert label.digital_source_type == DIGITAL_SOURCE_TYPE
    assert label.version and label.version != "unknown"  # from the installed distribution's metadata
    assert label.settings_hash == settings_hash(Settings(blend=0.7))


def test_settings_hash_follows_the_settings_but_not_the_signing_key() -> None:
    assert settings_hash(Settings()) == settings_hash(Settings())
    assert settings_hash(Settings()) != settings_hash(Settings(blend=0.9))
    assert settings_hash(Settings()) == settings_hash(Settings(c2pa_cert="a.pem", c2pa_key="b.pem"))


@pytest.mark.parametrize("extension", [".png", ".jpg", ".webp", ".tif"])
def test_label_round_trips(tmp_path: Path, small: Pixels, extension: str) -> None:
    path = tmp_path / f"out{extension}"
    label = label_for(NO_MARK, consent="ok — signed form #12", job_id="j1")
    assert write_labelled_image(path, small, NO_MARK, label=label) == label
    assert read_label(path) == label
    assert read_image(path).image.shape == small.shape


def test_png_carries_itxt_chunks_and_xmp(tmp_path: Path, small: Pixels) -> None:
    path = tmp_path / "out.png"
    label = write_labelled_image(path, small, NO_MARK)
    data = path.read_bytes()
    assert data.count(b"iTXt") >= 4  # Software, Description, faceweave.label, XML:com.adobe.xmp
    assert b"XML:com.adobe.xmp" in data and DIGITAL_SOURCE_TYPE.encode() in data
    with Image.open(path) as opened:
        assert opened.info["Software"] == f"faceweave {label.version}"


def test_jpeg_carries_exif_software_and_description(tmp_path: Path, small: Pixels) -> None:
    path = tmp_path / "out.jpg"
    label = write_labelled_image(path, small, NO_MARK)
    with Image.open(path) as opened:
        exif = opened.getexif()
    assert exif[0x0131] == f"faceweave {label.version}"
    assert label.settings_hash in exif[0x010E] and "AI-generated" in exif[0x010E]


def test_output_is_watermarked_with_the_label_payload(tmp_path: Path, astronaut: Pixels) -> None:
    label = write_labelled_image(tmp_path / "out.jpg", astronaut, Settings())
    match = find_watermark(read_image(tmp_path / "out.jpg").image)
    assert match is not None and match.payload == label.watermark_payload


def test_unswapped_output_is_labelled_but_not_watermarked(tmp_path: Path, astronaut: Pixels) -> None:
    label = write_labelled_image(tmp_path / "out.png", astronaut, Settings(), swapped=False)
    assert read_label(tmp_path / "out.png") == label
    assert np.array_equal(read_image(tmp_path / "out.png").image, astronaut)  # pixels written unchanged


def test_bmp_gets_the_watermark_but_cannot_hold_a_label(tmp_path: Path, astronaut: Pixels) -> None:
    write_labelled_image(tmp_path / "out.bmp", astronaut, Settings())
    assert read_label(tmp_path / "out.bmp") is None
    assert find_watermark(read_image(tmp_path / "out.bmp").image) is not None


def test_unlabelled_images_have_no_label(tmp_path: Path, small: Pixels) -> None:
    write_image(tmp_path / "plain.png", small, text={"Software": "other tool"})
    assert read_label(tmp_path / "plain.png") is None


@pytest.mark.parametrize(
    "packet",
    [
        b"",  # empty
        b"not xml at all",  # garbage
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',  # entity tricks are refused
        xmp_packet(label_for(NO_MARK)).replace(b"faceweave:SettingsHash", b"faceweave:Other"),  # incomplete label
    ],
)
def test_parse_xmp_without_a_label(packet: bytes) -> None:
    assert parse_xmp(packet) is None


def test_parse_xmp_reads_element_form() -> None:
    label = label_for(NO_MARK, created=WHEN)
    attributes = "".join(f"<fw:{key}>{value}</fw:{key}>" for key, value in [("Software", "faceweave")])
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:fw="urn:faceweave:provenance:1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f"{attributes}<fw:Version>{label.version}</fw:Version><fw:SettingsHash>{label.settings_hash}</fw:SettingsHash>"
        f"<xmp:CreateDate>{label.created}</xmp:CreateDate>"
        f"<Iptc4xmpExt:DigitalSourceType>{DIGITAL_SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    assert parse_xmp(packet) == label


def test_video_metadata_round_trips() -> None:
    label = label_for(NO_MARK, job_id="video-1")
    tags = video_metadata(label)
    assert tags["comment"].startswith("AI-generated") and tags["digital_source_type"] == DIGITAL_SOURCE_TYPE
    assert label_from_video_tags({key.upper(): value for key, value in tags.items()}) == label
    assert label_from_video_tags({"comment": "holiday"}) is None


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"settings_hash": "abc"}, "settings_hash"),  # not a sha256
        ({"software": ""}, "software"),  # empty
    ],
)
def test_label_validates(changes: dict[str, str], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        dataclasses.replace(label_for(NO_MARK), **changes)


# ----------------------------------------------------------------------------- C2PA


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    pytest.importorskip("c2pa", reason="the optional c2pa-python extra is not installed")
    return make_test_credentials(tmp_path_factory.mktemp("c2pa"))


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_c2pa_signs_with_the_ai_generated_assertion(
    tmp_path: Path, astronaut: Pixels, credentials: Credentials, extension: str
) -> None:
    settings = Settings(c2pa_cert=str(credentials.chain), c2pa_key=str(credentials.key))
    path = tmp_path / f"signed{extension}"
    label = write_labelled_image(path, astronaut, settings)
    report = c2pa_sign.verify_image(path)
    assert report.state == "Valid", report.detail
    assert "compositeWithTrainedAlgorithmicMedia" in report.detail and "signed by faceweave tests" in report.detail
    assert "signer not on a trust list" in report.detail  # a test chain: signature valid, signer unknown
    assert read_label(path) == label  # the manifest leaves the XMP label in place
    match = find_watermark(read_image(path).image)
    assert match is not None and match.payload == label.watermark_payload


def test_c2pa_detects_tampering(tmp_path: Path, small: Pixels, credentials: Credentials) -> None:
    settings = Settings(watermark=False, c2pa_cert=str(credentials.chain), c2pa_key=str(credentials.key))
    path = tmp_path / "signed.png"
    write_labelled_image(path, small, settings)
    data = bytearray(path.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 40] ^= 0xFF  # flip a byte of the compressed pixels
    path.write_bytes(bytes(data))
    assert c2pa_sign.verify_image(path).state == "Invalid"


def test_c2pa_none_on_unsigned_files(tmp_path: Path, small: Pixels) -> None:
    pytest.importorskip("c2pa")
    write_labelled_image(tmp_path / "plain.png", small, NO_MARK)
    assert c2pa_sign.verify_image(tmp_path / "plain.png").line() == "c2pa: none"


def test_c2pa_settings_come_from_the_environment(credentials: Credentials) -> None:
    env = {"FACEWEAVE_C2PA_CERT": str(credentials.chain), "FACEWEAVE_C2PA_KEY": str(credentials.key)}
    settings = load_settings(env=env)
    assert (settings.c2pa_cert, settings.c2pa_key) == (str(credentials.chain), str(credentials.key))


def test_c2pa_needs_both_cert_and_key() -> None:
    with pytest.raises(UsageError, match="set c2pa_key too"):
        Settings(c2pa_cert="chain.pem")


@pytest.mark.parametrize(
    ("use_key_as_cert", "missing", "extension", "error"),
    [
        (False, True, ".png", MediaError),  # key file missing
        (True, False, ".png", MediaError),  # cert file holds no certificate → signing fails
        (False, False, ".bmp", UsageError),  # BMP cannot carry a manifest
    ],
)
def test_c2pa_signing_errors(
    tmp_path: Path,
    small: Pixels,
    credentials: Credentials,
    use_key_as_cert: bool,
    missing: bool,
    extension: str,
    error: type[Exception],
) -> None:
    cert = credentials.key if use_key_as_cert else credentials.chain
    key = tmp_path / "absent.pem" if missing else credentials.key
    settings = Settings(watermark=False, c2pa_cert=str(cert), c2pa_key=str(key))
    with pytest.raises(error):
        write_labelled_image(tmp_path / f"out{extension}", small, settings)
    assert not (tmp_path / f"out{extension}").exists()


def test_c2pa_not_installed_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, small: Pixels) -> None:
    monkeypatch.setattr(c2pa_sign, "c2pa_installed", lambda: False)
    write_labelled_image(tmp_path / "plain.png", small, NO_MARK)
    assert c2pa_sign.verify_image(tmp_path / "plain.png").line().startswith("c2pa: not installed")
    with pytest.raises(UsageError, match="not installed"):
        c2pa_sign.check_signing(Path("a.pem"), Path("b.pem"), ".png")
