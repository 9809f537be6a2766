"""BigDL Orca's OpenVINO Estimator example (YOLO v3 outputs), on Dask: only the imports changed.

Twin of ``python/orca/example/learn/openvino/predict.py`` (BigDL v2.4.0) and of
``pyzoo/zoo/examples/orca/learn/openvino/predict.py`` (Analytics Zoo; the same script with
``from zoo.orca.learn.openvino import Estimator``, here ``from dask_openvino.zoo import
Estimator``). Upstream, side by side with this script:

    from bigdl.orca.learn.openvino import Estimator         | from dask_openvino.orca import Estimator
    from bigdl.orca import init_orca_context, ...           | from distributed import Client, LocalCluster
    ...                                                     |
    if args.cluster_mode == "local":                        | if args.cluster_mode == "local":
        init_orca_context(cores=args.core_num, ...)         |     pass  # no client: local threads
    elif args.cluster_mode.startswith("yarn"):              | elif args.cluster_mode == "dask":
        init_orca_context(cluster_mode=..., num_nodes=...)  |     client = Client(LocalCluster(n_workers=...))
    images = [cv2.imread(file) for file in glob.glob(...)]  | images = load_images(args.image_folder)
    images = [crop(img, 416, 416) for img in images]        | images = [crop(img, 416, 416) for img in images]
    ...                                                     | ...
    est = Estimator.from_openvino(model_path=args.model_path)
    result = est.predict(images, batch_size=args.batch_size)
    invalidInputError(isinstance(result, list), ...)        | assert isinstance(result, list)
    invalidInputError(result[0].shape == (args.data_num, 255, 13, 13), ...)   (the same three checks)
    stop_orca_context()                                     | client.close()

Without ``--model_path`` it builds a small IR with YOLO v3's ports (``[?, 3, 416, 416]`` ->
``[?, 255, 13, 13]``, ``[?, 255, 26, 26]``, ``[?, 255, 52, 52]``); without JPEGs in
``--image_folder`` it uses random images.

Run: ``python examples/migration/orca_openvino_predict.py --data_num 12 --batch_size 4``
"""

from __future__ import annotations

import argparse
import glob
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

from dask_openvino.orca import Estimator


def crop(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Upstream's ``crop``: the centre ``w`` x ``h`` of an HWC image, as CHW."""
    center = np.array(img.shape) / 2
    x = center[1] - w / 2
    y = center[0] - h / 2
    crop_img = img[int(y) : int(y + h), int(x) : int(x + w)]
    return np.transpose(crop_img, (2, 0, 1))


def load_images(folder: str) -> list[np.ndarray]:
    """``cv2.imread`` of every JPEG in ``folder`` (with Pillow), or 3 random 480x640 images when there are none."""
    files = sorted(glob.glob(folder + "/*.jpg"))
    if files:
        from PIL import Image

        images = []
        for file in files:
            with Image.open(file) as image:
                images.append(np.asarray(image.convert("RGB"))[:, :, ::-1])
        return images
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(480, 640, 3)).astype(np.float32) for _ in range(3)]


def yolo_like_ir(path: Path) -> Path:
    """A small IR with YOLO v3's input and output ports."""
    rng = np.random.default_rng(3)
    image = ops.parameter([-1, 3, 416, 416], np.float32, name="inputs")
    outputs = []
    for stride, name in (
        (32, "conv2d_58/Conv2D/YoloRegion"),
        (16, "conv2d_66/Conv2D/YoloRegion"),
        (8, "conv2d_74/Conv2D/YoloRegion"),
    ):
        pooled = ops.avg_pool(image, [stride, stride], [0, 0], [0, 0], [stride, stride], True)
        kernel = ops.constant(rng.normal(size=(255, 3, 1, 1)).astype(np.float32) / 255)
        out = ops.convolution(pooled, kernel, [1, 1], [0, 0], [0, 0], [1, 1]).output(0)
        out.set_names({name})
        outputs.append(out)
    ov.save_model(ov.Model(outputs, [image], "yolo_v3"), path, compress_to_fp16=False)
    return path


def main(argv: list[str] | None = None) -> list[np.ndarray]:
    parser = argparse.ArgumentParser(description="OpenVINO Estimator example (Dask)")
    parser.add_argument("--cluster_mode", type=str, default="local", help="local (threads) or dask (a LocalCluster).")
    parser.add_argument("--model_path", type=str, default=None, help="Path to the OpenVINO model file")
    parser.add_argument("--image_folder", type=str, default="./", help="The folder where the images are stored.")
    parser.add_argument("--core_num", type=int, default=4, help="Threads per worker (cluster_mode=dask).")
    parser.add_argument("--executor_num", type=int, default=2, help="Workers when cluster_mode=dask.")
    parser.add_argument("--data_num", type=int, default=12, help="The number of dummy data.")
    parser.add_argument("--batch_size", type=int, default=4, help="The batch size of inference.")
    args = parser.parse_args(argv)

    client = None
    if args.cluster_mode == "dask":
        from distributed import Client, LocalCluster

        client = Client(LocalCluster(n_workers=args.executor_num, threads_per_worker=args.core_num))
    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model_path or str(yolo_like_ir(Path(tmp) / "frozen_darknet_yolov3_model.xml"))
        images = [crop(img, 416, 416) for img in load_images(args.image_folder)]
        image_num = len(images)
        copy_time = math.ceil(args.data_num / image_num)
        images = images * copy_time
        images_array = np.array(images[: args.data_num])
        est = Estimator.from_openvino(model_path=model_path)
        start = time.time()
        result = est.predict(images_array, batch_size=args.batch_size)
        end = time.time()
    print("Throughput: ", args.data_num / (end - start))
    assert isinstance(result, list)
    assert result[0].shape == (args.data_num, 255, 13, 13)
    assert result[1].shape == (args.data_num, 255, 26, 26)
    assert result[2].shape == (args.data_num, 255, 52, 52)
    if client is not None:
        client.close()
    return result


if __name__ == "__main__":
    main()
