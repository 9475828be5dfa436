"""Batch benchmark: files/s with 1 and 2 local workers (and the ratio), Ray vs local, and memory over a large folder.

The folder (default 10,000 images, --count) is generated from ../shared/testdata/images single-face photos with
varied crops (55-100 %), scales (±30 % of --side) and flips, 500 per subfolder; without that folder the benchmark
says so and exits 0. --corpus DIR keeps the generated folder for the next run (missing images are written, those
past --count removed).

A config is ENGINE:WORKERS[xTHREADS] (threads per worker; default: CPUs // workers). Ray configs are skipped when Ray
is not installed. Per config: files/s over the whole run and steady (from the first result: no model loading), CPU
ms per file (parent + workers over the same span, from /proc; Ray's own daemons not counted), and memory: the summed
VmRSS of the parent and the workers, sampled every 50 files; growth = peak over the last window minus peak over the
first (window = 1000 files, or a tenth of the run when smaller).

    python tools/bench_batch.py --count 300 --configs local:1x1,local:1x2,local:2x1
    python tools/bench_batch.py --corpus /tmp/fw-10k --json    # 10,000 images, local:1, local:2, ray:2
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceweave.batch import BatchOptions, BatchProgress, run_batch
from faceweave.batch.runner import Engine
from faceweave.media.image_io import read_image
from faceweave.samples import sample_path
from faceweave.settings import Settings

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "images"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Config:
    """One benchmark run: the engine, its workers and their thread budget (None: the default share)."""

    engine: str
    workers: int
    threads: int | None = None

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.workers}" + (f"x{self.threads}" if self.threads else "")


def parse_configs(text: str) -> list[Config]:
    """'local:1,local:2x1,ray:2' → configs (ENGINE:WORKERS[xTHREADS])."""
    configs = []
    for part in text.split(","):
        engine, _, shape = part.strip().partition(":")
        workers, _, threads = shape.partition("x")
        if engine not in ("local", "ray") or not workers.isdigit() or (threads and not threads.isdigit()):
            raise SystemExit(f"bad config {part!r}: use ENGINE:WORKERS[xTHREADS], e.g. local:2 or local:1x2")
        configs.append(Config(engine, int(workers), int(threads) if threads else None))
    return configs


def single_face_photos(folder: Path) -> list[Path]:
    """The portraits of the test data (group photos and photos without a face left out)."""
    return [p for p in sorted(folder.glob("*")) if p.is_file() and not p.name.startswith(("group_", "noface_"))]


def varied(image: np.ndarray[Any, Any], rng: random.Random, side: int) -> np.ndarray[Any, Any]:
    """A crop of 55-100 % of the photo anywhere in it, flipped half the time, scaled to `side` ±30 %."""
    height, width = image.shape[:2]
    keep = rng.uniform(0.55, 1.0)
    h, w = int(height * keep), int(width * keep)
    top, left = rng.randint(0, height - h), rng.randint(0, width - w)
    crop = image[top : top + h, left : left + w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    scale = side * rng.uniform(0.7, 1.3) / max(crop.shape[:2])
    return cv2.resize(np.ascontiguousarray(crop), (max(16, int(w * scale)), max(16, int(h * scale))))


def build_folder(folder: Path, count: int, side: int, photos: list[Path], seed: int = 0) -> int:
    """Write `count` varied JPEGs (500 per subfolder), keeping those already there; returns how many were written."""
    images = [read_image(p).image for p in photos]
    rng = random.Random(seed)
    written = 0
    for index in range(count):
        image = varied(images[index % len(images)], rng, side)  # drawn even when kept: the same corpus every time
        path = folder / f"part_{index // 500:03d}" / f"img_{index:05d}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            written += 1
    return written


def trim_folder(folder: Path, count: int) -> int:
    """Remove generated images numbered `count` or more (a kept corpus reused for a smaller run); how many."""
    removed = 0
    for path in folder.glob("part_*/img_*.jpg"):
        if path.stem[4:].isdigit() and int(path.stem[4:]) >= count:
            path.unlink()
            removed += 1
    return removed


def rss_mb(pids: list[int]) -> float:
    """Summed VmRSS of the processes, in MB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, StopIteration):
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            total += next(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
    return total / 1024


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each live process (from /proc/PID/stat)."""
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return seconds


@dataclass
class Sampler:
    """The progress callback of one run: at the first result and every `every` files, the time, CPU and memory."""

    every: int
    engines: list[Engine] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    memory: list[tuple[int, float]] = field(default_factory=list)
    first: tuple[float, dict[int, float]] | None = None
    last: tuple[float, dict[int, float], int] | None = None

    def __call__(self, state: BatchProgress) -> None:
        met = state.done + state.failed
        if met != 1 and met % self.every:
            return
        if met == 1 or met % 1000 == 0:  # workers can be replaced: refresh now and then
            self.pids = [os.getpid(), *self.engines[0].pids()]
        now = (time.perf_counter(), cpu_seconds(self.pids))
        if met == 1:
            self.first = now
        else:
            self.last = (*now, met)
            self.memory.append((met, rss_mb(self.pids)))

    def steady(self) -> tuple[float, float]:
        """(files/s, CPU ms per file) from the first result to the last sample, for processes alive at both."""
        if self.first is None or self.last is None:
            return 0.0, 0.0
        (began, cpu_before), (ended, cpu_after, met) = self.first, self.last
        cpu = sum(cpu_after[pid] - cpu_before[pid] for pid in cpu_after.keys() & cpu_before.keys())
        return (met - 1) / (ended - began), 1000 * cpu / (met - 1)


def run_config(folder: Path, config: Config, count: int) -> dict[str, Any]:
    """One batch run into a fresh output folder; throughput, CPU and memory figures."""
    window = max(1, min(1000, count // 10))
    sampler = Sampler(every=max(1, min(50, window // 4)))
    with tempfile.TemporaryDirectory(prefix="fw-batch-out-") as output:
        options = BatchOptions(
            output=Path(output), sources=(sample_path("hopper"),), input=folder, workers=config.workers,
            engine=config.engine, threads_per_worker=config.threads,  # type: ignore[arg-type]
        )  # fmt: skip
        began, load = time.perf_counter(), os.getloadavg()[0]
        summary = run_batch(options, Settings(require_face=True), progress=sampler, on_engine=sampler.engines.append)
        seconds = time.perf_counter() - began
    files = summary.done + summary.failed
    first = max((rss for met, rss in sampler.memory if met <= window), default=0.0)
    last = max((rss for met, rss in sampler.memory if met > files - window), default=0.0)
    steady, cpu_ms = sampler.steady()
    return {
        "config": config.label, "engine": config.engine, "workers": config.workers,
        "threads_per_worker": options.worker_threads, "files": files, "done": summary.done, "failed": summary.failed,
        "seconds": round(seconds, 1), "files_per_s": round(files / seconds, 2), "steady_files_per_s": round(steady, 2),
        "cpu_ms_per_file": round(cpu_ms, 1), "rss_first_mb": round(first, 1), "rss_last_mb": round(last, 1),
        "rss_growth_mb": round(last - first, 1), "rss_window_files": window,
        "load_average_before": round(load, 2), "load_average_after": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def summary_lines(results: list[dict[str, Any]]) -> Iterator[str]:
    """The figures issue 4 asks for: 1 vs 2 local workers, their ratio, memory growth, Ray vs local."""
    for result in results:
        yield (
            f"{result['config']:>10} ({result['threads_per_worker']} thread(s)/worker): {result['files_per_s']:.1f}"
            f" files/s ({result['steady_files_per_s']:.1f} steady), {result['cpu_ms_per_file']:.1f} ms CPU/file,"
            f" RSS growth {result['rss_growth_mb']:+.1f} MB (first vs last {result['rss_window_files']} files),"
            f" load {result['load_average_before']:.1f} → {result['load_average_after']:.1f}"
        )
    local = [r for r in results if r["engine"] == "local"]
    for two in (r for r in local if r["workers"] == 2):
        for one in (r for r in local if r["workers"] == 1):
            yield f"{two['config']} vs {one['config']}: {_ratio(two, one):.2f}× steady files/s (target ≥ 1.8×)"
    for ray in (r for r in results if r["engine"] == "ray"):
        for same in (r for r in local if r["workers"] == ray["workers"]):
            yield f"{ray['config']} vs {same['config']}: {_ratio(ray, same):.2f}× steady files/s"


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    return float(a["steady_files_per_s"]) / max(float(b["steady_files_per_s"]), 1e-9)


def _corpus(keep: Path | None) -> contextlib.AbstractContextManager[str]:
    if keep is None:
        return tempfile.TemporaryDirectory(prefix="fw-batch-in-")
    keep.mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(str(keep))


def main(argv: list[str] | None = None, report: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="images to generate (10,000)")
    parser.add_argument("--side", type=int, default=160, help="typical longest side in pixels (160)")
    parser.add_argument("--configs", default="local:1,local:2,ray:2", help="ENGINE:WORKERS[xTHREADS] list")
    parser.add_argument("--images", type=Path, default=TESTDATA, help="photos to vary (../shared/testdata/images)")
    parser.add_argument("--corpus", type=Path, help="keep the generated images here and reuse them next time")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    args = parser.parse_args(argv)
    configs = parse_configs(args.configs)
    photos = single_face_photos(args.images) if args.images.is_dir() else []
    if not photos:
        report(f"skipped: no single-face photos in {args.images} (the shared test data is not on this machine)")
        return 0
    if importlib.util.find_spec("ray") is None and any(c.engine == "ray" for c in configs):
        report("ray is not installed (pip install 'faceweave[ray]'): its configs are skipped")
        configs = [c for c in configs if c.engine != "ray"]
    results = []
    with _corpus(args.corpus) as folder:
        began = time.perf_counter()
        written = build_folder(Path(folder), args.count, args.side, photos)
        trim_folder(Path(folder), args.count)
        report(f"{args.count} images in {folder} ({written} generated in {time.perf_counter() - began:.1f} s)")
        for config in configs:
            results.append(run_config(Path(folder), config, args.count))
            report(json.dumps(results[-1]))
    for line in summary_lines(results):
        report(line)
    if args.json:
        report(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
