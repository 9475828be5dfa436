"""Live mode: camera or stream (or a file played in real time) → Engine → window / browser / virtual camera / file.

The capture thread keeps only the newest frame, so the swap always works on the freshest picture and frames
leave in capture order; latency is measured from a frame's arrival to the moment every sink has it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np

from faceweave.analysis.track import FaceTracker, NewFaces
from faceweave.engine import Bindings, Engine, FrameResult, ImageInput, Prepared, Stream, load_photos
from faceweave.errors import FaceweaveError, UsageError
from faceweave.faces import Faces
from faceweave.live.capture import CapturedFrame, FrameGrabber, SourceInfo, open_camera, open_input
from faceweave.live.sinks import Controls, MjpegSink, RecordSink, Sink, VirtualCameraSink, WindowSink
from faceweave.media.video_writer import check_video_output
from faceweave.runtime import pin_threads, usable_cpu_ids
from faceweave.settings import Settings
from faceweave.types import Image

log = logging.getLogger(__name__)

HANDOFF_SLACK_MS = 2.0  # start the next analysis this much early: a late one stalls the swap
REPIN_EVERY = 30  # frames between re-pinning MediaPipe's graph threads (a new face brings a new graph)
GRAPH_THREADS = "mediapipe"  # the OS thread name prefix of MediaPipe's graph threads


def split_cpus(cpus: Sequence[int] | None = None) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The usable CPUs (or `cpus`) in two halves, (swap, analysis); None with fewer than two or no affinity control.

    Example: ``split_cpus([0, 1, 2])`` gives ``((0,), (1, 2))``
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    usable = tuple(cpus) if cpus is not None else usable_cpu_ids()
    if len(usable) < 2:
        return None
    half = len(usable) // 2
    return usable[:half], usable[half:]


@dataclasses.dataclass(frozen=True)
class LiveSummary:
    """What a live run did: frames shown, frames captured and dropped, throughput and latency."""

    frames: int
    captured: int
    dropped: int
    seconds: float
    fps: float
    p50_latency_ms: float
    p95_latency_ms: float
    analyse_ms: float
    swap_ms: float
    output_ms: float
    interrupted: bool
    analyse_p95_ms: float = 0.0
    """The 95th percentile of each stage, where a latency tail comes from (the medians above hide it)."""
    swap_p95_ms: float = 0.0
    output_p95_ms: float = 0.0

    def to_json(self) -> dict[str, float | int | bool]:
        """Plain data (rounded) for printing."""
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class _Analysed:
    frame: CapturedFrame
    prepared: Prepared
    analyse_ms: float


class _Handoff:
    """Passes one analysed frame at a time from the analysis thread to the swap, started just in time.

    The analysis of the next frame begins once the swap has taken the current one, and then only when the
    swap has about as long left as the analysis takes (running averages of both), so no analysed frame
    waits, growing stale, while the swap catches up: the same throughput with the latency of the two
    stages alone. The waiting also leaves the cores to the swap.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._items: queue.Queue[_Analysed | None] = queue.Queue(maxsize=1)
        self._taken = threading.Event()
        self._taken.set()
        self._swap_ms = 0.0
        self._analyse_ms = 0.0

    def wait_turn(self) -> bool:
        """(Analysis thread) block until it is time to analyse the next frame; False when stopping."""
        while not self._taken.wait(0.1):
            if self.stop.is_set():
                return False
        lead_ms = self._swap_ms - self._analyse_ms - HANDOFF_SLACK_MS
        if lead_ms > 0:
            self.stop.wait(min(lead_ms, 1000.0) / 1000)
        return not self.stop.is_set()

    def put(self, item: _Analysed) -> bool:
        """(Analysis thread) hand over an analysed frame; False when stopping."""
        self._analyse_ms = _average(self._analyse_ms, item.analyse_ms)
        self._taken.clear()
        while not self.stop.is_set():
            try:
                self._items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def finish(self) -> None:
        """(Analysis thread) tell the swap there is nothing more."""
        with contextlib.suppress(queue.Full):
            self._items.put(None, timeout=1.0)

    def get(self) -> _Analysed | None:
        """(Swap thread) the next analysed frame, or None at the end."""
        item = self._items.get()
        self._taken.set()
        return item

    def swapped(self, milliseconds: float) -> None:
        """(Swap thread) how long the swap and output of a frame took."""
        self._swap_ms = _average(self._swap_ms, milliseconds)

    def drain(self) -> None:
        """(Swap thread, when stopping) unblock the analysis thread."""
        with contextlib.suppress(queue.Empty):
            self._items.get_nowait()
        self._taken.set()


