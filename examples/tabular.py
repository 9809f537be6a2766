"""Tabular: a scikit-learn model scored over a Parquet data set on a Dask cluster with OpenVINO.

The whole path, offline:

1. train a scikit-learn pipeline (standard scaling + logistic regression) on the
   breast-cancer data set that ships with scikit-learn (30 named feature columns);
2. convert it to OpenVINO IR in one call (``dask_openvino.convert``: skl2onnx to ONNX,
   then OpenVINO; classifiers give their class probabilities);
3. write held-out rows, repeated with a little noise to ``--rows`` rows, as Parquet;
4. score the Parquet files on a ``distributed.LocalCluster`` (or ``--scheduler``)
   with ``ddf.ov.predict`` and write the predictions back to Parquet;
5. check the predictions against scikit-learn's own ``predict`` on the same rows.

Run it:

    python examples/tabular.py --rows 1000000
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, progress
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import dask_openvino


def write_rows(directory: Path, features: pd.DataFrame, labels: pd.Series, rows: int, files: int) -> None:
    """Write ``rows`` noisy copies of the held-out rows as ``files`` Parquet files."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    scale = features.std().to_numpy() * 0.05
    for number, size in enumerate(np.diff(np.linspace(0, rows, files + 1).astype(int))):
        chosen = rng.integers(0, len(features), size)
        noisy = features.to_numpy()[chosen] + rng.normal(size=(size, features.shape[1])) * scale
        part = pd.DataFrame(noisy.astype(np.float32), columns=features.columns)
        part["label"] = labels.to_numpy()[chosen]
        part.to_parquet(directory / f"part.{number}.parquet")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to score")
    parser.add_argument("--files", type=int, default=8, help="Parquet files (= partitions)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    parser.add_argument("--workdir", help="where to keep the model and data (default: a temporary directory)")
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        workdir = Path(args.workdir or stack.enter_context(tempfile.TemporaryDirectory()))

        # 1. Train.
        features, labels = load_breast_cancer(return_X_y=True, as_frame=True)
        x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.3, random_state=0)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)

        # 2. Convert: one call from the fitted pipeline to an IR on disk.
        spec = dask_openvino.convert(model, workdir / "model", name="breast_cancer")
        print(spec.describe())

        # 3. Data: held-out rows, enlarged.
        data = workdir / "rows.parquet"
        write_rows(data, x_test, y_test, args.rows, args.files)

        # 4. Score on a cluster; the workers read the Parquet files and compile the model once each.
        if args.scheduler:
            client = stack.enter_context(Client(args.scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
        if importlib.util.find_spec("bokeh") is not None:  # the dashboard needs bokeh: pip install bokeh
            print("dashboard:", client.dashboard_link)
        ddf = dd.read_parquet(data)
        feature_columns = list(x_test.columns)  # Analytics Zoo's feature_cols: stacked into the model's input
        # dask-openvino computes in float32, so the labels reproduce scikit-learn's.
        scored = ddf.ov.predict(spec, inputs=feature_columns, postprocess=dask_openvino.ArgMax())
        start = time.perf_counter()
        job = client.compute(scored[["label", "prediction"]].to_parquet(workdir / "scored.parquet", compute=False))
        progress(job)  # Dask's progress bar; returns once the job is done
        job.result()  # raises the job's error, if any
        seconds = time.perf_counter() - start

        # 5. Check against scikit-learn on the same rows (the classes are 0 and 1, so the
        #    arg-max index is the class).
        result = pd.read_parquet(workdir / "scored.parquet")
        rows = pd.read_parquet(data)
        expected = model.predict(rows[feature_columns])
        predicted = result["prediction"].to_numpy()
        agreement = float(np.mean(predicted == expected))
        accuracy = float(np.mean(predicted == result["label"].to_numpy()))
        sklearn_accuracy = float(np.mean(expected == rows["label"].to_numpy()))
        print(f"scored {len(result):,} rows in {seconds:.1f} s ({len(result) / seconds:,.0f} rows/s, with Parquet I/O)")
        print(f"accuracy: OpenVINO {accuracy:.4%}, scikit-learn {sklearn_accuracy:.4%}")
        print(f"same prediction as scikit-learn on {agreement:.4%} of the rows")
        return {
            "rows": float(len(result)),
            "accuracy": accuracy,
            "sklearn_accuracy": sklearn_accuracy,
            "agreement": agreement,
        }


if __name__ == "__main__":
    main()
