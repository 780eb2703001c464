"""The ``dlib`` face backend: HOG detector, 68-point landmarks and the 128-d ResNet descriptor, on CPU.

The models ship in the ``face_recognition_models`` package, so this backend works with no model store.
dlib documents its descriptor as: two faces are the same person when the euclidean distance between their
descriptors is below 0.6 (99.38% on LFW). That is ``THRESHOLD`` here.

The HOG detector is fast but, on small or slightly rotated photos, also finds "faces" in badges, patches and
folds (the astronaut photo turned 6 degrees: her face plus two on the suit). Every HOG find it is not sure of
(margin under ``CONFIDENT_SCORE``) is checked by the CNN (MMOD) detector that ships beside it, on a small crop
scaled so the candidate is ``CONFIRM_FACE_PX`` across: on the shipped photos and 860 rotated and rescaled
copies of them that kept all 927 real faces and dropped all 33 false ones. Running the CNN on whole photos
instead costs about 20 times the HOG detector on this CPU (``benchmarks/calibration.py --detector``); the
landmarks' own stability under a shifted box (a "landmark-fit quality") was measured too and does not separate
real from false finds (false ones overlap the real faces' 95th percentile).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import NotAvailable
from inference.engines.faces.contract import Detection, FaceAnalyzer
from inference.engines.faces.geometry import five_from_68

NAME = "dlib"
THRESHOLD = 0.6
# Re-encodings (JPEG q85: 0.03) and slight edits of one photo land below this; different snapshots of one
# person are 0.1 and up.
DUPLICATE_DISTANCE = 0.04
# HOG finds faces of about 80 px and up; detection runs on a copy scaled to this long side, which keeps a
# 12 MP photo as fast as a 1 MP one. Small photos are upsampled once instead, to find smaller faces.
DETECT_LONG_SIDE = 1280
UPSAMPLE_BELOW = 800
# HOG margins of the false finds on the shipped photos topped out at 0.46; real faces reach 2.7. Finds at or
# above this are taken as they are, the rest confirmed by the CNN (about one real face in four, the small and
# turned ones).
CONFIDENT_SCORE = 0.8
# The CNN's sliding window is about 80 px: the candidate is scaled to that size with this share of its width
# around it, which keeps the crop near 140 px and one check near 0.25 s here (a HOG pass over a 512 px photo
# is about 0.2 s; the CNN over that whole photo about 20 s).
CONFIRM_FACE_PX = 80
CONFIRM_MARGIN = 0.35
# Same-person distances the shipped faces reach under common changes (light, colour, framing, rotation up to
# 10 degrees, JPEG, a thumbnail's detail) go up to 0.371; rounded up, a persona's threshold is never tightened
# below this (``benchmarks/calibration.py``; the figures are in docs/ARCHITECTURE.md, "Faces and likeness").
CALIBRATION_FLOOR = 0.4
# The median distance of a face to another person's persona on the shipped faces (0.784; the nearest 0.592):
# 0 % on the likeness scale.
STRANGER_DISTANCE = 0.78
MODEL_FILES = {
    "landmarks": "shape_predictor_68_face_landmarks.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
    "confirm": "mmod_human_face_detector.dat",
}


def model_dir() -> Path:
    """Where ``face_recognition_models`` keeps its ``.dat`` files (found without importing the package).

    Its ``__init__`` imports ``pkg_resources``, which new environments lack, so only its location is used.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise NotAvailable("The dlib face models are not installed (pip install face_recognition_models).")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibFaceAnalyzer(FaceAnalyzer):
    """Face analysis with dlib's shipped models: 128-d embeddings compared by euclidean distance."""

    name = NAME
    metric = "euclidean"
    threshold = THRESHOLD
    calibration_floor = CALIBRATION_FLOOR
    stranger_distance = STRANGER_DISTANCE
    duplicate_distance = DUPLICATE_DISTANCE
    embedding_size = 128

    def __init__(self, *, detector: Any, landmarks: Any, descriptor: Any, memory_bytes: int,
                 confirmer: Any = None) -> None:
        self._detector = detector
        self._landmarks = landmarks
        self._descriptor = descriptor
        self._confirmer = confirmer
        self._memory = memory_bytes

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces found by the HOG detector (uncertain finds confirmed by the CNN) with their 68 landmarks."""
        found: list[Detection] = []
        for box, score in self.boxes(image):
            if score < CONFIDENT_SCORE and not self.confirmed(image, box):
                continue
            # Landmarks on the full-resolution image: the detector's copy is only for finding the face.
            shape = self._shape(image, box)
            points = _points(shape)
            found.append(Detection(box=box, landmarks=points, five=five_from_68(points), score=score,
                                   handle=shape))
        return found

    def boxes(self, image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Face boxes (x0, y0, x1, y1) found by the HOG detector with their scores, without landmarks."""
        height, width = image.shape[:2]
        scale = min(1.0, DETECT_LONG_SIDE / max(height, width))
        small = image if scale == 1.0 else cv2.resize(image, (round(width * scale), round(height * scale)),
                                                      interpolation=cv2.INTER_AREA)
        upsample = 1 if max(height, width) < UPSAMPLE_BELOW else 0
        rects, scores, _ = self._detector.run(small, upsample, 0.0)
        found: list[tuple[tuple[int, int, int, int], float]] = []
        for rect, score in zip(rects, scores, strict=True):
            x0, y0 = max(0, round(rect.left() / scale)), max(0, round(rect.top() / scale))
            x1, y1 = min(width, round(rect.right() / scale)), min(height, round(rect.bottom() / scale))
            if x1 - x0 >= 8 and y1 - y0 >= 8:
                found.append(((x0, y0, x1, y1), float(score)))
        return found

    def confirmed(self, image: np.ndarray, box: tuple[int, int, int, int]) -> bool:
        """Whether the CNN (MMOD) detector also sees a face centred inside ``box``.

        Without the CNN model (an older ``face_recognition_models``) every find counts, as before.
        """
        if self._confirmer is None:
            return True
        x0, y0, x1, y1 = box
        side = max(1, min(x1 - x0, y1 - y0))
        margin = round(side * CONFIRM_MARGIN)
        height, width = image.shape[:2]
        cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
        cx1, cy1 = min(width, x1 + margin), min(height, y1 + margin)
        scale = CONFIRM_FACE_PX / side
        size = (max(1, round((cx1 - cx0) * scale)), max(1, round((cy1 - cy0) * scale)))
        crop = cv2.resize(image[cy0:cy1, cx0:cx1], size,
                          interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        bx0, by0, bx1, by1 = ((x0 - cx0) * scale, (y0 - cy0) * scale, (x1 - cx0) * scale, (y1 - cy0) * scale)
        for found in self._confirmer(np.ascontiguousarray(crop), 0):
            rect = found.rect
            centre_x, centre_y = (rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2
            if bx0 <= centre_x <= bx1 and by0 <= centre_y <= by1:
                return True
        return False

    def landmarks_in(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The 68 landmarks of the face in ``box`` (a detector-style box), as an (68, 2) float array.

        Cheap next to detection (a few milliseconds), so a video can follow a face from frame to frame by
        re-fitting the landmarks in a box placed where the face was, detecting only now and then.
        """
        return _points(self._shape(image, box))

    def _shape(self, image: np.ndarray, box: tuple[int, int, int, int]) -> Any:
        import dlib

        if self._landmarks is None:
            raise RuntimeError("engine was unloaded")
        x0, y0, x1, y1 = (int(v) for v in box)
        return self._landmarks(image, dlib.rectangle(x0, y0, x1, y1))

    def embed(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """dlib's 128-d descriptor of the face (its own 150 px chip alignment from the 68 landmarks)."""
        return np.asarray(self._descriptor.compute_face_descriptor(image, detection.handle), dtype=np.float64)

    def unload(self) -> None:
        """Drop the models (dlib frees them with the Python objects)."""
        self._detector = self._landmarks = self._descriptor = self._confirmer = None

    def memory_bytes(self) -> int:
        """Roughly the size of the model files: dlib holds them as loaded."""
        return self._memory


def _points(shape: Any) -> np.ndarray:
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def load_dlib(directory: Path | None = None) -> DlibFaceAnalyzer:
    """A ``DlibFaceAnalyzer`` with the HOG detector and the models from ``face_recognition_models``."""
    import dlib

    root = directory or model_dir()
    paths = {role: root / filename for role, filename in MODEL_FILES.items()}
    for role, path in paths.items():
        if not path.is_file():
            raise NotAvailable(f"The dlib {role} model is missing: {path}")
    return DlibFaceAnalyzer(
        detector=dlib.get_frontal_face_detector(),
        landmarks=dlib.shape_predictor(str(paths["landmarks"])),
        descriptor=dlib.face_recognition_model_v1(str(paths["descriptor"])),
        confirmer=dlib.cnn_face_detection_model_v1(str(paths["confirm"])),
        memory_bytes=sum(path.stat().st_size for path in paths.values()),
    )


def load_mmod(directory: Path | None = None) -> Any:
    """dlib's CNN (MMOD) face detector from ``face_recognition_models``: ``detector(rgb, upsample)``."""
    import dlib

    path = (directory or model_dir()) / MODEL_FILES["confirm"]
    if not path.is_file():
        raise NotAvailable(f"The dlib confirm model is missing: {path}")
    return dlib.cnn_face_detection_model_v1(str(path))
