"""The quality evaluation's cases: yaw buckets, small-face rescale, occluders, the JSON summary and `--cases`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import faceweave.lab.evaluate as evaluate_module
from faceweave.cli import main
from faceweave.engine import Engine
from faceweave.faces import Face, Faces
from faceweave.lab.eval_cases import (
    GOAL_LANDMARK_ERROR,
    CaseOptions,
    CaseResult,
    bucket_labels,
    measure_scale,
    summarise_cases,
)
from faceweave.lab.eval_occluders import draw_microphone, face_hull, find_hand, occluder_kept
from faceweave.lab.eval_targets import rescale_to_face_width, spread_pick, yaw_bucket, yaw_candidates
from faceweave.lab.evaluate import evaluate
from faceweave.samples import sample_path
from faceweave.settings import Settings

Image = npt.NDArray[np.uint8]


def box_face(x1: float, y1: float, x2: float, y2: float, yaw: float = 0.0) -> Face:
    """A Face with only a box, five points (from the box) and a yaw: enough for the pure helpers."""
    w, h = x2 - x1, y2 - y1
    five = [[x1 + 0.3 * w, y1 + 0.4 * h], [x1 + 0.7 * w, y1 + 0.4 * h], [x1 + 0.5 * w, y1 + 0.6 * h]]
    five += [[x1 + 0.35 * w, y1 + 0.8 * h], [x1 + 0.65 * w, y1 + 0.8 * h]]
    angles = np.linspace(0, 2 * np.pi, 478, endpoint=False)
    mesh = np.stack([x1 + w / 2 + w / 2 * np.cos(angles), y1 + h / 2 + h / 2 * np.sin(angles), 0 * angles], 1)
    return Faces(
        boxes=np.array([[x1, y1, x2, y2]], np.float32),
        scores=np.ones(1, np.float32),
        mesh=mesh[None].astype(np.float32),
        landmarks_5=np.array([five], np.float32),
        pose=np.array([[yaw, 0.0, 0.0]], np.float32),
    )[0]


@pytest.mark.parametrize(
    ("yaw", "bucket"),
    [
        (0.0, "0-15"),  # frontal
        (15.0, "0-15"),  # an edge belongs to the lower bucket
        (15.01, "15-30"),  # just past the edge
        (-22.5, "15-30"),  # turned the other way: the sign is ignored
        (-45.0, "30-45"),
        (59.9, "45-60"),
        (60.0, "45-60"),  # full swap up to 60°: still a held bucket
        (60.5, ">60"),  # fading out on purpose
        (-89.0, ">60"),  # profile
    ],
)
def test_yaw_bucket(yaw: float, bucket: str) -> None:
    assert yaw_bucket(yaw) == bucket


def test_bucket_labels_cover_every_bucket() -> None:
    options = CaseOptions()
    assert bucket_labels("yaw", options) == ("0-15", "15-30", "30-45", "45-60", ">60")
    assert {yaw_bucket(y) for y in range(-90, 91)} == set(bucket_labels("yaw", options))
    assert bucket_labels("small", options) == ("48px", "64px", "96px")
    assert bucket_labels("occluded", options) == ("microphone", "hand")


@pytest.mark.parametrize(
    ("shape_hw", "face_px", "width_px", "expected_hw"),
    [
        ((300, 400), 200, 48, (72, 96)),  # 0.24×
        ((300, 400), 200, 100, (150, 200)),  # half size
        ((1000, 3), 200, 64, (320, 1)),  # a thin image keeps at least one pixel
    ],
)
def test_rescale_to_face_width(
    shape_hw: tuple[int, int], face_px: float, width_px: int, expected_hw: tuple[int, int]
) -> None:
    image = np.zeros((*shape_hw, 3), np.uint8)
    small, factor = rescale_to_face_width(image, box_face(0, 0, face_px, face_px), width_px)
    assert small.shape[:2] == expected_hw
    assert factor * face_px == pytest.approx(width_px, rel=0.02)


def test_rescale_never_enlarges() -> None:
    with pytest.raises(ValueError, match="expected at least 96 px"):
        rescale_to_face_width(np.zeros((100, 100, 3), np.uint8), box_face(0, 0, 50, 50), 96)


def test_rescaled_real_face_is_found_at_that_width(still_engine: Engine, hopper: Image) -> None:
    face = still_engine.analyser.analyse(hopper)[0]
    small, _ = rescale_to_face_width(hopper, face, 64)
    found = still_engine.analyser.analyse(small)
    assert len(found) == 1
    assert float(found.boxes[0, 2] - found.boxes[0, 0]) == pytest.approx(64, rel=0.15)
    assert measure_scale(64) == pytest.approx(2.5)  # measured at 160 px
    assert measure_scale(300) == 1.0  # large faces are measured as they are


@pytest.mark.parametrize(
    ("items", "limit", "expected"),
    [
        ([("a", 1), ("a", 2), ("a", 3), ("b", 9)], 3, [("a", 1), ("a", 3), ("b", 9)]),  # one origin runs out
        ([("a", 1), ("a", 2), ("a", 3)], 1, [("a", 2)]),  # one pick: the middle
        ([("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)], 2, [("a", 1), ("e", 5)]),  # origins spread too
        ([("a", 1)], 5, [("a", 1)]),  # fewer than the limit: all of them
        ([], 3, []),  # nothing to pick
    ],
)
def test_spread_pick(items: list[tuple[str, int]], limit: int, expected: list[tuple[str, int]]) -> None:
    assert spread_pick(items, lambda item: item[0], limit) == expected


def result(case: str, bucket: str, target: str, error: float | None, closer: bool, noise: float = 0.005) -> CaseResult:
    return CaseResult(
        case=case, bucket=bucket, source="s.jpg", target=target, yaw=0.0, found=error is not None,
        d_source=None if error is None else (0.4 if closer else 0.8), d_target=None if error is None else 0.6,
        landmark_error=error, landmark_noise=noise, landmark_floor=None if error is None else error / 2,
        occluder_kept=None, swapped=True,
    )  # fmt: skip


def test_summary_lists_every_bucket_and_judges_only_held_ones() -> None:
    results = [result("yaw", "0-15", f"t{i}", 0.02, True) for i in range(3)]
    results += [result("yaw", "15-30", f"t{i}", 0.05, True) for i in range(3)]  # landmark error over the goal
    results += [result("yaw", "30-45", "t0", 0.02, True)]  # too few targets to judge
    results += [result("yaw", "45-60", f"t{i}", 0.03, i > 0, noise=0.1) for i in range(3)]  # noisy, 2 of 3 closer
    results += [result("yaw", ">60", f"t{i}", None, False) for i in range(3)]  # not found again
    results += [result("small", "48px", "t0", 0.03, True)]
    summary = summarise_cases(results, CaseOptions(cases=("yaw", "small", "occluded")), [])
    json.dumps(summary)  # plain data
    assert list(summary["yaw"]) == ["0-15", "15-30", "30-45", "45-60", ">60"]
    assert list(summary["small"]) == ["48px", "64px", "96px"]
    assert list(summary["occluded"]) == ["microphone", "hand"]
    yaw = summary["yaw"]
    assert yaw["0-15"]["meets_goal"] is True and yaw["0-15"]["mean_landmark_error"] == 0.02
    assert yaw["15-30"]["meets_goal"] is False
    assert yaw["30-45"]["meets_goal"] is None and yaw["30-45"]["targets"] == 1
    assert yaw["45-60"]["closer_to_source_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert yaw["45-60"]["meets_goal"] is False
    assert yaw[">60"]["held_to_goal"] is False and yaw[">60"]["meets_goal"] is None
    assert yaw[">60"]["found"] == 0 and yaw[">60"]["closer_to_source_rate"] == 0.0
    assert summary["small"]["64px"]["pairs"] == 0 and summary["small"]["64px"]["mean_d_source"] is None
    assert summary["goal"]["mean_landmark_error_at_most"] == GOAL_LANDMARK_ERROR
    notes = " | ".join(summary["notes"])
    assert "yaw 30-45: only 1 real target" in notes
    assert "yaw 45-60: noise floor 0.100" in notes
    assert "yaw 15-30: swap floor 0.025" in notes and "yaw 0-15: swap floor" not in notes
    assert yaw["15-30"]["mean_landmark_floor"] == 0.025


def test_unknown_case_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="unknown eval case"):
        CaseOptions(cases=("yaw", "sideways"))


def test_microphone_covers_the_mouth_and_nothing_far_away() -> None:
    image = np.full((400, 400, 3), 200, np.uint8)
    face = box_face(100, 80, 300, 300)
    occluded, mask = draw_microphone(image, face)
    mouth = face.landmarks_5[3:5].mean(axis=0).round().astype(int)
    assert mask[mouth[1] + 10, mouth[0]] == 255
    assert (occluded[mask == 255] != 200).any(axis=1).mean() > 0.9
    far = np.ones((400, 400), bool)
    far[max(0, mouth[1] - 60) :, :] = False
    assert (occluded[far] == 200).all()
    hull = face_hull((400, 400), face)
    assert occluder_kept(occluded, occluded, mask, hull) == 1.0


def test_occluder_kept_counts_changed_pixels_over_the_face() -> None:
    before = np.full((100, 100, 3), 50, np.uint8)
    occluder, face = np.zeros((100, 100), np.uint8), np.zeros((100, 100), np.uint8)
    occluder[20:80, 20:80] = 255
    face[:, :50] = 255
    after = before.copy()
    after[:, 35:50] = 200  # the right part of the occluder over the face was painted over
    kept = occluder_kept(before, after, occluder, face)
    assert kept == pytest.approx(13 / 28, abs=0.02)  # columns 22..49 count (edges eroded), 22..34 unchanged
    assert occluder_kept(before, before + 5, occluder, face) == 1.0  # within tolerance
    assert occluder_kept(before, after, occluder, np.zeros_like(face)) is None  # not over the face


@pytest.fixture(scope="module")
def sample_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    (folder / "hopper_01.jpg").symlink_to(sample_path("hopper"))
    (folder / "astronaut_01.png").symlink_to(sample_path("astronaut"))
    return folder


def test_cases_on_the_bundled_samples(sample_folder: Path, tmp_path: Path) -> None:
    options = CaseOptions(cases=("yaw", "small", "occluded"), sources=("hopper_01.jpg",), widths_px=(64,))
    summary = evaluate(sample_folder, tmp_path, Settings(), options, pairs=False)
    written = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(summary))
    cases = written["cases"]
    assert set(cases["yaw"]) == {"0-15", "15-30", "30-45", "45-60", ">60"}
    assert cases["sources"] == ["hopper_01.jpg"]
    for case, bucket in (("yaw", "0-15"), ("small", "64px"), ("occluded", "microphone")):
        figures = cases[case][bucket]
        assert (figures["pairs"], figures["found"]) == (1, 1), (case, bucket)  # hopper onto the astronaut
        assert 0 < figures["mean_landmark_error"] < 0.1
        assert figures["mean_landmark_noise"] < figures["mean_landmark_error"]
        assert figures["mean_landmark_noise"] < figures["mean_landmark_floor"] < figures["mean_landmark_error"]
        assert 0 < figures["mean_d_source"] < 1
    assert 0 <= cases["occluded"]["microphone"]["mean_occluder_kept"] <= 1
    assert cases["occluded"]["hand"]["pairs"] == 0  # the samples have no hand to cut out
    assert any("hand case left out" in note for note in cases["notes"])
    lines = (tmp_path / "cases.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["source"] == "hopper_01.jpg"
    assert {p.name for p in (tmp_path / "cases").iterdir()} == {
        "yaw_0-15.png",
        "small_64px.png",
        "occluded_microphone.png",
    }
    assert not (tmp_path / "contact_sheet.png").exists()


def test_cli_default_eval_writes_only_the_pair_figure(
    sample_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    figure = {"pairs": 2, "mean_d_source": 0.5}
    calls: list[Any] = []
    monkeypatch.setattr(evaluate_module, "evaluate_pairs", lambda *args: calls.append(args) or dict(figure))
    assert main(["eval", "--images", str(sample_folder), "--output", str(tmp_path)]) == 0
    assert len(calls) == 1
    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8")) == figure  # no "cases" key


def test_cli_rejects_an_unknown_case(sample_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--images", str(sample_folder), "--output", str(tmp_path), "--cases", "pairs,tilt"]) == 2
    assert "unknown eval case(s) tilt" in capsys.readouterr().err


# ----------------------------------------------------------------------------- ../shared/testdata


@pytest.mark.testdata
def test_a_hand_is_cut_out_of_the_test_photos(testdata: Path) -> None:
    from faceweave.media.image_io import read_image

    photo = testdata / "images" / "deepface_B_02.jpg"  # speaking into a microphone, hands raised
    hand = find_hand([(photo.name, read_image(photo).image)])
    assert hand is not None
    assert hand.image.shape[:2] == hand.alpha.shape
    assert 0.2 < float((hand.alpha > 0).mean()) < 0.9  # a hand shape, neither empty nor the whole box


@pytest.mark.testdata
def test_the_clips_hold_turned_faces(testdata: Path, still_engine: Engine) -> None:
    clip = testdata / "video" / "hamilton_short_clip.mp4"  # a profile close-up from frame ~210
    found = yaw_candidates(still_engine.analyser, [], [clip], step=30)
    assert any(abs(c.yaw) > 45 for c in found)
    assert all(c.origin == clip.name and c.frame % 30 == 0 for c in found)
