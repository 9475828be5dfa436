"""FaceAnalyser on real faces: detection, mesh, five points, pose, identity."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from faceweave.analysis.analyser import FaceAnalyser
from faceweave.analysis.identity import SAME_PERSON_DISTANCE, distance
from faceweave.analysis.select import match_references, order_faces, pick_faces
from faceweave.engine import Engine
from faceweave.faces import Faces
from faceweave.settings import Settings

Image = npt.NDArray[np.uint8]


def test_one_frontal_face_in_each_sample(still_engine: Engine, hopper: Image, astronaut: Image) -> None:
    for image in (hopper, astronaut):
        faces = still_engine.analyser.analyse(image)
        assert len(faces) == 1
        face = faces[0]
        assert face.mesh.shape == (478, 3)
        left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks_5
        assert left_eye[0] < nose[0] < right_eye[0]
        assert mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
        assert np.abs(face.pose).max() < 25  # both portraits are near-frontal


def test_pose_follows_a_rolled_image(still_engine: Engine, astronaut: Image) -> None:
    h, w = astronaut.shape[:2]
    rotated = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0), (w, h))
    upright = still_engine.analyser.analyse(astronaut)[0].pose[2]
    tilted = still_engine.analyser.analyse(rotated)[0].pose[2]
    assert abs((upright - tilted) - 20) < 6  # +20° image rotation is counter-clockwise: roll decreases


def test_identity_separates_people_and_matches_a_mirrored_photo(
    still_engine: Engine, hopper: Image, astronaut: Image
) -> None:
    analyser = still_engine.analyser
    embed = [analyser.embed(i, analyser.analyse(i)).embedding for i in (hopper, astronaut, cv2.flip(hopper, 1))]
    assert all(e is not None for e in embed)
    hop, astro, hop_flipped = (e[0] for e in embed if e is not None)
    assert float(distance(hop, astro)) > SAME_PERSON_DISTANCE
    assert float(distance(hop, hop_flipped)) < 0.4


def test_no_face_in_a_blank_image(still_engine: Engine) -> None:
    assert len(still_engine.analyser.analyse(np.full((480, 640, 3), 128, np.uint8))) == 0


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (Settings(max_faces=1), 1),  # cap on faces
        (Settings(min_face_size=5000), 0),  # faces smaller than the minimum are ignored
    ],
)
def test_limits(settings: Settings, expected: int, astronaut: Image) -> None:
    side_by_side = np.hstack([astronaut, astronaut])
    assert len(FaceAnalyser(settings).analyse(side_by_side)) == expected


def test_two_faces_side_by_side_are_both_found_and_ordered(still_engine: Engine, astronaut: Image) -> None:
    small = cv2.resize(astronaut, (256, 256))
    pair = np.hstack([astronaut, cv2.copyMakeBorder(small, 0, 256, 0, 0, cv2.BORDER_REFLECT)])
    faces = still_engine.analyser.analyse(pair)
    assert len(faces) == 2
    left_right = order_faces(faces, "left-right")
    assert faces.centres[left_right[0], 0] < faces.centres[left_right[1], 0]
    largest = pick_faces(faces, "largest", "left-right", 0)
    assert faces.sizes[largest[0]] == faces.sizes.max()
    assert pick_faces(faces, "index", "right-left", 0)[0] == left_right[1]


def test_reference_matching_uses_the_threshold() -> None:
    faces = Faces.empty()
    assert match_references(faces.with_embedding(np.zeros((0, 128), np.float32)), np.zeros((1, 128)), 0.6).size == 0
    with pytest.raises(ValueError, match="embeddings"):
        match_references(faces, np.zeros((1, 128), np.float32), 0.6)


@pytest.mark.parametrize("angle", [0.0, 35.0, -120.0])  # upright; rolled; upside down: the shift turns with the face
def test_five_points_move_the_mouth_corners_to_the_detector_convention(angle: float) -> None:
    from faceweave.analysis.mesh import MOUTH_CORNER_SHIFT, five_points
    from faceweave.faces import FIVE_POINT_IDS

    upright = np.array([[-50, 0], [50, 0], [0, 60], [-40, 110], [40, 110]], np.float32)  # eye distance 100
    rotation = cv2.getRotationMatrix2D((0, 0), angle, 1.0)[:, :2].astype(np.float32)
    mesh = np.zeros((478, 3), np.float32)
    mesh[list(FIVE_POINT_IDS), :2] = upright @ rotation.T + (300, 200)
    points = (five_points(mesh) - (300, 200)) @ rotation  # back in the upright frame
    assert np.allclose(points[:3], upright[:3], atol=1e-3)  # eyes and nose as the mesh has them
    assert np.allclose(points[3:], upright[3:] + MOUTH_CORNER_SHIFT * 100, atol=1e-3)
    assert MOUTH_CORNER_SHIFT[0, 0] < 0 < MOUTH_CORNER_SHIFT[1, 0]  # both corners move outwards
