"""The embedded swapper: dense remap of the source atlas through the target's Face Mesh, then compose."""

from __future__ import annotations

import collections
import dataclasses
import threading
import weakref

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.analysis.analyser import Mode
from faceweave.clock import StageClock
from faceweave.compose.blend import alpha_blend, feather, poisson_blend, pyramid_blend
from faceweave.compose.color import GainFilter, transfer_lighting, transfer_reinhard
from faceweave.compose.masks import SkinModel, disc_mask
from faceweave.compose.resample import shrink, shrink_to_side, side_fitted
from faceweave.faces import Face
from faceweave.geometry.raster import affine_maps, dense_map, far_to_near, rasterise, signed_areas
from faceweave.geometry.topology import Topology
from faceweave.settings import SwapSettings
from faceweave.swap.eyes import recolour_irises
from faceweave.swap.shape import outline_moves, outline_weights, reshape
from faceweave.swap.source import ATLAS_PX, CHEEK_IDS, AtlasGeometry, SourceIdentity
from faceweave.types import FloatArray, Image

MAX_WORK_SIDE = 288  # the map is piecewise affine and smooth: build it at most this large, then upsample
TEXTURE_SIDE = 512  # the atlas holds the face in 512 px: rendering larger regions finer adds no detail
FADE_YAW = (60.0, 75.0)  # degrees: full swap up to the first, none beyond the second
FADE_PITCH = (40.0, 55.0)
MIP_SLACK = 1.5  # atlas pixels per output pixel tolerated before sampling a halved atlas
AA_SIGMA = 0.5  # band-limiting blur per unit of √(r² − 1) for a reduction r (flicker on textured sources)
MARGIN = 0.06  # region around the mesh, as a fraction of the face size
FEATHER = 0.02  # the alpha's feathering blur, as a fraction of the face size