class _Lookout:
    """Runs the tracker's detector (and the first Face Mesh of each new face) on a thread of its own.

    Tracked faces are followed on every frame by the analysis thread; a detection (every `live_detect_every`
    frames, after a lost track or a scene cut: 5–10 ms, plus ~10 ms per new face) runs beside it on the frame
    that asked for it, and its new faces join the tracks on the first frame analysed after it finishes. So a
    detection no longer lands in one frame's latency, and frames keep flowing (unswapped) while a face is
    being found. With `beside=False` (a source that waits for the consumer: every frame is processed, none is
    late) the detection runs in place, as for a video file.
    """

    def __init__(self, tracker: FaceTracker, beside: bool) -> None:
        self._tracker = tracker
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="faceweave-live-detect") if beside else None
        self._pending: Future[NewFaces] | None = None

    def __call__(self, image: Image, seconds: float) -> Faces:
        """(Analysis thread) the tracked faces of a BGR frame; starts a detection on it when one is due."""
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        tracker = self._tracker
        if self._executor is None:
            return tracker.update(rgb, seconds)
        if self._pending is not None and self._pending.done():
            self.settle()
        faces = tracker.update(rgb, seconds, detect=False)
        if self._pending is None and tracker.take_detection():
            self._pending = self._executor.submit(tracker.find_new, rgb, tracker.scene)
        return faces

    def settle(self) -> None:
        """(Analysis thread) wait for a running detection and hand its faces to the tracker."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._tracker.adopt(pending.result())

    def close(self) -> None:
        """Wait for a running detection (its Face Mesh graphs go back to the tracker) and end the thread."""
        try:
            self.settle()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)


def _average(mean: float, value: float) -> float:
    return value if mean == 0 else 0.8 * mean + 0.2 * value


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


class _Meter:
    """Running fps (exponential average of frame intervals) and per-frame samples for the summary."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.stages: list[tuple[float, float, float]] = []
        self.first: float | None = None
        self.last: float | None = None
        self.fps = 0.0

    def add(self, done: float, latency: float, stages: tuple[float, float, float]) -> None:
        if self.last is not None and done > self.last:
            rate = 1.0 / (done - self.last)
            self.fps = rate if self.fps == 0 else 0.9 * self.fps + 0.1 * rate
        self.first = self.first if self.first is not None else done
        self.last = done
        self.latencies.append(latency)
        self.stages.append(stages)


def draw_hud(frame: Image, fps: float, latency_ms: float, faces: int) -> Image:
    """A copy of the frame with fps, latency and face count in the top-left corner."""
    text = f"{fps:5.1f} fps  {latency_ms:5.1f} ms  {faces} face{'s' if faces != 1 else ''}"
    scale = max(0.5, frame.shape[0] / 1080)
    hud = frame.copy()
    origin = (int(12 * scale), int(34 * scale))
    cv2.putText(hud, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), int(4 * scale) + 1, cv2.LINE_AA)
    cv2.putText(hud, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (80, 255, 80), int(2 * scale), cv2.LINE_AA)
    return hud


