"""Settings declared once (issue 17): the CLI flags, env/TOML layer, REST form and batch hash follow the declaration."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from faceweave import cli
from faceweave.batch.runner import kind_settings_hashes
from faceweave.errors import UsageError
from faceweave.settings import (
    FIELDS,
    SECTIONS,
    Declared,
    DetectSettings,
    ModelSettings,
    OutputSettings,
    RuntimeSettings,
    SelectSettings,
    Settings,
    SwapSettings,
    TrackSettings,
    load_settings,
    section_fields,
)

# What REST clients could set before the declaration (service/config.py's hand-written OPTION_FIELDS), and the models
# they may choose since the web UI offers them (only among those installed: tests/service/test_service_options.py).
CLIENT_FIELDS = {
    *("selector", "face_order", "face_index", "blend", "blend_mode", "color_mode", "source_eyes", "eye_colour"),
    *("face_shape", "border_mask", "detector_score", "min_face_size", "max_faces", "jpeg_quality", "require_face"),
    *("swapper", "enhancer", "frame_enhancer", "enhancer_blend"),
}
# Fields without a settings flag: two internal tunings, and require_face (each command has its own flag for it).
NO_FLAG = {"lighting_sigma", "border_band", "require_face"}


def _swap_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    cli._add_settings(parser)
    return parser


def _other_value(field: Declared) -> Any:
    """A valid value different from the default (so a flag visibly sets its field)."""
    if field.kind is bool:
        return not field.default
    allowed = [value for value in field.allowed() if value != field.default]
    if allowed:
        return allowed[-1]
    if field.spec.bounds is not None:
        return field.kind(field.spec.bounds[1])
    return "other"


def test_sections_declare_every_field_exactly_once() -> None:
    names = [field.name for section in SECTIONS for field in section_fields(section)]
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(Settings))
    assert len(names) == len(set(names)) == len(FIELDS) == 40
    settings = Settings()
    for section in (DetectSettings, SelectSettings, SwapSettings, TrackSettings, OutputSettings, ModelSettings):
        assert isinstance(settings, section)
    assert isinstance(Settings(), RuntimeSettings)  # via ModelSettings: loading a model needs its runtime


def test_every_field_has_help_and_a_flag_or_an_explicit_no_flag_mark() -> None:
    assert all(field.spec.help for field in FIELDS.values())
    assert {name for name, field in FIELDS.items() if field.spec.flag is None} == NO_FLAG
    flags = [field.flag for field in FIELDS.values() if field.flag is not None]
    assert len(flags) == len(set(flags)) == len(FIELDS) - len(NO_FLAG)


@pytest.mark.parametrize(
    ("argv", "name", "value"),
    [
        (["--no-eye-colour"], "eye_colour", False),
        (["--download-models"], "model_download", True),
        (["--no-watermark"], "watermark", False),
        (["--no-border-mask"], "border_mask", False),
        (["--source-eyes"], "source_eyes", True),
        (["--face-order", "best-worst"], "face_order", "best-worst"),
        (["--pixel-boost", "256"], "pixel_boost", 256),
    ],
)
def test_flag_spellings_are_kept(argv: list[str], name: str, value: object) -> None:
    args = _swap_parser().parse_args(argv)
    assert getattr(cli._settings(args), name) == value


@pytest.mark.parametrize("name", [name for name, field in FIELDS.items() if field.flag is not None])
def test_each_flag_sets_its_field(name: str) -> None:
    field = FIELDS[name]
    value = _other_value(field)
    assert field.flag is not None
    argv = [field.flag] if field.kind is bool else [field.flag, str(value)]
    if name in {"c2pa_cert", "c2pa_key"}:  # only together
        argv = ["--c2pa-cert", "other", "--c2pa-key", "other"]
    settings = cli._settings(_swap_parser().parse_args(argv))
    assert getattr(settings, name) == value
    untouched = {n: getattr(settings, n) for n in FIELDS if n not in {name, "c2pa_cert", "c2pa_key"}}
    assert untouched == {n: getattr(Settings(), n) for n in untouched}


def test_flags_start_unset_so_env_and_config_show_through(tmp_path: Path) -> None:
    args = _swap_parser().parse_args([])
    assert all(getattr(args, name) is None for name, field in FIELDS.items() if field.flag is not None)
    config = tmp_path / "c.toml"
    config.write_text("[faceweave]\nblend = 0.3\nwatermark = false\n", encoding="utf-8")
    args = _swap_parser().parse_args(["--config", str(config), "--jpeg-quality", "70"])
    settings = cli._settings(args)
    assert (settings.blend, settings.watermark, settings.jpeg_quality) == (0.3, False, 70)


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_field_reads_from_the_environment(name: str) -> None:
    field = FIELDS[name]
    value = _other_value(field)
    env = {field.env: str(value).lower() if field.kind is bool else str(value)}
    if name in {"c2pa_cert", "c2pa_key"}:
        env = {"FACEWEAVE_C2PA_CERT": "other", "FACEWEAVE_C2PA_KEY": "other"}
    assert getattr(load_settings(env=env), name) == value


@pytest.mark.parametrize("name", [name for name, field in FIELDS.items() if field.spec.bounds is not None])
def test_bounds_are_enforced_with_the_field_name(name: str) -> None:
    low, high = FIELDS[name].spec.bounds or (0, 0)
    step = 1 if FIELDS[name].kind is int else 0.01
    for bad in (low - step, high + step):
        with pytest.raises(UsageError, match=f"{name} must be between {low} and {high}"):
            Settings(**{name: bad})
    Settings(**{name: FIELDS[name].kind(low)})
    Settings(**{name: FIELDS[name].kind(high)})


@pytest.mark.parametrize("name", [name for name, field in FIELDS.items() if field.allowed()])
def test_choices_are_enforced_with_the_field_name(name: str) -> None:
    bad = "nonesuch" if FIELDS[name].kind is str else 100
    with pytest.raises(UsageError, match=f"{name} must be"):
        Settings(**{name: bad})


def test_a_section_validates_on_its_own() -> None:
    with pytest.raises(UsageError, match="blend must be between"):
        SwapSettings(blend=2.0)
    with pytest.raises(UsageError, match="C2PA signing needs both"):
        OutputSettings(c2pa_cert="a.pem")
    assert SwapSettings(blend=0.5).replace(blend=0.25).blend == 0.25
    assert isinstance(Settings().replace(blend=0.5), Settings)


def test_pixel_boost_message_is_kept() -> None:
    with pytest.raises(UsageError, match=r"^pixel_boost must be 128, 256, 384 or 512, got 100$"):
        Settings(pixel_boost=100)


def test_client_settable_fields_are_the_declared_ones() -> None:
    from faceweave.service.config import OPTION_FIELDS

    assert set(OPTION_FIELDS) == CLIENT_FIELDS == {name for name, field in FIELDS.items() if field.spec.client}


def test_rest_form_accepts_exactly_the_client_settable_fields() -> None:
    pytest.importorskip("fastapi")
    from pydantic import ValidationError

    from faceweave.service.routes import SwapOptions

    request = {"format", "quality", "consent", "faces", "face_sources", "start", "end"}  # not settings themselves
    assert set(SwapOptions.model_fields) == CLIENT_FIELDS | request
    schema = SwapOptions.model_json_schema()["properties"]
    assert schema["blend"]["anyOf"][0] == {"type": "number", "minimum": 0.0, "maximum": 1.0}
    assert schema["selector"]["anyOf"][0]["enum"] == ["all", "largest", "index"]  # no reference photos via REST
    options = SwapOptions(blend=0.5, eye_colour=False, selector="largest")
    assert options.overrides() == {"blend": 0.5, "eye_colour": False, "selector": "largest"}
    assert SwapOptions(faces="0,2", face_sources="1,0", start=1.0, end=2.0).overrides() == {}
    for bad in ({"blend": 2}, {"selector": "reference"}, {"jpeg_quality": 0}, {"max_faces": 0}):
        with pytest.raises(ValidationError):
            SwapOptions(**bad)


# Hashes computed with the hand-written lists before the declaration (issue 17): a resumed manifest must match.
HASHES_BEFORE = [
    ({}, "0742398dc5c9b617faa85e347e7bddcff4e30035240b7c82e49c730e67c9f99b", None),
    ({"blend": 0.5}, "030b4f5d623245ec85b06d199d03c1020dd5bf4e3aa7cf6cb23893b48c52d697", None),
    (
        {"smoothing": "none", "detect_every": 3, "smoothing_strength": 0.2},
        "0742398dc5c9b617faa85e347e7bddcff4e30035240b7c82e49c730e67c9f99b",
        "45846fa0d08219d4905bb23e3dee2705daf566f01e0844710cab1569f1fc2e9f",
    ),
    ({"video_face_shape": 0.4}, "ea65c4852a45bd4bb3b3c351ec32cd04e7db28ebaaba55c30061b3f6fd358990", None),
    (
        {"model_dir": "/x", "model_download": True, "live_detect_every": 7},
        "0742398dc5c9b617faa85e347e7bddcff4e30035240b7c82e49c730e67c9f99b",
        None,
    ),
    (
        {
            **{"detector": "dlib", "selector": "largest", "eye_colour": False, "jpeg_quality": 80},
            **{"require_face": True, "watermark": False, "c2pa_cert": "a", "c2pa_key": "b", "pixel_boost": 256},
            "occluders": "none",
        },
        "895869438b97930a7240520ff57ac338a48c2e9d39c0a657f7cc187c78bdd8ab",
        None,
    ),
]


@pytest.mark.parametrize(("changes", "image", "video"), HASHES_BEFORE)
def test_batch_hashes_match_those_before_the_declaration(
    changes: dict[str, Any], image: str, video: str | None
) -> None:
    before = {"selector": "all"} | changes  # the default selector was "all" then: its outputs differ, so do hashes
    assert kind_settings_hashes(Settings(**before)) == {"image": image, "video": video or image}


def test_the_default_selector_is_in_the_hash() -> None:
    assert kind_settings_hashes(Settings()) != kind_settings_hashes(Settings(selector="all"))


def test_label_hash_leaves_out_the_fields_declared_unlabelled() -> None:
    from faceweave.batch.runner import settings_hash  # the hash the batch uses, wherever provenance keeps it

    unlabelled = {name for name, field in FIELDS.items() if not field.spec.labelled}
    assert unlabelled == {"c2pa_cert", "c2pa_key", "mesh_threads"}
    assert settings_hash(Settings(c2pa_cert="a", c2pa_key="b")) == settings_hash(Settings())
    assert settings_hash(Settings(mesh_threads=3)) == settings_hash(Settings())  # read from the declaration
