"""tools/gpu_check.sh's measuring half (gpu_chain.py) on the CPU, and the real-depth graphs it times on a GPU: the
same contracts as the real files, so faceweave's adapters and contract check accept them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import gpu_chain
import pytest
from deep_graphs import Built, arcface_deep, inswapper_deep, restorer_deep, scrfd_deep

from faceweave.models.catalog import CATALOG
from faceweave.models.session import RuntimeOptions, create_session


def test_the_chain_is_timed_on_the_cpu_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gpu_check.json"
    args = ["--providers", "cpu", "--depth", "contract", "--sizes", "720p", "--faces", "1,4", "--frames", "1"]
    assert gpu_chain.main([*args, "--warmup", "0", "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(out.read_text()) and report["skipped"] == []
    assert [(c["provider"], c["precision"]) for c in report["configurations"]] == [("cpu", "fp32"), ("cpu", "fp16")]
    for config in report["configurations"]:
        assert [(run["size"], run["faces"], run["io_binding"]) for run in config["runs"]] == [
            ("720p", 1, False),
            ("720p", 4, False),
        ]
        for run in config["runs"]:
            assert set(gpu_chain.STAGES) <= set(run["stages_ms"]) and run["fps"] > 0
        assert config["models"]["arcface_w600k_r50"]["batch_reason"] == "CPU default"
    assert set(report["models"]) == set(gpu_chain.MODELS) and "fp16_convert_s" in report["models"]["inswapper_128"]


def test_unavailable_providers_are_reported_not_fatal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--providers", "cuda", "--depth", "contract", "--frames", "1", "--work", str(tmp_path)]
    if "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    assert gpu_chain.main(args) == 1  # nothing measured
    skipped = json.loads(capsys.readouterr().out)["skipped"]
    assert len(skipped) == 2 and all("fell back" in line for line in skipped)  # cuda fp32, cuda fp16


@pytest.mark.parametrize(
    ("name", "build", "macs", "params"),
    [
        ("scrfd_10g", scrfd_deep, 13.3e9, 4.17e6),  # SCRFD-10GF at 640²; the file: 16.9 MB
        ("arcface_w600k_r50", arcface_deep, 6.31e9, 43.6e6),  # iresnet50: 6.3 G MACs, 43.6 M parameters
        pytest.param("inswapper_128", inswapper_deep, 174.6e9, 138.3e6, marks=pytest.mark.slow),  # 554 MB
        pytest.param("gfpgan_1.4", restorer_deep, 197.7e9, 79.7e6, marks=pytest.mark.slow),  # GFPGANv1Clean
    ],
)
def test_real_depth_graphs_keep_the_contracts(
    tmp_path: Path, name: str, build: Callable[[], Built], macs: float, params: float
) -> None:
    built = build()
    assert built.macs == pytest.approx(macs, rel=0.01) and built.params == pytest.approx(params, rel=0.01)
    path = tmp_path / "model.onnx"
    path.write_bytes(built.data)
    runner = create_session(CATALOG[name], path, RuntimeOptions(providers=("cpu",)))  # the contract check
    assert runner.input_names == tuple(tensor.name for tensor in CATALOG[name].inputs)
