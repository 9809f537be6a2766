"""Measurements taken inside worker processes: memory, and model load + compile time.

:func:`worker_memory` runs on workers through ``client.run``. Compile time is measured
in fresh child processes (``python -m benchmarks.probe XML [CACHE_DIR]``) so that no
earlier compile, file cache of OpenVINO's or import is reused, as on a new worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _release_free_memory() -> None:
    """Hand the memory the allocators hold but no object uses back to the system.

    Python's garbage, pyarrow's memory pool, then glibc's heap (``malloc_trim``): what
    stays resident afterwards is what the process still references.
    """
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    libc = ctypes.CDLL(None)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def worker_memory() -> dict[str, Any]:
    """This process's resident memory now and its peak since the last :func:`reset_peak`, in MiB.

    The peak is Linux's ``VmHWM``, not ``ru_maxrss``: a spawned worker's ``ru_maxrss``
    starts at the RSS its parent had when it forked.
    """
    import dask_openvino

    info = dask_openvino.cache_info()
    return {
        "pid": info.pid,
        "rss_mib": round(_status_kib("VmRSS") / 1024, 1),
        "peak_rss_mib": round(_status_kib("VmHWM") / 1024, 1),
        "models": info.models,
        "compiles": info.compiles,
        "hits": info.hits,
    }


def worker_memory_released() -> dict[str, Any]:
    """:func:`worker_memory`, then ``released_rss_mib``: the RSS once the allocators handed back free memory.

    That is the figure that grows with a leak; ``rss_mib`` also moves with what the
    allocators keep. Releasing costs the next job page faults, so only the memory
    measurement over jobs calls it, never a timed case.
    """
    measured = worker_memory()
    _release_free_memory()
    return {**measured, "released_rss_mib": round(_status_kib("VmRSS") / 1024, 1)}


def load_openvino_cpu() -> None:
    """Compile a one-operation model, so OpenVINO's CPU plugin is loaded before a memory baseline."""
    import numpy as np
    import openvino as ov
    from openvino import opset13

    from dask_openvino.state import core

    x = opset13.parameter([1, 4], np.float32, name="x")
    core().compile_model(ov.Model([opset13.relu(x)], [x]), "CPU")


def reset_peak() -> None:
    """Start a new peak RSS measurement (``VmHWM``) in this process."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def compile_in_child(xml: str, cache_dir: str | None, *, from_path: bool = False) -> dict[str, Any]:
    """Time ``import dask_openvino``, reading + fingerprinting and compiling ``xml`` in a fresh process.

    Also reports the memory the model adds to the process: after compiling, and after
    the first inference (the compiled model's real footprint).
    """
    command = [sys.executable, "-m", "benchmarks.probe", xml, cache_dir or "", "path" if from_path else "engine"]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _one_row(compiled: Any) -> dict[str, Any]:
    """Zeros for one row of every input of a compiled model."""
    import numpy as np

    feeds = {}
    for port in compiled.inputs:
        shape = [1 if d.is_dynamic else d.get_length() for d in port.get_partial_shape()]
        feeds[port.get_any_name()] = np.zeros(shape, dtype=port.get_element_type().to_dtype())
    return feeds


def _compile(xml: str, cache_dir: str, how: str) -> dict[str, Any]:
    """Import, read + compile ``xml``, run one row; the times and the memory the model added."""
    started = time.perf_counter()
    import dask_openvino
    from dask_openvino.cache import compile_engine
    from dask_openvino.policy import default_compile_config
    from dask_openvino.state import core

    load_openvino_cpu()
    imported = time.perf_counter()
    before = _status_kib("VmRSS")
    reset_peak()
    config = {"CACHE_DIR": cache_dir} if cache_dir else {}
    if how == "engine":
        spec = dask_openvino.ModelSpec.from_path(xml, config=config)
        described = time.perf_counter()
        compiled = compile_engine(spec).compiled
    else:
        described = time.perf_counter()
        compiled = core().compile_model(xml, "CPU", {**default_compile_config("CPU"), **config})
    done = time.perf_counter()
    after_compile = _status_kib("VmRSS")
    # The CPU plugin lays out (repacks) weights on the first inference, so run one row.
    compiled.create_infer_request().infer(_one_row(compiled))
    return {
        "import_s": round(imported - started, 3),
        "spec_s": round(described - imported, 3),
        "compile_s": round(done - described, 3),
        "load_and_compile_s": round(done - imported, 3),
        "model_mib_after_compile": round((after_compile - before) / 1024, 1),
        "model_mib_after_first_inference": round((_status_kib("VmRSS") - before) / 1024, 1),
        "peak_above_start_mib": round((_status_kib("VmHWM") - before) / 1024, 1),
    }


if __name__ == "__main__":
    print(json.dumps(_compile(sys.argv[1], sys.argv[2], sys.argv[3])))
