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

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dask.config
import openvino as ov

from dask_openvino import state
from dask_openvino.errors import SettingError

if TYPE_CHECKING:
    from dask_openvino.spec import PortInfo

__all__ = [
    "MAX_DEFAULT_BATCH_SIZE",
    "PRECISIONS",
    "OVERFLOW_FIXES",
    "CpuFeatures",
    "choose_overflow_fix",
    "choose_precision",
    "cpu_features",
    "default_batch_size",
    "default_compile_config",
    "requested_precision",
    "row_macs",
]

PRECISIONS = ("auto", "f32", "bf16", "f16")
"""What ``precision=`` accepts: ``"auto"`` (decided per worker), or a fixed inference precision."""

dask.config.update_defaults({"openvino": {"precision": "auto"}})

OVERFLOW_FIXES = ("enable", "first_layer_only", "disable")
"""NNCF's ``OverflowFix`` values: 7-bit weights in every layer, in the first only, or nowhere."""

_INT8_DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
"""CPU flags of 8-bit dot-product instructions that accumulate in 32 bits."""

MAX_DEFAULT_BATCH_SIZE = 4096
"""Upper bound of the default batch size for models with a dynamic batch dimension."""

_SMALL_ROW_BYTES = 1024
"""Rows up to this many input bytes (tabular features) get larger default batches."""

_SMALL_ROW_BATCH_BYTES = 1024 * 1024
_LARGE_ROW_BATCH_BYTES = 256 * 1024

_BATCH_MACS = 12 * 10**9
"""Multiply-accumulates a default batch aims for when the model's compute per row is known."""

_MAX_BATCH_INPUT_BYTES = 16 * 2**20
"""Input bytes a default batch never exceeds when it is sized by compute."""

