"""Batch benchmark: throughput with 1 and 2 local workers, the Ray engine, and memory over a large generated folder.

The folder (default 10,000 images) is generated into a temp dir from ../shared/testdata/images single-face photos
with varied crops, scales and flips. Memory is the summed VmRSS (/proc) of the parent and the workers, sampled every
50 files; growth = peak over the last window minus peak over the first (window = min(1000, count // 10) files).

    python tools/bench_batch.py --count 2000 --configs local:1,local:2,ray:2 --json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from faceweave.batch import BatchOptions, BatchProgress, run_batch
from faceweave.batch.runner import Engine
from faceweave.media.image_io import read_image
from faceweave.samples import sample_path
from faceweave.settings import Settings

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "images"


def build_folder(folder: Path, count: int, side: int, seed: int = 0) -> None:
    """`count` varied images (crop 55-100 % around the centre, flip, scale ±30 % of `side`), 500 per subfolder."""
    photos = [p for p in sorted(TESTDATA.glob("*")) if not p.name.startswith(("group_", "noface_"))]
    images = [read_image(p).image for p in photos] or [read_image(sample_path("hopper")).image]
    rng = random.Random(seed)
    for index in range(count):
        image = images[index % len(images)]
        height, width = image.shape[:2]
        keep = rng.uniform(0.55, 1.0)
        h, w = int(height * keep), int(width * keep)
        top, left = rng.randint(0, height - h), rng.randint(0, width - w)
        crop = image[top : top + h, left : left + w]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        scale = side * rng.uniform(0.7, 1.3) / max(crop.shape[:2])
        resized = cv2.resize(np.ascontiguousarray(crop), (max(16, int(w * scale)), max(16, int(h * scale))))
        directory = folder / f"part_{index // 500:03d}"
        directory.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(directory / f"img_{index:05d}.jpg"), resized, [cv2.IMWRITE_JPEG_QUALITY, 90])


def rss_mb(pids: list[int]) -> float:
    """Summed VmRSS of the processes, in MB."""
    total = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)
    return total / 1024


def run_config(folder: Path, engine: str, workers: int, count: int) -> dict[str, float]:
    """One batch run into a fresh output folder; throughput and memory figures."""
    import os

    window = max(1, min(1000, count // 10))
    every = max(1, min(50, window // 4))
    samples: list[tuple[int, float]] = []
    engines: list[Engine] = []
    marks: dict[str, float] = {}
    pids: list[int] = []

    def on_engine(started: Engine) -> None:
        engines.append(started)

    def progress(state: BatchProgress) -> None:
        met = state.done + state.failed
        if met == 1:
            marks["first"] = time.perf_counter()
        if met % every == 0:
            if not pids or met % 1000 == 0:
                pids[:] = [os.getpid(), *engines[0].pids()]
            samples.append((met, rss_mb(pids)))

    with tempfile.TemporaryDirectory(prefix="fw-batch-out-") as output:
        options = BatchOptions(
            output=Path(output),
            sources=(sample_path("hopper"),),
            input=folder,
            workers=workers,
            engine=engine,  # type: ignore[arg-type]
        )
        began, cpu, load = time.perf_counter(), _cpu_seconds(), os.getloadavg()[0]
        summary = run_batch(options, Settings(require_face=True), progress=progress, on_engine=on_engine)
        ended = time.perf_counter()
        cpu = _cpu_seconds() - cpu
    first = [rss for met, rss in samples if met <= window]
    last = [rss for met, rss in samples if met > count - window]
    steady = (summary.done + summary.failed - 1) / (ended - marks.get("first", began))
    return {
        "engine": engine, "workers": workers, "files": summary.done + summary.failed, "done": summary.done,  # type: ignore[dict-item]
        "failed": summary.failed, "seconds": round(ended - began, 1), "files_per_s": round(summary.files_per_second, 2),
        "steady_files_per_s": round(steady, 2), "rss_first_mb": round(max(first, default=0), 1),
        "rss_last_mb": round(max(last, default=0), 1),
        "rss_growth_mb": round(max(last, default=0) - max(first, default=0), 1), "rss_window_files": window,
        "cpu_ms_per_file": round(1000 * cpu / max(1, summary.done + summary.failed), 1),
        "load_average_before": round(load, 2), "load_average_after": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the local engine's workers; not Ray's actors)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None, report: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="images to generate (10,000)")
    parser.add_argument("--side", type=int, default=160, help="typical longest side in pixels (160)")
    parser.add_argument("--configs", default="local:1,local:2,ray:2", help="engine:workers list")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="fw-batch-in-") as folder:
        began = time.perf_counter()
        build_folder(Path(folder), args.count, args.side)
        report(f"generated {args.count} images in {time.perf_counter() - began:.1f} s")
        for config in args.configs.split(","):
            engine, workers = config.split(":")
            result = run_config(Path(folder), engine, int(workers), args.count)
            report(json.dumps(result))
            results.append(result)
    base = next((r for r in results if r["engine"] == "local" and r["workers"] == 1), None)
    for result in results:
        if base is not None and result is not base:
            ratio = result["steady_files_per_s"] / base["steady_files_per_s"]
            report(f"{result['engine']}:{result['workers']} vs local:1 steady throughput: {ratio:.2f}×")
    if args.json:
        report(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
