"""A stand-in insightface pack for the worker stage's identity gate, written with the ``onnx`` helper API.

The real buffalo_l weights (about 180 MB) cannot travel with the run, and the dlib models (about 120 MB) cannot
either, so the gate runs the project's insightface backend on two small ONNX models with the real layouts:
``det_10g.onnx`` (input ``input.1`` 1x3x640x640; nine outputs: scores, box distances and five landmarks for
strides 8, 16 and 32, two anchors a cell) and ``w600k_r50.onnx`` (``input.1`` Nx3x112x112 -> ``683`` Nx512).
The detector reports one face in the middle of its 640 px canvas (the middle of a square image, such as
SD3's 1:1 output), so the gate does all of its work (detection, alignment, embedding, comparison); what it
leaves out is the compute of the real networks, which the report says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PACK = "buffalo_l"
STRIDES = (8, 16, 32)
ANCHORS = 2
DETECT_SIDE = 640
FACE_STRIDE = 32
FACE_HALF_CELLS = 3.0  # box edges three strides (96 px of the 640 canvas) from the anchor's centre
# Five landmarks (eyes, nose, mouth corners) in strides from the anchor's centre.
FIVE_POINTS = np.array([[-1.1, -0.8], [1.1, -0.8], [0.0, 0.3], [-0.9, 1.3], [0.9, 1.3]])


def _save(graph: Any, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_detector(path: Path) -> Path:
    """The stand-in SCRFD: constant outputs (one face at the centre) tied to the input so it stays a graph."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["input.1"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")]
    outputs: dict[str, list[Any]] = {"score": [], "bbox": [], "kps": []}
    for stride in STRIDES:
        side = DETECT_SIDE // stride
        cells = side * side * ANCHORS
        score = np.full((1, cells, 1), -20.0, dtype=np.float32)
        if stride == FACE_STRIDE:
            middle = (side // 2) * side + side // 2
            score[0, middle * ANCHORS, 0] = 20.0
        constants: dict[str, np.ndarray] = {
            "score": 1.0 / (1.0 + np.exp(-score)),
            "bbox": np.full((1, cells, 4), FACE_HALF_CELLS, dtype=np.float32),
            "kps": np.tile(FIVE_POINTS.reshape(-1), (1, cells, 1)).astype(np.float32),
        }
        for kind, value in constants.items():
            name = f"{kind}{stride}"
            inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_value"))
            nodes.append(helper.make_node("Add", [f"{name}_value", "nothing"], [name]))
            outputs[kind].append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes, "scrfd_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, DETECT_SIDE, DETECT_SIDE])],
        outputs["score"] + outputs["bbox"] + outputs["kps"], inits)
    return _save(graph, path)


def write_recognizer(path: Path, *, seed: int = 7) -> Path:
    """The stand-in ArcFace: an 8x8 average pool of the aligned crop through a fixed random projection."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    projection = rng.normal(0.0, 0.05, (3 * 14 * 14, 512)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "projection"], ["683"]),
    ]
    graph = helper.make_graph(
        nodes, "arcface_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", 512])],
        [numpy_helper.from_array(projection, "projection")])
    return _save(graph, path)


def write_pack(models_dir: Path) -> Path:
    """``<models_dir>/buffalo_l/`` with the two stand-in models; returns the pack folder."""
    pack = models_dir / PACK
    pack.mkdir(parents=True, exist_ok=True)
    write_detector(pack / "det_10g.onnx")
    write_recognizer(pack / "w600k_r50.onnx")
    return pack
