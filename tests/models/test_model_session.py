"""Session factory: provider choice and options, contract check, batch size from free GPU memory."""

from __future__ import annotations

import logging
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_factory import inswapper_like, pinned, restorer_like

from faceweave.errors import ModelError, UsageError
from faceweave.models.catalog import CATALOG
from faceweave.models.session import (
    BatchChoice,
    Runner,
    RuntimeOptions,
    available_providers,
    batch_size_for,
    choose_batch_size,
    create_session,
    free_gpu_bytes,
    item_bytes,
    provider_config,
    resolve_providers,
)


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        (["auto"], ["cpu"], ("cpu",)),  # CPU-only wheel
        (["auto"], ["cpu", "cuda", "tensorrt"], ("cuda", "cpu")),  # TensorRT is never chosen automatically
        (["tensorrt", "cuda"], ["cpu", "cuda", "tensorrt"], ("tensorrt", "cuda", "cpu")),  # order kept
        (["cuda"], ["cpu"], ("cpu",)),  # missing provider: CPU fallback
        (["cpu"], ["cpu", "cuda"], ("cpu",)),  # CPU on request
    ],
)
def test_resolve_providers(requested: list[str], available: list[str], expected: tuple[str, ...]) -> None:
    assert resolve_providers(requested, available) == expected


def test_cuda_falls_back_to_cpu_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if "cuda" in available_providers():
        pytest.skip("CUDA is installed here")
    spec = CATALOG["inswapper_128"]
    with caplog.at_level(logging.WARNING, logger="faceweave.models.session"):
        runner = create_session(spec, _write(tmp_path, inswapper_like()), RuntimeOptions.from_text("cuda"))
    assert runner.providers == ("cpu",)
    assert "provider cuda is not installed" in caplog.text and "onnxruntime-gpu" in caplog.text


def test_provider_options() -> None:
    options = RuntimeOptions(device_id=1, gpu_mem_limit=2**30, trt_cache_dir="/tmp/trt", fp16=True)
    config = dict(provider_config(["tensorrt", "cuda", "cpu"], options))
    assert config["TensorrtExecutionProvider"] == {
        "device_id": "1",
        "trt_fp16_enable": "True",
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": "/tmp/trt",
    }
    assert config["CUDAExecutionProvider"]["gpu_mem_limit"] == str(2**30)
    assert config["CUDAExecutionProvider"]["cudnn_conv_algo_search"] == "HEURISTIC"
    assert config["CPUExecutionProvider"] == {}


def test_unknown_provider_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown provider rocm; choose from auto, cpu, cuda"):
        RuntimeOptions.from_text("rocm")


def test_contract_check_lists_every_mismatch(tmp_path: Path) -> None:
    wrong = inswapper_like(target="image", side=256, latent=256)
    with pytest.raises(ModelError) as caught:
        create_session(CATALOG["inswapper_128"], _write(tmp_path, wrong), RuntimeOptions())
    message = str(caught.value)
    assert "input 0 is named 'image', expected 'target'" in message
    assert "input 0 (image) has shape 1×3×256×256" in message
    assert "input 1 (source) has shape 1×256" in message
    assert "output 0 (output) has shape 1×3×256×256" in message
    assert "\n" not in message


def test_runner_casts_inputs_and_runs(tmp_path: Path) -> None:
    data = inswapper_like()
    runner = create_session(pinned(CATALOG["inswapper_128"], data), _write(tmp_path, data), RuntimeOptions())
    target = np.random.default_rng(0).random((1, 3, 128, 128))  # float64: cast to the file's float32
    (output,) = runner.run(target, np.ones((1, 512)))
    assert output.dtype == np.float32 and np.allclose(output, target, atol=1e-6)


@pytest.mark.parametrize("weight_first", [False, True])  # the file's order; w listed before x
def test_inputs_are_paired_by_name_not_position(tmp_path: Path, weight_first: bool) -> None:
    spec = CATALOG["codeformer"]
    runner = create_session(spec, _write(tmp_path, restorer_like(True, weight_first)), RuntimeOptions())
    assert runner.input_names == ("x", "w") and runner.input_dtypes == (np.dtype("float32"), np.dtype("float64"))
    image = np.full((1, 3, 512, 512), 0.5, np.float32)
    (output,) = runner.run(image, np.array([0.7]))  # the spec's order, image then weight, whatever the file's
    assert np.array_equal(output, image)


