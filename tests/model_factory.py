"""Tiny real OpenVINO models built with ``openvino.opset13`` for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

LINEAR_WEIGHTS = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], dtype=np.float32)
LINEAR_BIAS = np.array([0.1, -0.2], dtype=np.float32)


def _name(node: ov.Node, name: str) -> ov.Output:
    output = node.output(0)
    output.get_tensor().set_names({name})
    return output


def save(model: ov.Model, path: Path) -> Path:
    ov.save_model(model, path, compress_to_fp16=False)
    return path


def linear(path: Path, *, batch: int = -1, features: int = 3) -> Path:
    """y = x @ W + b with input ``x[batch, 3]`` and output ``y[batch, 2]``."""
    x = ops.parameter([batch, features], np.float32, name="x")
    weights = LINEAR_WEIGHTS if features == 3 else np.ones((features, 2), np.float32)
    y = ops.add(ops.matmul(x, ops.constant(weights), False, False), ops.constant(LINEAR_BIAS))
    return save(ov.Model([_name(y, "y")], [x], "linear"), path)


def score(path: Path, *, batch: int = -1) -> Path:
    """One value per row: ``score[batch] = sum(x * [1, 2, 3])`` for ``x[batch, 3]``."""
    x = ops.parameter([batch, 3], np.float32, name="x")
    weighted = ops.multiply(x, ops.constant(np.array([1.0, 2.0, 3.0], np.float32)))
    y = ops.reduce_sum(weighted, ops.constant(np.array([1], np.int64)), keep_dims=False)
    return save(ov.Model([_name(y, "score")], [x], "score"), path)


def multi_io(path: Path) -> Path:
    """Inputs ``image[?, 2, 4]`` (f32) and ``bias[?, 3]`` (f32); outputs ``total[?, 1]`` and ``logits[?, 10]``.

    ``total = sum(image) + sum(bias)``; ``logits = flatten(image) @ W + pad(bias)``.
    """
    image = ops.parameter([-1, 2, 4], np.float32, name="image")
    bias = ops.parameter([-1, 3], np.float32, name="bias")
    flat = ops.reshape(image, ops.constant(np.array([-1, 8], np.int64)), special_zero=False)
    total = ops.add(
        ops.reduce_sum(flat, ops.constant(np.array([1], np.int64)), keep_dims=True),
        ops.reduce_sum(bias, ops.constant(np.array([1], np.int64)), keep_dims=True),
    )
    weights = multi_io_weights()
    logits = ops.add(
        ops.matmul(flat, ops.constant(weights), False, False),
        ops.matmul(bias, ops.constant(np.ones((3, 10), np.float32)), False, False),
    )
    return save(ov.Model([_name(total, "total"), _name(logits, "logits")], [image, bias], "multi_io"), path)


def multi_io_weights() -> np.ndarray:
    return (np.arange(80, dtype=np.float32).reshape(8, 10) - 40.0) / 40.0


def int_input(path: Path) -> Path:
    """``doubled[?, 2] = ids * 2`` on an i32 input ``ids[?, 2]``."""
    ids = ops.parameter([-1, 2], np.int32, name="ids")
    y = ops.multiply(ids, ops.constant(np.array(2, np.int32)))
    return save(ov.Model([_name(y, "doubled")], [ids], "int_input"), path)


def one_hot(path: Path, *, depth: int = 10) -> Path:
    """``onehot[?, depth]`` from class ids ``ids[?, 1]`` (i32); ids outside ``[0, depth)`` make OpenVINO fail.

    A real data-dependent inference failure (GatherElements checks its indices),
    used to test per-row failure isolation.
    """
    ids = ops.parameter([-1, 1], np.int32, name="ids")
    rows = ops.gather(ops.shape_of(ids), ops.constant(np.array([0], np.int64)), ops.constant(np.array(0, np.int64)))
    classes = ops.constant(np.arange(depth, dtype=np.float32))
    table = ops.broadcast(classes, ops.concat([rows, ops.constant(np.array([depth], np.int64))], 0))
    checked = ops.gather_elements(table, ids, 1)  # raises for an id outside [0, depth)
    y = ops.convert(ops.equal(checked, classes), np.float32)
    return save(ov.Model([_name(y, "onehot")], [ids], "one_hot"), path)


def identity(path: Path, shape: list[int], element_type: str = "f32") -> Path:
    """``y = x + 0``: returns its input, of any shape the parameter allows."""
    x = ops.parameter(shape, getattr(ov.Type, element_type), name="x")
    zero = ops.constant(np.zeros((), dtype=getattr(ov.Type, element_type).to_dtype()))
    return save(ov.Model([_name(ops.add(x, zero), "y")], [x], "identity"), path)
