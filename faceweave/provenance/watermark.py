"""Invisible watermark: a 32-bit payload + CRC-32 in a periodic luminance pattern that survives JPEG, resizes, crops.

Design (chosen from measurements, see tools/watermark_robustness.py and the README):

- The 64-bit codeword (payload, CRC-32 keyed with a faceweave tag) is spread over a 32×32 grid of cells; each cell
  carries one bit multiplied by a fixed pseudo-random ±1 carrier, each bit owns 16 scattered cells.
- The cell grid is smoothly up-sampled to a 128×128 pixel tile (4-pixel cells: mid-low frequencies that JPEG keeps)
  and the tile is repeated over the whole image, added to luminance (the same value on B, G and R) with a strength
  that follows local texture (flat sky gets less, hair and fabric more).
- Detection whitens luminance (band-pass, normalised by local contrast), folds the image modulo the tile period
  (every tile adds up: crops only shift the fold cyclically), correlates the fold with each bit's pattern for every
  cyclic shift at once (FFT) and takes the shift with the most correlation energy. Resizing changes the period, so
  a few scales are tried. A payload is reported only when the CRC matches and the bits are confident.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.errors import UsageError
from faceweave.types import FloatArray

ImageArray = npt.NDArray[np.uint8]
"""H×W×3 uint8 array, BGR channel order."""
LumaArray = npt.NDArray[np.uint8]
"""H×W uint8 array: the Y plane of a limited-range YUV frame."""

PAYLOAD_BITS = 32
_CODE_BITS = 64
_CELLS = 32  # cells per tile side
_CELL_PX = 4  # pixels per cell side at scale 1
_TILE_PX = _CELLS * _CELL_PX
_SEED = 0x46574D31  # "FWM1": carrier and bit layout are fixed, so any faceweave build can read any other's marks
_CRC_TAG = b"faceweave-watermark-v1"
DEFAULT_STRENGTH = 2.2
"""RMS of the added luminance pattern in grey levels (≈ 41 dB PSNR)."""
DEFAULT_SCALES = (1.0, 0.5, 0.75, 0.6667, 0.8, 1.25, 1.5, 2.0)
"""Resize factors tried by `find_watermark`, most likely first (0.5 = the image was halved after marking)."""
_MIN_CONFIDENCE = 1.3  # mean |bit z| at the best shift: unmarked images give 0.9-1.2, marked ones 1.5-4
_LIMITED_BLACK, _LIMITED_SPAN = 16.0, 219.0  # limited-range luma: black at 16, white at 235
_CUT_LEVELS = 8.0  # LumaMarker: mean change of block means (luma levels) that counts as a new picture
_RETRY_BITS = 8  # when the CRC fails, retry with every combination of the weakest bits flipped (256 tries)


@dataclass(frozen=True)
class WatermarkMatch:
    """A watermark found in an image: its payload, the resize factor it was found at, and bit confidence (z-score).

    Example: ``find_watermark(marked).payload`` gives ``0x1A2B3C4D``
    """

    payload: int
    scale: float
    confidence: float


def embed_watermark(image: ImageArray, payload: int, strength: float = DEFAULT_STRENGTH) -> ImageArray:
    """Return a copy of a BGR image carrying `payload` (0 ≤ payload < 2**32) invisibly in its luminance.

    Example: ``find_watermark(embed_watermark(image, 0xC0FFEE)).payload`` gives ``0xC0FFEE``
    """
    _check_image(image)
    _check_mark(payload, strength)
    height, width = image.shape[:2]
    mask = _texture_mask(_quarter(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)), (height, width))
    delta = cv2.multiply(_scaled_pattern(payload, strength, height, width), mask)
    return np.asarray(cv2.add(image, cv2.cvtColor(delta, cv2.COLOR_GRAY2BGR), dtype=cv2.CV_8U), np.uint8)  # rounds


def embed_watermark_luma(luma: LumaArray, payload: int, strength: float = DEFAULT_STRENGTH) -> None:
    """Mark the luma plane of a limited-range (16–235) YUV frame in place with `payload`: the same mark, as decoded
    to RGB, as `embed_watermark` on the frame before conversion (the pattern is scaled by 219/255, and an equal
    change of B, G and R is a change of luma only), at a third of the cost (one plane instead of three, and no
    grey conversion). `luma` may be a strided view (a video frame's plane with its line padding cut off).

    Example: ``embed_watermark_luma(frame_y, 0xC0FFEE)`` before the frame is encoded
    """
    _check_luma(luma)
    _check_mark(payload, strength)
    cv2.add(luma, _luma_delta(luma, payload, strength), dst=luma, dtype=cv2.CV_8U)  # rounds; writes through the view


class LumaMarker:
    """Marks the luma planes of one video's frames, in order, with `payload`: `embed_watermark_luma`, but the texture
    mask is read from the picture on every `refresh`-th frame only, and on any frame whose 64-pixel block means moved
    by more than `_CUT_LEVELS` on average since (a cut). The frames in between get the last such frame's pattern ×
    mask unchanged: an add instead of a texture analysis, 0.9 instead of 3.6 ms for a 1080p frame. The mask is smooth
    (blurred at quarter resolution), so a mask a few frames old of the same scene keeps the mark as hidden (and as
    found) as a fresh one. One marker per video; not for concurrent use.

    Example: ``marker = LumaMarker(0xC0FFEE)`` then ``marker(frame_y)`` for each frame before it is encoded
    """

    def __init__(self, payload: int, strength: float = DEFAULT_STRENGTH, refresh: int = 5) -> None:
        _check_mark(payload, strength)
        if refresh < 1:
            raise UsageError(f"the watermark's texture refresh must be at least every frame, got {refresh}")
        self.payload, self.strength, self.refresh = payload, strength, refresh
        self._reading: tuple[FloatArray, FloatArray] | None = None  # (pattern × mask, block means) of the last read
        self._since = 0  # frames marked with that reading

    def __call__(self, luma: LumaArray) -> None:
        """Mark `luma` (a limited-range Y plane, possibly a strided view) in place."""
        _check_luma(luma)
        overview = _overview(luma)
        reading = self._reading
        if reading is None or self._stale(reading, luma, overview):
            reading = self._reading = (_luma_delta(luma, self.payload, self.strength), overview)
            self._since = 0
        self._since += 1
        cv2.add(luma, reading[0], dst=luma, dtype=cv2.CV_8U)

    def _stale(self, reading: tuple[FloatArray, FloatArray], luma: LumaArray, overview: FloatArray) -> bool:
        """Whether the texture mask is read anew for this frame: a new size, every `refresh` frames, after a cut."""
        delta, before = reading
        if delta.shape != luma.shape:
            return True
        return self._since >= self.refresh or float(np.mean(np.abs(overview - before))) > _CUT_LEVELS


def _overview(luma: LumaArray) -> FloatArray:
    """Means of 64×64-pixel blocks of `luma`, from every 8th pixel of every 8th line (0.1 ms for a 1080p plane)."""
    points = luma[::8, ::8]
    size_wh = (max(1, points.shape[1] // 8), max(1, points.shape[0] // 8))
    return np.asarray(cv2.resize(points, size_wh, interpolation=cv2.INTER_AREA), np.float32)


def _luma_delta(luma: LumaArray, payload: int, strength: float) -> FloatArray:
    """What `embed_watermark_luma` adds to `luma`: the pattern scaled to limited range, times the texture mask."""
    height, width = luma.shape
    grey = (_quarter(luma).astype(np.float32) - _LIMITED_BLACK) * np.float32(255 / _LIMITED_SPAN)  # as 0-255 grey
    pattern = _scaled_pattern(payload, strength * _LIMITED_SPAN / 255, height, width)
    return np.asarray(cv2.multiply(pattern, _texture_mask(grey, (height, width))), np.float32)


@functools.lru_cache(maxsize=4)
def _scaled_pattern(payload: int, strength: float, height: int, width: int) -> FloatArray:
    """The payload's pattern over a height×width frame at `strength` (before the texture mask): the same for every
    frame of a video, so it is made once (a 1080p frame's pattern took as long as marking it)."""
    signs = 2.0 * _codeword_bits(payload) - 1.0
    tile = _upsample_cells(_carrier() * signs[_layout()].astype(np.float32))
    pattern = np.tile(tile, (-(-height // _TILE_PX), -(-width // _TILE_PX)))[:height, :width]
    scaled = np.ascontiguousarray(pattern * np.float32(strength / np.sqrt(np.mean(tile**2))), np.float32)
    scaled.flags.writeable = False  # shared by every call with these arguments
    return scaled


def find_watermark(image: ImageArray, scales: Sequence[float] = DEFAULT_SCALES) -> WatermarkMatch | None:
    """Look for a faceweave watermark; None when there is none (or it was destroyed).

    Example: ``find_watermark(cv2.imread("photo.jpg"))`` gives ``None`` for an unmarked photo
    """
    _check_image(image)
    luma = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    patterns = _bit_patterns_fft()
    for scale in scales:
        resized = luma if scale == 1.0 else _rescale(luma, 1.0 / scale)
        if min(resized.shape) < _TILE_PX:
            continue
        match = _decode(_fold(_whiten(resized)), patterns, scale)
        if match is not None:
            return match
    return None


def _check_mark(payload: int, strength: float) -> None:
    """UsageError unless 0 ≤ payload < 2**32 and 0 < strength ≤ 20 grey levels."""
    if not 0 <= payload < 1 << PAYLOAD_BITS:
        raise UsageError(f"watermark payload must be an integer in 0..2**32-1, got {payload}")
    if not 0 < strength <= 20:
        raise UsageError(f"watermark strength must be in (0, 20] grey levels, got {strength}")


def _check_luma(luma: LumaArray) -> None:
    if luma.dtype != np.uint8 or luma.ndim != 2:
        raise UsageError(f"watermarking a luma plane needs an H×W uint8 array, got {luma.dtype} {luma.shape}")


def _check_image(image: ImageArray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"watermarking needs an H×W×3 uint8 BGR image, got {image.dtype} {image.shape}")


def _codeword_bits(payload: int) -> npt.NDArray[np.uint8]:
    data = payload.to_bytes(4, "big")
    word = data + zlib.crc32(_CRC_TAG + data).to_bytes(4, "big")
    return np.unpackbits(np.frombuffer(word, np.uint8))


def _payload_from_bits(bits: npt.NDArray[np.uint8]) -> int | None:
    word = np.packbits(bits).tobytes()
    if zlib.crc32(_CRC_TAG + word[:4]).to_bytes(4, "big") != word[4:]:
        return None
    return int.from_bytes(word[:4], "big")


def _carrier() -> FloatArray:
    rng = np.random.default_rng(_SEED)
    return rng.choice(np.array([-1.0, 1.0], np.float32), size=(_CELLS, _CELLS))


def _layout() -> npt.NDArray[np.intp]:
    """Which codeword bit each cell carries: every bit owns the same number of cells, scattered at random."""
    rng = np.random.default_rng(_SEED + 1)
    return (rng.permutation(_CELLS * _CELLS) % _CODE_BITS).reshape(_CELLS, _CELLS)


def _upsample_cells(cells: FloatArray) -> FloatArray:
    """Cubic up-sampling of a cyclic cell grid to a seamless tile (wrap-padded so the tile repeats smoothly)."""
    pad = 2
    padded = np.pad(cells, pad, mode="wrap")
    size = padded.shape[0] * _CELL_PX
    large = cv2.resize(padded, (size, size), interpolation=cv2.INTER_CUBIC)
    start = pad * _CELL_PX
    return np.ascontiguousarray(large[start : start + _TILE_PX, start : start + _TILE_PX], np.float32)


def _quarter(grey: npt.NDArray[np.uint8]) -> FloatArray:
    """A grey image at quarter resolution (the texture mask is smooth), as float32."""
    height, width = grey.shape
    small_wh = (max(1, width // 4), max(1, height // 4))
    return np.asarray(cv2.resize(grey, small_wh, interpolation=cv2.INTER_AREA), np.float32)


def _texture_mask(luma: FloatArray, shape_hw: tuple[int, int]) -> FloatArray:
    """Per-pixel strength factor with mean square 1: lower on flat areas, higher on texture, low near clipping.

    `luma`: the image's 0–255 grey at quarter resolution (`_quarter`); the mask is up-sampled to `shape_hw`.
    """
    height, width = shape_hw
    activity = cv2.GaussianBlur(np.abs(cv2.Laplacian(luma, cv2.CV_32F)), (0, 0), 1.0)
    mask = np.clip(activity / (float(np.mean(activity)) + 1e-6), 0.4, 2.0)
    mask *= np.clip(np.minimum(luma, 255.0 - luma) / 8.0, 0.25, 1.0)  # no strength where the pattern would clip
    mask /= np.sqrt(np.mean(mask**2) + 1e-12)
    return np.asarray(cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)


def _rescale(luma: FloatArray, factor: float) -> FloatArray:
    height, width = luma.shape
    size_wh = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(cv2.resize(luma, size_wh, interpolation=cv2.INTER_CUBIC), np.float32)


def _whiten(luma: FloatArray) -> FloatArray:
    """Band-pass luminance around the pattern's frequencies, divided by local contrast and clipped (robust)."""
    band = cv2.GaussianBlur(luma, (0, 0), 0.6) - cv2.GaussianBlur(luma, (0, 0), 2.0)
    contrast = np.sqrt(cv2.GaussianBlur(band * band, (0, 0), 3.0)) + 1.0
    return np.asarray(np.clip(band / contrast, -3.0, 3.0), np.float32)


def _fold(residual: FloatArray) -> FloatArray:
    """Sum all tile-sized pieces modulo the tile period (a crop becomes a cyclic shift of this fold)."""
    height, width = residual.shape
    rows, columns = -(-height // _TILE_PX), -(-width // _TILE_PX)
    padded = np.zeros((rows * _TILE_PX, columns * _TILE_PX), np.float32)
    padded[:height, :width] = residual
    return np.asarray(padded.reshape(rows, _TILE_PX, columns, _TILE_PX).sum(axis=(0, 2)), np.float32)


def _bit_patterns_fft() -> npt.NDArray[np.complex128]:
    """Spectra of each codeword bit's tile pattern (carrier on that bit's cells only): shape (64, 128, 128)."""
    carrier, layout = _carrier(), _layout()
    patterns = [_upsample_cells(np.where(layout == bit, carrier, 0).astype(np.float32)) for bit in range(_CODE_BITS)]
    return np.fft.rfft2(np.stack(patterns))


def _decode(fold: FloatArray, patterns: npt.NDArray[np.complex128], scale: float) -> WatermarkMatch | None:
    """Correlate the fold with every bit pattern at every cyclic shift; decode at the most energetic shift."""
    spectrum = np.fft.rfft2(fold)
    correlations = np.fft.irfft2(spectrum[np.newaxis] * np.conj(patterns), s=fold.shape)  # (64, 128, 128)
    noise = np.median(np.abs(correlations), axis=(1, 2), keepdims=True) / 0.6745 + 1e-9
    z = correlations / noise
    energy = np.abs(z).sum(axis=0)
    row, column = np.unravel_index(int(np.argmax(energy)), energy.shape)
    bits_z = z[:, row, column]
    confidence = float(np.mean(np.abs(bits_z)))
    if confidence < _MIN_CONFIDENCE:
        return None
    payload = _correct_weak_bits(bits_z)
    return None if payload is None else WatermarkMatch(payload, scale, round(confidence, 2))


def _correct_weak_bits(bits_z: npt.NDArray[np.float64]) -> int | None:
    """Hard decision, then flips of the least confident bits until the CRC matches (CRC-32 keeps false hits ~1e-7)."""
    bits = (bits_z > 0).astype(np.uint8)
    weakest = np.argsort(np.abs(bits_z))[:_RETRY_BITS]
    for flips in range(1 << _RETRY_BITS):
        trial = bits.copy()
        chosen = weakest[[bool(flips >> i & 1) for i in range(_RETRY_BITS)]]
        trial[chosen] ^= 1
        payload = _payload_from_bits(trial)
        if payload is not None:
            return payload
    return None
