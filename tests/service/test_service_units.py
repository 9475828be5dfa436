"""Service parts without models: config checks, key store, rate limiter, error mapping, the keys CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from faceweave.cli import main
from faceweave.errors import MediaError, NoFaceError, UsageError
from faceweave.service.config import ServiceConfig, is_loopback
from faceweave.service.errors import ServiceError, status_for
from faceweave.service.gate import route_name
from faceweave.service.jobs import JobStore
from faceweave.service.keys import KeyStore, run_key_id
from faceweave.service.security import Authenticator, RateLimiter, presented_key


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),  # IPv4 loopback
        ("127.8.9.10", True),  # all of 127/8
        ("::1", True),  # IPv6 loopback
        ("localhost", True),  # the name
        ("0.0.0.0", False),  # every interface
        ("192.168.1.5", False),  # a LAN address
        ("example.org", False),  # a name that is not localhost
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_no_auth_only_on_localhost(tmp_path: Path) -> None:
    assert ServiceConfig(data_dir=tmp_path, no_auth=True).no_auth
    with pytest.raises(UsageError, match="only allowed on localhost"):
        ServiceConfig(data_dir=tmp_path, host="0.0.0.0", no_auth=True)
    with pytest.raises(UsageError, match="at least 16"):
        ServiceConfig(data_dir=tmp_path, api_keys=("short",))


def test_keys_are_stored_hashed_and_revocable(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite", run_keys=("run-key-0123456789abcdef",))
    record, secret = store.create("ci")
    assert secret.encode() not in (tmp_path / "keys.sqlite").read_bytes()
    auth = Authenticator(store)
    assert auth.key_id({"authorization": f"Bearer {secret}"}) == record.id
    assert auth.key_id({"x-api-key": "run-key-0123456789abcdef"}) == run_key_id("run-key-0123456789abcdef")
    store.revoke(record.id)
    with pytest.raises(ServiceError) as refused:
        auth.key_id({"x-api-key": secret})
    assert refused.value.status == 403
    assert [key.active for key in store.list_keys()] == [False]
    with pytest.raises(UsageError, match="no API key"):
        store.revoke("nope")


def test_presented_key_prefers_bearer() -> None:
    assert presented_key({"authorization": "Bearer a", "x-api-key": "b"}) == "a"
    assert presented_key({"x-api-key": " b "}) == "b"
    assert presented_key({"authorization": "Bearer "}) is None


def test_rate_limiter_refills() -> None:
    limiter = RateLimiter(60)  # one token a second, bursts of 60
    for _ in range(60):
        limiter.take("k", now=100.0)
    with pytest.raises(ServiceError) as limited:
        limiter.take("k", now=100.0)
    assert limited.value.status == 429 and limited.value.headers["Retry-After"] == "1"
    limiter.take("k", now=101.5)
    limiter.take("other", now=100.0)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NoFaceError("target", "t.png"), 422),  # no face: the request cannot be served as sent
        (MediaError("t.jpg", "not a supported image (content is not JPEG)"), 415),  # wrong content type
        (MediaError("t.jpg", "truncated or corrupt image"), 422),  # right type, broken content
        (UsageError("blend must be between 0 and 1"), 400),  # a bad option
    ],
)
def test_library_errors_map_to_statuses(error: Exception, status: int) -> None:
    assert status_for(error) == status  # type: ignore[arg-type]


def test_keys_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "--data-dir", str(tmp_path), "create", "--name", "ci"]) == 0
    created = capsys.readouterr().out
    key_id = created.split()[1]
    assert "key fw_" in created
    assert main(["keys", "--data-dir", str(tmp_path), "revoke", key_id]) == 0
    assert main(["keys", "--data-dir", str(tmp_path), "list"]) == 0
    assert "revoked" in capsys.readouterr().out.splitlines()[-1]


def test_keys_take_the_data_dir_after_the_action_or_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keys create --data-dir D` was refused ("unrecognized arguments"); containers set FACEWEAVE_DATA_DIR once."""
    assert main(["keys", "create", "--data-dir", str(tmp_path / "a"), "--name", "one"]) == 0
    assert (tmp_path / "a" / "keys.sqlite").is_file()
    monkeypatch.setenv("FACEWEAVE_DATA_DIR", str(tmp_path / "b"))
    assert main(["keys", "create", "--name", "two"]) == 0
    assert (tmp_path / "b" / "keys.sqlite").is_file()
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert "two" in listed and "one" not in listed
    from faceweave.service.config import ServiceConfig

    assert ServiceConfig().data_dir == tmp_path / "b"


