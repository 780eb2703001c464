"""The ``insightface`` face backend: SCRFD detector + 5 landmarks and ArcFace embeddings through onnxruntime.

Reads a model pack in insightface's layout from the model store: ``<models dir>/buffalo_l/`` (``det_10g.onnx``,
``w600k_r50.onnx``, ...) or ``<models dir>/antelopev2/`` (``scrfd_10g_bnkps.onnx``, ``glintr100.onnx``, ...).
Each ``.onnx`` file is routed by its input and output shapes, as insightface's model zoo does, so extra models
in the pack (landmarks, gender/age) are ignored. The insightface Python package itself is not needed.

Embeddings are 512-d, L2-normalised and compared by cosine. ``THRESHOLD`` is a distance of 0.6 on
``1 - cosine`` (cosine similarity 0.4): a conservative operating point for these ArcFace models, where
impostor pairs sit near cosine 0 and genuine pairs mostly above 0.4; re-check it on real weights with
``benchmarks/face_analysis.py``. The two packs' embeddings are different spaces, so the engine name carries
the pack (``insightface:buffalo_l``) and stored embeddings never mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import NotAvailable
from inference.engines.faces.contract import Detection, FaceAnalyzer
from inference.engines.faces.geometry import ARCFACE_SIZE, align_face

PACKS = ("buffalo_l", "antelopev2")
THRESHOLD = 0.6
# Not measured here (no pack can be had on this machine): ArcFace puts renderings of one photo above cosine
# 0.7 and different real photos of one person mostly above 0.5, so a persona is never held tighter than
# cosine 0.55. ``benchmarks/calibration.py --backend insightface`` measures it where a pack is installed.
CALIBRATION_FLOOR = 0.45
# Impostor pairs sit near cosine 0: 0 % on the likeness scale.
STRANGER_DISTANCE = 1.0
DUPLICATE_DISTANCE = 0.02
DETECT_SIZE = (640, 640)
SCORE_THRESHOLD = 0.5
NMS_THRESHOLD = 0.4


@dataclass
class OnnxModel:
    """An onnxruntime session with the names of its input and outputs."""

    path: Path
    session: Any
    input_name: str
    input_shape: list[Any]
    output_names: list[str]


def open_model(path: Path, providers: list[str] | None = None) -> OnnxModel:
    """An ``OnnxModel`` for ``path``, on CUDA when onnxruntime offers it, else CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    chosen = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    inputs = session.get_inputs()
    return OnnxModel(path=path, session=session, input_name=inputs[0].name, input_shape=list(inputs[0].shape),
                     output_names=[o.name for o in session.get_outputs()])


