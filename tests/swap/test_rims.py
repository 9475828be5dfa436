"""Light glasses rims traced around the eyes in the atlas (the outermost smooth loop, not an eye-bag wrinkle)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.engine import Engine
from faceweave.geometry.topology import load_topology
from faceweave.swap.rims import MAX_STEP, find_rims, light_ridges, trace
from faceweave.swap.source import ATLAS_PX, SourceIdentity

Image = npt.NDArray[np.uint8]
SKIN = (150, 170, 210)  # BGR
AMBER = (120, 205, 240)  # lighter and more yellow than the skin


def test_trace_follows_the_strongest_ridge_in_its_window_smoothly() -> None:
    reward = np.full((40, 30), -0.5, np.float32)
    reward[:, 8] = 1.0
    reward[:, 20] = 1.2
    low = np.full(40, 3)
    assert set(trace(reward, low, np.full(40, 28)).tolist()) == {20}
    assert set(trace(reward, low, np.full(40, 15)).tolist()) == {8}  # the window leaves only the inner one
    jumping = np.full((40, 30), -0.5, np.float32)
    jumping[:20, 8] = 1.0
    jumping[20:, 18] = 1.0
    path = trace(jumping, low, np.full(40, 28))
    assert path[0] == 8 and path[-1] == 18 and np.abs(np.diff(path)).max() <= MAX_STEP  # no jump across rows


def _eye(centre: tuple[float, float], half: tuple[float, float]) -> npt.NDArray[np.float32]:
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    return np.stack([centre[0] + half[0] * np.cos(angles), centre[1] + half[1] * np.sin(angles)], 1).astype(np.float32)


def test_find_rims_takes_the_lens_loop_and_leaves_the_wrinkle_inside_it() -> None:
    rng = np.random.default_rng(1)
    texture = np.clip(np.array(SKIN, np.float32) + rng.normal(0, 3, (512, 512, 3)), 0, 255).astype(np.uint8)
    eyes, rims, wrinkles = [], np.zeros((512, 512), np.uint8), np.zeros((512, 512), np.uint8)
    for x in (160, 352):
        eyes.append(_eye((x, 160), (40, 10)))
        cv2.ellipse(texture, (x, 160), (82, 72), 0, -20, 200, AMBER, 5)  # the lower rim and both sides
        cv2.ellipse(rims, (x, 160), (82, 72), 0, -20, 200, 1, 5)
        cv2.ellipse(texture, (x, 172), (50, 22), 0, 20, 160, AMBER, 4)  # an eye-bag line as strong as the rim
        cv2.ellipse(wrinkles, (x, 172), (50, 22), 0, 20, 160, 1, 4)
    found = find_rims(texture, eyes)
    assert found[rims > 0].mean() > 0.8
    assert found[wrinkles > 0].mean() < 0.1


def test_hopper_light_rims_are_filled(still_engine: Engine, hopper: Image) -> None:
    """Her lower rims (amber plastic, lighter than her skin) leave no ghost loops: the light-ridge response along
    the traced loops drops to the level of the skin beside them."""
    faces = still_engine.analyser.analyse(hopper)
    face = faces[int(np.argmax(faces.sizes))]
    topology = load_topology()
    raw = SourceIdentity.from_faces([(hopper, face)], topology, ["x"], border_mask=False)
    clean = SourceIdentity.from_faces([(hopper, face)], topology, ["x"])
    points = topology.uv * (ATLAS_PX - 1)
    loops = find_rims(raw.texture, [points[eye] for eye in topology.features[2:4]])
    assert loops.sum() > 3000  # both lenses traced over most of their loops
    before = light_ridges(raw.texture, 2.0)[loops].mean()
    after = light_ridges(clean.texture, 2.0)[loops].mean()
    assert after < 0.5 * before
