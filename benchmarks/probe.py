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


def load_openvino_cpu() -> None:
    """Compile a one-operation model, so OpenVINO's CPU plugin is loaded before a memory baseline."""
    import numpy as np
    import openvino as ov
    from openvino import opset13

    from dask_openvino.spec import core

    x = opset13.parameter([1, 4], np.float32, name="x")
    core().compile_model(ov.Model([opset13.relu(x)], [x]), "CPU")


def reset_peak() -> None:
    """Start a new peak RSS measurement (``VmHWM``) in this process."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def compile_in_child(xml: str, cache_dir: str | None, *, from_path: bool = False) -> dict[str, Any]:
    """Time ``import dask_openvino``, reading + fingerprinting and compiling ``xml`` in a fresh process."""
    command = [sys.executable, "-m", "benchmarks.probe", xml, cache_dir or "", "path" if from_path else "engine"]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _compile(xml: str, cache_dir: str, how: str) -> dict[str, Any]:
    started = time.perf_counter()
    import dask_openvino
    from dask_openvino.engine import compile_engine, default_compile_config
    from dask_openvino.spec import core

    imported = time.perf_counter()
    config = {"CACHE_DIR": cache_dir} if cache_dir else {}
    if how == "engine":
        spec = dask_openvino.ModelSpec.from_path(xml, config=config)
        described = time.perf_counter()
        compile_engine(spec)
    else:
        described = time.perf_counter()
        core().compile_model(xml, "CPU", {**default_compile_config("CPU"), **config})
    compiled = time.perf_counter()
    return {
        "import_s": round(imported - started, 3),
        "spec_s": round(described - imported, 3),
        "compile_s": round(compiled - described, 3),
        "load_and_compile_s": round(compiled - imported, 3),
        "rss_mib": round(_status_kib("VmRSS") / 1024, 1),
        "peak_rss_mib": round(_status_kib("VmHWM") / 1024, 1),
    }


if __name__ == "__main__":
    print(json.dumps(_compile(sys.argv[1], sys.argv[2], sys.argv[3])))
