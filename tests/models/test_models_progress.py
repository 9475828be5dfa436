"""`faceweave models download` shows a byte bar (rate, ETA) on a terminal or with -v, and writes nothing otherwise."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from model_factory import FileServer, pinned

from faceweave.cli import main
from faceweave.models.catalog import CATALOG


@pytest.mark.parametrize("terminal", [True, False])
def test_download_bar_only_on_a_terminal(
    server: FileServer,
    tmp_path: Path,
    model_bytes: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    terminal: bool,
) -> None:
    data = model_bytes["scrfd_10g"]
    server.files["/det_10g.onnx"] = data
    monkeypatch.setitem(CATALOG, "scrfd_10g", pinned(CATALOG["scrfd_10g"], data, (server.url("/det_10g.onnx"),)))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)  # capsys's stream
    assert main(["models", "--model-dir", str(tmp_path), "download", "scrfd_10g"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == f"scrfd_10g: {tmp_path / 'det_10g.onnx'}"
    if not terminal:
        assert err == ""
        return
    last = err.rstrip("\n").rsplit("\r", 1)[-1].rstrip()
    assert re.fullmatch(r"  download: 100%\|█+\| [\d.]+[kM]?/[\d.]+[kM]? \[\d\d:\d\d<00:00, +[\d.]+ ?[kM]?B/s\]", last)
