"""Analytics Zoo's VNNI ``InferenceModel`` example (ResNet-50, batches of 4), on Dask: only the imports changed.

Twin of ``pyzoo/zoo/examples/vnni/openvino/predict.py`` (Analytics Zoo HEAD and v0.11.2;
BigDL's ``python/orca/example/vnni/openvino/predict.py`` is the same with
``bigdl.orca.inference``, here ``dask_openvino.orca``). Upstream, side by side:

    from zoo.pipeline.inference import InferenceModel        | from dask_openvino.zoo import InferenceModel
    model = InferenceModel()
    model.load_openvino(model_path, weight_path=model_path[:model_path.rindex(".")] + ".bin",
                        batch_size=BATCH_SIZE)
    sc = init_nncontext("OpenVINO Python resnet_v1_50 ...")  | (no context)
    infer_transformer = ChainedPreprocessing([ImageBytesToMat(), ImageResize(256, 256),
                                              ImageCenterCrop(224, 224),
                                              ImageMatToTensor(format="NHWC", to_RGB=True)])
    image_set = ImageSet.read(img_path, sc)                  | image_set = [infer_transformer(b)
        .transform(infer_transformer).get_image().collect()  |              for b in read_jpegs(img_path)]
    (infer_transformer: the same four steps, a PIL function)
    image_set = np.expand_dims(image_set, axis=1)
    for i in range(len(image_set) // BATCH_SIZE + 1):        (the same batching loop, predict and Top-1)

dask-openvino's ``ChainedPreprocessing`` takes the same steps but runs inside ``.ov.predict``
on a column of encoded images (``docs/migration.md``); this script keeps upstream's loop over
arrays, so it decodes, resizes and crops with Pillow. Without ``--model`` it builds a small
IR with ResNet-50's ports (``[4, 224, 224, 3]`` -> ``[4, 1000]``); without ``--image`` it
encodes 6 random JPEGs.

Run: ``python examples/migration/vnni_predict.py``
"""

from __future__ import annotations

import glob
import io
import os
import sys
import tempfile
from optparse import OptionParser
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

from dask_openvino.zoo import InferenceModel

BATCH_SIZE = 4


def read_jpegs(path: str | None) -> list[bytes]:
    """The encoded images ``ImageSet.read`` would read, or 6 random JPEGs without ``path``."""
    if path:
        files = sorted(glob.glob(os.path.join(path, "*"))) if os.path.isdir(path) else [path]
        return [Path(f).read_bytes() for f in files]
    from PIL import Image

    rng = np.random.default_rng(1)
    encoded = []
    for _ in range(6):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)).save(buffer, format="JPEG")
        encoded.append(buffer.getvalue())
    return encoded


def infer_transformer(encoded: bytes) -> np.ndarray:
    """ImageBytesToMat, ImageResize(256, 256), ImageCenterCrop(224, 224), ImageMatToTensor("NHWC", to_RGB=True)."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB").resize((256, 256), Image.BILINEAR), np.float32)
    return image[16:240, 16:240, :]


def resnet_like_ir(path: Path) -> Path:
    """A small IR with ResNet-50's NHWC ports: ``[4, 224, 224, 3]`` -> softmax ``[4, 1000]``."""
    image = ops.parameter([BATCH_SIZE, 224, 224, 3], np.float32, name="input")
    pooled = ops.reduce_mean(image, ops.constant(np.array([1, 2], np.int64)), False)
    weights = ops.constant(np.random.default_rng(50).normal(size=(3, 1000)).astype(np.float32) / 64)
    out = ops.softmax(ops.matmul(pooled, weights, False, False), 1).output(0)
    out.set_names({"resnet_v1_50/predictions/Softmax"})
    ov.save_model(ov.Model([out], [image], "resnet_v1_50"), path, compress_to_fp16=False)
    return path


def predict(model_path: str, img_path: str | None) -> list[int]:
    model = InferenceModel()
    model.load_openvino(model_path, weight_path=model_path[: model_path.rindex(".")] + ".bin", batch_size=BATCH_SIZE)
    # pre-processing
    image_set = np.stack([infer_transformer(encoded) for encoded in read_jpegs(img_path)])
    image_set = np.expand_dims(image_set, axis=1)
    top1 = []
    for i in range(len(image_set) // BATCH_SIZE + 1):
        index = i * BATCH_SIZE
        # check whether out of index
        if index >= len(image_set):
            break
        batch = image_set[index]
        # put 4 images in one batch
        for j in range(index + 1, min(index + BATCH_SIZE, len(image_set))):
            batch = np.vstack((batch, image_set[j]))
        batch = np.expand_dims(batch, axis=0)
        # predict batch
        predictions = model.predict(batch)
        result = predictions[0]

        # post-processing for Top-1
        print("batch_" + str(i))
        for r in result:
            max_index = np.argmax(r)
            top1.append(int(max_index))
            print("* Predict result " + str({"Top-1": str(max_index)}))
    print("finished...")
    return top1


def main(argv: list[str] | None = None) -> list[int]:
    parser = OptionParser()
    parser.add_option("--image", type=str, dest="img_path", help="A folder of images or an image path")
    parser.add_option("--model", type=str, dest="model_path", help="Zoo Model Path")
    (options, _args) = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as tmp:
        return predict(options.model_path or str(resnet_like_ir(Path(tmp) / "resnet_v1_50.xml")), options.img_path)


if __name__ == "__main__":
    main()
