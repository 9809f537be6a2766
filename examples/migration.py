"""Migration: an Analytics Zoo / BigDL Orca OpenVINO script and its dask-openvino twin.

``ORCA_SCRIPT`` below is the Spark program as it was written for Analytics Zoo and
BigDL Orca (it is kept as text: it needs Spark, and those projects are retired), and
``DASK_SCRIPT`` is the same program on Dask; the example starts by printing the two
as a diff, line against line. ``main()`` then runs the Dask twin for real:
``InferenceModel`` and ``Estimator.from_openvino`` keep their names and arguments, a
Dask DataFrame takes the Spark DataFrame's place, and the native ``ddf.ov.predict``
call gives the same numbers. The model is a scikit-learn classifier trained on the
handwritten digits that ship with scikit-learn, converted to IR first (the Analytics
Zoo model optimizer's job).

Run it:

    python examples/migration.py --rows 100000
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import tempfile
import warnings
from contextlib import ExitStack
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, LocalCluster, progress
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from dask_openvino import ArgMax, Estimator, InferenceModel, convert

ORCA_SCRIPT = """
from zoo.pipeline.inference import InferenceModel
from bigdl.orca import init_orca_context, stop_orca_context
from bigdl.orca.learn.openvino import Estimator

sc = init_orca_context(cluster_mode="yarn", num_nodes=4, cores=8)    # Spark on YARN

# Analytics Zoo: one model, called from the driver
model = InferenceModel(supported_concurrent_num=2)
model.load_openvino("digits.xml", "digits.bin", batch_size=0)
probabilities = model.predict(features)                              # numpy in, numpy out

# BigDL Orca: the same model over a Spark DataFrame
df = spark.read.parquet("hdfs:///data/digits.parquet")
est = Estimator.from_openvino(model_path="digits.xml")
scored = est.predict(df, feature_cols=["pixels"], batch_size=256)    # adds a column per output
scored.write.parquet("hdfs:///data/scored.parquet")

stop_orca_context()
"""

DASK_SCRIPT = """
import dask.dataframe as dd
from dask_openvino import Estimator, InferenceModel
from distributed import Client

client = Client("tcp://scheduler:8786")                              # or LocalCluster(), or none

# Analytics Zoo: one model, called from the driver
model = InferenceModel(supported_concurrent_num=2)
model.load_openvino("digits.xml", "digits.bin", batch_size=0)
probabilities = model.predict(features)                              # numpy in, numpy out

# BigDL Orca: the same model over a Dask DataFrame (tensor columns are Arrow lists)
df = dd.read_parquet("s3://data/digits.parquet", dtype_backend="pyarrow")
est = Estimator.from_openvino(model_path="digits.xml")
scored = est.predict(df, feature_cols=["pixels"], batch_size=256)    # adds a column per output
scored.to_parquet("s3://data/scored.parquet")

client.close()
"""


def migration_diff() -> str:
    """``ORCA_SCRIPT`` against ``DASK_SCRIPT``, as a unified diff of the whole scripts."""
    lines = difflib.unified_diff(
        ORCA_SCRIPT.strip("\n").splitlines(),
        DASK_SCRIPT.strip("\n").splitlines(),
        "Analytics Zoo / BigDL Orca, on Spark",
        "dask-openvino, on Dask",
        n=100,
        lineterm="",
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows to score")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    parser.add_argument("--workdir", help="where to keep the model and data (default: a temporary directory)")
    args = parser.parse_args(argv)

    print("The Analytics Zoo / BigDL Orca script this example migrates, and its Dask twin:")
    print(migration_diff(), end="\n\n")
    with ExitStack() as stack:
        workdir = Path(args.workdir or stack.enter_context(tempfile.TemporaryDirectory()))

        # The model: train, then convert to IR (Analytics Zoo used the OpenVINO model optimizer for this).
        pixels, labels = load_digits(return_X_y=True)
        pixels = (pixels / 16).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0).fit(pixels, labels)
        xml = convert(classifier, workdir, name="digits").xml
        rng = np.random.default_rng(0)
        chosen = rng.integers(0, len(pixels), args.rows)
        features = pixels[chosen]

        # sc = init_orca_context(...)  ->  a Dask client (or none at all: local threads).
        if args.scheduler:
            client = stack.enter_context(Client(args.scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
        if importlib.util.find_spec("bokeh") is not None:  # the dashboard needs bokeh: pip install bokeh
            print("dashboard:", client.dashboard_link)

        # Analytics Zoo's InferenceModel: same class, same calls.
        model = InferenceModel(supported_concurrent_num=2)
        model.load_openvino(xml, xml.replace(".xml", ".bin"), batch_size=0)
        probabilities = model.predict(features)

        # BigDL Orca's Estimator over a DataFrame: a Dask DataFrame in place of Spark's.
        # Tensor columns are Arrow lists (pyarrow dtypes), one 64-value list of pixels per row.
        rows = pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), 64)
        pq.write_table(pa.table({"pixels": rows}), workdir / "digits.parquet", row_group_size=args.rows // 8 + 1)
        ddf = dd.read_parquet(workdir / "digits.parquet", dtype_backend="pyarrow", split_row_groups=True)
        est = Estimator.from_openvino(model_path=xml)
        scored = est.predict(ddf, feature_cols=["pixels"], batch_size=256)
        job = client.compute(scored[["probabilities"]].to_parquet(workdir / "scored.parquet", compute=False))
        progress(job)  # Dask's progress bar; returns once the job is done
        job.result()  # raises the job's error, if any

        # The native API, which the facade calls underneath; here with the class index as the result.
        native = ddf.ov.predict(xml, inputs="pixels", postprocess=ArgMax(), keep_input=False).compute()

        orca = pd.read_parquet(workdir / "scored.parquet", dtype_backend="pyarrow")
        orca_probabilities = np.stack(orca["probabilities"].to_numpy()).astype(np.float32)
        largest_difference = float(np.abs(orca_probabilities - probabilities).max())
        same_class = float(np.mean(native["prediction"].to_numpy() == probabilities.argmax(axis=1)))
        accuracy = float(np.mean(probabilities.argmax(axis=1) == labels[chosen]))
        print(f"InferenceModel.predict: {probabilities.shape} probabilities, accuracy {accuracy:.2%}")
        print(f"Estimator.predict on Dask: largest difference from InferenceModel {largest_difference:.2g}")
        print(f"ddf.ov.predict with ArgMax: same class as InferenceModel on {same_class:.2%} of the rows")
        return {"rows": float(len(native)), "difference": largest_difference, "same_class": same_class}


if __name__ == "__main__":
    main()
