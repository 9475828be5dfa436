"""FaceAnalyser: detect → square crop → Face Mesh → five points and pose; identity on demand."""

from __future__ import annotations

import contextlib
import logging
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.analysis.detect import Detections, Detector, DlibDetector, MediaPipeDetector, merge_detections
from faceweave.analysis.identity import DlibEmbedder
from faceweave.analysis.mesh import MeshEstimator, five_points, head_pose
from faceweave.analysis.track import FaceTracker
from faceweave.faces import Faces
from faceweave.geometry.topology import load_topology
from faceweave.media.image_io import read_image
from faceweave.samples import sample_path
from faceweave.settings import Settings
from faceweave.types import Image

Mode = Literal["still", "video"]

log = logging.getLogger(__name__)


class FaceAnalyser:
    """Finds faces and their dense meshes in BGR images.

    In "still" mode the `auto` detector runs MediaPipe and a dlib HOG re-scan (group photos);
    in "video" mode it runs MediaPipe only (the video tracker re-scans periodically).

    Example:
        >>> analyser = FaceAnalyser(Settings())
        >>> faces = analyser.analyse(image)  # doctest: +SKIP
    """

    def __init__(self, settings: Settings, mode: Mode = "still") -> None:
        self.settings = settings
        self.mode = mode
        kind = settings.detector
        use_mediapipe = kind in ("auto", "mediapipe", "both")
        use_dlib = kind in ("dlib", "both") or (kind == "auto" and mode == "still")
        self._mediapipe = MediaPipeDetector(settings.detector_score) if use_mediapipe else None
        self._dlib = DlibDetector() if use_dlib else None
        self._scrfd = _scrfd_detector(settings) if kind == "scrfd" else None
        self._mesh = MeshEstimator()
        self._embedder: DlibEmbedder | None = None
        self._canonical = load_topology().canonical
        self._warm: list[MeshEstimator] = []  # pop and append are atomic: trackers on two threads may share it

    def new_tracker(self, workers: int = 1) -> FaceTracker:
        """A video tracker that detects with this analyser and meshes each track with a graph of its own, the graphs
        of one frame on `workers` threads."""
        return FaceTracker(self.settings, lambda rgb: self.detect(rgb), self._graph, self._canonical, workers)

    def warm_graphs(self, count: int) -> None:
        """Make `count` tracking Face Mesh graphs ready ahead, each run once on a real face: a graph's first image
        costs ~25 ms more than the next, which live runs would otherwise pay mid-stream for each new face (a crowd
        walking in). The next trackers take them before building new ones."""
        photo = read_image(sample_path("hopper")).image
        rgb = cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)
        found = self.detect(rgb)
        box = found.boxes[0] if len(found) else np.array([0, 0, rgb.shape[1], rgb.shape[0]], np.float32)
        for _ in range(count):
            graph = MeshEstimator(tracking=False)
            graph(rgb, box)
            self._warm.append(graph)

    def _graph(self) -> MeshEstimator:
        """A warm graph when one is left (`warm_graphs`), else a new one."""
        with contextlib.suppress(IndexError):
            return self._warm.pop()
        return MeshEstimator(tracking=False)

    def detect(self, rgb: Image) -> Detections:
        """Boxes from the configured detectors, filtered by score and size, best first."""
        found = Detections.empty()
        if self._mediapipe is not None:
            found = self._mediapipe(rgb)
        if self._scrfd is not None:
            found = self._scrfd(rgb)
        if self._dlib is not None:
            found = merge_detections(found, self._dlib(rgb))
        sizes = np.sqrt(np.prod(np.clip(found.boxes[:, 2:] - found.boxes[:, :2], 0, None), axis=1))
        keep = (found.scores >= self.settings.detector_score) & (sizes >= self.settings.min_face_size)
        order = np.flatnonzero(keep)[np.argsort(-found.scores[keep], kind="stable")]
        return found.take(order)

    def analyse(self, image: Image, *, rgb: Image | None = None) -> Faces:
        """All faces in a BGR image (up to `max_faces`), with mesh, five points and pose."""
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if rgb is None else rgb
        return self.mesh_faces(rgb, self.detect(rgb))

    def mesh_faces(self, rgb: Image, detections: Detections) -> Faces:
        """Faces (mesh, five points, pose) for detected boxes; boxes where the mesh finds no face are dropped.

        The five points are the detector's own where it gives them (SCRFD: what the neural models were trained
        on), else derived from the mesh."""
        boxes, scores, meshes, points = [], [], [], []  # type: list[npt.NDArray[np.float32]], list[float], list[npt.NDArray[np.float32]], list[npt.NDArray[np.float32]]
        for i, (box, score) in enumerate(zip(detections.boxes, detections.scores, strict=True)):
            mesh = self._mesh(rgb, box)
            if mesh is None or _duplicate(mesh, meshes):
                continue
            boxes.append(_mesh_box(mesh))
            scores.append(score)
            meshes.append(mesh)
            points.append(five_points(mesh) if detections.landmarks_5 is None else detections.landmarks_5[i])
            if len(meshes) == self.settings.max_faces:
                break
        if not meshes:
            return Faces.empty()
        mesh_array = np.array(meshes, np.float32)
        return Faces(
            boxes=np.array(boxes, np.float32),
            scores=np.array(scores, np.float32),
            mesh=mesh_array,
            landmarks_5=np.array(points, np.float32),
            pose=np.array([head_pose(m, self._canonical) for m in mesh_array], np.float32),
        )

    def embed(
        self, image: Image, faces: Faces, *, rgb: Image | None = None, tracker: FaceTracker | None = None
    ) -> Faces:
        """`faces` with dlib identity descriptors (computed once; kept if already present; with the `tracker` that
        found them, computed once per track)."""
        if faces.embedding is not None or len(faces) == 0:
            return faces if faces.embedding is not None else faces.with_embedding(np.zeros((0, 128), np.float32))
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if rgb is None else rgb
        if tracker is not None and bool((faces.tracks >= 0).all()):
            return tracker.embed(faces, lambda missing: self._descriptors(rgb, missing))
        return faces.with_embedding(self._descriptors(rgb, faces))

    def _descriptors(self, rgb: Image, faces: Faces) -> npt.NDArray[np.float32]:
        if len(faces) == 0:
            return np.zeros((0, 128), np.float32)
        if self._embedder is None:
            self._embedder = DlibEmbedder()
        return self._embedder(rgb, faces.mesh)


def _scrfd_detector(settings: Settings) -> Detector:
    """The SCRFD ONNX detector (catalog model scrfd_10g; needs onnxruntime)."""
    from faceweave.analysis.scrfd import ScrfdDetector
    from faceweave.models.loader import load_model

    return ScrfdDetector(load_model("scrfd_10g", settings, task="detector"), settings.detector_score)


def _mesh_box(mesh: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    points = mesh[:468, :2]
    return np.concatenate([points.min(axis=0), points.max(axis=0)]).astype(np.float32)


def _duplicate(mesh: npt.NDArray[np.float32], meshes: list[npt.NDArray[np.float32]]) -> bool:
    """True when the mesh lands on a face already found (two boxes on one face)."""
    size = float(np.ptp(mesh[:468, 0]))
    return any(np.linalg.norm(mesh[4, :2] - other[4, :2]) < 0.2 * size for other in meshes)
