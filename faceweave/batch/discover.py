"""Streaming discovery of batch inputs: a lazy directory walk or glob, media sniffed by content, output names.

Nothing here lists a whole tree first: `walk_tree` keeps one open `os.scandir` iterator per directory level,
`walk_glob` wraps `glob.iglob`; both yield `Found` files and `WalkFailure` records (unreadable directory,
symbolic-link loop, broken link) as they meet them.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal

from faceweave.app.video import looks_like_video
from faceweave.errors import MediaError, UsageError
from faceweave.media.image_io import SNIFF_BYTES, SUPPORTED_OUTPUT_EXTENSIONS, sniff_image_head
from faceweave.media.video_io import VIDEO_EXTENSIONS

Kind = Literal["image", "video"]
IMAGE_EXTENSIONS = SUPPORTED_OUTPUT_EXTENSIONS
"""Image names: a file with one of these suffixes but no image content is reported as corrupt, not skipped."""
VIDEO_INPUT_EXTENSIONS = VIDEO_EXTENSIONS | {".avi", ".m4v", ".ts"}
PATTERN_FIELDS = ("target_stem", "target_name", "target_dir", "source_stem", "source_name", "ext")


@dataclass(frozen=True)
class Found:
    """A regular file met by the walk: its path and its path relative to the walk's root (mirrored on output)."""

    path: Path
    relative: PurePath


@dataclass(frozen=True)
class WalkFailure:
    """Something the walk could not follow or read, with a one-line reason (recorded, never fatal)."""

    path: Path
    reason: str


def walk_tree(root: Path, skip: Path | None = None) -> Iterator[Found | WalkFailure]:
    """Depth-first walk of `root` following directory links, yielding files as they are met.

    A link back to a directory on the current path is a loop (reported once, not followed); `skip` (the output
    directory when it lies inside the input) is never entered.

    Example: ``[f.relative for f in walk_tree(Path("in")) if isinstance(f, Found)]`` gives ``[PurePosixPath('a.jpg')]``
    """
    skip_id = _dir_id(skip) if skip is not None else None
    root_id = _dir_id(root)
    if root_id is None:
        yield WalkFailure(root, "cannot list directory: not found or not a directory")
        return
    stack: list[tuple[Iterator[os.DirEntry[str]], PurePath, frozenset[tuple[int, int]]]] = []
    listing = _scandir(root)
    if isinstance(listing, WalkFailure):
        yield listing
        return
    stack.append((listing, PurePath(), frozenset({root_id})))
    while stack:
        entries, relative, ancestors = stack[-1]
        try:
            entry = next(entries, None)
        except OSError as exc:  # a directory that vanishes or fails while being read
            entry = None
            yield WalkFailure(Path(root, relative), f"cannot read directory ({exc.strerror or exc})")
        if entry is None:
            _close(entries)
            stack.pop()
            continue
        met = _visit(entry, relative, ancestors, skip_id)
        if isinstance(met, tuple):
            stack.append(met)
        elif met is not None:
            yield met


def walk_glob(pattern: str) -> Iterator[Found]:
    """Files matching a glob (``**`` recursive), streamed; `relative` is the match below the pattern's fixed prefix.

    Example: ``next(walk_glob("in/**/*.jpg")).relative`` gives ``PurePosixPath('sub/a.jpg')`` for in/sub/a.jpg
    """
    base = glob_base(pattern)
    for match in glob.iglob(pattern, recursive=True):  # noqa: PTH207 (Path.glob takes no absolute patterns)
        path = Path(match)
        if path.is_file():
            with contextlib.suppress(ValueError):
                yield Found(path, path.relative_to(base))
                continue
            yield Found(path, PurePath(path.name))


def glob_base(pattern: str) -> Path:
    """The directory part of a glob before its first wildcard ("in/sub/*.jpg" → in/sub)."""
    parts: list[str] = []
    for part in Path(pattern).parts[:-1]:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path()


def classify(path: Path) -> Kind | None:
    """ "image" or "video" by content (a bad file with a media suffix counts as that kind), None for non-media.

    Raises MediaError when the file cannot be read at all.
    """
    try:
        with path.open("rb") as stream:
            head = stream.read(SNIFF_BYTES)
    except OSError as exc:
        raise MediaError(path, f"cannot read file ({exc.strerror or exc})", "check its permissions (ls -l)") from exc
    return classify_head(path, head)


