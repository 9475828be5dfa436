"""The blind realism evaluation: sheets and key on real faces, seeded sides and order, the scorer, the proxies."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from clip_factory import astronaut_head, background, write_clip
from PIL import Image as PILImage

from faceweave.cli import EXIT_OK, EXIT_USAGE, main
from faceweave.engine import Engine
from faceweave.errors import UsageError
from faceweave.faces import Face
from faceweave.lab.blind import (
    FACE_SHEET_PX,
    GAP_PX,
    LABEL_BAND_PX,
    RATING_TEXT,
    Case,
    crop_square,
    fit_long_side,
    sample_pairs,
    spread,
    write_blind,
)
from faceweave.lab.blind_score import score_blind
from faceweave.lab.realism import PROXIES, detail_match, glasses_leak, seam_step, shading_error
from faceweave.media.image_io import read_image, write_image
from faceweave.media.video_io import VideoReader
from faceweave.samples import sample_path
from faceweave.settings import Settings

Image = npt.NDArray[np.uint8]


def split_sheet(sheet: Image) -> tuple[Image, Image]:
    """The left (A) and right (B) images of a sheet."""
    h, w = sheet.shape[0] - GAP_PX - LABEL_BAND_PX, (sheet.shape[1] - 3 * GAP_PX) // 2
    rows = slice(GAP_PX, GAP_PX + h)
    return sheet[rows, GAP_PX : GAP_PX + w], sheet[rows, 2 * GAP_PX + w : 2 * GAP_PX + 2 * w]


# Pair sampling -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identities", "count"),
    [
        (["a", "a", "b", "c", "d", "d", "e"], 7),  # as many pairs as photos: each once as source and as target
        (["a", "a", "b", "c", "d", "d", "e"], 20),  # more: filled with further distinct pairs
        (["a", "b"], 2),  # the smallest folder
        (["a", "a", "a", "b"], 6),  # one person dominates: b is every pair's other half
    ],
)
def test_sample_pairs_covers_every_photo_and_never_pairs_a_person_with_themselves(
    identities: list[str], count: int
) -> None:
    pairs = sample_pairs(identities, count, np.random.default_rng(3))
    assert len(pairs) == len(set(pairs))
    assert all(identities[s] != identities[t] for s, t in pairs)
    allowed = sum(a != b for a in identities for b in identities)
    assert len(pairs) == min(count, allowed)
    if identities.count("a") <= len(identities) // 2:  # a cover exists
        assert {s for s, _ in pairs} == {t for _, t in pairs} == set(range(len(identities)))
    assert pairs == sample_pairs(identities, count, np.random.default_rng(3))


def test_sample_pairs_truncated_below_the_photo_count_keeps_distinct_sources() -> None:
    pairs = sample_pairs([str(i) for i in range(10)], 6, np.random.default_rng(0))
    assert len({s for s, _ in pairs}) == 6 and len({t for _, t in pairs}) == 6


@pytest.mark.parametrize(
    ("total", "parts", "shares"),
    [
        (10, 4, [3, 3, 2, 2]),  # the brief's example
        (10, 1, [10]),  # one clip takes every frame
        (2, 4, [1, 1, 0, 0]),  # more clips than frames
        (10, 0, []),  # no clips
    ],
)
def test_spread(total: int, parts: int, shares: list[int]) -> None:
    assert spread(total, parts) == shares


# Sheets, seeded ------------------------------------------------------------------------------------------------


def fake_cases(n: int) -> list[Case]:
    """n cases with flat halves (real grey, swap a distinct colour), so every sheet's halves tell its side."""
    real = np.full((32, 32, 3), 128, np.uint8)
    return [
        Case("pair", f"s{i}.jpg", f"t{i}.jpg", real, np.full((32, 32, 3), i * 20, np.uint8), {"seam_step": float(i)})
        for i in range(n)
    ]


def sides_and_order(folder: Path, seed: int) -> list[tuple[str, str, str]]:
    key = write_blind(fake_cases(8), folder, seed, Settings())
    return [(name, entry["manipulated"], entry["source"]) for name, entry in sorted(key["sheets"].items())]


def test_seed_fixes_sides_and_order(tmp_path: Path) -> None:
    first = sides_and_order(tmp_path / "a", 0)
    assert first == sides_and_order(tmp_path / "b", 0)
    assert first != sides_and_order(tmp_path / "c", 1)
    assert [side for _, side, _ in first].count("A") == 4  # balanced
    assert [source for _, _, source in first] != [f"s{i}.jpg" for i in range(8)]  # shuffled, not in case order
    assert (tmp_path / "a" / "sheets" / "sheet_01.png").read_bytes() == (
        tmp_path / "b" / "sheets" / "sheet_01.png"
    ).read_bytes()


