"""Face detection on small, slightly turned real photos: false finds dropped, real faces kept, refusals shown."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from inference.engines.faces.annotate import render_faces
from inference.engines.faces.dlib_backend import CONFIDENT_SCORE, DlibFaceAnalyzer, load_dlib
from inference.tasks.persona import counted_faces, face_problem
from tests.faces_data import astronaut_photo, group, group_crop, rgb, turned

# Where Eileen Collins' face is in the whole astronaut picture (512 px): every turned copy keeps it there.
ASTRONAUT_FACE_CENTRE = (210, 131)


@pytest.fixture(scope="module")
def dlib_faces() -> DlibFaceAnalyzer:
    return load_dlib()


def _centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def test_the_astronaut_turned_six_degrees_is_one_face_not_three(dlib_faces: DlibFaceAnalyzer) -> None:
    photo = turned(astronaut_photo(), 6)
    hog = dlib_faces.boxes(rgb(photo))
    assert len(hog) == 3, "the HOG detector alone also finds two badges on the suit"
    faces = dlib_faces.analyze(photo)
    assert len(faces) == 1
    cx, cy = _centre(faces[0].box)
    assert abs(cx - ASTRONAUT_FACE_CENTRE[0]) < 30 and abs(cy - ASTRONAUT_FACE_CENTRE[1]) < 30
    assert face_problem(faces, dlib_faces, label="eileen.jpg", persona="Eileen") is None


@pytest.mark.parametrize(("degrees", "scale"), [(-8, 1.0), (4, 1.0), (6, 1.6), (4, 2.2)])
def test_turned_and_rescaled_astronaut_photos_show_one_face(dlib_faces: DlibFaceAnalyzer, degrees: float,
                                                            scale: float) -> None:
    photo = turned(astronaut_photo(), degrees, scale=scale)
    assert len(dlib_faces.boxes(rgb(photo))) > 1, "a case the HOG detector gets wrong"
    faces = dlib_faces.analyze(photo)
    assert len(faces) == 1, [f.box for f in faces]
    cx, cy = _centre(faces[0].box)
    assert abs(cx / scale - ASTRONAUT_FACE_CENTRE[0]) < 40 and abs(cy / scale - ASTRONAUT_FACE_CENTRE[1]) < 40


@pytest.mark.parametrize("index", range(6))
def test_small_turned_crops_of_the_group_keep_their_one_face(dlib_faces: DlibFaceAnalyzer, index: int) -> None:
    photo = turned(group_crop(index), 5 if index % 2 else -5)  # faces of 87-125 px, as the photo has them
    faces = dlib_faces.analyze(photo)
    assert len(faces) == 1
    assert len(counted_faces(faces, dlib_faces)) == 1


def test_a_real_second_face_at_the_edge_still_counts(dlib_faces: DlibFaceAnalyzer) -> None:
    # Person 0 with a wide margin: the woman behind him is cut by the edge, and her HOG margin is low.
    photo = turned(group_crop(0, pad=1.6), -4)
    hog = dlib_faces.boxes(rgb(photo))
    assert len(hog) == 2 and min(score for _, score in hog) < CONFIDENT_SCORE, "her face needs the CNN's check"
    faces = dlib_faces.analyze(photo)
    assert len(faces) == 2
    reason = face_problem(faces, dlib_faces, label="pair.jpg", persona="Dan")
    assert reason == "pair.jpg shows 2 faces; send photos of Dan alone"


def test_the_cnn_confirms_faces_and_refuses_badges(dlib_faces: DlibFaceAnalyzer) -> None:
    image = rgb(turned(astronaut_photo(), 6))
    found = sorted(dlib_faces.boxes(image), key=lambda item: -item[1])
    face, *badges = [box for box, _ in found]
    assert dlib_faces.confirmed(image, face)
    assert badges and not any(dlib_faces.confirmed(image, box) for box in badges)


def test_the_refusal_picture_boxes_and_numbers_each_face() -> None:
    photo = group()
    boxes = [(452, 300, 577, 424), (65, 284, 169, 388)]
    data = render_faces(photo, boxes, max_side=640)
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "JPEG" and max(picture.size) == 640
    pixels = np.asarray(picture.convert("RGB")).astype(int)
    scale = 640 / max(photo.size)

    def edge_colour(box: tuple[int, int, int, int]) -> np.ndarray:
        x0, y0, _, y1 = (round(v * scale) for v in box)
        return pixels[(y0 + y1) // 2, x0 - 1:x0 + 2].mean(axis=0)  # the box's left edge, half-way down

    subject, other = edge_colour(boxes[0]), edge_colour(boxes[1])
    assert subject[1] > 150 and subject[0] < 120, f"the subject's box is green: {subject}"
    assert other[0] > 200 and other[1] < 110, f"another face's box is red: {other}"
    # Inside the faces nothing is painted over.
    x0, y0, x1, y1 = (round(v * scale) for v in boxes[0])
    original = np.asarray(photo.resize(picture.size, Image.Resampling.LANCZOS)).astype(int)
    inner = (slice(y0 + 6, y1 - 6), slice(x0 + 6, x1 - 6))
    assert np.abs(pixels[inner] - original[inner]).mean() < 6
