"""Helpers shared by the conversion and quantization tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).parent

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
"""Compile config for exact comparisons: CPUs with AVX512-BF16 otherwise default to bf16 inference."""


def run_fresh_interpreter(mode: str, workdir: Path, seconds: float, timeout: float) -> dict[str, Any]:
    """Run ``_blas_after_convert.py`` with OpenVINO telemetry on, kept off the network, and threaded OpenBLAS."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env.update(
        HOME=str(workdir),  # no telemetry consent file: openvino_telemetry's default (on)
        http_proxy="http://127.0.0.1:9",  # the telemetry reports fail at once instead of leaving the host
        https_proxy="http://127.0.0.1:9",
        OPENBLAS_NUM_THREADS="2",
        PYTHONPATH=os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]),
    )
    env.pop("no_proxy", None)
    env.pop("NO_PROXY", None)
    script = [sys.executable, str(TESTS / "_blas_after_convert.py"), mode, str(workdir), str(seconds)]
    try:
        done = subprocess.run(script, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{mode}: the process hung for {timeout} s (OpenBLAS after a fork from another thread?)\n{err}")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
