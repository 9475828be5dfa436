"""Engine: models loaded once per Settings and mode; analyse → assign → the processor chain, frame by frame.

An Engine holds no per-run state: who the sources are travels as `Bindings`, and what a video or live run
remembers travels as a `Stream`, so one engine serves many sources and runs (one thread at a time: MediaPipe's
graphs are not thread-safe, except that a live run analyses on one thread while it renders on another, each
stage touching only its own part of the Stream).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence

import cv2
import numpy as np

from faceweave.analysis.analyser import FaceAnalyser
from faceweave.analysis.select import match_references, pick_faces
from faceweave.clock import StageClock
from faceweave.engine.chain import Binding, Context, FaceTarget, MeshSwap, NeuralSwap, Processor, build_chain
from faceweave.engine.profile import Mode, Profile
from faceweave.engine.stream import Stream
from faceweave.errors import NoFaceError, UsageError
from faceweave.faces import Face, Faces
from faceweave.geometry.topology import Topology, load_topology
from faceweave.media.image_io import LoadedImage, read_image
from faceweave.runtime import usable_cpu_ids
from faceweave.settings import Settings
from faceweave.swap.mesh_swap import FaceMap, MeshSwapper
from faceweave.swap.source import SourceIdentity
from faceweave.types import FloatArray, Image, IntArray

ImageInput = str | os.PathLike[str] | Image | LoadedImage
Bindings = tuple[Binding, ...]
"""Who goes where: one binding (every chosen face gets it), or one per reference person."""

ANALYSIS_STAGES = ("detect", "mesh", "track", "assign")
Stages = tuple[tuple[str, float], ...]
"""(stage name, ms) in the order the stages ran."""
LIVE_WARM_GRAPHS = 6
"""Face Mesh graphs a live engine makes ready at load (~30 ms each, once): the first six faces to appear cost no
graph start-up mid-stream."""

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A frame's analysis, ready for `Engine.render`: the faces found, which face gets which binding, and (mesh
    swap) each large face's atlas look-up, made ahead on the analysis thread in live mode."""

    faces: Faces
    assignments: tuple[tuple[int, Binding], ...]
    maps: tuple[FaceMap | None, ...]
    stages: Stages = ()
    """ms per analysis stage (detect, mesh or track, assign)."""


@dataclasses.dataclass(frozen=True)
class FrameResult:
    """What one frame went through: the output image, the faces found, which were changed, and ms per stage."""

    image: Image
    faces: Faces
    swapped: tuple[int, ...]
    stages: Stages = ()
    """ms per stage in the order they ran: analysis (detect, mesh or track, assign), then each processor's steps
    (the mesh swap's shape, remap, colour, blend, eyes; "neural swap", "face enhancer", ...), summed over faces."""

    @property
    def stage_ms(self) -> tuple[float, float]:
        """(analysis, everything after it) in ms."""
        return split_stages(self.stages)


def split_stages(stages: Stages) -> tuple[float, float]:
    """(analysis, everything after it) in ms of a frame's `FrameResult.stages`."""
    analysed = sum(ms for name, ms in stages if name in ANALYSIS_STAGES)
    return analysed, sum(ms for _, ms in stages) - analysed


def load_input(item: ImageInput, settings: Settings, name: str = "<array>") -> LoadedImage:
    """A LoadedImage from a path, an array (H×W×3 BGR uint8) or a LoadedImage."""
    if isinstance(item, LoadedImage):
        return item
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] != 3:
            raise UsageError(f"{name} must be an H×W×3 uint8 BGR array, got {item.dtype} {item.shape}")
        return LoadedImage(image=np.ascontiguousarray(item), alpha=None, name=name, bit_depth=8)
    return read_image(item, max_pixels=settings.max_image_pixels)


def load_photos(
    sources: Sequence[ImageInput], references: Sequence[ImageInput], settings: Settings
) -> tuple[list[LoadedImage], list[LoadedImage]]:
    """Every source and reference photo read (and checked) before any model loads: a bad path fails in ms."""
    loaded = [load_input(item, settings, name=f"<source {i}>") for i, item in enumerate(sources)]
    return loaded, [load_input(item, settings, name="<reference>") for item in references]


