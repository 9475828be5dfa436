"""faceweave.media.yuv and the writer's use of it: unchanged pixels keep their decoded YUV, changed blocks are
converted exactly as a whole-frame conversion would convert them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clip_factory import Clip, face_frames, write_clip

from faceweave.media.video_io import VideoReader
from faceweave.media.video_writer import EncodeOptions, VideoWriter
from faceweave.media.yuv import changed_rect, edited_over, planes

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """1 s, 10 fps, 320×240 with the astronaut's face on a textured background."""
    frames, boxes = face_frames((320, 240), 10, 10)
    return write_clip(tmp_path_factory.mktemp("yuv") / "clip.mp4", frames, boxes=boxes)


def to_yuv(image: np.ndarray) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
    return frame.reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)


def copies(frame: av.VideoFrame) -> Planes:
    y, u, v = planes(frame)
    return y.copy(), u.copy(), v.copy()


def decoded_frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


@pytest.mark.parametrize(
    "box",
    [(100, 180, 120, 230), (0, 3, 0, 5), (237, 240, 315, 320), (50, 51, 77, 78), (0, 240, 0, 320)],
    ids=["face-sized", "top-left-corner", "bottom-right-corner", "one-pixel", "everything"],
)
def test_changed_blocks_are_converted_and_the_rest_is_as_decoded(clip: Clip, box: tuple[int, ...]) -> None:
    decoded = decoded_frames(clip.path)[3]
    before = decoded.to_ndarray(format="bgr24", src_color_range=1)
    after = before.copy()
    top, bottom, left, right = box
    after[top:bottom, left:right] = np.random.default_rng(1).integers(0, 256, (bottom - top, right - left, 3))
    result, whole, original = (
        copies(edited_over(decoded, before, after, to_yuv)),
        copies(to_yuv(after)),
        copies(decoded),
    )
    changed = (after != before).any(axis=2).reshape(120, 2, 160, 2).any(axis=(1, 3))
    for index, (got, converted, kept) in enumerate(zip(result, whole, original, strict=True)):
        mask = np.kron(changed, np.ones((2, 2), bool)) if index == 0 else changed
        assert np.array_equal(got, np.where(mask, converted, kept)), f"plane {index}"


@pytest.mark.parametrize("width", [320, 324, 318, 321], ids=["8-byte-words", "4-byte-words", "2-byte-words", "bytes"])
def test_changed_rect_is_the_bounding_box_of_the_byte_difference(width: int) -> None:
    """Word-wise first, then bytes: exactly cv2.boundingRect of the difference, for edits of every size and place,
    one changed byte at a row's first or last byte, rows of any length, and views that are not contiguous."""
    rng = np.random.default_rng(width)
    before = rng.integers(0, 256, (48, width, 3), np.uint8)
    assert changed_rect(before, before.copy()) == (0, 0, 0, 0)
    for _ in range(200):
        after = before.copy()
        top, left = int(rng.integers(0, 48)), int(rng.integers(0, width))
        bottom, right = int(rng.integers(top + 1, 49)), int(rng.integers(left + 1, width + 1))
        channel = int(rng.integers(0, 3))
        after[top:bottom, left:right, channel] ^= rng.integers(1, 256, (bottom - top, right - left), np.uint8)
        expected = cv2.boundingRect(cv2.absdiff(after, before).reshape(48, width * 3))
        assert changed_rect(before, after) == expected
        assert changed_rect(before[:, 1:], after[:, 1:]) == cv2.boundingRect(
            cv2.absdiff(after[:, 1:], before[:, 1:]).reshape(48, (width - 1) * 3)
        )
    for row, column in ((0, 0), (47, width - 1), (20, 0), (20, width - 1)):
        after = before.copy()
        after[row, column, 2 if column else 0] ^= 1
        expected = cv2.boundingRect(cv2.absdiff(after, before).reshape(48, width * 3))
        assert changed_rect(before, after) == expected


def test_an_unchanged_frame_is_the_decoded_one_and_the_decoder_frame_is_left_alone(clip: Clip) -> None:
    decoded = decoded_frames(clip.path)[0]
    before = decoded.to_ndarray(format="bgr24", src_color_range=1)
    original = copies(decoded)
    result = edited_over(decoded, before, before, to_yuv)
    planes(result)[0][...] = 0  # the result has buffers of its own
    assert all(np.array_equal(a, b) for a, b in zip(copies(decoded), original, strict=True))
    assert not np.array_equal(planes(result)[0], original[0])


def test_writer_keeps_decoded_pixels_where_the_frame_was_not_changed(clip: Clip, tmp_path: Path) -> None:
    """A lossless re-encode through the writer: a frame edited in one corner comes out as decoded everywhere else
    (a BGR round trip would have darkened it by about a level), and exactly as converted in the edited blocks."""
    output = tmp_path / "out.mkv"
    with (
        VideoReader(clip.path) as reader,
        VideoWriter(output, reader.info, EncodeOptions(crf=0, preset="ultrafast")) as writer,
    ):
        for frame in reader:
            assert frame.yuv is not None
            image = frame.image.copy()
            image[:32, :32] = 0
            writer.write(image, frame.pts, original=frame)
    for source, written in zip(decoded_frames(clip.path), decoded_frames(output), strict=True):
        y_in, y_out = planes(source)[0], planes(written)[0]
        assert np.array_equal(y_out[:, 32:], y_in[:, 32:]) and np.array_equal(y_out[32:], y_in[32:])
        assert np.abs(y_out[:32, :32].astype(int) - y_in[:32, :32]).mean() > 20  # the edit is there


def test_without_the_original_every_pixel_is_converted(clip: Clip, tmp_path: Path) -> None:
    output = tmp_path / "out.mkv"
    with (
        VideoReader(clip.path) as reader,
        VideoWriter(output, reader.info, EncodeOptions(crf=0, preset="ultrafast")) as writer,
    ):
        for frame in reader:
            writer.write(frame.image, frame.pts)
    source, written = decoded_frames(clip.path)[0], decoded_frames(output)[0]
    shift = planes(written)[0].astype(int) - planes(source)[0]
    assert shift.mean() < -0.5  # the round trip's darkening, which the original avoids


def test_a_rotated_video_keeps_no_decoded_picture_and_is_converted_whole(tmp_path: Path) -> None:
    """The reader turns a phone clip's pixels upright, so its decoded picture no longer stands for them."""
    frames, _ = face_frames((96, 64), 3, 0)
    source = write_clip(tmp_path / "phone.mp4", frames, rotation=90)
    output = tmp_path / "out.mkv"
    with VideoReader(source.path) as reader, VideoWriter(output, reader.info, EncodeOptions(crf=0)) as writer:
        for frame in reader:
            assert frame.yuv is None and frame.image.shape[:2] == (96, 64)
            writer.write(frame.image, frame.pts, original=frame)
    assert decoded_frames(output)[0].height == 96


def test_a_decoded_picture_in_another_colour_matrix_is_not_used(clip: Clip, tmp_path: Path) -> None:
    """An output written in another matrix than the input was decoded in: every pixel is converted, none copied."""
    output = tmp_path / "out.mkv"
    with VideoReader(clip.path) as reader:
        info = dataclasses.replace(reader.info, colorspace=5)  # BT.470BG where the clip is BT.709
        with VideoWriter(output, info, EncodeOptions(crf=0, preset="ultrafast")) as writer:
            for frame in reader:
                writer.write(frame.image, frame.pts, original=frame)
    source, written = decoded_frames(clip.path)[0], decoded_frames(output)[0]
    assert not np.array_equal(planes(written)[1], planes(source)[1])
