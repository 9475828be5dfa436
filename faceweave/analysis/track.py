"""Face tracking for video: track ids, detection every N frames or on loss, mesh cropped from the last mesh.

Per frame each live track runs Face Mesh (one graph per track) on a crop box that follows the face only when
it moves (a still face keeps an identical crop, so its mesh does not jitter by itself). With `workers` > 1 the
graphs of one frame run side by side on that many threads (each graph is used by one thread at a time, and MediaPipe
releases the GIL while a graph runs); the results, and every decision made from them, are the same as one by one.
The detector runs only every `detect_every` frames, when a track is lost, and after a scene cut. New detections
that no track covers start new tracks. Identity embeddings are cached per track, so reference matching costs one
embedding per new track, not one per frame.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import cv2
import numpy as np

from faceweave.analysis.detect import Detections
from faceweave.analysis.mesh import MeshEstimator, five_points, head_pose
from faceweave.analysis.smooth import DEFAULT_DT, MeshSmoother
from faceweave.compose.resample import shrink
from faceweave.faces import Faces
from faceweave.settings import Settings
from faceweave.types import FloatArray, Image

Detect = Callable[[Image], Detections]
Embed = Callable[[Faces], FloatArray]
_T = TypeVar("_T")

BYSTANDER_SECONDS = 0.5  # a track outside the focus is re-meshed this often (in turn, spread over the frames)
CUT_THRESHOLD = 28.0  # mean absolute grey difference (0–255) of 32×18 thumbnails that marks a shot change
MAX_SCALE_JUMP = 1.5  # a tracked mesh this much larger or smaller than the last one is a lost track
BOX_SLACK = 0.04  # the crop box moves only when the face moved more than this × its size (stable crops)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrackerStats:
    """Counters since the tracker was made: frames, detector runs, tracks started, scene cuts."""

    frames: int
    detections: int
    tracks_started: int
    cuts: int


class _Track:
    """One followed face: its own Face Mesh graph, last raw and smoothed mesh, and per-track caches."""

    def __init__(
        self,
        track_id: int,
        estimator: MeshEstimator,
        box: FloatArray,
        mesh: FloatArray,
        score: float,
        smoother: MeshSmoother,
    ) -> None:
        self.track_id = track_id
        self.estimator = estimator
        self.box = box
        self.anchor = mesh  # the mesh `box` was last placed from
        self.raw = mesh
        self.score = score
        self.smoother = smoother
        self.mesh = smoother(mesh)
        self.embedding: FloatArray | None = None
        self.idle = 0.0  # seconds since the last re-mesh, while out of the focus
        self.derived: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None  # (mesh, box, points, pose)


@dataclasses.dataclass(frozen=True)
class NewFace:
    """A detected face no track covered, meshed by the Face Mesh graph that will follow it."""

    box: FloatArray
    score: float
    mesh: FloatArray
    estimator: MeshEstimator


@dataclasses.dataclass(frozen=True)
class NewFaces:
    """The new faces a detection found on one frame; `scene`: the tracker's scene count when it was taken."""

    scene: int
    faces: tuple[NewFace, ...]


def mesh_box(mesh: FloatArray) -> FloatArray:
    """(4,) x1, y1, x2, y2 around the 468 face points of a mesh."""
    points = mesh[:468, :2]
    return np.concatenate([points.min(axis=0), points.max(axis=0)]).astype(np.float32)


def _box_size(box: FloatArray) -> float:
    return float(np.sqrt(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0)))


def follow_box(box: FloatArray, previous: FloatArray, mesh: FloatArray) -> FloatArray:
    """The crop box moved with the face: shifted with the nose, scaled with the mesh (keeps the detector's framing)."""
    ratio = _box_size(mesh_box(mesh)) / max(_box_size(mesh_box(previous)), 1.0)
    nose = mesh[4, :2]
    offset = ((box[:2] + box[2:]) / 2 - previous[4, :2]) * ratio
    half = (box[2:] - box[:2]) / 2 * ratio
    centre = nose + offset
    return np.concatenate([centre - half, centre + half]).astype(np.float32)