@dataclasses.dataclass(frozen=True)
class Region:
    """A face's working rectangle in the frame (x0, y0, x1, y1) and its map scale."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    @property
    def shape_hw(self) -> tuple[int, int]:
        """Full-resolution (h, w)."""
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def work_hw(self) -> tuple[int, int]:
        """(h, w) of the reduced map grid."""
        h, w = self.shape_hw
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))


def face_region(mesh: FloatArray, frame_hw: tuple[int, int]) -> Region | None:
    """The clipped rectangle around a mesh, or None when the face lies outside the frame."""
    low, high = mesh[:468, :2].min(axis=0), mesh[:468, :2].max(axis=0)
    pad = MARGIN * float(np.sqrt(np.prod(high - low)))
    x0, y0 = (max(0, int(np.floor(v - pad))) for v in low)
    x1 = min(frame_hw[1], int(np.ceil(high[0] + pad)))
    y1 = min(frame_hw[0], int(np.ceil(high[1] + pad)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return Region(x0, y0, x1, y1, min(1.0, MAX_WORK_SIDE / max(x1 - x0, y1 - y0)))


@dataclasses.dataclass(frozen=True)
class FaceMap:
    """Where each pixel of a face's region looks up the source atlas: the half of `render` that needs only the mesh
    and the identity (live mode makes it on the analysis thread, beside the previous frame's swap).

    Attributes:
        region: where the face goes in the frame.
        work: the mesh's points on the work grid.
        small_x, small_y: atlas coordinates per work-grid pixel (-1 outside the face).
        alpha: 0–1 coverage (atlas template), work grid, before the target's skin test.
        band: 0–255 atlas border band (< 254: the border zone where the target's skin test applies), work grid.
        skin_source: 0–1 source skin likelihood, work grid.
        positions: (h, w, 2) atlas positions on the texture grid (the region at most `TEXTURE_SIDE` px), -1 outside.
        within: 0–1 the face's outline, feathered (`within_outline`), work grid.
    """

    region: Region
    work: FloatArray
    small_x: FloatArray
    small_y: FloatArray
    alpha: FloatArray
    band: npt.NDArray[np.uint8]
    skin_source: FloatArray
    positions: FloatArray
    within: FloatArray


@dataclasses.dataclass(frozen=True)
class Layer:
    """A rendered source face for one target face, on grids smaller than the region for large faces.

    Attributes:
        region: where it goes in the frame.
        face: BGR source face in the target's pose before colour transfer, on the texture grid (the region
            scaled to at most the texture side; up-sampled only when composed).
        target: the target's pixels under the region on the same texture grid.
        alpha: 0–1 coverage (atlas template × border tests) on the work grid, before feathering and strength.
        target_skin: alpha × target skin likelihood (where to learn the target's lighting), work grid.
        face_skin: alpha × source skin likelihood (where to measure the source's own lighting), work grid.
        within: 0–1 the face's outline, feathered, work grid: the blend never reaches further.
    """

    region: Region
    face: Image
    target: Image
    alpha: FloatArray
    target_skin: FloatArray
    face_skin: FloatArray
    within: FloatArray


class MeshSwapper:
    """Swaps faces with a SourceIdentity's atlas; one instance per Settings (holds the atlas geometry).

    Example:
        >>> swapper = MeshSwapper(Settings(), load_topology())
        >>> frame = swapper(frame, faces[0], identity)  # doctest: +SKIP
    """

    def __init__(self, settings: SwapSettings, topology: Topology, mode: Mode = "still") -> None:
        self.settings = settings
        self._face_shape = settings.face_shape if mode == "still" else settings.video_face_shape
        self.topology = topology
        self.geometry = AtlasGeometry.create(topology, ATLAS_PX)
        count = self.geometry.surface_count
        self._triangles = self.geometry.triangles if settings.source_eyes else self.geometry.triangles[:count]
        self._iris_colour = settings.eye_colour and not settings.source_eyes
        self._outline_weights = outline_weights(topology)
        self._levels = AtlasLevels()

    def fit_shape(self, frame: Image, face: Face, identity: SourceIdentity) -> tuple[Image, Face]:
        """The frame warped so the face takes the source's outline, and the moved face (`face_shape` for stills,
        `video_face_shape` for video and live, where it costs 4–12 ms a frame; 0 = unchanged)."""
        strength = self._face_shape * self.settings.blend
        if strength <= 0:
            return frame, face
        moves = outline_moves(
            face.mesh,
            identity.shape,
            self.topology.canonical,
            self._outline_weights,
            strength,
            float(face.pose[0]),
        )
        reshaped = reshape(frame, face.mesh, moves, self.topology)
        return reshaped.frame, dataclasses.replace(face, mesh=reshaped.mesh)

    def worth_mapping_ahead(self, frame_hw: tuple[int, int], face: Face) -> bool:
        """Whether to make this face's FaceMap on the analysis thread (live): only for faces larger than the work
        grid, whose swap is the longer stage; a small face's swap is short already and its analysis is not. Never
        when the face shape is moved first (the warp changes the mesh the map was made from)."""
        if self._face_shape * self.settings.blend > 0:
            return False
        region = face_region(face.mesh, frame_hw)
        return region is not None and region.scale < 1.0

    def map_face(self, frame_hw: tuple[int, int], face: Face, identity: SourceIdentity) -> FaceMap | None:
        """The atlas look-up for this face in a frame of `frame_hw` (None when the face lies outside the frame)."""
        region = face_region(face.mesh, frame_hw)
        if region is None:
            return None
        points = face.mesh.astype(np.float32).copy()
        points[:, 0] -= region.x0
        points[:, 1] -= region.y0
        triangles = self._triangles
        front = np.flatnonzero(signed_areas(points, triangles) > 0).astype(np.int32)
        work = points.copy()
        work[:, :2] = (points[:, :2] + 0.5) * region.scale - 0.5
        ids = rasterise(work, triangles, front[far_to_near(work, triangles[front])], region.work_hw)
        small_x, small_y = dense_map(ids, affine_maps(points, self.geometry.points, triangles), region.scale)
        masks = cv2.remap(identity.masks, small_x, small_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha_u8, band, skin_u8 = cv2.split(masks)
        alpha, skin_source = alpha_u8.astype(np.float32) / 255, skin_u8.astype(np.float32) / 255
        grid_hw = side_fitted(region.shape_hw, TEXTURE_SIDE)
        same = region.work_hw == grid_hw
        positions = cv2.merge([small_x, small_y]) if same else up_sample_maps(small_x, small_y, grid_hw)
        within = within_outline(face.mesh[self.topology.oval], region, _feather_sigma(face, region))
        return FaceMap(region, work, small_x, small_y, alpha, band, skin_source, positions, within)

    def render(
        self, frame: Image, face: Face, identity: SourceIdentity, face_map: FaceMap | None = None
    ) -> Layer | None:
        """The source face drawn in the target's pose, before colour and blend (`face_map`: made ahead by
        `map_face` for this face, frame size and identity; made here when None)."""
        face_map = face_map or self.map_face((frame.shape[0], frame.shape[1]), face, identity)
        if face_map is None:
            return None
        region = face_map.region
        target = shrink_to_side(frame[region.y0 : region.y1, region.x0 : region.x1], TEXTURE_SIDE)
        warped = _warp_texture(identity.texture, face_map.small_x, face_map.small_y, face_map.positions, self._levels)
        skin_target = _skin(shrink(target, region.work_hw[::-1]), face_map.work)
        alpha = face_map.alpha
        if self.settings.border_mask:
            alpha = alpha * np.where(face_map.band < 254, skin_target, 1.0)
        face_skin = alpha * face_map.skin_source
        return Layer(region, warped, target, alpha, alpha * skin_target, face_skin, face_map.within)

    def recolour(self, layer: Layer, face: Face, gain_filter: GainFilter | None = None) -> Image:
        """The layer's face with the target's lighting (or LAB statistics, or unchanged), on the texture grid;
        video smooths the gain."""
        if self.settings.color_mode == "lighting":
            sigma = self.settings.lighting_sigma * face.size * layer.face.shape[0] / layer.region.shape_hw[0]
            return transfer_lighting(layer.face, layer.target, layer.target_skin, sigma, layer.face_skin, gain_filter)
        if self.settings.color_mode == "reinhard":
            weight = cv2.resize(layer.alpha, (layer.face.shape[1], layer.face.shape[0]))
            return transfer_reinhard(layer.face, layer.target, weight)
        return layer.face

    def compose(self, frame: Image, layer: Layer, coloured: Image, face: Face) -> Image:
        """A copy of the frame with the coloured face blended in (feathered alpha × blend strength)."""
        region, settings = layer.region, self.settings
        h, w = region.shape_hw
        strength = settings.blend * turn_fade(float(face.pose[0]), float(face.pose[1]))
        small_alpha = feather(layer.alpha, _feather_sigma(face, region)) * layer.within * strength
        alpha = cv2.resize(small_alpha, (w, h), interpolation=cv2.INTER_LINEAR) if region.scale < 1 else small_alpha
        target = frame[region.y0 : region.y1, region.x0 : region.x1]
        if coloured.shape[:2] != (h, w):
            coloured = cv2.resize(coloured, (w, h), interpolation=cv2.INTER_LINEAR)
        if settings.blend_mode == "pyramid":
            patch = pyramid_blend(target, coloured, alpha)
        elif settings.blend_mode == "poisson":
            patch = poisson_blend(target, coloured, alpha)
        else:
            patch = alpha_blend(target, coloured, alpha)
        result = frame.copy()
        result[region.y0 : region.y1, region.x0 : region.x1] = patch
        return result

    def __call__(
        self,
        frame: Image,
        face: Face,
        identity: SourceIdentity,
        gain_filter: GainFilter | None = None,
        face_map: FaceMap | None = None,
        clock: StageClock | None = None,
    ) -> Image:
        """A copy of `frame` with this face replaced (the frame itself is not modified; `face_map`: see render;
        `clock` gets the ms of each step: shape, remap, colour, blend, eyes)."""
        clock = clock or StageClock()
        original = frame
        frame, face = self.fit_shape(frame, face, identity)
        clock.lap("shape")
        layer = self.render(frame, face, identity, face_map if frame is original else None)
        clock.lap("remap")
        if layer is None:
            return frame
        coloured = self.recolour(layer, face, gain_filter)
        clock.lap("colour")
        result = self.compose(frame, layer, coloured, face)
        clock.lap("blend")
        result = self.recolour_eyes(result, face, identity)
        clock.lap("eyes")
        return result

    def recolour_eyes(self, frame: Image, face: Face, identity: SourceIdentity) -> Image:
        """The target's irises shifted to the source's colour, in place (`frame` is compose's own copy)."""
        if not self._iris_colour or identity.iris is None:
            return frame
        eyes = self.topology.eye_triangles
        strength = self.settings.blend * turn_fade(float(face.pose[0]), float(face.pose[1]))
        return recolour_irises(frame, face.mesh, eyes, identity.iris, strength, in_place=True)


def turn_fade(yaw: float, pitch: float) -> float:
    """1 up to the supported head turn, fading linearly to 0 beyond it: a profile gets no smeared half-face."""
    yaw_fade = (FADE_YAW[1] - abs(yaw)) / (FADE_YAW[1] - FADE_YAW[0])
    pitch_fade = (FADE_PITCH[1] - abs(pitch)) / (FADE_PITCH[1] - FADE_PITCH[0])
    return float(np.clip(min(yaw_fade, pitch_fade), 0.0, 1.0))


def _feather_sigma(face: Face, region: Region) -> float:
    """The alpha's feathering blur, in work-grid pixels."""
    return max(1.5, FEATHER * face.size) * region.scale


def within_outline(outline: FloatArray, region: Region, sigma: float) -> FloatArray:
    """0–1 on the region's work grid: 1 inside the face `outline` (frame pixels), 0.5 on it, ~0 two `sigma` beyond.
    The feathered alpha is held to it: spread further past the outline it laid a glow of skin over the background
    beside turned faces (or of whatever the atlas held beyond the face: a line along the forehead top). Ending the
    swap further inside cost identity (turned faces show their outline, and dlib reads it)."""
    points = (outline[:, :2] - (region.x0, region.y0) + 0.5) * region.scale - 0.5
    inside = np.zeros(region.work_hw, np.float32)
    cv2.fillPoly(inside, [np.round(points * 4).astype(np.int32)], 1.0, cv2.LINE_8, 2)
    return feather(inside, sigma)


def up_sample_maps(small_x: FloatArray, small_y: FloatArray, grid_hw: tuple[int, int]) -> FloatArray:
    """(h, w, 2) atlas positions on the texture grid from maps on the smaller work grid, -1 outside the face.

    Interpolated over mapped pixels only (normalised by their share): a plain resize mixed the face edge's atlas
    positions with the -1 of the outside, so a line of pixels along every edge looked the atlas up half-way to its
    corner (a thin dark line along the forehead top of large faces, jagged rims around their eyes).
    """
    size = grid_hw[::-1]
    positions = cv2.resize(cv2.merge([small_x, small_y]), size, interpolation=cv2.INTER_LINEAR)
    share = cv2.resize((small_x >= 0).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)  # of mapped pixels
    band = cv2.findNonZero(cv2.inRange(share, 1e-3, 0.999))  # the thin band along the edges
    if band is not None:
        columns, rows = band[:, 0, 0], band[:, 0, 1]
        mapped = share[rows, columns, None]
        positions[rows, columns] = (positions[rows, columns] + (1.0 - mapped)) / mapped  # the -1s taken out
    return positions


def _warp_texture(
    texture: Image, small_x: FloatArray, small_y: FloatArray, positions: FloatArray, levels: AtlasLevels
) -> Image:
    """The atlas texture remapped onto the texture grid at `positions` (up-sampled from the work-grid maps
    `small_x`, `small_y`, which tell how many atlas pixels one output pixel spans).

    Faces larger than the atlas can resolve are rendered, recoloured and only then up-sampled as colour,
    which costs a fraction of up-sampling two float maps, remapping and colouring at full size. Faces
    smaller than the atlas sample a pre-filtered level of it, as a mip-map would: a bilinear look-up
    skipping atlas pixels aliases into speckle and grain on small faces, and into shimmer from frame to
    frame wherever the source has fine texture (wrinkles, pores, film grain).
    """
    level, sigma = mip_choice(_atlas_step(small_x, small_y, small_x.shape[1] / positions.shape[1]))
    if level:
        positions = (positions + 0.5) / (1 << level) - 0.5
    return cv2.remap(levels(texture, level, sigma), positions, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _atlas_step(small_x: FloatArray, small_y: FloatArray, work_per_grid: float) -> float:
    """Atlas pixels per texture-grid pixel, the median over the face (0 when too little of it is mapped).

    Measured on every `stride`-th row and column (the maps are piecewise affine, so a chord over `stride` pixels
    is the mean step): ~0.1 ms a face instead of ~0.6 ms over every work-grid pixel.
    """
    stride = max(1, min(small_x.shape) // 64)
    xs, ys = small_x[::stride, ::stride], small_y[::stride, ::stride]
    inside = (xs[:, 1:] >= 0) & (xs[:, :-1] >= 0)
    if inside.sum() < 16:
        return 0.0
    step = np.hypot(np.diff(xs, axis=1)[inside], np.diff(ys, axis=1)[inside]) / stride
    return float(np.median(step)) * work_per_grid


def mip_choice(step: float) -> tuple[int, float]:
    """How many times to halve the atlas (0 for large faces, up to `MIP_SLACK` atlas pixels per step tolerated)
    and the Gaussian sigma, in pixels of that level, that band-limits the rest of the reduction (`AA_SIGMA`·
    √(r² − 1) for a remaining reduction r, in steps of 0.1 px so filtered levels can be cached)."""
    level = int(np.clip(np.floor(np.log2(max(step, 1.0) / MIP_SLACK)), 0, 4))
    rest = step / (1 << level)
    sigma = AA_SIGMA * float(np.sqrt(rest * rest - 1.0)) if rest > 1.0 else 0.0
    return level, round(sigma, 1)


class AtlasLevels:
    """Pre-filtered atlas levels (pyrDown `level` times, then a Gaussian of `sigma`), cached per texture.

    A face keeps about the same size from frame to frame, so its level is made once instead of every frame
    (a 512 px blur costs ~0.6 ms). Entries hold a weak reference to their texture: a replaced source is
    never served from an old entry.
    """

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._entries: collections.OrderedDict[tuple[int, int, float], tuple[weakref.ref[Image], Image]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def __call__(self, texture: Image, level: int, sigma: float) -> Image:
        if level == 0 and sigma <= 0:
            return texture
        key = (id(texture), level, sigma)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is texture:
                self._entries.move_to_end(key)
                return entry[1]
        filtered = texture
        for _ in range(level):
            filtered = cv2.pyrDown(filtered)
        if sigma > 0:
            filtered = cv2.GaussianBlur(filtered, (0, 0), sigma)
        with self._lock:
            self._entries[key] = (weakref.ref(texture), filtered)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return filtered


def _skin(small: Image, work_points: FloatArray) -> FloatArray:
    """0–1 likelihood that each pixel of an image on the work grid is skin like the face's own cheeks."""
    h, w = small.shape[:2]
    radius = max(2, int(0.04 * float(np.ptp(work_points[:468, 0]))))
    cheeks = disc_mask((h, w), work_points[list(CHEEK_IDS)], radius)
    model = SkinModel.from_pixels(small, cheeks)
    if model is None:
        return np.ones((h, w), np.float32)
    return model.likelihood(small)
