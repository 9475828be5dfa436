"""The processor chain: one protocol for every step after analysis, chosen from a registry by name.

A processor takes the frame as the previous step left it, the faces to work on (each with the identity it gets)
and the frame's context, and returns a new frame; it never changes the frame it was given. The chain a
Settings asks for is `chain_names(settings, profile)`, e.g. ("mesh swap", "occluders") by default on stills, or
("neural swap", "face enhancer", "frame enhancer") with the neural plug-ins and occluders off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from faceweave.clock import StageClock
from faceweave.compose.blend import alpha_blend
from faceweave.engine.profile import Profile
from faceweave.faces import Face
from faceweave.geometry.topology import Topology
from faceweave.settings import Settings
from faceweave.swap.mesh_swap import FaceMap, MeshSwapper
from faceweave.swap.source import SourceIdentity
from faceweave.types import FloatArray, Image, Mask

if TYPE_CHECKING:
    from faceweave.engine.stream import Stream
    from faceweave.occluders.glasses import GlassesFinder
    from faceweave.occluders.hands import HandDetector


@dataclasses.dataclass(frozen=True)
class Binding:
    """A source person: the mesh identity, the neural swapper's latent (None with the mesh swapper) and, in
    reference mode, the reference face it replaces."""

    identity: SourceIdentity
    reference: FloatArray | None = None
    latent: FloatArray | None = None


@dataclasses.dataclass(frozen=True)
class FaceTarget:
    """One face to change: its row in the frame's Faces, the face, who it becomes and (mesh swap, live) its
    atlas look-up made ahead on the analysis thread."""

    index: int
    face: Face
    binding: Binding
    face_map: FaceMap | None = None


@dataclasses.dataclass(frozen=True)
class Context:
    """What a processor may read besides the frame: the frame as it came in, the run's Stream (None on stills)
    and the clock each processor's steps are timed on."""

    original: Image
    stream: Stream | None
    clock: StageClock


class Processor(Protocol):
    """One step of the chain. `name` is its registry name and the stage it is timed under."""

    name: str

    def __call__(self, frame: Image, targets: Sequence[FaceTarget], context: Context) -> Image:
        """A new frame (the given one is not modified)."""
        ...


class MeshSwap:
    """The embedded swap: each face rendered from its source's atlas (timed as shape, remap, colour, blend, eyes)."""

    name = "mesh swap"

    def __init__(self, swapper: MeshSwapper) -> None:
        self.swapper = swapper

    def __call__(self, frame: Image, targets: Sequence[FaceTarget], context: Context) -> Image:
        stream = context.stream
        for target in targets:
            gain = None if stream is None else stream.gain_filter(target.face.track_id)
            frame = self.swapper(frame, target.face, target.binding.identity, gain, target.face_map, context.clock)
        return frame


class LatentSwapper(Protocol):
    """A neural swapper's adapter: a source latent from (photo, face) pairs, and a face swapped with it."""

    def latent(self, photos: Sequence[tuple[Image, Face]]) -> FloatArray:
        """The latent of one person."""
        ...

    def __call__(self, frame: Image, face: Face, latent: FloatArray) -> Image:
        """A copy of `frame` with `face` swapped."""
        ...


class NeuralSwap:
    """An inswapper-class ONNX swapper (`Settings.swapper` names it): each face from its source's latent."""

    name = "neural swap"

    def __init__(self, swapper: LatentSwapper) -> None:
        self.swapper = swapper

    def __call__(self, frame: Image, targets: Sequence[FaceTarget], context: Context) -> Image:
        for target in targets:
            assert target.binding.latent is not None, "bindings of a neural chain carry a latent"
            frame = self.swapper(frame, target.face, target.binding.latent)
        context.clock.lap(self.name)
        return frame


class FaceEnhance:
    """A face restorer (GFPGAN, CodeFormer, GPEN class) on each changed face."""

    name = "face enhancer"

    def __init__(self, enhancer: Callable[[Image, Face], Image]) -> None:
        self.enhancer = enhancer

    def __call__(self, frame: Image, targets: Sequence[FaceTarget], context: Context) -> Image:
        for target in targets:
            frame = self.enhancer(frame, target.face)
        context.clock.lap(self.name)
        return frame


class FrameEnhance:
    """A frame upscaler (Real-ESRGAN class), brought back to the frame's size; runs on every frame."""

    name = "frame enhancer"

    def __init__(self, enhancer: Callable[[Image], Image]) -> None:
        self.enhancer = enhancer

    def __call__(self, frame: Image, targets: Sequence[FaceTarget], context: Context) -> Image:
        frame = self.enhancer(frame)
        context.clock.lap(self.name)
        return frame


