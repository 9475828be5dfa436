"""load_model: catalog name → verified file in the store → checked ONNX Runtime session."""

from __future__ import annotations

import logging
from pathlib import Path

from faceweave.errors import ModelError, UsageError
from faceweave.models.catalog import find_spec, names
from faceweave.models.session import Runner, RuntimeOptions, create_session
from faceweave.models.store import ModelStore
from faceweave.models.variants import require_variant
from faceweave.settings import RuntimeSettings

log = logging.getLogger(__name__)


def runtime_options(settings: RuntimeSettings) -> RuntimeOptions:
    """Session options from the runtime settings (providers, device; TensorRT engines cached beside the models)."""
    store = ModelStore.from_dir(settings.model_dir)
    return RuntimeOptions.from_text(
        settings.providers, device_id=settings.device_id, trt_cache_dir=str(store.root / "tensorrt")
    )


def model_path(name: str, settings: RuntimeSettings) -> Path:
    """The verified file of a catalog model; downloaded first only when settings.model_download is set.

    A variant (`inswapper_128@fp16`) is never downloaded: its file must have been made by `faceweave models optimize`
    and have passed the accuracy check recorded beside it (`variants.require_variant` refuses it otherwise).
    """
    spec, store = find_spec(name), ModelStore.from_dir(settings.model_dir)
    if spec.variant != "original":
        return require_variant(store, spec)
    return store.ensure(spec, download=settings.model_download)


def load_model(name: str, settings: RuntimeSettings, task: str | None = None) -> Runner:
    """A checked session for a catalog model (`task`: refuse a model made for something else).

    Example:
        >>> runner = load_model("gfpgan_1.4", RuntimeSettings(providers="cuda"))  # doctest: +SKIP
    """
    spec = find_spec(name)
    if task is not None and spec.task != task:
        raise UsageError(f"model {name!r} is a {spec.task}, not a {task}; see `faceweave models list`")
    return create_session(spec, model_path(name, settings), runtime_options(settings))


def installed_models(task: str, settings: RuntimeSettings) -> tuple[str, ...]:
    """The catalog models of `task`, variants included, whose files are in the settings' store and verified (a pinned
    sha256 matches; a variant passed its check and is unchanged), in catalog order. Never downloads, whatever
    settings.model_download says; a file is hashed once after it changes (the store's stamp), and one that fails
    its check is left out (logged).

    Example:
        >>> installed_models("swapper", RuntimeSettings(model_dir="/srv/models"))  # doctest: +SKIP
        ('inswapper_128', 'inswapper_128@fp16')
    """
    store, offline = ModelStore.from_dir(settings.model_dir), settings.replace(model_download=False)
    found = []
    for name in names(task):
        if not store.is_present(find_spec(name)):
            continue
        try:
            model_path(name, offline)
        except ModelError as error:
            log.warning("%s is in the model store but cannot be used: %s", name, error)
            continue
        found.append(name)
    return tuple(found)
