"""`faceweave eval --blind`: A/B sheets of real photos and their swaps for a blind rater, and the key (the scorer:
`faceweave.lab.blind_score`).

Cases: seeded cross-identity pairs of single-face photos, group photos, clip frames swapped in video mode (a Stream per
clip, as users get them) and the `faceweave demo` pair; each sheet shows the real target and the result as "A" and "B"
(side and order seeded); key.json says which is which, with each case's proxies (`faceweave.lab.realism`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import json
import logging
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceweave.analysis.analyser import FaceAnalyser
from faceweave.analysis.identity import SAME_PERSON_DISTANCE, distance
from faceweave.engine import Bindings, Engine
from faceweave.errors import NoFaceError, UsageError
from faceweave.faces import Face, Faces
from faceweave.lab.eval import identity_of
from faceweave.lab.eval_targets import Picture, scan_photos, video_files
from faceweave.lab.realism import PROXIES, changed_faces, measure
from faceweave.media.image_io import LoadedImage, read_image, write_image
from faceweave.media.video_io import VideoReader
from faceweave.samples import sample_path
from faceweave.settings import Settings
from faceweave.types import FloatArray, Image

KINDS = ("pair", "group", "clip", "demo")
CROP_GROW = 2.2  # single-face sheets: the square crop is this × the face box (hair, ears, neck, background)
FACE_SHEET_PX = 512
GROUP_MAX_PX = 1024  # group sheets: the whole photo, longer side at most this
CLIP_SECONDS = 4.0  # clips are swapped (and frames picked) over their first seconds only
GAP_PX = 24
LABEL_BAND_PX = 56
BACKGROUND = 235
RATING_TEXT = """\
# Rating instructions

Each sheet shows two photographs, A (left) and B (right). In every sheet exactly one of the two has been edited by \
software that replaces a person's face; the other is an untouched photograph. The edited one may show one face \
replaced, or several.

For each sheet, look at both images closely (zoom in) and decide which one was edited. Then rate how natural each \
image looks, on this scale:
5 = an ordinary untouched photo; 4 = natural at a glance; 3 = plausible but visibly edited; 2 = clearly fake; \
1 = broken.

Write one JSON object per line, one line per sheet, in a file named ratings.jsonl:
{"sheet": "sheet_01", "manipulated": "A", "confidence": 80, "natural_A": 2, "natural_B": 5, "reason": "what gave it \
away, in a few words"}

- "manipulated": "A" or "B", your best guess even when unsure.
- "confidence": 50 (a pure guess) to 100 (certain).
- "natural_A", "natural_B": whole numbers 1 to 5.
- "reason": the main visible cue for your choice.
Rate every sheet. Judge each sheet on its own, by looking as a person would (zooming in is fine; computing
differences between the two images is not).
"""

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BlindOptions:
    """What `run_blind` swaps: the photo folder, the clip folder (None: no clip cases), the seed and the counts."""

    images: Path
    videos: Path | None = None
    seed: int = 0
    pairs: int = 30
    groups: int = 3
    clip_frames: int = 10

    def __post_init__(self) -> None:
        if min(self.pairs, self.groups, self.clip_frames) < 0:
            raise UsageError(f"blind case counts must be ≥ 0, got pairs={self.pairs} groups={self.groups}")


@dataclasses.dataclass(frozen=True, eq=False)
class Case:
    """One swap as shown to the rater: the two halves (real, swapped, same size) and the proxies measured."""

    kind: str
    source: str
    target: str
    real: Image
    swapped: Image
    proxies: dict[str, float]


def _rng(seed: int, purpose: str) -> np.random.Generator:
    """An independent stream per purpose, so e.g. adding clips leaves the pairs' sample as it was."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


