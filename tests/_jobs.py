"""Waiting on a `dask-openvino predict` process run by a test: until it has written some parts."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any


def wait_for_files(process: subprocess.Popen[Any], root: Path, pattern: str, count: int = 1) -> None:
    """Return once `count` files under `root` match `pattern`; fail if `process` exits first or 3 minutes pass."""
    deadline = time.monotonic() + 180
    while len(list(root.glob(pattern))) < count:
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, f"the job never wrote {count} file(s) matching {pattern}"
        time.sleep(0.01)