def test_serve_refuses_no_auth_off_localhost(tmp_path: Path) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--no-auth", "--data-dir", str(tmp_path)]) == 2


def test_route_names_are_templates() -> None:
    assert route_name("/v1/jobs/abc") == "/v1/jobs/{id}"
    assert route_name("/v1/jobs/abc/result") == "/v1/jobs/{id}/result"
    assert route_name("/v1/jobs/abc/whatever") == "other"
    assert route_name("/v1/swap") == "/v1/swap" and route_name("/v1/swap/x") == "other"


def test_the_service_data_is_private_to_its_user(tmp_path: Path) -> None:  # issue 19, item 12
    from faceweave.service.jobs import JobStore
    from faceweave.service.sqlite import write_private

    root = tmp_path / "data"
    store = JobStore(root)
    keys = KeyStore(root / "keys.sqlite")
    keys.create("ci")
    folder = store.folder("a" * 32)
    write_private(folder / "upload.img", b"a face")
    modes = {path.name: path.stat().st_mode & 0o777 for path in (root, root / "jobs", folder)}
    assert modes == {"data": 0o700, "jobs": 0o700, folder.name: 0o700}
    for path in (root / "jobs.sqlite", keys.path, folder / "upload.img"):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_a_job_that_keeps_killing_the_service_fails_instead_of_looping(tmp_path: Path) -> None:  # issue 19, item 9
    from faceweave.service.jobs import MAX_ATTEMPTS, JobStore

    store = JobStore(tmp_path)
    crasher = store.create("video", options={}, inputs={"target": ["target.video"]}).id
    other = store.create("video", options={}, inputs={"target": ["target.video"]}).id
    for restart in range(1, MAX_ATTEMPTS + 1):
        assert store.start(crasher) is not None  # a worker takes it; the process dies (nothing finishes it)
        requeued = store.requeue_running()  # the next start of the service
        if restart < MAX_ATTEMPTS:
            assert requeued == [crasher]
    assert requeued == []
    failed = store.get(crasher)
    assert failed is not None and failed.state == "failed" and failed.attempts == MAX_ATTEMPTS
    assert failed.error is not None and "not retried" in failed.error
    assert store.queued() == [other]  # the rest of the queue goes on


def test_partial_results_are_removed_when_a_job_fails_and_at_start(tmp_path: Path) -> None:  # issue 19, item 3
    from faceweave.service.jobs import JobStore
    from faceweave.service.runner import JobRunner
    from faceweave.settings import Settings

    class Failing:  # a worker engine whose second swap fails (bad media, a bug): the job fails half-way
        def __init__(self) -> None:
            self.calls = 0

        def swap(self, request: object) -> object:
            self.calls += 1
            if self.calls > 1:
                raise MediaError("target_1.img", "cannot decode", "send another file")
            return type("Output", (), {"data": b"an image"})()

    store = JobStore(tmp_path)
    job_id = _images_job(store, ["a.img", "b.img"])
    runner = JobRunner(store, Settings(), 10_000_000)
    assert runner(job_id, Failing()) == "failed"  # type: ignore[arg-type]
    assert not list(store.folder(job_id).glob(".*.part"))

    left = store.folder(job_id) / ".result.mp4.k3x9f2.part"  # what a process killed mid-video leaves
    left.write_bytes(b"half a video")
    kept = store.folder(job_id) / "result.zip"
    kept.write_bytes(b"a finished result")
    assert store.sweep_partial_files() == 1
    assert not left.exists() and kept.exists()


def test_each_key_given_to_serve_is_its_own_identity(tmp_path: Path) -> None:  # issue 19, item 11
    first, second = "first-key-0123456789abcdef", "second-key-0123456789abcdef"
    auth = Authenticator(KeyStore(tmp_path / "keys.sqlite", run_keys=(first, second)))
    ids = auth.key_id({"x-api-key": first}), auth.key_id({"x-api-key": second})
    assert ids[0] != ids[1]  # their jobs and rate limits are apart (they were one identity, "run")
    again = Authenticator(KeyStore(tmp_path / "keys.sqlite", run_keys=(second, first)))
    assert again.key_id({"x-api-key": first}) == ids[0]  # the same after a restart: its jobs stay its own
    assert first[:8] not in ids[0]


