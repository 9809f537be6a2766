"""Images: a directory of encoded images through the image preprocessing pipeline, top-k labels out.

Offline, with real images and a trained classifier:

- the images are scikit-learn's handwritten digits (8x8 grey), written as PNG files
  of assorted sizes (16 to 64 pixels a side), like photos of different resolutions;
- the classifier is a scikit-learn ``MLPClassifier`` trained on the digits, written as
  an OpenVINO image model that takes ``image[N, 1, 8, 8]`` (any image-classifier IR
  works the same way: ResNet at 224x224, MobileNet, ...).

A Dask DataFrame holds one path per row. The pipeline reads and decodes each file
and resizes it to 8x8 on the worker (Pillow), then scales the pixels inside the
compiled model (``ImageChannelNormalize``, baked in with OpenVINO's PrePostProcessor);
``TopK`` turns the class scores into the three most likely labels per image.

Run it:

    python examples/images.py --images 20000
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
from distributed import Client, LocalCluster, progress
from openvino import opset13 as ops
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import dask_openvino

LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def image_model(classifier: MLPClassifier, path: Path) -> Path:
    """Write the trained MLP as an OpenVINO model over ``image[N, 1, 8, 8]`` pixels in 0..1."""
    image = ops.parameter([-1, 1, 8, 8], np.float32, name="image")
    x = ops.reshape(image, ops.constant(np.array([-1, 64], np.int64)), special_zero=False)
    layers = list(zip(classifier.coefs_, classifier.intercepts_, strict=True))
    for number, (weights, bias) in enumerate(layers):
        x = ops.add(
            ops.matmul(x, ops.constant(weights.astype(np.float32)), False, False), ops.constant(bias.astype(np.float32))
        )
        x = ops.relu(x) if number < len(layers) - 1 else ops.softmax(x, 1)
    x.output(0).get_tensor().set_names({"probabilities"})
    ov.save_model(ov.Model([x.output(0)], [image], "digits"), path, compress_to_fp16=False)
    return path


def write_images(directory: Path, pixels: np.ndarray, labels: np.ndarray, count: int) -> pd.DataFrame:
    """Write ``count`` PNG files of randomly chosen digits at random sizes; return their paths and labels."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for number in range(count):
        chosen = int(rng.integers(len(pixels)))
        side = int(rng.integers(2, 9)) * 8
        grey = (pixels[chosen].reshape(8, 8) * (255 / 16)).round().astype(np.uint8)
        path = directory / f"{number:06d}.png"
        Image.fromarray(grey, mode="L").resize((side, side), Image.Resampling.NEAREST).save(path)
        rows.append((str(path), LABELS[labels[chosen]]))
    return pd.DataFrame(rows, columns=["path", "truth"])


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000, help="PNG files to write and classify")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    parser.add_argument("--workdir", help="where to keep the model and images (default: a temporary directory)")
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        workdir = Path(args.workdir or stack.enter_context(tempfile.TemporaryDirectory()))
        pixels, labels = load_digits(return_X_y=True)
        x_train, x_test, y_train, y_test = train_test_split(pixels, labels, test_size=0.5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier = MLPClassifier(hidden_layer_sizes=(128,), max_iter=60, random_state=0)
            classifier.fit(x_train / 16, y_train)
        model = image_model(classifier, workdir / "digits.xml")
        listing = write_images(workdir / "images", x_test, y_test, args.images)

        pipeline = dask_openvino.ChainedPreprocessing(
            [
                dask_openvino.ImageRead(),  # paths or fsspec URIs; ImageBytesToTensor() for a column of bytes
                dask_openvino.ImageResize(8, 8),
                dask_openvino.ImageChannelNormalize([0.0], [255.0]),  # 0..255 pixels to the 0..1 it was trained on
                dask_openvino.ImageMatToTensor(format="NCHW"),
            ]
        )
        if args.scheduler:
            client = stack.enter_context(Client(args.scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
        if importlib.util.find_spec("bokeh") is not None:  # the dashboard needs bokeh: pip install bokeh
            print("dashboard:", client.dashboard_link)
        paths = dd.from_pandas(listing, npartitions=args.partitions)
        scored = paths.ov.predict(
            model,
            inputs={"image": "path"},
            preprocess=pipeline,
            postprocess=dask_openvino.TopK(3, labels=LABELS),
            errors="null",  # an unreadable file gets null labels and a reason, instead of failing the job
        )
        start = time.perf_counter()
        job = client.compute(scored.to_parquet(workdir / "labels.parquet", compute=False))
        progress(job)  # Dask's progress bar; returns once the job is done
        job.result()  # raises the job's error, if any
        seconds = time.perf_counter() - start

        # pyarrow dtypes bring the top-k lists back as list columns (plain pandas cannot parse their dtype).
        result = pd.read_parquet(workdir / "labels.parquet", dtype_backend="pyarrow")
        truth = result["truth"].to_numpy()
        best = result["label"].list[0].to_numpy()
        top1 = float(np.mean(best == truth))
        top3 = float(np.mean([t in labels for t, labels in zip(truth, result["label"].tolist(), strict=True)]))
        print(result[["path", "truth", "label", "probability"]].head(5).to_string(index=False))
        print(f"classified {len(result):,} images in {seconds:.1f} s ({len(result) / seconds:,.0f} images/s)")
        failed = int(result["prediction_error"].notna().sum())
        print(f"top-1 accuracy {top1:.2%}, top-3 accuracy {top3:.2%}, unreadable images {failed}")
        return {"images": float(len(result)), "top1": top1, "top3": top3}


if __name__ == "__main__":
    main()
