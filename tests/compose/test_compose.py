"""Compositing functions: edge cases of lighting transfer, blends and the skin model."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from faceweave.compose.blend import alpha_blend, feather, pyramid_blend
from faceweave.compose.color import transfer_lighting
from faceweave.compose.masks import SkinModel
from faceweave.compose.resample import shrink


def test_lighting_transfer_takes_the_target_tone_and_keeps_detail() -> None:
    rng = np.random.default_rng(0)
    detail = rng.integers(-20, 20, (64, 64, 1))
    face = np.clip(120 + detail, 0, 255).astype(np.uint8).repeat(3, axis=2)
    target = np.full((64, 64, 3), (60, 90, 200), np.uint8)
    result = transfer_lighting(face, target, np.ones((64, 64), np.float32), sigma_px=8)
    assert np.allclose(result.reshape(-1, 3).mean(axis=0), (60, 90, 200), atol=6)
    assert np.corrcoef(result[..., 2].ravel(), face[..., 2].ravel())[0, 1] > 0.9


def test_lighting_transfer_with_an_empty_weight_is_harmless() -> None:
    face = np.full((32, 32, 3), 100, np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero warnings
        result = transfer_lighting(face, face, np.zeros((8, 8), np.float32), sigma_px=4)
    assert np.array_equal(result, face)


@pytest.mark.parametrize("blend", [alpha_blend, pyramid_blend])
def test_blends_respect_alpha_extremes(blend: object) -> None:
    background = np.full((256, 256, 3), 10, np.uint8)
    foreground = np.full((256, 256, 3), 200, np.uint8)
    alpha = np.zeros((256, 256), np.float32)
    alpha[:, 128:] = 1
    out = blend(background, foreground, alpha)  # type: ignore[operator]
    assert abs(int(out[128, 2, 0]) - 10) <= 3 and abs(int(out[128, 253, 0]) - 200) <= 3
    if blend is pyramid_blend:
        assert 10 < int(out[128, 128, 0]) < 200  # low frequencies mix across the cut


def test_feather_softens_but_keeps_the_interior() -> None:
    alpha = np.zeros((100, 100), np.float32)
    alpha[20:80, 20:80] = 1
    soft = feather(alpha, 4.0)
    assert soft[50, 50] > 0.99 and 0.2 < soft[50, 20] < 0.8 and soft[50, 5] < 0.01


def test_skin_model_separates_skin_from_hair() -> None:
    skin = np.full((20, 20, 3), (120, 150, 210), np.uint8)
    hair = np.full((20, 20, 3), (30, 30, 35), np.uint8)
    model = SkinModel.from_pixels(skin, np.full((20, 20), 255, np.uint8))
    assert model is not None
    assert model.likelihood(skin).mean() > 0.9 and model.likelihood(hair).mean() < 0.1
    assert SkinModel.from_pixels(skin, np.zeros((20, 20), np.uint8)) is None  # too few pixels


@pytest.mark.parametrize("size_wh", [(255, 288), (40, 50), (3, 2), (300, 300)])
def test_shrink_matches_area_averaging(size_wh: tuple[int, int]) -> None:
    from skimage import data

    image = cv2.resize(data.astronaut(), (625, 705))
    expected = cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA).astype(np.float32)
    result = shrink(image, size_wh)
    assert result.shape == expected.shape and result.dtype == np.uint8
    assert float(np.abs(result - expected).mean()) < 1.0


def test_shrink_keeps_pixel_centres_where_area_averaging_puts_them() -> None:
    ramp = np.tile(np.arange(1000, dtype=np.float32), (12, 1))
    expected = cv2.resize(ramp, (37, 5), interpolation=cv2.INTER_AREA)
    assert np.allclose(shrink(ramp, (37, 5)), expected, atol=0.05)


def test_skin_distance_is_the_mahalanobis_distance() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
    model = SkinModel.from_pixels(image, np.full((40, 50), 255, np.uint8))
    assert model is not None
    for luma_weight in (1.0, 0.0):
        colour = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb).astype(np.float64) - model.mean
        colour[..., 0] *= luma_weight
        expected = np.sqrt(np.einsum("hwi,ij,hwj->hw", colour, model.inverse_covariance.astype(np.float64), colour))
        assert np.allclose(model.distance(image, luma_weight), expected, atol=1e-3)
