"""Glasses frames in front of faces: thin dark structures found in canonical (atlas) space, where the mesh says skin is.

The face is looked at in the swap's canonical UV layout, so "around the eyes", "the nose bridge" and "the temples"
are fixed places whatever the head pose. A frame is a dark line structure (much darker than the skin a closing
of its size would put there) that crosses the nose bridge between the eyes; everything strongly dark and connected
to that crossing inside the eye band (rims, bridge, temple arms) is frame. A face without a bridge crossing has no
glasses: wrinkles, lid creases and brows do not cross the nose, which keeps the mask empty on most faces.

Both sides of the swap use it: the source atlas fills frame pixels from the skin around them (so the source's
glasses are never painted onto the target), and the target keeps its own frame pixels after the swap.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.faces import Face
from faceweave.geometry.raster import affine_maps, dense_map, far_to_near, rasterise, signed_areas
from faceweave.geometry.topology import Topology
from faceweave.types import FloatArray, Image

Mask = npt.NDArray[np.uint8]
BoolMask = npt.NDArray[np.bool_]

# Lengths are fractions of the atlas side (the canonical face spans about 0.85 of it).
CLOSE_SIZE = 0.08  # structures thinner than this (frames, up to thick browline rims) are what the closing removes
LID_MARGIN = 0.012  # eye openings grown by this much: lids and lashes are never frame
BAND_ABOVE = 0.03  # the search band starts this far above the brows ...
EDGE_INSET = 0.02  # ... and stays this far inside the face outline (hair and background lie beyond)
BRIDGE_INSET = 0.02  # the bridge box spans the inner eye corners, inset by this much on each side ...
BRIDGE_BELOW = 0.03  # ... from the brows down to this far below the corners (glasses sit low on some noses)
EDGE_GROW = 0.006  # frame cores grow this far into weaker darkening (their anti-aliased edges)
STRONG = 0.7  # relative darkening (1 - luma / closing) of a frame's dark parts
DARK = 0.4  # ... and their luma is at most this share of the face's median (brows and lid shadows are lighter)
MIDDLE = 0.25  # ... of a lighter bridge
WEAK = 0.15  # ... and of anything that links them, and of their edges
THICK = 0.03  # dark regions wider than twice this (hair, background, deep shadow) are not frame
THIN = 0.7  # a bridge is a line: at most this share of the bridge box's height, column by column
BRIDGE_COVER = 0.85  # share of the bridge box's columns a dark structure must cross to be a frame
GLARE = 0.3  # a reflection is this share of the way from the eye band's median luma to white ...
GREY = 0.6  # ... and has at most this share of the band's median saturation
MAX_YAW = 45.0  # degrees: beyond this the far eye's band is too foreshortened to read a frame in
NOSE_BRIDGE_LOW = 4  # mesh point: the search band ends at the height of the nose's lower bridge
INNER_CORNERS = (133, 362)  # mesh points: the eyes' inner corners


@dataclasses.dataclass(frozen=True)
class GlassesZones:
    """Where glasses can be in a square atlas of side `size`; every mask covers only the eye band, atlas rows
    `rows` (glasses are looked for there and nowhere else), as (rows, size) bool.

    Attributes:
        search: the eye band inside the face (brows to mid-nose, temple to temple), eye openings and lids left out.
        bridge: the nose-bridge box between the inner eye corners, from the brows down to the corners.
        brows: both brows (a frame over a brow hides it: the swap shows the target's brow there instead).
        lenses: where lenses can show glare: the search band below the brows, the nose left out (its own shine).
        eyes: the eye openings grown by the lid margin.
        inside: the face surface.
    """

    size: int
    rows: slice
    search: BoolMask
    bridge: BoolMask
    brows: BoolMask
    lenses: BoolMask
    eyes: BoolMask
    inside: BoolMask

    @classmethod
    def create(cls, topology: Topology, size: int) -> GlassesZones:
        """The zones for an atlas of side `size` laid out like `topology.uv`."""
        points = topology.uv * (size - 1)
        triangles = np.concatenate([topology.triangles, topology.eye_triangles]).astype(np.int32)
        depth = np.concatenate([points, topology.canonical[:, 2:3]], axis=1).astype(np.float32)
        ids = rasterise(depth, triangles, far_to_near(depth, triangles), (size, size))
        brow_y = points[np.concatenate(topology.features[:2]), 1]
        top = max(0, int(np.floor(float(brow_y.min()) - BAND_ABOVE * size)))
        rows = slice(top, min(size, int(np.ceil(points[NOSE_BRIDGE_LOW, 1])) + 1))
        inside = ids > 0
        eyes = _grow(ids > len(topology.triangles), LID_MARGIN * size)
        search = ~_grow(~inside, EDGE_INSET * size) & ~eyes
        brows = _hull(points[topology.features[0]], size) | _hull(points[topology.features[1]], size)
        y, x = np.mgrid[0:size, 0:size]
        left, right = sorted(float(points[i, 0]) for i in INNER_CORNERS)
        corner_y = float(points[list(INNER_CORNERS), 1].mean())
        inset = BRIDGE_INSET * size
        box = (x >= left + inset) & (x <= right - inset) & (y >= brow_y.min()) & (y <= corner_y + BRIDGE_BELOW * size)
        nose = _grow(_hull(points[topology.features[4]], size), LID_MARGIN * size)
        lenses = search & (y > brow_y.max()) & ~nose
        band = (search, box & search, brows, lenses, eyes, inside)
        return cls(size, rows, *(mask[rows] for mask in band))


@dataclasses.dataclass(frozen=True)
class GlassesMask:
    """Glasses found in an atlas's eye band (`GlassesZones.rows`): frame pixels (rims, bridge, arms) and glare on
    the lenses and rims, each (rows, size) bool."""

    frame: BoolMask
    glare: BoolMask

    @property
    def pixels(self) -> BoolMask:
        """Frame or glare."""
        return self.frame | self.glare


def find_glasses(band: Image, zones: GlassesZones, glare: bool = True) -> GlassesMask | None:
    """Glasses in the eye band of a BGR atlas laid out like `zones` (`atlas[zones.rows]`), or None when no frame
    crosses the nose bridge. `glare` False: no glare search (an empty glare mask).

    Example:
        >>> zones = GlassesZones.create(load_topology(), 512)  # doctest: +SKIP
        >>> found = find_glasses(identity.texture[zones.rows], zones)  # doctest: +SKIP
        >>> None if found is None else round(float(found.frame.mean()), 2)  # doctest: +SKIP
        0.12
    """
    if band.shape[:2] != zones.search.shape:
        raise ValueError(f"band must be the atlas rows {zones.rows} ({zones.search.shape}), got {band.shape[:2]}")
    luma = cv2.cvtColor(band, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32) + 1.0
    darkening = 1.0 - luma / cv2.morphologyEx(luma, cv2.MORPH_CLOSE, _disc(CLOSE_SIZE * zones.size))
    weak = ((darkening > WEAK) & zones.search).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    crossing = _crossing_labels(labels, count, zones.bridge)
    if not crossing.any():
        return None
    bridge = crossing[labels]
    skin = float(np.median(luma[zones.search]))
    strong = ((darkening > STRONG) & (luma < DARK * skin) & zones.search).astype(np.uint8)
    count, labels = cv2.connectedComponents(strong, connectivity=8)
    linked = np.zeros(count, bool)
    linked[labels[bridge]] = True
    linked[0] = False
    lines = linked[labels] & ~_open(linked[labels], THICK * zones.size)  # lines, not blobs
    core = lines | (bridge & zones.bridge & (darkening > MIDDLE))
    edges = _grow(core, EDGE_GROW * zones.size) & (darkening > WEAK) & zones.search
    frame = _close(core | edges, EDGE_GROW * zones.size) & zones.inside & ~zones.eyes
    return GlassesMask(frame, _glare(band, luma, frame, zones) if glare else np.zeros_like(frame))


def _crossing_labels(labels: npt.NDArray[np.int32], count: int, bridge: BoolMask) -> npt.NDArray[np.bool_]:
    """(count,) True for the thin components that run across at least BRIDGE_COVER of the bridge box's columns."""
    ys, xs = np.nonzero(bridge)
    crossing = np.zeros(count, bool)
    if len(xs) == 0:
        return crossing
    columns = np.unique(xs)
    found = labels[ys, xs]
    column = np.searchsorted(columns, xs)
    per_column = np.zeros((count, len(columns)), np.int32)  # pixels of each component in each column of the box
    np.add.at(per_column, (found, column), 1)
    per_column[0] = 0
    covered = per_column > 0
    cover = covered.mean(axis=1)
    height = len(np.unique(ys))
    for label in np.flatnonzero(cover >= BRIDGE_COVER).tolist():
        crossing[label] = float(np.median(per_column[label][covered[label]])) / height <= THIN
    return crossing


def _glare(band: Image, luma: FloatArray, frame: BoolMask, zones: GlassesZones) -> BoolMask:
    """Reflections on the lenses and rims of a face that wears glasses: around the eyes, much brighter than the
    band's median and greyer (whiter, bluer) than the skin. Eyes, brows and the nose are left alone."""
    where = zones.lenses & ~frame
    if not where.any():
        return where
    typical = float(np.median(luma[where]))
    saturation = cv2.cvtColor(band, cv2.COLOR_BGR2HSV)[..., 1]
    bright = luma > typical + GLARE * (256.0 - typical)
    grey = saturation < GREY * float(np.median(saturation[where]))
    return _grow(where & bright & grey, EDGE_GROW * zones.size) & where


def _disc(diameter: float) -> Mask:
    side = 2 * max(1, round(diameter / 2)) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))


