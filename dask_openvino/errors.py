"""Exceptions raised by dask-openvino.

The tree::

    DaskOpenVINOError
    ├── ModelLoadError        (also OSError)      the IR cannot be read or compiled
    ├── ModelChangedError     (also RuntimeError) the model's bytes differ from what the client saw
    ├── InputSchemaError      (also ValueError)   columns do not match the model's inputs
    ├── InferenceError        (also RuntimeError) OpenVINO failed while running a batch
    ├── ConversionError       (also RuntimeError) a framework model could not be converted to IR
    ├── InputNotFoundError    (also FileNotFoundError) an input path names no file the reader accepts
    └── MissingDependencyError (also ImportError) an optional package is not installed

Each error also inherits the builtin exception it refines, so ``except ValueError``
keeps working for code that predates this package.

[`openvino_message`][dask_openvino.errors.openvino_message] is the one place that turns
an OpenVINO exception into the text these errors carry.
"""

from __future__ import annotations

__all__ = [
    "ConversionError",
    "DaskOpenVINOError",
    "InferenceError",
    "InputNotFoundError",
    "InputSchemaError",
    "MissingDependencyError",
    "ModelChangedError",
    "ModelLoadError",
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


class InferenceError(DaskOpenVINOError, RuntimeError):
    """OpenVINO raised an error while running a batch."""


class ConversionError(DaskOpenVINOError, RuntimeError):
    """A framework model could not be converted to OpenVINO IR.

    The message carries the converter's own message.
    """


class InputNotFoundError(DaskOpenVINOError, FileNotFoundError):
    """An input path or glob names no file, or a directory holds no file of a kind that can be read.

    The message names the path, what was found there and what is accepted.
    """


class MissingDependencyError(DaskOpenVINOError, ImportError):
    """An optional package needed by the requested feature is not installed.

    The message names the package and the extra that installs it.
    """


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
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip() and not ln.startswith("Exception from")]
    return sep.join(lines) or repr(err)
