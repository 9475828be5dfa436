"""`faceweave models ...` and the neural-model flags of `faceweave swap`, end to end through cli.main."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_factory import FileServer, pinned

from faceweave.cli import main
from faceweave.models.catalog import CATALOG
from faceweave.samples import sample_path


def test_list_shows_licences_and_what_is_stored(stocked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--model-dir", str(stocked), "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(lines) == set(CATALOG)
    assert "stored" in lines["inswapper_128"] and "NON-COMMERCIAL" in lines["inswapper_128"]
    assert "stored" not in lines["gpen_bfr_512"] and "Apache-2.0" in lines["gfpgan_1.4"]


def test_import_verify_remove(
    tmp_path: Path, model_bytes: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = model_bytes["gfpgan_1.4"]
    monkeypatch.setitem(CATALOG, "gfpgan_1.4", pinned(CATALOG["gfpgan_1.4"], data))
    source = tmp_path / "GFPGANv1.4.onnx"  # the catalog file name: --name is inferred
    source.write_bytes(data)
    store = ["models", "--model-dir", str(tmp_path / "store")]
    assert main([*store, "import", str(source)]) == 0
    assert main([*store, "verify"]) == 0
    assert "gfpgan_1.4: ok sha256" in capsys.readouterr().out
    (tmp_path / "store" / "GFPGANv1.4.onnx").write_bytes(data + b"!")
    assert main([*store, "verify", "gfpgan_1.4"]) == 1
    assert main([*store, "remove", "gfpgan_1.4"]) == 0
    assert "removed" in capsys.readouterr().out and not (tmp_path / "store" / "GFPGANv1.4.onnx").exists()


def test_import_of_the_wrong_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "mine.onnx"
    source.write_bytes(b"something else")
    assert main(["models", "--model-dir", str(tmp_path / "s"), "import", str(source), "--name", "gfpgan_1.4"]) == 1
    assert "is not the pinned 'gfpgan_1.4'" in capsys.readouterr().err
    assert not (tmp_path / "s" / "GFPGANv1.4.onnx").exists()
    assert main(["models", "--model-dir", str(tmp_path / "s"), "import", str(source)]) == 2  # name not inferable


def test_download_from_a_mirror(
    server: FileServer, tmp_path: Path, model_bytes: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = model_bytes["scrfd_10g"]
    server.files["/det_10g.onnx"] = data
    monkeypatch.setitem(CATALOG, "scrfd_10g", pinned(CATALOG["scrfd_10g"], data, (server.url("/det_10g.onnx"),)))
    assert main(["models", "--model-dir", str(tmp_path), "download", "scrfd_10g"]) == 0
    assert (tmp_path / "det_10g.onnx").read_bytes() == data


def test_unknown_model_suggests_close_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "download", "gfpgan"]) == 2
    assert "did you mean gfpgan_1.4?" in capsys.readouterr().err


def _swap_args(output: Path) -> list[str]:
    return ["swap", "-s", str(sample_path("hopper")), "-t", str(sample_path("astronaut")), "-o", str(output)]


def test_swap_with_a_missing_model_fails_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _swap_args(tmp_path / "o.png")
    assert main([*args, "--swapper", "inswapper_128", "--model-dir", str(tmp_path / "none")]) == 1
    assert "run `faceweave models download inswapper_128`" in capsys.readouterr().err


def test_swap_with_neural_models(stocked: Path, tmp_path: Path) -> None:
    output = tmp_path / "o.png"
    args = _swap_args(output)
    flags = ["--swapper", "inswapper_128", "--enhancer", "codeformer", "--codeformer-fidelity", "0.7"]
    assert main([*args, *flags, "--providers", "cpu", "--model-dir", str(stocked), "--detector", "mediapipe"]) == 0
    assert output.is_file()
