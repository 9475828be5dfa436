"""SourceIdentity: source photos analysed once into a frontal texture atlas (best view per region)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.compose.masks import SkinModel, disc_mask, polygon_mask, ramp_from_edge, vertical_ramp
from faceweave.faces import Face
from faceweave.geometry.raster import affine_maps, dense_map, far_to_near, rasterise, signed_areas, surface_areas
from faceweave.geometry.topology import Topology
from faceweave.occluders.glasses import GlassesZones, find_glasses
from faceweave.swap.eyes import iris_colour
from faceweave.swap.rims import find_rims
from faceweave.swap.shape import normalise_shape
from faceweave.types import FloatArray, Image

ATLAS_PX = 512
MIRROR_PENALTY = 0.5  # a region seen directly beats the same region borrowed from the other side
MIN_FACING = 0.3  # cos of the angle between a triangle's normal and the view; below it the texture is smeared
CHEEK_IDS = (50, 280, 101, 330, 205, 425, 187, 411)
FOREHEAD_FADE = 0.3  # the source fades in over this share of the forehead, from the mesh top toward the brows
OPENING_FEATHER = 1 / 100  # the source fades out over this fraction of the atlas next to eye and mouth openings
FEATURE_GROW = 1 / 32  # features are exempt from the source skin test, grown by this fraction of the atlas
HAIR_EXEMPT_GROW = 1 / 128  # ... and from the hair test grown only this much (hair often reaches the brow tails)
GLASSES_GROW = 1 / 256  # glasses pixels are grown by this fraction of the atlas before the fill (their soft edges)
DETAIL_SIGMA = 2.0  # px: what finer than this blur is "detail", mirrored into filled glasses frames
HAIR_DARK = 0.55  # above the eyes, darker than this share of the cheeks' luma is hair (or a hat), not skin ...
HAIR_TINTED = 0.8  # ... and so is darker than this share and more saturated than HAIR_SATURATION × the cheeks' ...
HAIR_SATURATION = 1.4
HAIR_RAMP = 0.1  # ... each test fading in over this share of the cheeks' value
EYE_CORNERS = (33, 263, 133, 362)
SIDE_HAIR_RAMP = 0.15  # below the eyes, the tinted-hair test fades in beyond the outer eye corners over this share of
# the eye span (hanging red or brown hair over the cheek edges; dark beards are left to the skin test)
HAIR_FADE_TO = 4  # mesh point: the hair test fades out from the eye line down to this height (mid-nose)
SOCKET_GROW = 0.09  # around the features, out to this distance, the skin test looks at chroma only (the hair test
# leaves alone only the eye sockets between the outer eye corners: hair lies on the temples and forehead)


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
        skin: (A, A) uint8, 0–255 likelihood of skin like the source's cheeks (where its own lighting is measured).
        masks: (A, A, 3) uint8 alpha, band and skin in one image: the swap remaps all three in one call.
    """

    texture: Image
    alpha: npt.NDArray[np.uint8]
    band: npt.NDArray[np.uint8]
    embedding: FloatArray | None
    names: tuple[str, ...]
    direct_coverage: float
    shape: FloatArray
    iris: FloatArray | None
    skin: npt.NDArray[np.uint8]
    masks: npt.NDArray[np.uint8] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "masks", cv2.merge([self.alpha, self.band, self.skin]))

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
            texture, alpha = _without_occluders(texture, alpha, topology, geometry)
        texture = _skin_beyond(texture, alpha, geometry)
        alpha_u8 = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
        embeddings = [face.embedding for _, face in photos if face.embedding is not None]
        embedding = np.mean(embeddings, axis=0).astype(np.float32) if embeddings else None
        shape = np.mean([normalise_shape(face.mesh, topology.canonical) for _, face in photos], axis=0)
        irises = [iris_colour(image, face.mesh, topology.eye_triangles) for image, face in photos]
        seen = [colour for colour in irises if colour is not None]
        iris = np.median(seen, axis=0).astype(np.float32) if seen else None
        skin = _lighting_skin(texture, geometry)
        return cls(texture, alpha_u8, band, embedding, tuple(names), direct, shape.astype(np.float32), iris, skin)


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


def _skin_beyond(texture: Image, alpha: FloatArray, geometry: AtlasGeometry) -> Image:
    """The atlas outside the face filled from the skin the swap uses: a swap's feathered edge reaches a little past
    the face, and there it showed whatever lay beyond the face in the photo (a line of hair colour along the
    forehead top)."""
    filled = fill_from_neighbours(texture, alpha > 0.5)
    return np.where((geometry.ids > 0)[..., None], texture, filled).astype(np.uint8)


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


