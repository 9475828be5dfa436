"""The options that matter, with real faces: the models a client may choose (only those installed in the server's
store, listed by /v1/info; anything else a 422 naming it, never a download) and the output quality presets."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clip_factory import Clip
from fastapi import FastAPI
from fastapi.testclient import TestClient
from installed_models import install
from PIL import Image
from service_helpers import API_KEY, AUTH, swap_files, wait_job, wait_ready

from faceweave.media.image_io import decode_image
from faceweave.media.video_encoders import encoder_spec
from faceweave.samples import sample_path
from faceweave.service.app import create_app
from faceweave.service.config import ServiceConfig
from faceweave.service.model_choice import client_overrides
from faceweave.service.quality import QUALITIES, VIDEO_ENCODER
from faceweave.settings import Settings

FACE = (slice(60, 190), slice(170, 280))  # the astronaut's face (y, x)
CHANGED = 6.0  # mean absolute difference inside the face between two different swaps
INSTALLED = {
    "swapper": {"task": "swapper", "default": "mesh", "installed": ["mesh", "inswapper_128"]},
    "enhancer": {"task": "face_enhancer", "default": "none", "installed": ["none", "gfpgan_1.4"]},
    "frame_enhancer": {"task": "frame_enhancer", "default": "none", "installed": ["none", "real_esrgan_x2"]},
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A model folder holding the test-built swapper, ArcFace, face and frame enhancers (catalog re-pinned)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield install(tmp_path_factory.mktemp("models"), monkeypatch)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, models: Path) -> Iterator[TestClient]:
    """One warm app whose model store holds the test models."""
    config = ServiceConfig(
        data_dir=tmp_path_factory.mktemp("service"),
        api_keys=(API_KEY,),
        rate_limit=0,
        settings=Settings(model_dir=str(models)),
    )
    with TestClient(create_app(config)) as test_client:
        wait_ready(test_client)
        yield test_client


def _swap(client: TestClient, **fields: Any) -> tuple[np.ndarray, Any]:
    response = client.post("/v1/swap", files=swap_files(), data=fields, headers=AUTH)
    assert response.status_code == 200, response.text
    return decode_image(response.content, "result").image, response


def _differ(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.abs(first[FACE].astype(np.int16) - second[FACE].astype(np.int16)).mean())


def test_info_lists_the_installed_models_and_the_defaults(client: TestClient) -> None:
    info = client.get("/v1/info").json()
    assert info["models"] == INSTALLED
    assert info["defaults"] | {"swapper": "mesh", "enhancer": "none", "frame_enhancer": "none"} == info["defaults"]


@pytest.mark.parametrize(
    ("installed", "swappers"),
    [
        ((), ["mesh"]),  # an empty store: the embedded swapper only
        (("inswapper_128",), ["mesh"]),  # a neural swapper without the ArcFace it needs is no choice
        (("inswapper_128", "arcface_w600k_r50"), ["mesh", "inswapper_128"]),
    ],
)
def test_a_swapper_is_offered_only_with_its_embedder(
    make_app: Callable[..., FastAPI],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    installed: tuple[str, ...],
    swappers: list[str],
) -> None:
    folder = install(tmp_path / "models", monkeypatch, installed)
    app = make_app(warm_up=False, settings=Settings(model_dir=str(folder)))
    models = TestClient(app).get("/v1/info").json()["models"]
    assert models["swapper"]["installed"] == swappers
    assert models["enhancer"]["installed"] == ["none"] and models["frame_enhancer"]["installed"] == ["none"]


def test_a_file_that_fails_its_sha256_is_not_installed(
    make_app: Callable[..., FastAPI], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = install(tmp_path / "models", monkeypatch, ["gfpgan_1.4"])
    (folder / "GFPGANv1.4.onnx").write_bytes(b"not the pinned file")
    app = make_app(warm_up=False, settings=Settings(model_dir=str(folder)))
    assert TestClient(app).get("/v1/info").json()["models"]["enhancer"]["installed"] == ["none"]


def test_models_installed_while_the_server_runs_are_offered(
    make_app: Callable[..., FastAPI], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    with TestClient(make_app(warm_up=False, janitor_interval_s=0.05, settings=Settings(model_dir=str(folder)))) as app:
        service = app.app.state.service  # type: ignore[attr-defined]
        assert service.models.refresh(service.base) is service.models  # nothing changed: no new scan
        install(folder, monkeypatch, ["gfpgan_1.4"])
        deadline = time.monotonic() + 10
        while app.get("/v1/info").json()["models"]["enhancer"]["installed"] != ["none", "gfpgan_1.4"]:
            assert time.monotonic() < deadline, "the janitor did not look at the store again"
            time.sleep(0.05)


def test_an_installed_swapper_runs_when_chosen(client: TestClient) -> None:
    mesh, plain = _swap(client)
    neural, answer = _swap(client, swapper="inswapper_128")
    assert (plain.headers["x-swapper"], answer.headers["x-swapper"]) == ("mesh", "inswapper_128")
    assert answer.headers["x-faces-swapped"] == "1"
    assert _differ(mesh, neural) > CHANGED


def test_an_installed_enhancer_runs_when_chosen(client: TestClient) -> None:
    plain, _ = _swap(client)
    enhanced, answer = _swap(client, enhancer="gfpgan_1.4", enhancer_blend="1")
    assert (answer.headers["x-swapper"], answer.headers["x-enhancer"]) == ("mesh", "gfpgan_1.4")
    assert answer.headers["x-frame-enhancer"] == "none"
    assert _differ(plain, enhanced) > CHANGED
    half, _ = _swap(client, enhancer="gfpgan_1.4", enhancer_blend="0.5")  # the strength acts
    assert 0 < _differ(plain, half) < _differ(plain, enhanced)


def test_an_installed_frame_enhancer_runs_when_chosen(client: TestClient) -> None:
    plain, _ = _swap(client)
    upscaled, answer = _swap(client, frame_enhancer="real_esrgan_x2")
    assert answer.headers["x-frame-enhancer"] == "real_esrgan_x2"
    assert upscaled.shape == plain.shape  # upscaled, then brought back to the frame's size
    assert float(np.abs(upscaled.astype(np.int16) - plain.astype(np.int16)).mean()) > 1.0  # the whole frame


@pytest.mark.parametrize(
    ("field", "model", "installed"),
    [
        ("swapper", "inswapper_128_fp16", "mesh, inswapper_128"),  # in the catalog, not in the store
        ("swapper", "inswapper_128@int8", "mesh, inswapper_128"),  # a variant nobody made
        ("enhancer", "codeformer", "none, gfpgan_1.4"),
        ("frame_enhancer", "real_esrgan_x4", "none, real_esrgan_x2"),
        ("swapper", "simswap", "mesh, inswapper_128"),  # no such model at all
    ],
)
def test_a_model_that_is_not_installed_is_a_422_naming_it(
    client: TestClient, field: str, model: str, installed: str
) -> None:
    message = f"{field} {model!r} is not installed on this server; installed: {installed}"
    response = client.post("/v1/swap", files=swap_files(), data={field: model}, headers=AUTH)
    assert response.status_code == 422 and response.json()["detail"] == message
    jobs = client.post("/v1/jobs", files=swap_files(), data={field: model}, headers=AUTH)
    assert jobs.status_code == 422 and jobs.json()["detail"] == message
    with client.websocket_connect("/v1/live") as session:
        session.send_text(json.dumps({"api_key": API_KEY, "sources": 1, "options": {field: model}}))
        body = session.receive_json()
        assert body == {"error": message, "status": 422}
        assert session.receive()["code"] == 4422


def test_a_live_session_runs_the_chosen_model(client: TestClient) -> None:
    frame = sample_path("astronaut").read_bytes()
    answers = {}
    for swapper in ("mesh", "inswapper_128"):
        with client.websocket_connect("/v1/live") as session:
            options = {"swapper": swapper, "jpeg_quality": 95}
            session.send_text(json.dumps({"api_key": API_KEY, "sources": 1, "options": options}))
            session.send_bytes(sample_path("hopper").read_bytes())
            assert session.receive_json() == {"ready": True}
            session.send_bytes(frame)
            head = session.receive_json()
            assert head["swapped"] == 1, head
            answers[swapper] = decode_image(session.receive_bytes(), "answer").image
    assert _differ(answers["mesh"], answers["inswapper_128"]) > CHANGED


def test_a_client_choice_never_downloads(make_app: Callable[..., FastAPI], models: Path) -> None:
    """The operator lets the server fetch its own models; a model a client picks is loaded with downloads off."""
    app = make_app(warm_up=False, settings=Settings(model_dir=str(models), model_download=True))
    choices, base = app.state.service.models, app.state.service.base
    chosen = client_overrides(choices, base, {"swapper": "inswapper_128"})
    assert chosen == {"swapper": "inswapper_128", "model_download": False}
    assert client_overrides(choices, base, {"swapper": "mesh", "blend": 0.5}) == {"swapper": "mesh", "blend": 0.5}


def test_a_job_runs_the_chosen_model(client: TestClient) -> None:
    mesh, _ = _swap(client, format="png")
    job = client.post("/v1/jobs", files=swap_files(), data={"swapper": "inswapper_128"}, headers=AUTH)
    assert job.status_code == 202, job.text
    assert wait_job(client, job.json()["id"])["state"] == "done"
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/jobs/{job.json()['id']}/result", headers=AUTH).content))
    neural = decode_image(archive.read("0000.png"), "result").image
    assert _differ(mesh, neural) > CHANGED


def _jpeg_quantization(data: bytes) -> int:
    """The sum of the luma quantization table (larger: coarser, a lower JPEG quality)."""
    with Image.open(io.BytesIO(data)) as image:
        tables: dict[int, list[int]] = image.quantization  # type: ignore[attr-defined]
        return sum(tables[0])


def test_a_quality_preset_sets_the_jpeg_quality(client: TestClient) -> None:
    sizes, tables = {}, {}
    for name in ("small", "standard", "high"):
        response = client.post("/v1/swap", files=swap_files(), data={"quality": name, "format": "jpg"}, headers=AUTH)
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg", response.text
        sizes[name], tables[name] = len(response.content), _jpeg_quantization(response.content)
    assert sizes["small"] < sizes["standard"] < sizes["high"], sizes
    assert tables["small"] > tables["standard"] > tables["high"], tables
    data = {"quality": "small", "jpeg_quality": "98", "format": "jpg"}  # a field sent with a preset wins over it
    explicit = client.post("/v1/swap", files=swap_files(), data=data, headers=AUTH)
    assert _jpeg_quantization(explicit.content) == tables["high"]
    refused = client.post("/v1/swap", files=swap_files(), data={"quality": "best"}, headers=AUTH)
    assert refused.status_code == 422 and "quality" in refused.json()["detail"]


def test_info_lists_the_quality_presets_with_their_values(client: TestClient) -> None:
    presets = client.get("/v1/info").json()["quality"]
    assert [preset["name"] for preset in presets] == ["standard", "high", "small"]
    standard, high, small = presets
    assert (standard["label"], standard["jpeg_quality"], standard["crf"], standard["x264_preset"]) == (
        "Standard",
        95,
        16,
        "veryfast",
    )  # the server's own values
    assert (high["jpeg_quality"], high["crf"]) == (98, 12)
    assert (small["label"], small["jpeg_quality"], small["crf"], small["x264_preset"]) == (
        "Smaller files",
        80,
        23,
        "medium",
    )


@pytest.mark.parametrize("name", list(QUALITIES))
def test_each_preset_is_within_the_encoder_and_jpeg_bounds(name: str) -> None:
    preset = QUALITIES[name]
    options = preset.encode_options()
    assert encoder_spec(VIDEO_ENCODER).options(options.crf, options.preset)  # UsageError when out of bounds
    Settings(**preset.overrides())  # jpeg_quality within its declared bounds


def test_a_quality_preset_sets_a_video_jobs_crf(client: TestClient, face_clip: Clip) -> None:
    sizes = {}
    for name in ("small", "high"):
        files = [
            ("source", ("hopper.jpg", sample_path("hopper").read_bytes(), "image/jpeg")),
            ("target", ("clip.mp4", face_clip.path.read_bytes(), "video/mp4")),
        ]
        job = client.post("/v1/jobs", files=files, data={"quality": name}, headers=AUTH)
        assert job.status_code == 202, job.text
        assert wait_job(client, job.json()["id"])["state"] == "done"
        sizes[name] = len(client.get(f"/v1/jobs/{job.json()['id']}/result", headers=AUTH).content)
    assert sizes["small"] < sizes["high"] / 2, sizes