def test_sheet_halves_follow_the_key(tmp_path: Path) -> None:
    key = write_blind(fake_cases(6), tmp_path, 5, Settings())
    for name, entry in key["sheets"].items():
        a, b = split_sheet(read_image(tmp_path / "sheets" / f"{name}.png").image)
        real, swapped = (b, a) if entry["manipulated"] == "A" else (a, b)
        assert (real == 128).all()
        assert (swapped == int(entry["source"][1:-4]) * 20).all()
    assert (tmp_path / "sheets" / "RATING.md").read_text(encoding="utf-8") == RATING_TEXT


def test_rating_text_is_the_one_the_rater_gets() -> None:
    assert RATING_TEXT.startswith("# Rating instructions\n\nEach sheet shows two photographs, A (left) and B (right).")
    assert "1 = broken.\n" in RATING_TEXT and "Judge each sheet on its own, by looking as a person would" in RATING_TEXT
    assert RATING_TEXT.endswith("computing\ndifferences between the two images is not).\n")
    assert '"reason": "what gave it away, in a few words"}\n' in RATING_TEXT
    assert "\\" not in RATING_TEXT and "  " not in RATING_TEXT


@pytest.mark.parametrize(
    ("shape_hw", "box", "side"),
    [
        ((600, 500, 3), (200, 200, 300, 300), 220),  # grown 2.2× and upscaled (bicubic)
        ((2000, 2000, 3), (500, 500, 1000, 1000), 1100),  # shrunk (area)
        ((300, 400, 3), (0, 0, 200, 200), 300),  # at the corner: moved inside, at most the shorter side
    ],
)
def test_crop_square(shape_hw: tuple[int, int, int], box: tuple[int, ...], side: int) -> None:
    image = np.random.default_rng(0).integers(0, 255, shape_hw, dtype=np.uint8)
    face = Face(np.array(box, np.float32), 1.0, np.zeros((478, 3), np.float32), np.zeros((5, 2), np.float32),
                np.zeros(3, np.float32), None, -1)  # fmt: skip
    crop = crop_square(image, face)
    assert crop.shape == (FACE_SHEET_PX, FACE_SHEET_PX, 3)
    centre = np.clip((np.array(box[:2]) + box[2:]) // 2, side // 2, np.array(shape_hw[1::-1]) - side // 2)
    x0, y0 = centre - side // 2
    inner = image[y0 : y0 + side, x0 : x0 + side]
    expected = cv2.resize(inner, (FACE_SHEET_PX,) * 2, interpolation=cv2.INTER_AREA if side > 512 else cv2.INTER_CUBIC)
    assert np.abs(crop.astype(int) - expected).mean() < 1.0


# End to end on real faces --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, hopper: Image, astronaut: Image) -> Path:
    """`faceweave eval --blind` over three portraits of two people, one two-person photo and a short clip."""
    root = tmp_path_factory.mktemp("blind")
    images, videos = root / "images", root / "videos"
    images.mkdir()
    videos.mkdir()
    write_image(images / "hopper_01.png", hopper)
    write_image(images / "astronaut_01.png", astronaut)
    write_image(images / "astronaut_02.png", cv2.resize(astronaut, (384, 384), interpolation=cv2.INTER_AREA))
    write_image(
        images / "group_two.png", np.hstack([cv2.resize(hopper, (400, 470)), cv2.resize(astronaut, (400, 470))])
    )
    (images / "notes.txt").write_text("not a photo", encoding="utf-8")
    frames = []
    for i in range(6):
        frame = background((240, 200), i)
        frame[20:180, 40 + 4 * i : 200 + 4 * i] = astronaut_head(160)
        frames.append(frame)
    write_clip(videos / "talk.mp4", frames)
    args = ["eval", "--blind", "--images", str(images), "--videos", str(videos), "--blind-pairs", "4"]
    assert main([*args, "--output", str(root / "out")]) == EXIT_OK
    return root


def original(root: Path, entry: dict[str, Any], engine: Engine) -> Image:
    """The real half a sheet must show for a key entry, made from the original file."""
    if entry["kind"] == "clip":
        name, index = entry["target"].split("@")
        with VideoReader(root / "videos" / name) as reader:
            image = next(f.image for f in reader if f.index == int(index))
    elif entry["kind"] == "demo":
        image = read_image(sample_path("astronaut")).image
    else:
        image = read_image(root / "images" / entry["target"]).image
    if entry["kind"] == "group":
        return fit_long_side(image)
    faces = engine.analyser.analyse(image)
    return crop_square(image, faces[int(np.argmax(faces.sizes))])


def test_blind_run_writes_sheets_that_match_the_key(tiny_run: Path, still_engine: Engine) -> None:
    key = json.loads((tiny_run / "out" / "key.json").read_text(encoding="utf-8"))
    sheets = key["sheets"]
    kinds = [entry["kind"] for entry in sheets.values()]
    assert (kinds.count("pair"), kinds.count("group"), kinds.count("clip"), kinds.count("demo")) == (4, 1, 6, 1)
    assert list(sheets) == [f"sheet_{i:02d}" for i in range(1, len(sheets) + 1)]
    assert key["seed"] == 0
    assert key["settings"] == json.loads(json.dumps(dataclasses.asdict(Settings()), default=str))  # engine defaults
    for name, entry in sheets.items():
        assert set(entry["proxies"]) == set(PROXIES)
        sheet = read_image(tiny_run / "out" / "sheets" / f"{name}.png").image
        a, b = split_sheet(sheet)
        real, swapped = (b, a) if entry["manipulated"] == "A" else (a, b)
        expected = original(tiny_run, entry, still_engine)
        assert real.shape == swapped.shape == expected.shape, name
        if entry["kind"] != "group":
            assert real.shape == (FACE_SHEET_PX, FACE_SHEET_PX, 3)
        assert np.array_equal(real, expected), f"{name}: the real half is not the original"
        change = np.abs(swapped.astype(int) - expected)
        assert change.mean() > 0.3 and change.max() > 40, f"{name}: the swapped half is unchanged"
    pairs = [(e["source"], e["target"]) for e in sheets.values() if e["kind"] == "pair"]
    assert all(s.split("_")[0] != t.split("_")[0] for s, t in pairs)
    assert {s for s, _ in pairs} == {t for _, t in pairs} == {"hopper_01.png", "astronaut_01.png", "astronaut_02.png"}


def test_sheets_folder_holds_only_sheets_and_instructions(tiny_run: Path) -> None:
    names = {path.name for path in (tiny_run / "out" / "sheets").iterdir()}
    assert names == {"RATING.md"} | {f"sheet_{i:02d}.png" for i in range(1, 13)}
    with PILImage.open(tiny_run / "out" / "sheets" / "sheet_01.png") as opened:
        assert not {k: v for k, v in opened.info.items() if isinstance(v, str)}  # no text chunks: no names
    summary = json.loads((tiny_run / "out" / "blind_summary.json").read_text(encoding="utf-8"))
    assert summary["counts"] == {"pair": 4, "group": 1, "clip": 6, "demo": 1}
    assert set(summary["proxies"]) == {"all", "pair", "group", "clip", "demo"}
    assert summary["proxies"]["all"]["shading_error"] > 0


def test_eval_needs_images_and_output_unless_scoring(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--blind", "--images", "x"]) == EXIT_USAGE
    assert "--output" in capsys.readouterr().err


# Scoring -------------------------------------------------------------------------------------------------------

KEY = {
    "seed": 0,
    "settings": {},
    "sheets": {
        "sheet_01": {"manipulated": "A", "kind": "pair", "source": "a_01.jpg", "target": "b_01.jpg", "proxies": {}},
        "sheet_02": {"manipulated": "B", "kind": "pair", "source": "b_01.jpg", "target": "a_01.jpg", "proxies": {}},
        "sheet_03": {"manipulated": "B", "kind": "group", "source": "a_01.jpg", "target": "g.jpg", "proxies": {}},
        "sheet_04": {"manipulated": "A", "kind": "clip", "source": "a_01.jpg", "target": "c.mp4@3", "proxies": {}},
        "sheet_05": {"manipulated": "A", "kind": "demo", "source": "h.jpg", "target": "x.png", "proxies": {}},
    },
}
RATINGS = [
    # caught, sure; the swap looks broken
    {"sheet": "sheet_01", "manipulated": "A", "confidence": 90, "natural_A": 1, "natural_B": 5, "reason": "seam"},
    # fooled: the real photo picked
    {"sheet": "sheet_02.png", "manipulated": "A", "confidence": 60, "natural_A": 3, "natural_B": 4, "reason": "eyes"},
    # caught, the swap clearly fake
    {"sheet": "sheet_03", "manipulated": "B", "confidence": 70, "natural_A": 5, "natural_B": 2, "reason": "same faces"},
    # fooled, a guess; no reason given
    {"sheet": "sheet_04", "manipulated": "B", "confidence": 50, "natural_A": 4, "natural_B": 4},
]


def write_rating_files(folder: Path, lines: list[str]) -> tuple[Path, Path]:
    key, ratings = folder / "key.json", folder / "ratings.jsonl"
    key.write_text(json.dumps(KEY), encoding="utf-8")
    ratings.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return key, ratings


def test_score_blind_figures(tmp_path: Path) -> None:
    report = score_blind(*write_rating_files(tmp_path, [json.dumps(r) for r in RATINGS] + [""]))
    assert report["sheets_rated"] == 4 and report["missing"] == ["sheet_05"]
    assert report["fool_rate"] == 0.5
    assert report["mean_natural_swap"] == pytest.approx((1 + 4 + 2 + 4) / 4)
    assert report["mean_natural_real"] == pytest.approx((5 + 3 + 5 + 4) / 4)
    assert report["share_swap_le_2"] == 0.5 and report["share_swap_1"] == 0.25
    assert report["mean_confidence_when_right"] == 80.0
    assert report["per_kind"]["pair"]["fool_rate"] == 0.5 and report["per_kind"]["pair"]["sheets_rated"] == 2
    assert report["per_kind"]["clip"]["mean_confidence_when_right"] is None
    assert report["per_kind"]["demo"]["sheets_rated"] == 0
    rows = {row["sheet"]: row for row in report["pairs"]}
    assert rows["sheet_02"] | {"reason": ""} == {
        "sheet": "sheet_02", "kind": "pair", "source": "b_01.jpg", "target": "a_01.jpg", "caught": False,
        "confidence": 60, "natural_swap": 4, "natural_real": 3, "reason": "", "contradictory": False,
    }  # fmt: skip
    assert rows["sheet_04"]["reason"] == ""
    assert report["contradictory"] == []


def test_a_rater_whose_scores_disagree_with_their_pick_is_flagged(tmp_path: Path) -> None:
    """A rater once picked B as the edit and gave B 5 and A 1 on most such sheets (the two fields swapped): those
    sheets are listed, and the naturalness means are also given without them."""
    swapped_fields = {"sheet": "sheet_03", "manipulated": "B", "confidence": 90, "natural_A": 1, "natural_B": 5}
    report = score_blind(*write_rating_files(tmp_path, [json.dumps(r) for r in [*RATINGS[:2], swapped_fields]]))
    assert report["contradictory"] == ["sheet_03"]
    assert report["mean_natural_swap"] == pytest.approx((1 + 4 + 5) / 3, abs=1e-4)  # the raw figures stay as rated
    assert report["consistent_only"] == {
        "sheets_rated": 2,
        "mean_natural_swap": pytest.approx(2.5),
        "mean_natural_real": pytest.approx(4.0),
    }


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("{not json", "line 3"),  # not JSON at all
        ('["sheet_03"]', "expected a JSON object"),  # JSON, not an object
        ('{"sheet": "sheet_09", "manipulated": "A", "confidence": 80, "natural_A": 1, "natural_B": 5}', "'sheet'"),
        ('{"sheet": "sheet_03", "manipulated": "C", "confidence": 80, "natural_A": 1, "natural_B": 5}', "manipulated"),
        ('{"sheet": "sheet_03", "manipulated": "A", "confidence": 40, "natural_A": 1, "natural_B": 5}', "confidence"),
        ('{"sheet": "sheet_03", "manipulated": "A", "confidence": 80, "natural_A": 6, "natural_B": 5}', "natural_A"),
        ('{"sheet": "sheet_03", "manipulated": "A", "confidence": 80, "natural_A": 1, "natural_B": 2.5}', "natural_B"),
        ('{"sheet": "sheet_03", "manipulated": "A", "confidence": 80, "natural_A": 1}', "natural_B"),  # left out
        ('{"sheet": "sheet_03", "manipulated": "A", "confidence": true, "natural_A": 1, "natural_B": 5}', "confidence"),
        ('{"sheet": "sheet_01", "manipulated": "A", "confidence": 80, "natural_A": 1, "natural_B": 5}', "twice"),
    ],
)
def test_a_bad_rating_line_names_the_file_and_line(tmp_path: Path, line: str, complaint: str) -> None:
    key, ratings = write_rating_files(tmp_path, [json.dumps(RATINGS[0]), "", line])
    with pytest.raises(UsageError, match=re.escape(f"{ratings} line 3: ")) as caught:
        score_blind(key, ratings)
    assert complaint in str(caught.value) and "\n" not in str(caught.value)


