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
import shutil
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
from dask_openvino.policy import default_batch_size, row_macs
from dask_openvino.spec import ModelSpec

_MAIN = "import sys; from openvino.tools.benchmark.main import main; sys.exit(main())"
"""benchmark_app's entry point, run with this interpreter (``python -m`` does not start it)."""

_PROPERTIES = ("INFERENCE_PRECISION_HINT", "NUM_STREAMS", "OPTIMAL_NUMBER_OF_INFER_REQUESTS", "ENABLE_CPU_PINNING")
"""The compiled model's properties benchmark_app prints that decide its speed."""

_SHORT_TYPES = {"bfloat16": "bf16", "float32": "f32", "float16": "f16"}


def benchmark_app(
    xml: str, feeds: dict[str, Path], shapes: dict[str, list[int]], types: dict[str, str], seconds: int
) -> dict[str, Any]:
    """Run ``benchmark_app -hint throughput`` on ``xml`` for ``seconds``; return its rows/s and settings.

    Rows/s is iterations x batch / duration: benchmark_app's own FPS counts one row
    per iteration where it cannot tell the batch axis (inputs of no declared layout).

    Raises
    ------
    RuntimeError
        If benchmark_app fails or prints no iteration count.
    """
    command = [sys.executable, "-c", _MAIN, "-m", xml, "-d", "CPU", "-hint", "throughput", "-t", str(seconds)]
    command += ["-shape", ",".join(f"{name}[{','.join(map(str, shape))}]" for name, shape in shapes.items())]
    command += ["-iop", ",".join(f"{name}:{kind}" for name, kind in types.items())]
    command += ["-i", ",".join(f"{name}:{path}" for name, path in feeds.items())]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    count = re.search(r"Count:\s+(\d+) iterations", done.stdout)
    duration = re.search(r"Duration:\s+([\d.]+) ms", done.stdout)
    if done.returncode != 0 or count is None or duration is None:
        raise RuntimeError(f"benchmark_app failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    batch = next(iter(shapes.values()))[0]
    settings = {}
    for name in _PROPERTIES:
        value = re.search(rf"^\[ INFO \]\s+{name}: (.+)$", done.stdout, flags=re.MULTILINE)
        if value:
            text = value.group(1).strip()  # element types print as <Type: 'bfloat16'>
            settings[name] = _SHORT_TYPES.get(text.removeprefix("<Type: '").removesuffix("'>"), text)
    return {"rows_per_second": int(count.group(1)) * batch / (float(duration.group(1)) / 1000), "settings": settings}


def against_benchmark_app(
    model: ModelFiles, dataset: Dataset, *, rounds: int, seconds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Alternate benchmark_app and one ``.ov.predict`` job (every argument default) over ``dataset``.

    Returns
    -------
    dict
        The model, the batch, both contenders' rows/s per round, the settings each
        compiled with, and the median per-round ratio ``.ov.predict`` / benchmark_app.
    """

    def score() -> None:
        columns = {name: name for name in model.inputs}
        job = read_parquet(dataset.path).ov.predict(model.fp32_xml, inputs=columns, keep_input=False)
        job.compute(scheduler="threads", num_workers=THREADS)

    spec = ModelSpec.from_path(model.fp32_xml)
    ports = spec.describe().inputs
    batch = default_batch_size(ports, row_macs(spec.read_model()))
    shapes = {p.name: [batch, *(d or 1 for d in (p.shape or ())[1:])] for p in ports}
    types = {p.name: p.element_type for p in ports}
    # One batch of the data set's own rows, as .npy files benchmark_app reads.
    folder = Path(tempfile.mkdtemp(prefix="benchmark-app-"))
    feeds = {}
    for name, values in load_arrays(dataset).items():
        feeds[name] = folder / f"{name}.npy"
        np.save(feeds[name], values[:batch])
    score()  # compiles in this process: the timed jobs find the model in the cache
    # The engine the job used: its own cache key (other cases cached other compiles of this IR).
    engine = dask_openvino.get_engine(*dask_openvino.WarmUp(model.fp32_xml, inputs=list(model.inputs)).engine_key())
    ours_settings = dict(engine.settings)
    mine: list[float] = []
    theirs: list[float] = []
    settings: dict[str, str] = {}
    for number in range(rounds):
        for contender in ("benchmark_app", "ov.predict") if number % 2 == 0 else ("ov.predict", "benchmark_app"):
            if contender == "benchmark_app":
                run = benchmark_app(model.fp32_xml, feeds, shapes, types, seconds)
                theirs.append(run["rows_per_second"])
                settings = run["settings"]
            else:
                started = time.perf_counter()
                score()
                mine.append(dataset.rows / (time.perf_counter() - started))
        log(f"  round {number + 1}/{rounds} {model.name}: benchmark_app {theirs[-1]:.1f}, ours {mine[-1]:.1f} rows/s")
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "model": model.name,
        "batch": batch,
        "rows": dataset.rows,
        "benchmark_app_seconds": seconds,
        "benchmark_app_rows_per_second": [round(v, 2) for v in theirs],
        "benchmark_app_settings": settings,
        "ov_predict_rows_per_second": [round(v, 2) for v in mine],
        "ov_predict_settings": ours_settings,
        "ratio": round(statistics.median(o / t for o, t in zip(mine, theirs, strict=True)), 3),
    }
