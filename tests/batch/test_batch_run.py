"""run_batch end to end on real faces: failures recorded while the rest completes, mirrored tree, resume semantics,
cartesian patterns, the CLI's exit codes. Workers are real spawned processes (each loads the models once)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from batch_factory import no_face_image, write_faces

from faceweave.batch import BatchOptions, run_batch
from faceweave.batch.manifest import Manifest
from faceweave.cli import main
from faceweave.provenance.label import read_label
from faceweave.samples import sample_path
from faceweave.settings import Settings

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
EXIT_USAGE, EXIT_BATCH_FAILED = 2, 6
FACES = {"face_000.png", "face_001.jpg", "a/face_002.jpg", "a/b/face_003.png"}


def _tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    """One CLI run over a tree with good faces, a corrupt JPEG, a no-face photo, a broken link and non-media."""
    root = tmp_path_factory.mktemp("batch")
    source = root / "in"
    write_faces(source, 4, subdirs=("", "", "a", "a/b"))
    no_face_image(source / "noface.png")
    (source / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(600))
    (source / "notes.txt").write_text("not media")
    (source / "gone.jpg").symlink_to(source / "missing.jpg")
    if not IS_ROOT:
        (source / "locked.jpg").write_bytes((source / "face_000.png").read_bytes())
        (source / "locked.jpg").chmod(0)
    output = root / "out"
    argv = ["batch", "-s", str(sample_path("hopper")), "--input", str(source), "--output", str(output)]
    assert main([*argv, "--workers", "2"]) == EXIT_BATCH_FAILED
    summary = json.loads((output / ".faceweave-batch-summary.json").read_text())
    return source, output, summary


def test_failures_are_reported_and_the_rest_completes(first_run: tuple[Path, Path, dict[str, object]]) -> None:
    _, _, summary = first_run
    assert summary["done"] == 4 and summary["skipped_non_media"] == 1
    reasons = {Path(f["input"]).name: f["reason"] for f in summary["failures"]}  # type: ignore[attr-defined]
    assert "corrupt" in reasons.pop("corrupt.jpg")
    no_face = reasons.pop("noface.png")
    assert "no face found in target" in no_face and "--allow-no-face" in no_face  # a flag batch has
    if not IS_ROOT:
        assert "permission denied" in reasons.pop("locked.jpg").lower()
    assert reasons == {}
    walk = {Path(f["path"]).name: f["reason"] for f in summary["walk_failures"]}  # type: ignore[attr-defined]
    assert walk == {"gone.jpg": "broken symbolic link (No such file or directory)"}
    assert summary["ok"] is False


def test_output_tree_mirrors_the_input(first_run: tuple[Path, Path, dict[str, object]]) -> None:
    _, output, _ = first_run
    assert _tree(output) == FACES
    assert all(read_label(output / name) is not None for name in FACES)  # labelled through write_labelled_image
    assert not list(output.rglob("*.part"))


def test_resume_semantics(first_run: tuple[Path, Path, dict[str, object]], tmp_path: Path) -> None:
    first_source, first_output, _ = first_run
    source, output = tmp_path / "in", tmp_path / "out"
    shutil.copytree(first_source, source, symlinks=True)  # moved inputs: same content, so still done
    shutil.copytree(first_output, output)  # the other tests keep the first run's state
    options = BatchOptions(output=output, sources=(sample_path("hopper"),), input=source, workers=1)
    settings = Settings(require_face=True)

    again = run_batch(options, settings)  # nothing to do: no worker starts
    assert (again.done, again.failed, again.skipped_done) == (0, 0, 4)
    assert {Path(f.input).name for f in again.failures} >= {"corrupt.jpg", "noface.png"}
    assert all(f.earlier for f in again.failures)

    video_only = run_batch(options, settings.replace(smoothing="none"))  # affects videos only: no video here
    assert (video_only.done, video_only.skipped_done) == (0, 4)

    retried = run_batch(BatchOptions(**{**options.__dict__, "retry_failed": True}), settings)
    assert retried.done == 0 and retried.failed == len(again.failures) and retried.skipped_done == 4
    with Manifest.open(output) as manifest:
        attempts = manifest.attempts()
    assert attempts["face_000.png"] == 1 and attempts["noface.png"] == 2 and attempts["corrupt.jpg"] == 2

    shutil.copy(source / "a" / "face_002.jpg", source / "face_001.jpg")  # one input's content changes
    edited = run_batch(options, settings)
    assert (edited.done, edited.skipped_done) == (1, 3)

    changed = run_batch(options, settings.replace(blend=0.8))  # a setting that changes pixels: everything again
    assert changed.done == 4 and changed.skipped_done == 0 and not any(f.earlier for f in changed.failures)


def test_cartesian_patterns(tmp_path: Path) -> None:
    targets = write_faces(tmp_path / "targets", 2, seed=3)
    faces = tmp_path / "faces"
    faces.mkdir()
    shutil.copy(sample_path("hopper"), faces / "hopper.jpg")
    shutil.copy(sample_path("astronaut"), faces / "astro.png")
    output = tmp_path / "out"
    options = BatchOptions(
        output=output, targets=str(tmp_path / "targets" / "*"), source_glob=str(faces / "*"), workers=1
    )
    summary = run_batch(options, Settings(require_face=True))
    assert summary.ok and summary.done == 4
    stems = [t.stem for t in targets]
    suffixes = [t.suffix for t in targets]
    assert _tree(output) == {f"{s}_{f}{x}" for s, x in zip(stems, suffixes, strict=True) for f in ("hopper", "astro")}


@pytest.mark.parametrize(
    "extra",
    [
        ["--input", "x", "--sources", "*.jpg"],  # --sources needs --targets
        ["--input", "x", "--output-pattern", "{target_stem}{ext}"],  # patterns name --targets outputs
        ["--targets", "*.jpg", "--output-pattern", "{nope}"],  # unknown pattern field
        ["--input", "x", "--workers", "0"],  # no workers
        ["--input", "x", "--threads-per-worker", "0"],  # no threads
    ],
)
def test_usage_errors_exit_2_before_any_work(extra: list[str], tmp_path: Path) -> None:
    argv = ["batch", "-s", str(sample_path("hopper")), "--output", str(tmp_path / "o"), *extra]
    if "--sources" in extra:
        argv = argv[:1] + argv[3:]
    assert main(argv) == EXIT_USAGE
    assert not (tmp_path / "o").exists()
