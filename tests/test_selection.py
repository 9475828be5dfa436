"""Which faces get swapped by default: one person (the largest face) on stills, the same person through a video."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave.engine import Bindings, Engine
from faceweave.faces import Faces
from faceweave.settings import Settings

Image = npt.NDArray[np.uint8]
NO_FRAME = np.zeros((4, 4, 3), np.uint8)  # positional selection never looks at the pixels


@pytest.fixture(scope="module")
def two_people(astronaut: Image, hopper: Image) -> Image:
    """The astronaut photo with Grace Hopper's portrait, at half its size, beside it on the right."""
    small = cv2.resize(hopper, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    image = np.full((astronaut.shape[0], astronaut.shape[1] + small.shape[1], 3), 128, np.uint8)
    image[:, : astronaut.shape[1]] = astronaut
    image[: small.shape[0], astronaut.shape[1] :] = small
    return image


@pytest.fixture(scope="module")
def two_faces(still_engine: Engine, two_people: Image) -> Faces:
    faces = still_engine.analyser.analyse(two_people)
    assert len(faces) == 2
    return faces


def test_a_still_swaps_only_the_largest_face_by_default(
    still_engine: Engine, hopper_bindings: Bindings, two_people: Image, two_faces: Faces
) -> None:
    assert Settings().selector == "largest"
    result = still_engine.process(two_people, hopper_bindings, faces=two_faces)
    largest = int(np.argmax(two_faces.sizes))
    assert result.swapped == (largest,)
    x0, y0, x1, y1 = (int(v) for v in two_faces.boxes[1 - largest])
    assert np.array_equal(result.image[y0:y1, x0:x1], two_people[y0:y1, x0:x1])


def test_every_face_is_swapped_when_asked(hopper_bindings: Bindings, two_people: Image, two_faces: Faces) -> None:
    engine = Engine.load(Settings(selector="all"))
    assert sorted(engine.process(two_people, hopper_bindings, faces=two_faces).swapped) == [0, 1]


def test_a_stream_keeps_the_person_who_was_largest_when_first_seen(
    still_engine: Engine, hopper_bindings: Bindings, two_faces: Faces
) -> None:
    stream = still_engine.stream()
    largest = int(np.argmax(two_faces.sizes))
    tracks = np.array([7, 8], np.int64)
    tracked = two_faces.with_track_id(tracks)
    first = still_engine.assign(NO_FRAME, tracked, hopper_bindings, stream)[1]
    assert [index for index, _ in first] == [largest]
    assert stream.followed == tracks[largest]

    boxes = tracked.boxes.copy()  # the other person comes closer and is now twice as large
    centre = (boxes[1 - largest, :2] + boxes[1 - largest, 2:]) / 2
    boxes[1 - largest] = np.concatenate([centre, centre]) + np.repeat(2 * tracked.sizes[largest], 4) * [-1, -1, 1, 1]
    grown = dataclasses.replace(tracked, boxes=boxes.astype(np.float32))
    assert int(np.argmax(grown.sizes)) == 1 - largest
    later = still_engine.assign(NO_FRAME, grown, hopper_bindings, stream)[1]
    assert [index for index, _ in later] == [largest]  # still the person followed, not the larger face

    left = tracked[[1 - largest]]  # the followed track ended: the largest face left is taken, and followed
    after = still_engine.assign(NO_FRAME, left, hopper_bindings, stream)[1]
    assert [index for index, _ in after] == [0]
    assert stream.followed == tracks[1 - largest]


def test_without_a_stream_the_largest_face_is_taken_each_time(
    still_engine: Engine, hopper_bindings: Bindings, two_faces: Faces
) -> None:
    tracked = two_faces.with_track_id(np.array([7, 8], np.int64))
    chosen = still_engine.assign(NO_FRAME, tracked, hopper_bindings)[1]
    assert [index for index, _ in chosen] == [int(np.argmax(two_faces.sizes))]