class Engine:
    """Swaps faces in frames; built once per Settings and mode, then given bindings and frames.

    Example:
        >>> engine = Engine.load(Settings())  # doctest: +SKIP
        >>> bindings = engine.bind(["me.jpg"])  # doctest: +SKIP
        >>> result = engine.process(frame, bindings)  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings,
        profile: Profile,
        analyser: FaceAnalyser,
        topology: Topology,
        chain: tuple[Processor, ...],
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.analyser = analyser
        self.topology = topology
        self.chain = chain
        self._neural = next((p for p in chain if isinstance(p, NeuralSwap)), None)
        self._mesh = next((p for p in chain if isinstance(p, MeshSwap)), None)

    @classmethod
    def load(cls, settings: Settings, mode: Mode = "still") -> Engine:
        """Load the models `settings` ask for (neural ones first: a missing model fails before the mesh loads)."""
        profile = Profile.resolve(settings, mode)
        settings = profile.settings_for(settings)
        topology = load_topology()
        chain = build_chain(settings, profile, topology)
        analyser = FaceAnalyser(settings, mode=profile.component_mode)
        if mode == "live":
            analyser.warm_graphs(LIVE_WARM_GRAPHS)  # new faces mid-stream take these: no first-image spike
        return cls(settings, profile, analyser, topology, chain)

    @property
    def mode(self) -> Mode:
        """still, video or live."""
        return self.profile.mode

    @property
    def mesh_swapper(self) -> MeshSwapper | None:
        """The embedded swapper when the chain has it (None with a neural swapper)."""
        return None if self._mesh is None else self._mesh.swapper

    def stream(self) -> Stream:
        """A fresh Stream for one video or live run (video: its faces meshed on `mesh_workers` threads)."""
        return Stream(self.analyser.new_tracker(self.mesh_workers))

    @property
    def mesh_workers(self) -> int:
        """Threads that mesh a video frame's faces: `settings.mesh_threads`, or with 0 two where this process may use
        two CPUs or more (a third thread on two CPUs only adds hand-offs). Live runs one: its analysis and render
        stages already hold a CPU each."""
        if self.mode != "video":
            return 1
        return self.settings.mesh_threads or min(2, len(usable_cpu_ids()))

    # Sources ---------------------------------------------------------------------------------------------------

    def bind(self, sources: Sequence[ImageInput], references: Sequence[ImageInput] = ()) -> Bindings:
        """Analyse source (and reference) photos once.

        With no references every chosen face gets the one person built from all `sources`; with one reference
        only faces matching it are swapped; with N references, reference i is replaced by source i.
        """
        if not sources:
            raise UsageError("at least one source image is needed (--source PATH)")
        if len(references) > 1 and len(references) != len(sources):
            raise UsageError(f"{len(references)} references need as many sources, got {len(sources)}")
        if len(references) > 1:
            return tuple(
                self.binding([s], self.reference_embedding(r)) for s, r in zip(sources, references, strict=True)
            )
        reference = self.reference_embedding(references[0]) if references else None
        return (self.binding(sources, reference),)

    def binding(self, sources: Sequence[ImageInput], reference: FloatArray | None = None) -> Binding:
        """A Binding from photos of one person: the mesh identity, plus the latent when a neural model swaps."""
        photos, names = [], []
        for i, item in enumerate(sources):
            loaded = load_input(item, self.settings, name=f"<source {i}>")
            photos.append((loaded.image, self._main_face(loaded, "source")[0]))
            names.append(loaded.name)
        latent = None if self._neural is None else self._neural.swapper.latent(photos)
        return Binding(self._mesh_identity(photos, names), reference, latent)

    def identity(self, sources: Sequence[ImageInput]) -> SourceIdentity:
        """The mesh identity from one or more photos of one person (largest face of each)."""
        return self.binding(sources).identity

    def reference_embedding(self, item: ImageInput) -> FloatArray:
        """The identity descriptor of the largest face in a reference photo."""
        loaded = load_input(item, self.settings, name="<reference>")
        embedding = self._main_face(loaded, "reference").embedding
        assert embedding is not None
        return embedding[0]

    def _main_face(self, loaded: LoadedImage, role: str) -> Faces:
        faces = self.analyser.analyse(loaded.image)
        if len(faces) == 0:
            hint = f"use a clear, frontal photo, or lower --detector-score (now {self.settings.detector_score})"
            raise NoFaceError(role, loaded.name, hint)
        largest = int(np.argmax(faces.sizes))
        return self.analyser.embed(loaded.image, faces[[largest]])

    def _mesh_identity(self, photos: list[tuple[Image, Face]], names: list[str]) -> SourceIdentity:
        s = self.settings
        return SourceIdentity.from_faces(photos, self.topology, names, s.border_band, s.border_mask, s.source_eyes)

    # Frames ----------------------------------------------------------------------------------------------------

    def analyse(
        self,
        frame: Image,
        bindings: Bindings,
        stream: Stream | None = None,
        *,
        seconds: float | None = None,
        faces: Faces | None = None,
    ) -> Prepared:
        """Find the faces of a frame (tracked with a `stream`; `seconds`: its timestamp, for smoothing; or take
        `faces` as given), choose who gets which binding, and make each large mesh-swapped face's look-up ahead."""
        clock = StageClock()
        if faces is None:
            faces = self._faces(frame, stream, seconds, clock)
        faces, assignments = self.assign(frame, faces, bindings, stream)
        maps = self._maps(frame, faces, assignments)
        clock.lap("assign")
        return Prepared(faces, assignments, maps, tuple(clock.stages.items()))

    def render(self, frame: Image, prepared: Prepared, stream: Stream | None = None) -> FrameResult:
        """Run the chain over the prepared frame (the frame itself is not modified)."""
        clock = StageClock()
        targets = [
            FaceTarget(index, prepared.faces[index], binding, face_map)
            for (index, binding), face_map in zip(prepared.assignments, prepared.maps, strict=True)
        ]
        context = Context(frame, stream, clock)
        result = frame
        for processor in self.chain:
            result = processor(result, targets, context)
        if stream is not None:
            stream.keep_gains(int(t) for t in prepared.faces.tracks)
        swapped = tuple(index for index, _ in prepared.assignments)
        return FrameResult(result, prepared.faces, swapped, prepared.stages + tuple(clock.stages.items()))

    def process(
        self,
        frame: Image,
        bindings: Bindings,
        stream: Stream | None = None,
        *,
        seconds: float | None = None,
        faces: Faces | None = None,
    ) -> FrameResult:
        """`render(analyse(...))`: swap the chosen faces of one BGR frame."""
        prepared = self.analyse(frame, bindings, stream, seconds=seconds, faces=faces)
        return self.render(frame, prepared, stream)

    def assign(
        self, frame: Image, faces: Faces, bindings: Bindings, stream: Stream | None = None
    ) -> tuple[Faces, tuple[tuple[int, Binding], ...]]:
        """Which face gets which binding under the settings (faces gain embeddings in reference mode)."""
        lead = self.mode == "live" and self.settings.selector == "largest"
        if len(faces) == 0 or not bindings:
            if lead and stream is not None and len(faces) == 0:  # the first faces found: the largest meshed first
                _focus(stream, faces, None, lead=True)
            return faces, ()
        if bindings[0].reference is None:
            s = self.settings
            chosen = pick_faces(faces, s.selector, s.face_order, s.face_index)
            if s.selector == "largest" and stream is not None:
                chosen = _follow_largest(faces, chosen, stream)
                _focus(stream, faces, chosen if stream.followed is not None else None, lead=lead)
            return faces, tuple((int(i), bindings[0]) for i in chosen)
        faces = self.analyser.embed(frame, faces, tracker=None if stream is None else stream.tracker)
        references = np.array([b.reference for b in bindings], np.float32)
        matches = match_references(faces, references, self.settings.reference_threshold)
        if stream is not None:
            _focus(stream, faces, np.flatnonzero(matches >= 0))
        return faces, tuple((i, bindings[int(m)]) for i, m in enumerate(matches) if m >= 0)

    def _faces(self, frame: Image, stream: Stream | None, seconds: float | None, clock: StageClock) -> Faces:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if stream is not None:
            faces = stream.tracker.update(rgb, seconds)
            clock.lap("track")
            return faces
        detections = self.analyser.detect(rgb)
        clock.lap("detect")
        faces = self.analyser.mesh_faces(rgb, detections)
        clock.lap("mesh")
        return faces

    def _maps(
        self, frame: Image, faces: Faces, assignments: tuple[tuple[int, Binding], ...]
    ) -> tuple[FaceMap | None, ...]:
        """Each large mesh-swapped face's atlas look-up (live runs this on the analysis thread, so the render
        thread has that much less to do on a large face); None for the others."""
        mesh = self._mesh
        if mesh is None:
            return (None,) * len(assignments)
        frame_hw = (frame.shape[0], frame.shape[1])
        swapper = mesh.swapper
        return tuple(
            swapper.map_face(frame_hw, faces[i], binding.identity)
            if swapper.worth_mapping_ahead(frame_hw, faces[i])
            else None
            for i, binding in assignments
        )


