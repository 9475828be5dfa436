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

from faceweave.analysis.analyser import FaceAnalyser, Mode
from faceweave.media.image_io import read_image
from faceweave.pipeline import Pipeline
from faceweave.samples import sample_path
from faceweave.settings import Detector, Settings

Image = npt.NDArray[np.uint8]
Report = Callable[[str], None]
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}

_COLD_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import cv2
from faceweave.pipeline import Pipeline
from faceweave.settings import Detector, Settings
t1 = time.perf_counter()
pipeline = Pipeline.from_settings(Settings(detector="mediapipe"), sources=[sys.argv[1]], mode="video")
t2 = time.perf_counter()
frame = cv2.imread(sys.argv[2])
result = pipeline.process(frame)
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


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def time_stages(pipeline: Pipeline, frame: Image, repeat: int) -> dict[str, float]:
    """Median ms per stage over `repeat` warm runs of the pipeline's own steps on one frame."""
    analyser, swapper = pipeline.analyser, pipeline.swapper
    identity = pipeline.bindings[0].identity
    names = ("detect", "mesh", "shape", "remap", "colour", "blend", "eyes", "total")
    stages: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        detections = analyser.detect(rgb)
        t1 = time.perf_counter()
        faces = analyser.mesh_faces(rgb, detections)
        t2 = time.perf_counter()
        result, spent = frame, np.zeros(5)
        for face in faces:
            marks = [time.perf_counter()]
            result, moved = swapper.fit_shape(result, face, identity)
            marks.append(time.perf_counter())
            layer = swapper.render(result, moved, identity)
            marks.append(time.perf_counter())
            if layer is None:
                continue
            coloured = swapper.recolour(layer, moved)
            marks.append(time.perf_counter())
            result = swapper.compose(result, layer, coloured, moved)
            marks.append(time.perf_counter())
            result = swapper.recolour_eyes(result, moved, identity)
            marks.append(time.perf_counter())
            spent += np.diff(marks)
        t3 = time.perf_counter()
        for key, value in zip(stages, (t1 - t0, t2 - t1, *spent, t3 - t0), strict=True):
            stages[key].append(float(value))
    return {key: _median_ms(values[1:]) for key, values in stages.items()} | {"faces": float(len(faces))}


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
        pipeline = Pipeline.from_settings(settings.replace(detector=detector), [source], mode=mode)
        for size_name, size_wh in SIZES.items():
            for face_name, fill in (("typical face", 0.3), ("frame-filling face", 0.9)):
                frame = scene(photo, box, size_wh, fill)
                stages = time_stages(pipeline, frame, repeat)
                key = f"{mode} {size_name} {face_name}"
                figures[key] = stages
                label = f"{key} ({detector})"
                report(f"{label:42s} {stages['faces']:7.0f} " + " ".join(f"{stages[c]:7.1f}" for c in columns[1:]))
    cold = cold_start(source, scene(photo, box, SIZES["720p"], 0.3))
    figures["cold"] = cold
    report(
        f"cold start: import {cold['import_s']:.2f} s + models and source {cold['load_s']:.2f} s"
        f" + first frame {cold['first_frame_s']:.2f} s"
    )
    return figures
