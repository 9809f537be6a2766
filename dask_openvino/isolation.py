"""Running a converter in a fresh Python process, so that this one never forks from a thread.

``openvino.convert_model`` and ``nncf.quantize`` report usage through
``openvino_telemetry``, which is on unless the user opted out. Each report is sent
from a ``ThreadPoolExecutor`` thread that starts a ``multiprocessing.Process``, i.e.
calls ``fork()`` from a background thread, for a few seconds after the call returns.
``fork()`` runs OpenBLAS's ``pthread_atfork`` handler, which shuts down OpenBLAS's
worker pool; if the main thread is inside a multi-threaded OpenBLAS call at that
moment (``MLPClassifier.predict_proba``, any large ``numpy`` matmul), the call waits
forever for workers that no longer exist (OpenMathLib/OpenBLAS#3111 describes the
race). The same race hangs plain ``numpy`` with no OpenVINO involved at all.

[`run_isolated`][dask_openvino.isolation.run_isolated] therefore runs the converter in
a fresh Python process, started with ``vfork``/``exec`` (``subprocess``), which runs no
fork handlers in this one, and hands back its result: the caller's process never
forks, whatever the telemetry settings.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from dask_openvino.errors import ConversionError, DaskOpenVINOError

__all__ = ["run_isolated"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CHILD_BOOTSTRAP = (
    "import pickle, sys\n"
    "sys.path[:0] = [p for p in pickle.load(sys.stdin.buffer) if p not in sys.path]\n"
    "from dask_openvino.isolation import _child_main\n"
    "_child_main()\n"
)

_LOG_LINES = 30
"""Lines of the child's output quoted when it dies without a result."""


def run_isolated(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` in a fresh Python process and return its result.

    Parameters
    ----------
    func : callable
        A module-level function of this package (the child imports it by name).
    *args
        Its arguments; they travel with ``cloudpickle``, so modules defined in a
        notebook travel too. They and the result must be picklable.

    Returns
    -------
    object
        What ``func`` returned.

    Raises
    ------
    DaskOpenVINOError
        Whatever dask-openvino error ``func`` raised, as it was raised.
    ConversionError
        If ``func`` raised any other exception (its type and message are kept), or
        the process could not start or died without a result (its last output is
        included).

    Examples
    --------
    >>> run_isolated(os.getpid) != os.getpid()  # doctest: +SKIP
    True
    """
    import cloudpickle

    payload = pickle.dumps(list(sys.path)) + cloudpickle.dumps((func, args))
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD_BOOTSTRAP],
            input=payload,
            capture_output=True,
            check=False,
        )
    except OSError as err:
        raise ConversionError(f"cannot start a Python process ({sys.executable}) to run the converter: {err}") from err
    log = done.stderr.decode(errors="replace")
    if log:
        logger.debug("converter process output:\n%s", log)
    if done.returncode != 0 or not done.stdout:
        raise ConversionError(
            f"the converter process exited with status {done.returncode} without a result; its last output:\n"
            + "\n".join(log.strip().splitlines()[-_LOG_LINES:])
        )
    status, value = pickle.loads(done.stdout)
    if status == "error":
        raise value
    return value  # type: ignore[no-any-return]


def _child_main() -> None:
    """Entry point of the child process: read a job on stdin, write ``(status, value)`` on stdout."""
    import cloudpickle

    # Converters print progress and warnings on stdout; keep the real stdout for the result only.
    result_fd = os.dup(1)
    os.dup2(2, 1)
    outcome: tuple[str, Any]
    try:
        func, args = cloudpickle.load(sys.stdin.buffer)
    except Exception as err:
        message = f"the converter process cannot load the source: {type(err).__name__}: {err}"
        outcome = ("error", ConversionError(message))
    else:
        try:
            outcome = ("ok", func(*args))
        except DaskOpenVINOError as err:
            outcome = ("error", err)
        except BaseException as err:  # every failure must reach the parent, as a type it can unpickle
            outcome = ("error", ConversionError(f"{type(err).__name__} in the converter process: {err}"))
    with os.fdopen(result_fd, "wb") as out:
        pickle.dump(outcome, out)
