"""Live mode: newest-frame capture, sessions over a file (ends cleanly, recording playable), bad inputs."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from clip_factory import face_frames, write_clip

from faceweave import cli
from faceweave.engine import BoundEngine
from faceweave.errors import DeviceError
from faceweave.live.capture import CapturedFrame, FrameGrabber, open_camera, open_input
from faceweave.live.session import GRAPH_THREADS, LiveOptions, LiveSession, create_session, split_cpus
from faceweave.live.sinks import RecordSink
from faceweave.media.video_io import VideoReader, probe_video
from faceweave.runtime import usable_cpu_ids
from faceweave.samples import sample_path
from faceweave.settings import Settings

Image = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 frames at 20 fps (1 s) of a real face moving over a background."""
    from fractions import Fraction

    frames, boxes = face_frames((320, 240), 20, with_face=20)
    return write_clip(tmp_path_factory.mktemp("live") / "clip.mp4", frames, fps=Fraction(20), boxes=boxes).path


@pytest.fixture(scope="module")
def pipeline() -> BoundEngine:
    return BoundEngine.load(Settings(), [sample_path("hopper")], mode="video")


def _numbered(count: int, interval: float) -> Iterator[tuple[Image, float]]:
    for i in range(count):
        time.sleep(interval)
        yield np.full((4, 4, 3), i, np.uint8), i * interval


def test_grabber_keeps_only_the_newest_frame_when_processing_is_slow() -> None:
    with FrameGrabber(_numbered(30, 0.005), realtime=False, drop=True) as grabber:
        seen = []
        while (frame := grabber.get(timeout=2.0)) is not None:
            seen.append(frame.index)
            time.sleep(0.03)  # a slow consumer
    assert seen == sorted(seen)  # capture order
    assert seen[-1] == 29  # the newest frame is never lost
    assert len(seen) < 20 and grabber.dropped == 30 - len(seen)


def test_grabber_without_drop_delivers_every_frame() -> None:
    with FrameGrabber(_numbered(10, 0.0), realtime=False, drop=False) as grabber:
        seen = []
        while (frame := grabber.get(timeout=2.0)) is not None:
            seen.append(frame.index)
            time.sleep(0.005)
    assert seen == list(range(10)) and grabber.dropped == 0


def test_missing_camera_is_a_device_error_with_its_own_exit_code() -> None:
    with pytest.raises(DeviceError, match="camera 97"):
        open_camera(97)
    assert cli.main(["live", "--source", str(sample_path("hopper")), "--camera", "97"]) == cli.EXIT_DEVICE


