"""`faceweave models list | download | verify | import | remove | optimize`: the command line of the model store."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from pathlib import Path

from faceweave.errors import ModelError, UsageError
from faceweave.models.catalog import CATALOG, VARIANTS, find_spec, variant_spec
from faceweave.models.loader import runtime_options
from faceweave.models.session import RuntimeOptions
from faceweave.models.spec import ModelSpec, Variant
from faceweave.models.store import DownloadProgress, ModelStore, licence_notice, licence_text
from faceweave.models.variants import optimize, read_record, record_path, require_variant
from faceweave.settings import load_settings

Write = Callable[[str], None]
ShowDownload = Callable[[DownloadProgress], None]
Display = Callable[[], contextlib.AbstractContextManager[ShowDownload | None]]
"""Makes the callback that shows one download's progress for as long as it runs (the CLI's bar; None: not shown)."""
EPILOG = """examples:
  faceweave models download inswapper_128 gfpgan_1.4      # then: faceweave swap ... --swapper inswapper_128
  faceweave models import ~/Downloads/inswapper_128.onnx  # a file you already have (checked against its sha256)
  faceweave models optimize inswapper_128 --fp16          # then: faceweave swap ... --swapper inswapper_128@fp16"""
USE_FLAGS = {"swapper": "--swapper", "face_enhancer": "--enhancer", "frame_enhancer": "--frame-enhancer"}
"""The flag that selects a model of each task (the embedder and the detector keep their originals on the CLI)."""


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the `models` command and its sub-commands."""
    models = commands.add_parser(
        "models", help="list, download, verify, import or remove neural model files", epilog=EPILOG
    )
    models.add_argument("--model-dir", help="model folder (default FACEWEAVE_MODEL_DIR or ~/.cache/faceweave/models)")
    actions = models.add_subparsers(dest="models_command", required=True)
    actions.add_parser("list", help="catalog models, licences and which are in the store")
    download = actions.add_parser("download", help="download models (resumes partial files; verifies sha256)")
    download.add_argument("names", nargs="+", metavar="NAME")
    download.add_argument("--allow-unverified", action="store_true", help="accept models with no pinned sha256")
    verify = actions.add_parser("verify", help="re-hash stored models (all present ones by default)")
    verify.add_argument("names", nargs="*", metavar="NAME")
    imported = actions.add_parser("import", help="copy a model file you already have into the store")
    imported.add_argument("path", type=Path)
    imported.add_argument("--name", help="catalog name (default: the one whose file name matches)")
    imported.add_argument("--allow-unverified", action="store_true", help="accept models with no pinned sha256")
    remove = actions.add_parser("remove", help="delete models (or variants, NAME@fp16) from the store")
    remove.add_argument("names", nargs="+", metavar="NAME")
    optimize = actions.add_parser(
        "optimize", help="make a float16 or int8 copy of stored models, checked against the original on real faces"
    )
    optimize.add_argument("names", nargs="+", metavar="NAME")
    kind = optimize.add_mutually_exclusive_group(required=True)
    kind.add_argument("--fp16", dest="variant", action="store_const", const="fp16", help="float16 weights and compute")
    kind.add_argument("--int8", dest="variant", action="store_const", const="int8", help="dynamic int8 quantization")
    optimize.add_argument("--providers", help="providers the check runs on (default: the settings', e.g. cuda,cpu)")


def _size(spec: ModelSpec) -> str:
    return "?" if spec.size is None else _megabytes(spec.size)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 10**7 else f"{size / 1e6:.1f} MB"


def list_models(store: ModelStore, write: Write) -> int:
    """One line per catalog model: name, task, size, stored or not, licence."""
    write(f"models in {store.root}:")
    for spec in CATALOG.values():
        state = "stored" if store.is_present(spec) else "-"
        pinned = "" if spec.sha256 else " (no pinned sha256)"
        write(f"  {spec.name:<22} {spec.task:<15} {_size(spec):>7}  {state:<6}  {licence_text(spec)}{pinned}")
        for variant in VARIANTS:
            made = variant_spec(spec, variant)
            record = read_record(store, made)
            if record is not None and store.is_present(made):
                write(f"  {made.name:<22} {spec.task:<15} {_megabytes(record.size):>7}  made    {record.summary()}")
    return 0


def download_models(
    store: ModelStore, names: list[str], allow_unverified: bool, write: Write, display: Display = contextlib.nullcontext
) -> int:
    """Download each named model (already stored ones are only verified), its progress shown by `display`."""
    specs = [find_spec(name) for name in names]
    for spec in specs:
        if store.is_present(spec):
            write(f"{spec.name}: already in {store.path(spec)}")
            continue
        write(f"downloading {licence_notice(spec)}")
        with display() as show:
            path = store.download(spec, show, allow_unverified)
        write(f"{spec.name}: {path}")
    return 0


def verify_models(store: ModelStore, names: list[str], write: Write) -> int:
    """Hash stored models; 1 when any does not match its pinned sha256."""
    specs = [find_spec(name) for name in names] if names else [s for s in CATALOG.values() if store.is_present(s)]
    failed = 0
    for spec in specs:
        if spec.variant != "original":
            failed += _verify_variant(store, spec, write)
            continue
        result = store.verify(spec)
        write(f"{spec.name}: {result.status}{'' if result.sha256 is None else ' sha256 ' + result.sha256}")
        failed += result.status in ("mismatch", "missing")
    if not specs:
        write(f"no models in {store.root}")
    return 1 if failed else 0


def _verify_variant(store: ModelStore, spec: ModelSpec, write: Write) -> int:
    """1 when a variant is missing, changed since its check, or failed it."""
    try:
        require_variant(store, spec)
    except ModelError as error:
        write(f"{spec.name}: {error}")
        return 1
    record = read_record(store, spec)
    write(f"{spec.name}: ok{'' if record is None else ' sha256 ' + record.sha256 + '; ' + record.summary()}")
    return 0


def import_model(store: ModelStore, path: Path, name: str | None, allow_unverified: bool, write: Write) -> int:
    """Copy a local file into the store under a catalog name (checked against its sha256)."""
    if name is None:
        matches = [spec for spec in CATALOG.values() if spec.file_name == path.name]
        if not matches:
            raise UsageError(f"'{path.name}' is no catalog file name; pass --name (see `faceweave models list`)")
        name = matches[0].name
    spec = find_spec(name)
    write(f"{spec.name}: {store.import_file(path, spec, allow_unverified)}")
    return 0


def remove_models(store: ModelStore, names: list[str], write: Write) -> int:
    """Delete named models from the store."""
    for spec in [find_spec(name) for name in names]:
        removed = store.remove(spec)
        if spec.variant != "original" and record_path(store, spec).exists():
            record_path(store, spec).unlink()
            removed = True
        write(f"{spec.name}: {'removed' if removed else 'was not stored'}")
    return 0


def optimize_models(
    store: ModelStore, names: list[str], variant: Variant, options: RuntimeOptions, write: Write
) -> int:
    """Make and check the `variant` copy of each named model; 1 when any copy failed its check."""
    originals = [find_spec(name) for name in names]
    for spec in originals:
        if spec.variant != "original":
            raise UsageError(f"{spec.name} is already a variant; optimize its original, {spec.original_name}")
    failed = 0
    for spec in originals:
        write(f"{spec.name}: making the {variant} copy and checking it on real faces ...")
        record = optimize(store, spec, variant, options)
        made = variant_spec(spec, variant)
        share = f"{_megabytes(record.size)}, {record.size / record.original_size:.0%} of the original"
        write(f"{made.name}: {store.path(made)} ({share}), sha256 {record.sha256}")
        write(
            f"{made.name}: checked on {record.faces} real faces with {','.join(record.providers)}: {record.summary()}"
        )
        if record.passed:
            flag = USE_FLAGS.get(spec.task)
            write(f"{made.name}: use it with {flag} {made.name}" if flag else f"{made.name}: load_model({made.name!r})")
        else:
            write(f"{made.name}: it will not be loaded; keep using {spec.name}")
            failed += 1
    return 1 if failed else 0


def run(args: argparse.Namespace, write: Write, display: Display = contextlib.nullcontext) -> int:
    """Run a parsed `faceweave models ...` command (`display`: the downloads' progress)."""
    settings = load_settings(model_dir=args.model_dir)
    store = ModelStore.from_dir(settings.model_dir)
    command = args.models_command
    if command == "list":
        return list_models(store, write)
    if command == "download":
        return download_models(store, args.names, args.allow_unverified, write, display)
    if command == "verify":
        return verify_models(store, args.names, write)
    if command == "import":
        return import_model(store, args.path, args.name, args.allow_unverified, write)
    if command == "remove":
        return remove_models(store, args.names, write)
    if command == "optimize":
        settings = load_settings(model_dir=args.model_dir, providers=args.providers)
        return optimize_models(store, args.names, args.variant, runtime_options(settings), write)
    raise ModelError(f"unknown models command {command!r}")
