"""Time faceweave's neural chain on real-size models with random weights: detector (SCRFD-10GF, 640²), embedder
(iresnet50, 112²), swapper (inswapper_128) and enhancer (GFPGAN v1.4, 512²), per provider, precision and IOBinding
setting, on 720p and 1080p frames with one and four faces. Prints one JSON document (and writes it to --out after
every configuration, so a run cut short keeps what it measured).

Run by tools/gpu_check.sh (which installs onnxruntime-gpu from a folder of wheels first); on its own:
    python tests/models/gpu_chain.py --providers cpu --depth contract --frames 3
The models are built by deep_graphs.py (--depth real: the published layer lists, ~1.1 GB) or contract_graphs.py
(--depth contract: the same inputs and outputs, almost no compute; for checking the script itself on a CPU).
FP16 on CPU and CUDA uses the float16 copies `faceweave models optimize --fp16` makes (faceweave.models.variants);
on TensorRT it is TensorRT's own FP16 engine of the float32 file (trt_fp16_enable).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]  # the graph builders; faceweave from this checkout

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from faceweave.analysis.scrfd import ScrfdDetector  # noqa: E402
from faceweave.faces import Face  # noqa: E402
from faceweave.models.accuracy import SAMPLE_FACES  # noqa: E402
from faceweave.models.catalog import CATALOG  # noqa: E402
from faceweave.models.session import Runner, RuntimeOptions, create_session  # noqa: E402
from faceweave.models.variants import convert  # noqa: E402
from faceweave.samples import sample_path  # noqa: E402
from faceweave.swap.enhance import FaceEnhancer  # noqa: E402
from faceweave.swap.onnx_swap import ArcFaceEmbedder, InswapperSwapper  # noqa: E402

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
MODELS = ("scrfd_10g", "arcface_w600k_r50", "inswapper_128", "gfpgan_1.4")
PUBLISHED = {  # the real files' sizes pinned in the catalog; float32, so bytes / 4 ≈ parameters
    "scrfd_10g": "det_10g.onnx 16.9 MB ≈ 4.2 M parameters; '10G': ~10 GFLOPs at VGA, by its name",
    "arcface_w600k_r50": "w600k_r50.onnx 174.4 MB ≈ 43.6 M parameters",
    "inswapper_128": "inswapper_128.onnx 554.3 MB ≈ 138.6 M parameters",
    "gfpgan_1.4": "GFPGANv1.4.onnx: size not pinned (published sizes not confirmed)",
}
STAGES = ("detect", "embed", "swap", "enhance")


def build_models(depth: str, folder: Path) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """The four model files in `folder` (catalog file names) and, for each, its size, parameters and MACs."""
    from deep_graphs import Built

    if depth == "real":
        from deep_graphs import arcface_deep, inswapper_deep, restorer_deep, scrfd_deep

        makers: dict[str, Callable[[], Any]] = {
            "scrfd_10g": scrfd_deep,
            "arcface_w600k_r50": arcface_deep,
            "inswapper_128": inswapper_deep,
            "gfpgan_1.4": restorer_deep,
        }
    else:
        from contract_graphs import arcface_graph, inswapper_graph, restorer_graph, scrfd_graph

        plain = {
            "scrfd_10g": scrfd_graph,
            "arcface_w600k_r50": arcface_graph,
            "inswapper_128": inswapper_graph,
            "gfpgan_1.4": restorer_graph,
        }
        makers = {name: (lambda make=make: Built(make(), 0, 0)) for name, make in plain.items()}
    folder.mkdir(parents=True, exist_ok=True)
    paths, stats = {}, {}
    for name in MODELS:
        began = time.perf_counter()
        built = makers[name]()
        path = folder / CATALOG[name].file_name
        path.write_bytes(built.data)
        paths[name] = path
        stats[name] = {
            "file_mb": round(len(built.data) / 1e6, 1),
            "params_m": round(built.params / 1e6, 2),
            "gmacs": round(built.macs / 1e9, 2),
            "build_s": round(time.perf_counter() - began, 1),
            "real_file": PUBLISHED[name],
        }
    return paths, stats


def fp16_copies(paths: dict[str, Path], stats: dict[str, dict[str, Any]]) -> dict[str, Path]:
    """Float16 copies made by faceweave's own converter (`models optimize --fp16`)."""
    copies = {}
    for name, path in paths.items():
        began = time.perf_counter()
        copies[name] = path.with_name(path.stem + ".fp16.onnx")
        convert(path, copies[name], "fp16")
        stats[name]["fp16_convert_s"] = round(time.perf_counter() - began, 1)
    return copies


