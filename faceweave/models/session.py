"""The only place that creates ONNX Runtime sessions: provider choice and options, threads, contract check, runs.

onnxruntime is optional (`pip install 'faceweave[onnx]'`, or `onnxruntime-gpu` for CUDA/TensorRT) and is
imported only when a session is created.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
from collections.abc import Mapping, Sequence
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
    """

    providers: tuple[str, ...] = ("auto",)
    device_id: int = 0
    fp16: bool = True
    cudnn_conv_algo_search: ConvSearch = "HEURISTIC"
    trt_cache_dir: str = ""
    gpu_mem_limit: int = 0
    intra_threads: int = 0
    inter_threads: int = 0

    def __post_init__(self) -> None:
        unknown = [name for name in self.providers if name != "auto" and name not in PROVIDERS]
        if unknown:
            raise UsageError(f"unknown provider {', '.join(unknown)}; choose from auto, {', '.join(PROVIDERS)}")

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
    """Free memory of one NVIDIA GPU in bytes via nvidia-smi (best effort: None when unknown)."""
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


class Runner:
    """A checked session for one model: `run(blobs)` feeds the inputs in the spec's order; IOBinding on CUDA.

    Attributes:
        spec: the model's contract.
        session: the onnxruntime.InferenceSession.
        providers: short names of the providers the session really uses.
        input_names / input_dtypes: the file's inputs in the spec's order (by name where the spec names them, else
            by position); blobs are cast to these types.
        output_names: the spec's outputs in its order (by name where named), then any others of the file.
    """

    def __init__(self, spec: ModelSpec, session: Any) -> None:
        self.spec = spec
        self.session = session
        used = session.get_providers()
        self.providers = tuple(short for short, full in PROVIDERS.items() if full in used)
        inputs = paired(spec.inputs, session.get_inputs()) if spec.inputs else list(session.get_inputs())
        self.input_names = tuple(arg.name for arg in inputs)
        self.input_dtypes = tuple(np.dtype(_ONNX_TYPES.get(arg.type, "float32")) for arg in inputs)
        outputs = [arg.name for arg in paired(spec.outputs, session.get_outputs())]
        self.output_names = tuple(outputs + [arg.name for arg in session.get_outputs() if arg.name not in outputs])
        self._binding = "cuda" in self.providers

    def run(self, *blobs: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        """Outputs for the given input arrays (cast to the file's input types), as NumPy arrays."""
        feeds = {
            name: np.ascontiguousarray(blob, dtype=dtype)
            for name, dtype, blob in zip(self.input_names, self.input_dtypes, blobs, strict=True)
        }
        if self._binding:
            return self._run_bound(feeds)
        return list(self.session.run(list(self.output_names), feeds))

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
    log.info("%s on %s", spec.name, ", ".join(session.get_providers()))
    return Runner(spec, session)
