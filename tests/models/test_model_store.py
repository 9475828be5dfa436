"""ModelStore against a loopback HTTP server: download, resume, hash mismatch, offline refusal, import, remove."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from model_factory import FileServer, pinned

from faceweave.errors import ModelError
from faceweave.models.catalog import CATALOG
from faceweave.models.spec import ModelSpec
from faceweave.models.store import DownloadProgress, ModelStore

DATA = bytes(range(256)) * 4096  # 1 MiB


def _spec(server: FileServer, data: bytes = DATA, *paths: str) -> ModelSpec:
    for path in paths or ("/m.onnx",):
        server.files.setdefault(path, data)
    urls = tuple(server.url(path) for path in (paths or ("/m.onnx",)))
    return pinned(CATALOG["scrfd_10g"], data, urls)


def test_download_places_verified_file_and_reports_progress(server: FileServer, tmp_path: Path) -> None:
    spec = _spec(server)
    seen: list[DownloadProgress] = []
    path = ModelStore(tmp_path, chunk_bytes=65536).download(spec, seen.append)
    assert path == tmp_path / spec.file_name and path.read_bytes() == DATA
    assert seen[-1].done == seen[-1].total == len(DATA)
    assert not (tmp_path / (spec.file_name + ".part")).exists()


def test_download_resumes_after_a_cut_connection(server: FileServer, tmp_path: Path) -> None:
    spec = _spec(server)
    server.cut.add("/m.onnx")
    store = ModelStore(tmp_path, chunk_bytes=65536)
    with pytest.raises(ModelError, match="run the same command again to resume"):
        store.download(spec)
    part = tmp_path / (spec.file_name + ".part")
    kept = part.stat().st_size
    assert 0 < kept < len(DATA) and not store.is_present(spec)
    store.download(spec)
    assert server.requests[-1] == ("/m.onnx", f"bytes={kept}-")  # only the rest was asked for
    assert store.path(spec).read_bytes() == DATA


def test_hash_mismatch_is_rejected_and_nothing_is_placed(server: FileServer, tmp_path: Path) -> None:
    spec = dataclasses.replace(_spec(server), sha256="0" * 64)
    store = ModelStore(tmp_path)
    with pytest.raises(ModelError, match="is not the pinned 'scrfd_10g'"):
        store.download(spec)
    assert not store.is_present(spec) and not list(tmp_path.glob("*.part"))


def test_falls_back_to_a_mirror(server: FileServer, tmp_path: Path) -> None:
    spec = _spec(server, DATA, "/good.onnx")
    spec = dataclasses.replace(spec, urls=(server.url("/missing.onnx"), *spec.urls))
    assert ModelStore(tmp_path).download(spec).read_bytes() == DATA


def test_unverifiable_models_need_consent(server: FileServer, tmp_path: Path) -> None:
    spec = dataclasses.replace(_spec(server), sha256=None)
    store = ModelStore(tmp_path)
    with pytest.raises(ModelError, match="--allow-unverified"):
        store.download(spec)
    assert server.requests == []
    assert store.download(spec, allow_unverified=True).read_bytes() == DATA
    assert store.verify(spec).status == "unverified"


def test_non_commercial_licence_is_announced(
    server: FileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="faceweave.models.store"):
        ModelStore(tmp_path).download(_spec(server))
    assert "NON-COMMERCIAL" in caplog.text


def test_offline_use_never_touches_the_network(server: FileServer, tmp_path: Path) -> None:
    spec = _spec(server)
    store = ModelStore(tmp_path)
    with pytest.raises(ModelError, match="faceweave models download scrfd_10g"):
        store.ensure(spec)
    assert server.requests == []
    assert store.ensure(spec, download=True).is_file()
    assert len(server.requests) == 1


def test_a_corrupted_stored_file_is_refused(server: FileServer, tmp_path: Path) -> None:
    spec = _spec(server)
    store = ModelStore(tmp_path)
    path = store.download(spec)
    path.write_bytes(DATA[:-1] + b"x")
    with pytest.raises(ModelError, match="does not match the pinned sha256"):
        store.require(spec)
    assert store.verify(spec).status == "mismatch"


def test_import_and_remove(tmp_path: Path) -> None:
    source = tmp_path / "download.onnx"
    source.write_bytes(DATA)
    spec = pinned(CATALOG["scrfd_10g"], DATA)
    store = ModelStore(tmp_path / "store")
    assert store.import_file(source, spec).read_bytes() == DATA
    assert store.verify(spec).status == "ok"
    with pytest.raises(ModelError, match="is not the pinned"):
        store.import_file(source, dataclasses.replace(spec, sha256="1" * 64))
    assert store.remove(spec) and not store.is_present(spec) and not store.remove(spec)
