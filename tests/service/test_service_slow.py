"""Slow, real-server checks: uvicorn killed mid-job and restarted, schemathesis fuzzing, a headless Chromium UI run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from clip_factory import Clip, face_frames, write_clip
from service_helpers import API_KEY, AUTH

from faceweave.samples import sample_path

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`faceweave serve` in a subprocess on a free loopback port."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "faceweave.cli", "serve", "--port", str(self.port), "--api-key", API_KEY]
        command += ["--data-dir", str(data_dir), "--rate-limit", "0", *extra]
        self.log = (data_dir.parent / f"server-{self.port}.log").open("w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self._ready():
            assert self.process.poll() is None, "server exited during start-up"
            assert time.monotonic() < deadline, "server not ready in 60 s"
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.log.close()


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """6 s at 10 fps, 320×240, a face throughout: long enough to kill the server mid-job."""
    frames, boxes = face_frames((320, 240), 60, 60)
    return write_clip(tmp_path_factory.mktemp("slow") / "long.mp4", frames, fps=Fraction(10), boxes=boxes)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("served") / "data")
    yield running
    running.stop()


def _poll(url: str, job_id: str, until: tuple[str, ...], seconds: float) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        job: dict[str, object] = httpx.get(f"{url}/v1/jobs/{job_id}", headers=AUTH, timeout=5).json()
        if job["state"] in until:
            return job
        assert time.monotonic() < deadline, f"job {job['state']} after {seconds} s"
        time.sleep(0.1)


def test_killed_server_finishes_the_job_after_restart(long_clip: Clip, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Server(data)
    try:
        files = {
            "source": ("h.jpg", sample_path("hopper").read_bytes()),
            "target": ("v.mp4", long_clip.path.read_bytes()),
        }
        job_id = httpx.post(first.url + "/v1/jobs", files=files, headers=AUTH, timeout=30).json()["id"]
        deadline = time.monotonic() + 60
        while _poll(first.url, job_id, ("running", "done"), 60)["progress"] == 0:  # type: ignore[comparison-overlap]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.kill()
    finally:
        first.stop()
    second = Server(data)
    try:
        job = _poll(second.url, job_id, ("done", "failed", "cancelled"), 120)
        assert job["state"] == "done", job
        result = httpx.get(f"{second.url}/v1/jobs/{job_id}/result", headers=AUTH, timeout=30)
        assert result.status_code == 200 and len(result.content) > 10_000
    finally:
        second.stop()


def test_schemathesis_finds_no_server_errors(server: Server) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    for operation in schema.get_all_operations():
        strategy = operation.ok().as_strategy()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=strategy)
        def fuzz(case: object) -> None:
            response = case.call(headers=AUTH, timeout=30)  # type: ignore[attr-defined]
            assert response.status_code < 500 or response.status_code == 503, (case, response.text)  # type: ignore[attr-defined]

        fuzz()


def test_web_ui_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.is_file():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    clip_frames, boxes = face_frames((320, 240), 8, 8)
    clip = write_clip(tmp_path / "ui.mp4", clip_frames, fps=Fraction(8), boxes=boxes)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(server.url + "/")
        page.fill("#apiKey", API_KEY)
        page.dispatch_event("#apiKey", "change")
        page.set_input_files("#source", str(sample_path("hopper")))
        page.set_input_files("#target", str(sample_path("astronaut")))
        page.click("#swapButton")
        page.wait_for_function("document.getElementById('status').textContent.includes('swapped')", timeout=60_000)
        assert "1 face(s) swapped" in page.text_content("#status")  # type: ignore[operator]
        assert page.evaluate("document.getElementById('result').naturalWidth") == 512
        page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
        page.set_input_files("#video", str(clip.path))
        page.click("#jobButton")
        page.wait_for_function("document.getElementById('jobStatus').textContent === 'done'", timeout=120_000)
        assert page.is_visible("#jobVideo")
        assert page.evaluate("localStorage.getItem('faceweave.apiKey')") == API_KEY
        browser.close()
