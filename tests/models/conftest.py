"""Fixtures for the neural model tests: a loopback file server and test ONNX files pinned in the catalog (identity-like
stubs, or the random-weight contract graphs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_graphs import arcface_graph, inswapper_graph, restorer_graph, scrfd_graph, upscaler_graph
from model_factory import (
    FileServer,
    arcface_like,
    inswapper_like,
    restorer_like,
    scrfd_like,
    serve,
    stock,
    upscaler_like,
)

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="session")
def model_bytes() -> dict[str, bytes]:
    """Test files for catalog names, each with that model's contract."""
    return {
        "inswapper_128": inswapper_like(),
        "arcface_w600k_r50": arcface_like(),
        "gfpgan_1.4": restorer_like(),
        "codeformer": restorer_like(codeformer=True),
        "real_esrgan_x2": upscaler_like(2),
        "scrfd_10g": scrfd_like(),
    }


@pytest.fixture
def server() -> Iterator[FileServer]:
    """A loopback HTTP server (files added by the test)."""
    with serve({}) as state:
        yield state


@pytest.fixture
def stocked(tmp_path: Path, model_bytes: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model folder holding the test files, with the catalog re-pinned to their hashes."""
    return stock(tmp_path / "models", model_bytes, monkeypatch)


@pytest.fixture(scope="session")
def contract_bytes() -> dict[str, bytes]:
    """The random-weight contract graphs (contract_graphs.py) for catalog names."""
    return {
        "inswapper_128": inswapper_graph(),
        "arcface_w600k_r50": arcface_graph(),
        "gfpgan_1.4": restorer_graph(),
        "codeformer": restorer_graph(("x", "w", "y")),
        "scrfd_10g": scrfd_graph(),
        "real_esrgan_x2": upscaler_graph(2),
    }


@pytest.fixture
def contract_store(tmp_path: Path, contract_bytes: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model folder holding the contract graphs, with the catalog re-pinned to their hashes."""
    return stock(tmp_path / "contract-models", contract_bytes, monkeypatch)
