"""Differential tests: faceweave's neural adapters against the code the models were made for, on real faces.

insightface 2.1 is the reference for inswapper, ArcFace and SCRFD: its own classes run the same contract graphs
(contract_graphs.py: exact tensor names, shapes, types; random weights) on the same photos and five points as
faceweave's adapters. The enhancers' reference code needs torch, so their pre/post-processing is re-implemented
below from the cited source lines and run on the same graphs.

Where faceweave matches the reference, the tests say so to float precision. Deliberate differences, each measured
by a test here (figures in docs/models.md):
- uint8 conversion rounds (faceweave, GFPGAN's basicsr, Real-ESRGAN, FaceFusion's enhancer) where insightface's
  inswapper and GPEN truncate: at most 1 grey level, 0.5 on average.
- SCRFD maps boxes and points back with each axis's own resize scale; insightface divides both by the height's
  scale (`det_scale = new_height / height`), off by up to 1/new_height relative on landscape frames.
- inswapper and the enhancers paste back through FaceFusion's feathered box mask; insightface's inswapper erodes
  and blurs a warped white square (facexlib likewise), so the two blend differently near the crop's edge; inside,
  where both masks are 1, the frames agree to 0.5–0.7 grey levels on average. Crops replicate the frame's edge where
  they leave it
  (FaceFusion), where insightface fills black and facexlib grey; ArcFace's crop is black, as the reference's.
- The enhancers align by least squares over the five points (insightface's skimage `SimilarityTransform`,
  FaceFusion's RANSAC with a 100 px threshold); facexlib uses LMEDS, which on some faces drops points.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime
import pytest
from contract_graphs import arcface_graph, inswapper_graph, restorer_graph, scrfd_graph, upscaler_graph

from faceweave.analysis.scrfd import ScrfdDetector, letterbox
from faceweave.faces import Faces
from faceweave.geometry.align import box_mask, estimate_alignment, template_points, warp_face
from faceweave.models.catalog import CATALOG
from faceweave.models.session import Runner, RuntimeOptions, create_session
from faceweave.samples import sample_path
from faceweave.swap.enhance import FaceEnhancer, FrameEnhancer
from faceweave.swap.onnx_swap import ArcFaceEmbedder, InswapperSwapper, read_emap, source_latent

insightface = pytest.importorskip(
    "insightface", reason="the differential tests need insightface 2.1 (pip install --no-deps insightface==2.1)"
)
from insightface.app.common import Face as ReferenceFace  # noqa: E402
from insightface.model_zoo.arcface_onnx import ArcFaceONNX  # noqa: E402
from insightface.model_zoo.inswapper import INSwapper  # noqa: E402
from insightface.model_zoo.scrfd import SCRFD  # noqa: E402
from insightface.utils import face_align  # noqa: E402

Image = npt.NDArray[np.uint8]
TESTDATA_IMAGES = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "images"
EXTRA_PHOTOS = ("obama_01.jpg", "alex_lacamoire_02.jpg", "deepface_B_02.jpg")  # portrait; landscape ×2
FILES = {
    "inswapper_128": inswapper_graph,
    "arcface_w600k_r50": arcface_graph,
    "scrfd_10g": scrfd_graph,
    "gfpgan_1.4": restorer_graph,
    "gpen_bfr_512": restorer_graph,
    "codeformer": lambda: restorer_graph(("x", "w", "y")),
    "real_esrgan_x2": lambda: upscaler_graph(2),
    "real_esrgan_x4": lambda: upscaler_graph(4),
}


class Recorder:
    """Wraps an onnxruntime session and keeps what each run was fed and returned."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.feeds: list[dict[str, np.ndarray]] = []
        self.outputs: list[list[np.ndarray]] = []

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = self.session.run(names, feeds)
        self.feeds.append(feeds)
        self.outputs.append(outputs)
        return list(outputs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The contract graphs, written once, under their catalog file names."""
    folder = tmp_path_factory.mktemp("contract-models")
    paths = {}
    for name, build in FILES.items():
        paths[name] = folder / CATALOG[name].file_name
        paths[name].write_bytes(build())
    return paths


def session(path: Path) -> Any:
    """A plain CPU session for the reference classes."""
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def runner(files: dict[str, Path], name: str) -> Runner:
    """faceweave's checked session for a catalog model on its contract graph."""
    return create_session(CATALOG[name], files[name], RuntimeOptions(providers=("cpu",)))


@pytest.fixture(scope="module")
def photos() -> list[tuple[str, Image, Faces]]:
    """Real single-face photos (the bundled samples, and a few test photos when present) with their faces."""
    from faceweave.analysis.analyser import FaceAnalyser
    from faceweave.media.image_io import read_image
    from faceweave.settings import Settings

    paths = [sample_path("hopper"), sample_path("astronaut")]
    paths += [TESTDATA_IMAGES / name for name in EXTRA_PHOTOS if (TESTDATA_IMAGES / name).is_file()]
    analyser = FaceAnalyser(Settings(detector="mediapipe"))
    found = [(path.name, read_image(path).image) for path in paths]
    return [(name, image, analyser.analyse(image)) for name, image in found]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a.ravel() @ b.ravel() / np.linalg.norm(a) / np.linalg.norm(b))


