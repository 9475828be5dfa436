"""SourceIdentity: source photos analysed once into a frontal texture atlas (best view per region)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.compose.masks import SkinModel, disc_mask, polygon_mask, ramp_from_edge, vertical_ramp
from faceweave.faces import Face
from faceweave.swap.eyes import iris_colour
from faceweave.swap.raster import affine_maps, dense_map, far_to_near, rasterise, signed_areas, surface_areas
from faceweave.swap.shape import normalise_shape
from faceweave.swap.topology import Topology

FloatArray = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]

ATLAS_PX = 512
MIRROR_PENALTY = 0.5  # a region seen directly beats the same region borrowed from the other side
MIN_FACING = 0.3  # cos of the angle between a triangle's normal and the view; below it the texture is smeared
CHEEK_IDS = (50, 280, 101, 330, 205, 425, 187, 411)
FOREHEAD_FADE = 0.3  # the source fades in over this share of the forehead, from the mesh top toward the brows
OPENING_FEATHER = 1 / 100  # the source fades out over this fraction of the atlas next to eye and mouth openings
FEATURE_GROW = 1 / 32  # features are exempt from the source skin test, grown by this fraction of the atlas
SOCKET_GROW = 0.09  # around the features, out to this distance, the skin test looks at chroma only


@dataclasses.dataclass(frozen=True)
class SourceIdentity:
    """A source person ready to swap: atlas texture, masks and identity.

    Attributes:
        texture: (A, A, 3) uint8 BGR in canonical UV space.
        alpha: (A, A) uint8, usable × border template × source skin test.
        band: (A, A) uint8, 255 inside the face and lower toward its border band (the border test zone).
        embedding: (128,) dlib descriptor (mean over the photos), or None when not computed.
        names: the photos it came from.
        direct_coverage: fraction of the atlas face area seen directly (not mirrored) in some photo.
        shape: (478, 3) the face's proportions: its meshes aligned onto the canonical face, averaged.
        iris: (3,) LAB iris colour (median over the photos that show it), or None when no photo does.
    """

    texture: Image
    alpha: npt.NDArray[np.uint8]
    band: npt.NDArray[np.uint8]
    embedding: FloatArray | None
    names: tuple[str, ...]
    direct_coverage: float
    shape: FloatArray
    iris: FloatArray | None

    @classmethod
    def from_faces(
        cls,
        photos: Sequence[tuple[Image, Face]],
        topology: Topology,
        names: Sequence[str],
        border_band: float = 0.04,
        border_mask: bool = True,
        source_eyes: bool = False,
    ) -> SourceIdentity:
        """Build the atlas from (photo, face) pairs, taking each region from the photo that sees it best."""
        geometry = AtlasGeometry.create(topology, ATLAS_PX)
        candidates = [_project(image, face, topology, geometry) for image, face in photos]
        texture, weight, direct = _combine(candidates, geometry)
        texture = fill_from_neighbours(texture, weight > 0)
        template, band = _template(topology, geometry, border_band if border_mask else 0.0)
        alpha = template * (weight > 0) * _opening_ramp(geometry, eyes_open=not source_eyes)
        if border_mask:
            features = _feature_mask(topology, geometry, FEATURE_GROW)
            alpha *= _source_skin(texture, geometry, features, _feature_mask(topology, geometry, SOCKET_GROW))
        alpha_u8 = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
        embeddings = [face.embedding for _, face in photos if face.embedding is not None]
        embedding = np.mean(embeddings, axis=0).astype(np.float32) if embeddings else None
        shape = np.mean([normalise_shape(face.mesh, topology.canonical) for _, face in photos], axis=0)
        irises = [iris_colour(image, face.mesh, topology.eye_triangles) for image, face in photos]
        seen = [colour for colour in irises if colour is not None]
        iris = np.median(seen, axis=0).astype(np.float32) if seen else None
        return cls(texture, alpha_u8, band, embedding, tuple(names), direct, shape.astype(np.float32), iris)


@dataclasses.dataclass(frozen=True)
class AtlasGeometry:
    """Where each triangle lies in the atlas (all triangles: surface first, then the eye fans)."""

    points: FloatArray
    triangles: npt.NDArray[np.int32]
    ids: npt.NDArray[np.uint16]
    surface_count: int

    @classmethod
    def create(cls, topology: Topology, size: int) -> AtlasGeometry:
        """Rasterise the canonical UV layout once."""
        points = np.concatenate([topology.uv * (size - 1), topology.canonical[:, 2:3]], axis=1).astype(np.float32)
        triangles = np.concatenate([topology.triangles, topology.eye_triangles]).astype(np.int32)
        ids = rasterise(points, triangles, far_to_near(points, triangles), (size, size))
        return cls(points, triangles, ids, len(topology.triangles))


def _visibility(mesh: FloatArray, triangles: npt.NDArray[np.int32]) -> FloatArray:
    """(T,) 0–1 how well the photo shows each triangle: facing (cos) times unoccluded fraction."""
    area_2d = signed_areas(mesh, triangles)
    facing = area_2d / np.maximum(surface_areas(mesh, triangles), 1e-6)
    front = np.flatnonzero(area_2d > 0).astype(np.int32)
    origin = np.floor(mesh[:, :2].min(axis=0)) - 1
    size = np.ceil(mesh[:, :2].max(axis=0) - origin).astype(int) + 2
    shifted = mesh.copy()
    shifted[:, :2] -= origin
    order = front[far_to_near(shifted, triangles[front])]
    ids = rasterise(shifted, triangles, order, (int(size[1]), int(size[0])))
    drawn = np.bincount(ids.ravel(), minlength=len(triangles) + 1)[1:].astype(np.float32)
    unoccluded = np.clip(drawn / np.maximum(area_2d, 1.0), 0.0, 1.0)
    unoccluded[area_2d < 4] = np.clip(facing[area_2d < 4] * 2, 0, 1)  # tiny triangles: trust the facing
    usable = (facing > MIN_FACING) & (unoccluded > 0.5)
    return np.where(usable, facing * unoccluded, 0.0).astype(np.float32)


def _project(image: Image, face: Face, topology: Topology, geometry: AtlasGeometry) -> tuple[Image, FloatArray]:
    """Warp one photo into the atlas and give each atlas pixel the photo's visibility weight there."""
    mesh = face.mesh.astype(np.float32)
    affines = affine_maps(geometry.points, mesh, geometry.triangles)
    map_x, map_y = dense_map(geometry.ids, affines)
    texture = cv2.remap(image, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    visibility = _visibility(mesh, geometry.triangles)
    resolution = min(1.0, face.size / 256.0) ** 0.5  # prefer sharper photos among equal views
    table = np.concatenate([[0.0], visibility * resolution]).astype(np.float32)
    return texture, table[geometry.ids]


def _combine(candidates: list[tuple[Image, FloatArray]], geometry: AtlasGeometry) -> tuple[Image, FloatArray, float]:
    """Soft best-view selection over direct and mirrored candidates; returns texture, weight, direct coverage."""
    mirrored = [(cv2.flip(t, 1), cv2.flip(w, 1) * MIRROR_PENALTY) for t, w in candidates]
    everything = candidates + mirrored
    weights = np.stack([w for _, w in everything])
    best = weights.max(axis=0)
    sharp = np.stack([cv2.GaussianBlur((w / np.maximum(best, 1e-6)) ** 8 * (w > 0), (0, 0), 3) for w in weights])
    sharp /= np.maximum(sharp.sum(axis=0), 1e-6)
    texture = sum(t.astype(np.float32) * s[..., None] for (t, _), s in zip(everything, sharp, strict=True))
    surface = (geometry.ids > 0) & (geometry.ids <= geometry.surface_count)
    direct = np.stack([w for _, w in candidates]).max(axis=0) > 0
    coverage = float((direct & surface).sum() / max(surface.sum(), 1))
    return np.clip(np.asarray(texture) + 0.5, 0, 255).astype(np.uint8), best, coverage


def _template(topology: Topology, geometry: AtlasGeometry, band: float) -> tuple[FloatArray, npt.NDArray[np.uint8]]:
    """Atlas-space face weight: ramps down over the border band and the top of the forehead,
    never over the brows, eyes, nose or lips. Returns (weight 0–1, band map uint8)."""
    size = geometry.ids.shape[0]
    inside = (geometry.ids > 0).astype(np.uint8)
    if band <= 0:
        ones = inside.astype(np.float32)
        return ones, (ones * 255).astype(np.uint8)
    edge = ramp_from_edge(inside, band * size)
    points = geometry.points
    top = float(points[topology.forehead_top, 1].min())
    brow = float(points[topology.protected, 1].min())
    forehead = vertical_ramp((size, size), top, top + FOREHEAD_FADE * (brow - top))
    template = edge * forehead
    hull = polygon_mask((size, size), points[topology.protected]).astype(np.float32) / 255
    protected = cv2.GaussianBlur(hull, (0, 0), band * size / 4)
    weight = np.maximum(template, np.minimum(protected * 1.5, 1.0)) * inside
    return weight.astype(np.float32), np.clip(weight * 255 + 0.5, 0, 255).astype(np.uint8)


def fill_from_neighbours(image: Image, known: npt.NDArray[np.bool_]) -> Image:
    """Unknown pixels get a smooth extrapolation of the known ones (pull-push over a pyramid), so that sampling or
    feathering across the face's edges and openings blends in face colours, not whatever lay outside."""
    if known.all() or not known.any():
        return image
    levels: list[tuple[FloatArray, FloatArray]] = []
    colour = image.astype(np.float32) * known[..., None]
    weight = known.astype(np.float32)
    while min(weight.shape) > 4:
        levels.append((colour, weight))
        colour, weight = cv2.pyrDown(colour), cv2.pyrDown(weight)
    filled = colour / np.maximum(weight, 1e-6)[..., None]
    for colour, weight in reversed(levels):
        up = cv2.resize(filled, (weight.shape[1], weight.shape[0]), interpolation=cv2.INTER_LINEAR)
        share = np.clip(weight, 0.0, 1.0)[..., None]
        filled = colour / np.maximum(weight, 1e-6)[..., None] * share + up * (1 - share)
    result = np.where(known[..., None], image, np.clip(filled + 0.5, 0, 255).astype(np.uint8))
    return result.astype(np.uint8)


def _opening_ramp(geometry: AtlasGeometry, eyes_open: bool) -> FloatArray:
    """0 at the mouth opening (and the eye openings when `eyes_open`) rising to 1 a few pixels away, so the
    target's own lip and lid margins show through softly instead of meeting the source's at a hard line."""
    size = geometry.ids.shape[0]
    empty = (geometry.ids == 0).astype(np.uint8)
    cv2.floodFill(empty, None, (0, 0), 2)  # the atlas corner lies outside the face
    openings = empty == 1
    if eyes_open:
        openings |= geometry.ids > geometry.surface_count
    distance = cv2.distanceTransform((~openings).astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(distance / (OPENING_FEATHER * size), 0.0, 1.0).astype(np.float32)


def _feature_mask(topology: Topology, geometry: AtlasGeometry, grow_fraction: float) -> FloatArray:
    """Atlas-space 0–1 mask over brows, eyes, nose and lips (each hull grown by `grow_fraction`, soft edge)."""
    size = geometry.ids.shape[0]
    mask = np.zeros((size, size), np.uint8)
    for feature in topology.features:
        mask |= polygon_mask((size, size), geometry.points[feature])
    grow = 2 * round(grow_fraction * size) + 1
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    return cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), size / 128)


def _source_skin(texture: Image, geometry: AtlasGeometry, features: FloatArray, sockets: FloatArray) -> FloatArray:
    """1 on the source's skin and features; 0 on its hair, hats, glasses frames or beard, which must not
    be painted onto the target. Around the features (`sockets`: eye sockets, nostrils, lip corners) only
    chroma counts, so shadows stay while neutral-coloured glasses frames still go."""
    size = geometry.ids.shape[0]
    cheeks = disc_mask((size, size), geometry.points[list(CHEEK_IDS)], max(4, size // 40))
    model = SkinModel.from_pixels(texture, cheeks)
    if model is None:
        return np.ones(features.shape, np.float32)
    full = model.likelihood(texture)
    chroma = model.likelihood(texture, luma_weight=0.0)
    skin = cv2.GaussianBlur(full * (1 - sockets) + chroma * sockets, (0, 0), 2)
    return np.maximum(skin, features).astype(np.float32)