def _focus(stream: Stream, faces: Faces, chosen: IntArray | None, lead: bool = False) -> None:
    """Tell the tracker which tracks are swapped (the others are re-meshed less often); None: all of them, or with
    `lead` (live, one face swapped: the largest) only the largest until a face is followed. Only tracked faces
    narrow the focus (an untracked face means no stream state to rely on)."""
    tracks = faces.tracks
    if np.any(tracks < 0) or (chosen is None and not lead):
        stream.tracker.focus(None)
    elif chosen is None:
        stream.tracker.focus(frozenset(), largest=True)
    else:
        stream.tracker.focus(frozenset(int(tracks[i]) for i in chosen))


def _follow_largest(faces: Faces, largest: IntArray, stream: Stream) -> IntArray:
    """In a stream, the face of the followed track while it lives; otherwise the largest face, whose track is then
    followed (untracked faces: the largest, nothing remembered)."""
    tracks = faces.tracks
    if stream.followed is not None:
        same = np.flatnonzero(tracks == stream.followed)
        if len(same):
            return same[:1].astype(np.int64)
    if len(largest) and tracks[largest[0]] >= 0:
        stream.followed = int(tracks[largest[0]])
    return largest


@dataclasses.dataclass(frozen=True)
class BoundEngine:
    """An engine and the bindings of its sources, for scripts that swap one set of people (immutable: another
    source set is another BoundEngine over the same engine).

    Example:
        >>> swap = BoundEngine.load(Settings(), ["me.jpg"])  # doctest: +SKIP
        >>> result = swap.process(frame)  # doctest: +SKIP
    """

    engine: Engine
    bindings: Bindings

    @classmethod
    def load(
        cls,
        settings: Settings,
        sources: Sequence[ImageInput],
        references: Sequence[ImageInput] = (),
        mode: Mode = "still",
    ) -> BoundEngine:
        """Read every photo (a bad path fails before any model loads), load the engine, bind the sources."""
        photos, references = load_photos(sources, references, settings)
        engine = Engine.load(settings, mode)
        return cls(engine, engine.bind(photos, references))

    @property
    def settings(self) -> Settings:
        """The engine's settings."""
        return self.engine.settings

    @property
    def analyser(self) -> FaceAnalyser:
        """The engine's face analyser."""
        return self.engine.analyser

    def process(
        self, frame: Image, stream: Stream | None = None, *, seconds: float | None = None, faces: Faces | None = None
    ) -> FrameResult:
        """`Engine.process` with these bindings."""
        return self.engine.process(frame, self.bindings, stream, seconds=seconds, faces=faces)