def scene(size_wh: tuple[int, int], count: int) -> tuple[np.ndarray, list[Face]]:
    """A grey frame with `count` copies of the astronaut portrait (faceweave ships it, so no matplotlib or
    scikit-image is needed) and their faces, five points from faceweave.models.accuracy.SAMPLE_FACES."""
    width, height = size_wh
    photo = cv2.imread(str(sample_path("astronaut")))
    points = np.array(SAMPLE_FACES["astronaut"], np.float32)
    frame = np.full((height, width, 3), 110, np.uint8)
    columns = 1 if count == 1 else 2
    cell_w, cell_h = width // columns, height // (1 if count == 1 else 2)
    k = min(cell_w / photo.shape[1], cell_h / photo.shape[0]) * 0.95
    scaled = cv2.resize(photo, (int(photo.shape[1] * k), int(photo.shape[0] * k)), interpolation=cv2.INTER_AREA)
    faces = []
    for index in range(count):
        x = (index % columns) * cell_w + (cell_w - scaled.shape[1]) // 2
        y = (index // columns) * cell_h + (cell_h - scaled.shape[0]) // 2
        frame[y : y + scaled.shape[0], x : x + scaled.shape[1]] = scaled
        landmarks_5 = points * k + (x, y)
        box = np.array([*landmarks_5.min(axis=0) - 40 * k, *landmarks_5.max(axis=0) + 40 * k], np.float32)
        zeros = np.zeros((478, 3), np.float32)
        faces.append(Face(box, 1.0, zeros, landmarks_5.astype(np.float32), np.zeros(3, np.float32), None, index))
    return frame, faces


class Chain:
    """The four adapters on sessions made with one set of options; model time is summed per stage."""

    def __init__(self, paths: dict[str, Path], options: RuntimeOptions) -> None:
        self.runners = {name: create_session(CATALOG[name], paths[name], options) for name in MODELS}
        self.model_ms = dict.fromkeys(STAGES, 0.0)
        for stage, name in zip(STAGES, MODELS, strict=True):
            self._time(self.runners[name], stage)
        from faceweave.swap.onnx_swap import read_emap

        self.detector = ScrfdDetector(self.runners["scrfd_10g"], min_score=0.5)
        self.embedder = ArcFaceEmbedder(self.runners["arcface_w600k_r50"])
        emap = read_emap(paths["inswapper_128"].with_name(CATALOG["inswapper_128"].file_name))  # the float32 file's
        self.swapper = InswapperSwapper(self.runners["inswapper_128"], self.embedder, emap)
        self.enhancer = FaceEnhancer(self.runners["gfpgan_1.4"])
        photo = cv2.imread(str(sample_path("astronaut")))
        source = Face(
            np.zeros(4, np.float32),
            1.0,
            np.zeros((478, 3), np.float32),
            np.array(SAMPLE_FACES["astronaut"], np.float32),
            np.zeros(3, np.float32),
            None,
            0,
        )
        self.latent = self.swapper.latent([(photo, source)])

    def _time(self, runner: Runner, stage: str) -> None:
        run = runner.run

        def timed(*blobs: Any) -> Any:
            began = time.perf_counter()
            outputs = run(*blobs)
            self.model_ms[stage] += (time.perf_counter() - began) * 1000
            return outputs

        runner.run = timed  # type: ignore[method-assign]

    def set_io_binding(self, enabled: bool) -> None:
        for runner in self.runners.values():
            runner.io_binding = enabled and "cuda" in runner.providers

    def frame(self, frame: np.ndarray, faces: list[Face]) -> dict[str, float]:
        """One frame through detect → embed → swap → enhance; ms per stage (adapter time: pre/post-processing too)."""
        self.model_ms = dict.fromkeys(STAGES, 0.0)
        ms, began = {}, time.perf_counter()
        self.detector.detect(frame)
        ms["detect"], began = (time.perf_counter() - began) * 1000, time.perf_counter()
        self.embedder.embed_many([(frame, face.landmarks_5) for face in faces])
        ms["embed"], began = (time.perf_counter() - began) * 1000, time.perf_counter()
        for face in faces:
            frame = self.swapper(frame, face, self.latent)
        ms["swap"], began = (time.perf_counter() - began) * 1000, time.perf_counter()
        for face in faces:
            frame = self.enhancer(frame, face)
        ms["enhance"] = (time.perf_counter() - began) * 1000
        return ms | {f"{stage} model": value for stage, value in self.model_ms.items()}


def measure(chain: Chain, size: str, count: int, frames: int, warmup: int) -> dict[str, Any]:
    """Median ms per stage over `frames` timed frames (after `warmup`), and frames per second."""
    frame, faces = scene(SIZES[size], count)
    samples: dict[str, list[float]] = {}
    for index in range(warmup + frames):
        figures = chain.frame(frame, faces)
        if index >= warmup:
            for name, value in figures.items():
                samples.setdefault(name, []).append(value)
    medians = {name: round(statistics.median(values), 2) for name, values in samples.items()}
    totals = [sum(samples[stage][i] for stage in STAGES) for i in range(frames)]
    total = statistics.median(totals)
    return {
        "size": size,
        "faces": count,
        "stages_ms": medians,
        "total_ms": round(total, 2),
        "fps": round(1000 / total, 2),
    }


def configurations(providers: list[str]) -> list[tuple[str, str]]:
    """(provider, precision) pairs in the order they run: the quick ones first, TensorRT's engine builds last."""
    order = {"cpu": 0, "cuda": 1, "tensorrt": 2}
    return [(p, precision) for p in sorted(providers, key=order.__getitem__) for precision in ("fp32", "fp16")]


def options_for(provider: str, precision: str, work: Path) -> RuntimeOptions:
    if provider == "tensorrt":
        return RuntimeOptions(providers=("tensorrt", "cuda"), fp16=precision == "fp16", trt_cache_dir=str(work / "trt"))
    return RuntimeOptions(providers=(provider,))


def environment() -> dict[str, Any]:
    import onnxruntime

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "available_providers": onnxruntime.get_available_providers(),
        "cpus": os.cpu_count(),
    }
    tool = shutil.which("nvidia-smi")
    if tool:
        query = [tool, "--query-gpu=name,driver_version,memory.total,memory.free", "--format=csv,noheader"]
        result = subprocess.run(query, capture_output=True, text=True, check=False)
        info["gpu"] = result.stdout.strip() or result.stderr.strip()
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", default="cuda,tensorrt", help="comma list of cpu, cuda, tensorrt")
    parser.add_argument("--depth", choices=("real", "contract"), default="real")
    parser.add_argument("--sizes", default="720p,1080p")
    parser.add_argument("--faces", default="1,4")
    parser.add_argument("--frames", type=int, default=20, help="timed frames per case (median reported)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--budget", type=float, default=360, help="seconds; configurations that would start later are skipped"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceweave-gpu-check"))
    parser.add_argument("--out", type=Path, help="also write the JSON here (after every configuration)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    if not providers or set(providers) - {"cpu", "cuda", "tensorrt"}:
        parser.error(f"--providers takes cpu, cuda and tensorrt, got {args.providers!r}")
    import onnxruntime

    if {"cuda", "tensorrt"} & set(providers) and hasattr(onnxruntime, "preload_dlls"):
        onnxruntime.preload_dlls()  # CUDA and cuDNN from NVIDIA's pip wheels, where they are installed
    report: dict[str, Any] = {"environment": environment(), "depth": args.depth, "configurations": [], "skipped": []}
    paths, stats = build_models(args.depth, args.work / args.depth)
    report["models"] = stats
    half = fp16_copies(paths, stats)

    def save() -> None:
        report["elapsed_s"] = round(time.monotonic() - began, 1)
        if args.out:
            args.out.write_text(json.dumps(report, indent=1))

    for provider, precision in configurations(providers):
        label = f"{provider} {precision}"
        left = args.budget - (time.monotonic() - began)
        if left < (120 if provider == "tensorrt" else 20):
            report["skipped"].append(f"{label}: {left:.0f} s of the budget left")
            continue
        files = half if precision == "fp16" and provider != "tensorrt" else paths
        setup = time.monotonic()
        try:
            chain = Chain(files, options_for(provider, precision, args.work))
        except Exception as error:  # a provider that cannot load (no TensorRT libraries, say) is reported, not fatal
            report["skipped"].append(f"{label}: {type(error).__name__}: {str(error)[:300]}")
            save()
            continue
        used = {name: runner.describe() for name, runner in chain.runners.items()}
        if any(d["providers"][0] != provider for d in used.values()):
            report["skipped"].append(f"{label}: sessions fell back to {[d['providers'] for d in used.values()]}")
            save()
            continue
        config: dict[str, Any] = {"provider": provider, "precision": precision, "models": used, "runs": []}
        for io_binding in (True, False) if provider != "cpu" else (False,):
            chain.set_io_binding(io_binding)
            for size in args.sizes.split(","):
                for count in (int(n) for n in args.faces.split(",")):
                    run = measure(chain, size, count, args.frames, args.warmup if config["runs"] else args.warmup + 2)
                    config["runs"].append({"io_binding": io_binding} | run)
                    print(
                        f"{label} io_binding={io_binding} {size} {count} face(s): {run['fps']} fps",
                        run["stages_ms"],
                        file=sys.stderr,
                        flush=True,
                    )
            if time.monotonic() - began > args.budget:
                break
        config["setup_and_runs_s"] = round(time.monotonic() - setup, 1)
        report["configurations"].append(config)
        save()
    save()
    print(json.dumps(report, indent=1))
    return 0 if report["configurations"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
