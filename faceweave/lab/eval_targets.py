"""Targets for the quality cases: turned faces (photos, video frames) by yaw, scaled-down faces, occluded faces.

Case targets are crops around one face (CROP_FACTOR × its box, scaled down so the face is at most
MAX_FACE_PX wide), re-analysed, so each case swaps moderate images whatever the photo's size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.analysis.analyser import FaceAnalyser
from faceweave.errors import UsageError
from faceweave.faces import Face, Faces
from faceweave.lab.eval import Photo, identity_of
from faceweave.lab.eval_occluders import Cutout, draw_microphone, face_width, find_hand, paste_hand
from faceweave.media.image_io import read_image, sniff_image
from faceweave.media.video_io import VideoReader, is_video
from faceweave.types import Image

Mask = npt.NDArray[np.uint8]
T = TypeVar("T")

YAW_EDGES_DEG = (15.0, 30.0, 45.0, 60.0)  # |yaw| bucket edges; an edge belongs to the lower bucket
FRONTAL_DEG = 15.0  # |yaw| and |pitch| at most this: a frontal face (small and occluded cases)
CROP_FACTOR = 3.0
MAX_FACE_PX = 320.0
MIN_YAW_FACE_PX = 60.0  # smaller faces are left to the small-face case
CASES = ("pairs", "yaw", "small", "occluded")
SMALL_WIDTHS_PX = (48, 64, 96)
OCCLUDERS = ("microphone", "hand")
MIN_SOURCE_PX = 120.0  # automatic case sources: frontal faces at least this wide
SMALL_MARGIN = 1.25  # a photo serves a small-face width when its face is at least this much wider
MIN_OCCLUDED_PX = 80.0


@dataclasses.dataclass(frozen=True)
class CaseOptions:
    """What `evaluate_cases` runs: which cases, where turned targets come from, which sources."""

    cases: tuple[str, ...] = ("yaw", "small", "occluded")
    videos: Path | None = None
    sources: tuple[str, ...] = ()
    """Source photo names in the images folder; empty: the first 3 frontal single-face photos, one per person."""
    per_bucket: int = 8
    frame_step: int = 3
    widths_px: tuple[int, ...] = SMALL_WIDTHS_PX
    frontal_targets: int = 8

    def __post_init__(self) -> None:
        unknown = [case for case in self.cases if case not in CASES]
        if unknown:
            raise UsageError(f"unknown eval case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
        if self.per_bucket < 1 or self.frame_step < 1 or self.frontal_targets < 1:
            raise UsageError("per_bucket, frame_step and frontal_targets must be at least 1")


@dataclasses.dataclass(frozen=True)
class Picture:
    """A photo or a video frame with all its faces (no descriptors)."""

    name: str
    origin: str
    image: Image
    faces: Faces


@dataclasses.dataclass(frozen=True)
class CaseTarget:
    """One face a case swaps onto: the image the pipeline gets and that face (one row), analysed in it."""

    case: str
    bucket: str
    name: str
    image: Image
    faces: Faces
    occluder: Mask | None = None
    """255 where a drawn or pasted occluder covers the image (occluded case only)."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A face seen while scanning: where it is and how it is turned (no pixels kept)."""

    origin: str
    frame: int
    face: int
    yaw: float
    box: npt.NDArray[np.float32]
    name: str


def yaw_bucket(yaw: float) -> str:
    """The |yaw| bucket of a face: '0-15', '15-30', '30-45', '45-60' or '>60' (degrees).

    Example:
        >>> yaw_bucket(-22.5), yaw_bucket(15.0), yaw_bucket(61)
        ('15-30', '0-15', '>60')
    """
    low, turn = 0.0, abs(yaw)
    for edge in YAW_EDGES_DEG:
        if turn <= edge:
            return f"{low:g}-{edge:g}"
        low = edge
    return f">{YAW_EDGES_DEG[-1]:g}"


def rescale_to_face_width(image: Image, face: Face, width_px: float) -> tuple[Image, float]:
    """The image scaled down (area filter) so the face's box is about `width_px` wide, and the factor used.

    Raises ValueError when the face is already narrower (this makes faces small, never larger).
    """
    width = float(face.box[2] - face.box[0])
    if width < width_px:
        raise ValueError(f"face is {width:.0f} px wide, expected at least {width_px:g} px to scale it down")
    h, w = image.shape[:2]
    size_wh = (max(1, round(w * width_px / width)), max(1, round(h * width_px / width)))
    return cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA), width_px / width


def scan_photos(folder: Path, analyser: FaceAnalyser) -> list[Picture]:
    """Every photo in `folder` with at least one face, in name order."""
    pictures = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and sniff_image(path):
            image = read_image(path).image
            faces = analyser.analyse(image)
            if len(faces):
                pictures.append(Picture(path.name, path.name, image, faces))
    return pictures


