"""Objective realism proxies of a swap: each compares the result with the real target around the target's face.

Every proxy is a pure function `(result, target, face, topology) -> float` on two same-size BGR images and the
target face's Face Mesh; identical images give 0. They look at a crop around the face (the mesh's extent grown by
REGION_GROW of the face width on each side), on luminance (BGR → grey, 0–255), so they stay cheap on large photos.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import cv2
import numpy as np

from faceweave.faces import Face, Faces
from faceweave.geometry.topology import LEFT_IRIS_CENTRE, RIGHT_IRIS_CENTRE, Topology
from faceweave.types import FloatArray, Image, Mask

REGION_GROW = 0.35  # crop margin around the mesh, × face width
BRIDGE, RIGHT_LOWER_LID, LEFT_LOWER_LID = 168, 145, 374  # mesh ids: between the eyes, under each eye
LINE_SIGMA_PX = 1.0
SHADING_SIGMA = 0.08  # × face width
SHADING_ERODE = 0.05  # × face width
DETAIL_SIGMA_PX = 1.5
DETAIL_ERODE = 0.02  # × face width: the outline itself is seam, not detail
DETAIL_RING = 0.15  # × face width
SEAM_DEPTH = 0.03  # × face width (at least SEAM_MIN_PX): how far inside / outside the outline the step is sampled
SEAM_MIN_PX = 2.0
SEAM_SIGMA = 0.01  # × face width (at least 1 px)
CHANGED_LEVELS = 0.5  # mean absolute change (grey levels) in a face's box above which that face counts as changed

Proxy = Callable[[Image, Image, Face, Topology], float]


@dataclasses.dataclass(frozen=True)
class _View:
    """Both images' luminance cropped around the face, with the mesh and outline in crop pixels."""

    result: FloatArray
    target: FloatArray
    mesh: FloatArray
    oval: FloatArray
    width: float

    def oval_mask(self, grow: float = 0.0) -> Mask:
        """255 inside the outline, eroded (grow < 0) or dilated (grow > 0) by `grow` × face width."""
        mask = np.zeros(self.result.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(self.oval).astype(np.int32)], 255)
        radius = round(abs(grow) * self.width)
        if radius == 0:
            return mask
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.dilate(mask, kernel) if grow > 0 else cv2.erode(mask, kernel)


def _view(result: Image, target: Image, face: Face, topology: Topology) -> _View:
    if result.shape != target.shape:
        raise ValueError(f"result and target must have one shape, got {result.shape} and {target.shape}")
    oval = face.mesh[topology.oval, :2]
    width = max(float(np.ptp(oval[:, 0])), 1.0)
    low = np.maximum(np.floor(face.mesh[:, :2].min(axis=0) - REGION_GROW * width), 0).astype(int)
    high = np.minimum(np.ceil(face.mesh[:, :2].max(axis=0) + REGION_GROW * width), target.shape[1::-1]).astype(int)
    crops = [cv2.cvtColor(i[low[1] : high[1], low[0] : high[0]], cv2.COLOR_BGR2GRAY) for i in (result, target)]
    shift = low.astype(np.float32)
    luminance = [crop.astype(np.float32) for crop in crops]
    return _View(luminance[0], luminance[1], face.mesh[:, :2] - shift, oval - shift, width)


def _line_energy(luminance: FloatArray, boxes: list[tuple[int, int, int, int]], down: FloatArray) -> float:
    """Mean |derivative along `down`| of the lightly smoothed luminance over the boxes (x0, y0, x1, y1)."""
    smooth = cv2.GaussianBlur(luminance, (0, 0), LINE_SIGMA_PX)
    along = down[0] * cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) + down[1] * cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    values = [along[y0:y1, x0:x1].ravel() for x0, y0, x1, y1 in boxes]
    pooled = np.abs(np.concatenate(values)) if values else np.zeros(0, np.float32)
    return float(pooled.mean()) / 8.0 if pooled.size else 0.0  # Sobel weights sum to 8 per unit step


