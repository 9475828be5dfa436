"""The image benchmark times the swapper's own stages, shape and eyes included."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceweave.bench import scene, time_stages
from faceweave.pipeline import Pipeline


def test_time_stages_covers_every_stage(hopper_pipeline: Pipeline, astronaut: npt.NDArray[np.uint8]) -> None:
    box = hopper_pipeline.analyser.analyse(astronaut).boxes[0]
    frame = scene(astronaut, box, (640, 360), 0.5)
    stages = time_stages(hopper_pipeline, frame, repeat=2)
    assert stages["faces"] == 1
    parts = ("detect", "mesh", "shape", "remap", "colour", "blend", "eyes")
    assert all(stages[name] >= 0 for name in parts)
    assert stages["remap"] > 0 and stages["shape"] > 0  # face_shape is on by default
    assert sum(stages[name] for name in parts) <= stages["total"] * 1.05 + 0.5
