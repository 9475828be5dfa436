"""Flicker measurement: a still clip has none; on real footage rigid-removed smoothing beats no smoothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clip_factory import astronaut_head, background, write_clip

from faceweave.lab.flicker import measure_clip, pair_change, similarity_2d
from faceweave.samples import sample_path
from faceweave.settings import Settings


def test_similarity_2d_recovers_a_known_motion() -> None:
    points = np.random.default_rng(1).uniform(0, 100, (50, 2)).astype(np.float32)
    angle, scale, shift = 0.2, 1.3, np.array([5.0, -3.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = similarity_2d(points, (points @ rotation.T + shift).astype(np.float32))
    assert np.allclose(matrix[:, :2], rotation, atol=1e-4) and np.allclose(matrix[:, 2], shift, atol=1e-3)


def test_identical_frames_have_no_change() -> None:
    frame = background((64, 64), 0)
    mesh = np.zeros((478, 3), np.float32)
    mesh[:468, :2] = np.random.default_rng(0).uniform(10, 54, (468, 2))
    assert pair_change(frame, frame, mesh, mesh) == 0.0


def test_still_clip_output_is_as_steady_as_its_input(tmp_path: Path) -> None:
    frame = background((256, 192), 0)
    frame[16:176, 48:208] = astronaut_head(160)
    clip = write_clip(tmp_path / "still.mp4", [frame] * 8).path
    results = measure_clip(Settings(), [sample_path("hopper")], clip, ("rigid",))
    assert results["rigid"].pairs == 7
    assert results["rigid"].output < 1.0  # levels per frame on a still face


@pytest.mark.slow
def test_rigid_smoothing_lowers_flicker_on_real_footage(testdata: Path) -> None:
    clip = testdata / "video" / "liveportrait_d0_man_greenscreen.mp4"
    if not clip.is_file():
        pytest.skip("testdata clip missing")
    results = measure_clip(Settings(), [sample_path("hopper")], clip, ("none", "rigid"))
    assert results["rigid"].output < results["none"].output


def test_bench_flicker_adds_an_own_face_control(tmp_path: Path) -> None:
    from faceweave.lab.bench_video import bench_flicker

    frame = background((256, 192), 0)
    frame[16:176, 48:208] = astronaut_head(160)
    clip = write_clip(tmp_path / "still.mp4", [frame] * 6).path
    lines: list[str] = []
    figures = bench_flicker(Settings(), None, clip, lines.append)
    assert set(figures) == {"none", "naive", "rigid", "own_face_rigid"}
    assert figures["own_face_rigid"]["output"] < 1.0  # the astronaut onto herself, standing still
    assert any("control" in line for line in lines)
