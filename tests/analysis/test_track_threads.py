"""Meshing a frame's faces on several threads gives the tracker exactly what meshing them one by one gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clip_factory import face_frames, write_clip

from faceweave.analysis.track import FaceTracker
from faceweave.engine import Engine
from faceweave.faces import Faces
from faceweave.lab.crowd import CrowdSpec, crowd_frames
from faceweave.samples import sample_path
from faceweave.settings import Settings


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """RGB frames of a small crowd: a moving face clip and two real portraits, each tile drifting and zooming."""
    folder = tmp_path_factory.mktemp("crowd")
    frames, boxes = face_frames((320, 240), 12, with_face=12)
    clip = write_clip(folder / "moving.mp4", frames, boxes=boxes).path
    spec = CrowdSpec(
        clips=(clip,), photos=(sample_path("hopper"), sample_path("astronaut")), seconds=1.0, fps=8, size_wh=(960, 540)
    )
    return [np.ascontiguousarray(frame[..., ::-1]) for frame in crowd_frames(spec)]


def _track(tracker: FaceTracker, frames: list[np.ndarray]) -> list[Faces]:
    return [tracker.update(rgb, seconds=i / 8) for i, rgb in enumerate(frames)]


def test_threads_change_nothing_the_tracker_reports(crowd: list[np.ndarray]) -> None:
    engine = Engine.load(Settings(detect_every=3), mode="video")
    alone = _track(engine.analyser.new_tracker(workers=1), crowd)
    tracker = engine.analyser.new_tracker(workers=2)
    side_by_side = _track(tracker, crowd)
    assert max(len(faces) for faces in alone) >= 3, "the crowd should hold several faces"
    for one, two in zip(alone, side_by_side, strict=True):
        assert np.array_equal(one.tracks, two.tracks)
        assert np.array_equal(one.mesh, two.mesh)
        assert np.array_equal(one.boxes, two.boxes)
    assert tracker._executor is not None, "with several faces and two workers the graphs ran on the pool"


def test_video_engines_mesh_on_two_threads_where_two_cpus_are_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("faceweave.engine.core.usable_cpu_ids", lambda: (0, 1, 2, 3))
    assert Engine.load(Settings(), mode="video").mesh_workers == 2
    assert Engine.load(Settings(mesh_threads=3), mode="video").mesh_workers == 3
    assert Engine.load(Settings(), mode="live").mesh_workers == 1
    monkeypatch.setattr("faceweave.engine.core.usable_cpu_ids", lambda: (0,))
    assert Engine.load(Settings(), mode="video").mesh_workers == 1


def test_the_crowd_clip_is_written_with_its_frames(tmp_path: Path) -> None:
    from faceweave.lab.crowd import write_crowd_clip
    from faceweave.media.video_io import probe_video

    spec = CrowdSpec(clips=(), photos=(sample_path("hopper"),), seconds=0.5, fps=8, size_wh=(640, 360))
    info = probe_video(write_crowd_clip(spec, tmp_path / "crowd.mp4"))
    assert (info.width, info.height, info.frames) == (640, 360, 4)


def test_faces_not_swapped_are_meshed_less_and_the_swap_is_the_same(
    crowd: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one face swapped (selector largest), the other tracks are re-meshed every BYSTANDER_SECONDS (12 frames at
    25 fps): the swapped frames are byte-identical to meshing every track on every frame, at a fraction of the
    meshing."""
    from faceweave.analysis.mesh import MeshEstimator

    calls = [0]
    original_call = MeshEstimator.__call__

    def counted(self: MeshEstimator, rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        calls[0] += 1
        return original_call(self, rgb, box)

    monkeypatch.setattr(MeshEstimator, "__call__", counted)
    bgr = [np.ascontiguousarray(rgb[..., ::-1]) for rgb in crowd]
    outputs, counts = [], []
    for focused in (False, True):
        if not focused:
            monkeypatch.setattr(FaceTracker, "focus", lambda self, tracks: None)
        else:
            monkeypatch.undo()
            monkeypatch.setattr(MeshEstimator, "__call__", counted)
        calls[0] = 0
        engine = Engine.load(Settings(watermark=False, selector="largest"), mode="video")
        bindings, stream = engine.bind([sample_path("hopper")]), engine.stream()
        outputs.append([engine.process(frame, bindings, stream, seconds=i / 25).image for i, frame in enumerate(bgr)])
        counts.append(calls[0])
    assert all(np.array_equal(a, b) for a, b in zip(*outputs, strict=True))
    assert counts[1] < 0.7 * counts[0], counts


def test_warm_graphs_are_taken_first_and_mesh_as_new_ones_do(crowd: list[np.ndarray]) -> None:
    """A live engine readies Face Mesh graphs at load (a graph's first image is the slow one); trackers take them
    for new faces, and a graph that has seen another face meshes exactly as a new one (no state between images)."""
    cold = Engine.load(Settings(), mode="video")
    warm = Engine.load(Settings(), mode="video")
    warm.analyser.warm_graphs(2)
    assert len(warm.analyser._warm) == 2
    a, b = cold.analyser.new_tracker(), warm.analyser.new_tracker()
    for i, rgb in enumerate(crowd[:3]):
        one, two = a.update(rgb, seconds=i / 8), b.update(rgb, seconds=i / 8)
        assert np.array_equal(one.mesh, two.mesh) and len(one) >= 2
    assert warm.analyser._warm == []  # both taken by the first frame's new faces
    assert Engine.load(Settings(), mode="live").analyser._warm  # live engines warm theirs at load


def test_a_crowd_found_at_once_costs_its_first_frame_one_mesh_when_only_the_largest_is_swapped(
    crowd: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live with `--selector largest`: before a face is followed, the engine focuses the tracker on its largest track.
    A detection that finds a crowd (on the lookout thread, adopted a few frames later) then costs the next frame the
    largest face's mesh (and the bystanders' turns), not one mesh per face (measured: 40 ms → 9 ms for 9 faces
    at 720p, a dropped frame before); with no focus every track is re-meshed."""
    from faceweave.analysis.mesh import MeshEstimator

    monkeypatch.setattr("faceweave.analysis.track.BYSTANDER_SECONDS", 1000.0)  # no bystander's turn comes up here
    engine = Engine.load(Settings(), mode="live")
    bindings = engine.bind([sample_path("hopper")])
    counts = []
    for lead in (False, True):
        stream = engine.stream()
        tracker = stream.tracker
        for seconds in (0.0, 1 / 60):
            tracker.update(crowd[0], seconds=seconds, detect=False)  # frames without faces yet
        if lead:
            empty = engine.analyse(np.zeros_like(crowd[0]), bindings, stream, faces=Faces.empty())
            assert empty.assignments == () and tracker._lead_largest and tracker._focus == frozenset()
        tracker.adopt(tracker.find_new(crowd[0], tracker.scene))  # as the live lookout hands a detection over
        tracks = len(tracker._tracks)
        assert tracks >= 3, "the crowd should hold several faces"
        largest = max(tracker._tracks, key=lambda track: float(np.ptp(track.mesh[:, 0])))
        calls: list[int] = []
        original = MeshEstimator.__call__

        def counted(
            self: MeshEstimator, rgb: np.ndarray, box: np.ndarray, original: Any = original, calls: list[int] = calls
        ) -> Any:
            calls.append(id(self))
            return original(self, rgb, box)

        monkeypatch.setattr(MeshEstimator, "__call__", counted)
        faces = tracker.update(crowd[1], seconds=2 / 60, detect=False)
        monkeypatch.setattr(MeshEstimator, "__call__", original)
        counts.append(len(calls))
        if lead:
            assert id(largest.estimator) in calls, "the largest face is meshed on this frame"
            assert len(faces) == tracks
    assert counts[0] == tracks and counts[1] == 1, (counts, tracks)