def _without_occluders(
    texture: Image, alpha: FloatArray, topology: Topology, geometry: AtlasGeometry
) -> tuple[Image, FloatArray]:
    """The source's own occluders taken out of the atlas: glasses frames and glare filled from the skin around
    them, hair over the forehead, temples and cheek edges, hats, beards and anything else not skin faded out of
    `alpha`."""
    eyes = [geometry.points[eye][:, :2] for eye in topology.features[2:4]]
    texture, hidden_brows = remove_glasses(texture, GlassesZones.create(topology, ATLAS_PX), eyes)
    features = _feature_mask(topology, geometry, FEATURE_GROW)
    eye_sockets = _feature_mask(topology, geometry, SOCKET_GROW, topology.features[2:]) * _between_eyes(geometry)
    brows_only = _feature_mask(topology, geometry, HAIR_EXEMPT_GROW)  # hair meeting the brow tails is still hair
    hair = _hair(texture, geometry, np.maximum(brows_only, eye_sockets))
    texture = fill_from_neighbours(texture, hair < 0.5)
    skin = _source_skin(texture, geometry, features, _feature_mask(topology, geometry, SOCKET_GROW))
    return texture, (alpha * (1.0 - hidden_brows) * (1.0 - hair) * skin).astype(np.float32)


def _outer_corner_columns(geometry: AtlasGeometry) -> tuple[float, float]:
    """Atlas x of the two outer eye corners, left first."""
    left, right = sorted(float(geometry.points[i, 0]) for i in EYE_CORNERS[:2])
    return left, right


def _between_eyes(geometry: AtlasGeometry) -> FloatArray:
    """(1, A) 1 between the outer eye corners, 0 on the temples beyond them (eye-socket shadows stay inside)."""
    left, right = _outer_corner_columns(geometry)
    columns = np.arange(geometry.ids.shape[1], dtype=np.float32)
    return ((columns >= left) & (columns <= right)).astype(np.float32)[None, :]


def _hair(texture: Image, geometry: AtlasGeometry, exempt: FloatArray) -> FloatArray:
    """0–1 over hair (or a hat brim) on the forehead and temples: above the eyes (fading out to mid-nose height),
    outside `exempt` (brows, eye sockets), far darker than the cheeks, or darker and much more saturated (red hair
    on pale skin, which passes the skin colour test). Below the eyes, out beyond their outer corners, only the
    second test: hair hanging over the cheek edges, which a turned target's near cheek would stretch into a streak
    (a dark beard there is the skin test's, and stays the source's if it passes)."""
    size = geometry.ids.shape[0]
    cheeks = _cheeks(geometry) > 0
    luma = cv2.cvtColor(texture, cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float32)
    saturation = cv2.cvtColor(texture, cv2.COLOR_BGR2HSV)[..., 1].astype(np.float32)
    luma_ref, saturation_ref = float(np.median(luma[cheeks])), max(float(np.median(saturation[cheeks])), 1.0)
    dark = _ramp(HAIR_DARK * luma_ref - luma, HAIR_RAMP * luma_ref)
    deeper = _ramp(HAIR_TINTED * luma_ref - luma, HAIR_RAMP * luma_ref)
    tinted = deeper * _ramp(saturation - HAIR_SATURATION * saturation_ref, HAIR_RAMP * 2 * saturation_ref)
    eye_line = float(geometry.points[list(EYE_CORNERS), 1].mean())
    fade_end = float(geometry.points[HAIR_FADE_TO, 1])  # no hard cut at the eye line through hanging hair
    above = 1.0 - vertical_ramp((size, size), eye_line, fade_end)
    left, right = _outer_corner_columns(geometry)
    columns = np.arange(size, dtype=np.float32)
    beyond = np.maximum(left - columns, columns - right) / (SIDE_HAIR_RAMP * (right - left))
    lateral = np.clip(beyond, 0.0, 1.0)[None, :]  # 0 between the outer eye corners, 1 out on the cheek edges
    hair = np.maximum(np.maximum(dark, tinted) * above, tinted * lateral) * (geometry.ids > 0) * (1.0 - exempt)
    return cv2.GaussianBlur(hair.astype(np.float32), (0, 0), 2)


def _ramp(margin: FloatArray, width: float) -> FloatArray:
    """0–1: 0.5 where `margin` is 0, rising to 1 at width / 2 above it."""
    return np.clip(margin / width + 0.5, 0.0, 1.0).astype(np.float32)


