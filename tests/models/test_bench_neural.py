"""`faceweave bench --video CLIP --swapper inswapper_128` on the contract graphs in a model store: the neural chain is
timed stage by stage, and the JSON says which models ran, where, and the batch size chosen for each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clip_factory import face_frames, write_clip

from faceweave.cli import main
from faceweave.models.catalog import CATALOG
from faceweave.models.session import RuntimeOptions
from faceweave.models.store import ModelStore
from faceweave.models.variants import optimize


def test_bench_video_times_the_neural_chain_of_the_contract_models(
    contract_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    optimize(ModelStore(contract_store), CATALOG["gfpgan_1.4"], "fp16", RuntimeOptions(providers=("cpu",)))
    frames, boxes = face_frames((320, 240), 6, with_face=6)
    clip = write_clip(tmp_path / "clip.mp4", frames, boxes=boxes).path
    models = ["--swapper", "inswapper_128", "--enhancer", "gfpgan_1.4@fp16", "--model-dir", str(contract_store)]
    args = ["bench", "--video", str(clip), *models, "--detector", "mediapipe", "--providers", "cpu", "--json"]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["stages"]["neural swap"] > 0 and figures["stages"]["face enhancer"] > 0
    assert not {"remap", "colour", "blend"} & set(figures["stages"])  # the mesh swap did not run
    assert figures["fps"] > 0 and figures["frames"] == 6
    ran = {model["model"]: model for model in figures["neural"]}
    assert list(ran) == ["inswapper_128", "arcface_w600k_r50", "gfpgan_1.4@fp16"]
    assert ran["gfpgan_1.4@fp16"]["variant"] == "fp16" and all(m["providers"] == ["cpu"] for m in ran.values())
    assert ran["inswapper_128"]["batch_size"] == 1 and ran["inswapper_128"]["batch_reason"] == "fixed by the model file"
    assert ran["arcface_w600k_r50"]["batch_reason"] == "CPU default"  # dynamic batch axis, but no GPU
    assert any(
        line.startswith("neural models: inswapper_128 on cpu, batch 1 (fixed by the model file)") for line in lines
    )
