"""Faces: a frozen, validated struct of parallel arrays; row i is face i.

Conventions (documented once): images are H×W×3 uint8 BGR; coordinates are pixels (x right, y down);
`mesh` z is MediaPipe's relative depth in pixels (smaller = nearer the camera).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from faceweave.types import FloatArray, IntArray

# Mesh vertex ids of the five points: image-left eye (iris), image-right eye, nose tip, mouth corners.
FIVE_POINT_IDS = (468, 473, 4, 61, 291)


@dataclasses.dataclass(frozen=True)
class Face:
    """One row of `Faces`, read-only."""

    box: FloatArray
    score: float
    mesh: FloatArray
    landmarks_5: FloatArray
    pose: FloatArray
    embedding: FloatArray | None
    track_id: int

    @property
    def size(self) -> float:
        """Geometric mean of the box's width and height, in pixels."""
        return float(np.sqrt(max(self.box[2] - self.box[0], 0.0) * max(self.box[3] - self.box[1], 0.0)))


def _check(name: str, array: npt.NDArray[Any], shape: tuple[int | None, ...]) -> None:
    if array.ndim != len(shape) or any(e is not None and e != a for e, a in zip(shape, array.shape, strict=True)):
        expected = "×".join("N" if e is None else str(e) for e in shape)
        raise ValueError(f"Faces.{name} must have shape {expected}, got {'×'.join(map(str, array.shape))}")


@dataclasses.dataclass(frozen=True, eq=False)
class Faces:
    """Detected faces as parallel arrays.

    Attributes:
        boxes: (N, 4) float32 x1, y1, x2, y2.
        scores: (N,) float32 detector confidence in [0, 1].
        mesh: (N, 478, 3) float32 Face Mesh points (x, y, z) in image pixels.
        landmarks_5: (N, 5, 2) float32 eyes, nose tip, mouth corners (image left first): the detector's where it
            gives them (SCRFD), else from the mesh (`faceweave.analysis.mesh.five_points`).
        pose: (N, 3) float32 yaw, pitch, roll in degrees (yaw > 0: the face turns toward image right).
        embedding: (N, 128) float32 dlib identity descriptors, or None until computed.
        track_id: (N,) int64 track ids (-1 when untracked).

    Example:
        >>> faces = Faces.empty()
        >>> len(faces), faces[faces.scores > 0.5].boxes.shape
        (0, (0, 4))
    """

    boxes: FloatArray
    scores: FloatArray
    mesh: FloatArray
    landmarks_5: FloatArray
    pose: FloatArray
    embedding: FloatArray | None = None
    track_id: IntArray | None = None

    def __post_init__(self) -> None:
        n = len(self.boxes)
        _check("boxes", self.boxes, (n, 4))
        _check("scores", self.scores, (n,))
        _check("mesh", self.mesh, (n, 478, 3))
        _check("landmarks_5", self.landmarks_5, (n, 5, 2))
        _check("pose", self.pose, (n, 3))
        if self.embedding is not None:
            _check("embedding", self.embedding, (n, 128))
        if self.track_id is None:
            object.__setattr__(self, "track_id", np.full(n, -1, np.int64))
        else:
            _check("track_id", self.track_id, (n,))

    @classmethod
    def empty(cls) -> Faces:
        """No faces."""
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros(0, np.float32),
            mesh=np.zeros((0, 478, 3), np.float32),
            landmarks_5=np.zeros((0, 5, 2), np.float32),
            pose=np.zeros((0, 3), np.float32),
        )

    @classmethod
    def concatenate(cls, parts: list[Faces]) -> Faces:
        """Stack several Faces (embeddings kept only when every part has them)."""
        if not parts:
            return cls.empty()
        embeddings = [p.embedding for p in parts]
        return cls(
            boxes=np.concatenate([p.boxes for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            mesh=np.concatenate([p.mesh for p in parts]),
            landmarks_5=np.concatenate([p.landmarks_5 for p in parts]),
            pose=np.concatenate([p.pose for p in parts]),
            embedding=None if any(e is None for e in embeddings) else np.concatenate(embeddings),  # type: ignore[arg-type]
            track_id=np.concatenate([p.tracks for p in parts]),
        )

    @property
    def tracks(self) -> IntArray:
        """Track ids, never None."""
        assert self.track_id is not None
        return self.track_id

    @property
    def sizes(self) -> FloatArray:
        """(N,) geometric mean of box width and height."""
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return np.sqrt(wh[:, 0] * wh[:, 1]).astype(np.float32)

    @property
    def centres(self) -> FloatArray:
        """(N, 2) box centres."""
        return ((self.boxes[:, :2] + self.boxes[:, 2:]) / 2).astype(np.float32)

    def __len__(self) -> int:
        return len(self.boxes)

    @overload
    def __getitem__(self, index: int) -> Face: ...

    @overload
    def __getitem__(self, index: slice | npt.NDArray[Any] | list[int]) -> Faces: ...

    def __getitem__(self, index: int | slice | npt.NDArray[Any] | list[int]) -> Face | Faces:
        if isinstance(index, int | np.integer):
            i = int(index)
            return Face(
                box=self.boxes[i],
                score=float(self.scores[i]),
                mesh=self.mesh[i],
                landmarks_5=self.landmarks_5[i],
                pose=self.pose[i],
                embedding=None if self.embedding is None else self.embedding[i],
                track_id=int(self.tracks[i]),
            )
        return Faces(
            boxes=self.boxes[index],
            scores=self.scores[index],
            mesh=self.mesh[index],
            landmarks_5=self.landmarks_5[index],
            pose=self.pose[index],
            embedding=None if self.embedding is None else self.embedding[index],
            track_id=self.tracks[index],
        )

    def __iter__(self) -> Iterator[Face]:
        return (self[i] for i in range(len(self)))

    def with_embedding(self, embedding: FloatArray) -> Faces:
        """A copy carrying identity descriptors."""
        return dataclasses.replace(self, embedding=np.asarray(embedding, np.float32))

    def with_track_id(self, track_id: IntArray) -> Faces:
        """A copy carrying track ids."""
        return dataclasses.replace(self, track_id=np.asarray(track_id, np.int64))

    def to_json(self) -> list[dict[str, Any]]:
        """Plain data for printing (mesh left out; boxes, scores, five points, pose)."""
        return [
            {
                "box": [round(float(v), 1) for v in face.box],
                "score": round(face.score, 3),
                "size": round(face.size, 1),
                "landmarks_5": [[round(float(v), 1) for v in p] for p in face.landmarks_5],
                "pose": dict(zip(("yaw", "pitch", "roll"), (round(float(v), 1) for v in face.pose), strict=True)),
                "track_id": face.track_id,
            }
            for face in self
        ]
