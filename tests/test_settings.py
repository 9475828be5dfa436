"""Settings: validation and precedence (defaults < config file < environment < flags)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceweave.errors import UsageError
from faceweave.settings import Settings, load_settings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("blend", 1.5),  # strength above 1
        ("blend", -0.1),  # negative strength
        ("detector", "yolo"),  # unknown detector
        ("selector", "biggest"),  # unknown selector
        ("max_faces", 0),  # must keep at least one face
        ("jpeg_quality", 101),  # beyond JPEG's range
    ],
)
def test_invalid_values_are_rejected_with_the_field_name(field: str, value: object) -> None:
    with pytest.raises(UsageError, match=field):
        Settings(**{field: value})  # type: ignore[arg-type]


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "faceweave.toml"
    config.write_text("[faceweave]\nblend = 0.3\nmax_faces = 4\ndetector = 'dlib'\n", encoding="utf-8")
    env = {"FACEWEAVE_BLEND": "0.5", "FACEWEAVE_MAX_FACES": "6", "UNRELATED": "x"}
    settings = load_settings(config, env=env, blend=0.7)
    assert (settings.blend, settings.max_faces, settings.detector) == (0.7, 6, "dlib")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FACEWEAVE_SOURCE_EYES": "yes"}, True),  # words accepted for booleans
        ({"FACEWEAVE_SOURCE_EYES": "0"}, False),  # digits too
    ],
)
def test_boolean_environment_values(env: dict[str, str], expected: bool) -> None:
    assert load_settings(env=env).source_eyes is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blend = 'strong'\n", "blend must be a float"),  # wrong type
        ("colour = 'x'\n", "unknown setting 'colour'"),  # typo
        ("blend = \n", "cannot read config file"),  # broken TOML
    ],
)
def test_bad_config_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        load_settings(config, env={})


def test_none_flags_do_not_override() -> None:
    assert load_settings(env={"FACEWEAVE_BLEND": "0.4"}, blend=None).blend == 0.4
