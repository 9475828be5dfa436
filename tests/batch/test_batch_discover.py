"""Discovery: the streamed walk (nested, links, loops, unreadable folders), content sniffing and output names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePath

import pytest
from batch_factory import write_faces

from faceweave.batch import discover
from faceweave.batch.discover import Found, WalkFailure, classify, mirrored_name, patterned_name, walk_glob, walk_tree
from faceweave.errors import MediaError, UsageError

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _walk(root: Path, skip: Path | None = None) -> tuple[set[str], dict[str, str]]:
    found, failures = set(), {}
    for met in walk_tree(root, skip):
        if isinstance(met, Found):
            found.add(met.relative.as_posix())
        else:
            failures[met.path.relative_to(root).as_posix()] = met.reason
    return found, failures


def test_walk_is_lazy_and_finds_nested_files(tmp_path: Path) -> None:
    for name in ("a.jpg", "x/b.png", "x/y/z/c.jpg", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    walk = walk_tree(tmp_path)
    assert isinstance(walk, Iterator)  # a generator: nothing is listed before the first file is asked for
    assert _walk(tmp_path) == ({"a.jpg", "x/b.png", "x/y/z/c.jpg", "notes.txt"}, {})


def test_symlink_loop_and_broken_link_are_reported_not_followed(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "a.jpg").write_bytes(b"x")
    (tmp_path / "x" / "y" / "back").symlink_to(tmp_path / "x")  # loop: back to an ancestor
    (tmp_path / "self").symlink_to(tmp_path / "self")  # a link to itself (ELOOP)
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    (tmp_path / "alias").symlink_to(tmp_path / "x" / "y")  # a link to a sibling tree is followed
    found, failures = _walk(tmp_path)
    assert found == {"x/y/a.jpg", "alias/a.jpg"}
    assert "loop" in failures["x/y/back"] and "loop" in failures["self"]
    assert "broken symbolic link" in failures["gone.jpg"]
    # alias/back leads to x (not above alias), whose y is alias itself: that loop is caught one level down
    assert "loop" in failures["alias/back/y"]


def test_unreadable_directory_is_reported_and_the_walk_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "a.jpg").write_bytes(b"x")
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "b.jpg").write_bytes(b"x")
    real = os.scandir

    def scandir(path: str | os.PathLike[str]) -> Iterator[os.DirEntry[str]]:
        if Path(path).name == "locked":  # root ignores chmod 000, so the refusal is simulated
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(discover.os, "scandir", scandir)
    found, failures = _walk(tmp_path)
    assert found == {"open/b.jpg"}
    assert failures == {"locked": "cannot list directory (Permission denied)"}


def test_output_folder_inside_the_input_is_not_walked(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "done.jpg").write_bytes(b"x")
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert _walk(tmp_path, skip=tmp_path / "out") == ({"a.jpg"}, {})


def test_missing_root_is_one_failure(tmp_path: Path) -> None:
    assert [type(met) for met in walk_tree(tmp_path / "nope")] == [WalkFailure]


def test_classify_by_content(tmp_path: Path) -> None:
    (image,) = write_faces(tmp_path, 1)
    renamed = image.rename(tmp_path / "photo.dat")  # an image by content, whatever its name
    (tmp_path / "notes.txt").write_text("not media")
    (tmp_path / "fake.jpg").write_text("a text file named like an image")
    assert classify(renamed) == "image"
    assert classify(tmp_path / "notes.txt") is None  # skipped as non-media
    assert classify(tmp_path / "fake.jpg") == "image"  # reported later as a corrupt image, not skipped
    with pytest.raises(MediaError, match="cannot read"):
        classify(tmp_path / "missing.jpg")


@pytest.mark.parametrize(
    ("relative", "kind", "expected"),
    [
        ("a/b.jpg", "image", "a/b.jpg"),  # kept
        ("a/b.JPEG", "image", "a/b.JPEG"),  # case kept
        ("a/b.dat", "image", "a/b.png"),  # no writable image suffix: PNG
        ("clip.mov", "video", "clip.mov"),  # a container the writer supports
        ("clip.avi", "video", "clip.mp4"),  # one it does not: MP4
    ],
)
def test_mirrored_name(relative: str, kind: discover.Kind, expected: str) -> None:
    assert mirrored_name(PurePath(relative), kind).as_posix() == expected


def test_patterned_names_and_pattern_checks(tmp_path: Path) -> None:
    target = Found(tmp_path / "shots" / "t1.jpg", PurePath("day1/t1.jpg"))
    name = patterned_name("{target_dir}/{target_stem}_{source_stem}{ext}", target, Path("me.png"), "image")
    assert name.as_posix() == "day1/t1_me.jpg"
    with pytest.raises(UsageError, match="inside --output"):
        patterned_name("../{target_name}", target, None, "image")
    for bad, has_sources in (("{nope}{ext}", False), ("fixed.jpg", False), ("{target_stem}{ext}", True)):
        with pytest.raises(UsageError):
            discover.check_pattern(bad, has_sources)


def test_walk_glob_relative_below_the_fixed_prefix(tmp_path: Path) -> None:
    for name in ("in/a.jpg", "in/sub/b.jpg", "in/sub/c.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = {f.relative.as_posix() for f in walk_glob(str(tmp_path / "in" / "**" / "*.jpg"))}
    assert found == {"a.jpg", "sub/b.jpg"}
