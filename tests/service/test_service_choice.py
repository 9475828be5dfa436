"""Faces a user can see and pick: /v1/analyse, `faces` and `face_sources` on /v1/swap and jobs, video trim, /v1/info."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from clip_factory import Clip, decode_all
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from service_helpers import AUTH, Files, two_people, wait_job

from faceweave.errors import UsageError
from faceweave.media.image_io import decode_image
from faceweave.samples import sample_path
from faceweave.service.choice import FaceChoice

CHANGED = 10.0  # mean absolute difference inside a swapped face
KEPT = 3.0  # ... and inside a face left alone (the invisible watermark touches every pixel a little)

GROUP, BOXES = two_people()


def _files(*sources: str, target: bytes = GROUP) -> Files:
    photos = [("source", (f"{name}.jpg", sample_path(name).read_bytes(), "image/jpeg")) for name in sources]
    return [*photos, ("target", ("group.png", target, "image/png"))]


def _changes(data: bytes) -> list[float]:
    """Mean absolute change inside each face of GROUP (face 0, face 1)."""
    before = decode_image(GROUP, "before").image.astype(np.int16)
    after = decode_image(data, "after").image.astype(np.int16)
    return [float(np.abs(after[y1:y2, x1:x2] - before[y1:y2, x1:x2]).mean()) for x1, y1, x2, y2 in BOXES]


def _jpeg(uri: str) -> npt.NDArray[np.uint8]:
    prefix = "data:image/jpeg;base64,"
    assert uri.startswith(prefix)
    return decode_image(base64.b64decode(uri[len(prefix) :]), "thumbnail").image


def test_analyse_lists_faces_left_to_right_with_thumbnails(client: TestClient) -> None:
    response = client.post("/v1/analyse", files=[("target", ("group.png", GROUP, "image/png"))], headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"], body["order"]) == (768, 512, "left-right")
    faces = body["faces"]
    assert [face["index"] for face in faces] == [0, 1]
    for face, (x1, y1, x2, y2) in zip(faces, BOXES, strict=True):
        cx, cy = (face["box"][0] + face["box"][2]) / 2, (face["box"][1] + face["box"][3]) / 2
        assert x1 < cx < x2 and y1 < cy < y2  # face i is where we put person i
        assert face["score"] > 0.5 and face["size"] > 50 and set(face["pose"]) == {"yaw", "pitch", "roll"}
        assert max(_jpeg(face["thumbnail"]).shape[:2]) == 96


def test_analyse_of_a_face_free_image_lists_none(client: TestClient) -> None:
    image = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 120, 120)).save(image, "PNG")
    files = [("target", ("blank.png", image.getvalue(), "image/png"))]
    response = client.post("/v1/analyse", files=files, headers=AUTH)
    assert response.status_code == 200 and response.json()["faces"] == []


@pytest.mark.parametrize("chosen", [0, 1])  # the astronaut on the left; Grace Hopper on the right
def test_swap_only_the_chosen_face(client: TestClient, chosen: int) -> None:
    response = client.post("/v1/swap", files=_files("hopper"), data={"faces": str(chosen)}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert (response.headers["x-faces"], response.headers["x-faces-swapped"]) == ("2", "1")
    changes = _changes(response.content)
    assert changes[chosen] > CHANGED if chosen == 0 else changes[chosen] > KEPT  # Hopper onto Hopper: a small change
    assert changes[1 - chosen] < KEPT, changes


def test_two_sources_onto_two_faces(client: TestClient) -> None:
    data = {"faces": "0,1", "face_sources": "0,1"}  # Hopper onto the astronaut, the astronaut onto Hopper
    crossed = client.post("/v1/swap", files=_files("hopper", "astronaut"), data=data, headers=AUTH)
    assert crossed.status_code == 200, crossed.text
    assert crossed.headers["x-faces-swapped"] == "2"
    one_person = client.post("/v1/swap", files=_files("hopper"), data={"faces": "0,1"}, headers=AUTH)
    assert one_person.headers["x-faces-swapped"] == "2"
    crossed_changes, hopper_changes = _changes(crossed.content), _changes(one_person.content)
    assert min(crossed_changes) > CHANGED, crossed_changes
    assert crossed_changes[1] > hopper_changes[1] + 3  # face 1 became the astronaut, not Hopper again


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"faces": "first"}, "comma-separated"),  # not numbers
        ({"faces": "0,0"}, "different faces"),  # the same face twice
        ({"face_sources": "0"}, "needs `faces`"),  # a mapping with no faces
        ({"faces": "0,1", "face_sources": "0"}, "one source per chosen face"),  # too few
        ({"faces": "0", "face_sources": "1"}, "1 source photo"),  # only one source sent
        ({"faces": "2"}, "shows 2 face(s)"),  # the group has faces 0 and 1 only
        ({"start": "1"}, "/v1/jobs"),  # trimming is for videos
    ],
)
def test_bad_picks_say_what_is_wrong(client: TestClient, data: dict[str, str], words: str) -> None:
    response = client.post("/v1/swap", files=_files("hopper"), data=data, headers=AUTH)
    assert response.status_code == 400, response.text
    assert words in response.json()["detail"]


def test_analyse_needs_a_key_and_info_does_not(client: TestClient) -> None:
    assert client.post("/v1/analyse", files=[("target", ("g.png", GROUP, "image/png"))]).status_code == 401
    info = client.get("/v1/info")
    assert info.status_code == 200
    body = info.json()
    assert body["auth"] is True and body["consent_required"] is False and body["max_sources"] == 8
    assert body["defaults"]["face_shape"] == 0.6 and "max_image_pixels" not in body["defaults"]
    assert client.post("/v1/info").status_code == 401  # only GET is public


def test_info_without_auth_and_with_consent(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(api_keys=(), no_auth=True, require_consent=True, warm_up=False)) as local:
        body = local.get("/v1/info").json()
        assert body["auth"] is False and body["consent_required"] is True


def test_ui_and_favicon_are_served(client: TestClient) -> None:
    page = client.get("/").text
    for needed in ("/v1/analyse", "/v1/info", "aria-live", 'rel="icon"', "prefers-color-scheme"):
        assert needed in page
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.parametrize("frame", [False, True])  # the frame at `start` / the picture the browser showed
def test_video_job_with_trim_and_a_pick(
    make_app: Callable[..., FastAPI], face_clip: Clip, tmp_path: Path, frame: bool
) -> None:
    files = [
        ("source", ("hopper.jpg", sample_path("hopper").read_bytes(), "image/jpeg")),
        ("target", ("clip.mp4", face_clip.path.read_bytes(), "video/mp4")),
    ]
    if frame:
        _, encoded = cv2.imencode(".jpg", face_clip.frames[1])
        files.append(("faces_from", ("frame.jpg", encoded.tobytes(), "image/jpeg")))
    data = {"start": "0.125", "end": "0.5", "faces": "0"}  # frames 1, 2 and 3 of 8 (8 fps); face 0 of frame 1
    with TestClient(make_app(warm_up=False)) as client:
        response = client.post("/v1/jobs", files=files, data=data, headers=AUTH)
        assert response.status_code == 202, response.text
        job = wait_job(client, response.json()["id"])
        assert job["state"] == "done", job
        output = tmp_path / "out.mp4"
        output.write_bytes(client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH).content)
        frames, _, _ = decode_all(output)
        assert len(frames) == 3
        x1, y1, x2, y2 = face_clip.face_boxes[1] or (0, 0, 1, 1)
        original = face_clip.frames[1][y1:y2, x1:x2].astype(int)
        assert np.abs(frames[0][y1:y2, x1:x2].astype(int) - original).mean() > 6.0  # the picked face, swapped


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        ({"start": "5"}, 400, "past the end"),  # the clip is 1 s long
        ({"start": "0.5", "end": "0.25"}, 400, "must be after"),  # out of order
        ({"start": "-1"}, 422, "start"),  # negative: refused by the schema
    ],
)
def test_bad_trims(
    make_app: Callable[..., FastAPI], face_clip: Clip, data: dict[str, str], status: int, words: str
) -> None:
    files = [
        ("source", ("hopper.jpg", sample_path("hopper").read_bytes(), "image/jpeg")),
        ("target", ("clip.mp4", face_clip.path.read_bytes(), "video/mp4")),
    ]
    with TestClient(make_app(warm_up=False)) as client:
        response = client.post("/v1/jobs", files=files, data=data, headers=AUTH)
        assert response.status_code == status, response.text
        assert words in response.json()["detail"]
        assert not any((client.app.state.service.config.data_dir / "jobs").iterdir())  # type: ignore[attr-defined]


def test_image_job_follows_the_picked_face_from_another_picture(make_app: Callable[..., FastAPI]) -> None:
    """faces_from: the numbers refer to that picture; the job swaps that person wherever they appear."""
    hopper_alone = sample_path("hopper").read_bytes()
    files = [
        *_files("hopper"),
        ("faces_from", ("hopper.jpg", hopper_alone, "image/jpeg")),  # face 0 there: Grace Hopper
    ]
    source = [("source", ("astronaut.png", sample_path("astronaut").read_bytes(), "image/png"))]
    files = source + [part for part in files if part[0] != "source"]
    with TestClient(make_app(warm_up=False)) as client:
        response = client.post("/v1/jobs", files=files, data={"faces": "0"}, headers=AUTH)
        assert response.status_code == 202, response.text
        job = wait_job(client, response.json()["id"])
        assert job["state"] == "done", job
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH).content))
        changes = _changes(archive.read("0000.png"))
        assert changes[1] > CHANGED and changes[0] < KEPT, changes  # Hopper (face 1 of the group) only


@pytest.mark.parametrize(
    ("faces", "sources", "expected"),
    [
        ("1", None, FaceChoice((1,))),  # one face, the one person
        (" 2, 0 ", "1,0", FaceChoice((2, 0), (1, 0))),  # spaces allowed, order kept
        (None, None, None),  # no pick: the selector decides
        ("", "", None),  # empty fields as a browser's form sends them
    ],
)
def test_face_choice_parse(faces: str | None, sources: str | None, expected: FaceChoice | None) -> None:
    assert FaceChoice.parse(faces, sources, 2) == expected
    if expected is not None:
        assert FaceChoice.from_json(expected.to_json()) == expected


def test_face_choice_refuses_too_many() -> None:
    with pytest.raises(UsageError, match="up to 32"):
        FaceChoice.parse(",".join(map(str, range(33))), None, 1)