# ArcFace -------------------------------------------------------------------------------------------------------


def test_arcface_embedding_matches_reference(files: dict[str, Path], photos: list[tuple[str, Image, Faces]]) -> None:
    """`ArcFaceONNX.get` with the same five points: cosine ≥ 0.9999 (0.9999998 at worst over the 34 test photos);
    the same alignment matrix and crop."""
    reference = ArcFaceONNX(str(files["arcface_w600k_r50"]), session=session(files["arcface_w600k_r50"]))
    assert (reference.input_mean, reference.input_std) == (127.5, 127.5)  # read from the graph, as for w600k_r50
    embedder = ArcFaceEmbedder(runner(files, "arcface_w600k_r50"))
    for name, image, faces in photos:
        points = faces.landmarks_5[0]
        expected = reference.get(image, ReferenceFace(kps=points))
        assert cosine(embedder(image, points), expected) >= 0.9999, name
        crop = face_align.norm_crop(image, points, 112)
        matrix = estimate_alignment(points, template_points("arcface_112_v2", 112))
        assert np.abs(matrix - face_align.estimate_norm(points, 112)).max() < 1e-3, name
        difference = np.abs(warp_face(image, matrix, 112, black_border=True).astype(int) - crop)
        assert difference.max() <= 2 and difference.mean() < 0.05, name  # float32 vs float64 matrix


def test_arcface_crop_leaving_the_frame_is_black_as_the_reference(
    files: dict[str, Path], photos: list[tuple[str, Image, Faces]]
) -> None:
    """A face cut by the frame's left edge: the reference fills the crop's outside black (cosine 0.9999999 to it);
    the replicated edge faceweave used gave another embedding (cosine 0.82 to the reference's on this graph)."""
    _, image, faces = photos[0]
    left = int(faces.landmarks_5[0, 0, 0]) - 15
    cut, points = np.ascontiguousarray(image[:, left:]), faces.landmarks_5[0] - (left, 0)
    reference = ArcFaceONNX(str(files["arcface_w600k_r50"]), session=session(files["arcface_w600k_r50"]))
    expected = reference.get(cut, ReferenceFace(kps=points))
    assert cosine(ArcFaceEmbedder(runner(files, "arcface_w600k_r50"))(cut, points), expected) >= 0.9999


# SCRFD ---------------------------------------------------------------------------------------------------------


def reference_det_scale(image: Image, input_px: int = 640) -> float:
    """insightface `SCRFD._detect_candidates`: one scale for both axes, the height's."""
    h, w = image.shape[:2]
    new_height = input_px if h / w > 1 else int(input_px * h / w)
    return new_height / h


def test_scrfd_matches_reference(files: dict[str, Path], photos: list[tuple[str, Image, Faces]]) -> None:
    """Same detections, scores and five points after NMS (0–205 detections per photo). The reference maps x back
    with the height's scale, faceweave each axis with its own: with the reference's scale undone the boxes and points
    agree within 0.0003 px; as they come, within 1 px here (0.79 px on the 1548 px wide photo), and 7.8 px at most
    over all 34 single-face photos (4352 px wide)."""
    reference = SCRFD(str(files["scrfd_10g"]), session=session(files["scrfd_10g"]))
    detector = ScrfdDetector(runner(files, "scrfd_10g"), min_score=0.5)
    found_any = 0
    for name, image, _ in photos:
        expected, expected_points = reference.detect(image, input_size=(640, 640))
        found = detector.detect(image)
        assert len(found.boxes) == len(expected), name
        found_any += len(expected) > 0
        if not len(expected):
            continue
        assert np.allclose(found.scores, expected[:, 4], atol=1e-6), name
        assert (
            np.abs(found.boxes - expected[:, :4]).max() < 1.0
            and np.abs(found.landmarks_5 - expected_points).max() < 1.0
        )
        undo = reference_det_scale(image) / letterbox(image, 640)[1]  # per axis: the reference's scale / ours
        assert np.abs(found.boxes - expected[:, :4] * np.tile(undo, 2)).max() < 0.01, name
        assert np.abs(found.landmarks_5 - expected_points * undo).max() < 0.01, name
    assert found_any >= 2  # the graph's scores peak on real faces: the comparison is not vacuous


