"""A truncated or damaged video is an error, not a shorter "success"."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clip_factory import face_frames

from faceweave.app.video import swap_video_file
from faceweave.errors import MediaError
from faceweave.samples import sample_path
from faceweave.settings import Settings


def write_faststart(path: Path, count: int) -> None:
    """An MP4 with its index at the start (as web videos are), so a cut file still opens and decodes in part."""
    frames = face_frames((160, 120), count, with_face=count)[0]
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(25), options={"crf": "23", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")))
        container.mux(stream.encode())


def test_a_video_cut_short_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    write_faststart(whole, 60)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    output = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match=r"decoding ended after \d+ of the 60 frames"):
        swap_video_file([sample_path("hopper")], cut, output, Settings(watermark=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "whole.mp4"]


def test_the_whole_video_still_swaps(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    write_faststart(whole, 30)
    summary = swap_video_file([sample_path("hopper")], whole, tmp_path / "out.mp4", Settings(watermark=False))
    assert summary.frames == 30


def test_the_cli_refuses_a_video_over_its_limits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from faceweave.cli import main  # issue 19, item 5: the CLI's own limits, checked before any model loads

    clip = tmp_path / "clip.mp4"
    write_faststart(clip, 30)
    output = tmp_path / "out.mp4"
    swap = ["swap", "-s", str(sample_path("hopper")), "-o", str(output)]
    code = main([*swap, "-t", str(clip), "--max-video-frames", "20"])
    err = capsys.readouterr().err
    assert code == 4 and "video too large: it has 30 frames, over the limit of 20" in err
    assert not output.exists()
    code = main([*swap, "-t", str(sample_path("astronaut")), "--max-video-seconds", "1"])
    assert code == 2 and "apply to video targets only" in capsys.readouterr().err


def test_a_trim_of_a_video_that_starts_after_its_audio_is_not_called_truncated(tmp_path: Path) -> None:
    """The video stream may start later than the container (here 0.8 s after the audio, as in hamilton_short_clip):
    a trim's frame estimate counts from the video's first frame, not from the container's start."""
    from clip_factory import decode_all, write_clip

    fps = Fraction(15)
    frames = face_frames((160, 120), 30, with_face=30)[0]
    late = [round((Fraction(4, 5) + Fraction(i) / fps) * fps) for i in range(30)]  # time base 1/15: 12, 13, ...
    clip = write_clip(tmp_path / "late.mp4", frames, fps=fps, pts=late, audio_seconds=3.0).path
    output = tmp_path / "out.mp4"
    swap_video_file([sample_path("hopper")], clip, output, Settings(watermark=False), end=1.5)
    kept, _, _ = decode_all(output)
    assert 9 <= len(kept) <= 12  # the frames between 0.8 s and 1.5 s
