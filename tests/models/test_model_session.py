"""Session factory: provider choice and options, contract check, batch size."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from model_factory import inswapper_like, pinned, restorer_like

from faceweave.errors import ModelError, UsageError
from faceweave.models.catalog import CATALOG
from faceweave.models.session import (
    RuntimeOptions,
    available_providers,
    choose_batch_size,
    create_session,
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
