"""Tracking (ids across frames, detector every N frames) and temporal smoothing (jitter down, no rigid lag)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from clip_factory import face_frames, write_clip

from faceweave.analysis.detect import Detections
from faceweave.analysis.smooth import MeshSmoother, OneEuroFilter
from faceweave.compose.color import GainSmoother
from faceweave.engine import BoundEngine, Engine, Stream
from faceweave.geometry.topology import load_topology
from faceweave.media.video_io import VideoReader
from faceweave.samples import sample_path
from faceweave.settings import Settings

FloatArray = npt.NDArray[np.float32]


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames of a real face moving left to right, then 3 frames without it."""
    frames, boxes = face_frames((320, 240), 15, with_face=12)
    return write_clip(tmp_path_factory.mktemp("track") / "moving.mp4", frames, boxes=boxes).path


def _run(settings: Settings, clip: Path) -> tuple[Stream, list[tuple[int, ...]], list[int]]:
    swap = BoundEngine.load(settings, [sample_path("hopper")], mode="video")
    stream = swap.engine.stream()
    analyser = swap.analyser
    calls: list[int] = []
    detect = analyser.detect

    def counting(rgb: npt.NDArray[np.uint8]) -> Detections:
        calls.append(len(calls))
        return detect(rgb)

    analyser.detect = counting  # type: ignore[method-assign]
    ids = []
    with VideoReader(clip) as reader:
        for frame in reader:
            result = swap.process(frame.image, stream, seconds=float(frame.seconds))
            ids.append(tuple(int(i) for i in result.faces.tracks))
    return stream, ids, calls


def test_track_id_kept_and_detector_runs_every_n_frames(moving_clip: Path) -> None:
    stream, ids, calls = _run(Settings(detect_every=5), moving_clip)
    assert ids[:12] == [(0,)] * 12  # one face, one id, from the first frame to the last
    assert ids[12:] == [(), (), ()]  # the face left: no faces, no stale track
    stats = stream.tracker.stats
    assert stats.tracks_started == 1
    # frames 0, 5, 10 (schedule) + 12 (track lost); the empty frames 13, 14 wait for the schedule
    assert len(calls) == stats.detections == 4


def test_detect_every_frame_when_asked(moving_clip: Path) -> None:
    _, ids, calls = _run(Settings(detect_every=1), moving_clip)
    assert ids[:12] == [(0,)] * 12
    assert len(calls) == 15


def _head(count: int, speed: float, noise: float, seed: int = 0) -> tuple[list[FloatArray], list[FloatArray]]:
    """Synthetic meshes: the canonical face scaled to ~200 px, moving right at `speed` px/frame, plus noise."""
    canonical = load_topology().canonical
    rng = np.random.default_rng(seed)
    truth, noisy = [], []
    for t in range(count):
        mesh = (canonical * 75 + np.array([300 + speed * t, 240, 0])).astype(np.float32)
        truth.append(mesh)
        noisy.append((mesh + rng.normal(0, noise, mesh.shape)).astype(np.float32))
    return truth, noisy


@pytest.mark.parametrize(
    ("mode", "max_jitter_ratio"),
    [
        ("rigid", 0.6),  # landmark noise on a still head: clearly reduced
        ("naive", 0.6),  # image-space smoothing reduces it too on a still head
    ],
)
def test_smoothing_reduces_jitter(mode: str, max_jitter_ratio: float) -> None:
    truth, noisy = _head(60, speed=0.0, noise=1.0)
    smoother = MeshSmoother(load_topology().canonical, mode, 0.8)  # type: ignore[arg-type]
    smoothed = [smoother(m, 1 / 30) for m in noisy]
    before = np.mean([np.abs(n - t)[:, :2].mean() for n, t in zip(noisy[20:], truth[20:], strict=True)])
    after = np.mean([np.abs(s - t)[:, :2].mean() for s, t in zip(smoothed[20:], truth[20:], strict=True)])
    assert after < max_jitter_ratio * before


def test_rigid_smoothing_does_not_lag_head_motion_but_naive_does() -> None:
    truth, noisy = _head(60, speed=8.0, noise=0.5)  # 240 px/s to the right
    canonical = load_topology().canonical
    lags = {}
    for mode in ("rigid", "naive"):
        smoother = MeshSmoother(canonical, mode, 0.8)  # type: ignore[arg-type]
        smoothed = [smoother(m, 1 / 30) for m in noisy]
        lags[mode] = float(np.mean([(t - s)[:, 0].mean() for s, t in zip(smoothed[20:], truth[20:], strict=True)]))
    assert abs(lags["rigid"]) < 0.3  # the pose is the current frame's: no lag
    assert lags["naive"] > 1.0  # image-space smoothing trails the motion


def test_one_euro_first_value_passes_and_gain_smoother_resizes() -> None:
    f = OneEuroFilter(1.0, 0.0)
    assert np.array_equal(f(np.ones((3, 2), np.float32)), np.ones((3, 2)))
    gain = GainSmoother(0.5)
    gain(np.ones((4, 6, 3), np.float32))
    second = gain(np.full((8, 12, 3), 3.0, np.float32))
    assert second.shape == (8, 12, 3)
    assert np.allclose(second, 2.0)


def _frames(clip: Path) -> list[npt.NDArray[np.uint8]]:
    with VideoReader(clip) as reader:
        return [np.ascontiguousarray(frame.image[..., ::-1]) for frame in reader]


def test_detection_handed_over_later_starts_the_same_track(moving_clip: Path) -> None:
    """Live runs the detector beside the tracker: a detection of one frame adopted on the next frame gives the track
    that a detection in place gives, and the frames in between stay tracked without the detector."""
    frames = _frames(moving_clip)
    inline = Engine.load(Settings(detect_every=5), mode="video").stream().tracker
    beside = Engine.load(Settings(detect_every=5), mode="video").stream().tracker
    expected = [inline.update(rgb, seconds=i / 25) for i, rgb in enumerate(frames[:6])]
    assert beside.update(frames[0], seconds=0.0, detect=False).mesh.shape[0] == 0  # nothing tracked yet
    assert beside.take_detection() and not beside.take_detection()  # claimed once
    found = beside.find_new(frames[0], beside.scene)
    assert len(found.faces) == 1
    beside.adopt(found)
    got = [beside.update(rgb, seconds=i / 25, detect=False) for i, rgb in enumerate(frames[1:6], start=1)]
    assert [tuple(f.tracks) for f in got] == [(0,)] * 5
    for want, have in zip(expected[1:], got, strict=True):
        assert float(np.linalg.norm(want.mesh[0, 4, :2] - have.mesh[0, 4, :2])) < 2.0  # nose tips agree
    assert beside.stats.detections == 1 and beside.take_detection()  # frame 5: the schedule asks again


def test_faces_found_before_a_scene_change_are_not_adopted(moving_clip: Path) -> None:
    frames = _frames(moving_clip)
    tracker = Engine.load(Settings(), mode="video").stream().tracker
    found = tracker.find_new(frames[0], tracker.scene)
    assert len(found.faces) == 1
    tracker.reset()  # a reset (or a cut) while the detection ran: its faces belong to the old scene
    tracker.adopt(found)
    assert tracker.update(frames[2], detect=False).mesh.shape[0] == 0
    assert tracker.stats.tracks_started == 0
