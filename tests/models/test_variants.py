"""`faceweave models optimize`: float16 and int8 copies of the contract graphs, checked on real faces and recorded;
copies that failed their check, changed since, or were made from another original are refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from model_factory import pinned, scrfd_like, scrfd_outputs
from onnx import numpy_helper

from faceweave.cli import main
from faceweave.errors import ModelError, UsageError
from faceweave.models import variants
from faceweave.models.accuracy import SAMPLE_FACES, Metric, psnr
from faceweave.models.catalog import CATALOG, find_spec, names
from faceweave.models.loader import load_model
from faceweave.models.session import RuntimeOptions
from faceweave.models.spec import Variant
from faceweave.models.store import ModelStore, sha256_file
from faceweave.models.variants import optimize, read_record, require_variant
from faceweave.samples import sample_path
from faceweave.settings import Settings

CPU = RuntimeOptions(providers=("cpu",))


@pytest.mark.parametrize(
    ("name", "variant", "metric"),
    [
        ("inswapper_128", "fp16", "psnr_db"),  # swapper: output PSNR on aligned crops × two latents
        ("inswapper_128", "int8", "psnr_db"),  # dynamic quantization (ConvInteger, MatMulInteger)
        ("arcface_w600k_r50", "fp16", "cosine"),  # embedder: cosine of the embeddings
        ("arcface_w600k_r50", "int8", "cosine"),
        ("gfpgan_1.4", "int8", "psnr_db"),  # face restorer
        ("codeformer", "fp16", "psnr_db"),  # its float64 fidelity input stays float64
        ("scrfd_10g", "fp16", "score_diff"),  # detector: scores and boxes of confident anchors
        ("real_esrgan_x2", "fp16", "psnr_db"),  # frame enhancer: tiles of any (even) size
    ],
)
def test_optimize_makes_a_checked_copy_that_loads(
    contract_store: Path, name: str, variant: Variant, metric: str
) -> None:
    store = ModelStore(contract_store)
    record = optimize(store, CATALOG[name], variant, CPU)
    spec = find_spec(f"{name}@{variant}")
    assert record.passed and record.metrics[0].name == metric and record.faces == 4 and record.providers == ("cpu",)
    assert record.sha256 == sha256_file(store.path(spec)) and read_record(store, spec) == record
    assert record.original_sha256 == CATALOG[name].sha256
    assert require_variant(store, spec) == store.path(spec)
    runner = load_model(spec.name, Settings(model_dir=str(contract_store)))
    assert runner.spec.variant == variant and runner.input_dtypes[0] == np.float32  # inputs stay float32


def test_fp16_halves_the_weights(contract_store: Path) -> None:
    record = optimize(ModelStore(contract_store), CATALOG["arcface_w600k_r50"], "fp16", CPU)
    assert record.size < 0.6 * record.original_size


def test_optimize_cli_then_swap_with_the_copy(
    contract_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = ["models", "--model-dir", str(contract_store)]
    assert main([*models, "optimize", "inswapper_128", "--fp16", "--providers", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "inswapper_128@fp16: checked on 4 real faces with cpu: psnr_db" in out and "passed" in out
    assert "use it with --swapper inswapper_128@fp16" in out
    assert main([*models, "list"]) == 0
    assert any(
        line.split()[:3] == ["inswapper_128@fp16", "swapper", "1.1"] for line in capsys.readouterr().out.splitlines()
    )
    output = tmp_path / "o.png"
    swap = ["swap", "-s", str(sample_path("hopper")), "-t", str(sample_path("astronaut")), "-o", str(output)]
    flags = ["--swapper", "inswapper_128@fp16", "--detector", "mediapipe", "--providers", "cpu"]
    assert main([*swap, *flags, "--model-dir", str(contract_store)]) == 0 and output.is_file()


def _corrupting(convert: Callable[[Path, Path, Variant], str]) -> Callable[[Path, Path, Variant], str]:
    """`convert`, then noise on every weight tensor: a copy with corrupt weights."""

    def corrupt(source: Path, target: Path, variant: Variant) -> str:
        tool = convert(source, target, variant)
        model, rng = onnx.load(str(target)), np.random.default_rng(5)
        for index, tensor in enumerate(model.graph.initializer):
            values = numpy_helper.to_array(tensor)
            if values.size >= 64 and values.dtype.kind == "f":
                noisy = values + rng.normal(0, 2 * values.std(), values.shape).astype(values.dtype)
                model.graph.initializer[index].CopyFrom(numpy_helper.from_array(noisy, tensor.name))
        onnx.save(model, str(target))
        return tool

    return corrupt


def test_a_copy_that_fails_its_check_is_refused(
    contract_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(variants, "convert", _corrupting(variants.convert))
    assert main(["models", "--model-dir", str(contract_store), "optimize", "gfpgan_1.4", "--fp16"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "gfpgan_1.4@fp16: it will not be loaded; keep using gfpgan_1.4" in out
    record = read_record(ModelStore(contract_store), find_spec("gfpgan_1.4@fp16"))
    assert record is not None and not record.passed and record.metrics[0].value < 30
    settings = Settings(model_dir=str(contract_store), enhancer="gfpgan_1.4@fp16")
    with pytest.raises(ModelError, match=r"gfpgan_1\.4@fp16 failed its accuracy check against 'gfpgan_1\.4' \(psnr_db"):
        load_model(settings.enhancer, settings)
    args = [
        "swap",
        "-s",
        str(sample_path("hopper")),
        "-t",
        str(sample_path("astronaut")),
        "-o",
        str(tmp_path / "o.png"),
    ]
    assert main([*args, "--enhancer", "gfpgan_1.4@fp16", "--model-dir", str(contract_store)]) == 1
    assert "failed its accuracy check" in capsys.readouterr().err


def test_a_copy_changed_after_its_check_is_refused(contract_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, spec = ModelStore(contract_store), find_spec("arcface_w600k_r50@fp16")
    optimize(store, CATALOG["arcface_w600k_r50"], "fp16", CPU)
    data = bytearray(store.path(spec).read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zeroed weights, same size
    store.path(spec).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="changed since it was checked"):
        require_variant(store, spec)
    assert main(["models", "--model-dir", str(contract_store), "verify", spec.name]) == 1
    assert "run `faceweave models optimize arcface_w600k_r50 --fp16` again" in capsys.readouterr().out


def test_a_copy_of_another_original_is_refused(contract_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ModelStore(contract_store)
    optimize(store, CATALOG["arcface_w600k_r50"], "fp16", CPU)
    monkeypatch.setitem(CATALOG, "arcface_w600k_r50", pinned(CATALOG["arcface_w600k_r50"], b"a newer file"))
    with pytest.raises(ModelError, match="made from another file than the pinned 'arcface_w600k_r50'"):
        require_variant(store, find_spec("arcface_w600k_r50@fp16"))


def test_a_missing_copy_says_how_to_make_it(contract_store: Path) -> None:
    with pytest.raises(ModelError, match=r"no int8 copy of 'inswapper_128' .*models optimize inswapper_128 --int8"):
        load_model("inswapper_128@int8", Settings(model_dir=str(contract_store)))


def test_a_half_precision_file_is_not_converted_again(contract_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ModelStore(contract_store)
    optimize(store, CATALOG["arcface_w600k_r50"], "fp16", CPU)
    half = store.path(find_spec("arcface_w600k_r50@fp16")).read_bytes()
    monkeypatch.setitem(CATALOG, "arcface_w600k_r50", pinned(CATALOG["arcface_w600k_r50"], half))
    store.path(CATALOG["arcface_w600k_r50"]).write_bytes(half)
    with pytest.raises(ModelError, match="no float32 weights"):
        optimize(store, CATALOG["arcface_w600k_r50"], "fp16", CPU)


def test_a_detector_that_finds_no_face_cannot_be_checked(contract_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blind = scrfd_like(outputs=[np.zeros_like(array) for array in scrfd_outputs()])  # scores 0 everywhere
    monkeypatch.setitem(CATALOG, "scrfd_10g", pinned(CATALOG["scrfd_10g"], blind))
    store = ModelStore(contract_store)
    store.path(CATALOG["scrfd_10g"]).write_bytes(blind)
    with pytest.raises(ModelError, match="scrfd_10g@fp16 was not kept: scrfd_10g finds no face in the sample"):
        optimize(store, CATALOG["scrfd_10g"], "fp16", CPU)
    assert not store.path(find_spec("scrfd_10g@fp16")).exists()


def test_copies_are_made_not_downloaded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--model-dir", str(tmp_path), "download", "gfpgan_1.4@fp16"]) == 1
    assert "run `faceweave models optimize gfpgan_1.4 --fp16`" in capsys.readouterr().err
    assert main(["models", "--model-dir", str(tmp_path), "optimize", "gfpgan_1.4@fp16", "--int8"]) == 2


def test_settings_take_variant_names() -> None:
    assert "inswapper_128@fp16" in names("swapper") and "gfpgan_1.4@int8" in names("face_enhancer")
    assert Settings(swapper="inswapper_128@fp16", enhancer="gfpgan_1.4@int8").swapper == "inswapper_128@fp16"
    with pytest.raises(UsageError, match="swapper must be one of"):
        Settings(swapper="inswapper_128@fp32")
    with pytest.raises(UsageError, match=r"unknown variant 'fp32' of 'inswapper_128'"):
        find_spec("inswapper_128@fp32")


def test_the_sample_faces_are_where_the_analyser_finds_them() -> None:
    from faceweave.analysis.analyser import FaceAnalyser
    from faceweave.media.image_io import read_image

    analyser = FaceAnalyser(Settings(detector="mediapipe"))
    for name, points in SAMPLE_FACES.items():
        faces = analyser.analyse(read_image(sample_path(name)).image)
        assert len(faces) == 1 and np.abs(faces.landmarks_5[0] - np.array(points)).max() < 3.0


@pytest.mark.parametrize(
    ("metric", "passed"),
    [
        (Metric("psnr_db", 30.0, 30.0, at_least=True), True),  # at the limit passes
        (Metric("cosine", 0.98, 0.99, at_least=True), False),  # below a least value
        (Metric("box_px", 1.5, 1.0, at_least=False), False),  # above a most value
    ],
)
def test_metric_limits(metric: Metric, passed: bool) -> None:
    assert metric.passed is passed


def test_psnr() -> None:
    image = np.full((4, 4, 3), 100, np.uint8)
    assert psnr(image, image) == 99.0 and psnr(image, image + 1) == pytest.approx(48.13, abs=0.01)
