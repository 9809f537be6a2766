"""Compile and batch policy: the OpenVINO properties and batch sizes used when the user gives none.

Both are decided from where the code runs (a ``distributed`` worker's thread count,
the model's ports), never tuned to one machine; the measurements behind each
default are in ``docs/performance.md`` and ``docs/tuning.md``. Properties the user
passes (``config=``) always win.
"""

from __future__ import annotations

import os

from dask_openvino.spec import PortInfo

__all__ = ["MAX_DEFAULT_BATCH_SIZE", "default_batch_size", "default_compile_config"]

MAX_DEFAULT_BATCH_SIZE = 4096
"""Upper bound of the default batch size for models with a dynamic batch dimension."""

_SMALL_ROW_BYTES = 1024
"""Rows up to this many input bytes (tabular features) get larger default batches."""

_SMALL_ROW_BATCH_BYTES = 1024 * 1024
_LARGE_ROW_BATCH_BYTES = 256 * 1024


def _worker_threads() -> int | None:
    """Threads of the ``distributed`` worker running this code, or None outside one.

    Inside ``client.run`` (a warm-up, say) ``get_worker()`` finds no worker, so the
    process's only live worker is used instead; without this, a model first compiled
    there would be cached with the settings for outside a worker.
    """
    try:
        from distributed import Worker, get_worker
    except ImportError:
        return None
    try:
        worker = get_worker()
    except ValueError:
        workers = [w for w in Worker._instances if w.status.name not in ("closed", "closing", "failed")]
        if len(workers) != 1:
            return None
        worker = workers[0]
    return int(worker.state.nthreads)


def default_compile_config(device: str) -> dict[str, str]:
    """Compile properties derived from where the model is compiled.

    On a ``distributed`` worker, OpenVINO gets as many threads as the worker has
    (Dask threads block while OpenVINO runs, so this does not oversubscribe) and
    CPU pinning is turned off: several worker processes on one host otherwise pin
    their threads to the same cores (measured in ``docs/tuning.md``). Elsewhere
    OpenVINO uses every core. The THROUGHPUT hint lets OpenVINO choose the number
    of streams.

    Inference runs in float32 (``INFERENCE_PRECISION_HINT=f32``), so predictions equal
    the framework's; OpenVINO's own default on CPUs with AVX512-BF16 is bfloat16,
    whose cost in accuracy and gain in speed ``docs/tuning.md`` measures.
    Properties in ``ModelSpec.config`` override these.

    Parameters
    ----------
    device : str
        The OpenVINO device; only "CPU" gets derived properties.

    Returns
    -------
    dict of str to str
    """
    if device != "CPU":
        return {"PERFORMANCE_HINT": "THROUGHPUT"}
    config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
    threads = _worker_threads()
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = str(min(threads, os.cpu_count() or threads))
        config["ENABLE_CPU_PINNING"] = "NO"
    return config


def default_batch_size(ports: tuple[PortInfo, ...]) -> int:
    """Return the batch size used when a user gives none.

    A static batch dimension wins. Otherwise rows of up to 1 KiB (tabular features)
    are batched by about 1 MiB of input, so a 64-feature float table runs 4096 rows a
    batch; larger rows (images, token sequences, whose activations grow much faster
    than their inputs) by about 256 KiB, so a 224x224 image runs one row a batch and
    a 128-token pair of int64 inputs 128. Always between 1 and
    [`MAX_DEFAULT_BATCH_SIZE`][dask_openvino.policy.MAX_DEFAULT_BATCH_SIZE] rows
    (``docs/batching.md`` has the measurements).

    Parameters
    ----------
    ports : tuple of PortInfo
        The model's inputs.

    Returns
    -------
    int
    """
    static = {p.batch_size for p in ports if p.batch_size is not None}
    if static:
        return static.pop() if len(static) == 1 else min(static)
    row_bytes = max(1, sum((p.row_size or 128) * p.dtype.itemsize for p in ports))
    target = _SMALL_ROW_BATCH_BYTES if row_bytes <= _SMALL_ROW_BYTES else _LARGE_ROW_BATCH_BYTES
    return max(1, min(MAX_DEFAULT_BATCH_SIZE, target // row_bytes))
