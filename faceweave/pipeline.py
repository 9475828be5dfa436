"""The one pipeline every front door reuses: analyse → select → swap, frame by frame."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.analysis.analyser import FaceAnalyser, Mode
from faceweave.analysis.glasses import GlassesFinder
from faceweave.analysis.hands import HandDetector, hand_mask
from faceweave.analysis.select import match_references, pick_faces
from faceweave.compose.blend import alpha_blend
from faceweave.compose.color import GainFilter
from faceweave.errors import NoFaceError, UsageError
from faceweave.faces import Face, Faces
from faceweave.media.image_io import LoadedImage, read_image
from faceweave.settings import Occluders, Settings
from faceweave.swap.mesh_swap import FaceMap, MeshSwapper
from faceweave.swap.source import SourceIdentity
from faceweave.swap.topology import load_topology

if TYPE_CHECKING:
    from faceweave.swap.onnx_swap import Plugins

Image = npt.NDArray[np.uint8]
ImageInput = str | os.PathLike[str] | Image | LoadedImage

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FrameResult:
    """What one frame went through: the output image, the faces found and which were swapped."""

    image: Image
    faces: Faces
    swapped: tuple[int, ...]
    stage_ms: tuple[float, float] = (0.0, 0.0)
    """Milliseconds spent analysing (detect/track + mesh + selection) and swapping this frame."""


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A frame's analysis handed to its swap: the faces, which face gets which identity, and (mesh swapper)
    each assigned face's atlas look-up, made ahead on the analysis thread in live mode."""

    faces: Faces
    assignments: tuple[tuple[int, SourceIdentity], ...]
    maps: tuple[FaceMap | None, ...]


@dataclasses.dataclass(frozen=True)
class Binding:
    """A source identity and, in reference mode, the reference face it replaces."""

    identity: SourceIdentity
    reference: npt.NDArray[np.float32] | None = None
    latent: npt.NDArray[np.float32] | None = None
    """The neural swapper's source latent (None with the mesh swapper)."""


def load_input(item: ImageInput, settings: Settings, name: str = "<array>") -> LoadedImage:
    """A LoadedImage from a path, an array (H×W×3 BGR uint8) or a LoadedImage."""
    if isinstance(item, LoadedImage):
        return item
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] != 3:
            raise UsageError(f"{name} must be an H×W×3 uint8 BGR array, got {item.dtype} {item.shape}")
        return LoadedImage(image=np.ascontiguousarray(item), alpha=None, name=name, bit_depth=8)
    return read_image(item, max_pixels=settings.max_image_pixels)


