"""Load test of `faceweave serve` on loopback: N concurrent clients post 720p swaps for a bounded time.

Starts its own server (a subprocess bound to 127.0.0.1), runs the clients, then measures the same work done
in-process by warm engines (the pipeline / CLI path without HTTP) for comparison. Stops by itself.

    python tools/load_test.py --clients 50 --duration 60 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import cv2
import httpx
import numpy as np

from faceweave.media.image_io import decode_image, encode_image, read_image
from faceweave.samples import sample_path
from faceweave.service.engine import SwapEngine, SwapInput, digest_sources
from faceweave.settings import Settings

KEY = "load-test-key-0123456789"
MAX_REQUESTS = 100_000  # a hard bound besides the duration


def target_720p() -> bytes:
    """The astronaut's head on a 1280×720 gradient, as a JPEG (a typical 720p frame with one face)."""
    y, x = np.mgrid[0:720, 0:1280].astype(np.float32)
    canvas = np.dstack([120 + 40 * np.sin(x / 90), 110 + 30 * np.cos(y / 70), 100 + 20 * np.sin((x + y) / 130)])
    frame = np.clip(canvas, 0, 255).astype(np.uint8)
    head = cv2.resize(read_image(sample_path("astronaut")).image, (480, 480), interpolation=cv2.INTER_AREA)
    frame[120:600, 400:880] = head
    return encode_image(frame, ".jpg", quality=90)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_server(workers: int, queue_size: int, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "faceweave.cli", "serve", "--port", str(port), "--api-key", KEY]
    command += ["--workers", str(workers), "--queue-size", str(queue_size), "--rate-limit", "0"]
    command += ["--data-dir", str(data_dir)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.kill()
    raise SystemExit("server did not become ready in 120 s")


async def client_loop(
    url: str, files: dict[str, tuple[str, bytes]], until: float, results: list[tuple[int, float]]
) -> None:
    headers = {"X-API-Key": KEY}
    async with httpx.AsyncClient(timeout=120) as client:
        while time.monotonic() < until and len(results) < MAX_REQUESTS:
            began = time.perf_counter()
            try:
                response = await client.post(url + "/v1/swap", files=files, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            results.append((status, time.perf_counter() - began))
            if status == 503:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))


def run_clients(url: str, clients: int, duration: float, target: bytes) -> tuple[list[tuple[int, float]], float]:
    files = {"source": ("hopper.jpg", sample_path("hopper").read_bytes()), "target": ("frame.jpg", target)}
    results: list[tuple[int, float]] = []
    began = time.monotonic()

    async def main() -> None:
        until = time.monotonic() + duration
        await asyncio.gather(*(client_loop(url, files, until, results) for _ in range(clients)))

    asyncio.run(main())
    return results, time.monotonic() - began


def baseline(workers: int, duration: float, target: bytes) -> float:
    """Swaps per second of warm in-process engines (decode + swap + label + encode, no HTTP), one per thread."""
    source_bytes = sample_path("hopper").read_bytes()
    counts = [0] * workers

    def work(index: int) -> None:
        engine = SwapEngine(Settings())
        source = decode_image(source_bytes, "source")
        engine.warm()
        request = lambda: SwapInput(  # noqa: E731
            (source,), digest_sources([source_bytes]), decode_image(target, "target"), Settings(), ".jpg"
        )
        engine.swap(request())
        until = time.monotonic() + duration
        while time.monotonic() < until:
            engine.swap(request())
            counts[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / duration


def summarise(results: list[tuple[int, float]], seconds: float) -> dict[str, object]:
    ok = sorted(latency for status, latency in results if status == 200)
    quantile = statistics.quantiles(ok, n=100) if len(ok) >= 2 else [float("nan")] * 99
    return {
        "requests": len(results),
        "ok": len(ok),
        "throughput_per_s": round(len(ok) / seconds, 2),
        "p50_ms": round(quantile[49] * 1000, 1),
        "p95_ms": round(quantile[94] * 1000, 1),
        "statuses": dict(Counter(str(status) for status, _ in results)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (bounded: at most 600)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--queue-size", type=int, default=16)
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    args = parser.parse_args()
    duration = min(args.duration, 600.0)
    target = target_720p()
    with tempfile.TemporaryDirectory() as data_dir:
        server, url = start_server(args.workers, args.queue_size, Path(data_dir))
        try:
            rss: list[float] = [rss_mb(server.pid)]
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.wait(1.0):
                    rss.append(rss_mb(server.pid))

            threading.Thread(target=sample, daemon=True).start()
            results, seconds = run_clients(url, args.clients, duration, target)
            sampling.set()
            rss.append(rss_mb(server.pid))
        finally:
            server.terminate()
            server.wait(30)
    figures = summarise(results, seconds)
    figures |= {"clients": args.clients, "seconds": round(seconds, 1), "workers": args.workers}
    figures |= {"server_rss_mb": {"start": round(rss[0]), "peak": round(max(rss)), "end": round(rss[-1])}}
    pipeline = baseline(args.workers, args.baseline_seconds, target)
    figures |= {
        "pipeline_per_s": round(pipeline, 2),
        "service_vs_pipeline": round(figures["throughput_per_s"] / pipeline, 3),
    }  # type: ignore[operator]
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
