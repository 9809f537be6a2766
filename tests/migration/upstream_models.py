"""Small IRs with the port names and shapes of the models Analytics Zoo's and BigDL's tests downloaded.

Each is built with ``openvino.opset13`` and saved uncompressed (float32 weights).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

RESNET_OUTPUT = "resnet_v1_50/predictions/Softmax"


def _save(model: ov.Model, path: Path) -> Path:
    ov.save_model(model, path, compress_to_fp16=False)
    return path


def _named(node: ov.Node, name: str) -> ov.Output:
    out = node.output(0)
    out.set_names({name})
    return out


def resnet(path: Path, *, batch: int = 4, size: int = 224, classes: int = 1000) -> Path:
    """``openvino2020_resnet50/resnet_v1_50.xml``'s ports: input [4, 3, 224, 224] -> softmax [4, 1000]."""
    rng = np.random.default_rng(50)
    image = ops.parameter([batch, 3, size, size], np.float32, name="input")
    kernel = ops.constant(rng.normal(size=(16, 3, 7, 7)).astype(np.float32) / 10)
    conv = ops.relu(ops.convolution(image, kernel, [8, 8], [0, 0], [0, 0], [1, 1]))
    pooled = ops.reduce_mean(conv, ops.constant(np.array([2, 3], np.int64)), False)
    logits = ops.matmul(pooled, ops.constant(rng.normal(size=(16, classes)).astype(np.float32)), False, False)
    return _save(ov.Model([_named(ops.softmax(logits, 1), RESNET_OUTPUT)], [image], "resnet_v1_50"), path)


def roberta(path: Path, *, length: int = 128) -> Path:
    """``roberta/model.xml``'s ports: input_ids, attention_mask, token_type_ids [?, 128] (i64) -> output [?, 2]."""
    rng = np.random.default_rng(128)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    params = [ops.parameter([-1, length], np.int64, name=name) for name in names]
    terms = [
        ops.matmul(ops.convert(p, "f32"), ops.constant(rng.normal(size=(length, 2)).astype(np.float32)), False, False)
        for p in params
    ]
    total = ops.add(ops.add(terms[0], terms[1]), terms[2])
    return _save(ov.Model([_named(total, "output")], params, "roberta"), path)


MULTI_OUTPUTS = {"boxes": (6, 4), "classes": (6, 3), "masks": (6, 2), "score": (1,)}


def multi_output(path: Path, *, size: int = 550) -> Path:
    """``ov_multi_output/FP32/model_float32.xml``'s form: input [?, 3, 550, 550] -> four outputs, one [?, 1]."""
    rng = np.random.default_rng(4)
    image = ops.parameter([-1, 3, size, size], np.float32, name="input")
    pooled = ops.reduce_mean(image, ops.constant(np.array([2, 3], np.int64)), False)
    outputs = []
    for name, row in MULTI_OUTPUTS.items():
        width = int(np.prod(row))
        dense = ops.matmul(pooled, ops.constant(rng.normal(size=(3, width)).astype(np.float32)), False, False)
        shaped = ops.reshape(dense, ops.constant(np.array([-1, *row], np.int64)), False)
        outputs.append(_named(shaped, name))
    return _save(ov.Model(outputs, [image], "multi_output"), path)


def direct(xml: Path, feeds: dict[str, np.ndarray] | list[np.ndarray]) -> list[np.ndarray]:
    """Plain OpenVINO in f32: the reference every ported test compares against."""
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(feeds)
    return [result[port] for port in compiled.outputs]
