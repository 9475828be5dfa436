"""Videos in a batch folder: found by content, swapped frame for frame by a worker, recorded done in the manifest."""

from __future__ import annotations

from pathlib import Path

from batch_factory import write_faces
from clip_factory import decode_all, face_frames, write_clip

from faceweave.batch import BatchOptions, run_batch
from faceweave.batch.manifest import Manifest
from faceweave.samples import sample_path
from faceweave.settings import Settings

FRAMES = 8


def test_videos_in_the_folder_are_swapped_frame_for_frame_and_recorded_done(tmp_path: Path) -> None:
    source, output = tmp_path / "in", tmp_path / "out"
    write_faces(source, 1)
    frames, boxes = face_frames((320, 240), FRAMES, with_face=FRAMES)
    (source / "clips").mkdir()
    write_clip(source / "clips" / "talk.mp4", frames, boxes=boxes)
    write_clip(source / "clips" / "old.avi", frames, boxes=boxes)  # a container the writer lacks: becomes .mp4
    options = BatchOptions(output=output, sources=(sample_path("hopper"),), input=source, workers=1)

    summary = run_batch(options, Settings(require_face=True))

    assert summary.ok and (summary.done, summary.failed) == (3, 0)
    for name in ("clips/talk.mp4", "clips/old.mp4"):
        swapped, _, _ = decode_all(output / name)
        assert len(swapped) == FRAMES, name
        assert any(abs(a.astype(int) - b).mean() > 1 for a, b in zip(swapped, frames, strict=True)), name
    with Manifest.open(output) as manifest:
        rows = {name: manifest.get(name) for name in ("clips/talk.mp4", "clips/old.mp4")}
    for name, row in rows.items():
        assert row is not None and (row.status, row.kind, row.attempts) == ("done", "video", 1), name
        assert row.swapped == FRAMES, name  # frames with a swapped face