def plausible(previous: FloatArray, mesh: FloatArray) -> bool:
    """Whether a tracked mesh can follow the previous one (no jump in size or position)."""
    before, after = _box_size(mesh_box(previous)), _box_size(mesh_box(mesh))
    ratio = after / max(before, 1.0)
    moved = float(np.linalg.norm(mesh[4, :2] - previous[4, :2]))
    return 1 / MAX_SCALE_JUMP < ratio < MAX_SCALE_JUMP and moved < before


def covered(box: FloatArray, meshes: list[FloatArray]) -> bool:
    """Whether a detection box holds the nose of an already tracked mesh (or its centre lies in a mesh box)."""
    centre = (box[:2] + box[2:]) / 2
    for mesh in meshes:
        nose, own = mesh[4, :2], mesh_box(mesh)
        if box[0] <= nose[0] <= box[2] and box[1] <= nose[1] <= box[3]:
            return True
        if own[0] <= centre[0] <= own[2] and own[1] <= centre[1] <= own[3]:
            return True
    return False


def thumbnail(rgb: Image) -> FloatArray:
    """A 32×18 grey thumbnail, for scene-cut tests."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return shrink(grey, (32, 18)).astype(np.float32)  # INTER_AREA took 1.2 ms of a 720p frame, this 0.15


def _call(job: Callable[[], _T]) -> _T:
    return job()


class FaceTracker:
    """Follows faces through a video; `update(rgb, seconds)` gives the frame's Faces with track ids.

    Example:
        >>> tracker = FaceAnalyser(Settings(), mode="video").new_tracker()  # doctest: +SKIP
        >>> faces = tracker.update(rgb, seconds=0.0)  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings,
        detect: Detect,
        create_estimator: Callable[[], MeshEstimator],
        canonical: FloatArray,
        workers: int = 1,
    ) -> None:
        self.settings = settings
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._detect = detect
        self._create_estimator = create_estimator
        self._canonical = canonical
        self._pool: list[MeshEstimator] = []
        self._pool_lock = threading.Lock()  # find_new may borrow graphs on another thread (live detection)
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._since_detection = settings.detect_every
        self._due = True  # detect on the first frame
        self._scene = 0
        self._thumb: FloatArray | None = None
        self._seconds: float | None = None
        self._stats = TrackerStats(0, 0, 0, 0)
        self._focus: frozenset[int] | None = None
        self._lead_largest = False

    @property
    def stats(self) -> TrackerStats:
        """Counters since the tracker was made."""
        return self._stats

    @property
    def scene(self) -> int:
        """Counts scene cuts and resets: new faces found before the current scene are not adopted."""
        return self._scene

    def reset(self) -> None:
        """Drop every track (the next frame runs the detector)."""
        for track in self._tracks:
            self._release(track)
        self._tracks = []
        self._since_detection = self.settings.detect_every
        self._due = True
        self._scene += 1
        self._thumb = self._seconds = None

    def update(self, rgb: Image, seconds: float | None = None, *, detect: bool = True) -> Faces:
        """The faces of this RGB frame, tracked from the previous frames; `seconds` is its timestamp.

        The detector runs every `detect_every` frames, when a track is lost and after a scene cut. With
        `detect=False` it does not run here: the caller runs `find_new` when `take_detection()` says so (on
        another thread, live) and hands the result to `adopt` before a later update.
        """
        dt = self._step(seconds)
        cut = self._scene_cut(rgb)
        lost = self._follow(rgb, dt)
        self._since_detection += 1
        self._due = self._due or cut or lost or self._since_detection >= self.settings.detect_every
        if detect and self.take_detection():
            self.adopt(self.find_new(rgb, self._scene))
        self._stats = dataclasses.replace(self._stats, frames=self._stats.frames + 1, cuts=self._stats.cuts + cut)
        return self._faces()

    def focus(self, tracks: frozenset[int] | None, *, largest: bool = False) -> None:
        """The tracks whose faces matter now (those being swapped): they are re-meshed on every frame; the others
        (bystanders) each every BYSTANDER_SECONDS (12 frames at 25 fps, 30 at 60), in turn, keeping their last mesh
        in between. None: every track on every frame. A focused track's meshes do not depend on the bystanders (each
        track has its own graph and crop), so what is swapped is the same.

        `largest`: the largest track is re-meshed on every frame as well (live, while no face is followed yet: the
        face the selector takes next has this frame's mesh, and a crowd found by one detection costs its first frame
        one mesh or two instead of one per face)."""
        self._focus = tracks
        self._lead_largest = largest

    def take_detection(self) -> bool:
        """Whether a detection is due; True claims it (the count to the next one restarts)."""
        if not self._due:
            return False
        self._due = False
        self._since_detection = 0
        self._stats = dataclasses.replace(self._stats, detections=self._stats.detections + 1)
        return True

    def find_new(self, rgb: Image, scene: int) -> NewFaces:
        """Detects faces no track covers and meshes each with a graph of its own (safe on another thread;
        `scene`: the `scene` count when the frame was taken)."""
        detections = self._detect(rgb)
        tracked = [track.raw for track in self._tracks]
        # Mesh the detections no track covers a batch at a time (as many as there is room for), then keep them in
        # detection order exactly as if each had been meshed in turn: the graphs keep no state between images.
        waiting = [
            (box, float(score)) for box, score in zip(detections.boxes, detections.scores, strict=True)
            if not covered(box, tracked)
        ]  # fmt: skip
        found: list[NewFace] = []
        while waiting and len(tracked) + len(found) < self.settings.max_faces:
            room = self.settings.max_faces - len(tracked) - len(found)
            batch, waiting = waiting[:room], waiting[room:]
            estimators = [self._borrow_estimator() for _ in batch]
            meshes = self._run([partial(e, rgb, box) for e, (box, _) in zip(estimators, batch, strict=True)])
            for (box, score), estimator, mesh in zip(batch, estimators, meshes, strict=True):
                known = tracked + [face.mesh for face in found]
                if covered(box, known) or mesh is None or covered(mesh_box(mesh), known):
                    self._release_estimator(estimator)
                    continue
                found.append(NewFace(box, score, mesh, estimator))
        return NewFaces(scene, tuple(found))

    def adopt(self, new: NewFaces) -> None:
        """Starts tracks for found faces still new (not covered by a track started since, same scene)."""
        for face in new.faces:
            meshes = [track.raw for track in self._tracks]
            stale = new.scene != self._scene or len(meshes) >= self.settings.max_faces
            if stale or covered(mesh_box(face.mesh), meshes):
                self._release_estimator(face.estimator)
                continue
            smoother = MeshSmoother(self._canonical, self.settings.smoothing, self.settings.smoothing_strength)
            self._tracks.append(_Track(self._next_id, face.estimator, face.box, face.mesh, face.score, smoother))
            self._next_id += 1
            self._stats = dataclasses.replace(self._stats, tracks_started=self._stats.tracks_started + 1)

    def embed(self, faces: Faces, compute: Embed) -> Faces:
        """`faces` with embeddings, computing them only for tracks that have none cached yet."""
        tracks = [self._find(int(i)) for i in faces.tracks]
        missing = [row for row, track in enumerate(tracks) if track is None or track.embedding is None]
        fresh = compute(faces[missing]) if missing else np.zeros((0, 128), np.float32)
        for row, vector in zip(missing, fresh, strict=True):
            track = tracks[row]
            if track is not None:
                track.embedding = vector
        vectors = np.zeros((len(faces), 128), np.float32)
        vectors[missing] = fresh
        for row, track in enumerate(tracks):
            if row not in missing and track is not None and track.embedding is not None:
                vectors[row] = track.embedding
        return faces.with_embedding(vectors)

    def _step(self, seconds: float | None) -> float:
        if seconds is None or self._seconds is None or seconds <= self._seconds:
            dt = DEFAULT_DT
        else:
            dt = min(seconds - self._seconds, 1.0)
        self._seconds = seconds
        return dt

    def _scene_cut(self, rgb: Image) -> bool:
        thumb = thumbnail(rgb)
        previous, self._thumb = self._thumb, thumb
        if previous is None or previous.shape != thumb.shape or not self._tracks:
            return False
        if float(np.abs(thumb - previous).mean()) < CUT_THRESHOLD:
            return False
        log.debug("scene cut: dropping %d tracks", len(self._tracks))
        for track in self._tracks:
            self._release(track)
        self._tracks = []
        self._scene += 1
        return True

    def _follow(self, rgb: Image, dt: float) -> bool:
        """Move every track to this frame; returns whether one was lost (gone, implausible or a duplicate)."""
        kept: list[_Track] = []
        period = max(1, round(BYSTANDER_SECONDS / dt))
        lead = self._largest() if self._lead_largest else None
        due = [self._due_now(track, period) or track is lead for track in self._tracks]
        jobs = [partial(track.estimator, rgb, track.box) for track, now in zip(self._tracks, due, strict=True) if now]
        fresh = iter(self._run(jobs))
        for track, now in zip(self._tracks, due, strict=True):
            if not now:
                track.idle += dt
                kept.append(track)
                continue
            mesh = next(fresh)
            dt_track, track.idle = dt + track.idle, 0.0
            if mesh is None or not plausible(track.raw, mesh):
                self._release(track)
                continue
            if covered(mesh_box(mesh), [t.raw for t in kept]):
                self._release(track)  # two tracks on one face (a crossing): the older one stays, identity unsure
                for other in kept:
                    other.embedding = None
                continue
            moved = follow_box(track.box, track.anchor, mesh)
            if float(np.abs(moved - track.box).max()) > BOX_SLACK * _box_size(track.box):
                track.box, track.anchor = moved, mesh  # a still face keeps its crop: no self-made jitter
            track.raw, track.mesh = mesh, track.smoother(mesh, min(dt_track, 1.0))
            kept.append(track)
        lost = len(kept) < len(self._tracks)
        self._tracks = kept
        return lost

    def _faces(self) -> Faces:
        if not self._tracks:
            return Faces.empty()
        meshes = np.array([t.mesh for t in self._tracks], np.float32)
        derived = [self._derived(track, mesh) for track, mesh in zip(self._tracks, meshes, strict=True)]
        return Faces(
            boxes=np.array([d[0] for d in derived], np.float32),
            scores=np.array([t.score for t in self._tracks], np.float32),
            mesh=meshes,
            landmarks_5=np.array([d[1] for d in derived], np.float32),
            pose=np.array([d[2] for d in derived], np.float32),
            track_id=np.array([t.track_id for t in self._tracks], np.int64),
        )

    def _derived(self, track: _Track, mesh: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Box, five points and pose of a track's mesh, computed again only when the mesh changed (a bystander
        keeps its mesh between re-meshes)."""
        if track.derived is None or track.derived[0] is not track.mesh:
            track.derived = (track.mesh, mesh_box(mesh), five_points(mesh), head_pose(mesh, self._canonical))
        return track.derived[1], track.derived[2], track.derived[3]

    def _largest(self) -> _Track | None:
        """The track whose last mesh is the largest (None without tracks)."""
        return max(self._tracks, key=lambda track: _box_size(mesh_box(track.mesh)), default=None)

    def _due_now(self, track: _Track, period: int) -> bool:
        """Whether a track is re-meshed on this frame: always in the focus (or with none), else every `period`
        frames, tracks taking turns."""
        if self._focus is None or track.track_id in self._focus:
            return True
        return (self._stats.frames + track.track_id) % period == 0

    def _run(self, jobs: Sequence[Callable[[], _T]]) -> list[_T]:
        """Each job's result, in order; on the worker threads when there are several jobs and workers."""
        if self._workers <= 1 or len(jobs) <= 1:
            return [job() for job in jobs]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="faceweave-mesh")
            weakref.finalize(self, self._executor.shutdown, wait=False)
        return list(self._executor.map(_call, jobs))

    def _find(self, track_id: int) -> _Track | None:
        return next((t for t in self._tracks if t.track_id == track_id), None)

    def _release(self, track: _Track) -> None:
        self._release_estimator(track.estimator)

    def _borrow_estimator(self) -> MeshEstimator:
        with self._pool_lock:
            if self._pool:
                return self._pool.pop()
        return self._create_estimator()

    def _release_estimator(self, estimator: MeshEstimator) -> None:
        estimator.reset()
        with self._pool_lock:
            self._pool.append(estimator)
