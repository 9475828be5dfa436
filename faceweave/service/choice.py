"""The user's pick of target faces: indices into the faces `/v1/analyse` lists, and which source goes onto each.

On a worker a pick becomes one Binding per chosen face, with that face's identity as its reference (the CLI's
`--reference` mechanism: N references, reference i replaced by source i), so the same people are followed through
every frame of a video job or every image of a batch, not only in the picture the user looked at.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import cv2

from faceweave.analysis.analyser import FaceAnalyser
from faceweave.analysis.select import order_faces
from faceweave.engine import Binding, Bindings
from faceweave.errors import UsageError
from faceweave.faces import Faces
from faceweave.settings import FaceOrder
from faceweave.types import FloatArray, Image

MAX_CHOSEN = 32
"""At most this many faces per pick (the default `max_faces`)."""
THUMBNAIL_SIDE = 96
"""Longest side of a face's thumbnail in /v1/analyse, in pixels."""
INDICES = r"\s*\d{1,4}\s*(,\s*\d{1,4}\s*)*"
"""The form value of a pick: comma-separated indices, e.g. "0,2"."""
_INDICES = re.compile(INDICES)


@dataclasses.dataclass(frozen=True)
class FaceChoice:
    """Which target faces to swap (positions in `face_order`, as /v1/analyse lists them) and the source of each.

    Example:
        >>> FaceChoice.parse("1, 0", "0,1", sources=2)
        FaceChoice(faces=(1, 0), sources=(0, 1))
    """

    faces: tuple[int, ...]
    sources: tuple[int, ...] = ()
    """The source photo that goes onto each chosen face; empty: every source photo shows one person, who goes onto
    every chosen face."""

    @classmethod
    def parse(cls, faces: str | None, face_sources: str | None, sources: int) -> FaceChoice | None:
        """The pick from its form fields (None when `faces` is absent); UsageError naming what is wrong."""
        if faces is None or not faces.strip():
            if face_sources is not None and face_sources.strip():
                raise UsageError("`face_sources` needs `faces`: the faces (from /v1/analyse) the sources go onto")
            return None
        chosen = _indices("faces", faces)
        if len(set(chosen)) != len(chosen) or len(chosen) > MAX_CHOSEN:
            raise UsageError(f"`faces` must name up to {MAX_CHOSEN} different faces, got {faces!r}")
        if face_sources is None or not face_sources.strip():
            return cls(chosen)
        mapping = _indices("face_sources", face_sources)
        if len(mapping) != len(chosen):
            raise UsageError(f"`face_sources` needs one source per chosen face: {len(chosen)}, got {len(mapping)}")
        if max(mapping) >= sources:
            raise UsageError(f"`face_sources` names source {max(mapping)}, but {sources} source photo(s) were sent")
        return cls(chosen, mapping)

    def to_json(self) -> dict[str, list[int]]:
        """Plain data, for a stored job."""
        return {"faces": list(self.faces), "sources": list(self.sources)}

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[int]]) -> FaceChoice:
        """The pick `to_json` stored."""
        return cls(tuple(int(i) for i in data["faces"]), tuple(int(i) for i in data.get("sources", ())))


def _indices(name: str, text: str) -> tuple[int, ...]:
    if not _INDICES.fullmatch(text):
        raise UsageError(f"`{name}` must be comma-separated face numbers such as 0,2; got {text!r}")
    return tuple(int(part) for part in text.split(","))


def ranked_faces(analyser: FaceAnalyser, image: Image, order: FaceOrder) -> Faces:
    """The faces of a still image in `order`: row i is face i of /v1/analyse (and of `--face-index i`)."""
    faces = analyser.analyse(image)
    return faces[order_faces(faces, order)]


def chosen_bindings(
    people: Mapping[int, Binding], analyser: FaceAnalyser, image: Image, faces: Faces, choice: FaceChoice
) -> Bindings:
    """One Binding per chosen face of `image`: its source person (`people[source]`; key 0 when every source photo
    shows one person) with the face's identity as the reference it replaces."""
    if any(index >= len(faces) for index in choice.faces):
        found = "no face" if len(faces) == 0 else f"{len(faces)} face(s), numbered 0 to {len(faces) - 1}"
        raise UsageError(f"face {max(choice.faces)} was chosen, but the picture shows {found}; analyse it again")
    embedded = analyser.embed(image, faces)
    assert embedded.embedding is not None
    sources = choice.sources or (0,) * len(choice.faces)
    return tuple(
        dataclasses.replace(people[source], reference=embedded.embedding[index])
        for index, source in zip(choice.faces, sources, strict=True)
    )


def describe_faces(image: Image, faces: Faces) -> list[dict[str, Any]]:
    """Each face as /v1/analyse answers it: index, box, score, size, pose and a small JPEG thumbnail (data URI)."""
    described = []
    for index, (face, plain) in enumerate(zip(faces, faces.to_json(), strict=True)):
        described.append(
            {
                "index": index,
                "box": plain["box"],
                "score": plain["score"],
                "size": plain["size"],
                "pose": plain["pose"],
                "thumbnail": thumbnail(image, face.box),
            }
        )
    return described


def thumbnail(image: Image, box: FloatArray, side: int = THUMBNAIL_SIDE) -> str:
    """A square JPEG of the box (grown by a fifth each way, clipped to the image) as a `data:` URI."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    half = max(x2 - x1, y2 - y1) * 0.6
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = max(0, int(cx - half)), max(0, int(cy - half))
    right, bottom = min(width, int(cx + half)), min(height, int(cy + half))
    crop = image[top:bottom, left:right]
    scale = side / max(crop.shape[:2])
    size_wh = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = cv2.resize(crop, size_wh, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")
