"""Face Mesh topology as data: 852 oriented triangles, left/right mirror maps, regions and atlas UVs."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Iterable
from importlib import resources

import numpy as np
import numpy.typing as npt
from mediapipe.python.solutions import face_mesh_connections as mesh_edges

from faceweave.types import FloatArray

IntArray = npt.NDArray[np.int32]

MESH_POINTS = 468  # tessellated points; 468..477 are the refined iris points
RIGHT_IRIS_CENTRE = 468  # subject's right eye: image left
LEFT_IRIS_CENTRE = 473


@dataclasses.dataclass(frozen=True)
class Topology:
    """Everything the mesh swap needs to know about the Face Mesh, computed once.

    Attributes:
        triangles: (T, 3) vertex ids, counter-clockwise on screen for a frontal face (x right, y down).
        eye_triangles: (E, 3) fans that close both eye openings, used only when source eyes are wanted.
        canonical: (478, 3) symmetric mean face, unit scale, x right, y down, z away from the camera.
        mirror: (478,) vertex id of each vertex's left/right twin (midline vertices map to themselves). The
            tessellation is not exactly symmetric (6 quads split along the other diagonal), so a triangle's
            mirror image is a triangle in the atlas but not always one of `triangles`.
        uv: (478, 2) atlas coordinates in [0, 1] (canonical x, y rescaled).
        protected: vertex ids of brows, eyes, nose and lips (never dropped by the border mask).
        features: the same, one array per feature (each brow, each eye, nose, lips), to mask them apart.
        forehead_top: vertex ids of the upper face outline (above the brows).
        oval: vertex ids of the face outline, in order around the face.
    """

    triangles: IntArray
    eye_triangles: IntArray
    canonical: FloatArray
    mirror: IntArray
    uv: FloatArray
    protected: IntArray
    features: tuple[IntArray, ...]
    forehead_top: IntArray
    oval: IntArray


def _vertex_ids(edges: Iterable[tuple[int, int]]) -> IntArray:
    return np.array(sorted({v for edge in edges for v in edge}), dtype=np.int32)


def _cliques(edges: Iterable[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Triangles of the tessellation graph, dropping the 3-cliques that are not faces of the surface."""
    unique = {(min(a, b), max(a, b)) for a, b in edges}
    neighbours: dict[int, set[int]] = {}
    for a, b in unique:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    cliques = {tuple(sorted((a, b, c))) for a, b in unique for c in neighbours[a] & neighbours[b]}
    uses: dict[tuple[int, int], int] = {}
    for clique in cliques:
        for edge in itertools.combinations(clique, 2):
            uses[edge] = uses.get(edge, 0) + 1
    # A surface edge borders at most two faces; a clique whose three edges all border more is a false face.
    return sorted(c for c in cliques if not all(uses[e] > 2 for e in itertools.combinations(c, 2)))  # type: ignore[misc]


def _orient(triangles: IntArray, points: FloatArray) -> IntArray:
    a, b, c = (points[triangles[:, i], :2] for i in range(3))
    cross: FloatArray = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    flipped = triangles.copy()
    flipped[cross < 0] = triangles[cross < 0][:, [0, 2, 1]]
    return flipped


def _eye_contour(edges: Iterable[tuple[int, int]]) -> list[int]:
    links: dict[int, list[int]] = {}
    for a, b in edges:
        links.setdefault(a, []).append(b)
        links.setdefault(b, []).append(a)
    start = min(links)
    contour, previous = [start], -1
    while True:
        following = next(v for v in links[contour[-1]] if v != previous and v != contour[-1])
        if following == start:
            return contour
        previous = contour[-1]
        contour.append(following)


def _eye_fans(centre: int, contour: list[int]) -> list[tuple[int, int, int]]:
    return [(centre, contour[i], contour[(i + 1) % len(contour)]) for i in range(len(contour))]


def _with_irises(points: FloatArray, mirror: IntArray) -> tuple[FloatArray, IntArray]:
    """Extend the 468 canonical points with 10 iris points (centre + 4 around each eye opening)."""
    full = np.zeros((478, 3), np.float32)
    full[:MESH_POINTS] = points
    for centre, edges in (
        (RIGHT_IRIS_CENTRE, mesh_edges.FACEMESH_RIGHT_EYE),
        (LEFT_IRIS_CENTRE, mesh_edges.FACEMESH_LEFT_EYE),
    ):
        ring = points[_vertex_ids(edges)]
        middle = ring.mean(axis=0)
        radius = 0.35 * float(np.ptp(ring[:, 1]))
        full[centre] = middle
        for k, offset in enumerate(((radius, 0, 0), (0, -radius, 0), (-radius, 0, 0), (0, radius, 0))):
            full[centre + 1 + k] = middle + np.array(offset, np.float32)
    iris_mirror = np.array([473, 476, 475, 474, 477, 468, 471, 470, 469, 472], np.int32)
    return full, np.concatenate([mirror.astype(np.int32), iris_mirror])


@functools.cache
def load_topology() -> Topology:
    """Build the topology once (about 10 ms) from MediaPipe's tessellation and the packaged canonical face."""
    with resources.files("faceweave.geometry").joinpath("canonical_face.npz").open("rb") as handle:
        data = np.load(handle)
        points, mirror = data["points"].astype(np.float32), data["mirror"].astype(np.int32)
    canonical, full_mirror = _with_irises(points, mirror)
    triangles = _orient(np.array(_cliques(mesh_edges.FACEMESH_TESSELATION), np.int32), canonical)
    right_eye = _eye_contour(mesh_edges.FACEMESH_RIGHT_EYE)
    left_eye = _eye_contour(mesh_edges.FACEMESH_LEFT_EYE)
    eyes = np.array(_eye_fans(RIGHT_IRIS_CENTRE, right_eye) + _eye_fans(LEFT_IRIS_CENTRE, left_eye), np.int32)
    xy = canonical[:, :2]
    uv = (xy - xy.min(axis=0)) / float(np.ptp(xy, axis=0).max())
    uv = uv + (1.0 - uv.max(axis=0)) / 2  # centre the face in the unit square
    feature_edges = (
        mesh_edges.FACEMESH_LEFT_EYEBROW,
        mesh_edges.FACEMESH_RIGHT_EYEBROW,
        mesh_edges.FACEMESH_LEFT_EYE,
        mesh_edges.FACEMESH_RIGHT_EYE,
        mesh_edges.FACEMESH_NOSE,
        mesh_edges.FACEMESH_LIPS,
    )
    features = tuple(_vertex_ids(edges) for edges in feature_edges)
    protected = np.unique(np.concatenate(features)).astype(np.int32)
    oval = np.array(_eye_contour(mesh_edges.FACEMESH_FACE_OVAL), np.int32)
    brow_top = canonical[_vertex_ids(mesh_edges.FACEMESH_LEFT_EYEBROW), 1].min()
    forehead_top = oval[canonical[oval, 1] < brow_top]
    return Topology(
        triangles=triangles,
        eye_triangles=_orient(eyes, canonical),
        canonical=canonical,
        mirror=full_mirror,
        uv=uv.astype(np.float32),
        protected=protected,
        features=features,
        forehead_top=forehead_top,
        oval=oval,
    )
