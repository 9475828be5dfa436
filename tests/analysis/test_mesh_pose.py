"""head_pose: yaw from a 2-D fit with Face Mesh's saturation undone, on synthetic and real meshes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave.analysis.mesh import (
    MESH_YAW_SPAN_DEG,
    head_pose,
    orthographic_yaw,
    similarity_3d,
    unsaturated_yaw,
)
from faceweave.engine import Engine
from faceweave.geometry.topology import load_topology
from faceweave.media.image_io import read_image

Image = npt.NDArray[np.uint8]
CANONICAL = load_topology().canonical


def turned_mesh(yaw_deg: float, pitch_deg: float = 0.0) -> npt.NDArray[np.float32]:
    """(478, 3) the canonical face turned by `yaw_deg` (> 0: toward image right), then tipped by `pitch_deg`,
    projected orthographically at 120 px per unit around (400, 300): what a perfect mesh of a rigid head reads."""
    yaw, pitch = np.radians(-yaw_deg), np.radians(pitch_deg)
    turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    tip = np.array([[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)], [0, -np.sin(pitch), np.cos(pitch)]])
    points = CANONICAL.astype(np.float64) @ (tip @ turn).T * 120.0 + np.array([400.0, 300.0, 0.0])
    return points.astype(np.float32)


@pytest.mark.parametrize("yaw", [-70.0, -30.0, -10.0, 0.0, 10.0, 30.0, 45.0, 70.0])
def test_orthographic_fit_reads_a_rigid_head_exactly(yaw: float) -> None:
    assert orthographic_yaw(turned_mesh(yaw), CANONICAL) == pytest.approx(yaw, abs=0.05)


@pytest.mark.parametrize(
    ("yaw", "low", "high"),
    [
        (0.0, -0.5, 0.5),  # frontal stays frontal
        (12.0, 11.5, 12.8),  # near frontal: the saturation correction adds well under a degree
        (-25.0, -26.8, -25.0),
        (70.0, 65.0, 90.0),  # profiles read as profiles: the old 3-D fit on Face Mesh output stopped near 60
        (-70.0, -90.0, -65.0),
    ],
)
def test_head_pose_yaw_of_a_turned_rigid_head(yaw: float, low: float, high: float) -> None:
    assert low <= head_pose(turned_mesh(yaw), CANONICAL)[0] <= high


def test_pitch_and_roll_are_still_read_from_the_3d_fit() -> None:
    pose = head_pose(turned_mesh(20.0, pitch_deg=15.0), CANONICAL)
    _, rotation, _ = similarity_3d(CANONICAL[:468], turned_mesh(20.0, pitch_deg=15.0)[:468])
    assert pose[1] == pytest.approx(np.degrees(np.arcsin(rotation[1, 2])), abs=1e-4)
    assert abs(pose[1] - 15.0) < 1.0


def test_unsaturated_yaw_inverts_the_mesh_saturation_and_keeps_order() -> None:
    true = np.linspace(-85.0, 85.0, 35)
    readings = MESH_YAW_SPAN_DEG * np.tanh(true / MESH_YAW_SPAN_DEG)
    assert [unsaturated_yaw(float(r)) for r in readings] == pytest.approx(list(true), abs=1e-6)
    steps = [unsaturated_yaw(r) for r in np.linspace(-70.0, 70.0, 141)]
    assert bool(np.all(np.diff(steps) >= 0))
    assert unsaturated_yaw(64.0) == 90.0 and unsaturated_yaw(-200.0) == -90.0


def test_similarity_3d_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(7)
    rotation = cv2.Rodrigues(np.array([0.2, -0.5, 0.1]))[0]
    target = (2.5 * CANONICAL[:468].astype(np.float64) @ rotation.T + [300.0, 200.0, 5.0]).astype(np.float32)
    target += rng.normal(0, 1e-3, target.shape).astype(np.float32)
    scale, found, shift = similarity_3d(CANONICAL[:468], target)
    assert scale == pytest.approx(2.5, rel=1e-4)
    assert np.abs(found - rotation).max() < 1e-4
    assert np.abs(shift - [300.0, 200.0, 5.0]).max() < 1e-2


def test_a_real_frontal_face_reads_frontal_and_mirrors(still_engine: Engine, hopper: Image) -> None:
    yaw = float(still_engine.analyser.analyse(hopper)[0].pose[0])
    mirrored = float(still_engine.analyser.analyse(np.ascontiguousarray(hopper[:, ::-1]))[0].pose[0])
    assert abs(yaw) < 15
    assert abs(yaw + mirrored) < 3


def test_real_profiles_read_past_the_fade(still_engine: Engine, testdata: Path) -> None:
    # Four audience members in near-full profile (far eye hidden behind the nose): the old yaw read 55–58°.
    image = read_image(testdata / "images" / "group_audience_profiles.jpg").image
    faces = still_engine.analyser.analyse(image)
    yaws = [float(face.pose[0]) for face in faces if face.size >= 60]
    assert len(yaws) >= 3
    assert all(yaw <= -70 for yaw in yaws), yaws
