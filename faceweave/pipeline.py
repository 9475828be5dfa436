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
from faceweave.analysis.hands import HandDetector, hand_mask
from faceweave.analysis.select import match_references, pick_faces
from faceweave.compose.blend import alpha_blend
from faceweave.compose.color import GainFilter
from faceweave.errors import NoFaceError, UsageError
from faceweave.faces import Face, Faces
from faceweave.media.image_io import LoadedImage, read_image
from faceweave.settings import Settings
from faceweave.swap.mesh_swap import MeshSwapper
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
        occluders = settings.occluders
        self._hands_wanted = occluders == "hands" or (occluders == "auto" and analyser.mode == "still")
        self._hands: HandDetector | None = None

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

    def _swap_one(self, image: Image, face: Face, identity: SourceIdentity, gain: GainFilter | None) -> Image:
        """One face swapped by the neural swapper when one is chosen, else by the mesh swapper."""
        neural = None if self.plugins is None else self.plugins.swapper
        latent = next((b.latent for b in self.bindings if b.identity is identity), None)
        if neural is None or latent is None:
            return self.swapper(image, face, identity, gain)
        return neural(image, face, latent)

    def _keep_hands(self, original: Image, result: Image) -> Image:
        """Hands in front of the faces stay in front: their pixels come back from the original frame."""
        if self._hands is None:
            self._hands = HandDetector(still=self.analyser.mode == "still")
        rgb = cv2.cvtColor(original, cv2.COLOR_BGR2RGB)
        mask = hand_mask((original.shape[0], original.shape[1]), self._hands(rgb))
        if mask is None:
            return result
        soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 1.5)
        return alpha_blend(result, original, soft)

    def process(self, image: Image, faces: Faces | None = None, *, seconds: float | None = None) -> FrameResult:
        """Swap the selected faces of one BGR frame (faces are analysed here unless given).

        In "video" mode faces are tracked across calls (`seconds`: the frame's timestamp, for smoothing) and each
        track's lighting gain is smoothed over time.
        """
        began = time.perf_counter()
        faces = self.analyser.analyse_frame(image, seconds=seconds) if faces is None else faces
        faces, assignments = self.assign(image, faces)
        analysed = time.perf_counter()
        result = image
        tracker = self.analyser.tracker if self.analyser.mode == "video" else None
        for index, identity in assignments:
            gain = None if tracker is None else tracker.gain_filter(int(faces.tracks[index]))
            result = self._swap_one(result, faces[index], identity, gain)
        if self.plugins is not None:
            result = self.plugins.enhance(result, [faces[i] for i, _ in assignments])
        if assignments and self._hands_wanted:
            result = self._keep_hands(image, result)
        stage_ms = ((analysed - began) * 1000, (time.perf_counter() - analysed) * 1000)
        return FrameResult(result, faces, tuple(i for i, _ in assignments), stage_ms)