def classify_head(path: Path, head: bytes) -> Kind | None:
    """`classify` for a file whose first `SNIFF_BYTES` bytes were read already: images need no second open.

    Example: ``classify_head(Path("a.dat"), b"\\xff\\xd8\\xff\\xe0")`` gives ``'image'``
    """
    if sniff_image_head(head):
        return "image"
    if looks_like_video(path):
        return "video"
    return "image" if path.suffix.lower() in IMAGE_EXTENSIONS else None


def output_suffix(path: PurePath, kind: Kind) -> str:
    """The output's suffix: the input's when the writer supports it, else .png (images) or .mp4 (videos)."""
    suffix = path.suffix
    if kind == "image":
        return suffix if suffix.lower() in IMAGE_EXTENSIONS else ".png"
    return suffix if suffix.lower() in VIDEO_EXTENSIONS else ".mp4"


def mirrored_name(relative: PurePath, kind: Kind) -> PurePath:
    """The output path (relative to --output) mirroring the input tree."""
    return relative.with_name(relative.stem + output_suffix(relative, kind))


def patterned_name(pattern: str, target: Found, source: Path | None, kind: Kind) -> PurePath:
    """The output path from an --output-pattern such as '{target_stem}_{source_stem}{ext}'.

    Example: ``patterned_name("{target_stem}_{source_stem}{ext}", Found(Path("t/a.jpg"), PurePath("a.jpg")),
    Path("me.png"), "image")`` gives ``PurePosixPath('a_me.jpg')``
    """
    fields = {
        "target_stem": target.path.stem,
        "target_name": target.path.name,
        "target_dir": str(target.relative.parent),
        "source_stem": source.stem if source is not None else "",
        "source_name": source.name if source is not None else "",
        "ext": output_suffix(target.path, kind),
    }
    name = PurePath(os.path.normpath(pattern.format(**fields)))
    if name.is_absolute() or ".." in name.parts:
        raise UsageError(f"--output-pattern must name a path inside --output, got {str(name)!r}")
    return name


def check_pattern(pattern: str, has_sources: bool) -> None:
    """Fail before any work on an --output-pattern with unknown fields, or one that names every output alike."""
    fields = dict.fromkeys(PATTERN_FIELDS, "x")
    try:
        pattern.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        known = ", ".join("{" + name + "}" for name in PATTERN_FIELDS)
        raise UsageError(f"bad --output-pattern {pattern!r} ({exc!r}); fields: {known}") from None
    if "{target_" not in pattern:
        raise UsageError(f"--output-pattern {pattern!r} must use {{target_stem}} or {{target_name}}")
    if has_sources and "{source_" not in pattern:
        raise UsageError(f"with --sources, --output-pattern {pattern!r} must use {{source_stem}} or {{source_name}}")


def count_media_names(root: Path, skip: Path | None = None) -> int:
    """How many files under `root` have a media suffix (no reads): the estimate behind the ETA."""
    suffixes = IMAGE_EXTENSIONS | VIDEO_INPUT_EXTENSIONS
    return sum(1 for met in walk_tree(root, skip) if isinstance(met, Found) and met.path.suffix.lower() in suffixes)


def _visit(
    entry: os.DirEntry[str], relative: PurePath, ancestors: frozenset[tuple[int, int]], skip_id: tuple[int, int] | None
) -> tuple[Iterator[os.DirEntry[str]], PurePath, frozenset[tuple[int, int]]] | Found | WalkFailure | None:
    path = Path(entry.path)
    try:
        is_dir, is_file = entry.is_dir(), entry.is_file()
        if entry.is_symlink() and not (is_dir or is_file):
            path.stat()  # raises for a broken link or a link loop; a link to a fifo or device passes
    except OSError as exc:
        loop = exc.errno == errno.ELOOP
        return WalkFailure(path, "symbolic link loop" if loop else f"broken symbolic link ({exc.strerror or exc})")
    if is_file:
        return Found(path, relative / entry.name)
    if not is_dir:
        return None  # fifo, socket, device: not media
    identity = _dir_id(path)
    if identity is None or identity == skip_id:
        return None
    if identity in ancestors:
        return WalkFailure(path, "symbolic link loop: points back to a directory above it; not followed")
    listing = _scandir(path)
    return listing if isinstance(listing, WalkFailure) else (listing, relative / entry.name, ancestors | {identity})


def _scandir(path: Path) -> Iterator[os.DirEntry[str]] | WalkFailure:
    try:
        return os.scandir(path)
    except OSError as exc:
        return WalkFailure(path, f"cannot list directory ({exc.strerror or exc})")


def _close(entries: Iterator[os.DirEntry[str]]) -> None:
    close = getattr(entries, "close", None)
    if close is not None:
        close()


def _dir_id(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISDIR(status.st_mode) else None
