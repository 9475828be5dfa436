"""Identity: dlib's 128-D ResNet descriptor (face_recognition_models); same person when distance < 0.6."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from faceweave.errors import ModelError
from faceweave.types import FloatArray, Image

SAME_PERSON_DISTANCE = 0.6


def _model_file(name: str) -> str:
    # Locate the data without importing face_recognition_models (its __init__ needs pkg_resources).
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("face_recognition_models is not installed; run 'make demo' or pip install faceweave")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise ModelError(f"dlib model missing: '{path}'; reinstall face_recognition_models")
    return str(path)


def identity_box(mesh: FloatArray) -> FloatArray:
    """The box dlib's models expect (brows to chin, cheek to cheek), derived from a (478, 3) mesh."""
    brow_y = float(mesh[[105, 334], 1].min())
    face = mesh[:468][mesh[:468, 1] >= brow_y]
    return np.array([face[:, 0].min(), brow_y, face[:, 0].max(), face[:, 1].max()], np.float32)


class DlibEmbedder:
    """128-D descriptors from dlib's 5-point aligner and ResNet (about 75 ms per face on one core)."""

    def __init__(self, jitter: int = 0) -> None:
        import dlib

        self._dlib = dlib
        self._shape = dlib.shape_predictor(_model_file("shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(_model_file("dlib_face_recognition_resnet_model_v1.dat"))
        self._jitter = jitter

    def __call__(self, rgb: Image, meshes: FloatArray) -> FloatArray:
        """(N, 128) descriptors for the faces whose (N, 478, 3) meshes are given."""
        descriptors = []
        for mesh in meshes:
            x1, y1, x2, y2 = (round(float(v)) for v in identity_box(mesh))
            shape = self._shape(rgb, self._dlib.rectangle(x1, y1, x2, y2))
            descriptors.append(np.array(self._net.compute_face_descriptor(rgb, shape, self._jitter), np.float32))
        return np.array(descriptors, np.float32).reshape(-1, 128)


def distance(a: FloatArray, b: FloatArray) -> FloatArray:
    """Euclidean distances between descriptor rows (broadcasting)."""
    return np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1).astype(np.float32)
