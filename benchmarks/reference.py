"""OpenVINO's own ``benchmark_app -hint throughput`` against ``.ov.predict`` in its default precision.

The speed issue's target: ``.ov.predict`` with every default (precision ``"auto"``,
streams, requests, batch) within 10% of what ``benchmark_app -hint throughput`` reaches
with OpenVINO's own defaults (its inference precision, streams, requests and CPU
pinning) on the same IR and CPU. benchmark_app runs its infer requests back to back on
one set of input tensors for a fixed time and reports their throughput;
``.ov.predict`` scores a Parquet data set on the threaded scheduler, timed from the
graph to the result, large enough that a job's fixed costs (graph, first and last
batches) are a small share. benchmark_app is given the batch ``.ov.predict`` runs, the
inputs' element types (it would feed images as u8 otherwise) and one batch of the data
set's own rows. The two alternate,
round by round; the ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import dask_openvino
from benchmarks.data import Dataset, load_arrays
from benchmarks.models import ModelFiles
from benchmarks.suite import THREADS, read_parquet
from dask_openvino.spec import ModelSpec

_MAIN = "import sys; from openvino.tools.benchmark.main import main; sys.exit(main())"
"""benchmark_app's entry point, run with this interpreter (``python -m`` does not start it)."""

_PROPERTIES = ("INFERENCE_PRECISION_HINT", "NUM_STREAMS", "OPTIMAL_NUMBER_OF_INFER_REQUESTS", "ENABLE_CPU_PINNING")
"""The compiled model's properties benchmark_app prints that decide its speed."""

_SHORT_TYPES = {"bfloat16": "bf16", "float32": "f32", "float16": "f16"}
"""benchmark_app prints element types as ``<Type: 'bfloat16'>``; the report uses OpenVINO's short names."""


def benchmark_app(
    xml: str, feeds: dict[str, Path], shapes: dict[str, list[int]], types: dict[str, str], seconds: int
) -> dict[str, Any]:
    """Run ``benchmark_app -hint throughput`` on ``xml`` for ``seconds``; return its rows/s and settings.

    Rows/s is iterations x batch / duration: benchmark_app's own FPS counts one row
    per iteration where it cannot tell the batch axis (inputs of no declared layout).

    Parameters
    ----------
    xml : str
        The IR.
    feeds : dict of str to Path
        Input name -> a ``.npy`` file holding one batch.
    shapes : dict of str to list of int
        Input name -> its shape, the batch first (benchmark_app reshapes the model to it).
    types : dict of str to str
        Input name -> its element type (``f32``, ``i64``).
    seconds : int
        How long benchmark_app runs.

    Returns
    -------
    dict
        ``rows_per_second`` and ``settings`` (the compiled model's properties it printed).

    Raises
    ------
    RuntimeError
        If benchmark_app fails, runs far past ``seconds`` or prints no iteration count.
    """
    command = [sys.executable, "-c", _MAIN, "-m", xml, "-d", "CPU", "-hint", "throughput", "-t", str(seconds)]
    command += ["-shape", ",".join(f"{name}[{','.join(map(str, shape))}]" for name, shape in shapes.items())]
    command += ["-iop", ",".join(f"{name}:{kind}" for name, kind in types.items())]
    command += ["-i", ",".join(f"{name}:{path}" for name, path in feeds.items())]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 120)
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"benchmark_app ran for more than {seconds + 120} s") from err
    count = re.search(r"Count:\s+(\d+) iterations", done.stdout)
    duration = re.search(r"Duration:\s+([\d.]+) ms", done.stdout)
    if done.returncode != 0 or count is None or duration is None:
        raise RuntimeError(f"benchmark_app failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    batch = next(iter(shapes.values()))[0]
    settings = {}
    for name in _PROPERTIES:
        value = re.search(rf"^\[ INFO \]\s+{name}: (.+)$", done.stdout, flags=re.MULTILINE)
        if value:
            text = value.group(1).strip()
            settings[name] = _SHORT_TYPES.get(text.removeprefix("<Type: '").removesuffix("'>"), text)
    return {"rows_per_second": int(count.group(1)) * batch / (float(duration.group(1)) / 1000), "settings": settings}


def against_benchmark_app(
    model: ModelFiles, dataset: Dataset, *, rounds: int, seconds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Alternate benchmark_app and one ``.ov.predict`` job over ``dataset``, its compile arguments all default.

    The job names its input columns and drops them from the result (``keep_input=False``),
    as every harness case does; precision, batch, streams and threads are left to
    dask-openvino. The process's compiled models are dropped first, so the job's engine
    is the only one there, as in benchmark_app's fresh process.

    Parameters
    ----------
    model : ModelFiles
        The model (its FP32 IR is scored).
    dataset : Dataset
        The Parquet data set ``.ov.predict`` reads; its first batch feeds benchmark_app.
    rounds : int
        Rounds; the order of the two alternates.
    seconds : int
        benchmark_app's run per round.
    log : callable
        Takes one progress line per round.

    Returns
    -------
    dict
        The model, the batch, both contenders' rows/s per round, the settings each
        compiled with, and the median per-round ratio ``.ov.predict`` / benchmark_app;
        or the model and ``error`` when benchmark_app failed (the run goes on).
    """

    def score() -> None:
        columns = {name: name for name in model.inputs}
        job = read_parquet(dataset.path).ov.predict(model.fp32_xml, inputs=columns, keep_input=False)
        job.compute(scheduler="threads", num_workers=THREADS)

    types = {p.name: p.element_type for p in ModelSpec.from_path(model.fp32_xml).describe().inputs}
    dask_openvino.clear_cache()
    score()  # compiles in this process: the timed jobs find the model in the cache
    # The engine the job used (its own cache key), and the batch it splits a partition into.
    engine = dask_openvino.get_engine(*dask_openvino.WarmUp(model.fp32_xml, inputs=list(model.inputs)).engine_key())
    batch = engine.batch_rows(dataset.rows_per_partition)
    mine: list[float] = []
    theirs: list[float] = []
    settings: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="benchmark-app-") as folder:
        # One batch of the data set's own rows, as .npy files benchmark_app reads.
        feeds, shapes = {}, {}
        for name, values in load_arrays(dataset).items():
            feeds[name] = Path(folder) / f"{name}.npy"
            np.save(feeds[name], values[:batch])
            shapes[name] = list(values[:batch].shape)
        try:
            for number in range(rounds):
                order = ("benchmark_app", "ov.predict") if number % 2 == 0 else ("ov.predict", "benchmark_app")
                for contender in order:
                    if contender == "benchmark_app":
                        run = benchmark_app(model.fp32_xml, feeds, shapes, types, seconds)
                        theirs.append(run["rows_per_second"])
                        settings = run["settings"]
                    else:
                        started = time.perf_counter()
                        score()
                        mine.append(dataset.rows / (time.perf_counter() - started))
                log(f"  round {number + 1}/{rounds} {model.name}: benchmark_app {theirs[-1]:.1f}, ours {mine[-1]:.1f}")
        except RuntimeError as err:
            log(f"  {model.name}: {err}")
            return {"model": model.name, "error": str(err)}
    return {
        "model": model.name,
        "batch": batch,
        "rows": dataset.rows,
        "benchmark_app_seconds": seconds,
        "benchmark_app_rows_per_second": [round(v, 2) for v in theirs],
        "benchmark_app_settings": settings,
        "ov_predict_rows_per_second": [round(v, 2) for v in mine],
        "ov_predict_settings": dict(engine.settings),
        "ratio": round(statistics.median(o / t for o, t in zip(mine, theirs, strict=True)), 3),
    }