class Pipeline:
    """Swaps faces in frames; built once per Settings and source set, then fed frames.

    Example:
        >>> pipeline = Pipeline.from_settings(Settings(), sources=["me.jpg"])  # doctest: +SKIP
        >>> result = pipeline.process(frame)  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings,
        analyser: FaceAnalyser,
        swapper: MeshSwapper,
        bindings: list[Binding],
        plugins: Plugins | None = None,
    ):
        self.settings = settings
        self.analyser = analyser
        self.swapper = swapper
        self.bindings = bindings
        self.plugins = plugins
        self._hands_wanted, self._glasses_wanted = occluder_kinds(settings.occluders, analyser.mode)
        self._hands: HandDetector | None = None
        self._glasses: GlassesFinder | None = None

    @classmethod
    def create(cls, settings: Settings, mode: Mode = "still") -> Pipeline:
        """Load the models only; no source yet (give one with `set_sources`, or `bindings` from `build_binding`)."""
        from faceweave.swap.onnx_swap import Plugins  # imported only here: keeps the cold start lean

        plugins = Plugins.from_settings(settings)  # neural models (when chosen) fail fast, before the mesh loads
        analyser = FaceAnalyser(settings, mode=mode)
        return cls(settings, analyser, MeshSwapper(settings, load_topology(), mode), [], plugins)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sources: Sequence[ImageInput],
        references: Sequence[ImageInput] = (),
        mode: Mode = "still",
    ) -> Pipeline:
        """Load models, analyse the sources (and references) once.

        With no references every selected face gets the one identity built from all `sources`;
        with one reference only faces matching it are swapped; with N references, reference i
        is replaced by source i (a mapping of several people to several new faces).
        """
        if not sources:
            raise UsageError("at least one source image is needed (--source PATH)")
        if len(references) > 1 and len(references) != len(sources):
            raise UsageError(f"{len(references)} references need as many sources, got {len(sources)}")
        # Read every file first: a bad path fails in milliseconds, before any model loads.
        sources = [load_input(item, settings, name=f"<source {i}>") for i, item in enumerate(sources)]
        references = [load_input(item, settings, name="<reference>") for item in references]
        pipeline = cls.create(settings, mode)
        if len(references) > 1:
            pipeline.bindings = [
                pipeline.build_binding([s], pipeline.reference_embedding(r))
                for s, r in zip(sources, references, strict=True)
            ]
        else:
            reference = pipeline.reference_embedding(references[0]) if references else None
            pipeline.bindings = [pipeline.build_binding(sources, reference)]
        return pipeline

    def _main_face(self, loaded: LoadedImage, role: str) -> Faces:
        faces = self.analyser.analyse(loaded.image)
        if len(faces) == 0:
            hint = f"use a clear, frontal photo, or lower --detector-score (now {self.settings.detector_score})"
            raise NoFaceError(role, loaded.name, hint)
        largest = int(np.argmax(faces.sizes))
        return self.analyser.embed(loaded.image, faces[[largest]])

    def build_identity(self, sources: Sequence[ImageInput]) -> SourceIdentity:
        """A SourceIdentity from one or more photos of one person (largest face of each)."""
        return self.build_binding(sources).identity

    def build_binding(self, sources: Sequence[ImageInput], reference: npt.NDArray[np.float32] | None = None) -> Binding:
        """A Binding from photos of one person: the mesh identity, plus the neural latent when a model swaps."""
        photos, names = [], []
        for i, item in enumerate(sources):
            loaded = load_input(item, self.settings, name=f"<source {i}>")
            photos.append((loaded.image, self._main_face(loaded, "source")[0]))
            names.append(loaded.name)
        neural = None if self.plugins is None else self.plugins.swapper
        latent = None if neural is None else neural.latent(photos)
        return Binding(self._mesh_identity(photos, names), reference, latent)

    def _mesh_identity(self, photos: list[tuple[Image, Face]], names: list[str]) -> SourceIdentity:
        topology = self.swapper.topology
        settings = self.settings
        return SourceIdentity.from_faces(
            photos, topology, names, settings.border_band, settings.border_mask, settings.source_eyes
        )

    def reference_embedding(self, item: ImageInput) -> npt.NDArray[np.float32]:
        """The identity descriptor of the largest face in a reference photo."""
        loaded = load_input(item, self.settings, name="<reference>")
        embedding = self._main_face(loaded, "reference").embedding
        assert embedding is not None
        return embedding[0]

    def set_sources(self, sources: Sequence[ImageInput]) -> None:
        """Replace the source identity (keeps any reference of the first binding); for live mode."""
        reference = self.bindings[0].reference if len(self.bindings) == 1 else None
        self.bindings = [self.build_binding(sources, reference)]

    def reset(self) -> None:
        """Forget the video state (tracks, smoothing): call before a new, unrelated sequence of frames."""
        if self.analyser.mode == "video":
            self.analyser.tracker.reset()

    def assign(self, image: Image, faces: Faces) -> tuple[Faces, list[tuple[int, SourceIdentity]]]:
        """Which face gets which identity under the settings (faces gain embeddings in reference mode)."""
        if len(faces) == 0:
            return faces, []
        if self.bindings[0].reference is None:
            s = self.settings
            chosen = pick_faces(faces, s.selector, s.face_order, s.face_index)
            return faces, [(int(i), self.bindings[0].identity) for i in chosen]
        faces = self.analyser.embed(image, faces)
        references = np.array([b.reference for b in self.bindings], np.float32)
        matches = match_references(faces, references, self.settings.reference_threshold)
        return faces, [(i, self.bindings[int(m)].identity) for i, m in enumerate(matches) if m >= 0]

    def _neural_latent(self, identity: SourceIdentity) -> npt.NDArray[np.float32] | None:
        """The neural swapper's latent for this identity, or None when the mesh swapper swaps it."""
        if self.plugins is None or self.plugins.swapper is None:
            return None
        return next((b.latent for b in self.bindings if b.identity is identity), None)

    def _swap_one(
        self, image: Image, face: Face, identity: SourceIdentity, gain: GainFilter | None, face_map: FaceMap | None
    ) -> Image:
        """One face swapped by the neural swapper when one is chosen, else by the mesh swapper."""
        latent = self._neural_latent(identity)
        if latent is None or self.plugins is None or self.plugins.swapper is None:
            return self.swapper(image, face, identity, gain, face_map)
        return self.plugins.swapper(image, face, latent)

    def prepare(self, image: Image, faces: Faces) -> Prepared:
        """Assign identities to analysed faces and make the atlas look-up of each large mesh-swapped face (live mode
        runs this on the analysis thread, so the swap thread has that much less to do on a large face)."""
        faces, assignments = self.assign(image, faces)
        frame_hw = (image.shape[0], image.shape[1])
        swapper = self.swapper
        maps = tuple(
            swapper.map_face(frame_hw, faces[i], identity)
            if self._neural_latent(identity) is None and swapper.worth_mapping_ahead(frame_hw, faces[i])
            else None
            for i, identity in assignments
        )
        return Prepared(faces, tuple(assignments), maps)

    def occluder_mask(self, image: Image, faces: Sequence[Face]) -> npt.NDArray[np.uint8] | None:
        """(h, w) uint8, 255 where something in front of these faces (hands, glasses frames) must stay in front;
        None when nothing is (the kinds looked for follow `Settings.occluders`)."""
        masks = []
        if self._hands_wanted:
            if self._hands is None:
                self._hands = HandDetector(still=self.analyser.mode == "still")
            hands = self._hands(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            masks.append(hand_mask((image.shape[0], image.shape[1]), hands))
        if self._glasses_wanted:
            if self._glasses is None:
                self._glasses = GlassesFinder(self.swapper.topology)
            masks.extend(self._glasses(image, face) for face in faces)
        found = [mask for mask in masks if mask is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else np.maximum.reduce(found)

    def _keep_occluders(self, original: Image, result: Image, faces: Sequence[Face]) -> Image:
        """Occluders in front of the swapped faces stay in front: their pixels come back from the original frame."""
        mask = self.occluder_mask(original, faces)
        if mask is None:
            return result
        return restore(original, result, mask)

    def process(
        self,
        image: Image,
        faces: Faces | None = None,
        *,
        seconds: float | None = None,
        prepared: Prepared | None = None,
    ) -> FrameResult:
        """Swap the selected faces of one BGR frame (faces are analysed here unless given, or `prepared`).

        In "video" mode faces are tracked across calls (`seconds`: the frame's timestamp, for smoothing) and each
        track's lighting gain is smoothed over time.
        """
        began = time.perf_counter()
        if prepared is None:
            faces = self.analyser.analyse_frame(image, seconds=seconds) if faces is None else faces
            faces, assignments = self.assign(image, faces)
            maps: Sequence[FaceMap | None] = [None] * len(assignments)
        else:
            faces, assignments, maps = prepared.faces, list(prepared.assignments), prepared.maps
        analysed = time.perf_counter()
        result = image
        tracker = self.analyser.tracker if self.analyser.mode == "video" else None
        for (index, identity), face_map in zip(assignments, maps, strict=True):
            gain = None if tracker is None else tracker.gain_filter(int(faces.tracks[index]))
            result = self._swap_one(result, faces[index], identity, gain, face_map)
        if self.plugins is not None:
            result = self.plugins.enhance(result, [faces[i] for i, _ in assignments])
        if assignments and (self._hands_wanted or self._glasses_wanted):
            result = self._keep_occluders(image, result, [faces[i] for i, _ in assignments])
        stage_ms = ((analysed - began) * 1000, (time.perf_counter() - analysed) * 1000)
        return FrameResult(result, faces, tuple(i for i, _ in assignments), stage_ms)


def occluder_kinds(occluders: Occluders, mode: Mode) -> tuple[bool, bool]:
    """(hands, glasses): which occluders are kept in front. "auto" looks for both on stills and for neither in video
    and live (hands cost ~15 ms a frame, and a per-frame glasses mask would flicker where it is unsure)."""
    auto = occluders == "auto" and mode == "still"
    hands = auto or occluders in ("hands", "all")
    glasses = auto or occluders in ("glasses", "all")
    return hands, glasses


def restore(original: Image, result: Image, mask: npt.NDArray[np.uint8], softness: float = 1.5) -> Image:
    """`result` with the original pixels put back under `mask` (edges softened over `softness` px), working only
    on the mask's bounding box."""
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return result
    pad = int(np.ceil(3 * softness)) + 1
    y0, x0 = max(0, y - pad), max(0, x - pad)
    y1, x1 = min(mask.shape[0], y + h + pad), min(mask.shape[1], x + w + pad)
    soft = cv2.GaussianBlur(mask[y0:y1, x0:x1].astype(np.float32) / 255, (0, 0), softness)
    output = result.copy()
    output[y0:y1, x0:x1] = alpha_blend(result[y0:y1, x0:x1], original[y0:y1, x0:x1], soft)
    return output
