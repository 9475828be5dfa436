"""faceweave.provenance.watermark on real public-domain portraits: invisible, survives re-saves, no false hits."""

from __future__ import annotations

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave.compose.measure import psnr
from faceweave.errors import UsageError
from faceweave.media.yuv import luma_plane
from faceweave.provenance.watermark import LumaMarker, embed_watermark, embed_watermark_luma, find_watermark

Pixels = npt.NDArray[np.uint8]
PAYLOAD = 0xFACE_0801


def jpeg(image: Pixels, quality: int) -> Pixels:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8)


def half(image: Pixels) -> Pixels:
    return np.asarray(cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), np.uint8)


@pytest.fixture(scope="module")
def portraits(hopper: Pixels, astronaut: Pixels) -> dict[str, Pixels]:
    return {"hopper": hopper, "astronaut": astronaut}


@pytest.fixture(scope="module")
def marked(portraits: dict[str, Pixels]) -> dict[str, Pixels]:
    return {name: embed_watermark(image, PAYLOAD) for name, image in portraits.items()}


@pytest.mark.parametrize("name", ["hopper", "astronaut"])
def test_mark_is_invisible(portraits: dict[str, Pixels], marked: dict[str, Pixels], name: str) -> None:
    assert psnr(portraits[name], marked[name]) >= 40.0
    assert np.abs(marked[name].astype(int) - portraits[name]).max() <= 12  # no visible spikes either


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(lambda image: image, id="lossless"),
        pytest.param(lambda image: jpeg(image, 90), id="jpeg-q90"),  # the required case
        pytest.param(lambda image: jpeg(image, 75), id="jpeg-q75"),
        pytest.param(lambda image: jpeg(half(image), 90), id="resize-50%-then-q90"),
        pytest.param(lambda image: np.ascontiguousarray(image[37:437, 53:453]), id="crop-400px-odd-offset"),
    ],
)
@pytest.mark.parametrize("name", ["hopper", "astronaut"])
def test_mark_survives(marked: dict[str, Pixels], name: str, attack: object) -> None:
    match = find_watermark(attack(marked[name]))  # type: ignore[operator]
    assert match is not None
    assert match.payload == PAYLOAD


def test_reports_scale_of_a_resized_copy(marked: dict[str, Pixels]) -> None:
    match = find_watermark(half(marked["astronaut"]))
    assert match is not None and match.scale == 0.5


def unmarked_images(hopper: Pixels, astronaut: Pixels) -> dict[str, Pixels]:
    rng = np.random.default_rng(3)
    gradient = np.broadcast_to(np.linspace(0, 255, 640, dtype=np.uint8)[np.newaxis, :, np.newaxis], (480, 640, 3))
    return {
        "hopper": hopper,
        "astronaut": astronaut,
        "hopper-q90": jpeg(hopper, 90),
        "astronaut-half": half(astronaut),
        "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "flat-grey": np.full((300, 400, 3), 128, np.uint8),
        "gradient": np.ascontiguousarray(gradient),
        "jpeg-blocks": jpeg(cv2.resize(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), (640, 480)), 50),
    }


def test_no_false_positives(hopper: Pixels, astronaut: Pixels) -> None:
    found = {name: find_watermark(image) for name, image in unmarked_images(hopper, astronaut).items()}
    assert found == dict.fromkeys(found)


@pytest.mark.parametrize(
    ("shape", "payload"),
    [
        ((64, 64, 3), 0),  # smaller than one tile: nothing to find, but marking works
        ((130, 700, 3), 2**32 - 1),  # thin strip, largest payload
    ],
)
def test_marks_any_size(shape: tuple[int, int, int], payload: int) -> None:
    image = np.full(shape, 100, np.uint8)
    assert embed_watermark(image, payload).shape == shape


@pytest.mark.parametrize(
    ("payload", "strength", "image"),
    [
        (-1, 2.0, np.zeros((8, 8, 3), np.uint8)),  # negative payload
        (2**32, 2.0, np.zeros((8, 8, 3), np.uint8)),  # 33 bits
        (1, 0.0, np.zeros((8, 8, 3), np.uint8)),  # no strength
        (1, 2.0, np.zeros((8, 8), np.uint8)),  # grey image
    ],
)
def test_rejects_bad_arguments(payload: int, strength: float, image: Pixels) -> None:
    with pytest.raises(UsageError, match="watermark"):
        embed_watermark(image, payload, strength)


def to_yuv(image: Pixels) -> av.VideoFrame:
    """Limited-range BT.709 YUV 4:2:0, as the video writer encodes."""
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    return frame.reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)