def test_score_blind_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, ratings = write_rating_files(tmp_path, [json.dumps(r) for r in RATINGS])
    report_path = tmp_path / "report" / "score.json"
    assert main(["eval", "--score-blind", str(key), str(ratings), "--output", str(report_path), "--markdown"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| sheet | kind | source | target | caught |") and len(table) == 2 + len(RATINGS)
    assert table[4] == "| sheet_03 | group | a_01.jpg | g.jpg | yes | 70 | 2 | 5 | same faces |"
    assert json.loads(report_path.read_text(encoding="utf-8"))["fool_rate"] == 0.5
    ratings.write_text('{"sheet": "sheet_01"}\n', encoding="utf-8")
    assert main(["eval", "--score-blind", str(key), str(ratings)]) == EXIT_USAGE
    assert "ratings.jsonl line 1: 'manipulated'" in capsys.readouterr().err


# Proxies on a real face ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def face(still_engine: Engine, astronaut: Image) -> Face:
    return still_engine.analyser.analyse(astronaut)[0]


def inside_face(image: Image, face: Face, changed: Image, still_engine: Engine) -> Image:
    """`image` with the pixels inside the face outline taken from `changed`."""
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(face.mesh[still_engine.topology.oval, :2]).astype(np.int32)], 255)
    out = image.copy()
    out[mask > 0] = changed[mask > 0]
    return out


