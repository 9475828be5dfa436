"""Quality evaluation over every cross-identity pair of single-face photos in a folder.

Identity comes from the file name (the part before `_01`, `_02`, ...). Figures: dlib distance of the
result to the source photo, to the target, and to a different photo of the source person; landmark
error of the result against the target (mesh re-run, normalised by the eye distance); a contact sheet.
The other cases (turned faces by yaw bucket, small faces, occluded faces) live in `eval_cases`; `evaluate` runs both.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from faceweave.analysis.identity import distance
from faceweave.engine import Engine
from faceweave.faces import Faces
from faceweave.media.image_io import read_image, sniff_image, write_image
from faceweave.occluders.glasses import GlassesFinder
from faceweave.settings import Settings
from faceweave.types import Image

THUMB_PX = 96
SAME_PHOTO_DISTANCE = 0.2  # closer than this, two files are one photo (e.g. a rescaled copy)


@dataclasses.dataclass(frozen=True)
class Photo:
    """One single-face photo with its analysis."""

    name: str
    identity: str
    image: Image
    faces: Faces


@dataclasses.dataclass(frozen=True)
class PairResult:
    """Figures for one (source, target) swap."""

    source: str
    target: str
    d_source: float
    d_target: float
    d_other_photo: float | None
    landmark_error: float | None
    swapped: bool

    @property
    def closer_to_source(self) -> bool:
        """The result is closer to the source identity than to the target's."""
        return self.d_source < self.d_target


def identity_of(name: str) -> str:
    """'obama_03_lowres.jpg' → 'obama'; 'deepface_A_01.jpg' → 'deepface_A'."""
    return re.split(r"_\d\d", Path(name).stem)[0]


def load_photos(folder: Path, engine: Engine) -> list[Photo]:
    """The photos in `folder` with exactly one face (group and no-face photos are skipped)."""
    photos = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not sniff_image(path):
            continue
        image = read_image(path).image
        faces = engine.analyser.analyse(image)
        if len(faces) == 1:
            photos.append(Photo(path.name, identity_of(path.name), image, engine.analyser.embed(image, faces)))
    return photos


def landmark_error(result: Faces, target: Faces) -> float | None:
    """Mean mesh point distance between result and target, over the target's eye distance."""
    if len(result) == 0 or len(target) == 0:
        return None
    eyes = target.landmarks_5[0]
    scale = float(np.linalg.norm(eyes[0] - eyes[1]))
    return float(np.linalg.norm(result.mesh[0, :468, :2] - target.mesh[0, :468, :2], axis=1).mean() / scale)


def _embedding(photo: Photo) -> npt.NDArray[np.float32]:
    assert photo.faces.embedding is not None
    return photo.faces.embedding[0]


def other_photo(source: Photo, photos: list[Photo]) -> Photo | None:
    """A different photo of the source's person (not a rescaled copy of the same photo)."""
    for photo in photos:
        same_person = photo.identity == source.identity and photo.name != source.name
        if same_person and float(distance(_embedding(photo), _embedding(source))) > SAME_PHOTO_DISTANCE:
            return photo
    return None


def evaluate_pair(engine: Engine, source: Photo, target: Photo, other: Photo | None) -> tuple[PairResult, Image]:
    """Swap source onto target and measure the result."""
    bindings = (engine.binding([source.image]),)
    output = engine.process(target.image, bindings, faces=target.faces)
    found = engine.analyser.analyse(output.image)
    if len(found) > 1:
        nearest = np.argmin(np.linalg.norm(found.centres - target.faces.centres[0], axis=1))
        found = found[[int(nearest)]]
    found = engine.analyser.embed(output.image, found)
    if found.embedding is None or len(found) == 0:
        return PairResult(source.name, target.name, 9.0, 9.0, None, None, bool(output.swapped)), output.image
    result = found.embedding[0]
    return (
        PairResult(
            source=source.name,
            target=target.name,
            d_source=float(distance(result, _embedding(source))),
            d_target=float(distance(result, _embedding(target))),
            d_other_photo=None if other is None else float(distance(result, _embedding(other))),
            landmark_error=landmark_error(found, target.faces),
            swapped=bool(output.swapped),
        ),
        output.image,
    )


def thumbnail(image: Image, faces: Faces, side_px: int = THUMB_PX) -> Image:
    """A square crop around the first face, `side_px` wide."""
    box = faces.boxes[0]
    centre, side = (box[:2] + box[2:]) / 2, 1.5 * float(max(box[2:] - box[:2]))
    k = side_px / side
    matrix = np.array([[k, 0, side_px / 2 - k * centre[0]], [0, k, side_px / 2 - k * centre[1]]], np.float32)
    return cv2.warpAffine(image, matrix, (side_px, side_px), flags=cv2.INTER_AREA)


