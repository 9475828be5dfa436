"""YUV 4:2:0 frames as numpy planes, and re-encoding only the pixels an edit changed.

A decoded frame converted to BGR and back to YUV is not the frame it was: swscale's round trip moves luma by about
one level over the whole picture (darker on the five test clips, lighter on a synthetic one). `edited_over` keeps the
decoded YUV wherever the edited BGR frame still equals the BGR the decoder gave, and converts only the 2×2 blocks that
changed (a swapped face and its feathered edge), which is also much less work than converting every pixel.
"""

from __future__ import annotations

from collections.abc import Callable

import av
import cv2
import numpy as np
import numpy.typing as npt

Plane = npt.NDArray[np.uint8]
"""H×W uint8: one plane of a YUV frame (a view: writes change the frame)."""
BgrArray = npt.NDArray[np.uint8]
"""H×W×3 uint8, BGR."""
ToYuv = Callable[[BgrArray], av.VideoFrame]
"""Converts a BGR image to a yuv420p frame (the caller's colour matrix, range and filter)."""

_MARGIN = 8  # pixels of context around the changed area when converting it (swscale's chroma filter reads ±2)
_ALIGN = 16  # the converted area starts and ends on this grid (chroma pairs, and swscale's dither rows)


def planes(frame: av.VideoFrame) -> tuple[Plane, Plane, Plane]:
    """Writable views of a yuv420p frame's Y, U and V planes, their line padding cut off."""
    views = []
    for plane in frame.planes:
        rows = np.frombuffer(memoryview(plane), np.uint8, count=plane.line_size * plane.height)
        views.append(rows.reshape(plane.height, plane.line_size)[:, : plane.width])
    y, u, v = views
    return y, u, v


def luma_plane(frame: av.VideoFrame) -> Plane:
    """A writable H×W view of a YUV frame's Y plane (its line padding cut off): writes change the frame."""
    return planes(frame)[0]


def copy_frame(frame: av.VideoFrame) -> av.VideoFrame:
    """A yuv420p frame with its own buffers and the same pixels (a decoder's frames may still be its references)."""
    copy = av.VideoFrame(frame.width, frame.height, "yuv420p")
    for target, source in zip(planes(copy), planes(frame), strict=True):
        target[...] = source
    return copy


def edited_over(decoded: av.VideoFrame, before: BgrArray, after: BgrArray, to_yuv: ToYuv) -> av.VideoFrame:
    """A new yuv420p frame: `decoded` where `after` equals `before` (the BGR `decoded` was converted to), and
    `after` converted by `to_yuv` in every 2×2 block with a changed pixel. The converted blocks are byte for byte
    what converting all of `after` gives (the area converted has a margin, and starts on swscale's grid).

    `decoded` must be yuv420p with the size of `before` and `after` (even sides), in the range and colour matrix
    `to_yuv` writes.
    """
    result = copy_frame(decoded)
    height, width = before.shape[:2]
    x, y, w, h = changed_rect(before, after)
    if w == 0 or h == 0:
        return result
    # The changed pixels' box on the chroma grid (even sides; x counts bytes, 3 a pixel), and the area converted.
    top, bottom = _down(y, 2), min(height, _up(y + h, 2))
    left, right = _down(x // 3, 2), min(width, _up((x + w - 1) // 3 + 1, 2))
    area_top, area_left = _down(max(0, top - _MARGIN), _ALIGN), _down(max(0, left - _MARGIN), _ALIGN)
    area_bottom, area_right = min(height, _up(bottom + _MARGIN, _ALIGN)), min(width, _up(right + _MARGIN, _ALIGN))
    converted = planes(to_yuv(np.ascontiguousarray(after[area_top:area_bottom, area_left:area_right])))
    channels = cv2.absdiff(after[top:bottom, left:right], before[top:bottom, left:right])
    changed = cv2.max(cv2.max(channels[..., 0], channels[..., 1]), channels[..., 2])  # numpy's max(axis=2): 9× slower
    blocks = (changed[0::2, 0::2] | changed[1::2, 0::2] | changed[0::2, 1::2] | changed[1::2, 1::2]) > 0
    for index, (target, source) in enumerate(zip(planes(result), converted, strict=True)):
        scale = 1 if index == 0 else 2  # luma is at full size, chroma at half
        mask = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1) if index == 0 else blocks
        rows = slice(top // scale, bottom // scale)
        columns = slice(left // scale, right // scale)
        inner = source[(top - area_top) // scale :, (left - area_left) // scale :][: mask.shape[0], : mask.shape[1]]
        np.copyto(target[rows, columns], inner, where=mask)
    return result


def changed_rect(before: BgrArray, after: BgrArray) -> tuple[int, int, int, int]:
    """(x, y, w, h): the bounding box of the bytes where `after` differs from `before` (H×W×3 arrays of one shape; x
    and w count bytes of a row, 3 a pixel), all 0 when they are equal; exactly `cv2.boundingRect` of their absolute
    difference.

    Compares whole 8-byte words first, then bytes only over the words that differ: a quarter of the time of a byte
    difference over the whole frame when an edit touched a face.
    """
    height = before.shape[0]
    if not (before.flags.c_contiguous and after.flags.c_contiguous):
        return cv2.boundingRect(cv2.absdiff(after, before).reshape(height, -1))
    first, second = before.reshape(height, -1), after.reshape(height, -1)
    word = next(size for size in (8, 4, 2, 1) if first.shape[1] % size == 0)
    unequal = first.view(f"u{word}") != second.view(f"u{word}")
    rows = np.flatnonzero(unequal.any(axis=1))
    if rows.size == 0:
        return 0, 0, 0, 0
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    columns = np.flatnonzero(unequal[top:bottom].any(axis=0))
    start, stop = int(columns[0]) * word, (int(columns[-1]) + 1) * word
    x, y, w, h = cv2.boundingRect(cv2.absdiff(second[top:bottom, start:stop], first[top:bottom, start:stop]))
    return start + x, top + y, w, h


def _down(value: int, step: int) -> int:
    """`value` rounded down to a multiple of `step`."""
    return value // step * step


def _up(value: int, step: int) -> int:
    """`value` rounded up to a multiple of `step`."""
    return -(-value // step) * step
