"""Lighter copies of stored models (`faceweave models optimize`): float16 and dynamic int8, made beside the original,
checked against it on real faces and recorded; a copy is loaded only while its record says it passed and its bytes
are still the ones checked.

A copy of `inswapper_128` is `inswapper_128@fp16`, file `inswapper_128.fp16.onnx`, record
`inswapper_128.fp16.onnx.check.json` (its sha256, size, the original's sha256, the metrics and limits, the providers
the check ran on, the tool that made it). Inputs and outputs stay float32, as the adapters feed and read them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import logging
from pathlib import Path
from typing import Any

from faceweave.errors import ModelError
from faceweave.models.accuracy import Metric, compare, sample_faces
from faceweave.models.catalog import find_spec, variant_spec
from faceweave.models.session import RuntimeOptions, create_session
from faceweave.models.spec import ModelSpec, Variant
from faceweave.models.store import ModelStore, sha256_file

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class VariantRecord:
    """What `optimize` made and measured, kept as JSON beside the copy."""

    model: str
    variant: str
    file: str
    sha256: str
    size: int
    mtime_ns: int
    original_sha256: str
    original_size: int
    metrics: tuple[Metric, ...]
    providers: tuple[str, ...]
    faces: int
    tool: str
    created: str

    @property
    def passed(self) -> bool:
        """True when every metric met its limit."""
        return bool(self.metrics) and all(metric.passed for metric in self.metrics)

    def summary(self) -> str:
        """`psnr_db 51.3 (≥ 30): passed` for messages."""
        return f"{', '.join(m.describe() for m in self.metrics)}: {'passed' if self.passed else 'FAILED'}"

    def to_json(self) -> str:
        """The record as indented JSON (with `passed` spelled out for people reading the file)."""
        return json.dumps(dataclasses.asdict(self) | {"passed": self.passed}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> VariantRecord:
        """A record read back (ValueError / KeyError / TypeError when it is not one)."""
        data: dict[str, Any] = json.loads(text)
        data.pop("passed", None)
        data["metrics"] = tuple(Metric(**metric) for metric in data["metrics"])
        data["providers"] = tuple(data["providers"])
        return cls(**data)


def record_path(store: ModelStore, spec: ModelSpec) -> Path:
    """Where a variant's record lives."""
    return store.path(spec).with_name(spec.file_name + ".check.json")


def read_record(store: ModelStore, spec: ModelSpec) -> VariantRecord | None:
    """A variant's record, or None when it is missing or unreadable."""
    try:
        return VariantRecord.from_json(record_path(store, spec).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _to_fp16(model: Any) -> tuple[Any, str]:
    """The model with float16 weights and compute, float32 at its inputs and outputs (keep_io_types)."""
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError:  # the same converter, packaged on its own
        try:
            convert_float_to_float16 = importlib.import_module("onnxconverter_common.float16").convert_float_to_float16
        except ImportError:
            raise ModelError(
                "--fp16 needs onnxruntime (or onnxconverter-common); pip install 'faceweave[onnx]'"
            ) from None
    import onnx

    if not any(init.data_type == onnx.TensorProto.FLOAT for init in model.graph.initializer):
        raise ModelError("it has no float32 weights (already half precision?): nothing to convert")
    return convert_float_to_float16(model, keep_io_types=True), "float16 (onnxruntime float16 converter, keep_io_types)"


def convert(source: Path, target: Path, variant: Variant) -> str:
    """Write the `variant` of the ONNX file `source` to `target`; returns how it was made.

    fp16: float16 weights and compute with float32 inputs and outputs. int8: onnxruntime's dynamic quantization
    (weights uint8, activations quantized at run time; ConvInteger / MatMulInteger run on CPU).
    """
    try:
        import onnx
    except ImportError:
        raise ModelError("models optimize needs onnx; pip install 'faceweave[onnx]'") from None
    if variant == "fp16":
        model, tool = _to_fp16(onnx.load(str(source)))
        onnx.save(model, str(target))
        return tool
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # the quantizer's "run pre-processing first" advice, on the root logger
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QUInt8)
    finally:
        root.setLevel(level)
    ops = {node.op_type for node in onnx.load(str(target), load_external_data=False).graph.node}
    if not ops & {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}:
        target.unlink(missing_ok=True)
        raise ModelError("onnxruntime found no float32 Conv or MatMul weights to quantize")
    return "int8 (onnxruntime.quantization.quantize_dynamic, QUInt8 weights)"


def optimize(store: ModelStore, original: ModelSpec, variant: Variant, options: RuntimeOptions) -> VariantRecord:
    """Make the `variant` copy of a stored model, check it against the original on real faces, record both.

    The copy is kept whatever the check finds (its record says whether it passed); `require_variant` loads only
    passed ones.

    Example:
        >>> optimize(store, find_spec("gfpgan_1.4"), "fp16", RuntimeOptions()).passed  # doctest: +SKIP
        True
    """
    source = store.require(original)
    spec = variant_spec(original, variant)
    target, part = store.path(spec), store.path(spec).with_name(spec.file_name + ".part")
    record_path(store, spec).unlink(missing_ok=True)
    try:
        tool = convert(source, part, variant)
    except Exception as error:  # the converters raise their own untyped errors on graphs they cannot handle
        part.unlink(missing_ok=True)
        raise ModelError(f"cannot make {spec.name}: {error}") from None
    part.replace(target)
    try:
        metrics = compare(create_session(original, source, options), runner := create_session(spec, target, options))
    except ModelError as error:  # no comparison could be made: no copy is kept
        target.unlink(missing_ok=True)
        raise ModelError(f"{spec.name} was not kept: {error}") from None
    stat = target.stat()
    record = VariantRecord(
        model=spec.name,
        variant=variant,
        file=spec.file_name,
        sha256=sha256_file(target),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        original_sha256=original.sha256 or sha256_file(source),
        original_size=source.stat().st_size,
        metrics=metrics,
        providers=runner.providers,
        faces=len(sample_faces()),
        tool=tool,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    record_path(store, spec).write_text(record.to_json(), encoding="utf-8")
    log.info("%s: %s", spec.name, record.summary())
    return record


def require_variant(store: ModelStore, spec: ModelSpec) -> Path:
    """The file of a variant that passed its check and is unchanged since; ModelError saying what to do otherwise."""
    record, path, original = read_record(store, spec), store.path(spec), spec.original_name
    remake = f"`faceweave models optimize {original} --{spec.variant}`"
    if record is None or not path.is_file():
        raise ModelError(
            f"no {spec.variant} copy of {original!r} in {store.root}; make it with {remake} "
            "(it is checked against the original on real faces first)"
        )
    if not record.passed:
        raise ModelError(
            f"{spec.name} failed its accuracy check against {original!r} ({record.summary()}), so it is not used; "
            f"use {original!r} itself, or the other variant"
        )
    pinned = find_spec(original).sha256
    if pinned is not None and pinned != record.original_sha256:
        raise ModelError(f"{spec.name} was made from another file than the pinned {original!r}; run {remake} again")
    stat = path.stat()
    unchanged = (stat.st_size, stat.st_mtime_ns) == (record.size, record.mtime_ns)
    if not unchanged and sha256_file(path) != record.sha256:
        raise ModelError(f"{path} changed since it was checked (sha256 differs from its record); run {remake} again")
    return path
