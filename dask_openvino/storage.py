"""Reading files through fsspec: local paths and URIs, with typed errors and frozen options.

Models, images and tokenizers are read by the workers from wherever they live (a
local path, ``file://``, ``s3://``, ``http://``, ...). Every such read goes through
[`read_bytes`][dask_openvino.storage.read_bytes], which turns fsspec's exceptions
into the caller's error type with the path in the message, and a missing fsspec
backend into [`MissingDependencyError`][dask_openvino.errors.MissingDependencyError].
Storage options travel in the task graph, so they are kept as sorted tuples
([`freeze_options`][dask_openvino.storage.freeze_options]), which hash and pickle.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import fsspec

from dask_openvino.errors import MissingDependencyError

__all__ = ["StorageOptions", "absolute", "freeze_options", "is_local", "read_bytes"]

StorageOptions = tuple[tuple[str, Any], ...]
"""fsspec storage options frozen into sorted ``(key, value)`` pairs."""


def freeze_options(options: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> StorageOptions:
    """Return storage options as sorted ``(key, value)`` pairs, hashable and picklable.

    Examples
    --------
    >>> freeze_options({"anon": True, "endpoint_url": "http://127.0.0.1:9000"})
    (('anon', True), ('endpoint_url', 'http://127.0.0.1:9000'))
    """
    if not options:
        return ()
    items = options.items() if isinstance(options, Mapping) else options
    return tuple(sorted((str(key), value) for key, value in items))


def is_local(url: str) -> bool:
    """Whether ``url`` is a local path or a ``file://`` URI.

    Examples
    --------
    >>> is_local("/data/model.xml"), is_local("file:///data/model.xml"), is_local("s3://bucket/model.xml")
    (True, True, False)
    """
    return fsspec.utils.get_protocol(url) in ("file", "local")


def absolute(url: str) -> str:
    """Return a local path or ``file://`` URI as an absolute path; other URIs unchanged.

    Workers may run in another directory than the client, so local paths in the
    task graph are absolute.

    Examples
    --------
    >>> absolute("file:///data/model.xml")
    '/data/model.xml'
    """
    if not is_local(url):
        return url
    path = str(fsspec.utils.stringify_path(url))
    if path.startswith("file://"):
        path = path[len("file://") :]
    elif path.startswith("local://"):
        path = path[len("local://") :]
    return os.path.abspath(path)


def read_bytes(url: str, options: StorageOptions = (), *, what: str, error: type[Exception]) -> bytes:
    """Read a whole file through fsspec.

    Parameters
    ----------
    url : str
        Local path or fsspec URI.
    options : StorageOptions
        fsspec storage options.
    what : str
        What the file is, for messages ("model file", "tokenizer", ...).
    error : type of Exception
        The error raised when the file is missing or unreadable.

    Returns
    -------
    bytes

    Raises
    ------
    MissingDependencyError
        If the URI's protocol needs a package that is not installed (``s3fs``, ``aiohttp``, ...).
    Exception
        Of type ``error``: "<what> not found: <url>", or "cannot read <what> <url>: <reason>".

    Examples
    --------
    >>> read_bytes("/nonexistent.xml", what="model file", error=OSError)
    Traceback (most recent call last):
    ...
    OSError: model file not found: /nonexistent.xml
    """
    try:
        with fsspec.open(url, "rb", **dict(options)) as f:
            data: bytes = f.read()
            return data
    except ImportError as err:
        raise MissingDependencyError(
            f"reading {url} needs a package that is not installed: {err}. Install the fsspec backend for "
            f"{fsspec.utils.get_protocol(url)}:// (e.g. s3fs, gcsfs, or aiohttp and requests for http)"
        ) from err
    except FileNotFoundError as err:
        raise error(f"{what} not found: {url}") from err
    except (OSError, ValueError) as err:
        raise error(f"cannot read {what} {url}: {err}") from err
