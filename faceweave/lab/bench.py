"""Benchmark: per-stage timings (detect, mesh, shape, remap, colour, blend, eyes) at 720p and 1080p, warm and cold."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.analysis.analyser import FaceAnalyser
from faceweave.engine import Bindings, Engine, Mode
from faceweave.media.image_io import read_image
from faceweave.samples import sample_path
from faceweave.settings import Detector, Settings
from faceweave.types import Image

Report = Callable[[str], None]
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}

_COLD_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import cv2
from faceweave.engine import Engine
from faceweave.settings import Settings
t1 = time.perf_counter()
engine = Engine.load(Settings(detector="mediapipe"), mode="video")
bindings = engine.bind([sys.argv[1]])
t2 = time.perf_counter()
frame = cv2.imread(sys.argv[2])
result = engine.process(frame, bindings, engine.stream())
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_frame_s": t3 - t2, "swapped": len(result.swapped)}))
"""


def scene(photo: Image, box: npt.NDArray[np.float32], size_wh: tuple[int, int], fill: float) -> Image:
    """A frame of `size_wh` whose face (box in `photo`) is `fill` × the frame height, centred."""
    w, h = size_wh
    face_h = float(box[3] - box[1])
    k = fill * h / face_h
    centre = (box[:2] + box[2:]) / 2
    matrix = np.array([[k, 0, w / 2 - k * centre[0]], [0, k, h / 2 - k * centre[1]]], np.float32)
    return cv2.warpAffine(photo, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


STAGES = ("detect", "mesh", "shape", "remap", "colour", "blend", "eyes")
"""The stages of the default chain on a still frame, as the engine's StageClock names them."""


def time_stages(engine: Engine, bindings: Bindings, frame: Image, repeat: int) -> dict[str, float]:
    """Median ms per stage over `repeat` warm runs of the engine's real chain on one frame (analysed without a
    stream, so every run detects). Every stage the chain reports is timed: the mesh swap's steps, or "neural swap",
    "face enhancer", "frame enhancer", "occluders" when the settings ask for them."""
    samples: dict[str, list[float]] = {}
    faces = 0
    for run in range(repeat + 1):
        began = time.perf_counter()
        result = engine.process(frame, bindings)
        total = (time.perf_counter() - began) * 1000
        if run == 0:
            continue  # first-call costs
        stages = dict(result.stages) | {"total": total}
        for name in (*STAGES, *stages):
            samples.setdefault(name, []).append(stages.get(name, 0.0))
        faces = len(result.faces)
    return {name: round(statistics.median(values), 2) for name, values in samples.items()} | {"faces": float(faces)}


def neural_models(engine: Engine) -> list[dict[str, Any]]:
    """What runs each neural model of the engine's chain (model, variant, providers, batch size and why, IOBinding);
    empty with the embedded mesh swap."""
    runners: list[Any] = []
    for processor in engine.chain:
        adapter = getattr(processor, "swapper", None) or getattr(processor, "enhancer", None)
        runners += getattr(adapter, "runners", ())
    return [runner.describe() for runner in runners]


def describe_neural(models: list[dict[str, Any]]) -> str:
    """One line naming each model with its providers and chosen batch size."""
    parts = [
        f"{m['model']} on {','.join(m['providers'])}, batch {m['batch_size']} ({m['batch_reason']})"
        + (", IOBinding" if m["io_binding"] else "")
        for m in models
    ]
    return "neural models: " + "; ".join(parts)


def cold_start(source: Path, target: Image) -> dict[str, float]:
    """Import + model load + first frame in a fresh interpreter (seconds)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        frame_path = Path(folder) / "frame.png"
        cv2.imwrite(str(frame_path), target)
        output = subprocess.run(
            [sys.executable, "-c", _COLD_SCRIPT, str(source), str(frame_path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return {k: round(v, 3) for k, v in figures.items()}


def run_bench(
    settings: Settings, source: Path | None, target: Path | None, repeat: int, report: Report
) -> dict[str, Any]:
    """Print a table of per-stage medians and return all figures."""
    source = source or sample_path("hopper")
    photo = read_image(target or sample_path("astronaut")).image
    probe = FaceAnalyser(settings).analyse(photo)
    if len(probe) == 0:
        raise ValueError(f"no face in bench target '{target}'")
    box = probe.boxes[int(np.argmax(probe.sizes))]
    figures: dict[str, Any] = {}
    columns = ("faces", "detect", "mesh", "shape", "remap", "colour", "blend", "eyes", "total")
    report(f"{'case':42s} " + " ".join(f"{c:>7s}" for c in columns) + "  (median ms)")
    modes: tuple[tuple[Mode, Detector], ...] = (("video", "mediapipe"), ("still", settings.detector))
    for mode, detector in modes:
        engine = Engine.load(settings.replace(detector=detector), mode=mode)
        bindings = engine.bind([source])
        neural = neural_models(engine)
        if neural and "neural" not in figures:
            figures["neural"] = neural
            report(describe_neural(neural))
        for size_name, size_wh in SIZES.items():
            for face_name, fill in (("typical face", 0.3), ("frame-filling face", 0.9)):
                frame = scene(photo, box, size_wh, fill)
                stages = time_stages(engine, bindings, frame, repeat)
                key = f"{mode} {size_name} {face_name}"
                figures[key] = stages
                label = f"{key} ({detector})"
                extra = [f"{name} {ms:.1f}" for name, ms in stages.items() if name not in columns and ms >= 0.05]
                line = f"{label:42s} {stages['faces']:7.0f} " + " ".join(f"{stages[c]:7.1f}" for c in columns[1:])
                report(line + (f"  (+ {', '.join(extra)})" if extra else ""))
    cold = cold_start(source, scene(photo, box, SIZES["720p"], 0.3))
    figures["cold"] = cold
    report(
        f"cold start: import {cold['import_s']:.2f} s + models and source {cold['load_s']:.2f} s"
        f" + first frame {cold['first_frame_s']:.2f} s"
    )
    return figures
