"""How far faceweave's mesh-derived five points sit from the detector convention the neural models were trained on.

The neural models (inswapper, ArcFace, GFPGAN, ...) were trained on crops aligned by detector points: eye centres,
nose tip, mouth corners. faceweave takes its five points from MediaPipe Face Mesh. This script measures, on
single-face photos, the offset of each mesh-derived point from dlib's 68-point convention:

    eye centre = mean of the eye's six contour points (36-41 image-left eye, 42-47 image-right eye),
    nose tip = point 30, mouth corners = points 48 (image left) and 54 (image right),

in the face's own frame (x along the line from the image-left to the image-right eye centre, y perpendicular to it,
pointing down the face), divided by the inter-ocular distance (between dlib's eye centres). It prints JSON: per point
the mean and median of the signed x and y offsets, for the mesh points faceweave uses for the neural models
(`faceweave.analysis.mesh.five_points`) and for the raw mesh vertices (`FIVE_POINT_IDS`: iris centres, vertex 4,
61 and 291).

dlib's predictor is run on dlib's own HOG box (the boxes it was trained on); photos where HOG finds no face use the
mesh-derived box instead (counted in `dlib_box_from_mesh`).

    python tools/five_points.py --images ../shared/testdata/images
    python tools/five_points.py --images ../shared/testdata/images --per-photo
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def dlib_five(shape: np.ndarray) -> np.ndarray:
    """(5, 2) five points in the detector convention from dlib's (68, 2) points."""
    return np.array([shape[36:42].mean(axis=0), shape[42:48].mean(axis=0), shape[30], shape[48], shape[54]], np.float64)


def face_frame_offsets(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(5, 2) offsets of `points` from `reference` in the reference face's frame, in inter-ocular distances."""
    axis = reference[1] - reference[0]
    distance = float(np.linalg.norm(axis))
    x_axis = axis / distance
    y_axis = np.array([-x_axis[1], x_axis[0]])
    delta = points - reference
    return np.stack([delta @ x_axis, delta @ y_axis], axis=1) / distance


class DlibLandmarks:
    """dlib's HOG detector and 68-point predictor (the data files of face_recognition_models)."""

    def __init__(self) -> None:
        import dlib

        from faceweave.analysis.identity import _model_file

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(_model_file("shape_predictor_68_face_landmarks.dat"))

    def __call__(self, rgb: np.ndarray, near: np.ndarray, fallback_box: np.ndarray) -> tuple[np.ndarray, bool]:
        """dlib's five points of the face whose HOG box holds the point `near`; (points, box came from the mesh)."""
        rects = [
            r for r in self._detector(rgb, 1) if r.left() <= near[0] <= r.right() and r.top() <= near[1] <= r.bottom()
        ]
        from_mesh = not rects
        if from_mesh:
            x1, y1, x2, y2 = (round(float(v)) for v in fallback_box)
            rect = self._dlib.rectangle(x1, y1, x2, y2)
        else:
            rect = max(rects, key=lambda r: r.area())
        shape = self._predictor(rgb, rect)
        return dlib_five(np.array([(p.x, p.y) for p in shape.parts()], np.float64)), from_mesh


def _summary(offsets: list[np.ndarray]) -> dict[str, dict[str, float]]:
    stack = np.array(offsets)  # (photos, 5, 2)
    return {
        name: {
            "mean_x": round(float(stack[:, i, 0].mean()), 4),
            "mean_y": round(float(stack[:, i, 1].mean()), 4),
            "median_x": round(float(np.median(stack[:, i, 0])), 4),
            "median_y": round(float(np.median(stack[:, i, 1])), 4),
            "mean_distance": round(float(np.linalg.norm(stack[:, i], axis=1).mean()), 4),
        }
        for i, name in enumerate(POINTS)
    }


def measure(paths: list[Path], per_photo: bool) -> dict[str, Any]:
    """Offsets of the neural five points and the raw mesh vertices from dlib's, over the photos."""
    import cv2

    from faceweave.analysis.analyser import FaceAnalyser
    from faceweave.analysis.identity import identity_box
    from faceweave.analysis.mesh import five_points
    from faceweave.faces import FIVE_POINT_IDS
    from faceweave.media.image_io import read_image
    from faceweave.settings import Settings

    analyser = FaceAnalyser(Settings(detector="auto"))
    landmarks = DlibLandmarks()
    used: list[np.ndarray] = []
    raw: list[np.ndarray] = []
    photos: dict[str, Any] = {}
    from_mesh = 0
    for path in paths:
        image = read_image(path).image
        faces = analyser.analyse(image)
        if len(faces) == 0:
            photos[path.name] = "no face"
            continue
        face = max(faces, key=lambda f: f.size)
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        reference, fallback = landmarks(rgb, face.mesh[4, :2], identity_box(face.mesh))
        from_mesh += fallback
        used.append(face_frame_offsets(five_points(face.mesh).astype(np.float64), reference))
        raw.append(face_frame_offsets(face.mesh[list(FIVE_POINT_IDS), :2].astype(np.float64), reference))
        if per_photo:
            photos[path.name] = np.round(used[-1], 4).tolist()
    result: dict[str, Any] = {
        "photos": len(used),
        "dlib_box_from_mesh": from_mesh,
        "unit": "inter-ocular distance (dlib eye centres); x along the eye line, y down the face",
        "neural_five_points": _summary(used),
        "raw_mesh_vertices": _summary(raw),
        "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
        "date": datetime.date.today().isoformat(),
    }
    if per_photo:
        result["per_photo"] = photos
    return result


def single_face_photos(folder: Path | None) -> list[Path]:
    """The single-face test photos (no group_ or noface_ files) and faceweave's two bundled samples."""
    from faceweave.samples import sample_path

    paths = [sample_path("astronaut"), sample_path("hopper")]
    if folder is not None:
        suffixes = {".jpg", ".jpeg", ".png"}
        paths += sorted(
            p for p in folder.iterdir() if p.suffix.lower() in suffixes and not p.name.startswith(("group_", "noface_"))
        )
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="folder of test photos (../shared/testdata/images)")
    parser.add_argument("--per-photo", action="store_true", help="also list each photo's offsets")
    args = parser.parse_args()
    json.dump(measure(single_face_photos(args.images), args.per_photo), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