def test_unreadable_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"models verify gfpgan_1\.4"):
        create_session(CATALOG["gfpgan_1.4"], _write(tmp_path, b"not onnx"), RuntimeOptions())


@pytest.mark.parametrize(
    ("item", "free", "expected"),
    [
        (100 * 2**20, None, 1),  # unknown free memory: one at a time
        (100 * 2**20, 4 * 2**30, 16),  # plenty: capped at the limit
        (1 * 2**30, 4 * 2**30, 2),  # half of the free memory fits two
        (8 * 2**30, 4 * 2**30, 1),  # never below one
    ],
)
def test_choose_batch_size(item: int, free: int | None, expected: int) -> None:
    assert choose_batch_size(item, free) == expected


GIB = 2**30


@pytest.mark.parametrize(
    ("file_batch", "providers", "free", "size", "reason"),
    [
        (1, ("cuda", "cpu"), 80 * GIB, 1, "fixed by the model file"),  # inswapper, GFPGAN, SCRFD: batch axis fixed at 1
        (None, ("cpu",), 80 * GIB, 1, "CPU default"),  # CPU: memory is not asked
        (None, ("cuda", "cpu"), None, 1, "free GPU memory unknown"),  # no nvidia-ml-py, no nvidia-smi
        (None, ("cuda", "cpu"), 80 * GIB, 16, "80.0 GiB free on GPU 1"),  # plenty: capped at max_batch
        (None, ("tensorrt", "cuda", "cpu"), 100 * 2**20, 3, "0.1 GiB free"),  # 50 MiB usable / ~15 MB an item
    ],
)
def test_batch_size_from_free_gpu_memory(
    file_batch: int | None, providers: tuple[str, ...], free: int | None, size: int, reason: str
) -> None:
    asked: list[int] = []

    def reading(device_id: int) -> int | None:
        asked.append(device_id)
        return free

    spec = CATALOG["arcface_w600k_r50"]  # the one catalog file with a dynamic batch axis
    choice = batch_size_for(spec, file_batch, providers, RuntimeOptions(device_id=1), reading)
    assert choice.size == size and reason in choice.reason
    assert asked == ([1] if file_batch is None and providers != ("cpu",) else [])
    assert item_bytes(spec) == 100 * 4 * (3 * 112 * 112 + 512)


class _Arg:
    def __init__(self, name: str, shape: list[Any]) -> None:
        self.name, self.shape, self.type = name, shape, "tensor(float)"


def test_runner_on_a_fake_cuda_session_reports_its_choice() -> None:
    session = types.SimpleNamespace(
        get_providers=lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"],
        get_inputs=lambda: [_Arg("input.1", ["N", 3, 112, 112])],
        get_outputs=lambda: [_Arg("683", ["N", 512])],
    )
    runner = Runner(CATALOG["arcface_w600k_r50"], session, BatchChoice(8, "40.0 GiB free on GPU 0"))
    assert runner.describe() == {
        "model": "arcface_w600k_r50",
        "variant": "original",
        "providers": ["cuda", "cpu"],
        "batch_size": 8,
        "batch_reason": "40.0 GiB free on GPU 0",
        "io_binding": True,
    }
    assert not Runner(CATALOG["arcface_w600k_r50"], session, io_binding=False).io_binding


def test_free_memory_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\necho 81000\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)  # nvidia-ml-py absent: nvidia-smi is asked
    assert free_gpu_bytes(0) == 81000 * 2**20
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert free_gpu_bytes(0) is None


def test_batched_runs_equal_single_runs(contract_store: Path) -> None:
    from faceweave.models.accuracy import sample_faces
    from faceweave.models.loader import load_model
    from faceweave.settings import Settings
    from faceweave.swap.onnx_swap import ArcFaceEmbedder

    runner = load_model("arcface_w600k_r50", Settings(model_dir=str(contract_store), providers="cpu"))
    assert runner.batch == BatchChoice(1, "CPU default")
    embedder, faces = ArcFaceEmbedder(runner), sample_faces()
    singles = [embedder(image, points) for image, points in faces]
    runner.batch = BatchChoice(3, "test")  # 4 faces: a batch of 3, then 1
    batched = embedder.embed_many(faces)
    assert len(batched) == 4 and all(np.allclose(a, b, atol=1e-5) for a, b in zip(singles, batched, strict=True))
