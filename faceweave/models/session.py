"""The only place that creates ONNX Runtime sessions: provider choice and options, threads, contract check, runs.

onnxruntime is optional (`pip install 'faceweave[onnx]'`, or `onnxruntime-gpu` for CUDA/TensorRT) and is
imported only when a session is created.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from faceweave.errors import ModelError, UsageError
from faceweave.models.spec import ModelSpec, TensorSpec

log = logging.getLogger(__name__)

PROVIDERS: dict[str, str] = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "directml": "DmlExecutionProvider",
}
AUTO_ORDER = ("cuda", "coreml", "directml", "openvino", "cpu")  # TensorRT builds engines for minutes: opt-in only
_ONNX_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(uint8)": "uint8",
}
ConvSearch = Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"]


@dataclasses.dataclass(frozen=True)
class RuntimeOptions:
    """How sessions run.

    Attributes:
        providers: short names in order of preference (cpu, cuda, tensorrt, coreml, openvino, directml) or
            ("auto",): the best installed one. Missing providers are skipped with a warning; cpu is always last.
        device_id: GPU index for cuda / tensorrt / directml.
        fp16: let TensorRT build FP16 engines.
        cudnn_conv_algo_search: cuDNN convolution algorithm search for cuda.
        trt_cache_dir: where TensorRT keeps built engines ("" = no cache).
        gpu_mem_limit: bytes the CUDA arena may use (0 = no limit).
        intra_threads / inter_threads: ONNX Runtime thread pools (0 = its default).
        io_binding: on CUDA, bind inputs and outputs (IOBinding) instead of plain `session.run`.
        max_batch: the most items a face-level model runs at once on a GPU (its batch size comes from free GPU memory,
            see `batch_size_for`; 1 on CPU).
    """

    providers: tuple[str, ...] = ("auto",)
    device_id: int = 0
    fp16: bool = True
    cudnn_conv_algo_search: ConvSearch = "HEURISTIC"
    trt_cache_dir: str = ""
    gpu_mem_limit: int = 0
    intra_threads: int = 0
    inter_threads: int = 0
    io_binding: bool = True
    max_batch: int = 16

    def __post_init__(self) -> None:
        unknown = [name for name in self.providers if name != "auto" and name not in PROVIDERS]
        if unknown:
            raise UsageError(f"unknown provider {', '.join(unknown)}; choose from auto, {', '.join(PROVIDERS)}")
        if self.max_batch < 1:
            raise UsageError(f"max_batch must be at least 1, got {self.max_batch}")

    @classmethod
    def from_text(cls, providers: str, **options: Any) -> RuntimeOptions:
        """From a comma list such as "cuda,cpu" (Settings.providers).

        Example:
            >>> RuntimeOptions.from_text("cuda, cpu").providers
            ('cuda', 'cpu')
        """
        names = tuple(part.strip().lower() for part in providers.split(",") if part.strip())
        return cls(providers=names or ("auto",), **options)


def available_providers() -> tuple[str, ...]:
    """Short names of the providers the installed onnxruntime offers (empty when it is not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return ()
    installed = set(onnxruntime.get_available_providers())
    return tuple(name for name, full in PROVIDERS.items() if full in installed)


def resolve_providers(requested: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    """The providers to use, in order: requested ones that are installed, then cpu.

    Example:
        >>> resolve_providers(["cuda"], ["cpu"])  # logs: provider cuda is not installed
        ('cpu',)
    """
    if list(requested) == ["auto"]:
        chosen = [name for name in AUTO_ORDER if name in available]
    else:
        chosen = []
        for name in requested:
            if name in available:
                chosen.append(name)
            else:
                hint = " (pip install onnxruntime-gpu)" if name in ("cuda", "tensorrt") else ""
                log.warning("provider %s is not installed%s; falling back", name, hint)
    if "cpu" not in chosen:
        chosen.append("cpu")
    return tuple(dict.fromkeys(chosen))


def provider_config(names: Sequence[str], options: RuntimeOptions) -> list[tuple[str, dict[str, str]]]:
    """ONNX Runtime (provider, options) pairs for short provider names."""
    config: list[tuple[str, dict[str, str]]] = []
    for name in names:
        settings: dict[str, str] = {}
        if name in ("cuda", "tensorrt", "directml"):
            settings["device_id"] = str(options.device_id)
        if name == "cuda":
            settings["cudnn_conv_algo_search"] = options.cudnn_conv_algo_search
            if options.gpu_mem_limit > 0:
                settings["gpu_mem_limit"] = str(options.gpu_mem_limit)
        if name == "tensorrt":
            settings["trt_fp16_enable"] = str(options.fp16)
            if options.trt_cache_dir:
                settings["trt_engine_cache_enable"] = "True"
                settings["trt_engine_cache_path"] = options.trt_cache_dir
        config.append((PROVIDERS[name], settings))
    return config


def free_gpu_bytes(device_id: int = 0) -> int | None:
    """Free memory of one NVIDIA GPU in bytes (best effort: None when unknown).

    Asks NVML through nvidia-ml-py (`pynvml`) when it is installed, else `nvidia-smi`; onnxruntime's Python API has
    no call for it. Both are looked up only when called, and only for GPU providers.
    """
    try:
        pynvml = importlib.import_module("pynvml")  # nvidia-ml-py, optional
        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(device_id)).free)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # not installed, no driver, no such device: NVML raises its own error types
        pass
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    query = [tool, "--query-gpu=memory.free", "--format=csv,noheader,nounits", f"--id={device_id}"]
    try:
        text = subprocess.run(query, capture_output=True, text=True, timeout=5, check=True).stdout
        return int(text.strip().splitlines()[0]) * 1024 * 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def choose_batch_size(item_bytes: int, free_bytes: int | None, limit: int = 16, share: float = 0.5) -> int:
    """How many items to run at once: those fitting in `share` of the free GPU memory, 1 to `limit`.

    Example:
        >>> choose_batch_size(100 * 2**20, 4 * 2**30)
        16
    """
    if free_bytes is None or item_bytes <= 0:
        return 1
    return max(1, min(limit, int(free_bytes * share) // item_bytes))


ACTIVATION_FACTOR = 100
"""Working memory of one item as a multiple of its input and output tensors' bytes: a conservative rule of thumb for
convolutional face models (ArcFace-R50 at 112 px: ~15 MB an item; a 512 px restorer: ~600 MB), not a measurement."""


def item_bytes(spec: ModelSpec) -> int:
    """Estimated GPU memory of one item of a model: ACTIVATION_FACTOR × its float32 input and output elements
    (dynamic spatial sizes counted as the model's crop size, or 512)."""
    elements = 0
    for tensor in (*spec.inputs, *spec.outputs):
        dims = [d if d is not None else (spec.crop_px or 512) for d in tensor.shape[1:]]
        elements += math.prod(dims) if dims else 1
    return ACTIVATION_FACTOR * 4 * elements


@dataclasses.dataclass(frozen=True)
class BatchChoice:
    """How many items a model runs at once, and why (`bench` reports both)."""

    size: int
    reason: str


def batch_size_for(
    spec: ModelSpec,
    file_batch: int | None,
    providers: Sequence[str],
    options: RuntimeOptions,
    free_bytes: Callable[[int], int | None] = free_gpu_bytes,
) -> BatchChoice:
    """The batch size of a face-level model: the file's own when its batch axis is fixed, 1 on CPU, else as many
    items as fit in half the free memory of the GPU (`free_bytes` is asked only then), at most options.max_batch.

    Example:
        >>> batch_size_for(find_spec("arcface_w600k_r50"), None, ("cpu",), RuntimeOptions()).size
        1
    """
    if file_batch is not None:
        return BatchChoice(file_batch, "fixed by the model file")
    if not {"cuda", "tensorrt"} & set(providers):
        return BatchChoice(1, "CPU default")
    free = free_bytes(options.device_id)
    if free is None:
        return BatchChoice(1, "free GPU memory unknown (no nvidia-ml-py or nvidia-smi)")
    size = choose_batch_size(item_bytes(spec), free, options.max_batch)
    return BatchChoice(size, f"{free / 2**30:.1f} GiB free on GPU {options.device_id}")


def _dims(shape: Sequence[Any]) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


def _tensor_problems(kind: str, index: int, expected: TensorSpec, actual: Any) -> list[str]:
    """Mismatches between one expected tensor and a session's NodeArg (dynamic dims accept anything)."""
    where = f"{kind} {index} ({actual.name})"
    problems = []
    if expected.name is not None and actual.name != expected.name:
        problems.append(f"{kind} {index} is named {actual.name!r}, expected {expected.name!r}")
    dims = _dims(actual.shape)
    fixed_clash = any(e is not None and a is not None and e != a for e, a in zip(expected.shape, dims, strict=False))
    if len(dims) != len(expected.shape) or fixed_clash:
        found = "×".join("?" if d is None else str(d) for d in dims)
        problems.append(f"{where} has shape {found}, expected {expected.describe()}")
    dtype = _ONNX_TYPES.get(actual.type, actual.type)
    if dtype not in expected.dtypes:
        problems.append(f"{where} has type {dtype}, expected {'|'.join(expected.dtypes)}")
    return problems


def paired(expected: Sequence[TensorSpec], actual: Sequence[Any]) -> list[Any]:
    """The session tensor for each expected one: the one with its name where the spec names it and the file has
    it (in any position), else the one in the same position (fewer when the file has fewer)."""
    by_name = {arg.name: arg for arg in actual}
    pairs = []
    for i, spec in enumerate(expected):
        if spec.name is not None and spec.name in by_name:
            pairs.append(by_name[spec.name])
        elif i < len(actual):
            pairs.append(actual[i])
    return pairs


def contract_problems(spec: ModelSpec, inputs: Sequence[Any], outputs: Sequence[Any]) -> list[str]:
    """Every difference between a spec's contract and a session's inputs/outputs (NodeArg-like objects)."""
    problems = []
    if len(inputs) != len(spec.inputs):
        problems.append(f"{len(inputs)} inputs, expected {len(spec.inputs)}")
    if len(outputs) < len(spec.outputs):
        problems.append(f"{len(outputs)} outputs, expected {len(spec.outputs)}")
    for i, (expected, actual) in enumerate(zip(spec.inputs, paired(spec.inputs, inputs), strict=False)):
        problems += _tensor_problems("input", i, expected, actual)
    for i, (expected, actual) in enumerate(zip(spec.outputs, paired(spec.outputs, outputs), strict=False)):
        problems += _tensor_problems("output", i, expected, actual)
    return problems


def file_batch(session: Any) -> int | None:
    """The fixed batch size of a session's first input, or None when its batch axis is dynamic."""
    inputs = session.get_inputs()
    first = inputs[0].shape[0] if inputs and inputs[0].shape else None
    return first if isinstance(first, int) and first > 0 else None


class Runner:
    """A checked session for one model: `run(blobs)` feeds the inputs in the spec's order; IOBinding on CUDA.

    Attributes:
        spec: the model's contract.
        session: the onnxruntime.InferenceSession.
        providers: short names of the providers the session really uses, in its order of preference.
        input_names / input_dtypes: the file's inputs in the spec's order (by name where the spec names them, else
            by position); blobs are cast to these types.
        output_names: the spec's outputs in its order (by name where named), then any others of the file.
        batch: how many items `run_batched` feeds at once, and why.
        io_binding: whether runs bind their inputs and outputs (CUDA only).
    """

    def __init__(
        self, spec: ModelSpec, session: Any, batch: BatchChoice | None = None, io_binding: bool = True
    ) -> None:
        self.spec = spec
        self.session = session
        used = session.get_providers()
        self.providers = tuple(short for full in used for short, known in PROVIDERS.items() if known == full)
        inputs = paired(spec.inputs, session.get_inputs()) if spec.inputs else list(session.get_inputs())
        self.input_names = tuple(arg.name for arg in inputs)
        self.input_dtypes = tuple(np.dtype(_ONNX_TYPES.get(arg.type, "float32")) for arg in inputs)
        outputs = [arg.name for arg in paired(spec.outputs, session.get_outputs())]
        self.output_names = tuple(outputs + [arg.name for arg in session.get_outputs() if arg.name not in outputs])
        self.batch = batch or BatchChoice(1, "default")
        self.io_binding = io_binding and "cuda" in self.providers

    def run(self, *blobs: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        """Outputs for the given input arrays (cast to the file's input types), as NumPy arrays."""
        feeds = {
            name: np.ascontiguousarray(blob, dtype=dtype)
            for name, dtype, blob in zip(self.input_names, self.input_dtypes, blobs, strict=True)
        }
        if self.io_binding:
            return self._run_bound(feeds)
        return list(self.session.run(list(self.output_names), feeds))

    def run_batched(self, items: Sequence[Sequence[npt.NDArray[Any]]]) -> list[list[npt.NDArray[Any]]]:
        """Each item's outputs (an item: one blob per input, each with a batch axis of 1), fed `batch.size` at once.

        Example:
            >>> [embedding] = runner.run_batched([(blob,)])[0]  # doctest: +SKIP
        """
        results: list[list[npt.NDArray[Any]]] = []
        size = max(1, self.batch.size)
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            outputs = self.run(*(np.concatenate(parts) for parts in zip(*chunk, strict=True)))
            results += [[output[i : i + 1] for output in outputs] for i in range(len(chunk))]
        return results

    def describe(self) -> dict[str, Any]:
        """What runs this model, for reports: name, variant, providers, batch size and why, IOBinding."""
        return {
            "model": self.spec.name,
            "variant": self.spec.variant,
            "providers": list(self.providers),
            "batch_size": self.batch.size,
            "batch_reason": self.batch.reason,
            "io_binding": self.io_binding,
        }

    def _run_bound(self, feeds: Mapping[str, npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
        """Run with IOBinding: inputs copied once, outputs allocated on the GPU and copied back."""
        binding = self.session.io_binding()
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        for name in self.output_names:
            binding.bind_output(name, "cuda")
        self.session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())


def create_session(spec: ModelSpec, path: Path, options: RuntimeOptions) -> Runner:
    """An ONNX Runtime session for a model file, checked against the spec's contract.

    Example:
        >>> runner = create_session(find_spec("gfpgan_1.4"), path, RuntimeOptions())  # doctest: +SKIP
    """
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(
            f"model {spec.name!r} needs onnxruntime; pip install 'faceweave[onnx]' (onnxruntime-gpu for CUDA)"
        ) from None
    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = options.intra_threads
    session_options.inter_op_num_threads = options.inter_threads
    session_options.log_severity_level = 3
    names = resolve_providers(options.providers, available_providers())
    try:
        session = onnxruntime.InferenceSession(
            str(path), sess_options=session_options, providers=provider_config(names, options)
        )
    except Exception as error:  # onnxruntime raises its own untyped exceptions for unreadable graphs
        raise ModelError(
            f"cannot load {path} as {spec.name!r}: {error}; run `faceweave models verify {spec.name}`"
        ) from None
    problems = contract_problems(spec, session.get_inputs(), session.get_outputs())
    if problems:
        raise ModelError(f"{path} does not match the contract of {spec.name!r}: {'; '.join(problems)}")
    batch = batch_size_for(spec, file_batch(session), names, options)
    log.info("%s on %s, batch %d (%s)", spec.name, ", ".join(session.get_providers()), batch.size, batch.reason)
    return Runner(spec, session, batch, options.io_binding)