def glasses_leak(result: Image, target: Image, face: Face, topology: Topology) -> float:
    """Line energy across the nose bridge and under the eyes, result minus target, over the face's contrast.

    Line energy: mean |luminance derivative along the face's vertical axis| (Gaussian σ LINE_SIGMA_PX first) in
    three patches from the mesh: the bridge between the eyes and a band just under each eye, where spectacle
    frames run across the face. Divided by the target's luminance standard deviation inside the face outline.
    Sign: > 0 lines were added (e.g. the source's frames pasted in); < 0 the target's own frames were erased.

    Example:
        >>> glasses_leak(image, image, face, load_topology())  # doctest: +SKIP
        0.0
    """
    view = _view(result, target, face, topology)
    eyes = view.mesh[[RIGHT_IRIS_CENTRE, LEFT_IRIS_CENTRE]]
    distance = max(float(np.linalg.norm(eyes[1] - eyes[0])), 1.0)
    across = (eyes[1] - eyes[0]) / distance
    down = np.array([-across[1], across[0]], np.float32)
    patches = [(view.mesh[BRIDGE], 0.12, 0.15)]
    patches += [(view.mesh[lid] + 0.22 * distance * down, 0.25, 0.15) for lid in (RIGHT_LOWER_LID, LEFT_LOWER_LID)]
    h, w = view.target.shape
    boxes = []
    for centre, half_w, half_h in patches:
        x0, y0 = np.floor(centre - distance * np.array([half_w, half_h])).astype(int)
        x1, y1 = np.ceil(centre + distance * np.array([half_w, half_h])).astype(int)
        boxes.append((max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)))
    inside = view.oval_mask() > 0
    contrast = float(view.target[inside].std()) if inside.any() else 0.0
    change = _line_energy(view.result, boxes, down) - _line_energy(view.target, boxes, down)
    return change / max(contrast, 1.0)


def shading_error(result: Image, target: Image, face: Face, topology: Topology) -> float:
    """How differently the light falls across the face: RMS of log(result / target) of the low-pass luminance.

    Each luminance is blurred inside the face outline only (Gaussian σ = SHADING_SIGMA × face width, normalised by
    the blurred outline, so hair and background do not bleed in) and divided by its own mean over the outline
    eroded by SHADING_ERODE × face width (so a uniform gain costs nothing); the RMS is over that eroded region.
    Always ≥ 0; 0 when the shading's shape matches the real photo's.

    Example:
        >>> shading_error(image, image, face, load_topology())  # doctest: +SKIP
        0.0
    """
    view = _view(result, target, face, topology)
    inside = view.oval_mask(-SHADING_ERODE) > 0
    if not inside.any():
        return 0.0
    sigma = SHADING_SIGMA * view.width
    outline = (view.oval_mask() > 0).astype(np.float32)
    weight = cv2.GaussianBlur(outline, (0, 0), sigma)[inside]
    low = [cv2.GaussianBlur(lum * outline, (0, 0), sigma)[inside] / weight + 1.0 for lum in (view.result, view.target)]
    ratio = np.log(low[0] / low[0].mean()) - np.log(low[1] / low[1].mean())
    return float(np.sqrt(np.mean(ratio**2)))


def _detail_ratio(luminance: FloatArray, inside: Mask, ring: Mask) -> float:
    detail = np.abs(luminance - cv2.GaussianBlur(luminance, (0, 0), DETAIL_SIGMA_PX))
    return (float(detail[inside > 0].mean()) + 0.01) / (float(detail[ring > 0].mean()) + 0.01)


def detail_match(result: Image, target: Image, face: Face, topology: Topology) -> float:
    """Fine detail inside the face relative to its surroundings, result against target, as a log ratio.

    Detail = mean |luminance − Gaussian(σ = DETAIL_SIGMA_PX)|; the ratio is its mean inside the outline (eroded by
    DETAIL_ERODE × face width) over its mean in the ring from the outline out to DETAIL_RING × face width (hair,
    ears, neck, background). Returns log(ratio_result / ratio_target). Sign: 0 the face is as detailed against its
    surroundings as in the real photo; < 0 smoother (a waxy face); > 0 sharper or noisier.

    Example:
        >>> detail_match(image, image, face, load_topology())  # doctest: +SKIP
        0.0
    """
    view = _view(result, target, face, topology)
    inside, outline = view.oval_mask(-DETAIL_ERODE), view.oval_mask()
    ring = cv2.subtract(view.oval_mask(DETAIL_RING), outline)
    if not inside.any() or not ring.any():
        return 0.0
    return float(np.log(_detail_ratio(view.result, inside, ring) / _detail_ratio(view.target, inside, ring)))