def test_serve_takes_keys_from_a_file_and_the_environment(tmp_path: Path) -> None:
    from faceweave.service.commands import run_keys

    file = tmp_path / "keys.txt"
    file.write_text("# the CI key\nfile-key-0123456789abcdef\n\n  other-key-0123456789abcdef  \n", encoding="utf-8")
    keys = run_keys(["flag-key-0123456789abcdef"], file, "env-key-0123456789abcdef, file-key-0123456789abcdef")
    assert keys == (
        "flag-key-0123456789abcdef",
        "file-key-0123456789abcdef",
        "other-key-0123456789abcdef",
        "env-key-0123456789abcdef",
    )
    with pytest.raises(UsageError, match="cannot read --api-key-file"):
        run_keys([], tmp_path / "missing.txt", "")


def test_a_job_error_names_files_not_server_paths(tmp_path: Path) -> None:  # issue 19, item 14
    from faceweave.service.jobs import JobStore
    from faceweave.service.runner import JobRunner
    from faceweave.settings import Settings

    store = JobStore(tmp_path / "data")
    job_id = _images_job(store, ["a.img"])
    inputs = store.folder(job_id) / "inputs"

    class Refusing:
        def swap(self, request: object) -> object:
            raise MediaError(str(inputs / "a.img"), "cannot decode", f"check {store.root / 'jobs.sqlite'}")

    assert JobRunner(store, Settings(), 10_000_000)(job_id, Refusing()) == "failed"  # type: ignore[arg-type]
    failed = store.get(job_id)
    assert failed is not None and failed.error is not None
    assert "a.img" in failed.error and str(tmp_path) not in failed.error


def test_a_full_queue_is_refused_before_the_upload_is_read() -> None:  # issue 19, item 8
    import asyncio

    from faceweave.service.gate import Gate
    from faceweave.service.observe import Metrics

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("the route ran")

    async def receive() -> dict[str, object]:
        raise AssertionError("the body was read")

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    metrics = Metrics(lambda: 0, lambda: 0, dict)
    gate = Gate(app, Authenticator(None), RateLimiter(0), lambda path: 10**6, metrics, lambda: True, 9)
    scope = {"type": "http", "method": "POST", "path": "/v1/jobs", "headers": [(b"content-length", b"999")]}
    asyncio.run(gate(scope, receive, send))  # type: ignore[arg-type]
    start = sent[0]
    assert start["status"] == 503 and (b"retry-after", b"9") in start["headers"]  # type: ignore[operator]


def test_stored_results_are_capped_oldest_first(tmp_path: Path) -> None:  # issue 19, item 10
    import time

    from faceweave.service.jobs import JobStore

    store = JobStore(tmp_path)
    jobs = []
    for index, key in enumerate(["a", "a", "b", "a"]):
        job = store.create("images", options={}, inputs={"target": ["t.img"]})
        with store._connect() as db:  # finished, one second apart, owned by key `key`
            db.execute(
                "UPDATE jobs SET state = 'done', key_id = ?, updated = ? WHERE id = ?",
                (key, time.time() + index, job.id),
            )
        (store.folder(job.id) / "result.zip").write_bytes(bytes(1000))
        jobs.append(job.id)
    assert store.over_cap(10_000, 10_000) == []
    assert store.over_cap(2_500, 10_000) == jobs[:2]  # the two oldest go, whoever owns them
    assert store.over_cap(10_000, 2_000) == jobs[:1]  # key a has 3000: its oldest goes, key b is left alone


def test_serve_on_a_busy_port_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:  # issue 20: it printed the URL, then exited 3 with the reason in a JSON log
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--no-auth", "--port", str(port), "--data-dir", str(tmp_path)])
    err = capsys.readouterr()
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err.err and "http://" not in err.out + err.err


def _images_job(store: JobStore, targets: list[str]) -> str:
    """A queued images job in `store` with Grace Hopper as its source and as each of its `targets`; its id."""
    import shutil

    from faceweave.samples import sample_path

    job = store.create("images", options={}, inputs={"source": ["source_0.img"], "target": targets})
    inputs = store.folder(job.id) / "inputs"
    inputs.mkdir()
    for name in ("source_0.img", *targets):
        shutil.copyfile(sample_path("hopper"), inputs / name)
    return job.id