def with_frames(image: Image, face: Face) -> Image:
    """Dark horizontal lines where spectacle frames run: across the bridge and under each eye."""
    out, mesh = image.copy(), face.mesh[:, :2]
    eye_distance = float(np.linalg.norm(mesh[468] - mesh[473]))
    y = round(float(mesh[168, 1]))
    cv2.line(out, (round(float(mesh[133, 0])) - 4, y), (round(float(mesh[362, 0])) + 4, y), (25, 25, 25), 2)
    for lid in (145, 374):
        x, y = round(float(mesh[lid, 0])), round(float(mesh[lid, 1]) + 0.22 * eye_distance)
        cv2.line(out, (x - 20, y), (x + 20, y), (25, 25, 25), 2)
    return out


@pytest.mark.parametrize("name", list(PROXIES))
def test_identical_images_score_zero(name: str, astronaut: Image, face: Face, still_engine: Engine) -> None:
    assert PROXIES[name](astronaut, astronaut.copy(), face, still_engine.topology) == 0.0


def test_glasses_leak_sees_frames_added_and_erased(astronaut: Image, face: Face, still_engine: Engine) -> None:
    framed = with_frames(astronaut, face)
    assert glasses_leak(framed, astronaut, face, still_engine.topology) > 0.2
    assert glasses_leak(astronaut, framed, face, still_engine.topology) < -0.2
    assert abs(glasses_leak(cv2.GaussianBlur(astronaut, (0, 0), 0.6), astronaut, face, still_engine.topology)) < 0.05


