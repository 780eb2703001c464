"""The ONNX swap: insightface's inswapper (``inswapper-128`` in the registry) through onnxruntime.

The model takes the target face aligned to a 128 px crop (the ArcFace five-point template shifted 8 px
right, as insightface's ``norm_crop`` does for 128) with RGB values in [0, 1], and the source identity as a
512-d latent: the source's L2-normalised ArcFace embedding multiplied by the model's ``emap`` matrix (stored
as the graph's last initializer) and normalised again. It returns the swapped 128 px crop, which is warped
back into the frame under an eroded, blurred mask. Faces and embeddings come from an insightface face pack
(SCRFD + ArcFace), which the worker must also have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import NotAvailable
from inference.engines.base import Progress, no_progress
from inference.engines.faces.geometry import ARCFACE_TEMPLATE, similarity_transform
from inference.engines.faces.insightface_backend import InsightFaceAnalyzer
from inference.engines.faceswap.contract import SourceFace, StageTimes
from inference.engines.faceswap.engine import FaceSwapEngine
from inference.engines.faceswap.tracking import Found

NAME = "inswapper"
MODEL_FILE = "inswapper_128.onnx"
LATENT_SIZE = 512
# insightface's paste-back: the crop's mask is eroded by a tenth of its size and blurred by a twentieth, so
# the crop's square edges never show.
ERODE_DIVISOR = 10
BLUR_DIVISOR = 20


@dataclass(frozen=True)
class SwapCall:
    """One forward pass: an aligned RGB crop (size x size x 3, uint8) and the source latent (512,)."""

    crop: np.ndarray
    latent: np.ndarray


class InswapperModel:
    """A loaded inswapper ONNX model: the session, its input and output names, crop size and ``emap``."""

    name = NAME

    def __init__(self, *, path: Path, session: Any, target_input: str, source_input: str, output: str,
                 size: int, emap: np.ndarray) -> None:
        self.path = path
        self._session: Any = session
        self.target_input = target_input
        self.source_input = source_input
        self.output = output
        self.size = size
        self.emap = emap

    def latent(self, embedding: np.ndarray) -> np.ndarray:
        """The model's source input for an ArcFace embedding: normalised, through ``emap``, normalised."""
        vector = np.asarray(embedding, dtype=np.float64).reshape(-1)
        if vector.shape[0] != self.emap.shape[0]:
            raise ValueError(f"source embedding must have {self.emap.shape[0]} values, got {vector.shape[0]}")
        vector = vector / (float(np.linalg.norm(vector)) or 1.0)
        projected = vector @ self.emap
        return (projected / (float(np.linalg.norm(projected)) or 1.0)).astype(np.float32)

    def check_inputs(self, call: SwapCall) -> None:
        """Raise ``ValueError`` unless ``call`` holds a crop of the model's size and a latent of 512 values."""
        if call.crop.shape != (self.size, self.size, 3):
            raise ValueError(f"crop must be {self.size}x{self.size}x3, got {call.crop.shape}")
        if np.asarray(call.latent).reshape(-1).shape[0] != LATENT_SIZE:
            raise ValueError(f"latent must have {LATENT_SIZE} values")

    def run(self, call: SwapCall, progress: Progress = no_progress) -> np.ndarray:
        """The swapped crop (size x size x 3 uint8 RGB)."""
        if self._session is None:
            raise RuntimeError("engine was unloaded")
        self.check_inputs(call)
        blob = (call.crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        latent = np.asarray(call.latent, dtype=np.float32).reshape(1, -1)
        (pred,) = self._session.run([self.output], {self.target_input: blob, self.source_input: latent})
        return np.clip(np.asarray(pred)[0].transpose(1, 2, 0) * 255.0, 0, 255).astype(np.uint8)

    def unload(self) -> None:
        """Drop the onnxruntime session."""
        self._session = None

    def memory_bytes(self) -> int:
        """About the model file's size (onnxruntime holds the weights once)."""
        return self.path.stat().st_size if self.path.exists() else 0


def load_inswapper(path: Path, *, providers: list[str] | None = None) -> InswapperModel:
    """An ``InswapperModel`` from an ``.onnx`` file or a model-store directory holding one.

    ``NotAvailable`` says what is missing or why the file is not an inswapper model (two inputs, the crop
    first, one output, a square emap as the last initializer).
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    if path.is_dir():
        candidates = [path / MODEL_FILE] if (path / MODEL_FILE).is_file() else sorted(path.glob("*.onnx"))
        if not candidates:
            raise NotAvailable(f"No inswapper model (.onnx) in {path}.")
        path = candidates[0]
    if not path.is_file():
        raise NotAvailable(f"No inswapper model at {path}.")
    graph = onnx.load(str(path), load_external_data=False).graph
    if not graph.initializer:
        raise NotAvailable(f"{path.name} has no weights; it is not an inswapper model.")
    emap = numpy_helper.to_array(graph.initializer[-1]).astype(np.float64)
    if emap.shape != (LATENT_SIZE, LATENT_SIZE):
        raise NotAvailable(f"{path.name} has no {LATENT_SIZE}x{LATENT_SIZE} emap; it is not an inswapper model.")
    available = ort.get_available_providers()
    chosen = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 2 or len(outputs) != 1 or len(inputs[0].shape) != 4:
        raise NotAvailable(f"{path.name} does not take (face crop, source latent) → face crop; "
                           "it is not an inswapper model.")
    size = inputs[0].shape[2]
    if not isinstance(size, int) or size <= 0 or inputs[0].shape[3] != size:
        raise NotAvailable(f"{path.name} has no fixed square crop size.")
    return InswapperModel(path=path, session=session, target_input=inputs[0].name, source_input=inputs[1].name,
                          output=outputs[0].name, size=size, emap=emap)


def crop_template(size: int) -> np.ndarray:
    """The five-point template of a ``size`` px inswapper crop (insightface's ``estimate_norm``)."""
    if size % 112 == 0:
        return ARCFACE_TEMPLATE * (size / 112)
    ratio = size / 128
    return ARCFACE_TEMPLATE * ratio + np.array([8.0 * ratio, 0.0])


def paste_back(frame: np.ndarray, swapped: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``frame`` with ``swapped`` (the crop ``matrix`` made) warped back in under a soft mask; a copy.

    Only the region the crop covers is touched; beyond the eroded, blurred mask the frame is unchanged.
    """
    size = swapped.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ inverse.T
    height, width = frame.shape[:2]
    x0, y0 = (max(0, int(np.floor(v))) for v in corners.min(axis=0))
    x1, y1 = min(width, int(np.ceil(corners[:, 0].max())) + 1), min(height, int(np.ceil(corners[:, 1].max())) + 1)
    out = np.array(frame, copy=True)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return out
    local = inverse.copy()
    local[:, 2] -= (x0, y0)
    region = (x1 - x0, y1 - y0)
    fake = cv2.warpAffine(swapped, local, region, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    white = cv2.warpAffine(np.full((size, size), 255, dtype=np.uint8), local, region, borderValue=0)
    mask = np.where(white > 20, 255, 0).astype(np.uint8)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return out
    extent = int(np.sqrt(float(np.ptp(xs)) * float(np.ptp(ys))))
    erode = max(extent // ERODE_DIVISOR, 10)
    mask = np.asarray(cv2.erode(mask, np.ones((erode, erode), np.uint8)), dtype=np.uint8)
    blur = max(extent // BLUR_DIVISOR, 5) * 2 + 1
    alpha = (cv2.GaussianBlur(mask, (blur, blur), 0).astype(np.float32) / 255.0)[..., None]
    area = out[y0:y1, x0:x1]
    merged = alpha * fake.astype(np.float32) + (1.0 - alpha) * area.astype(np.float32)
    out[y0:y1, x0:x1] = np.where(alpha > 0, np.clip(merged + 0.5, 0, 255), area).astype(np.uint8)
    return out


class InswapperEngine(FaceSwapEngine[np.ndarray]):
    """inswapper over an insightface pack; prepared source = the model's latent for the persona."""

    name = NAME
    can_follow = False  # SCRFD gives five points per face and is fast: it simply runs on every frame

    def __init__(self, model: InswapperModel, analyzer: InsightFaceAnalyzer) -> None:
        self.model = model
        self.analyzer = analyzer

    def prepare(self, source: SourceFace) -> np.ndarray:
        """The latent: from the given embedding, else from the largest face in the source photo."""
        embedding = source.embedding
        if embedding is None:
            faces = self.analyzer.analyze(source.image)
            if not faces:
                raise ValueError("source.image shows no face to take the identity from")
            embedding = faces[0].embedding
        return self.model.latent(embedding)

    def find(self, frame: np.ndarray, times: StageTimes, *, quick: bool = False) -> list[Found]:
        """Faces by SCRFD with their five points (the detector gives both at once)."""
        started = time.perf_counter()
        found = [Found(box=d.box, points=d.five, score=d.score) for d in self.analyzer.detect(frame)]
        times.detect += time.perf_counter() - started
        return found

    def swap_face(self, frame: np.ndarray, points: np.ndarray, prepared: np.ndarray) -> np.ndarray:
        """A copy of ``frame`` with the face at ``points`` (five ArcFace points) swapped by the model."""
        size = self.model.size
        matrix = similarity_transform(np.asarray(points, dtype=np.float64), crop_template(size))
        crop = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        swapped = self.model.run(SwapCall(crop=crop, latent=prepared))
        return paste_back(frame, swapped, matrix)

    def unload(self) -> None:
        """Nothing of its own: the model and the analyzer are cached and freed under their own keys."""

    def memory_bytes(self) -> int:
        """Nothing of its own (see ``unload``)."""
        return 0