class KeepOccluders:
    """Whatever is in front of a changed face in the original frame (hands, glasses frames) gets its original
    pixels back, so any swapper leaves it in front. Which kinds: `Profile.hands` / `Profile.glasses`."""

    name = "occluders"

    def __init__(self, topology: Topology, hands: bool, glasses: bool, still: bool) -> None:
        self.topology = topology
        self.hands, self.glasses, self.still = hands, glasses, still
        self._hand_detector: HandDetector | None = None
        self._glasses_finder: GlassesFinder | None = None

    def mask(self, image: Image, faces: Sequence[Face]) -> Mask | None:
        """(h, w) uint8, 255 where something in front of these faces must stay in front; None when nothing is."""
        from faceweave.occluders.glasses import GlassesFinder
        from faceweave.occluders.hands import HandDetector, hand_mask

        masks = []
        if self.hands:
            if self._hand_detector is None:
                self._hand_detector = HandDetector(still=self.still)
            hands = self._hand_detector(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            masks.append(hand_mask((image.shape[0], image.shape[1]), hands))
        if self.glasses:
            if self._glasses_finder is None:
                self._glasses_finder = GlassesFinder(self.topology)
            masks.extend(self._glasses_finder(image, face) for face in faces)
        found = [mask for mask in masks if mask is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else np.maximum.reduce(found)

    def __call__(self, frame: Image, targets: Sequence[FaceTarget], context: Context) -> Image:
        if not targets:
            return frame
        mask = self.mask(context.original, [target.face for target in targets])
        result = frame if mask is None else restore(context.original, frame, mask)
        context.clock.lap(self.name)
        return result


def restore(original: Image, result: Image, mask: Mask, softness: float = 1.5) -> Image:
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


Factory = Callable[[Settings, Profile, Topology], Processor]


def _mesh_swap(settings: Settings, profile: Profile, topology: Topology) -> Processor:
    return MeshSwap(MeshSwapper(settings, topology, profile.component_mode))


def _neural_swap(settings: Settings, profile: Profile, topology: Topology) -> Processor:
    from faceweave.swap.onnx_swap import InswapperSwapper

    return NeuralSwap(InswapperSwapper.from_settings(settings))


def _face_enhance(settings: Settings, profile: Profile, topology: Topology) -> Processor:
    from faceweave.swap.enhance import FaceEnhancer

    return FaceEnhance(FaceEnhancer.from_settings(settings))


def _frame_enhance(settings: Settings, profile: Profile, topology: Topology) -> Processor:
    from faceweave.swap.enhance import FrameEnhancer

    return FrameEnhance(FrameEnhancer.from_settings(settings))


def _occluders(settings: Settings, profile: Profile, topology: Topology) -> Processor:
    return KeepOccluders(topology, profile.hands, profile.glasses, profile.mode == "still")


REGISTRY: Mapping[str, Factory] = {
    MeshSwap.name: _mesh_swap,
    NeuralSwap.name: _neural_swap,
    FaceEnhance.name: _face_enhance,
    FrameEnhance.name: _frame_enhance,
    KeepOccluders.name: _occluders,
}
"""Every processor by name; the order of a chain comes from `chain_names`."""


def chain_names(settings: Settings, profile: Profile) -> tuple[str, ...]:
    """The processors these settings ask for, in order: a swapper (the embedded mesh swap, or the catalog model
    `settings.swapper` names), the enhancers that are switched on, then occluders kept in front when any are."""
    names = [MeshSwap.name if settings.swapper == "mesh" else NeuralSwap.name]
    if settings.enhancer != "none":
        names.append(FaceEnhance.name)
    if settings.frame_enhancer != "none":
        names.append(FrameEnhance.name)
    if profile.hands or profile.glasses:
        names.append(KeepOccluders.name)
    return tuple(names)


def build_chain(settings: Settings, profile: Profile, topology: Topology) -> tuple[Processor, ...]:
    """The chain for these settings, neural models first (a missing model fails before the mesh loads)."""
    names = chain_names(settings, profile)
    loaded = {name: REGISTRY[name](settings, profile, topology) for name in names if name != MeshSwap.name}
    if MeshSwap.name in names:
        loaded[MeshSwap.name] = REGISTRY[MeshSwap.name](settings, profile, topology)
    return tuple(loaded[name] for name in names)