def remove_glasses(texture: Image, zones: GlassesZones, eyes: Sequence[FloatArray] = ()) -> tuple[Image, FloatArray]:
    """The atlas with its glasses frames, their glare and light rims (traced around `eyes`, the atlas outlines of
    the eyes) filled from the skin around them, and a 0–1 map of the brows a frame hid (nothing to fill them from:
    the swap shows the target's own brows there instead)."""
    found = find_glasses(texture[zones.rows], zones)
    hidden_brows = np.zeros(texture.shape[:2], np.float32)
    if found is None:
        return texture, hidden_brows
    grow = 2 * max(1, round(GLASSES_GROW * zones.size)) + 1
    hidden = np.zeros(texture.shape[:2], np.uint8)
    hidden[zones.rows] = cv2.dilate(
        found.pixels.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))
    )
    if eyes:
        hidden |= find_rims(texture, eyes).astype(np.uint8)
    avoid = np.zeros(texture.shape[:2], bool)
    avoid[zones.rows] = zones.eyes
    hidden_brows[zones.rows] = found.frame & zones.brows
    brows = cv2.GaussianBlur(hidden_brows, (0, 0), grow / 2)
    return fill_with_detail(texture, hidden > 0, avoid), np.clip(brows * 2, 0.0, 1.0).astype(np.float32)


def fill_with_detail(image: Image, hidden: npt.NDArray[np.bool_], avoid: npt.NDArray[np.bool_]) -> Image:
    """`hidden` pixels filled from the pixels around them: a smooth pull-push fill plus the fine detail (pores,
    wrinkles) of the known pixels mirrored across the nearest edge, so that a wide fill does not read as a smear.
    Detail is never borrowed from `avoid` (e.g. eye openings, whose lashes would draw lines)."""
    smooth = fill_from_neighbours(image, ~hidden).astype(np.float32)
    detail = image.astype(np.float32) - cv2.GaussianBlur(image, (0, 0), DETAIL_SIGMA).astype(np.float32)
    _, labels = cv2.distanceTransformWithLabels(hidden.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    known = np.argwhere(~hidden)  # row-major, as the labels count them
    ys, xs = np.nonzero(hidden)
    nearest = known[labels[ys, xs] - 1]
    h, w = hidden.shape
    mirror_y = np.clip(2 * nearest[:, 0] - ys, 0, h - 1)
    mirror_x = np.clip(2 * nearest[:, 1] - xs, 0, w - 1)
    usable = ~hidden[mirror_y, mirror_x] & ~avoid[mirror_y, mirror_x]
    result = smooth
    result[ys, xs] += detail[mirror_y, mirror_x] * usable[:, None]
    return np.clip(result + 0.5, 0, 255).astype(np.uint8)


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


def _feature_mask(
    topology: Topology, geometry: AtlasGeometry, grow_fraction: float, features: Sequence[npt.NDArray[np.int32]] = ()
) -> FloatArray:
    """Atlas-space 0–1 mask over `features` (default: brows, eyes, nose and lips), each hull grown by
    `grow_fraction`, soft edge."""
    size = geometry.ids.shape[0]
    mask = np.zeros((size, size), np.uint8)
    for feature in features or topology.features:
        mask |= polygon_mask((size, size), geometry.points[feature])
    grow = 2 * round(grow_fraction * size) + 1
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    return cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), size / 128)


def _cheeks(geometry: AtlasGeometry) -> npt.NDArray[np.uint8]:
    """Discs on the atlas's cheeks (0/255): where a source's own skin colour and brightness are read."""
    size = geometry.ids.shape[0]
    return disc_mask((size, size), geometry.points[list(CHEEK_IDS)], max(4, size // 40))


def _cheek_model(texture: Image, geometry: AtlasGeometry) -> SkinModel | None:
    """The skin colour of an atlas texture's cheeks (None when too little of them is drawn)."""
    return SkinModel.from_pixels(texture, _cheeks(geometry))


def _lighting_skin(texture: Image, geometry: AtlasGeometry) -> npt.NDArray[np.uint8]:
    """0–255 likelihood that each atlas pixel is skin like the cheeks: where the swap measures the source's own
    lighting (computed once here rather than on every frame in the target's pose)."""
    size = geometry.ids.shape[0]
    model = _cheek_model(texture, geometry)
    if model is None:
        return np.full((size, size), 255, np.uint8)
    return np.clip(model.likelihood(texture) * 255 + 0.5, 0, 255).astype(np.uint8)


def _source_skin(texture: Image, geometry: AtlasGeometry, features: FloatArray, sockets: FloatArray) -> FloatArray:
    """1 on the source's skin and features; 0 on its hair, hats, glasses frames or beard, which must not
    be painted onto the target. Around the features (`sockets`: eye sockets, nostrils, lip corners) only
    chroma counts, so shadows stay while neutral-coloured glasses frames still go (hair of the skin's own hue
    passes this test: `_hair` takes it out)."""
    model = _cheek_model(texture, geometry)
    if model is None:
        return np.ones(features.shape, np.float32)
    full = model.likelihood(texture)
    chroma = model.likelihood(texture, luma_weight=0.0)
    skin = cv2.GaussianBlur(full * (1 - sockets) + chroma * sockets, (0, 0), 2)
    return np.maximum(skin, features).astype(np.float32)
