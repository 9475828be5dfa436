"""Jobs (video and image batches) end to end, cancel, restart re-queue, queue full, rate limits, consent, janitor."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from clip_factory import Clip, decode_all
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import API_KEY, AUTH, swap_files, wait_job, wait_ready

from faceweave.media.video_io import probe_video
from faceweave.provenance.inspect import read_video_label
from faceweave.samples import sample_path
from faceweave.service.jobs import JobStore
from faceweave.service.keys import KeyStore, run_key_id
from faceweave.service.runner import VIDEO_RESULT

SWAP_CHANGE = 6.0  # mean absolute change inside the face box of a swapped frame (outside it: ~3)


def _video_files(clip: Clip) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("source", ("hopper.jpg", sample_path("hopper").read_bytes(), "image/jpeg")),
        ("target", ("clip.mp4", clip.path.read_bytes(), "video/mp4")),
    ]


def test_video_job_lifecycle(make_app: Callable[..., FastAPI], face_clip: Clip, tmp_path: Path) -> None:
    with TestClient(make_app(warm_up=False)) as client:
        response = client.post("/v1/jobs", files=_video_files(face_clip), data={"consent": "on file"}, headers=AUTH)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert response.headers["location"] == f"/v1/jobs/{job_id}"
        job = wait_job(client, job_id)
        assert job["state"] == "done" and job["progress"] == 1 and job["consent"] == "on file", job
        result = client.get(f"/v1/jobs/{job_id}/result", headers=AUTH)
        assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
        output = tmp_path / "out.mp4"
        output.write_bytes(result.content)
        frames, _, _ = decode_all(output)
        assert len(frames) == len(face_clip.frames) and probe_video(output).width == 320
        x1, y1, x2, y2 = face_clip.face_boxes[0] or (0, 0, 1, 1)
        changed = abs(frames[0][y1:y2, x1:x2].astype(int) - face_clip.frames[0][y1:y2, x1:x2].astype(int)).mean()
        assert changed > SWAP_CHANGE
        stored = JobStore(client.app.state.service.config.data_dir).get(job_id)  # type: ignore[attr-defined]
        assert stored is not None and stored.key_id == run_key_id(API_KEY) and stored.consent == "on file"
        assert client.delete(f"/v1/jobs/{job_id}", headers=AUTH).json()["state"] == "deleted"
        assert client.get(f"/v1/jobs/{job_id}", headers=AUTH).status_code == 404


def test_image_batch_job_gives_a_zip(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(warm_up=False)) as client:
        target = sample_path("astronaut").read_bytes()
        files = [*swap_files(target), ("target", ("second.png", target, "image/png"))]
        job_id = client.post("/v1/jobs", files=files, headers=AUTH).json()["id"]
        assert wait_job(client, job_id)["state"] == "done"
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/jobs/{job_id}/result", headers=AUTH).content))
        assert archive.namelist() == ["0000.png", "0001.png"]


def test_cancel_a_queued_job_and_ids_are_private(make_app: Callable[..., FastAPI], face_clip: Clip) -> None:
    with TestClient(make_app(warm_up=False)) as client:
        service = client.app.state.service  # type: ignore[attr-defined]
        release = threading.Event()
        service.pool.submit(lambda engine: release.wait(30))  # the only worker is busy
        job_id = client.post("/v1/jobs", files=_video_files(face_clip), headers=AUTH).json()["id"]
        _, other = KeyStore(service.config.keys_path).create("someone else")
        assert client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": other}).status_code == 404
        assert client.delete(f"/v1/jobs/{job_id}", headers=AUTH).json()["state"] == "cancelled"
        release.set()
        assert wait_job(client, job_id)["state"] == "cancelled"
        assert not any(service.store.folder(job_id).iterdir())  # files cleaned up
        assert client.get(f"/v1/jobs/{job_id}/result", headers=AUTH).status_code == 409


@pytest.mark.parametrize("job_id", ["../../etc/passwd", "x", "%2e%2e%2fkeys.sqlite", "a" * 65])
def test_job_ids_never_reach_paths(make_app: Callable[..., FastAPI], job_id: str) -> None:
    with TestClient(make_app(warm_up=False)) as client:
        assert client.get(f"/v1/jobs/{job_id}/result", headers=AUTH).status_code == 404


def test_restart_requeues_a_running_job(make_app: Callable[..., FastAPI], face_clip: Clip, tmp_path: Path) -> None:
    store = JobStore(tmp_path / "data")
    job_id = "restarted-job-0123456789"
    inputs = store.folder(job_id) / "inputs"
    inputs.mkdir()
    (inputs / "source_0.img").write_bytes(sample_path("hopper").read_bytes())
    (inputs / "target.video").write_bytes(face_clip.path.read_bytes())
    store.create("video", options={}, inputs={"source": ["source_0.img"], "target": ["target.video"]}, job_id=job_id)
    assert store.start(job_id) is not None  # a previous process was running it when it died
    with TestClient(make_app(warm_up=False)) as client:
        job = wait_job(client, job_id)
        assert job["state"] == "done"
    restored = store.get(job_id)
    assert restored is not None and restored.attempts == 2
    label = read_video_label(store.folder(job_id) / VIDEO_RESULT)
    assert label is not None and label.job_id == job_id  # the video traces back to its job


def test_queue_full_is_503_with_retry_after(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(warm_up=False, queue_size=1, retry_after_s=7)) as client:
        pool = client.app.state.service.pool  # type: ignore[attr-defined]
        release = threading.Event()
        pool.submit(lambda engine: release.wait(30))  # running
        deadline = time.monotonic() + 5
        while pool.busy == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        pool.submit(lambda engine: None)  # waiting: the queue (size 1) is full
        try:
            response = client.post("/v1/swap", files=swap_files(), headers=AUTH)
            assert response.status_code == 503 and response.headers["retry-after"] == "7"
            assert client.post("/v1/jobs", files=swap_files(), headers=AUTH).status_code == 503
        finally:
            release.set()
        assert "faceweave_rejected_total" in client.get("/metrics").text


def test_rate_limit_is_429_per_key(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(warm_up=False, rate_limit=2)) as client:
        statuses = [client.post("/v1/swap", headers=AUTH).status_code for _ in range(3)]
        assert statuses[:2] == [422, 422] and statuses[2] == 429  # 422: no files sent
        response = client.post("/v1/swap", headers=AUTH)
        assert int(response.headers["retry-after"]) >= 1
        _, other = KeyStore(client.app.state.service.config.keys_path).create("other")  # type: ignore[attr-defined]
        assert client.post("/v1/swap", headers={"X-API-Key": other}).status_code == 422  # its own bucket


def test_consent_required_mode(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(warm_up=False, require_consent=True)) as client:
        response = client.post("/v1/swap", files=swap_files(), headers=AUTH)
        assert response.status_code == 400 and "consent" in response.json()["detail"]
        assert client.post("/v1/jobs", files=swap_files(), data={"consent": "  "}, headers=AUTH).status_code == 400


def test_janitor_deletes_expired_results(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(warm_up=False, result_ttl_s=60)) as client:
        service = client.app.state.service  # type: ignore[attr-defined]
        job = service.store.create("images", options={}, inputs={"source": [], "target": []})
        (service.store.folder(job.id) / "result.zip").write_bytes(b"PK")
        service.store.finish(job.id, "done", result="result.zip")
        assert service.sweep(now=time.time() + 30) == 0
        assert service.sweep(now=time.time() + 120) == 1
        assert service.store.get(job.id) is None


def test_warm_engine_reuses_source_identity(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app()) as client:
        wait_ready(client)
        for _ in range(2):
            assert client.post("/v1/swap", files=swap_files(), headers=AUTH).status_code == 200
        pool = client.app.state.service.pool  # type: ignore[attr-defined]
        assert pool.submit(lambda engine: engine.cached).result(10) == (1, 1)  # one pipeline, one identity


@pytest.mark.parametrize(
    ("limit", "words"),
    [
        ({"max_video_frame_pixels": 100 * 100}, "over the limit of 10000 pixels"),
        ({"max_video_seconds": 0.2}, "over the limit of 0.2 s"),
        ({"max_video_frames": 3}, "over the limit of 3"),
        ({"max_video_total_pixels": 3 * 320 * 240}, "over the limit of 230400 pixels"),
    ],
)
def test_a_video_job_over_a_limit_is_refused_before_decoding(
    make_app: Callable[..., FastAPI], face_clip: Clip, limit: dict[str, float], words: str
) -> None:  # issue 19, item 5: a small file could ask for gigabytes of frames or hours of work
    with TestClient(make_app(warm_up=False, **limit)) as client:
        response = client.post("/v1/jobs", files=_video_files(face_clip), headers=AUTH)
        assert response.status_code == 413 and words in response.json()["detail"]
        assert client.get("/metrics").text.count('faceweave_jobs{state="queued"} 0.0') == 1


def test_an_image_upload_is_read_no_further_than_the_image_limit(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:  # issue 19, item 8: a target used to be read up to the video limit before the image limit applied
    from starlette.datastructures import UploadFile

    read = [0]
    original = UploadFile.read

    async def counted(self: UploadFile, size: int = -1) -> bytes:
        data = await original(self, size)
        read[0] += len(data)
        return data

    monkeypatch.setattr(UploadFile, "read", counted)
    big = b"\xff\xd8\xff" + bytes(6 * 1024 * 1024)  # a "JPEG" of 6 MB
    with TestClient(make_app(warm_up=False, max_upload_bytes=1024 * 1024)) as client:
        files = [
            ("source", ("hopper.jpg", sample_path("hopper").read_bytes(), "image/jpeg")),
            ("target", ("big.jpg", big, "image/jpeg")),
        ]
        read[0] = 0
        response = client.post("/v1/jobs", files=files, headers=AUTH)
    assert response.status_code == 413
    assert read[0] <= sample_path("hopper").stat().st_size + 1024 * 1024 + 2 * 1024 * 1024
