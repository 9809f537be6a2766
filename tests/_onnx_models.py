"""Tiny real ONNX models written with the ``onnx`` helper API, for the conversion tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CONV_WEIGHTS = np.array(
    [[[[0.5]], [[-1.0]], [[2.0]]], [[[1.5]], [[0.25]], [[-0.75]]]],
    dtype=np.float32,
)
"""A 1x1 convolution from 3 to 2 channels whose weights differ per input channel, so order matters."""


def conv1x1(path: Path, *, size: int = 4) -> Path:
    """``output[N, 2, size, size] = relu(conv1x1(image[N, 3, size, size]) + bias)``, opset 17."""
    weights = numpy_helper.from_array(CONV_WEIGHTS, "weights")
    bias = numpy_helper.from_array(np.array([0.1, -0.2], np.float32), "bias")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["image", "weights", "bias"], ["conv"]),
            helper.make_node("Relu", ["conv"], ["output"]),
        ],
        "conv1x1",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 2, size, size])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
