"""Run by ``test_convert`` / ``test_quantize`` in a fresh interpreter: convert (or quantize), then use OpenBLAS.

Usage: ``python _blas_after_convert.py MODE WORKDIR SECONDS`` with MODE one of

* ``convert``: ``dask_openvino.convert.convert`` a scikit-learn MLP, then call its
  multi-threaded ``predict_proba`` for SECONDS;
* ``quantize``: the same, plus ``dask_openvino.quantize.quantize`` before the loop;
* ``openvino``: call ``openvino.convert_model`` in this process and only wait up to
  SECONDS for a fork (no OpenBLAS calls: they could hang), to show the hazard exists.

``import openvino`` itself sends one telemetry event (from a background thread, by
forking); the script waits for that fork before the phase under test starts. Prints
one JSON line: ``forks``, the ``[phase, thread]`` of every fork of this process, and
``predict_calls``, how many ``predict_proba`` calls completed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import warnings

phase = "import"
forks: list[tuple[str, str]] = []
os.register_at_fork(before=lambda: forks.append((phase, threading.current_thread().name)))


def _wait_for_fork(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not forks and time.monotonic() < deadline:
        time.sleep(0.05)


def main(mode: str, workdir: str, seconds: float) -> None:
    global phase
    from pathlib import Path

    import numpy as np
    import openvino as ov
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from dask_openvino.convert import convert
    from dask_openvino.quantize import quantize

    _wait_for_fork(10)
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=20, random_state=0).fit(x, y)
    calls = 0
    phase = mode
    if mode == "openvino":
        from _onnx_models import conv1x1

        forks.clear()
        ov.convert_model(conv1x1(Path(workdir) / "conv.onnx"))
        _wait_for_fork(seconds)
    else:
        spec = convert(clf, workdir)
        if mode == "quantize":
            quantize(spec, x, subset_size=32, output_dir=workdir)
        phase = "blas"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            clf.predict_proba(x)
            calls += 1
    print(json.dumps({"forks": forks, "predict_calls": calls}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