# inswapper -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def swap_pair(
    files: dict[str, Path], photos: list[tuple[str, Image, Faces]]
) -> tuple[INSwapper, InswapperSwapper, Any]:
    """insightface's INSwapper and faceweave's InswapperSwapper on the same graph, and hopper as the source face."""
    reference = INSwapper(str(files["inswapper_128"]), session=session(files["inswapper_128"]))
    embedder = ArcFaceEmbedder(runner(files, "arcface_w600k_r50"))
    swapper = InswapperSwapper(runner(files, "inswapper_128"), embedder, read_emap(files["inswapper_128"]), blend=1.0)
    _, image, faces = photos[0]
    source = ReferenceFace(embedding=embedder(image, faces.landmarks_5[0]))
    return reference, swapper, source


def test_inswapper_crop_latent_and_output_match_reference(
    swap_pair: tuple[INSwapper, InswapperSwapper, Any], photos: list[tuple[str, Image, Faces]]
) -> None:
    """`INSwapper.get(paste_back=False)`: the same matrix, crop, blob, latent and model output; the swapped crop
    within 1 grey level (the reference truncates to uint8, faceweave rounds: 0.5 level lighter on average)."""
    reference, swapper, source = swap_pair
    reference.session = Recorder(reference.session)
    swapper.runner.session = Recorder(swapper.runner.session)
    latent = source_latent([source.embedding], swapper.emap)
    for name, image, faces in photos[1:]:
        points = faces.landmarks_5[0]
        expected, expected_matrix = reference.get(image, ReferenceFace(kps=points), source, paste_back=False)
        matrix = estimate_alignment(points, template_points("arcface_128", 128))
        assert np.abs(matrix - expected_matrix).max() < 1e-3, name
        crop = warp_face(image, matrix, 128)
        aimg, _ = face_align.norm_crop2(image, points, 128)
        difference = np.abs(crop.astype(int) - aimg)  # the face is well inside: no border differs
        assert difference.max() <= 2 and difference.mean() < 0.05, name
        swapped = swapper.swap_crop(aimg, latent)
        fed, ours = reference.session.feeds[-1], swapper.runner.session.feeds[-1]
        assert np.allclose(ours["target"], fed["target"], atol=1e-6) and np.allclose(
            ours["source"], fed["source"], atol=1e-6
        )
        assert np.allclose(swapper.runner.session.outputs[-1][0], reference.session.outputs[-1][0], atol=1e-6)
        difference = swapped.astype(int) - expected
        assert difference.min() >= 0 and difference.max() <= 1 and difference.mean() < 0.7, name


