"""Neural adapters on test models with the real contracts: numeric checks of pre/post-processing and paste-back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from model_factory import (
    SCRFD_BOX,
    SCRFD_SCORE,
    arcface_weight,
    emap_matrix,
    pinned,
    scrfd_face_outputs,
    scrfd_like,
    scrfd_outputs,
)

from faceweave.analysis.scrfd import ScrfdDetector, anchor_centres, decode, letterbox, nms
from faceweave.engine import BoundEngine
from faceweave.engine.chain import NeuralSwap
from faceweave.faces import Face, Faces
from faceweave.geometry.align import estimate_alignment, paste_back, template_points, warp_face
from faceweave.models.loader import load_model
from faceweave.samples import sample_path
from faceweave.settings import Settings
from faceweave.swap.enhance import FaceEnhancer, FrameEnhancer, upscale_tiled
from faceweave.swap.onnx_swap import ArcFaceEmbedder, InswapperSwapper, Plugins, read_emap, source_latent

Image = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def astronaut_faces() -> tuple[Image, Faces]:
    """The astronaut photo and its analysed faces (MediaPipe, once per module)."""
    from faceweave.analysis.analyser import FaceAnalyser
    from faceweave.media.image_io import read_image

    image = read_image(sample_path("astronaut")).image
    return image, FaceAnalyser(Settings(detector="mediapipe")).analyse(image)


def _face_box(faces: Faces) -> tuple[slice, slice]:
    x0, y0, x1, y1 = faces.boxes[0].astype(int)
    return slice(y0, y1), slice(x0, x1)


def test_default_settings_load_no_plugins() -> None:
    assert Plugins.from_settings(Settings()) is None


def test_arcface_embedding_uses_the_112_alignment(stocked: Path, astronaut_faces: tuple[Image, Faces]) -> None:
    image, faces = astronaut_faces
    embedder = ArcFaceEmbedder(load_model("arcface_w600k_r50", Settings(model_dir=str(stocked))))
    matrix = estimate_alignment(faces.landmarks_5[0], template_points("arcface_112_v2", 112))
    crop = warp_face(image, matrix, 112)[..., ::-1].astype(np.float32) / 127.5 - 1  # RGB, x / 127.5 − 1
    expected = crop.mean(axis=(0, 1)) @ arcface_weight()
    assert np.allclose(embedder(image, faces.landmarks_5[0]), expected, atol=1e-4)


def test_emap_is_read_from_the_graph_and_makes_the_latent(stocked: Path) -> None:
    emap = read_emap(stocked / "inswapper_128.onnx")
    assert np.array_equal(emap, emap_matrix())
    embedding = np.random.default_rng(0).normal(size=512).astype(np.float32)
    projected = embedding / np.linalg.norm(embedding) @ emap
    expected = projected / np.linalg.norm(projected)  # normalised after the product, as insightface's INSwapper.get
    assert np.allclose(source_latent([embedding * 7], emap), expected, atol=1e-6)


@pytest.mark.parametrize("boost", [128, 256])  # native size; pixel boost ×2 (four polyphase runs)
def test_identity_swapper_leaves_the_face_unchanged(
    stocked: Path, astronaut_faces: tuple[Image, Faces], boost: int
) -> None:
    image, faces = astronaut_faces
    swapper = InswapperSwapper.from_settings(
        Settings(swapper="inswapper_128", model_dir=str(stocked), pixel_boost=boost)
    )
    latent = swapper.latent([(image, faces[0])])
    result = swapper(image, faces[0], latent)
    # Exactly the warp → paste-back round trip: blobs, colour order and polyphase split add no error ...
    matrix = estimate_alignment(faces.landmarks_5[0], template_points("arcface_128", boost))
    round_trip = paste_back(image, warp_face(image, matrix, boost), swapper.mask, matrix)
    assert np.abs(result.astype(int) - round_trip).max() <= 1
    # ... and the face stays what it was, up to resampling (the 128 px crop shrinks this ~90 px face a little).
    diff = np.abs(result.astype(int) - image)[_face_box(faces)]
    assert diff.mean() < 4.0 and np.percentile(diff, 99) < 30


@pytest.mark.parametrize("name", ["gfpgan_1.4", "codeformer"])  # plain restorer; fidelity weight input (float64)
def test_identity_enhancer_leaves_the_face_unchanged(
    stocked: Path, astronaut_faces: tuple[Image, Faces], name: str
) -> None:
    image, faces = astronaut_faces
    enhancer = FaceEnhancer.from_settings(Settings(enhancer=name, model_dir=str(stocked), enhancer_blend=1.0))
    diff = np.abs(enhancer(image, faces[0]).astype(int) - image)[_face_box(faces)]
    assert diff.mean() < 2.5


def test_tiled_upscale_matches_the_whole_image_run(stocked: Path) -> None:
    enhancer = FrameEnhancer.from_settings(Settings(frame_enhancer="real_esrgan_x2", model_dir=str(stocked)))
    image = cv2.GaussianBlur(np.random.default_rng(4).integers(0, 256, (70, 100, 3), dtype=np.uint8), (0, 0), 1)
    whole = enhancer.run_tile(image)
    tiled = upscale_tiled(image, enhancer.run_tile, 2, tile=32, pad=8)
    assert tiled.shape == (140, 200, 3) and np.abs(tiled.astype(int) - whole).max() <= 1
    assert enhancer(image).shape == image.shape


def test_scrfd_decode_and_letterbox_rescale(stocked: Path) -> None:
    detector = ScrfdDetector(load_model("scrfd_10g", Settings(model_dir=str(stocked))), min_score=0.5)
    found = detector.detect(np.zeros((960, 1280, 3), np.uint8))  # letterboxed at scale 0.5
    assert len(found.boxes) == 1  # the overlapping second anchor was suppressed
    assert np.allclose(found.boxes[0], np.array(SCRFD_BOX) * 2) and found.scores[0] == pytest.approx(SCRFD_SCORE)
    centre = np.array([192, 160]) * 2
    assert np.allclose(found.landmarks_5[0, 0], centre + np.array([-16, -16]) * 2)
    assert np.allclose(found.landmarks_5[0, 4], centre + np.array([16, 16]) * 2)


def test_scrfd_pieces() -> None:
    assert anchor_centres(2, 3, 8)[:4].tolist() == [[0, 0], [0, 0], [8, 0], [8, 0]]
    canvas, scales = letterbox(np.full((100, 50, 3), 9, np.uint8), 640)
    assert scales.tolist() == pytest.approx([6.4, 6.4]) and canvas[639, 0, 0] == 9 and canvas[0, 639, 0] == 0
    _, scales = letterbox(np.zeros((667, 1000, 3), np.uint8), 640)  # 426.88 rows: resized to 426, as the reference
    assert scales.tolist() == pytest.approx([0.64, 426 / 667])  # each axis mapped back by its own scale
    boxes, scores, points = decode(scrfd_outputs(), 640, 0.85)
    assert scores.tolist() == [pytest.approx(SCRFD_SCORE)]
    assert boxes.tolist() == [list(SCRFD_BOX)] and points.shape == (1, 5, 2)
    overlapping = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    assert nms(overlapping, np.array([0.5, 0.9, 0.7], np.float32), 0.4).tolist() == [1, 2]


def test_pipeline_with_neural_swapper_and_enhancer(stocked: Path) -> None:
    settings = Settings(
        swapper="inswapper_128", enhancer="gfpgan_1.4", detector="mediapipe", model_dir=str(stocked), blend=1.0
    )
    pipeline = BoundEngine.load(settings, sources=[sample_path("hopper")])
    assert pipeline.bindings[0].latent is not None and pipeline.bindings[0].latent.shape == (512,)
    from faceweave.media.image_io import read_image

    target = read_image(sample_path("astronaut")).image
    result = pipeline.process(target)
    assert result.swapped == (0,)
    diff = np.abs(result.image.astype(int) - target)[_face_box(result.faces)]
    assert diff.mean() < 4.5  # identity-like swapper and enhancer: only resampling changes pixels


def test_video_bench_times_the_neural_chain_it_was_asked_for(stocked: Path, tmp_path: Path) -> None:
    """`bench --video --swapper X` measures X: the stages it reports are the neural chain's, not the mesh swap's."""
    from clip_factory import face_frames, write_clip

    from faceweave.lab.bench_video import bench_video

    frames, boxes = face_frames((320, 240), 6, with_face=6)
    clip = write_clip(tmp_path / "clip.mp4", frames, boxes=boxes).path
    settings = Settings(swapper="inswapper_128", enhancer="gfpgan_1.4", detector="mediapipe", model_dir=str(stocked))
    figures = bench_video(settings, None, clip, None, report=lambda line: None)
    assert {"neural swap", "face enhancer"} <= set(figures["stages"])
    assert not {"remap", "colour", "blend"} & set(figures["stages"])  # no mesh swap ran
    mesh = bench_video(Settings(detector="mediapipe"), None, clip, None, report=lambda line: None)
    assert {"remap", "colour", "blend"} <= set(mesh["stages"]) and "neural swap" not in mesh["stages"]


def test_analyser_uses_scrfd_when_asked(stocked: Path) -> None:
    from faceweave.analysis.analyser import FaceAnalyser

    analyser = FaceAnalyser(Settings(detector="scrfd", model_dir=str(stocked)))
    found = analyser.detect(np.zeros((640, 640, 3), np.uint8))
    assert np.allclose(found.boxes, [SCRFD_BOX]) and found.scores.tolist() == [pytest.approx(SCRFD_SCORE)]


def test_scrfd_five_points_are_what_the_neural_models_get(
    stocked: Path, astronaut_faces: tuple[Image, Faces], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --detector scrfd, faces carry SCRFD's own five points (the convention the models were trained on), not
    the mesh-derived ones, and the neural swap aligns on them."""
    from faceweave.analysis.analyser import FaceAnalyser
    from faceweave.models.catalog import CATALOG

    image, mesh_faces = astronaut_faces  # 512², letterboxed ×1.25 into SCRFD's 640² input
    points = mesh_faces.landmarks_5[0] + (4.0, -3.0)  # SCRFD's points: near the mesh's, not equal to them
    box = mesh_faces.boxes[0]
    data = scrfd_like(outputs=scrfd_face_outputs(box * 1.25, points * 1.25))
    (stocked / CATALOG["scrfd_10g"].file_name).write_bytes(data)
    monkeypatch.setitem(CATALOG, "scrfd_10g", pinned(CATALOG["scrfd_10g"], data))
    settings = Settings(detector="scrfd", swapper="inswapper_128", model_dir=str(stocked))
    faces = FaceAnalyser(settings).analyse(image)
    assert len(faces) == 1 and np.allclose(faces.landmarks_5[0], points, atol=1e-3)
    assert not np.allclose(faces.landmarks_5[0], mesh_faces.landmarks_5[0], atol=1.0)
    pipeline = BoundEngine.load(settings, sources=[sample_path("astronaut")])  # the stub finds only this face
    neural = next(p for p in pipeline.engine.chain if isinstance(p, NeuralSwap))
    swap, seen = neural.swapper, []

    def recording(frame: Image, face: Face, latent: npt.NDArray[np.float32]) -> Image:
        seen.append(face.landmarks_5)
        return swap(frame, face, latent)

    monkeypatch.setattr(neural, "swapper", recording)
    assert pipeline.process(image).swapped == (0,)
    assert len(seen) == 1 and np.allclose(seen[0], points, atol=1e-3)
