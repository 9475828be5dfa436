"""The manifest: rows, runs, the lock, hashing and the sweep of partial files (no models involved)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from faceweave.batch.manifest import (
    COMMIT_EVERY,
    MANIFEST_NAME,
    Item,
    Manifest,
    file_sha256,
    remove_partial_files,
    sweep_partial_files,
)
from faceweave.batch.runner import kind_settings_hashes
from faceweave.errors import MediaError, UsageError
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


def test_remove_partial_files_of_one_output(tmp_path: Path) -> None:
    names = ["a.jpg", ".a.jpg.k2j3h4g5.part", ".a.jpg.x.jpg.abcdefgh.part", ".b.jpg.k2j3h4g5.part", ".a.jpg.short.part"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert remove_partial_files(tmp_path / "a.jpg") == 1  # only mkstemp's name for a.jpg: 8 characters, no dot
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(names) - {".a.jpg.k2j3h4g5.part"})


def _committed(folder: Path) -> set[str]:
    with sqlite3.connect(f"file:{folder / MANIFEST_NAME}?mode=ro", uri=True) as reader:
        return {row[0] for row in reader.execute("SELECT output FROM items")}


def test_writes_wait_for_a_commit(tmp_path: Path) -> None:
    with Manifest.open(tmp_path) as manifest:
        manifest.start_run("{}")
        manifest.dispatch(_item("a.jpg"))
        assert _committed(tmp_path) == set()  # another reader does not see it yet
        manifest.finish("a.jpg", "done")
        manifest.commit()  # what the runner does after every result
        assert _committed(tmp_path) == {"a.jpg"}
        for index in range(COMMIT_EVERY):  # a long run of skips commits on its own
            manifest.dispatch(_item(f"{index}.jpg"))
        assert len(_committed(tmp_path)) == 1 + COMMIT_EVERY
        manifest.dispatch(_item("last.jpg"))
    assert "last.jpg" in _committed(tmp_path)  # closing commits what is pending


def test_settings_hash_per_kind() -> None:
    base = kind_settings_hashes(Settings())
    assert kind_settings_hashes(Settings(smoothing="none"))["image"] == base["image"]  # video-only setting
    assert kind_settings_hashes(Settings(smoothing="none"))["video"] != base["video"]
    assert kind_settings_hashes(Settings(model_dir="/elsewhere")) == base  # changes no pixels
    assert kind_settings_hashes(Settings(blend=0.5))["image"] != base["image"]


def test_a_full_disk_is_a_one_line_media_error(tmp_path: Path) -> None:  # issue 19, item 4
    with Manifest.open(tmp_path) as manifest:
        manifest.start_run("{}")
        manifest.commit()
        pages = manifest.connection.execute("PRAGMA page_count").fetchone()[0]
        manifest.connection.execute(f"PRAGMA max_page_count = {pages}")  # as a full disk: no page more fits
        with pytest.raises(MediaError, match=r"cannot write the batch manifest .*full") as raised:
            for i in range(5000):
                manifest.fail_early(_item(f"out/{i:05d}-{'x' * 200}.jpg"), "a reason " * 20)
                manifest.commit()
        assert "free some space" in str(raised.value) and "\n" not in str(raised.value)
