"""`dask-openvino demo`: a real model, trained, converted and scored end to end, offline.

The demo trains a scikit-learn `MLPClassifier` on the handwritten digits that
ship with scikit-learn, converts it to OpenVINO IR with
[`convert`][dask_openvino.convert.convert] (and to INT8 with
[`quantize`][dask_openvino.quantize.quantize] when NNCF is installed), writes the
held-out digits, repeated with pixel noise to a million rows, as Parquet, and
scores them on a `distributed.LocalCluster` through `ddf.ov.predict` with a
live progress bar, once in the default precision (`"auto"`: bf16 where the CPU
runs it faster) and once in INT8. It prints accuracy against the true labels, the
share of rows whose digit agrees with scikit-learn's own prediction, throughput,
and the speedup over scikit-learn's `predict` on the same rows.

Everything the demo runs is public API; read [`run_demo`][dask_openvino.demo.run_demo] as a worked example.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from dask_openvino.cache import cache_info
from dask_openvino.cluster import ClusterOptions, connect
from dask_openvino.errors import MissingDependencyError
from dask_openvino.postprocessing import ArgMax
from dask_openvino.progress import Completed, track
from dask_openvino.spec import ModelSpec

__all__ = ["DemoOptions", "DemoResult", "DemoRun", "partition_accuracy", "run_demo", "write_digits"]

_PIXELS = 64
_ROWS_PER_FILE = 62_500
_NOISE = 0.1
_BASELINE_ROWS = 250_000
"""scikit-learn scores at least this many of the rows (whole files), or all of them if fewer."""


@dataclass(frozen=True)
class DemoOptions:
    """How big the demo is and where it keeps its files.

    Attributes
    ----------
    rows : int
        Rows of the enlarged data set to score.
    quick : bool
        Train a smaller network for fewer iterations (for tests and a first look).
    int8 : bool
        Also quantize to INT8 and score with that model (needs NNCF).
    workdir : str or None
        Directory for the model and data; `None` for a temporary one removed at the end.
    seed : int
        Seed of the split, the network and the noise.

    Examples
    --------
    >>> DemoOptions(rows=20_000, quick=True).rows
    20000
    """

    rows: int = 1_000_000
    quick: bool = False
    int8: bool = True
    workdir: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class DemoRun:
    """One way of scoring the demo data and how it did.

    Attributes
    ----------
    name : str
        What scored the rows.
    accuracy : float
        Share of rows whose predicted digit equals the label.
    rows : int
        Rows scored.
    seconds : float
        Wall time of the scoring.
    agreement : float or None
        Share of the rows scikit-learn also scored whose predicted digit equals
        scikit-learn's; None for scikit-learn itself.

    Examples
    --------
    >>> DemoRun("scikit-learn", accuracy=0.96, rows=1000, seconds=0.5).rows_per_second
    2000.0
    """

    name: str
    accuracy: float
    rows: int
    seconds: float
    agreement: float | None = None

    @property
    def rows_per_second(self) -> float:
        """Throughput of this run."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class DemoResult:
    """Everything the demo measured.

    Attributes
    ----------
    baseline : DemoRun
        scikit-learn's own `predict` on the same rows, in memory.
    runs : tuple of DemoRun
        dask-openvino runs: the IR converted in float32 and compiled in the default
        precision, then INT8 when it was made.
    int8_skipped : str or None
        Why there is no INT8 run, when there is none.

    Examples
    --------
    >>> base = DemoRun("scikit-learn", 0.96, 1000, 1.0)
    >>> DemoResult(base, (DemoRun("OpenVINO FP32", 0.96, 1000, 0.25),)).speedups()
    [4.0]
    """

    baseline: DemoRun
    runs: tuple[DemoRun, ...]
    int8_skipped: str | None = None

    def speedups(self) -> list[float]:
        """Throughput of each run over the baseline's."""
        base = self.baseline.rows_per_second
        return [run.rows_per_second / base if base else 0.0 for run in self.runs]


