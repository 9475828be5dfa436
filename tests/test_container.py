"""The container files: compose and Kubernetes manifests parse and probe the right routes (fast); the CPU image
builds, swaps two photos and serves an authenticated POST /v1/swap (slow, needs docker or podman)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faceweave.media.image_io import read_image
from faceweave.samples import sample_path

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
IMAGE_ENV = "FACEWEAVE_TEST_IMAGE"  # an image already built from Dockerfile: used as is instead of building one
API_KEY = "container-test-key-0123456789"


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    yaml = pytest.importorskip("yaml")  # comes with the dev extra (through ray); nothing is added for this test
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


def _k8s_objects() -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.rglob("*.yaml")):
        for document in _yaml_documents(path):
            objects[f"{path.relative_to(K8S)}:{document['kind']}"] = document
    return objects


def test_compose_runs_the_service_with_a_volume_a_secret_and_a_healthcheck() -> None:
    (compose,) = _yaml_documents(ROOT / "compose.yaml")
    service = compose["services"]["faceweave"]
    assert service["ports"] == ["8000:8000"]
    assert "faceweave-data:/data" in service["volumes"] and "faceweave-data" in compose["volumes"]
    assert "--api-key-file=/run/secrets/faceweave_api_keys" in service["command"]
    assert service["secrets"] == ["faceweave_api_keys"] and "faceweave_api_keys" in compose["secrets"]
    assert "127.0.0.1:8000/healthz" in " ".join(service["healthcheck"]["test"])


def test_kubernetes_probes_point_at_readyz_and_healthz() -> None:
    objects = _k8s_objects()
    assert {"base/secret.yaml:Secret", "base/pvc.yaml:PersistentVolumeClaim", "base/service.yaml:Service"} <= set(
        objects
    )
    (container,) = objects["base/deployment.yaml:Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"requests", "limits"} <= set(container["resources"])
    assert "--api-key-file=/etc/faceweave/api-keys" in container["args"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts["data"] == "/data" and mounts["api-keys"] == "/etc/faceweave"


def test_kubernetes_gpu_overlay_asks_for_one_gpu_and_the_cuda_image() -> None:
    objects = _k8s_objects()
    overlay = objects["gpu/kustomization.yaml:Kustomization"]
    assert overlay["resources"] == ["../base"] and overlay["images"] == [{"name": "faceweave", "newTag": "cuda"}]
    (container,) = objects["gpu/deployment-gpu.yaml:Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_kubernetes_kustomizations_list_files_that_exist() -> None:
    for path in K8S.rglob("kustomization.yaml"):
        (kustomization,) = _yaml_documents(path)
        listed = kustomization.get("resources", []) + [patch["path"] for patch in kustomization.get("patches", [])]
        missing = [name for name in listed if not (path.parent / name).exists()]
        assert not missing, f"{path.relative_to(ROOT)} lists {missing}, which do not exist"


# --- slow: a real image -------------------------------------------------------------------------------------------


def _engine() -> str | None:
    """The command that runs containers here (docker with a daemon, else podman), or None."""
    for name in ("docker", "podman"):
        if shutil.which(name) and subprocess.run([name, "info"], capture_output=True, check=False).returncode == 0:
            return name
    return None


def _run_flags(engine: str) -> list[str]:
    """podman's run flags: PODMAN_FLAGS, else runc and fixed limits, as tools/build_image.sh (some cgroup v1
    hosts fail with crun and with podman's default limits)."""
    if engine != "podman":
        return []
    if "PODMAN_FLAGS" in os.environ:
        return os.environ["PODMAN_FLAGS"].split()
    flags = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    return (["--runtime", "runc"] if shutil.which("runc") else []) + flags


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[str, str]]:
    """(docker or podman, image name): FACEWEAVE_TEST_IMAGE, or faceweave:test built by tools/build_image.sh."""
    engine = _engine()
    if engine is None:
        pytest.skip("neither docker (with a daemon) nor podman can run containers here")
    name = os.environ.get(IMAGE_ENV, "")
    if not name:
        name = "faceweave:test"
        build = subprocess.run(
            ["bash", str(ROOT / "tools" / "build_image.sh"), "--engine", engine, "--tag", name],
            capture_output=True,
            text=True,
            check=False,
        )
        assert build.returncode == 0, f"image build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    yield engine, name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_image_is_non_root_with_a_healthcheck(image: tuple[str, str]) -> None:
    engine, name = image
    inspect = [engine, "image", "inspect", name, "--format"]
    user = subprocess.run([*inspect, "{{.Config.User}}"], capture_output=True, text=True, check=True).stdout
    health = subprocess.run([*inspect, "{{json .Config.Healthcheck}}"], capture_output=True, text=True, check=True)
    assert user.strip() == "faceweave"
    assert "/healthz" in health.stdout


