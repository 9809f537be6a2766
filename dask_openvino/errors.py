"""Exceptions raised by dask-openvino.

The tree:

    DaskOpenVINOError
    ├── ModelLoadError        (also OSError)      the IR cannot be read or compiled
    ├── ModelChangedError     (also RuntimeError) the model's bytes differ from what the client saw
    ├── InputSchemaError      (also ValueError)   columns do not match the model's inputs
    │   ├── InputValueError   (also ValueError)   some rows hold values the input cannot take exactly
    │   └── UnsupportedElementTypeError (also TypeError) a port's element type has no numpy dtype
    ├── InputNotFoundError    (also FileNotFoundError) an input path, folder or glob gives no file to read
    ├── InputReadError        (also OSError)      an input file is there but cannot be read
    ├── InferenceError        (also RuntimeError) OpenVINO failed while running a batch
    ├── JobCancelledError     (also RuntimeError) the cluster cancelled the job's tasks (a lost scheduler)
    ├── SchedulerConnectionError (also OSError)   the Dask scheduler named cannot be reached
    ├── ConversionError       (also RuntimeError) a framework model could not be converted to IR
    ├── MissingDependencyError (also ImportError) an optional package is not installed
    ├── OutputError           (also OSError)      the output cannot be written there, or not safely
    │   └── ResumeMismatchError                   parts already written came from another job
    ├── SettingError          (also ValueError)   a Dask config setting of dask-openvino holds a value it cannot take
    └── VersionMismatchError  (also RuntimeError) workers run other dask-openvino or OpenVINO versions

Each error also inherits the builtin exception it refines, so ``except ValueError``
keeps working for code that predates this package.

[`openvino_message`][dask_openvino.errors.openvino_message] is the one place that turns
an OpenVINO exception into the text these errors carry.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ConversionError",
    "DaskOpenVINOError",
    "InferenceError",
    "InputNotFoundError",
    "InputReadError",
    "InputSchemaError",
    "InputValueError",
    "JobCancelledError",
    "MissingDependencyError",
    "ModelChangedError",
    "ModelLoadError",
    "OutputError",
    "ResumeMismatchError",
    "SchedulerConnectionError",
    "SettingError",
    "UnsupportedElementTypeError",
    "VersionMismatchError",
    "openvino_message",
]


class DaskOpenVINOError(Exception):
    """Base class of every error raised by dask-openvino."""


class ModelLoadError(DaskOpenVINOError, OSError):
    """The model's ``.xml`` or ``.bin`` is missing, unreadable, corrupt or not runnable.

    The message names the file and what was wrong with it.
    """


class ModelChangedError(DaskOpenVINOError, RuntimeError):
    """The model's content differs from the fingerprint recorded when the graph was built.

    Raised on a worker instead of silently mixing predictions from two model versions.
    """


class InputSchemaError(DaskOpenVINOError, ValueError):
    """An input column is missing, has the wrong type, or holds rows of the wrong shape.

    The message names the column and the model input, and what was expected and given.
    """


class InputNotFoundError(DaskOpenVINOError, FileNotFoundError):
    """An input path, folder or glob names no file to read, or a listed file is gone when it is read.

    The message names the path or pattern, what was found there and what is accepted
    (table formats, or for images the extensions).
    """


class InputReadError(DaskOpenVINOError, OSError):
    """An input file is listed and present, but reading it fails (a directory, no permission, an I/O error).

    The message names the file and the operating system's or filesystem's reason.
    """


class InputValueError(InputSchemaError):
    """Some rows hold values that the model input cannot take exactly.

    Missing values into an integer input, NaN or fractions into an integer input, an
    integer that the input's float type would round, or a value outside the range the
    device computes the input in. The message names the column (or input), the first
    offending value and its row. With ``errors="null"`` these rows become nulls with
    [`reason`][dask_openvino.errors.InputValueError] in the error column and the other
    rows are scored.

    Attributes
    ----------
    rows : numpy.ndarray or None
        Boolean mask of the offending rows of the converted block, where the
        conversion knows them (not kept when the error is pickled).
    reason : str
        What is wrong with each offending row, without the first value.
    """

    def __init__(self, message: str, *, rows: np.ndarray | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.rows = rows
        self.reason = reason or message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_value_error, (str(self), self.reason))


def _rebuild_value_error(message: str, reason: str) -> InputValueError:
    return InputValueError(message, reason=reason)


class UnsupportedElementTypeError(InputSchemaError, TypeError):
    """A model input or output has an element type with no numpy counterpart (``bf16``, ``string``, ...).

    The message names the port and its element type; convert the model so that the
    port is ``f32`` (or ``f16``) instead.
    """


class InferenceError(DaskOpenVINOError, RuntimeError):
    """OpenVINO raised an error while running a batch.

    Attributes
    ----------
    span : tuple of (int, int) or None
        Positions of the batch's first and last rows among the rows scored (a DataFrame
        partition's), where one batch failed.
    contiguous : bool
        Whether that batch held every row from the first to the last; False where it
        skipped some (text batched by length, rows left out for their values).
    """

    def __init__(self, message: str, *, span: tuple[int, int] | None = None, contiguous: bool = True) -> None:
        super().__init__(message)
        self.span = span
        self.contiguous = contiguous


class JobCancelledError(DaskOpenVINOError, RuntimeError):
    """The cluster cancelled the job's tasks before they finished.

    The connection to the scheduler was lost, the scheduler restarted, or the tasks were
    cancelled (``client.cancel``). The message says which, and how many partitions had
    finished.
    """


class SchedulerConnectionError(DaskOpenVINOError, OSError):
    """The Dask scheduler named by its address cannot be reached, or the address is malformed.

    The message names the address and Distributed's reason (a refused connection, a
    timeout after ``distributed.comm.timeouts.connect``, an unknown scheme or a missing port).
    """


class ConversionError(DaskOpenVINOError, RuntimeError):
    """A framework model could not be converted to OpenVINO IR.

    The message carries the converter's own message.
    """


class MissingDependencyError(DaskOpenVINOError, ImportError):
    """An optional package needed by the requested feature is not installed.

    The message names the package and the extra that installs it.
    """


class OutputError(DaskOpenVINOError, OSError):
    """The output path cannot be written, or writing it would destroy data that is not a previous output.

    Raised before any partition is scored where possible: an output that is, contains or
    lies inside the input, the current or home directory or ``/``; an existing path
    without ``overwrite``; a directory holding files that no dask-openvino job wrote;
    a parent that is a file or cannot be written. The message names the path.
    """


class ResumeMismatchError(OutputError):
    """A resumed job differs from the job that wrote the parts already there.

    The message lists each difference (model fingerprint, options, columns,
    partitions, input) with the recorded and the current value.
    """


class SettingError(DaskOpenVINOError, ValueError):
    """A Dask config setting of dask-openvino (``openvino.*``) holds a value it cannot take.

    Settings come from Dask's YAML files or ``DASK_OPENVINO__*`` environment variables,
    away from the call that reads them; the message names the setting, its environment
    variable, the value found and the values allowed.
    """


class VersionMismatchError(DaskOpenVINOError, RuntimeError):
    """The scheduler or some workers run another dask-openvino or OpenVINO version than the client.

    The message lists each process that differs and the versions it runs.

    Attributes
    ----------
    differing : dict of str to str
        For each differing process (``"scheduler"`` or a worker's address), what it runs.
    """

    def __init__(self, message: str, differing: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.differing = dict(differing or {})

    def __reduce__(self) -> tuple[type[VersionMismatchError], tuple[str, dict[str, str]]]:
        # Raised in a worker plugin's setup and pickled back to the client.
        return type(self), (str(self), self.differing)


def openvino_message(err: BaseException, *, sep: str = " ") -> str:
    r"""Return an OpenVINO (or converter) exception's message without its C++ source locations.

    OpenVINO prefixes its messages with lines such as ``Exception from src/inference/...``;
    the meaningful lines are kept, stripped and joined with ``sep``.

    Parameters
    ----------
    err : BaseException
        The exception raised by OpenVINO.
    sep : str, default " "
        What joins the kept lines: a space for one-line messages, a newline to keep
        a converter's multi-line report readable.

    Returns
    -------
    str
        The cleaned message, or ``repr(err)`` when nothing is left.

    Examples
    --------
    >>> openvino_message(RuntimeError("Exception from src/core.cpp:12:\nshape mismatch"))
    'shape mismatch'
    """
    lines = (_SOURCE_LOCATION.sub("", _RAISED_AT.sub(":", line)).strip() for line in str(err).splitlines())
    return sep.join(line for line in lines if line) or repr(err)


# "Caught exception: Exception from src/plugins/intel_cpu/src/graph.cpp:1628:" (a whole line, or
# the start of one), and " at src/.../gather_elements.cpp:116:" after a failed check.
_SOURCE_LOCATION = re.compile(r"(Caught exception:\s*)?Exception from \S+:\d+:")
_RAISED_AT = re.compile(r" at src/\S+:\d+:")
