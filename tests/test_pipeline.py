"""The pipeline on real faces: the swapped face carries the source identity and keeps the target's pose."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave import swap_image
from faceweave.analysis.identity import distance
from faceweave.engine import BoundEngine, Engine
from faceweave.errors import NoFaceError, UsageError
from faceweave.samples import sample_path
from faceweave.settings import Settings

Image = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def swapped(hopper_swap: BoundEngine, astronaut: Image) -> Image:
    result = hopper_swap.process(astronaut)
    assert result.swapped == (0,)
    return result.image


def _descriptor(pipeline: BoundEngine, image: Image) -> npt.NDArray[np.float32]:
    faces = pipeline.analyser.embed(image, pipeline.analyser.analyse(image))
    assert faces.embedding is not None and len(faces) == 1
    return faces.embedding[0]


def test_result_carries_the_source_identity(
    hopper_swap: BoundEngine, hopper: Image, astronaut: Image, swapped: Image
) -> None:
    result = _descriptor(hopper_swap, swapped)
    to_source = float(distance(result, _descriptor(hopper_swap, hopper)))
    to_target = float(distance(result, _descriptor(hopper_swap, astronaut)))
    assert to_source < to_target
    assert to_source < 0.6  # dlib's own "same person" bound


def test_result_keeps_the_target_pose_and_expression(still_engine: Engine, astronaut: Image, swapped: Image) -> None:
    before = still_engine.analyser.analyse(astronaut)[0]
    after = still_engine.analyser.analyse(swapped)[0]
    eye_distance = float(np.linalg.norm(before.landmarks_5[0] - before.landmarks_5[1]))
    error = np.linalg.norm(after.mesh[:468, :2] - before.mesh[:468, :2], axis=1).mean() / eye_distance
    assert error < 0.05


def test_only_the_face_region_changes(still_engine: Engine, astronaut: Image, swapped: Image) -> None:
    box = still_engine.analyser.analyse(astronaut)[0].box
    changed = np.abs(swapped.astype(int) - astronaut.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    size = float(box[2] - box[0])
    assert changed.sum() > 0.3 * size * size  # most of the face changed
    assert xs.min() >= box[0] - 0.3 * size and xs.max() <= box[2] + 0.3 * size
    assert ys.min() >= box[1] - 0.5 * size and ys.max() <= box[3] + 0.3 * size


def test_no_seam_at_the_mask_border(still_engine: Engine, astronaut: Image, swapped: Image) -> None:
    """The blend must be gradual: no strong step between the swapped and untouched pixels."""
    difference = np.abs(swapped.astype(np.float32) - astronaut.astype(np.float32)).mean(axis=2)
    inside = cv2.distanceTransform((difference > 0).astype(np.uint8), cv2.DIST_L2, 5)
    rim = difference[(inside >= 1) & (inside <= 3)]  # the first pixels that change
    deep = difference[inside >= 15]
    # ~4.0 (the swap ends at the face's own contour: its chin over her dark collar); unfeathered: ~11.7
    assert rim.mean() < 5 < deep.mean()


def test_blend_zero_leaves_the_target_unchanged(astronaut: Image) -> None:
    pipeline = BoundEngine.load(Settings(blend=0.0, detector="mediapipe"), [sample_path("hopper")])
    assert np.array_equal(pipeline.process(astronaut).image, astronaut)


def test_target_without_a_face_is_returned_unchanged(hopper_swap: BoundEngine) -> None:
    blank = np.full((300, 400, 3), 90, np.uint8)
    result = hopper_swap.process(blank)
    assert result.swapped == () and np.array_equal(result.image, blank)


def test_swap_image_api_on_arrays_and_require_face(hopper: Image, astronaut: Image) -> None:
    out = swap_image(hopper, astronaut, detector="mediapipe", blend=0.9)
    assert out.shape == astronaut.shape and not np.array_equal(out, astronaut)
    with pytest.raises(NoFaceError, match="target"):
        swap_image(hopper, np.full((200, 200, 3), 50, np.uint8), detector="mediapipe", require_face=True)
    with pytest.raises(NoFaceError, match="source"):
        swap_image(np.full((200, 200, 3), 50, np.uint8), astronaut, detector="mediapipe")
    with pytest.raises(UsageError, match="uint8"):
        swap_image(hopper.astype(np.float32), astronaut)  # type: ignore[arg-type]


def test_reference_selects_who_is_swapped(hopper: Image, astronaut: Image) -> None:
    matching = BoundEngine.load(Settings(detector="mediapipe"), [hopper], references=[astronaut])
    assert matching.process(astronaut).swapped == (0,)
    stranger = BoundEngine.load(Settings(detector="mediapipe"), [astronaut], references=[hopper])
    assert stranger.process(astronaut).swapped == ()


def test_several_source_photos_cover_at_least_as_much(still_engine: Engine, hopper: Image) -> None:
    turned = cv2.flip(hopper, 1)
    single = still_engine.identity([hopper])
    double = still_engine.identity([hopper, turned])
    assert double.direct_coverage >= single.direct_coverage
    assert double.names == ("<source 0>", "<source 1>")
    assert single.texture.shape == (512, 512, 3) and single.alpha.max() == 255


@pytest.mark.parametrize(
    "options",
    [
        {"blend_mode": "pyramid"},  # Laplacian pyramid
        {"blend_mode": "poisson"},  # seamlessClone
        {"color_mode": "reinhard"},  # LAB statistics
        {"color_mode": "none"},  # raw texture
        {"source_eyes": True},  # eyes from the source
        {"border_mask": False},  # whole mesh, no border tests
    ],
)
def test_every_option_still_swaps(options: dict[str, object], hopper: Image, astronaut: Image) -> None:
    out = swap_image(hopper, astronaut, detector="mediapipe", **options)
    changed = np.abs(out.astype(int) - astronaut).max(axis=2) > 8
    assert out.shape == astronaut.shape and changed.mean() > 0.01  # the face is about 4% of the image


def test_prepared_frames_swap_exactly_as_in_one_call(hopper: Image, astronaut: Image) -> None:
    """Live makes a large face's atlas look-up on the analysis thread (Engine.analyse); the swap from it is the
    same image as a swap that maps the face itself. Small faces, and faces whose shape is moved first, are mapped in
    the swap."""
    video = BoundEngine.load(Settings(), [hopper], mode="video")
    engine, bindings = video.engine, video.bindings
    large = cv2.resize(astronaut, None, fx=4.0, fy=4.0, interpolation=cv2.INTER_LINEAR)  # a ~400 px face
    faces = video.analyser.analyse(large)
    prepared = engine.analyse(large, bindings, faces=faces)
    assert len(prepared.assignments) == 1 and prepared.maps[0] is not None
    ahead = engine.render(large, prepared)
    at_once = engine.render(large, dataclasses.replace(prepared, maps=(None,)))
    assert ahead.swapped == at_once.swapped == (0,)
    assert np.array_equal(ahead.image, at_once.image)
    x0, y0, x1, y1 = (int(v) for v in faces.boxes[0])
    change = np.abs(ahead.image[y0:y1, x0:x1].astype(np.int16) - large[y0:y1, x0:x1])
    assert float(change.mean()) > 8.0  # and it did swap
    small = engine.analyse(astronaut, bindings, faces=video.analyser.analyse(astronaut))
    assert small.maps == (None,)  # a ~100 px face
    shaped = BoundEngine.load(Settings(video_face_shape=0.5), [hopper], mode="video")
    assert shaped.engine.analyse(large, shaped.bindings, faces=faces).maps == (None,)
