"""Analytics Zoo's OpenVINO ``InferenceModel`` example (object detection), on Dask: only the imports changed.

Twin of ``pyzoo/zoo/examples/openvino/predict.py`` (Analytics Zoo HEAD and v0.11.2; BigDL's
``python/orca/example/openvino/predict.py`` is the same with ``bigdl.orca.inference``, here
``dask_openvino.orca``). Upstream, side by side with this script:

    from zoo.pipeline.inference import InferenceModel        | from dask_openvino.zoo import InferenceModel
    sc = init_nncontext("OpenVINO Object Detection ...")     | (no context: predict runs in this process)
    images = ImageSet.read(options.img_path, sc,             | images = load_images(options.img_path, 600, 600)
        resize_height=600, resize_width=600)                 |
        .get_image().collect()                               |
    input_data = np.concatenate([image.reshape((1, 1) + image.shape) for image in images], axis=0)
    model = InferenceModel()
    model.load_openvino(model_path, weight_path=model_path[:model_path.rindex(".")] + ".bin")
    predictions = model.predict(input_data)
    print(predictions[0])
    sc.stop()                                                | (nothing to stop)

``input_data`` is ``[images, 1, 600, 600, 3]``: Analytics Zoo's ``[batches, rows, ...]`` form,
and the predictions come back as ``[images, 1, ...]``. Without ``--model`` it builds a small
IR with an SSD-style input ``[1, 600, 600, 3]`` and output ``[1, 1, 100, 7]``; without
``--image`` it uses random images.

Run: ``python examples/migration/openvino_predict.py``
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
from optparse import OptionParser
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

from dask_openvino.zoo import InferenceModel


def load_images(path: str | None, height: int, width: int) -> list[np.ndarray]:
    """``ImageSet.read(path, resize_height, resize_width)``: BGR HWC float images, or 2 random ones without ``path``."""
    if path:
        from PIL import Image

        files = sorted(glob.glob(os.path.join(path, "*"))) if os.path.isdir(path) else [path]
        images = []
        for f in files:
            with Image.open(f) as image:
                images.append(np.asarray(image.convert("RGB").resize((width, height)), np.float32)[:, :, ::-1])
        return images
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(height, width, 3)).astype(np.float32) for _ in range(2)]


def detector_like_ir(path: Path) -> Path:
    """A small IR with an SSD detector's ports: ``image_tensor[1, 600, 600, 3]`` -> ``detections[1, 1, 100, 7]``."""
    image = ops.parameter([1, 600, 600, 3], np.float32, name="image_tensor")
    pooled = ops.reduce_mean(image, ops.constant(np.array([1, 2], np.int64)), False)
    weights = ops.constant(np.random.default_rng(7).normal(size=(3, 700)).astype(np.float32) / 255)
    boxes = ops.reshape(ops.matmul(pooled, weights, False, False), ops.constant(np.array([1, 1, 100, 7])), False)
    out = boxes.output(0)
    out.set_names({"DetectionOutput"})
    ov.save_model(ov.Model([out], [image], "ssd"), path, compress_to_fp16=False)
    return path


def main(argv: list[str] | None = None) -> np.ndarray:
    parser = OptionParser()
    parser.add_option("--image", type=str, dest="img_path", help="A folder of images or an image path")
    parser.add_option("--model", type=str, dest="model_path", help="Path to the OpenVINO IR .xml")
    (options, _args) = parser.parse_args(sys.argv[1:] if argv is None else argv)

    with tempfile.TemporaryDirectory() as tmp:
        model_path = options.model_path or str(detector_like_ir(Path(tmp) / "frozen_inference_graph.xml"))
        images = load_images(options.img_path, 600, 600)
        input_data = np.concatenate([image.reshape((1, 1, *image.shape)) for image in images], axis=0)
        model = InferenceModel()
        model.load_openvino(model_path, weight_path=model_path[: model_path.rindex(".")] + ".bin")
        predictions = model.predict(input_data)
    # Print the detection result of the first image.
    print(predictions[0])
    print("finished...")
    return predictions


if __name__ == "__main__":
    main()