_WEIGHTED_OPS = {
    "Convolution": 1,
    "ConvolutionBackpropData": 1,
    "GroupConvolution": 2,
    "GroupConvolutionBackpropData": 2,
}
"""Convolutions, and the first axis of their weights' shape that counts towards a MAC.

A convolution's MACs are its output's elements times the weights' axes from there; a
transposed one (``...BackpropData``, weights ``[C_in, C_out, k...]``) its input's elements
times the same axes.
"""


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
        If ``precision`` is not one of [`PRECISIONS`][dask_openvino.policy.PRECISIONS].
    SettingError
        If ``precision`` is None and the setting is not one of them.

    Examples
    --------
    >>> requested_precision("bf16")
    'bf16'
    """
    if precision is not None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
        return precision
    asked = dask.config.get("openvino.precision")
    if asked not in PRECISIONS:
        raise SettingError(
            f"Dask's openvino.precision setting (DASK_OPENVINO__PRECISION in the environment, or a Dask config "
            f"file) must be one of {list(PRECISIONS)}, got {asked!r}"
        )
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


def choose_overflow_fix(requested: str | None, features: CpuFeatures) -> tuple[str, str]:
    """Resolve NNCF's overflow fix for an INT8 model made on a CPU: where weights keep only 7 bits, and why.

    Without VNNI or AMX, OpenVINO multiplies 8-bit activations by 8-bit weights with
    ``vpmaddubsw``, which adds each pair of products into 16 bits and saturates: a
    full-range weight can clip a sum and change the result. Seven-bit weights cannot
    overflow there, so on such a CPU every convolution and matrix multiplication gets
    them (``"enable"``). With an 8-bit dot product that accumulates in 32 bits, NNCF's
    default stays (``"first_layer_only"``: the first convolutions after each input,
    none in a model of matrix multiplications only). A value asked for is returned as it is.

    Parameters
    ----------
    requested : str or None
        One of [`OVERFLOW_FIXES`][dask_openvino.policy.OVERFLOW_FIXES], or None to decide.
    features : CpuFeatures
        The CPU that quantizes, taken to be like the CPUs that will run the model.

    Returns
    -------
    overflow_fix : str
        One of [`OVERFLOW_FIXES`][dask_openvino.policy.OVERFLOW_FIXES].
    reason : str
        One line for logs.

    Examples
    --------
    >>> avx2 = CpuFeatures("AuthenticAMD", frozenset({"avx2", "fma"}), frozenset({"FP32", "INT8"}))
    >>> choose_overflow_fix(None, avx2)[0]
    'enable'
    >>> choose_overflow_fix(None, CpuFeatures("GenuineIntel", frozenset({"avx512_vnni"}), frozenset()))[0]
    'first_layer_only'
    >>> choose_overflow_fix("disable", avx2)
    ('disable', 'asked for')
    """
    if requested is not None:
        return requested, "asked for"
    found = sorted(_INT8_DOT_PRODUCT_FLAGS & features.flags)
    if found:
        return "first_layer_only", f"this CPU accumulates 8-bit products in 32 bits ({', '.join(found)})"
    return "enable", "this CPU has no VNNI or AMX: its 8-bit multiply-adds saturate at 16 bits, so weights keep 7 bits"


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


def row_macs(model: ov.Model) -> int | None:
    """Count the multiply-accumulates of one row: every MatMul and convolution at batch 1.

    The model is cloned and reshaped to batch 1, so the count holds for any model whose
    input shapes are static after the batch dimension.

    Parameters
    ----------
    model : openvino.Model
        The model as it is compiled (after any transform).

    Returns
    -------
    int or None
        The count, or None when it cannot be known: an input with a dynamic dimension
        after the batch, or an operation whose shapes stay dynamic at batch 1.

    Examples
    --------
    >>> import numpy as np, openvino as ov, openvino.opset13 as ops
    >>> x = ops.parameter([-1, 64], np.float32, name="x")
    >>> y = ops.matmul(x, ops.constant(np.ones((64, 256), np.float32)), False, False)
    >>> row_macs(ov.Model([y], [x]))
    16384
    """
    shapes = {}
    for port in model.inputs:
        shape = port.get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() == 0 or any(d.is_dynamic for d in list(shape)[1:]):
            return None
        shapes[port.get_index()] = ov.PartialShape([1, *list(shape)[1:]])
    single = model.clone()
    try:
        single.reshape(shapes)
    except RuntimeError:
        return None  # a model whose batch dimension cannot be set (a reshape baked in)
    total = 0
    for op in single.get_ordered_ops():
        kind = op.get_type_name()
        if kind != "MatMul" and kind not in _WEIGHTED_OPS:
            continue
        left, right, out = op.get_input_partial_shape(0), op.get_input_partial_shape(1), op.get_output_partial_shape(0)
        if left.is_dynamic or right.is_dynamic or out.is_dynamic:
            return None
        if kind == "MatMul":
            a = list(left.to_shape())
            inner = a[-2] if op.get_attributes().get("transpose_a") and len(a) > 1 else a[-1]
        else:
            inner = math.prod(list(right.to_shape())[_WEIGHTED_OPS[kind] :])
        # A transposed convolution multiplies each input element by its filters' weights.
        counted = left if kind.endswith("BackpropData") else out
        total += math.prod(counted.to_shape()) * inner
    return total


def default_batch_size(ports: tuple[PortInfo, ...], macs_per_row: int | None = None) -> int:
    """Return the batch size used when a user gives none.

    A static batch dimension wins. Where the model's compute per row is known
    ([`row_macs`][dask_openvino.policy.row_macs]), a batch holds about 12 billion
    multiply-accumulates, so each inference outweighs its fixed cost and every stream
    keeps busy: 3 rows for ResNet-50 at 224x224, 9 for a 128-token MiniLM-L6, and the
    most allowed for a small MLP; never more than 16 MiB of input. Otherwise the
    input's size decides: rows of up to 1 KiB (tabular features) are batched by about
    1 MiB of input, larger rows (images, token sequences, whose activations grow much
    faster than their inputs) by about 256 KiB. Always between 1 and
    [`MAX_DEFAULT_BATCH_SIZE`][dask_openvino.policy.MAX_DEFAULT_BATCH_SIZE] rows
    (``docs/batching.md`` has the measurements).

    Parameters
    ----------
    ports : tuple of PortInfo
        The model's inputs.
    macs_per_row : int, optional
        The model's multiply-accumulates per row, if known.

    Returns
    -------
    int

    Examples
    --------
    >>> from dask_openvino.spec import PortInfo
    >>> default_batch_size((PortInfo("image", "f32", (None, 3, 224, 224)),), macs_per_row=4_089_184_256)
    3
    """
    static = {p.batch_size for p in ports if p.batch_size is not None}
    if static:
        return static.pop() if len(static) == 1 else min(static)
    row_bytes = max(1, sum((p.row_size or 128) * p.dtype.itemsize for p in ports))
    if macs_per_row is not None:
        by_compute = -(-_BATCH_MACS // macs_per_row) if macs_per_row else MAX_DEFAULT_BATCH_SIZE
        batch = min(by_compute, _MAX_BATCH_INPUT_BYTES // row_bytes)
    else:
        target = _SMALL_ROW_BATCH_BYTES if row_bytes <= _SMALL_ROW_BYTES else _LARGE_ROW_BATCH_BYTES
        batch = target // row_bytes
    return max(1, min(MAX_DEFAULT_BATCH_SIZE, batch))