class LiveSession:
    """Runs an engine on a live source until it ends, `stop()` is called, a window gets q, or Ctrl-C.

    Example:
        >>> engine = Engine.load(Settings(), mode="live")  # doctest: +SKIP
        >>> info, frames = open_input("clip.mp4")  # doctest: +SKIP
        >>> grabber = FrameGrabber(frames, realtime=True, drop=True)  # doctest: +SKIP
        >>> LiveSession(engine, engine.bind(["me.jpg"]), grabber, []).run().fps  # doctest: +SKIP
    """

    def __init__(
        self,
        engine: Engine,
        bindings: Bindings,
        grabber: FrameGrabber,
        sinks: Sequence[Sink],
        controls: Controls | None = None,
        pin_cpus: bool = True,
    ) -> None:
        self.engine = engine
        self.bindings = bindings
        """Who the faces become; replaced between two frames by `set_source` (on the analysis thread)."""
        self.grabber = grabber
        self.sinks = list(sinks)
        self.controls = controls or Controls()
        self.pin_cpus = pin_cpus
        self._meter = _Meter()
        self._failure: BaseException | None = None

    def set_source(self, paths: Sequence[str | os.PathLike[str]]) -> Future[None]:
        """Switch to other source photos while running (applied between two frames; the future says when)."""
        return self.controls.request_source([os.fspath(p) for p in paths])

    def stop(self) -> None:
        """Ask the loop to finish after the current frame (thread-safe)."""
        self.controls.stop.set()

    def run(self, max_frames: int | None = None) -> LiveSummary:
        """Process frames until the source ends or a stop; always closes the sinks (a recording stays playable).

        Two stages overlap on two threads: `Engine.analyse` (tracking, Face Mesh, and each large face's atlas
        look-up) of the newest frame runs while the previous frame is rendered and sent out, started just
        in time (see _Handoff); OpenCV and MediaPipe release the GIL while they work. With `pin_cpus` (and two or
        more CPUs) the swap (this thread) runs on one half of the CPUs, the analysis thread and MediaPipe's graph
        threads on the other, until the run ends: unpinned, a thread woken mid-frame often queued behind the other
        stage while a core sat idle (figures: docs/live.md).
        """
        began, interrupted = time.perf_counter(), False
        stream = self.engine.stream()
        halves = split_cpus() if self.pin_cpus else None
        own = usable_cpu_ids()
        if halves is not None:
            try:
                os.sched_setaffinity(0, halves[0])  # 0: this thread
            except OSError as error:  # the CPUs were taken from us meanwhile (a changed cpuset): run unpinned
                log.warning("live: could not pin to CPUs %s (%s)", list(halves[0]), error)
                halves = None
        handoff = _Handoff(self.controls.stop)
        lookout = _Lookout(stream.tracker, beside=self.grabber.drop)
        worker = threading.Thread(
            target=self._analyse_loop,
            args=(handoff, lookout, stream, halves[1] if halves else None),
            name="faceweave-live-analyse",
        )
        worker.start()
        try:
            while max_frames is None or len(self._meter.latencies) < max_frames:
                item = handoff.get()
                if item is None:
                    break
                started = time.perf_counter()
                self._step(item, stream)
                handoff.swapped((time.perf_counter() - started) * 1000)
        except KeyboardInterrupt:
            interrupted = True
            log.info("live: interrupted, finishing outputs")
        finally:
            self.controls.stop.set()
            handoff.drain()
            worker.join()
            if halves is not None:  # the engine may serve on: its threads get every CPU back
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, own)
                    pin_threads(own, GRAPH_THREADS)
            self.close()
        if self._failure is not None:
            raise self._failure
        return self._summary(time.perf_counter() - began, interrupted)

    def _analyse_loop(self, handoff: _Handoff, lookout: _Lookout, stream: Stream, cpus: tuple[int, ...] | None) -> None:
        """(Analysis thread) `cpus`: where it and MediaPipe's graph threads run (None: not pinned)."""
        turns = 0
        try:
            while handoff.wait_turn():
                if cpus is not None and turns % REPIN_EVERY == 0:
                    with contextlib.suppress(OSError):  # CPUs taken from us: the threads run where they can
                        os.sched_setaffinity(0, cpus)
                        pin_threads(cpus, GRAPH_THREADS)  # also the graphs made since (the lookout's, for new faces)
                turns += 1
                self._apply_requests(lookout)  # here: this thread owns the analyser's models
                frame = self.grabber.get(timeout=0.1)
                if frame is None:
                    if self.grabber.ended:
                        break
                    continue
                began = time.perf_counter()
                faces = lookout(frame.image, frame.seconds)
                prepared = self.engine.analyse(frame.image, self.bindings, stream, faces=faces)
                if not handoff.put(_Analysed(frame, prepared, (time.perf_counter() - began) * 1000)):
                    break
        except BaseException as exc:  # re-raised by run() on the caller's thread
            self._failure = exc
        finally:
            try:
                lookout.close()
            except BaseException as exc:
                self._failure = self._failure or exc
            handoff.finish()

    def close(self) -> None:
        """Stop the capture and close every sink (finalising a recording); errors of one sink do not skip others."""
        self.grabber.close()
        errors = close_sinks(self.sinks)
        self.sinks = []
        if errors:
            raise errors[0]

    def _step(self, item: _Analysed, stream: Stream) -> FrameResult:
        frame = item.frame
        result = self.engine.render(frame.image, item.prepared, stream)
        output = time.perf_counter()
        shown = result.image
        if self.controls.hud and any(sink.overlay for sink in self.sinks):
            latency = (self._meter.latencies[-1] if self._meter.latencies else 0.0) * 1000
            shown = draw_hud(result.image, self._meter.fps, latency, len(result.faces))
        for sink in self.sinks:
            sink.send(shown if sink.overlay else result.image, frame)
        done = time.perf_counter()
        render_ms = result.stage_ms[1]
        self._meter.add(done, done - frame.captured, (item.analyse_ms, render_ms, (done - output) * 1000))
        return result

    def _apply_requests(self, lookout: _Lookout) -> None:
        while True:
            try:
                paths, done = self.controls.requests.get_nowait()
            except queue.Empty:
                return
            lookout.settle()  # the detector is the lookout's while a detection runs
            try:
                self.bindings = self._rebound(paths)
            except FaceweaveError as exc:
                log.warning("live: source not changed: %s", exc)
                done.set_exception(exc)
            else:
                log.info("live: source changed to %s", ", ".join(map(str, paths)))
                done.set_result(None)

    def _rebound(self, paths: Sequence[str]) -> Bindings:
        """Bindings of new source photos (the reference of a single binding is kept)."""
        reference = self.bindings[0].reference if len(self.bindings) == 1 else None
        return (self.engine.binding(paths, reference),)

    def _summary(self, seconds: float, interrupted: bool) -> LiveSummary:
        meter = self._meter
        count = len(meter.latencies)
        span = (meter.last or 0.0) - (meter.first or 0.0)
        fps = (count - 1) / span if count > 1 and span > 0 else 0.0
        stages = np.array(meter.stages, np.float64).reshape(-1, 3)
        medians = [statistics.median(stages[:, i]) if count else 0.0 for i in range(3)]
        tails = [float(np.percentile(stages[:, i], 95)) if count else 0.0 for i in range(3)]
        return LiveSummary(
            frames=count,
            captured=self.grabber.captured,
            dropped=self.grabber.dropped,
            seconds=seconds,
            fps=fps,
            p50_latency_ms=_percentile(meter.latencies, 50) * 1000,
            p95_latency_ms=_percentile(meter.latencies, 95) * 1000,
            analyse_ms=float(medians[0]),
            swap_ms=float(medians[1]),
            output_ms=float(medians[2]),
            interrupted=interrupted,
            analyse_p95_ms=tails[0],
            swap_p95_ms=tails[1],
            output_p95_ms=tails[2],
        )