def input_normalisation(path: Path) -> tuple[float, float]:
    """``(mean, std)`` the recogniser expects: models converted from MXNet normalise inside the graph.

    The same test insightface applies: Sub and Mul among the first nodes mean the graph does it itself.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = [node.name for node in graph.node[:8]]
    has_sub = any(n.startswith(("Sub", "_minus")) for n in names)
    has_mul = any(n.startswith(("Mul", "_mul")) for n in names)
    return (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)


class InsightFaceAnalyzer(FaceAnalyzer):
    """Face analysis with an insightface model pack: SCRFD boxes and 5 points, ArcFace 512-d embeddings."""

    metric = "cosine"
    threshold = THRESHOLD
    calibration_floor = CALIBRATION_FLOOR
    stranger_distance = STRANGER_DISTANCE
    duplicate_distance = DUPLICATE_DISTANCE
    embedding_size = 512

    def __init__(self, *, pack: str, detector: OnnxModel, recognizer: OnnxModel,
                 recognizer_norm: tuple[float, float], memory_bytes: int) -> None:
        self.name = f"insightface:{pack}"
        self.pack = pack
        self._detector: OnnxModel | None = detector
        self._recognizer: OnnxModel | None = recognizer
        self._mean, self._std = recognizer_norm
        self._memory = memory_bytes
        shape = detector.input_shape
        # Fixed-size exports say so in their input shape; dynamic ones take insightface's default 640.
        static = len(shape) == 4 and all(isinstance(v, int) and v > 0 for v in shape[2:])
        self._det_size = (int(shape[3]), int(shape[2])) if static else DETECT_SIZE
        outputs = len(detector.output_names)
        if outputs not in (6, 9, 10, 15):
            raise NotAvailable(f"{detector.path.name} has {outputs} outputs; not an SCRFD detector")
        self._strides = (8, 16, 32) if outputs in (6, 9) else (8, 16, 32, 64, 128)
        self._anchors = 2 if outputs in (6, 9) else 1
        self._has_kps = outputs in (9, 15)
        if not self._has_kps:
            raise NotAvailable(f"{detector.path.name} gives no landmarks; alignment needs the _kps variant")

    # -- detection (SCRFD) ----------------------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces found by SCRFD with their five landmarks, in source pixel coordinates."""
        if self._detector is None:
            raise RuntimeError("engine was unloaded")
        det_w, det_h = self._det_size
        height, width = image.shape[:2]
        # Fit the image into the detector's canvas keeping its aspect ratio, top-left aligned (as insightface).
        scale = min(det_w / width, det_h / height)
        new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
        canvas = np.zeros((det_h, det_w, 3), dtype=np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
        blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outputs = self._detector.session.run(self._detector.output_names, {self._detector.input_name: blob})
        boxes, scores, kps = self._decode(outputs, det_w, det_h)
        if len(scores) == 0:
            return []
        boxes /= scale
        kps /= scale
        keep = nms(boxes, scores, NMS_THRESHOLD)
        found = []
        for i in keep:
            x0, y0, x1, y1 = boxes[i]
            box = (max(0, round(x0)), max(0, round(y0)), min(width, round(x1)), min(height, round(y1)))
            five = kps[i].reshape(5, 2).astype(np.float64)
            found.append(Detection(box=box, landmarks=five, five=five, score=float(scores[i])))
        return found

    def _decode(self, outputs: list[np.ndarray], det_w: int, det_h: int) -> tuple[np.ndarray, ...]:
        # Outputs come grouped: scores for each stride, then box distances, then landmark offsets.
        count = len(self._strides)
        all_boxes, all_scores, all_kps = [], [], []
        for index, stride in enumerate(self._strides):
            scores = _flat(outputs[index]).reshape(-1)
            distances = _flat(outputs[index + count]).reshape(-1, 4) * stride
            offsets = _flat(outputs[index + 2 * count]).reshape(-1, 10) * stride
            rows, cols = det_h // stride, det_w // stride
            grid_y, grid_x = np.mgrid[:rows, :cols]
            centres = np.stack([grid_x, grid_y], axis=-1).astype(np.float32).reshape(-1, 2) * stride
            centres = np.repeat(centres, self._anchors, axis=0)
            chosen = np.where(scores >= SCORE_THRESHOLD)[0]
            if len(chosen) == 0:
                continue
            c = centres[chosen]
            d = distances[chosen]
            all_boxes.append(np.stack([c[:, 0] - d[:, 0], c[:, 1] - d[:, 1], c[:, 0] + d[:, 2], c[:, 1] + d[:, 3]],
                                      axis=-1))
            all_scores.append(scores[chosen])
            all_kps.append(offsets[chosen] + np.tile(c, 5))
        if not all_scores:
            empty = np.zeros((0,), dtype=np.float32)
            return np.zeros((0, 4), dtype=np.float32), empty, np.zeros((0, 10), dtype=np.float32)
        return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_kps)

    # -- recognition (ArcFace) ------------------------------------------------------------------------

    def embed(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """The L2-normalised ArcFace embedding of the face warped onto the 112 px template."""
        return self.embed_aligned(align_face(image, detection.five, size=ARCFACE_SIZE))

    def embed_aligned(self, aligned: np.ndarray) -> np.ndarray:
        """The embedding of an already aligned 112x112 RGB face crop."""
        if self._recognizer is None:
            raise RuntimeError("engine was unloaded")
        blob = ((aligned.astype(np.float32) - self._mean) / self._std).transpose(2, 0, 1)[None]
        (vector,) = self._recognizer.session.run(self._recognizer.output_names[:1],
                                                 {self._recognizer.input_name: blob})
        flat = np.asarray(vector, dtype=np.float64).reshape(-1)
        return flat / (float(np.linalg.norm(flat)) or 1.0)

    def unload(self) -> None:
        """Drop the onnxruntime sessions."""
        self._detector = self._recognizer = None

    def memory_bytes(self) -> int:
        """Roughly the size of the two model files (onnxruntime holds the weights once)."""
        return self._memory


def _flat(output: np.ndarray) -> np.ndarray:
    # Batched exports add a leading batch axis of 1.
    array = np.asarray(output)
    return array[0] if array.ndim == 3 else array


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        xx0, yy0 = np.maximum(x0[i], x0[order[1:]]), np.maximum(y0[i], y0[order[1:]])
        xx1, yy1 = np.minimum(x1[i], x1[order[1:]]), np.minimum(y1[i], y1[order[1:]])
        inter = np.maximum(0.0, xx1 - xx0 + 1) * np.maximum(0.0, yy1 - yy0 + 1)
        overlap = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][overlap <= threshold]
    return keep


def find_pack(models_dir: Path) -> Path | None:
    """The first insightface pack present under ``models_dir`` (``buffalo_l`` before ``antelopev2``)."""
    for pack in PACKS:
        candidate = models_dir / pack
        if candidate.is_dir() and any(candidate.glob("*.onnx")):
            return candidate
    return None


def load_insightface(pack_dir: Path, *, providers: list[str] | None = None) -> InsightFaceAnalyzer:
    """An ``InsightFaceAnalyzer`` from a pack directory; ``NotAvailable`` names what is missing."""
    if not pack_dir.is_dir():
        raise NotAvailable(f"No insightface model pack at {pack_dir}; put buffalo_l or antelopev2 there.")
    detector = recognizer = None
    for path in sorted(pack_dir.glob("*.onnx")):
        model = open_model(path, providers)
        shape = model.input_shape
        if len(model.output_names) >= 6 and detector is None:
            detector = model
        elif len(shape) == 4 and shape[2] == ARCFACE_SIZE and shape[3] == ARCFACE_SIZE and recognizer is None:
            recognizer = model
    if detector is None or recognizer is None:
        missing = "SCRFD detector" if detector is None else "ArcFace recogniser (112x112 input)"
        raise NotAvailable(f"The insightface pack at {pack_dir} has no {missing}.")
    size = detector.path.stat().st_size + recognizer.path.stat().st_size
    return InsightFaceAnalyzer(pack=pack_dir.name, detector=detector, recognizer=recognizer,
                               recognizer_norm=input_normalisation(recognizer.path), memory_bytes=size)