def reference_inswapper_alpha(frame_hw: tuple[int, int], matrix: np.ndarray) -> np.ndarray:
    """insightface 2.1 model_zoo/inswapper.py L71–104: the paste-back weight in frame pixels (0–1)."""
    h, w = frame_hw
    inverse = cv2.invertAffineTransform(matrix)
    white = cv2.warpAffine(np.full((128, 128), 255, np.float32), inverse, (w, h), borderValue=0.0)
    white[white > 20] = 255
    rows, columns = np.where(white == 255)
    size = int(np.sqrt((rows.max() - rows.min()) * (columns.max() - columns.min())))
    k = max(size // 10, 10)
    mask = cv2.erode(white, np.ones((k, k), np.uint8), iterations=1)
    k = max(size // 20, 5)
    return cv2.GaussianBlur(mask, (2 * k + 1, 2 * k + 1), 0) / 255


def test_inswapper_paste_back_matches_reference_inside_the_masks(
    swap_pair: tuple[INSwapper, InswapperSwapper, Any], photos: list[tuple[str, Image, Faces]]
) -> None:
    """`INSwapper.get(paste_back=True)`: where both paste-back masks are 1 the frames agree to 0.5–0.7 grey levels on
    average, 2 levels in 99.9 % of the pixels (the reference truncates twice, to the crop and to the frame; faceweave
    rounds once); the few larger differences (7 at most) are the warps' 1/32 px sub-pixel steps landing differently
    at the random graph's sharp edges (the reference warps with a float64 matrix over the whole frame). The masks
    differ by design: faceweave's (FaceFusion's) feathered box reaches full weight 24 px inside the 128 px crop,
    insightface's eroded, blurred square 12 px on the astronaut (it scales with the face's size in the frame), so
    faceweave fades the crop's edge in over a band twice as wide. Measured on the astronaut: mean |Δ weight| 0.09
    over the pixels either mask touches; the frames differ by 0.13 grey levels on average, 22 at most (in the band)."""
    reference, swapper, source = swap_pair
    latent = source_latent([source.embedding], swapper.emap)
    for name, image, faces in photos[1:]:
        expected = reference.get(image, ReferenceFace(kps=faces.landmarks_5[0]), source, paste_back=True)
        ours = swapper(image, faces[0], latent)
        matrix = estimate_alignment(faces.landmarks_5[0], template_points("arcface_128", 128))
        alpha = reference_inswapper_alpha(image.shape[:2], matrix)
        ours_alpha = cv2.warpAffine(box_mask(128), cv2.invertAffineTransform(matrix), image.shape[1::-1])
        inside = (alpha > 0.999) & (ours_alpha > 0.999)
        assert inside.sum() > 1000, name
        difference = np.abs(ours.astype(int) - expected)[inside]
        assert difference.mean() < 1.0 and np.percentile(difference, 99.9) <= 2 and difference.max() <= 8, name
        outside = (alpha == 0) & (ours_alpha == 0)
        assert np.array_equal(ours[outside], expected[outside]), name  # outside both masks: untouched


# Face enhancers ------------------------------------------------------------------------------------------------


def reference_restore(name: str, model: Any, crop: Image, fidelity: float) -> Image:
    """The reference pre/post-processing around one aligned 512 px crop.

    GFPGAN gfpgan/utils.py `GFPGANer.enhance` and CodeFormer inference_codeformer.py: basicsr `img2tensor(crop /
    255., bgr2rgb=True)`, `normalize(0.5, 0.5)`, then `tensor2img(min_max=(-1, 1))`: clamp, (x + 1) / 2,
    `(x * 255.0).round()` (XPixelGroup/BasicSR basicsr/utils/img_util.py). GPEN face_model/face_gan.py: /255,
    (x − 0.5) / 0.5, BGR→RGB; back ×0.5 + 0.5, clip 0–1, ×255, `astype(uint8)` (truncation).
    """
    blob = ((crop[..., ::-1].astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
    if name == "codeformer":
        out = model.run(None, {"x": blob, "w": np.array([fidelity], np.float64)})[0][0]
    else:
        out = model.run(None, {"input": blob})[0][0]
    rgb = np.clip(out.transpose(1, 2, 0), -1, 1) * 0.5 + 0.5
    pixels = np.clip(rgb, 0, 1) * 255.0 if name == "gpen_bfr_512" else (rgb * 255.0).round()
    return pixels.astype(np.uint8)[..., ::-1]


def facefusion_paste_and_blend(frame: Image, crop: Image, matrix: np.ndarray, blend: float) -> Image:
    """FaceFusion 3.8.1 face_helper.py `paste_back` (L95–107) with face_masker.py `create_box_mask` (blur 0.3, no
    padding), then face_enhancer/core.py `blend_paste_frame` (cv2.addWeighted)."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [512, 0], [512, 512], [0, 512]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
    x1, y1 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, frame.shape[1::-1])
    x2, y2 = np.clip(np.ceil(corners.max(axis=0)).astype(int), 0, frame.shape[1::-1])
    paste_matrix = inverse.copy()
    paste_matrix[:, 2] -= (x1, y1)
    mask = cv2.warpAffine(box_mask(512, blur=0.3), paste_matrix, (x2 - x1, y2 - y1)).clip(0, 1)[..., None]
    face = cv2.warpAffine(crop, paste_matrix, (x2 - x1, y2 - y1), borderMode=cv2.BORDER_REPLICATE)
    pasted = frame.copy()
    region = pasted[y1:y2, x1:x2]
    pasted[y1:y2, x1:x2] = (region * (1 - mask) + face * mask).astype(np.uint8)
    return cv2.addWeighted(frame, 1 - blend, pasted, blend, 0)


@pytest.mark.parametrize("name", ["gfpgan_1.4", "gpen_bfr_512", "codeformer"])  # plain; truncating; with fidelity
def test_face_enhancer_matches_reference(
    files: dict[str, Path], photos: list[tuple[str, Image, Faces]], name: str
) -> None:
    """The restored crop equals the reference's (GPEN within 1 level: it truncates), the alignment is
    FaceFusion's least-squares one, and the paste-back + 0.8 blend is FaceFusion's within 2 levels."""
    enhancer = FaceEnhancer(runner(files, name), blend=0.8, fidelity=0.7)
    model = session(files[name])
    _, image, faces = photos[1]
    points = faces.landmarks_5[0]
    template = template_points("ffhq_512", 512)
    matrix = estimate_alignment(points, template)
    least_squares = cv2.estimateAffinePartial2D(points, template, method=cv2.RANSAC, ransacReprojThreshold=100)[0]
    assert np.abs(matrix - least_squares).max() < 1e-3
    crop = warp_face(image, matrix, 512)
    restored = enhancer.restore(crop)
    expected = reference_restore(name, model, crop, 0.7)
    difference = restored.astype(int) - expected  # GPEN truncates: faceweave's rounding is up to 1 level lighter
    assert np.abs(difference).max() <= 1 and np.abs(difference).mean() < (0.7 if name == "gpen_bfr_512" else 0.01)
    assert (
        np.abs(enhancer(image, faces[0]).astype(int) - facefusion_paste_and_blend(image, restored, matrix, 0.8)).max()
        <= 2
    )


# Real-ESRGAN ---------------------------------------------------------------------------------------------------


def reference_realesrgan(
    run: Callable[[np.ndarray], np.ndarray], image: Image, scale: int, tile: int, pad: int
) -> Image:
    """xinntao/Real-ESRGAN realesrgan/utils.py `RealESRGANer.enhance` with pre_pad 0 (its CLI's default): RGB / 255,
    reflect pad to a multiple of 2 (x2) at the bottom and right, `tile_process`, crop, clamp, `(x * 255.0).round()`."""
    rgb = image[..., ::-1].astype(np.float32) / 255
    h, w = rgb.shape[:2]
    mod = 2 if scale == 2 else 1
    padded = np.pad(rgb, ((0, -h % mod), (0, -w % mod), (0, 0)), mode="reflect")
    height, width = padded.shape[:2]
    output = np.zeros((height * scale, width * scale, 3), np.float32)
    for y in range(math.ceil(height / tile)):
        for x in range(math.ceil(width / tile)):
            x0, y0 = x * tile, y * tile
            x1, y1 = min(x0 + tile, width), min(y0 + tile, height)
            px0, py0, px1, py1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, width), min(y1 + pad, height)
            out = run(padded[py0:py1, px0:px1].transpose(2, 0, 1)[None])[0].transpose(1, 2, 0)
            ox, oy = (x0 - px0) * scale, (y0 - py0) * scale
            output[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = out[
                oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
            ]
    output = np.clip(output[: h * scale, : w * scale], 0, 1)
    return (output[..., ::-1] * 255.0).round().astype(np.uint8)


@pytest.mark.parametrize("scale", [2, 4])  # x2 unshuffles pixels (even sizes needed); x4 does not
def test_frame_enhancer_matches_reference_tiling(files: dict[str, Path], scale: int) -> None:
    """Odd-sized frame, several tiles: the same pixels as RealESRGANer (the x2 model needs the reference's reflect
    padding to an even size; without it, faceweave fed it odd tiles)."""
    image = np.ascontiguousarray(cv2.imread(str(sample_path("hopper")))[101:240, 150:327])  # 139 × 177
    name = f"real_esrgan_x{scale}"
    model = session(files[name])
    expected = reference_realesrgan(lambda blob: model.run(None, {"input": blob})[0], image, scale, 64, 8)
    upscaled = FrameEnhancer(runner(files, name), tile=64, pad=8).upscale(image)
    assert upscaled.shape == expected.shape and np.abs(upscaled.astype(int) - expected).max() <= 1
