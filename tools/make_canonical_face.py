"""Derive faceweave's canonical face (symmetric 3D mesh, atlas UVs, left/right mirror map) from frontal photos.

Run: .venv/bin/python tools/make_canonical_face.py PHOTO... ; writes faceweave/geometry/canonical_face.npz.
The photos are only measured, never stored: the output holds 468 averaged 3D points and a permutation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from scipy.optimize import linear_sum_assignment


def mesh_points(path: str) -> np.ndarray:
    image = cv2.imread(path)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as fm:
        result = fm.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    h, w = image.shape[:2]
    pts = np.array([(p.x * w, p.y * h, p.z * w) for p in result.multi_face_landmarks[0].landmark[:468]])
    return pts


def normalise(pts: np.ndarray) -> np.ndarray:
    pts = pts - pts.mean(axis=0)
    return pts / np.sqrt((pts**2).sum(axis=1).mean())


def procrustes(moving: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(moving.T @ fixed)
    d = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1, 1, d]) @ vt
    return moving @ rotation


def main(paths: list[str]) -> None:
    clouds = [normalise(mesh_points(p)) for p in paths]
    mean = clouds[0]
    for _ in range(3):
        mean = normalise(np.mean([procrustes(c, mean) for c in clouds], axis=0))
    flip = np.diag([-1.0, 1.0, 1.0])
    perm = np.arange(len(mean))
    for step in range(5):
        mirrored = mean[perm] @ flip if step == 0 else procrustes(mean[perm] @ flip, mean)
        cost = ((mean[:, None, :] - mirrored[None, :, :]) ** 2).sum(axis=2)
        _, perm_new = linear_sum_assignment(cost)
        perm = perm[perm_new]
    # make the permutation an involution: keep pairs that agree
    involution = perm[perm] == np.arange(len(perm))
    print("involution ok for", involution.sum(), "of", len(perm))
    mirrored = procrustes(mean[perm] @ flip, mean)
    symmetric = (mean + mirrored) / 2
    # rotate so the symmetry plane is x = 0 (x to the image right, y down, z away from the camera)
    diffs = symmetric - symmetric[perm]
    normal = np.linalg.svd(diffs, full_matrices=False)[2][0]
    normal *= np.sign(normal[0])
    y_axis = np.array([0.0, 1.0, 0.0]) - normal[1] * normal
    y_axis /= np.linalg.norm(y_axis)
    rotation = np.stack([normal, y_axis, np.cross(normal, y_axis)], axis=1)
    symmetric = symmetric @ rotation
    symmetric -= symmetric.mean(axis=0)
    symmetric = (symmetric + symmetric[perm] * np.array([-1.0, 1.0, 1.0])) / 2
    midline = perm == np.arange(len(perm))
    print("midline points", midline.sum(), "max |x| on midline", np.abs(symmetric[midline, 0]).max())
    out = Path(__file__).resolve().parents[1] / "faceweave" / "geometry" / "canonical_face.npz"
    np.savez_compressed(out, points=symmetric.astype(np.float32), mirror=perm.astype(np.int16))
    print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1:])
