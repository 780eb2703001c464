"""A stand-in for insightface's inswapper_128.onnx, built offline with the ``onnx`` helper API.

Same interface as the real model: inputs ``target`` (1x3x128x128, RGB in [0, 1]) and ``source`` (1x512, the
projected identity latent), output ``output`` (1x3x128x128 in [0, 1]), and a 512x512 ``emap`` as the graph's
last initializer. The weights are random: a 3x3 convolution of the crop plus a per-channel bias from the
latent, through a sigmoid. It exercises the loading, alignment, inference and paste-back code, not the
quality of a swap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_inswapper(path: Path, *, size: int = 128, seed: int = 3) -> Path:
    """Write the stand-in model to ``path``."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (3, 3, 3, 3)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (3,)).astype(np.float32), "conv_b"),
        numpy_helper.from_array(rng.normal(0, 0.5, (512, 3)).astype(np.float32), "latent_w"),
        numpy_helper.from_array(np.array([1, 3, 1, 1], dtype=np.int64), "latent_shape"),
        # Last, as in the real file: the matrix the source embedding is projected through.
        numpy_helper.from_array(rng.normal(0, 1 / np.sqrt(512), (512, 512)).astype(np.float32), "emap"),
    ]
    nodes = [
        helper.make_node("Conv", ["target", "conv_w", "conv_b"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("MatMul", ["source", "latent_w"], ["styled"]),
        helper.make_node("Reshape", ["styled", "latent_shape"], ["style"]),
        helper.make_node("Add", ["conv", "style"], ["mixed"]),
        helper.make_node("Sigmoid", ["mixed"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "inswapper_standin",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
