"""Test-built models "installed" in a model folder for the service tests: tests/models' random-weight contract graphs
(each with its catalog model's inputs and outputs) under their catalog file names, the catalog re-pinned to their
sha256 (model_factory.stock, as tests/models/conftest.py's `contract_store`). A plain module: `conftest` names
clash across folders."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

_MODELS_TESTS = str(Path(__file__).resolve().parents[1] / "models")
if _MODELS_TESTS not in sys.path:  # tests/models' factories, imported by name as its own conftest imports them
    sys.path.append(_MODELS_TESTS)

from contract_graphs import arcface_graph, inswapper_graph, restorer_graph, upscaler_graph  # noqa: E402
from model_factory import stock  # noqa: E402

BUILDERS: dict[str, Callable[[], bytes]] = {
    "inswapper_128": inswapper_graph,
    "arcface_w600k_r50": arcface_graph,  # the embedder a neural swapper needs beside it
    "gfpgan_1.4": restorer_graph,
    "real_esrgan_x2": lambda: upscaler_graph(2),
}
"""The test models, by catalog name."""


def install(folder: Path, monkeypatch: pytest.MonkeyPatch, names: Iterable[str] = tuple(BUILDERS)) -> Path:
    """`folder` made and holding the named test models, the catalog re-pinned to them while `monkeypatch` lasts."""
    return stock(folder, {name: BUILDERS[name]() for name in names}, monkeypatch)