def _train(quick: bool, seed: int) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """Train on half the digits; return the model, training pixels and the held-out half."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    pixels, labels = load_digits(return_X_y=True)
    pixels = (pixels / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, labels, test_size=0.5, random_state=seed, stratify=labels
    )
    hidden, iterations = ((64,), 30) if quick else ((1024, 512), 30)
    model = MLPClassifier(hidden_layer_sizes=hidden, max_iter=iterations, random_state=seed)
    with warnings.catch_warnings():
        # A few dozen epochs reach ~97% on held-out digits; full convergence adds nothing to a demo.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    return model, x_train, x_test, y_test.astype(np.int64)


def write_digits(
    directory: Path, pixels: np.ndarray, labels: np.ndarray, *, rows: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Write `rows` noisy copies of the digits as 8-bit images in Parquet files, one partition each.

    Each row is a randomly chosen digit plus Gaussian pixel noise (standard
    deviation 0.1 on the 0..1 scale), clipped to 0..1 and stored as 8-bit pixels
    (0..255), as images are. Columns: `pixels`, a fixed-size list of 64 uint8
    values, and `label`, the true digit.

    Parameters
    ----------
    directory : pathlib.Path
        Created; receives `part.<n>.parquet`.
    pixels : numpy.ndarray
        `[n, 64]` digits on the 0..1 scale to draw from.
    labels : numpy.ndarray
        Their labels.
    rows : int
        Rows to write in total.
    seed : int, default 0
        Seed of the draw and the noise.

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        The uint8 pixels and labels of each file, in file order.

    Examples
    --------
    >>> from sklearn.datasets import load_digits  # doctest: +SKIP
    >>> x, y = load_digits(return_X_y=True)  # doctest: +SKIP
    >>> parts = write_digits(Path("digits"), (x / 16).astype("float32"), y, rows=100_000)  # doctest: +SKIP
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = max(2, -(-rows // _ROWS_PER_FILE))
    sizes = np.diff(np.linspace(0, rows, files + 1).astype(np.int64))
    parts = []
    for number, size in enumerate(sizes):
        chosen = rng.integers(0, len(pixels), int(size))
        noisy = pixels[chosen] + rng.normal(0.0, _NOISE, (int(size), _PIXELS))
        eight_bit = np.round(np.clip(noisy, 0.0, 1.0) * 255).astype(np.uint8)
        table = pa.table(
            {
                "pixels": pa.FixedSizeListArray.from_arrays(pa.array(eight_bit.reshape(-1)), _PIXELS),
                "label": pa.array(labels[chosen]),
            }
        )
        pq.write_table(table, directory / f"part.{number}.parquet")
        parts.append((eight_bit, labels[chosen]))
    return parts


def partition_accuracy(
    frame: pd.DataFrame, reference: tuple[np.ndarray, ...] = (), partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Count rows, correct predictions and agreements with a reference of one scored partition.

    `frame` has the predicted digit in `prediction` (`.ov.predict` with
    `postprocess=ArgMax()`) and the true digit in `label`. Dask passes
    `partition_info` to `map_partitions` functions that accept it; partition
    `number` is compared with `reference[number]` when there is one.

    Parameters
    ----------
    frame : pandas.DataFrame
        A partition scored by `.ov.predict`.
    reference : tuple of numpy.ndarray, optional
        Another model's predicted digits for the first partitions, one array each.
    partition_info : dict, optional
        Filled in by Dask: the partition's `number`.

    Returns
    -------
    pandas.DataFrame
        One row: `rows`, `correct`, and `compared` and `agreeing` (0 and 0 without a
        reference for this partition).

    Examples
    --------
    >>> partition_accuracy(pd.DataFrame({"prediction": [1, 0, 7], "label": [1, 1, 7]}))
       rows  correct  compared  agreeing
    0     3        2         0         0
    >>> frame = pd.DataFrame({"prediction": [1, 0, 7], "label": [1, 1, 7]})
    >>> partition_accuracy(frame, (np.array([1, 1, 7]),), {"number": 0})
       rows  correct  compared  agreeing
    0     3        2         3         2
    """
    predicted = frame["prediction"].to_numpy()
    correct = int((predicted == frame["label"].to_numpy()).sum())
    number = (partition_info or {}).get("number")
    compared = agreeing = 0
    if number is not None and number < len(reference) and len(reference[number]) == len(frame):
        compared, agreeing = len(frame), int((predicted == reference[number]).sum())
    return pd.DataFrame({"rows": [len(frame)], "correct": [correct], "compared": [compared], "agreeing": [agreeing]})


