"""The dlib face backend on real photos: detection, landmarks, embeddings, quality and pose."""

from __future__ import annotations

import numpy as np
import pytest

from inference.engines.base import Engine
from inference.engines.faces.dlib_backend import DlibFaceAnalyzer, load_dlib
from inference.engines.faces.geometry import ARCFACE_TEMPLATE, align_face, five_from_68, similarity_transform
from tests.faces_data import AUGMENTATIONS, astronaut, augment, group, group_faces, no_face, rgb, tom


@pytest.fixture(scope="module")
def dlib_faces() -> DlibFaceAnalyzer:
    return load_dlib()


def test_engine_contract(dlib_faces: DlibFaceAnalyzer) -> None:
    assert isinstance(dlib_faces, Engine)
    assert (dlib_faces.name, dlib_faces.metric, dlib_faces.threshold) == ("dlib", "euclidean", 0.6)
    assert dlib_faces.memory_bytes() > 10 * 2**20
    with pytest.raises(ValueError, match="image must be HxWx3 uint8"):
        dlib_faces.check_inputs(np.zeros((100, 100), dtype=np.uint8))
    with pytest.raises(ValueError, match="image must be an RGB numpy array"):
        dlib_faces.run("photo.jpg")


def test_one_face_with_landmarks_inside_its_box(dlib_faces: DlibFaceAnalyzer) -> None:
    faces = dlib_faces.analyze(tom())
    assert len(faces) == 1
    face = faces[0]
    x0, y0, x1, y1 = face.box
    assert 250 < x1 - x0 < 400 and 0 <= x0 < 100, face.box
    assert face.landmarks.shape == (68, 2)
    inner = face.landmarks[17:]  # brows, eyes, nose, mouth (the jaw line may leave a tight box)
    inside = (inner[:, 0] >= x0) & (inner[:, 0] <= x1) & (inner[:, 1] >= y0) & (inner[:, 1] <= y1)
    assert inside.all()
    left_eye, right_eye, nose, mouth_left, mouth_right = face.five
    assert left_eye[0] < nose[0] < right_eye[0] and left_eye[1] < nose[1] < mouth_left[1]
    assert mouth_left[0] < mouth_right[0]
    assert face.embedding.shape == (128,)
    assert face.quality.face_px == min(x1 - x0, y1 - y0)


def test_group_photo_has_six_faces_and_a_cup_has_none(dlib_faces: DlibFaceAnalyzer) -> None:
    faces = dlib_faces.analyze(group())
    assert len(faces) == 6
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
    assert dlib_faces.analyze(no_face()) == []


@pytest.mark.parametrize("kind", AUGMENTATIONS)
def test_augmented_photos_of_one_person_are_the_same_person(dlib_faces: DlibFaceAnalyzer, kind: str) -> None:
    reference = dlib_faces.analyze(tom())[0].embedding
    (face,) = dlib_faces.analyze(augment(tom(), kind))
    distance = dlib_faces.distance(reference, face.embedding)
    assert distance < 0.3, f"{kind}: {distance:.3f}"
    assert dlib_faces.similarity(distance) > 0.7


def test_different_people_are_beyond_the_threshold(dlib_faces: DlibFaceAnalyzer) -> None:
    people = [tom(), astronaut(), *group_faces()[:4]]
    vectors = [dlib_faces.analyze(photo)[0].embedding for photo in people]
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            distance = dlib_faces.distance(vectors[i], vectors[j])
            assert distance > dlib_faces.threshold, f"people {i} and {j}: {distance:.3f}"
            assert dlib_faces.similarity(distance) < 0.4


def test_blur_lowers_sharpness_and_mirroring_flips_yaw(dlib_faces: DlibFaceAnalyzer) -> None:
    sharp = dlib_faces.analyze(astronaut())[0].quality
    (blurred,) = dlib_faces.analyze(augment(astronaut(), "blur"))
    assert blurred.quality.blur < 30 < sharp.blur
    turned = dlib_faces.analyze(tom())[0].quality.pose
    mirrored = dlib_faces.analyze(augment(tom(), "flip"))[0].quality.pose
    assert abs(turned.yaw) > 10, "the Tom Hanks photo is turned a little to one side"
    assert np.sign(turned.yaw) == -np.sign(mirrored.yaw)
    rotated = dlib_faces.analyze(augment(tom(), "rotate_left"))[0].quality.pose
    assert rotated.roll == pytest.approx(turned.roll - 6, abs=3)


def test_alignment_puts_the_landmarks_on_the_arcface_template(dlib_faces: DlibFaceAnalyzer) -> None:
    face = dlib_faces.analyze(astronaut())[0]
    crop = align_face(rgb(astronaut()), face.five, size=448)
    matrix = similarity_transform(face.five, ARCFACE_TEMPLATE * 4)
    moved = np.hstack([face.five, np.ones((5, 1))]) @ matrix.T
    # The eyes land on the template (4x the 112 px one) within 4 template pixels ...
    assert np.abs(moved[:2] - ARCFACE_TEMPLATE[:2] * 4).max() < 16
    # ... and landmarks found again on the warped crop are where the warp says they went.
    again = dlib_faces.analyze(crop)
    assert len(again) == 1
    assert np.abs(five_from_68(again[0].landmarks) - moved).max() < 12


def test_card_marks_a_frontal_face_frontal_and_a_turned_one_turned(dlib_faces: DlibFaceAnalyzer) -> None:
    from inference.engines.faces.card import quality_marks

    frontal_words, _ = quality_marks(dlib_faces.analyze(np.asarray(astronaut()))[0].quality)
    assert "frontal" in frontal_words
    profile = group_faces()[4]  # looking well to one side
    turned_words, good = quality_marks(dlib_faces.analyze(np.asarray(profile))[0].quality)
    assert "turned" in turned_words and not good
