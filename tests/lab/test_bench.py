"""The image benchmark times the engine's real chain: the swapper's own stages, shape and eyes included."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceweave.engine import Bindings, Engine
from faceweave.lab.bench import scene, time_stages


def test_time_stages_covers_every_stage(
    still_engine: Engine, hopper_bindings: Bindings, astronaut: npt.NDArray[np.uint8]
) -> None:
    box = still_engine.analyser.analyse(astronaut).boxes[0]
    frame = scene(astronaut, box, (640, 360), 0.5)
    stages = time_stages(still_engine, hopper_bindings, frame, repeat=2)
    assert stages["faces"] == 1
    parts = ("detect", "mesh", "shape", "remap", "colour", "blend", "eyes")
    assert all(stages[name] >= 0 for name in parts)
    assert stages["remap"] > 0 and stages["shape"] > 0  # face_shape is on by default
    assert sum(stages[name] for name in parts) <= stages["total"] * 1.05 + 0.5
    assert stages["occluders"] > 0  # the real chain: occluders are kept in front on stills by default
