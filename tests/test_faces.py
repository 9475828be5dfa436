"""Faces: validated parallel arrays, NumPy-like indexing, frozen."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from faceweave.faces import Face, Faces


def make_faces(n: int) -> Faces:
    boxes = np.array([[10 * i, 0, 10 * i + 5 + i, 8] for i in range(n)], np.float32).reshape(n, 4)
    return Faces(
        boxes=boxes,
        scores=np.linspace(0.5, 0.9, n).astype(np.float32),
        mesh=np.zeros((n, 478, 3), np.float32),
        landmarks_5=np.zeros((n, 5, 2), np.float32),
        pose=np.zeros((n, 3), np.float32),
    )


def test_shape_errors_name_the_field_and_both_shapes() -> None:
    faces = make_faces(2)
    with pytest.raises(ValueError, match=r"Faces.mesh must have shape 2×478×3, got 2×468×3"):
        dataclasses.replace(faces, mesh=np.zeros((2, 468, 3), np.float32))


def test_indexing_returns_faces_or_a_face() -> None:
    faces = make_faces(3)
    assert isinstance(faces[1], Face)
    assert faces[1].box.tolist() == [10, 0, 16, 8]
    assert len(faces[faces.scores > 0.6]) == 2
    assert len(faces[1:]) == 2
    assert faces[[2, 0]].boxes[0, 0] == 20
    assert [f.track_id for f in faces] == [-1, -1, -1]


def test_frozen_and_copies_with_new_fields() -> None:
    faces = make_faces(2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        faces.boxes = faces.boxes  # type: ignore[misc]
    embedded = faces.with_embedding(np.ones((2, 128), np.float32))
    assert faces.embedding is None
    assert embedded.embedding is not None and embedded.embedding.shape == (2, 128)
    with pytest.raises(ValueError, match="embedding"):
        faces.with_embedding(np.ones((3, 128), np.float32))


def test_empty_and_concatenate() -> None:
    assert len(Faces.empty()) == 0
    joined = Faces.concatenate([make_faces(2), Faces.empty(), make_faces(1)])
    assert len(joined) == 3
    assert joined.embedding is None


def test_sizes_and_json() -> None:
    faces = make_faces(2)
    assert np.allclose(faces.sizes, np.sqrt([5 * 8, 6 * 8]))
    row = faces.to_json()[0]
    assert set(row) == {"box", "score", "size", "landmarks_5", "pose", "track_id"}