def _sklearn_run(
    model: Any, parts: list[tuple[np.ndarray, np.ndarray]], limit: int
) -> tuple[DemoRun, tuple[np.ndarray, ...]]:
    """Score the first files, `limit` rows or more, with scikit-learn's own predict, in memory.

    Returns the run and scikit-learn's predicted digits for each file it scored.
    """
    correct = rows = 0
    predicted = []
    start = time.perf_counter()
    for pixels, labels in parts:
        predicted.append(model.predict(pixels / np.float32(255)))
        correct += int((predicted[-1] == labels).sum())
        rows += len(labels)
        if rows >= limit:
            break
    run = DemoRun("scikit-learn predict, in memory", correct / rows, rows, time.perf_counter() - start)
    return run, tuple(np.asarray(p, dtype=np.int64) for p in predicted)


def _score(
    name: str, spec: ModelSpec, data: Path, reference: tuple[np.ndarray, ...], client: Any, console: Console
) -> DemoRun:
    # pyarrow dtypes keep the fixed-size list column in Arrow buffers instead of one numpy array per row.
    frame = dd.read_parquet(str(data), dtype_backend="pyarrow")
    scored = frame.ov.predict(spec, inputs="pixels", postprocess=ArgMax())
    stats = scored.map_partitions(
        partition_accuracy,
        reference,
        meta={"rows": "int64", "correct": "int64", "compared": "int64", "agreeing": "int64"},
    )
    done: Completed[pd.DataFrame] = track(
        client.compute(stats.to_delayed()),
        rows=lambda part: int(part["rows"].iloc[0]),
        description=name,
        console=console,
    )
    correct = sum(int(part["correct"].iloc[0]) for part in done.results)
    compared = sum(int(part["compared"].iloc[0]) for part in done.results)
    agreeing = sum(int(part["agreeing"].iloc[0]) for part in done.results)
    compiled = sorted(
        {
            engine.get("INFERENCE_PRECISION_HINT", "?")
            for info in client.run(cache_info).values()
            for engine in info.engines
            if engine.get("model") == spec.xml
        }
    )
    label = f"dask-openvino {name} IR ({'/'.join(compiled) or '?'}), from Parquet"
    agreement = agreeing / compared if compared else None
    return DemoRun(label, correct / max(done.rows, 1), done.rows, done.seconds, agreement)


def _quantize(spec: ModelSpec, calibration: np.ndarray, directory: Path) -> ModelSpec:
    from dask_openvino.quantize import quantize

    # Calibrate on what the model will see: 8-bit pixel values (the model divides by 255 itself).
    values = pa.FixedSizeListArray.from_arrays(pa.array((calibration * 255).astype(np.float32).reshape(-1)), _PIXELS)
    frame = pd.DataFrame({"pixels": pd.arrays.ArrowExtensionArray(values)})
    return quantize(spec, frame, inputs="pixels", output_dir=directory)


@contextmanager
def _step(console: Console, doing: str) -> Iterator[Callable[[str], None]]:
    """Show `doing` with a spinner, then a line with its wall time and what `note` was given."""
    notes: list[str] = []
    start = time.perf_counter()
    with console.status(doing):
        yield notes.append
    detail = f": {'; '.join(notes)}" if notes else ""
    console.print(f"{doing} [dim]({time.perf_counter() - start:.1f} s)[/dim]{detail}", soft_wrap=True)


def _times(ratio: float) -> str:
    """Write a speedup with two significant digits below 10, trailing zeros kept (1.0x, 0.99x, 0.047x), else 12.3x."""
    digits = f"{ratio:#.2g}"  # 0.996 -> "1.0"; 9.96 -> "10.", written as 10.0 below
    return f"{digits}x" if ratio < 10 and not digits.endswith(".") else f"{ratio:.1f}x"