def run_pairs(engine: Engine, photos: list[Photo]) -> Iterator[tuple[PairResult, Image]]:
    """Every cross-identity (source, target) pair, with the result's thumbnail."""
    for source in photos:
        other = other_photo(source, photos)
        for target in photos:
            if target.identity != source.identity:
                pair, image = evaluate_pair(engine, source, target, other)
                yield pair, thumbnail(image, target.faces)


def summarise(pairs: list[PairResult]) -> dict[str, float | int]:
    """Means and rates over all pairs."""
    others = [p.d_other_photo for p in pairs if p.d_other_photo is not None]
    errors = [p.landmark_error for p in pairs if p.landmark_error is not None]
    return {
        "pairs": len(pairs),
        "mean_d_source": round(float(np.mean([p.d_source for p in pairs])), 4),
        "mean_d_target": round(float(np.mean([p.d_target for p in pairs])), 4),
        "mean_d_other_photo": round(float(np.mean(others)), 4) if others else -1.0,
        "closer_to_source_rate": round(float(np.mean([p.closer_to_source for p in pairs])), 4),
        "mean_landmark_error": round(float(np.mean(errors)), 4) if errors else -1.0,
        "max_landmark_error": round(float(np.max(errors)), 4) if errors else -1.0,
    }


def contact_sheet(photos: list[Photo], thumbs: dict[tuple[str, str], Image]) -> Image:
    """Rows = sources, columns = targets; first row and column show the originals."""
    n = len(photos)
    sheet = np.full(((n + 1) * THUMB_PX, (n + 1) * THUMB_PX, 3), 32, np.uint8)
    originals = [thumbnail(p.image, p.faces) for p in photos]
    for i, photo in enumerate(photos):
        sheet[(i + 1) * THUMB_PX : (i + 2) * THUMB_PX, :THUMB_PX] = originals[i]
        sheet[:THUMB_PX, (i + 1) * THUMB_PX : (i + 2) * THUMB_PX] = originals[i]
        for j, target in enumerate(photos):
            thumb = thumbs.get((photo.name, target.name))
            if thumb is not None:
                sheet[(i + 1) * THUMB_PX : (i + 2) * THUMB_PX, (j + 1) * THUMB_PX : (j + 2) * THUMB_PX] = thumb
    return sheet


def triplet_sheet(triplets: Sequence[tuple[Image, Image, Image]], labels: Sequence[str], per_row: int = 2) -> Image:
    """(source, target, result) thumbnails side by side, `per_row` triplets a row, each target labelled."""
    side = triplets[0][0].shape[0] if triplets else THUMB_PX
    gap = side // 8
    rows = max(1, -(-len(triplets) // per_row))
    sheet = np.full((rows * side, per_row * (3 * side + gap), 3), 32, np.uint8)
    for i, (triplet, label) in enumerate(zip(triplets, labels, strict=True)):
        y, x = (i // per_row) * side, (i % per_row) * (3 * side + gap)
        cells = [cell.copy() for cell in triplet]
        cv2.putText(cells[1], label[:26], (3, side - 6), cv2.FONT_HERSHEY_PLAIN, 0.9, (255, 255, 255), 1, cv2.LINE_AA)
        sheet[y : y + side, x : x + 3 * side] = np.hstack(cells)
    return sheet


def evaluate_pairs(folder: Path, output_dir: Path, settings: Settings) -> dict[str, Any]:
    """Every cross-identity pair of single-face photos; writes pairs.jsonl and contact_sheet.png.

    Besides the figures over all pairs: the same over the pairs where neither photo wears glasses (by the
    glasses finder). Glasses are kept off the result on purpose (the source's are removed, the target's stay
    in front), while dlib's descriptor of the source photo includes them; the split shows what that costs.
    """
    engine = Engine.load(settings.replace(selector="largest"))
    photos = load_photos(folder, engine)
    pairs, thumbs = [], {}
    for pair, thumb in run_pairs(engine, photos):
        pairs.append(pair)
        thumbs[(pair.source, pair.target)] = thumb
    lines = "\n".join(json.dumps(dataclasses.asdict(p)) for p in pairs) + "\n"
    (output_dir / "pairs.jsonl").write_text(lines, encoding="utf-8")
    write_image(output_dir / "contact_sheet.png", contact_sheet(photos, thumbs))
    finder = GlassesFinder(engine.topology)
    glasses = sorted(p.name for p in photos if finder(p.image, p.faces[0]) is not None)
    plain = [p for p in pairs if p.source not in glasses and p.target not in glasses]
    return summarise(pairs) | {"photos_with_glasses": glasses, "without_glasses": summarise(plain) if plain else {}}