def _grow(mask: BoolMask, radius: float) -> BoolMask:
    if radius < 0.5:
        return mask
    return cv2.dilate(mask.astype(np.uint8), _disc(2 * radius)) > 0


def _open(mask: BoolMask, radius: float) -> BoolMask:
    if radius < 0.5:
        return mask
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, _disc(2 * radius)) > 0


def _close(mask: BoolMask, radius: float) -> BoolMask:
    if radius < 0.5:
        return mask
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, _disc(2 * radius)) > 0


def _hull(points: FloatArray, size: int) -> BoolMask:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points[:, :2]).astype(np.int32)), 1)
    return mask > 0


class GlassesFinder:
    """Finds glasses frames on a face in a frame and returns where they are, in frame pixels.

    The face's eye band is warped into a small canonical atlas (`size` px wide), searched there, and the frame's
    atlas pixels are put back where the mesh puts them in the frame.

    Example:
        >>> finder = GlassesFinder(load_topology())  # doctest: +SKIP
        >>> mask = finder(image, faces[0])  # doctest: +SKIP
    """

    def __init__(self, topology: Topology, size: int = 256) -> None:
        self.zones = GlassesZones.create(topology, size)
        uv = topology.uv * (size - 1)
        self._points = np.concatenate([uv, topology.canonical[:, 2:3]], axis=1).astype(np.float32)
        self._triangles = np.concatenate([topology.triangles, topology.eye_triangles]).astype(np.int32)
        order = far_to_near(self._points, self._triangles)
        self._ids = rasterise(self._points, self._triangles, order, (size, size))[self.zones.rows]
        self._atlas_span = float(np.ptp(uv[:468], axis=0).max())

    def band(self, image: Image, face: Face) -> tuple[Image, FloatArray, FloatArray, BoolMask]:
        """The face's eye band in the atlas: (BGR band, frame x, frame y of each band pixel, front-facing there)."""
        mesh = face.mesh.astype(np.float32)
        affines = affine_maps(self._points, mesh, self._triangles)
        affines[:, :, 2] += affines[:, :, 1] * self.zones.rows.start  # band row 0 is atlas row `start`
        map_x, map_y = dense_map(self._ids, affines)
        pixels = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        front = np.concatenate([[False], signed_areas(mesh, self._triangles) > 0])[self._ids]
        return pixels, map_x, map_y, front

    def __call__(self, image: Image, face: Face) -> Mask | None:
        """(h, w) uint8, 255 on the face's glasses frame; None when the face wears none that can be seen."""
        if abs(float(face.pose[0])) > MAX_YAW:
            return None
        band, map_x, map_y, front = self.band(image, face)
        found = find_glasses(band, self.zones, glare=False)
        if found is None:
            return None
        hit = found.frame & front
        h, w = image.shape[:2]
        xs, ys = np.round(map_x[hit]).astype(np.int64), np.round(map_y[hit]).astype(np.int64)
        keep = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        if not keep.any():
            return None
        return _splat(xs[keep], ys[keep], (h, w), float(np.ptp(face.mesh[:468, :2], axis=0).max()) / self._atlas_span)


def _splat(xs: npt.NDArray[np.int64], ys: npt.NDArray[np.int64], shape_hw: tuple[int, int], step: float) -> Mask:
    """(h, w) uint8 mask of the points, each grown to cover the `step` frame pixels one atlas pixel spans."""
    h, w = shape_hw
    pad = int(np.ceil(step)) + 1
    x0, y0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    x1, y1 = min(w, int(xs.max()) + pad + 1), min(h, int(ys.max()) + pad + 1)
    patch = np.zeros((y1 - y0, x1 - x0), np.uint8)
    patch[ys - y0, xs - x0] = 255
    mask = np.zeros((h, w), np.uint8)
    mask[y0:y1, x0:x1] = cv2.dilate(patch, _disc(2 * max(1.0, step)))
    return mask
