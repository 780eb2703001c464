"""Stand-in insightface models built with the ``onnx`` helper API (the buffalo_l weights cannot be had in tests):
a detector that fires on bright 32 px cells with fixed box and landmark offsets, and a recogniser that is a
fixed random projection of the aligned crop. Same input and output names and shapes as the real pack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

STRIDES = (8, 16, 32)
BOX_CELLS = 1.0  # box edges one stride from the anchor
KPS_CELLS = np.array([[-0.4, -0.3], [0.4, -0.3], [0.0, 0.0], [-0.3, 0.4], [0.3, 0.4]])


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_detector(path: Path) -> Path:
    """A stand-in SCRFD (det_10g layout: input.1 1x3x640x640, 9 outputs score/bbox/kps x strides 8/16/32)."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    outputs: dict[str, list[onnx.ValueInfoProto]] = {"score": [], "bbox": [], "kps": []}
    for stride in STRIDES:
        for kind, channels in (("score", 2), ("bbox", 8), ("kps", 20)):
            weight = np.zeros((channels, 3, stride, stride), dtype=np.float32)
            bias = np.zeros(channels, dtype=np.float32)
            if kind == "score" and stride == 32:
                # Sigmoid(20 * (mean brightness - 0.5)): fires on cells that are (nearly) white.
                weight[:] = 20.0 / (3 * stride * stride)
                bias[:] = -10.0
            elif kind == "score":
                bias[:] = -20.0
            elif kind == "bbox":
                bias[:] = BOX_CELLS
            else:
                bias[:] = np.tile(KPS_CELLS.reshape(-1), 2)
            name = f"{kind}{stride}"
            inits += [numpy_helper.from_array(weight, f"{name}_w"), numpy_helper.from_array(bias, f"{name}_b")]
            nodes.append(helper.make_node("Conv", ["input.1", f"{name}_w", f"{name}_b"], [f"{name}_conv"],
                                          kernel_shape=[stride, stride], strides=[stride, stride]))
            source = f"{name}_conv"
            if kind == "score":
                nodes.append(helper.make_node("Sigmoid", [source], [f"{name}_sig"]))
                source = f"{name}_sig"
            per_anchor = channels // 2
            shape = numpy_helper.from_array(np.array([1, -1, per_anchor], dtype=np.int64), f"{name}_shape")
            inits.append(shape)
            nodes.append(helper.make_node("Transpose", [source], [f"{name}_t"], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Reshape", [f"{name}_t", f"{name}_shape"], [name]))
            cells = (640 // stride) ** 2 * 2
            outputs[kind].append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, cells, per_anchor]))
    graph = helper.make_graph(
        nodes, "scrfd_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 640, 640])],
        outputs["score"] + outputs["bbox"] + outputs["kps"], inits)
    return _save(graph, path)


def build_recognizer(path: Path, *, normalise_in_graph: bool = False) -> Path:
    """A stand-in ArcFace (w600k_r50 layout: input.1 Nx3x112x112 -> 683 Nx512): conv, relu, projection."""
    rng = np.random.default_rng(7)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.05, (8, 3, 8, 8)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(rng.normal(0, 0.05, (8 * 14 * 14, 512)).astype(np.float32), "fc_w"),
    ]
    nodes = []
    source = "input.1"
    if normalise_in_graph:
        # MXNet-converted models start with Sub/Mul nodes that normalise the raw 0-255 input themselves.
        inits += [numpy_helper.from_array(np.array(127.5, dtype=np.float32), "mean"),
                  numpy_helper.from_array(np.array(1 / 127.5, dtype=np.float32), "scale")]
        nodes += [helper.make_node("Sub", [source, "mean"], ["centred"], name="Sub_0"),
                  helper.make_node("Mul", ["centred", "scale"], ["normed"], name="Mul_1")]
        source = "normed"
    nodes += [
        helper.make_node("Conv", [source, "conv_w"], ["c"], kernel_shape=[8, 8], strides=[8, 8], name="Conv_2"),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "fc_w"], ["683"]),
    ]
    graph = helper.make_graph(
        nodes, "arcface_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", 512])], inits)
    return _save(graph, path)
