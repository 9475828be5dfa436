"""Pure alignment helpers: templates, similarity estimate, warp + paste-back round trip, blobs, polyphase."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceweave.errors import UsageError
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

ARCFACE_112 = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]


def test_templates_match_the_published_points() -> None:
    assert np.allclose(template_points("arcface_112_v2", 112), ARCFACE_112, atol=1e-3)
    assert np.allclose(template_points("ffhq_512", 512)[0], (192.98, 239.95), atol=0.01)
    with pytest.raises(UsageError, match="unknown alignment template"):
        template_points("arcface_999", 112)


@pytest.mark.parametrize(
    ("angle", "scale", "shift"),
    [
        (0.0, 1.0, (0.0, 0.0)),  # identity
        (30.0, 0.5, (40.0, -10.0)),  # rotated, shrunk, moved
        (-170.0, 3.0, (-5.0, 300.0)),  # upside down, enlarged
    ],
)
def test_estimate_alignment_recovers_a_similarity(angle: float, scale: float, shift: tuple[float, float]) -> None:
    template = template_points("arcface_128", 128)
    truth = cv2.getRotationMatrix2D((0, 0), angle, scale)
    truth[:, 2] = shift
    moved = template @ truth[:, :2].T + truth[:, 2]
    inverse = cv2.invertAffineTransform(truth)
    assert np.allclose(estimate_alignment(moved, template), inverse, atol=1e-4)


def test_coincident_points_cannot_align() -> None:
    with pytest.raises(UsageError, match="all in one place"):
        estimate_alignment(np.zeros((5, 2), np.float32), template_points("arcface_128", 128))


def test_warp_then_paste_back_leaves_the_image_unchanged() -> None:
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
    landmarks = template_points("arcface_128", 128) * 1.3 + (90, 50)
    matrix = estimate_alignment(landmarks, template_points("arcface_128", 128))
    crop = warp_face(image, matrix, 128)
    pasted = paste_back(image, crop, box_mask(128), matrix)
    assert np.abs(pasted.astype(int) - image).max() <= 3


@pytest.mark.parametrize("offset", [(-60.0, -60.0), (280.0, 200.0), (5000.0, 5000.0)])  # corners, far outside
def test_paste_back_at_or_beyond_the_border(offset: tuple[float, float]) -> None:
    image = np.full((240, 320, 3), 50, np.uint8)
    matrix = estimate_alignment(template_points("arcface_128", 128) + offset, template_points("arcface_128", 128))
    pasted = paste_back(image, np.full((128, 128, 3), 200, np.uint8), box_mask(128), matrix)
    assert pasted.shape == image.shape and pasted.dtype == np.uint8


def test_box_mask_is_feathered() -> None:
    mask = box_mask(128, blur=0.3)
    assert mask[64, 64] == pytest.approx(1.0, abs=1e-3) and mask[0, 0] < 0.01 and 0.05 < mask[64, 12] < 0.95


@pytest.mark.parametrize(
    ("mean", "std", "colour"),
    [((0.0,) * 3, (1.0,) * 3, "rgb"), ((0.5,) * 3, (0.5,) * 3, "rgb"), ((0.5,) * 3, (128 / 255,) * 3, "bgr")],
)
def test_blob_round_trip(mean: tuple[float, float, float], std: tuple[float, float, float], colour: str) -> None:
    crop = np.random.default_rng(2).integers(0, 256, (16, 12, 3), dtype=np.uint8)
    blob = to_blob(crop, mean, std, colour)
    assert blob.shape == (1, 3, 16, 12) and blob.dtype == np.float32
    assert np.array_equal(from_blob(blob, mean, std, colour), crop)
    first = crop[0, 0, 2 if colour == "rgb" else 0] / 255
    assert blob[0, 0, 0, 0] == pytest.approx((first - mean[0]) / std[0], abs=1e-6)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_polyphase_round_trip(k: int) -> None:
    crop = np.random.default_rng(k).integers(0, 256, (128 * k, 128 * k, 3), dtype=np.uint8)
    parts = split_polyphase(crop, k)
    assert len(parts) == k * k and parts[0].shape == (128, 128, 3)
    assert np.array_equal(merge_polyphase(parts, k), crop)