def sample_pairs(identities: Sequence[str], count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Up to `count` distinct (source, target) indices with different identities, covering every index first.

    Each index is a source once (seeded order), taking a target not used yet where one is allowed; targets still
    unused then get a source; random further pairs fill up to `count`. Truncation keeps the covering pairs first.

    Example:
        >>> sample_pairs(["a", "a", "b", "c"], 5, np.random.default_rng(0))
        [(2, 3), (0, 2), (1, 2), (3, 0), (2, 1)]
    """
    n = len(identities)
    chosen: list[tuple[int, int]] = []
    unused = set(range(n))
    for s in (int(i) for i in rng.permutation(n)):
        options = [int(t) for t in rng.permutation(n) if identities[t] != identities[s]]
        if options:
            target = next((t for t in options if t in unused), options[0])
            chosen.append((s, target))
            unused.discard(target)
    for t in sorted(unused):
        sources = [int(s) for s in rng.permutation(n) if identities[s] != identities[t]]
        chosen += [(sources[0], t)] if sources else []
    allowed = [(s, t) for s in range(n) for t in range(n) if identities[s] != identities[t]]
    taken = set(chosen)
    chosen += [allowed[int(i)] for i in rng.permutation(len(allowed)) if allowed[int(i)] not in taken]
    return chosen[:count]


def spread(total: int, parts: int) -> list[int]:
    """`total` shared over `parts` as evenly as possible, larger shares first: spread(10, 4) == [3, 3, 2, 2]."""
    return [total // parts + (i < total % parts) for i in range(parts)] if parts else []


def crop_square(image: Image, face: Face) -> Image:
    """The square CROP_GROW × the face box around its centre (moved inside the image, at most its shorter side),
    resized to FACE_SHEET_PX (area filter when shrinking, bicubic when growing)."""
    h, w = image.shape[:2]
    side = round(min(CROP_GROW * float(max(face.box[2:] - face.box[:2])), w, h))
    centre = (face.box[:2] + face.box[2:]) / 2
    x0 = int(np.clip(round(float(centre[0]) - side / 2), 0, w - side))
    y0 = int(np.clip(round(float(centre[1]) - side / 2), 0, h - side))
    crop = image[y0 : y0 + side, x0 : x0 + side]
    flags = cv2.INTER_AREA if side > FACE_SHEET_PX else cv2.INTER_CUBIC
    return cv2.resize(crop, (FACE_SHEET_PX, FACE_SHEET_PX), interpolation=flags)


def fit_long_side(image: Image, max_px: int = GROUP_MAX_PX) -> Image:
    """The image scaled down (area filter) so its longer side is at most `max_px`; unchanged when it already is."""
    k = max_px / max(image.shape[:2])
    return image if k >= 1.0 else cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)


def compose_sheet(left: Image, right: Image) -> Image:
    """Two same-size images side by side on a plain background, a letter "A" under the left, "B" under the right."""
    h, w = left.shape[:2]
    sheet = np.full((GAP_PX + h + LABEL_BAND_PX, 3 * GAP_PX + 2 * w, 3), BACKGROUND, np.uint8)
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1.2, 2
    for i, (image, letter) in enumerate(((left, "A"), (right, "B"))):
        x = GAP_PX + i * (w + GAP_PX)
        sheet[GAP_PX : GAP_PX + h, x : x + w] = image
        (text_w, text_h), _ = cv2.getTextSize(letter, font, scale, thickness)
        origin = (x + (w - text_w) // 2, GAP_PX + h + (LABEL_BAND_PX + text_h) // 2)
        cv2.putText(sheet, letter, origin, font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return sheet


def make_case(kind: str, source: str, target: str, real: Image, swapped: Image, engine: Engine, faces: Faces) -> Case:
    """A case from a full-size swap: the halves the rater sees and the proxies (over the faces that changed)."""
    if kind == "group" or len(faces) == 0:
        halves = fit_long_side(real), fit_long_side(swapped)
    else:
        shown = changed_faces(swapped, real, faces) or list(range(len(faces)))
        face = faces[max(shown, key=lambda i: faces[i].size)]
        halves = crop_square(real, face), crop_square(swapped, face)
    return Case(kind, source, target, *halves, measure(swapped, real, faces, engine.topology))


@dataclasses.dataclass(frozen=True)
class _Sources:
    """An engine, with each source photo bound once."""

    engine: Engine
    bound: dict[str, Bindings] = dataclasses.field(default_factory=dict)

    def swap(self, kind: str, source: Picture, target: Picture) -> Case:
        """Swap `source` onto every face of `target` the engine's selector picks."""
        if source.name not in self.bound:
            self.bound[source.name] = (self.engine.binding([LoadedImage(source.image, None, source.name, 8)]),)
        output = self.engine.process(target.image, self.bound[source.name], faces=target.faces)
        return make_case(kind, source.name, target.name, target.image, output.image, self.engine, target.faces)


def _candidates(singles: Sequence[Picture], target_name: str, rng: np.random.Generator) -> list[Picture]:
    """The single-face photos whose person the target's name does not mention, in seeded order."""
    others = [p for p in singles if identity_of(p.name).lower() not in target_name.lower()] or list(singles)
    return [others[int(i)] for i in rng.permutation(len(others))]


def _people_in(analyser: FaceAnalyser, path: Path) -> FloatArray:
    """Descriptors (N, 128) of the faces in a clip's first frame (clips are not named after their people)."""
    with VideoReader(path) as reader:
        first = next(iter(reader), None)
    faces = Faces.empty() if first is None else analyser.embed(first.image, analyser.analyse(first.image))
    return np.zeros((0, 128), np.float32) if faces.embedding is None else faces.embedding


def _bind_clip_source(
    engine: Engine, analyser: FaceAnalyser, candidates: Sequence[Picture], path: Path
) -> tuple[Picture, Bindings]:
    """The first candidate unlike the clip's people (dlib distance) whom the video engine finds (it detects with
    MediaPipe alone, so a face only dlib found in a still may not do), bound."""
    people = _people_in(analyser, path)
    for photo in candidates:
        own = analyser.embed(photo.image, photo.faces).embedding
        if own is not None and len(people) and float(distance(people, own[0]).min()) < SAME_PERSON_DISTANCE:
            continue
        with contextlib.suppress(NoFaceError):
            return photo, (engine.binding([LoadedImage(photo.image, None, photo.name, 8)]),)
    raise NoFaceError("source", "any single-face photo", f"none is unlike the people of '{path.name}' and found")


def swapped_frames(
    engine: Engine, bindings: Bindings, path: Path, count: int, rng: np.random.Generator
) -> list[tuple[int, Image, Image]]:
    """(index, decoded frame, processed frame) of `count` seeded frames in the first CLIP_SECONDS that had a face
    swapped; the clip runs frame by frame through one Stream, as a video swap does (nothing encoded)."""
    stream = engine.stream()
    kept: list[tuple[float, int, Image, Image]] = []  # the `count` lowest seeded keys, as a heap of (-key, ...)
    with VideoReader(path, end=CLIP_SECONDS) as reader:
        for frame in reader:
            result = engine.process(frame.image, bindings, stream, seconds=float(frame.seconds))
            key = float(rng.random())
            if result.swapped:
                heapq.heappush(kept, (-key, frame.index, frame.image, result.image))
                if len(kept) > count:
                    heapq.heappop(kept)
    return [(index, real, swapped) for _, index, real, swapped in sorted(kept, key=lambda item: item[1])]


def clip_cases(
    singles: Sequence[Picture], options: BlindOptions, settings: Settings, measurer: Engine
) -> Iterator[Case]:
    """`clip_frames` frames spread over the clips, each clip swapped in video mode with a seeded source."""
    clips = video_files(options.videos)
    counts = spread(options.clip_frames, len(clips))
    if not any(counts):
        return
    engine = Engine.load(settings, "video")
    rng = _rng(options.seed, "clips")
    for path, count in zip(clips, counts, strict=True):
        candidates = _candidates(singles, path.name, rng)
        if count == 0:
            continue
        source, bindings = _bind_clip_source(engine, measurer.analyser, candidates, path)
        for index, real, swapped in swapped_frames(engine, bindings, path, count, rng):
            faces = measurer.analyser.analyse(real)
            yield make_case("clip", source.name, f"{path.name}@{index}", real, swapped, measurer, faces)


def demo_case(sources: _Sources) -> Case:
    """The `faceweave demo` pair: Grace Hopper onto the astronaut photo (the bundled samples)."""
    source, target = (sample_path(name) for name in ("hopper", "astronaut"))
    hopper = Picture(source.name, source.name, read_image(source).image, Faces.empty())
    image = read_image(target).image
    faces = sources.engine.analyser.analyse(image)
    return sources.swap("demo", hopper, Picture(target.name, target.name, image, faces))


def collect_cases(options: BlindOptions, settings: Settings) -> Iterator[Case]:
    """Every case, kind by kind: the seeded pairs, seeded group photos (each with a seeded source, every face the
    engine's selector picks swapped), the clip frames, the demo."""
    engine = Engine.load(settings)
    photos = scan_photos(options.images, engine.analyser)
    singles = [p for p in photos if len(p.faces) == 1]
    if len({identity_of(p.name) for p in singles}) < 2:
        raise UsageError(f"'{options.images}' needs single-face photos of at least two people (person_01.jpg ...)")
    sources = _Sources(engine)
    for s, t in sample_pairs([identity_of(p.name) for p in singles], options.pairs, _rng(options.seed, "pairs")):
        yield sources.swap("pair", singles[s], singles[t])
    groups, rng, made = [p for p in photos if len(p.faces) > 1], _rng(options.seed, "groups"), 0
    for i in rng.permutation(len(groups))[: len(groups) if options.groups else 0]:
        case = sources.swap("group", _candidates(singles, groups[i].name, rng)[0], groups[i])
        made += not np.array_equal(case.real, case.swapped)  # nothing swapped: left out, the next photo stands in
        yield case
        if made == options.groups:
            break
    yield from clip_cases(singles, options, settings, engine)
    yield demo_case(sources)


def summarise(cases: Sequence[Case], left_out: Sequence[str]) -> dict[str, Any]:
    """Counts per kind and the mean of each proxy over all cases and per kind."""

    def means(chosen: Sequence[Case]) -> dict[str, float]:
        return {name: round(float(np.mean([c.proxies[name] for c in chosen])), 4) for name in PROXIES}

    kinds = [kind for kind in KINDS if any(c.kind == kind for c in cases)]
    return {
        "cases": len(cases),
        "counts": {kind: sum(c.kind == kind for c in cases) for kind in KINDS},
        "proxies": {"all": means(cases) if cases else {}}
        | {k: means([c for c in cases if c.kind == k]) for k in kinds},
        "left_out": list(left_out),
    }


def write_blind(cases: Sequence[Case], output_dir: Path, seed: int, settings: Settings) -> dict[str, Any]:
    """Write sheets/sheet_NN.png (seeded order and sides), sheets/RATING.md and key.json; returns the key."""
    sheets_dir = output_dir / "sheets"
    sheets_dir.mkdir(parents=True, exist_ok=True)
    for stale in sheets_dir.glob("sheet_*.png"):
        stale.unlink()
    order = _rng(seed, "order").permutation(len(cases))
    sides = _rng(seed, "sides").permutation(np.arange(len(cases)) % 2)  # as many swaps on A as on B (±1)
    entries: dict[str, dict[str, Any]] = {}
    for number, (index, side) in enumerate(zip(order, sides, strict=True), start=1):
        case, manipulated = cases[int(index)], "AB"[int(side)]
        halves = (case.swapped, case.real) if manipulated == "A" else (case.real, case.swapped)
        name = f"sheet_{number:02d}"
        write_image(sheets_dir / f"{name}.png", compose_sheet(*halves))
        entries[name] = {"manipulated": manipulated, "kind": case.kind, "source": case.source, "target": case.target}
        entries[name]["proxies"] = case.proxies
    (sheets_dir / "RATING.md").write_text(RATING_TEXT, encoding="utf-8")
    key = {"seed": seed, "settings": dataclasses.asdict(settings), "sheets": entries}
    (output_dir / "key.json").write_text(json.dumps(key, indent=2, default=str) + "\n", encoding="utf-8")
    return key


def run_blind(options: BlindOptions, output_dir: Path, settings: Settings) -> dict[str, Any]:
    """Swap every case, write the sheets, the key and blind_summary.json; returns the summary.

    Example:
        >>> run_blind(BlindOptions(Path("testdata/images")), Path("out/blind"), Settings())["counts"]  # doctest: +SKIP
        {'pair': 30, 'group': 3, 'clip': 0, 'demo': 1}
    """
    cases, left_out = [], []
    for case in collect_cases(options, settings):
        log.info("blind %s: %s → %s", case.kind, case.source, case.target)
        if np.array_equal(case.real, case.swapped):
            left_out.append(f"{case.kind} {case.source} → {case.target}: nothing swapped")
        else:
            cases.append(case)
    write_blind(cases, output_dir, options.seed, settings)
    summary = summarise(cases, left_out)
    (output_dir / "blind_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