def frontal_singles(photos: Sequence[Picture], min_width: float) -> list[Picture]:
    """Single-face photos with a frontal face at least `min_width` wide, the first photo of each person."""
    chosen: dict[str, Picture] = {}
    for photo in photos:
        face = photo.faces[0] if len(photo.faces) == 1 else None
        if face is None or float(face.box[2] - face.box[0]) < min_width:
            continue
        if max(abs(float(face.pose[0])), abs(float(face.pose[1]))) <= FRONTAL_DEG:
            chosen.setdefault(identity_of(photo.name), photo)
    return list(chosen.values())


def target_at(
    analyser: FaceAnalyser, image: Image, box: npt.NDArray[np.float32], case: str, bucket: str, name: str
) -> CaseTarget | None:
    """The face of `image` nearest the expected `box` (within half its width) as a target; None if none."""
    faces = analyser.analyse(image)
    if len(faces) == 0:
        return None
    offsets = np.linalg.norm(faces.centres - (box[:2] + box[2:]) / 2, axis=1)
    nearest = int(np.argmin(offsets))
    if offsets[nearest] > 0.5 * float(box[2] - box[0]):
        return None
    return CaseTarget(case, bucket, name, image, faces[[nearest]])


def crop_around(image: Image, box: npt.NDArray[np.float32]) -> tuple[Image, npt.NDArray[np.float32]]:
    """A square crop CROP_FACTOR × the box around it (moved inside the image), scaled so the face ≤ MAX_FACE_PX.

    Returns the crop and the box in the crop's pixels.
    """
    h, w = image.shape[:2]
    side = min(CROP_FACTOR * float(max(box[2:] - box[:2])), w, h)
    centre = (box[:2] + box[2:]) / 2
    x0 = int(np.clip(round(float(centre[0]) - side / 2), 0, w - side))
    y0 = int(np.clip(round(float(centre[1]) - side / 2), 0, h - side))
    crop = image[y0 : y0 + round(side), x0 : x0 + round(side)]
    k = min(1.0, MAX_FACE_PX / max(float(box[2] - box[0]), 1.0))
    if k < 1.0:
        crop = cv2.resize(crop, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop), ((box - np.array([x0, y0, x0, y0], np.float32)) * k).astype(np.float32)


def crop_target(analyser: FaceAnalyser, picture: Picture, face: Face, case: str, bucket: str) -> CaseTarget | None:
    """A target cropped around one face of a picture (None when the crop's analysis loses the face)."""
    crop, box = crop_around(picture.image, face.box)
    return target_at(analyser, crop, box, case, bucket, picture.name)


def spread_pick(items: Sequence[T], origin: Callable[[T], str], limit: int) -> list[T]:
    """Up to `limit` items shared out evenly over their origins, evenly spaced within each origin.

    Example:
        >>> spread_pick([("a", 1), ("a", 2), ("a", 3), ("b", 9)], lambda item: item[0], 3)
        [('a', 1), ('a', 3), ('b', 9)]
    """
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(origin(item), []).append(item)
    counts = dict.fromkeys(groups, 0)
    left = limit
    while left > 0:
        open_keys = [key for key, group in groups.items() if counts[key] < len(group)]
        if not open_keys:
            break
        for i in _spaced(len(open_keys), min(left, len(open_keys))):
            counts[open_keys[i]] += 1
            left -= 1
    return [group[i] for key, group in groups.items() for i in _spaced(len(group), counts[key])]