@pytest.mark.slow
def test_image_swaps_two_photos(image: tuple[str, str], tmp_path: Path) -> None:
    engine, name = image
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir(mode=0o777)
    outputs.chmod(0o777)  # the image's user (uid 10001) writes here
    shutil.copy(sample_path("hopper"), inputs / "source.jpg")
    shutil.copy(ROOT / "faceweave" / "data" / "astronaut.jpg", inputs / "target.jpg")
    command = [engine, "run", "--rm", *_run_flags(engine), "--read-only", "--tmpfs", "/tmp"]
    command += ["-v", f"{inputs}:/in:ro", "-v", f"{outputs}:/out", name]
    command += ["faceweave", "swap", "-s", "/in/source.jpg", "-t", "/in/target.jpg", "-o", "/out/swap.jpg"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    result, target = read_image(outputs / "swap.jpg").image, read_image(inputs / "target.jpg").image
    assert result.shape == target.shape
    # the face changed: over 0.5 % of the pixels by more than 40 levels (re-encoding and the watermark stay under 20)
    changed = (abs(result.astype(int) - target.astype(int)).max(axis=2) > 40).mean()
    assert changed > 0.005, f"only {changed:.2%} of the pixels changed"


@pytest.fixture
def server(image: tuple[str, str]) -> Iterator[str]:
    """`faceweave serve` (the image's default command) with an API key, read-only root; yields its URL."""
    httpx = pytest.importorskip("httpx")
    engine, name = image
    port = _free_port()
    container = f"faceweave-test-{os.getpid()}-{port}"
    command = [engine, "run", "--detach", "--name", container, *_run_flags(engine), "--read-only"]
    command += ["--tmpfs", "/tmp", "-p", f"127.0.0.1:{port}:8000", "-e", f"FACEWEAVE_API_KEYS={API_KEY}", name]
    subprocess.run(command, capture_output=True, text=True, check=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            logs = subprocess.run([engine, "logs", container], capture_output=True, text=True, check=False)
            assert time.monotonic() < deadline, f"not ready in 180 s:\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}"
            time.sleep(1)
        yield url
    finally:
        subprocess.run([engine, "rm", "--force", "--volumes", container], capture_output=True, check=False)


@pytest.mark.slow
def test_image_serves_an_authenticated_swap(server: str) -> None:
    import httpx

    assert httpx.get(server + "/healthz", timeout=5).json() == {"status": "ok"}
    files = {
        "source": ("source.jpg", sample_path("hopper").read_bytes(), "image/jpeg"),
        "target": ("target.jpg", (ROOT / "faceweave" / "data" / "astronaut.jpg").read_bytes(), "image/jpeg"),
    }
    assert httpx.post(server + "/v1/swap", files=files, timeout=60).status_code == 401
    answer = httpx.post(server + "/v1/swap", files=files, headers={"X-API-Key": API_KEY}, timeout=120)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"] == "image/jpeg" and answer.headers["x-faces-swapped"] == "1"
    assert answer.content[:3] == b"\xff\xd8\xff"