def test_live_file_session_ends_cleanly_and_records_every_frame(
    clip: Path, pipeline: BoundEngine, tmp_path: Path
) -> None:
    info, frames = open_input(str(clip))
    record = tmp_path / "live.mp4"
    session = LiveSession(
        pipeline.engine,
        pipeline.bindings,
        FrameGrabber(frames, realtime=False, drop=False),
        [RecordSink(record, info, Settings())],
    )
    summary = session.run()
    assert summary.frames == summary.captured == 20 and summary.dropped == 0
    assert probe_video(record).frames == 20
    assert not list(tmp_path.glob(".*.part"))
    # frame by frame (no drops) the detector runs in place, as for a video file: every frame is swapped
    _, boxes = face_frames((320, 240), 20, with_face=20)
    changed = []
    with VideoReader(clip) as original, VideoReader(record) as recorded:
        for a, b, box in zip(original, recorded, boxes, strict=True):
            assert box is not None
            x0, y0, x1, y1 = box
            face = (slice((3 * y0 + y1) // 4, (y0 + 3 * y1) // 4), slice((3 * x0 + x1) // 4, (x0 + 3 * x1) // 4))
            changed.append(float(np.abs(a.image[face].astype(np.int16) - b.image[face]).mean()))
    assert min(changed) > 10, changed


def test_live_realtime_plays_at_native_rate_and_source_can_change(clip: Path, tmp_path: Path) -> None:
    options = LiveOptions(input=str(clip), realtime=True, record=str(tmp_path / "rt.mp4"))
    session = create_session(Settings(), [sample_path("hopper")], options)
    changed = session.set_source([sample_path("astronaut")])
    began = time.perf_counter()
    summary = session.run()
    assert time.perf_counter() - began >= 0.9  # 20 frames at 20 fps
    assert changed.result(timeout=5) is None
    assert summary.frames + summary.dropped == 20
    assert probe_video(tmp_path / "rt.mp4").frames == summary.frames


class _Collect:
    """A sink keeping (capture index, frame) pairs."""

    overlay = False

    def __init__(self) -> None:
        self.frames: list[tuple[int, Image]] = []

    def send(self, frame: Image, captured: CapturedFrame) -> None:
        self.frames.append((captured.index, frame))

    def close(self) -> None:
        pass


def test_realtime_session_finds_the_face_beside_the_tracker_and_swaps_it(clip: Path, pipeline: BoundEngine) -> None:
    """A real-time source runs the detector on a thread of its own: the first frame or two pass unswapped while
    the face is found, every later frame is swapped (face centre changed well beyond the encoding noise)."""
    _, frames = open_input(str(clip))
    sink = _Collect()
    LiveSession(pipeline.engine, pipeline.bindings, FrameGrabber(frames, realtime=True, drop=True), [sink]).run()
    originals, boxes = face_frames((320, 240), 20, with_face=20)
    changed = {}
    for index, image in sink.frames:
        box = boxes[index]
        assert box is not None
        x0, y0, x1, y1 = box
        face = (slice((3 * y0 + y1) // 4, (y0 + 3 * y1) // 4), slice((3 * x0 + x1) // 4, (x0 + 3 * x1) // 4))
        changed[index] = float(np.abs(originals[index][face].astype(np.int16) - image[face]).mean())
    assert len(changed) >= 15
    swapped = [index for index, change in changed.items() if change > 10]
    assert swapped and min(swapped) <= 5, changed
    assert swapped == [index for index in changed if index >= min(swapped)], changed


def test_source_that_fails_midway_ends_cleanly_and_recording_stays_playable(
    pipeline: BoundEngine, tmp_path: Path
) -> None:
    def dropping() -> Iterator[tuple[Image, float]]:
        for i in range(5):
            yield np.full((120, 160, 3), 40 * i, np.uint8), i / 10
        raise OSError("connection reset by peer")

    from faceweave.live.capture import SourceInfo

    record = tmp_path / "dropped.mp4"
    grabber = FrameGrabber(dropping(), realtime=False, drop=False)
    session = LiveSession(
        pipeline.engine, pipeline.bindings, grabber, [RecordSink(record, SourceInfo("x", 160, 120, 10), Settings())]
    )  # type: ignore[arg-type]
    summary = session.run()
    assert summary.frames == 5 and isinstance(grabber.error, OSError)
    assert probe_video(record).frames == 5


def test_stop_from_another_thread_finalises_the_recording(clip: Path, pipeline: BoundEngine, tmp_path: Path) -> None:
    info, frames = open_input(str(clip))
    record = tmp_path / "stopped.mp4"
    session = LiveSession(
        pipeline.engine,
        pipeline.bindings,
        FrameGrabber(frames, realtime=True, drop=True),
        [RecordSink(record, info, Settings())],
    )
    threading.Timer(0.3, session.stop).start()
    summary = session.run()
    assert 0 < summary.frames < 20
    assert probe_video(record).frames == summary.frames


def test_bench_live_json_line(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--live", "--input", str(clip), "--json"]) == cli.EXIT_OK
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["fps"] > 0 and figures["p95_latency_ms"] > 0
    for stage in ("analyse", "swap", "output"):  # where a latency tail comes from: each stage's p95 beside its median
        assert figures[f"{stage}_p95_ms"] >= figures[f"{stage}_ms"] >= 0
    assert figures["analyse_p95_ms"] > 0 and figures["swap_p95_ms"] > 0


def test_retimed_copy_plays_the_same_frames_faster(clip: Path, tmp_path: Path) -> None:
    from faceweave.lab.bench_video import resized_copy

    original = probe_video(clip)
    faster = probe_video(resized_copy(clip, None, tmp_path, fps=60))
    assert faster.fps == 60
    assert (faster.width, faster.height) == (original.width, original.height)
    assert faster.frames == original.frames
    assert not faster.has_audio  # the old audio would no longer match the frames


def test_handoff_starts_the_next_analysis_only_after_the_swap_took_the_last_one(pipeline: BoundEngine) -> None:
    from faceweave.faces import Faces
    from faceweave.live.capture import CapturedFrame
    from faceweave.live.session import _Analysed, _Handoff

    stop = threading.Event()
    handoff = _Handoff(stop)
    assert handoff.wait_turn()  # nothing in flight: go at once
    item = _Analysed(CapturedFrame(np.zeros((4, 4, 3), np.uint8), 0, 0.0, time.perf_counter()), Faces.empty(), 5.0)
    assert handoff.put(item)
    turns: list[bool] = []
    waiter = threading.Thread(target=lambda: turns.append(handoff.wait_turn()))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not turns  # the analysed frame has not been taken yet
    assert handoff.get() is item
    waiter.join(2.0)
    assert turns == [True]
    stop.set()
    assert not handoff.put(item) and not handoff.wait_turn()  # stopping: nothing more goes through
    handoff.finish()
    assert handoff.get() is None


def test_live_runs_the_detector_less_often_than_video() -> None:
    from faceweave.engine import Profile

    settings = Settings(detect_every=5, live_detect_every=30)
    assert Profile.resolve(settings, "live").settings_for(settings).detect_every == 30
    assert Profile.resolve(settings, "video").settings_for(settings).detect_every == 5
    assert Profile.resolve(Settings(live_detect_every=3), "live").detect_every == 3


def test_live_recording_is_labelled_and_watermarked_like_every_output(clip: Path, tmp_path: Path) -> None:
    """`faceweave live --record` writes the AI label into the container and the watermark into the frames."""
    from faceweave.provenance.inspect import inspect_file

    record = tmp_path / "live.mp4"
    argv = ["live", "-s", str(sample_path("hopper")), "--input", str(clip), "--record", str(record), "--no-hud"]
    assert cli.main(argv) == cli.EXIT_OK
    lines = inspect_file(record)
    assert any(line.startswith("label: faceweave") for line in lines), lines
    assert any(line.startswith("watermark: found") for line in lines), lines


@pytest.mark.parametrize(
    ("cpus", "expected"),
    [((0, 1), ((0,), (1,))), ((0, 1, 2), ((0,), (1, 2))), ((2, 5, 6, 7), ((2, 5), (6, 7))), ((3,), None)],
)
def test_split_cpus_gives_the_swap_and_the_analysis_halves_of_their_own(
    cpus: tuple[int, ...], expected: tuple[tuple[int, ...], tuple[int, ...]] | None
) -> None:
    assert split_cpus(cpus) == expected


def _graph_affinities() -> list[set[int]]:
    found = []
    for task in Path("/proc/self/task").iterdir():
        try:
            if (task / "comm").read_text().startswith(GRAPH_THREADS):
                found.append(os.sched_getaffinity(int(task.name)))
        except (OSError, FileNotFoundError):
            continue
    return found


class _Affinities(_Collect):
    """A sink noting, per frame, the CPUs of the thread that sends (the swap's) and of MediaPipe's graph threads."""

    def __init__(self) -> None:
        super().__init__()
        self.swap: list[set[int]] = []
        self.graphs: list[list[set[int]]] = []

    def send(self, frame: Image, captured: CapturedFrame) -> None:
        self.swap.append(os.sched_getaffinity(0))
        self.graphs.append(_graph_affinities())


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(usable_cpu_ids()) < 2, reason="needs 2 CPUs, Linux")
def test_a_session_pins_swap_and_analysis_to_halves_and_gives_the_cpus_back(clip: Path, pipeline: BoundEngine) -> None:
    halves = split_cpus()
    assert halves is not None
    before = os.sched_getaffinity(0)
    _, frames = open_input(str(clip))
    sink = _Affinities()
    LiveSession(pipeline.engine, pipeline.bindings, FrameGrabber(frames, realtime=False, drop=False), [sink]).run()
    assert sink.swap and all(cpus == set(halves[0]) for cpus in sink.swap)
    assert all(graphs and all(cpus == set(halves[1]) for cpus in graphs) for graphs in sink.graphs)
    assert os.sched_getaffinity(0) == before
    assert all(cpus == before for cpus in _graph_affinities())

    _, frames = open_input(str(clip))
    sink = _Affinities()
    LiveSession(
        pipeline.engine, pipeline.bindings, FrameGrabber(frames, realtime=False, drop=False), [sink], pin_cpus=False
    ).run()
    assert all(cpus == before for cpus in sink.swap)