def _spaced(n: int, k: int) -> list[int]:
    """k distinct indices of range(n), evenly spaced (the middle one when k is 1); k ≤ n."""
    if k <= 1:
        return [n // 2] if k == 1 else []
    return [int(i) for i in np.linspace(0, n - 1, k).round()]


def video_files(folder: Path | None) -> list[Path]:
    """The videos in a folder (by content), in name order; none when folder is None."""
    if folder is None:
        return []
    return [path for path in sorted(folder.iterdir()) if path.is_file() and is_video(path)]


def frames(path: Path, keep: Callable[[int], bool]) -> Iterator[tuple[int, Image]]:
    """(index, BGR frame) for the frames of a video that `keep` accepts."""
    with VideoReader(path) as reader:
        for frame in reader:
            if keep(frame.index):
                yield frame.index, frame.image


def candidates_in(picture: Picture, frame: int = -1) -> list[Candidate]:
    """The faces of a picture big enough for the yaw case."""
    several = len(picture.faces) > 1
    return [
        Candidate(
            picture.origin, frame, i, float(face.pose[0]), face.box, f"{picture.name}#{i}" if several else picture.name
        )
        for i, face in enumerate(picture.faces)
        if face.size >= MIN_YAW_FACE_PX
    ]


def yaw_candidates(
    analyser: FaceAnalyser, photos: Sequence[Picture], videos: Sequence[Path], step: int
) -> list[Candidate]:
    """Every face of the photos, and of every `step`-th frame of the videos."""
    found = [c for photo in photos for c in candidates_in(photo)]
    for path in videos:
        for index, image in frames(path, lambda i: i % step == 0):
            picture = Picture(f"{path.name}@{index}", path.name, image, analyser.analyse(image))
            found += candidates_in(picture, index)
    return found


def yaw_targets(
    analyser: FaceAnalyser, photos: Sequence[Picture], videos: Path | None, per_bucket: int, step: int, notes: list[str]
) -> list[CaseTarget]:
    """Up to `per_bucket` turned targets per yaw bucket, spread over the photos and clips they come from."""
    clips = video_files(videos)
    picked = []
    everything = yaw_candidates(analyser, photos, clips, step)
    for bucket in sorted({yaw_bucket(c.yaw) for c in everything}):
        picked += spread_pick([c for c in everything if yaw_bucket(c.yaw) == bucket], lambda c: c.origin, per_bucket)
    pictures = {photo.origin: photo for photo in photos}
    for path in clips:
        wanted = {c.frame for c in picked if c.origin == path.name}
        for index, image in frames(path, wanted.__contains__):
            pictures[f"{path.name}@{index}"] = Picture(f"{path.name}@{index}", path.name, image, Faces.empty())
    targets = []
    for c in picked:
        picture = pictures[c.origin if c.frame < 0 else f"{c.origin}@{c.frame}"]
        crop, box = crop_around(picture.image, c.box)
        target = target_at(analyser, crop, box, "yaw", "", c.name)
        if target is None:
            notes.append(f"yaw: face lost when '{c.name}' was cropped; left out")
        else:
            targets.append(dataclasses.replace(target, bucket=yaw_bucket(float(target.faces.pose[0, 0]))))
    return targets


def pick_sources(
    photos: Sequence[Picture], names: Sequence[str], analyser: FaceAnalyser, count: int = 3
) -> list[Photo]:
    """Source photos by name, or the first `count` frontal single-face photos of different people."""
    if names:
        by_name = {p.name: p for p in photos}
        missing = [n for n in names if n not in by_name or len(by_name[n].faces) != 1]
        if missing:
            raise UsageError(f"case source(s) {', '.join(missing)} are not single-face photos in the images folder")
        chosen = [by_name[n] for n in names]
    else:
        chosen = frontal_singles(photos, min_width=MIN_SOURCE_PX)[:count]
    if not chosen:
        raise UsageError(f"no frontal single-face photo with a face ≥ {MIN_SOURCE_PX:g} px to use as a case source")
    return [Photo(p.name, identity_of(p.name), p.image, analyser.embed(p.image, p.faces)) for p in chosen]


def small_targets(
    analyser: FaceAnalyser, photos: Sequence[Picture], options: CaseOptions, notes: list[str]
) -> list[CaseTarget]:
    """Frontal photos scaled down so the face is each of `widths_px` wide, re-analysed at that size."""
    targets = []
    for photo in frontal_singles(photos, min_width=SMALL_MARGIN * min(options.widths_px))[: options.frontal_targets]:
        for width in (w for w in options.widths_px if face_width(photo.faces[0]) >= SMALL_MARGIN * w):
            image, factor = rescale_to_face_width(photo.image, photo.faces[0], width)
            target = target_at(analyser, image, photo.faces[0].box * factor, "small", f"{width}px", photo.name)
            if target is None:
                notes.append(f"small {width}px: no face found in scaled-down '{photo.name}'; left out")
            else:
                targets.append(target)
    return targets


def occluded_targets(
    analyser: FaceAnalyser, photos: Sequence[Picture], options: CaseOptions, hand: Cutout | None, notes: list[str]
) -> list[CaseTarget]:
    """Frontal face crops with a drawn microphone, and with a real hand when one was cut out of a test photo."""
    if hand is None:
        notes.append("occluded hand: no test photo has a hand MediaPipe Hands finds; hand case left out")
    targets = []
    for photo in frontal_singles(photos, min_width=MIN_OCCLUDED_PX)[: options.frontal_targets]:
        clean = crop_target(analyser, photo, photo.faces[0], "occluded", "clean")
        if clean is None:
            continue
        occluded = [draw_microphone(clean.image, clean.faces[0])]
        occluded += [] if hand is None else [paste_hand(clean.image, clean.faces[0], hand)]
        for kind, (image, mask) in zip(OCCLUDERS, occluded, strict=False):
            target = target_at(analyser, image, clean.faces.boxes[0], "occluded", kind, photo.name)
            if target is None:
                notes.append(f"occluded {kind}: no face found in '{photo.name}' once occluded; left out")
            else:
                targets.append(dataclasses.replace(target, occluder=mask))
    return targets


def collect_targets(
    analyser: FaceAnalyser, photos: Sequence[Picture], options: CaseOptions, notes: list[str]
) -> list[CaseTarget]:
    """The targets of every case asked for."""
    targets: list[CaseTarget] = []
    if "yaw" in options.cases:
        targets += yaw_targets(analyser, photos, options.videos, options.per_bucket, options.frame_step, notes)
    if "small" in options.cases:
        targets += small_targets(analyser, photos, options, notes)
    if "occluded" in options.cases:
        hand = find_hand((p.name, p.image) for p in photos)
        targets += occluded_targets(analyser, photos, options, hand, notes)
    return targets
