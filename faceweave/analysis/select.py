"""Face selection: all, largest, one by position/order, or those matching a reference identity."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceweave.analysis.identity import distance
from faceweave.faces import Faces
from faceweave.settings import FaceOrder

IndexArray = npt.NDArray[np.int64]


def order_faces(faces: Faces, order: FaceOrder) -> IndexArray:
    """Indices of the faces sorted by `order` (e.g. "left-right", "large-small", "best-worst")."""
    keys = {
        "left-right": faces.centres[:, 0],
        "right-left": -faces.centres[:, 0],
        "top-bottom": faces.centres[:, 1],
        "bottom-top": -faces.centres[:, 1],
        "large-small": -faces.sizes,
        "small-large": faces.sizes,
        "best-worst": -faces.scores,
    }
    return np.argsort(keys[order], kind="stable").astype(np.int64)


def pick_faces(faces: Faces, selector: str, order: FaceOrder, index: int) -> IndexArray:
    """Indices chosen by a positional selector: "all" (in order), "largest", or "index" (n-th in order)."""
    ranked = order_faces(faces, order)
    if selector == "largest":
        return order_faces(faces, "large-small")[:1]
    if selector == "index":
        return ranked[index : index + 1]
    return ranked


def match_references(faces: Faces, references: npt.NDArray[np.float32], threshold: float) -> IndexArray:
    """For each face, the index of the closest reference within `threshold`, or -1.

    `faces` must carry embeddings; `references` is (R, 128).
    """
    if faces.embedding is None:
        raise ValueError("match_references needs faces with embeddings; call FaceAnalyser.embed first")
    if len(faces) == 0 or len(references) == 0:
        return np.full(len(faces), -1, np.int64)
    distances = distance(faces.embedding[:, None, :], references[None, :, :])
    best = distances.argmin(axis=1)
    return np.where(distances[np.arange(len(faces)), best] <= threshold, best, -1).astype(np.int64)
