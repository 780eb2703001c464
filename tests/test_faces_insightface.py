"""The insightface backend's real loading, detection decoding, alignment and inference on stand-in models.

The buffalo_l weights cannot be downloaded here, so tiny ONNX models with the same input and output names and
shapes are built with the ``onnx`` helper API: a detector that fires on bright 32 px cells with fixed box and
landmark offsets, and a recogniser that is a fixed random projection of the aligned crop.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pytest

from core.errors import NotAvailable
from core.settings import Settings
from inference.engines.faces import choose_backend
from inference.engines.faces.geometry import ARCFACE_TEMPLATE, align_face
from inference.engines.faces.insightface_backend import (
    InsightFaceAnalyzer,
    input_normalisation,
    load_insightface,
)
from tests.faces_data import astronaut, rgb, tom
from tests.insightface_models import BOX_CELLS, KPS_CELLS, build_detector, build_recognizer


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models") / "buffalo_l"
    root.mkdir()
    build_detector(root / "det_10g.onnx")
    build_recognizer(root / "w600k_r50.onnx")
    return root


@pytest.fixture(scope="module")
def analyzer(pack_dir: Path) -> InsightFaceAnalyzer:
    return load_insightface(pack_dir, providers=["CPUExecutionProvider"])


def test_pack_is_loaded_with_models_routed_by_shape(analyzer: InsightFaceAnalyzer) -> None:
    assert analyzer.name == "insightface:buffalo_l"
    assert analyzer.metric == "cosine"
    assert analyzer.threshold == pytest.approx(0.6)
    assert analyzer.memory_bytes() > 0


def test_detection_is_decoded_into_source_pixels(analyzer: InsightFaceAnalyzer) -> None:
    # An 800x600 image is scaled by 0.8 into the 640 canvas: a 40 px white square at (400, 200) becomes the
    # stride-32 cell at column 10, row 5, whose anchor is (320, 160) in detector pixels.
    image = np.zeros((600, 800, 3), dtype=np.uint8)
    image[200:240, 400:440] = 255
    faces = analyzer.analyze(image)
    assert len(faces) == 1, "the two anchors of one cell must be merged by NMS"
    face = faces[0]
    anchor = np.array([320.0, 160.0])
    expected_box = np.concatenate([anchor - 32 * BOX_CELLS, anchor + 32 * BOX_CELLS]) / 0.8
    assert np.allclose(face.box, expected_box, atol=1.5)
    assert np.allclose(face.five, (anchor + KPS_CELLS * 32) / 0.8, atol=0.5)
    assert face.score > 0.9
    assert face.embedding.shape == (512,)
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0)
    assert analyzer.analyze(np.zeros((600, 800, 3), dtype=np.uint8)) == []


def _moved(image: np.ndarray, five: np.ndarray, *, scale: float, angle: float, shift: tuple[int, int]):
    matrix = cv2.getRotationMatrix2D((0, 0), angle, scale)
    matrix[:, 2] += shift
    canvas = cv2.warpAffine(image, matrix, (900, 700), borderValue=(90, 90, 90))
    return canvas, np.hstack([five, np.ones((5, 1))]) @ matrix.T


def test_alignment_makes_the_embedding_follow_the_face_not_the_frame(analyzer: InsightFaceAnalyzer) -> None:
    # The Tom Hanks sample is itself an ArcFace-aligned crop, so its five points are the template (x4 here).
    photo = rgb(tom())
    five = ARCFACE_TEMPLATE * 4
    moved, moved_five = _moved(photo, five, scale=0.55, angle=12, shift=(260, 180))

    reference = analyzer.embed_aligned(align_face(photo, five))
    aligned = analyzer.embed_aligned(align_face(moved, moved_five))
    unaligned = analyzer.embed_aligned(cv2.resize(moved, (112, 112), interpolation=cv2.INTER_AREA))
    other = analyzer.embed_aligned(cv2.resize(rgb(astronaut()), (112, 112), interpolation=cv2.INTER_AREA))

    assert float(reference @ aligned) > 0.99, "an 8 px misplacement already drops this to about 0.92"
    assert float(reference @ unaligned) < float(reference @ aligned) - 0.05
    assert float(reference @ other) < float(reference @ aligned) - 0.05
    # The aligned crop really puts the eyes where the template says.
    crop = align_face(moved, moved_five)
    assert np.abs(crop.astype(float) - align_face(photo, five).astype(float)).mean() < 12


def test_recogniser_normalisation_follows_the_graph(tmp_path: Path) -> None:
    assert input_normalisation(build_recognizer(tmp_path / "plain.onnx")) == (127.5, 127.5)
    assert input_normalisation(build_recognizer(tmp_path / "mx.onnx", normalise_in_graph=True)) == (0.0, 1.0)


def test_pack_without_recogniser_is_not_available(tmp_path: Path) -> None:
    pack = tmp_path / "antelopev2"
    pack.mkdir()
    build_detector(pack / "scrfd_10g_bnkps.onnx")
    with pytest.raises(NotAvailable, match=r"has no ArcFace recogniser \(112x112 input\)"):
        load_insightface(pack)


def test_backend_choice_follows_the_model_store(tmp_path: Path, pack_dir: Path) -> None:
    def settings(models_dir: Path, profile: Literal["full", "cpu", "tiny"]) -> Settings:
        return Settings(environment="test", data_dir=tmp_path, models_dir=models_dir, model_profile=profile,
                        _env_file=None)  # type: ignore[call-arg]

    assert choose_backend(settings(pack_dir.parent, "cpu")) == "insightface"
    assert choose_backend(settings(pack_dir.parent, "tiny")) == "dlib", "random tiny weights never judge identity"
    assert choose_backend(settings(tmp_path / "empty", "cpu")) == "dlib"


def test_similarity_is_the_clipped_cosine(analyzer: InsightFaceAnalyzer) -> None:
    a = np.array([1.0, 0.0])
    b = np.array([math.cos(1.0), math.sin(1.0)])
    assert analyzer.similarity(analyzer.distance(a, b)) == pytest.approx(math.cos(1.0))
    assert analyzer.similarity(analyzer.distance(a, -a)) == 0.0