def test_detail_match_drops_when_the_face_is_blurred(astronaut: Image, face: Face, still_engine: Engine) -> None:
    waxy = inside_face(astronaut, face, cv2.GaussianBlur(astronaut, (0, 0), 3.0), still_engine)
    assert detail_match(waxy, astronaut, face, still_engine.topology) < -0.5
    noisy = np.clip(astronaut + np.random.default_rng(0).normal(0, 8, astronaut.shape), 0, 255).astype(np.uint8)
    assert detail_match(inside_face(astronaut, face, noisy, still_engine), astronaut, face, still_engine.topology) > 0.1


def test_shading_error_sees_a_ramp_but_not_a_gain(astronaut: Image, face: Face, still_engine: Engine) -> None:
    x0, x1 = float(face.box[0]), float(face.box[2])
    ramp = np.clip(0.7 + 0.6 * (np.arange(astronaut.shape[1]) - x0) / (x1 - x0), 0.5, 1.5)[None, :, None]
    lit = np.clip(astronaut * ramp, 0, 255).astype(np.uint8)
    assert shading_error(lit, astronaut, face, still_engine.topology) > 0.08
    brighter = np.clip(astronaut * 1.15, 0, 255).astype(np.uint8)
    assert shading_error(brighter, astronaut, face, still_engine.topology) < 0.02


@pytest.mark.parametrize("levels", [40, -40])  # brighter or darker: a seam either way
def test_seam_step_sees_a_face_pasted_brighter_or_darker(
    levels: int, astronaut: Image, face: Face, still_engine: Engine
) -> None:
    shifted = np.clip(astronaut.astype(int) + levels, 0, 255).astype(np.uint8)
    pasted = inside_face(astronaut, face, shifted, still_engine)
    assert seam_step(pasted, astronaut, face, still_engine.topology) > 15.0
    assert seam_step(pasted, astronaut, face, still_engine.topology) > 2 * seam_step(
        shifted, astronaut, face, still_engine.topology
    )