def from_yuv(frame: av.VideoFrame) -> Pixels:
    return np.asarray(frame.to_ndarray(format="bgr24", src_color_range=1), np.uint8)


@pytest.mark.parametrize("name", ["hopper", "astronaut"])
def test_luma_mark_is_the_bgr_mark_after_conversion(portraits: dict[str, Pixels], name: str) -> None:
    """Marking a video frame's Y plane after conversion gives, decoded, the mark the BGR frame would have carried:
    the same strength, the payload found, pixels within rounding of marking before the conversion."""
    image = portraits[name][: portraits[name].shape[0] // 2 * 2, : portraits[name].shape[1] // 2 * 2]
    plain, before = from_yuv(to_yuv(image)), from_yuv(to_yuv(embed_watermark(image, PAYLOAD)))
    frame = to_yuv(image)
    embed_watermark_luma(luma_plane(frame), PAYLOAD)
    after = from_yuv(frame)
    match = find_watermark(after)
    assert match is not None and match.payload == PAYLOAD
    assert np.abs(after.astype(int) - before).mean() < 0.6
    strength = [float(np.sqrt(np.mean((marked.astype(float) - plain) ** 2))) for marked in (before, after)]
    assert strength[1] == pytest.approx(strength[0], rel=0.1), strength
    assert find_watermark(jpeg(after, 90)) is not None


def test_luma_mark_rejects_a_colour_image() -> None:
    with pytest.raises(UsageError, match="luma plane"):
        embed_watermark_luma(np.zeros((8, 8, 3), np.uint8), 1)


def grey_frames(*pictures: Pixels, shifts: tuple[int, ...]) -> list[Pixels]:
    """512×512 grey frames: each picture moved right by its shift (a camera pan between frames)."""
    frames = []
    for picture, shift in zip(pictures, shifts, strict=True):
        grey = cv2.cvtColor(cv2.resize(picture, (512, 512)), cv2.COLOR_BGR2GRAY)  # big enough for the mark to be found
        frames.append(np.ascontiguousarray(np.roll(grey, shift, axis=1)))
    return frames


def marked_in_turn(marker: LumaMarker, frames: list[Pixels]) -> list[Pixels]:
    marked = []
    for frame in frames:
        luma = frame.copy()
        marker(luma)
        marked.append(luma)
    return marked


def marked_alone(frames: list[Pixels]) -> list[Pixels]:
    marked = []
    for frame in frames:
        luma = frame.copy()
        embed_watermark_luma(luma, PAYLOAD)
        marked.append(luma)
    return marked


def test_a_video_marker_reads_the_texture_every_refresh_frames(astronaut: Pixels) -> None:
    """Frames 0 and `refresh` are marked exactly as `embed_watermark_luma` marks them; the frame between (the same
    scene, panned) gets frame 0's pattern × mask, not one of its own, and the mark is found on it."""
    frames = grey_frames(astronaut, astronaut, astronaut, shifts=(0, 3, 6))
    marked, alone = marked_in_turn(LumaMarker(PAYLOAD, refresh=2), frames), marked_alone(frames)
    assert np.array_equal(marked[0], alone[0]) and np.array_equal(marked[2], alone[2])  # refreshed
    assert not np.array_equal(marked[1], alone[1])
    reused = marked[0].astype(int) - frames[0]  # frame 0's delta, rounded
    inner = (frames[1] > 8) & (frames[1] < 247) & (frames[0] > 8) & (frames[0] < 247)  # nothing clipped
    assert np.abs(marked[1].astype(int) - frames[1] - reused)[inner].max() <= 1  # the same delta, rounded anew
    assert find_watermark(cv2.cvtColor(marked[1], cv2.COLOR_GRAY2BGR)) is not None


def test_a_video_marker_reads_the_texture_again_after_a_cut(hopper: Pixels, astronaut: Pixels) -> None:
    """A cut to another picture is marked with a mask of its own at once (hopper's mask on the astronaut would put
    the strongest pattern where hopper had texture), and the count to the next refresh starts again."""
    frames = grey_frames(hopper, astronaut, astronaut, shifts=(0, 0, 3))
    marked, alone = marked_in_turn(LumaMarker(PAYLOAD, refresh=2), frames), marked_alone(frames)
    assert np.array_equal(marked[1], alone[1])  # read anew at the cut
    assert not np.array_equal(marked[2], alone[2])  # one frame after it: the cut frame's mask


def test_a_video_marker_rejects_a_bad_refresh() -> None:
    with pytest.raises(UsageError, match="refresh"):
        LumaMarker(PAYLOAD, refresh=0)
