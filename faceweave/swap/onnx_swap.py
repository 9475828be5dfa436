"""Neural swap adapters: ArcFace embeddings and inswapper (128 px, pixel boost), pasted back by the inverse affine."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceweave.errors import ModelError
from faceweave.faces import Face
from faceweave.geometry.align import (
    box_mask,
    estimate_alignment,
    from_blob,
    merge_polyphase,
    paste_back,
    split_polyphase,
    template_points,
    to_blob,
    warp_face,
)
from faceweave.models.loader import load_model, model_path
from faceweave.models.session import Runner
from faceweave.settings import Settings
from faceweave.swap.enhance import FaceEnhancer, FrameEnhancer
from faceweave.types import FloatArray, Image

ARCFACE = "arcface_w600k_r50"


def read_emap(path: Path) -> FloatArray:
    """The inswapper's 512×512 `emap`: the last initializer of its graph (needs the `onnx` package)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelError("reading the inswapper's emap needs onnx; pip install 'faceweave[onnx]'") from None
    graph = onnx.load(str(path)).graph
    if not graph.initializer:
        raise ModelError(f"{path} has no initializers, so no emap; is it really an inswapper file?")
    emap = numpy_helper.to_array(graph.initializer[-1]).astype(np.float32)
    if emap.shape != (512, 512):
        raise ModelError(f"{path}: the last initializer is {emap.shape}, expected the 512×512 emap")
    return emap


class ArcFaceEmbedder:
    """512-D ArcFace embeddings of faces aligned on the model's template (raw: normalise for distances).

    The crop is the reference's (insightface `ArcFaceONNX.get` → `norm_crop`): black where it leaves the frame, so
    embeddings of faces at the frame's edge are the ones insightface computes.
    """

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def __call__(self, image: Image, landmarks_5: FloatArray) -> FloatArray:
        """The raw (512,) embedding of the face with these five points in a BGR image."""
        return self.embed_many([(image, landmarks_5)])[0]

    def embed_many(self, faces: Sequence[tuple[Image, FloatArray]]) -> list[FloatArray]:
        """Raw (512,) embeddings of (image, five points) pairs, run `runner.batch.size` at a time."""
        spec = self.runner.spec
        template = template_points(spec.template or "arcface_112_v2", spec.crop_px)
        blobs = []
        for image, landmarks_5 in faces:
            crop = warp_face(image, estimate_alignment(landmarks_5, template), spec.crop_px, black_border=True)
            blobs.append((to_blob(crop, spec.mean, spec.std, spec.colour),))
        return [np.asarray(out[0], np.float32).reshape(-1) for out in self.runner.run_batched(blobs)]


def _unit(vector: FloatArray) -> FloatArray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def source_latent(embeddings: Sequence[FloatArray], emap: FloatArray) -> FloatArray:
    """The inswapper `source` input: the mean L2-normalised embedding, normalised, times emap, normalised again.

    The last normalisation is the reference's (insightface `INSwapper.get`: `latent /= np.linalg.norm(latent)`);
    FaceFusion leaves it out, which changes the latent's length by ‖unit · emap‖.

    Example:
        >>> float(np.linalg.norm(source_latent([np.ones(512, np.float32)], 2 * np.eye(512, dtype=np.float32))))
        1.0
    """
    mean = np.mean([_unit(e) for e in embeddings], axis=0)
    return _unit(_unit(mean) @ emap).astype(np.float32)


class InswapperSwapper:
    """inswapper_128 (or any model with its contract) on arcface_128 crops; pixel boost splits larger crops.

    Example:
        >>> swapper = InswapperSwapper.from_settings(Settings(swapper="inswapper_128"))  # doctest: +SKIP
        >>> frame = swapper(frame, faces[0], swapper.latent([(photo, face)]))  # doctest: +SKIP
    """

    def __init__(
        self, runner: Runner, embedder: ArcFaceEmbedder, emap: FloatArray, boost_px: int = 128, blend: float = 1.0
    ) -> None:
        native = runner.spec.crop_px
        if boost_px % native:
            raise ModelError(f"pixel boost {boost_px} must be a multiple of {runner.spec.name}'s {native} px")
        self.runner = runner
        self.embedder = embedder
        self.emap = emap
        self.boost_px = boost_px
        self.factor = boost_px // native
        self.mask = box_mask(boost_px, blur=0.3) * np.float32(blend)

    @classmethod
    def from_settings(cls, settings: Settings) -> InswapperSwapper:
        """Load the swapper named by settings.swapper and the ArcFace model it needs."""
        runner = load_model(settings.swapper, settings, task="swapper")
        emap = read_emap(model_path(runner.spec.original_name, settings))  # a variant's initializers may be reordered
        embedder = ArcFaceEmbedder(load_model(ARCFACE, settings, task="embedder"))
        return cls(runner, embedder, emap, settings.pixel_boost, settings.blend)

    @property
    def runners(self) -> tuple[Runner, ...]:
        """The sessions it runs (swapper, embedder), for reports."""
        return self.runner, self.embedder.runner

    def latent(self, photos: Sequence[tuple[Image, Face]]) -> FloatArray:
        """The source latent of one person from (photo, face) pairs."""
        return source_latent(self.embedder.embed_many([(image, face.landmarks_5) for image, face in photos]), self.emap)

    def swap_crop(self, crop: Image, latent: FloatArray) -> Image:
        """One native-size aligned crop with the source identity."""
        return self.swap_crops([crop], latent)[0]

    def swap_crops(self, crops: Sequence[Image], latent: FloatArray) -> list[Image]:
        """Native-size aligned crops with the source identity, run `runner.batch.size` at a time."""
        spec = self.runner.spec
        items = [(to_blob(crop, spec.mean, spec.std, spec.colour), latent[None]) for crop in crops]
        return [from_blob(out[0], spec.mean, spec.std, spec.colour) for out in self.runner.run_batched(items)]

    def __call__(self, frame: Image, face: Face, latent: FloatArray) -> Image:
        """A copy of `frame` with this face swapped."""
        template = template_points(self.runner.spec.template or "arcface_128", self.boost_px)
        matrix = estimate_alignment(face.landmarks_5, template)
        crop = warp_face(frame, matrix, self.boost_px)
        parts = self.swap_crops(split_polyphase(crop, self.factor), latent)
        return paste_back(frame, merge_polyphase(parts, self.factor), self.mask, matrix)


@dataclasses.dataclass(frozen=True)
class Plugins:
    """The neural processors chosen by Settings (each None when off)."""

    swapper: InswapperSwapper | None
    face_enhancer: FaceEnhancer | None
    frame_enhancer: FrameEnhancer | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Plugins | None:
        """Load what settings.swapper / enhancer / frame_enhancer name; None when all are the defaults."""
        if settings.swapper == "mesh" and settings.enhancer == "none" and settings.frame_enhancer == "none":
            return None
        return cls(
            swapper=None if settings.swapper == "mesh" else InswapperSwapper.from_settings(settings),
            face_enhancer=None if settings.enhancer == "none" else FaceEnhancer.from_settings(settings),
            frame_enhancer=None if settings.frame_enhancer == "none" else FrameEnhancer.from_settings(settings),
        )

    def enhance(self, frame: Image, faces: Sequence[Face]) -> Image:
        """Face enhancer on each face, then the frame enhancer."""
        if self.face_enhancer is not None:
            for face in faces:
                frame = self.face_enhancer(frame, face)
        return frame if self.frame_enhancer is None else self.frame_enhancer(frame)