def _outline_samples(oval: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Points along the closed outline (4 per segment) and their outward unit normals."""
    segment = np.roll(oval, -1, axis=0) - oval
    points = (oval[:, None] + np.array([0.0, 0.25, 0.5, 0.75])[None, :, None] * segment[:, None]).reshape(-1, 2)
    tangent = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
    outward = np.where(np.sum(normal * (points - oval.mean(axis=0)), axis=1, keepdims=True) < 0, -1.0, 1.0)
    return points.astype(np.float32), (normal * outward).astype(np.float32)


def _steps(luminance: FloatArray, at: FloatArray, sigma: float) -> FloatArray:
    """Luminance inside − outside at each outline point (`at`: (4, P, 2) samples, inside first)."""
    samples = cv2.remap(cv2.GaussianBlur(luminance, (0, 0), sigma), at[..., 0], at[..., 1], cv2.INTER_LINEAR)
    steps: FloatArray = samples[:2].mean(axis=0) - samples[2:].mean(axis=0)
    return steps


def seam_step(result: Image, target: Image, face: Face, topology: Topology) -> float:
    """How much the luminance step across the face outline changed, in grey levels (0–255).

    Along the mesh's face outline (`topology.oval`, 4 samples per segment), the luminance (Gaussian σ =
    SEAM_SIGMA × face width, at least 1 px) is sampled at half and all of SEAM_DEPTH × face width (at least
    SEAM_MIN_PX) inside and outside along the normal; the step is mean inside − mean outside. Returns the mean over
    the outline of |step in the result − step in the target| (points whose samples leave the image are skipped).
    Always ≥ 0: 0 when the edge along the outline is as in the real photo; it grows with a seam of either sign (a
    pasted face brighter or darker than its surroundings, or a real jaw line or hair line washed out).

    Example:
        >>> seam_step(image, image, face, load_topology())  # doctest: +SKIP
        0.0
    """
    view = _view(result, target, face, topology)
    points, normals = _outline_samples(view.oval)
    depth, sigma = max(SEAM_DEPTH * view.width, SEAM_MIN_PX), max(SEAM_SIGMA * view.width, 1.0)
    at = np.stack([points + k * depth * normals for k in (-0.5, -1.0, 0.5, 1.0)]).astype(np.float32)  # (4, P, 2)
    h, w = view.target.shape
    valid = np.all((at[..., 0] >= 0) & (at[..., 0] <= w - 1) & (at[..., 1] >= 0) & (at[..., 1] <= h - 1), axis=0)
    if not valid.any():
        return 0.0
    change = _steps(view.result, at, sigma) - _steps(view.target, at, sigma)
    return float(np.abs(change[valid]).mean())


PROXIES: dict[str, Proxy] = {
    "glasses_leak": glasses_leak,
    "shading_error": shading_error,
    "detail_match": detail_match,
    "seam_step": seam_step,
}


def changed_faces(result: Image, target: Image, faces: Faces) -> list[int]:
    """Indices of the faces whose box changed by more than CHANGED_LEVELS grey levels on average."""
    changed = []
    for i, box in enumerate(np.round(faces.boxes).astype(int)):
        x0, y0 = max(box[0], 0), max(box[1], 0)
        a, b = result[y0 : box[3], x0 : box[2]], target[y0 : box[3], x0 : box[2]]
        if a.size and float(np.abs(a.astype(np.int16) - b).mean()) > CHANGED_LEVELS:
            changed.append(i)
    return changed


def measure(result: Image, target: Image, faces: Faces, topology: Topology) -> dict[str, float]:
    """Every proxy, averaged over the faces that changed (over all `faces` when none did; 0s when there are none).

    Example:
        >>> measure(image, image, analyser.analyse(image), load_topology())  # doctest: +SKIP
        {'glasses_leak': 0.0, 'shading_error': 0.0, 'detail_match': 0.0, 'seam_step': 0.0}
    """
    chosen = changed_faces(result, target, faces) or list(range(len(faces)))
    return {
        name: round(float(np.mean([proxy(result, target, faces[i], topology) for i in chosen])), 4) if chosen else 0.0
        for name, proxy in PROXIES.items()
    }
