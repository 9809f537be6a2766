"""Compile and batch policy: the precision, OpenVINO properties and batch sizes used when the user gives none.

Each is decided from where the model is compiled (the worker's CPU features and
OpenVINO's ``OPTIMIZATION_CAPABILITIES``, a ``distributed`` worker's thread count,
the model's ports), never tuned to one machine; the measurements behind each
default are in ``docs/performance.md`` and ``docs/tuning.md``. Properties the user
passes (``config=``) always win.

Precision: ``precision=`` takes one of [`PRECISIONS`][dask_openvino.policy.PRECISIONS];
its default comes from Dask's configuration (``openvino.precision``, ``"auto"``
unless set, or ``DASK_OPENVINO__PRECISION`` in the environment). ``"auto"`` is
resolved on each worker by [`choose_precision`][dask_openvino.policy.choose_precision].
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dask.config

from dask_openvino import state

if TYPE_CHECKING:
    from dask_openvino.spec import PortInfo

__all__ = [
    "MAX_DEFAULT_BATCH_SIZE",
    "PRECISIONS",
    "CpuFeatures",
    "choose_precision",
    "cpu_features",
    "default_batch_size",
    "default_compile_config",
    "requested_precision",
]

PRECISIONS = ("auto", "f32", "bf16", "f16")
"""What ``precision=`` accepts: ``"auto"`` (decided per worker), or a fixed inference precision."""

dask.config.update_defaults({"openvino": {"precision": "auto"}})

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


def requested_precision(precision: str | None) -> str:
    """Return the precision asked for: ``precision``, or Dask's ``openvino.precision`` setting when None.

    Raises
    ------
    ValueError
        If it is not one of [`PRECISIONS`][dask_openvino.policy.PRECISIONS].

    Examples
    --------
    >>> requested_precision("bf16")
    'bf16'
    """
    asked = dask.config.get("openvino.precision") if precision is None else precision
    if asked not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {asked!r}")
    return str(asked)


@dataclass(frozen=True)
class CpuFeatures:
    """What the CPU of this process offers, as far as the precision choice needs.

    Attributes
    ----------
    vendor : str
        ``vendor_id`` of ``/proc/cpuinfo`` (``GenuineIntel``, ``AuthenticAMD``; empty if unknown).
    flags : frozenset of str
        The CPU flags (``amx_bf16``, ``avx512_bf16``, ...).
    capabilities : frozenset of str
        OpenVINO's ``OPTIMIZATION_CAPABILITIES`` for the CPU (``BF16``, ``FP16``, ``INT8``, ...).
    """

    vendor: str
    flags: frozenset[str]
    capabilities: frozenset[str]


@state.memoize(maxsize=1)
def cpu_features() -> CpuFeatures:
    """Read this machine's CPU vendor and flags and OpenVINO's CPU capabilities, once per process.

    Returns
    -------
    CpuFeatures
    """
    vendor, flags = "", frozenset[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key.strip() == "flags":
                    flags = frozenset(value.split())
                    break
    except OSError:
        pass
    capabilities = frozenset(str(c) for c in state.core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    return CpuFeatures(vendor=vendor, flags=flags, capabilities=capabilities)


def choose_precision(requested: str, features: CpuFeatures) -> tuple[str, str]:
    """Resolve a requested precision for a CPU: the precision to compile with, and why.

    ``"auto"`` picks bfloat16 where the CPU runs it faster than float32, as measured
    (``docs/tuning.md``): with AMX (``amx_bf16``), and on AMD CPUs with AVX512-BF16;
    AVX512-BF16 on an Intel CPU without AMX was measured slower, and a CPU without
    bf16 support gets float32. Other precisions are returned as asked.

    Parameters
    ----------
    requested : str
        One of [`PRECISIONS`][dask_openvino.policy.PRECISIONS].
    features : CpuFeatures
        The CPU the model is compiled on.

    Returns
    -------
    precision : str
        ``"f32"``, ``"bf16"`` or ``"f16"``.
    reason : str
        One line for logs and [`cache_info`][dask_openvino.cache.cache_info].

    Examples
    --------
    >>> amx = CpuFeatures("GenuineIntel", frozenset({"amx_bf16", "avx512_bf16"}), frozenset({"BF16", "FP32"}))
    >>> choose_precision("auto", amx)
    ('bf16', 'auto: AMX (amx_bf16) runs bf16 matrix work fastest')
    >>> choose_precision("f32", amx)
    ('f32', 'asked for')
    """
    if requested != "auto":
        return requested, "asked for"
    if "BF16" not in features.capabilities:
        return "f32", "auto: OpenVINO has no bf16 kernels for this CPU"
    if "amx_bf16" in features.flags:
        return "bf16", "auto: AMX (amx_bf16) runs bf16 matrix work fastest"
    if "avx512_bf16" in features.flags and features.vendor == "AuthenticAMD":
        return "bf16", "auto: AVX512-BF16 on AMD was measured faster than f32"
    return "f32", "auto: bf16 without AMX was measured slower than f32 on this kind of CPU"


def default_compile_config(device: str, precision: str = "f32") -> dict[str, str]:
    """Compile properties derived from where the model is compiled.

    On a ``distributed`` worker, OpenVINO gets as many threads as the worker has
    (Dask threads block while OpenVINO runs, so this does not oversubscribe) and
    CPU pinning is turned off: several worker processes on one host otherwise pin
    their threads to the same cores (measured in ``docs/tuning.md``). Elsewhere
    OpenVINO uses every core. The THROUGHPUT hint lets OpenVINO choose the number
    of streams.

    Inference runs in ``precision`` (``INFERENCE_PRECISION_HINT``); float32 also sets
    OpenVINO's ACCURACY execution mode, so predictions equal the framework's.
    Properties in ``ModelSpec.config`` override these.

    Parameters
    ----------
    device : str
        The OpenVINO device; only "CPU" gets derived properties.
    precision : {"f32", "bf16", "f16"}, default "f32"
        The resolved inference precision (see
        [`choose_precision`][dask_openvino.policy.choose_precision]).

    Returns
    -------
    dict of str to str
    """
    if device != "CPU":
        return {"PERFORMANCE_HINT": "THROUGHPUT"}
    config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": precision}
    if precision == "f32":
        config["EXECUTION_MODE_HINT"] = "ACCURACY"
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
