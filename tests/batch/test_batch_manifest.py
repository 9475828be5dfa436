"""The manifest: rows, runs, the lock, hashing and the sweep of partial files (no models involved)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from faceweave.batch.manifest import Item, Manifest, file_sha256, sweep_partial_files
from faceweave.batch.runner import kind_settings_hashes
from faceweave.errors import UsageError
from faceweave.settings import Settings


def _item(output: str, attempts: int = 1) -> Item:
    return Item(output, f"/in/{output}", "a" * 64, "b" * 64, "image", "running", attempts, "", 0, 0, 1, 2, 0, 0)


def test_rows_runs_and_failures(tmp_path: Path) -> None:
    with Manifest.open(tmp_path) as manifest:
        assert manifest.start_run("{}") is False  # no earlier run
        manifest.dispatch(_item("a.jpg"))
        manifest.dispatch(_item("b.jpg"))
        manifest.finish("a.jpg", "done", seconds=0.5, swapped=1)
        manifest.finish("b.jpg", "failed", "no face found")
        assert manifest.counts() == {"done": 1, "failed": 1}
        assert [item.reason for item in manifest.failed_items()] == ["no face found"]
        # no finish_run: the next run sees an unclean end
    with Manifest.open(tmp_path) as manifest:
        assert manifest.start_run("{}") is True
        assert manifest.failed_items() == []  # failures are listed for the runs that meet them
        manifest.touch("b.jpg")
        failed = manifest.failed_items()
        assert [(item.output, item.dispatched, item.run) for item in failed] == [("b.jpg", 1, 2)]
        manifest.finish_run()
    with Manifest.open(tmp_path) as manifest:
        assert manifest.start_run("{}") is False


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    with Manifest.open(tmp_path), pytest.raises(UsageError, match="another faceweave batch"):
        Manifest.open(tmp_path)


def test_file_sha256_streams(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # > 2 chunks
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_sweep_removes_only_temp_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.jpg", ".a.jpg.k2j3h4g5.part", "sub/.b.png.abcdefgh.part", "notes.part", ".hidden"):
        (tmp_path / name).write_bytes(b"x")
    assert sweep_partial_files(tmp_path) == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        ".hidden", "a.jpg", "notes.part",
    ]  # fmt: skip


def test_settings_hash_per_kind() -> None:
    base = kind_settings_hashes(Settings())
    assert kind_settings_hashes(Settings(smoothing="none"))["image"] == base["image"]  # video-only setting
    assert kind_settings_hashes(Settings(smoothing="none"))["video"] != base["video"]
    assert kind_settings_hashes(Settings(model_dir="/elsewhere")) == base  # changes no pixels
    assert kind_settings_hashes(Settings(blend=0.5))["image"] != base["image"]
