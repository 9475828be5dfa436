"""The models a REST client may choose: per model field, the embedded default, the operator's model and the models
installed in the server's store (present and verified). A client never makes the server download a model.

Also the one place a client's settings overrides are checked and applied (/v1/swap, /v1/jobs and /v1/live)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from faceweave.errors import UsageError
from faceweave.models.catalog import find_spec
from faceweave.models.loader import installed_models
from faceweave.models.store import ModelStore
from faceweave.service.config import OPTION_FIELDS
from faceweave.service.errors import ServiceError
from faceweave.settings import FIELDS, Settings
from faceweave.swap.onnx_swap import ARCFACE

MODEL_FIELDS: tuple[str, ...] = tuple(name for name in OPTION_FIELDS if FIELDS[name].spec.catalog is not None)
"""The client fields that name a catalog model (declared `catalog=..., client=True` in faceweave.settings)."""
NEEDS: Mapping[str, str] = {"swapper": ARCFACE}
"""Model fields whose catalog models run only beside another installed model: a neural swapper embeds the source with
ArcFace."""
MODEL_HEADERS: Mapping[str, str] = {
    "swapper": "X-Swapper",
    "enhancer": "X-Enhancer",
    "frame_enhancer": "X-Frame-Enhancer",
}
"""The /v1/swap answer's headers that name the models it ran."""


@dataclasses.dataclass(frozen=True)
class ModelChoices:
    """What a client may choose per model field (`MODEL_FIELDS`), the embedded default first, and the server's
    default of each.

    Example:
        >>> choices = ModelChoices.scan(Settings(model_dir="/srv/models"))  # doctest: +SKIP
        >>> choices.installed["swapper"]  # doctest: +SKIP
        ('mesh', 'inswapper_128')
        >>> choices.check({"swapper": "inswapper_128@fp16"})  # doctest: +SKIP
        UsageError: swapper 'inswapper_128@fp16' is not installed on this server; installed: mesh, inswapper_128
    """

    installed: Mapping[str, tuple[str, ...]]
    defaults: Mapping[str, str]
    files: tuple[tuple[str, int, int], ...] = ()
    """The store's files when it was scanned (name, size, mtime): `refresh` scans again only when they change."""

    @classmethod
    def scan(cls, base: Settings) -> ModelChoices:
        """Look in the store of `base` (the operator's settings); hashes a model file only once after it changes."""
        files = _store_files(base)
        found = {name: _usable(name, base) for name in MODEL_FIELDS}
        installed = {
            name: tuple(dict.fromkeys((FIELDS[name].default, getattr(base, name), *models)))
            for name, models in found.items()
        }
        return cls(installed, {name: getattr(base, name) for name in MODEL_FIELDS}, files)

    def refresh(self, base: Settings) -> ModelChoices:
        """These choices while the store's files are unchanged, else a new scan (a file that fails its check is not
        hashed again and again)."""
        return self if _store_files(base) == self.files else ModelChoices.scan(base)

    def check(self, overrides: Mapping[str, Any]) -> None:
        """UsageError, naming the model and what is installed, for the first model field in `overrides` whose value
        is not installed."""
        for name in MODEL_FIELDS:
            chosen = overrides.get(name)
            if chosen is not None and chosen not in self.installed[name]:
                allowed = ", ".join(self.installed[name])
                raise UsageError(f"{name} {chosen!r} is not installed on this server; installed: {allowed}")

    def to_json(self) -> dict[str, dict[str, Any]]:
        """Per field: its catalog task, the server's default and the installed choices (as /v1/info lists them)."""
        return {
            name: {"task": FIELDS[name].spec.catalog, "default": self.defaults[name], "installed": list(models)}
            for name, models in self.installed.items()
        }


def _store_files(base: Settings) -> tuple[tuple[str, int, int], ...]:
    """Name, size and mtime of the model files and variant records in the store (not its stamps or downloads)."""
    root = ModelStore.from_dir(base.model_dir).root
    try:
        return tuple(
            sorted(
                (path.name, (stat := path.stat()).st_size, stat.st_mtime_ns)
                for path in root.iterdir()
                if path.name.endswith((".onnx", ".check.json")) and path.is_file()
            )
        )
    except OSError:  # no store yet, or a file removed while listed: the next look sees the change
        return ()


def _usable(name: str, base: Settings) -> tuple[str, ...]:
    """The installed catalog models of a field (none when the model they need beside them is missing)."""
    task = FIELDS[name].spec.catalog
    assert task is not None, f"{name} is declared without a catalog task"
    needed = NEEDS.get(name)
    if needed is not None and needed not in installed_models(find_spec(needed).task, base):
        return ()
    return installed_models(task, base)


def client_overrides(choices: ModelChoices, base: Settings, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A client's settings overrides, checked: 422 naming a model that is not installed (and what is). A model other
    than the operator's (`base`) is loaded with downloads off, so no request makes the server fetch one."""
    try:
        choices.check(overrides)
    except UsageError as exc:
        raise ServiceError(422, str(exc)) from exc
    if any(overrides.get(name, getattr(base, name)) != getattr(base, name) for name in MODEL_FIELDS):
        return {**overrides, "model_download": False}
    return dict(overrides)


def client_settings(base: Settings, overrides: Mapping[str, Any]) -> Settings:
    """The operator's settings with a client's checked overrides; 400 when they conflict."""
    try:
        return base.replace(**overrides)
    except UsageError as exc:
        raise ServiceError(400, str(exc)) from exc


def model_headers(settings: Settings) -> dict[str, str]:
    """The models a swap with these settings runs, as response headers."""
    return {header: str(getattr(settings, name)) for name, header in MODEL_HEADERS.items()}