@dataclasses.dataclass(frozen=True)
class LiveOptions:
    """Where frames come from and go to (the `faceweave live` flags)."""

    camera: int | None = None
    input: str | None = None
    realtime: bool = False
    record: str | None = None
    serve: int | None = None
    window: bool = False
    virtual_camera: bool = False
    hud: bool = True

    def check(self) -> None:
        """UsageError for contradictory options (before anything opens)."""
        if (self.camera is None) == (self.input is None):
            raise UsageError("give exactly one of --camera N or --input FILE_OR_URL")
        if self.realtime and self.input is None:
            raise UsageError("--realtime applies to --input files (a camera is real time already)")
        if self.serve is not None and not 0 <= self.serve <= 65535:
            raise UsageError(f"--serve must be a port between 0 and 65535, got {self.serve}")
        if self.record is not None:
            check_video_output(self.record)


def open_source(options: LiveOptions) -> tuple[SourceInfo, Callable[[], FrameGrabber]]:
    """Open the camera or input (DeviceError / MediaError when it cannot be); the callable starts capturing."""
    if options.camera is not None:
        info, frames = open_camera(options.camera)
        return info, lambda: FrameGrabber(frames, realtime=False, drop=True)
    assert options.input is not None
    info, frames = open_input(options.input)
    stream = "://" in options.input and not options.input.startswith("file://")
    realtime = options.realtime and not stream
    return info, lambda: FrameGrabber(frames, realtime=realtime, drop=realtime or stream)


def create_sinks(options: LiveOptions, info: SourceInfo, controls: Controls, settings: Settings) -> list[Sink]:
    """The sinks the options ask for (a recording labelled and watermarked under `settings`); on failure those
    already made are closed again."""
    sinks: list[Sink] = []
    try:
        if options.record is not None:
            sinks.append(RecordSink(options.record, info, settings))
        if options.serve is not None:
            server = MjpegSink(controls, options.serve)
            log.warning("live view: %s", server.url)
            sinks.append(server)
        if options.window:
            sinks.append(WindowSink(controls))
        if options.virtual_camera:
            sinks.append(VirtualCameraSink(info))
    except BaseException:
        _close_after_failure(sinks)
        raise
    return sinks


def close_sinks(sinks: Sequence[Sink]) -> list[Exception]:
    """Close every sink (finalising a recording), even when one fails; returns the errors, first first."""
    errors: list[Exception] = []
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:
            errors.append(exc)
    return errors


def _close_after_failure(sinks: Sequence[Sink]) -> None:
    """Close the sinks opened before a later step failed; their own errors are logged, the failure is raised."""
    for error in close_sinks(sinks):
        log.warning("live: closing a sink after a failed start: %s", error)


def create_session(
    settings: Settings, sources: Sequence[ImageInput], options: LiveOptions, references: Sequence[ImageInput] = ()
) -> LiveSession:
    """Check options, open the source (fails fast on a missing camera) and the sinks (on a missing display or
    virtual camera), then load the models; whatever was opened is closed again when a later step fails."""
    options.check()
    info, start = open_source(options)
    controls = Controls(hud=options.hud)
    sinks = create_sinks(options, info, controls, settings)
    try:  # every photo is read before any model loads: a bad path fails in milliseconds
        photos, loaded_references = load_photos(sources, references, settings)
        engine = Engine.load(settings, mode="live")
        bindings = engine.bind(photos, loaded_references)
    except BaseException:
        _close_after_failure(sinks)
        raise
    return LiveSession(engine, bindings, start(), sinks, controls)