def _report(result: DemoResult, console: Console) -> None:
    table = Table(title="Handwritten digits, held-out, with pixel noise")
    table.add_column("scored by")
    table.add_column("accuracy", justify="right")
    table.add_column("agreement", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_column("speedup", justify="right")
    base = result.baseline
    table.add_row(base.name, f"{base.accuracy:.2%}", "", f"{base.rows_per_second:,.0f}", "1.0x")
    for run, speedup in zip(result.runs, result.speedups(), strict=True):
        agreement = "" if run.agreement is None else f"{run.agreement:.2%}"
        table.add_row(run.name, f"{run.accuracy:.2%}", agreement, f"{run.rows_per_second:,.0f}", _times(speedup))
    console.print(table)
    console.print(
        f"Agreement: the share of the {base.rows:,} rows scikit-learn scored whose digit equals its prediction.",
        soft_wrap=True,
    )
    if base.rows < result.runs[0].rows:
        console.print(f"scikit-learn scored the first {base.rows:,} rows; dask-openvino all {result.runs[0].rows:,}.")
    if result.int8_skipped:
        console.print(f"INT8 skipped: {result.int8_skipped}")


def run_demo(options: DemoOptions, cluster: ClusterOptions, console: Console) -> DemoResult:
    """Train, convert, quantize and score the digits demo; print and return what it measured.

    Parameters
    ----------
    options : DemoOptions
        Size and location.
    cluster : ClusterOptions
        Where to score (a local cluster by default).
    console : rich.console.Console
        Where to print progress and the results.

    Returns
    -------
    DemoResult

    Raises
    ------
    MissingDependencyError
        If scikit-learn or skl2onnx is missing (`pip install "dask-openvino[demo]"`).

    Examples
    --------
    >>> from rich.console import Console
    >>> result = run_demo(DemoOptions(rows=20_000, quick=True), ClusterOptions(), Console())  # doctest: +SKIP
    >>> result.runs[0].accuracy > 0.9  # doctest: +SKIP
    True
    """
    try:
        from dask_openvino.convert import convert
    except ImportError as err:
        raise MissingDependencyError(f"the demo needs {err.name}: pip install 'dask-openvino[demo]'") from err
    with ExitStack() as stack:
        if options.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dask-openvino-demo-")))
        else:
            workdir = Path(options.workdir)
        data = workdir / "digits.parquet"
        console.rule("dask-openvino demo")
        with _step(console, "Training an MLPClassifier on scikit-learn's digits") as note:
            model, x_train, x_test, y_test = _train(options.quick, options.seed)
            note(f"hidden layers {model.hidden_layer_sizes}, {len(x_train)} training images")
        with _step(console, f"Writing {options.rows:,} noisy held-out digits as 8-bit images in Parquet") as note:
            parts = write_digits(data, x_test, y_test, rows=options.rows, seed=options.seed)
            note(f"{data}, {len(parts)} files")
        with _step(console, "Scoring with scikit-learn's own predict") as note:
            baseline, reference = _sklearn_run(model, parts, _BASELINE_ROWS)
            note(f"{baseline.rows_per_second:,.0f} rows/s")
        del parts
        with _step(console, "Converting to OpenVINO IR") as note:
            # The network was trained on 0..1 pixels; dividing the 8-bit pixels by 255 becomes part of the model.
            fp32 = convert(model, workdir / "fp32", name="digits_mlp", scale_values=255.0)
            note(fp32.xml)
        models = [("FP32", fp32)]  # compiled in the default precision (bf16 where that is faster)
        skipped = None if options.int8 else "--no-int8"
        if options.int8:
            try:
                with _step(console, "Quantizing to INT8 with NNCF") as note:
                    models.append(("INT8", _quantize(fp32, x_train, workdir / "int8")))
                    note(models[-1][1].xml)
            except ImportError as err:  # MissingDependencyError (no NNCF) is an ImportError
                skipped = str(err)

        runs = []
        with connect(cluster, console) as client:
            for name, spec in models:
                runs.append(_score(name, spec, data, reference, client, console))
        result = DemoResult(baseline=baseline, runs=tuple(runs), int8_skipped=skipped)
        _report(result, console)
        return result
