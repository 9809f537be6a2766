"""Reading files through fsspec: local paths and URIs, with typed errors and frozen options.

Models, images and tokenizers are read by the workers from wherever they live (a
local path, ``file://``, ``s3://``, ``http://``, ...). Models and tokenizers are read
through [`read_bytes`][dask_openvino.storage.read_bytes], which turns fsspec's
exceptions into the caller's error type with the path in the message; image files are
read many at a time by [`read_files`][dask_openvino.images.read_files]. Either way a
missing fsspec backend becomes [`missing_backend`][dask_openvino.storage.missing_backend]'s
[`MissingDependencyError`][dask_openvino.errors.MissingDependencyError], naming the
``remote`` extra (``pip install "dask-openvino[remote]"``: HTTP, S3 and GCS).
Storage options travel in the task graph, so they are kept as sorted tuples
([`freeze_options`][dask_openvino.storage.freeze_options]), which hash and pickle.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import fsspec

from dask_openvino.errors import MissingDependencyError

__all__ = [
    "REMOTE_BACKENDS",
    "StorageOptions",
    "absolute",
    "freeze_options",
    "is_local",
    "missing_backend",
    "read_bytes",
]

StorageOptions = tuple[tuple[str, Any], ...]
"""fsspec storage options frozen into sorted ``(key, value)`` pairs."""


REMOTE_BACKENDS: dict[str, str] = {
    "http": "aiohttp",
    "https": "aiohttp",
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
}
"""The fsspec backend each protocol needs; the ``remote`` extra installs them all."""


def missing_backend(url: str, err: ImportError, *, action: str = "reading") -> MissingDependencyError:
    """Return the error for a URI whose fsspec backend is not installed, naming what installs it.

    Parameters
    ----------
    url : str
        The URI that could not be opened.
    err : ImportError
        fsspec's error.
    action : str, default "reading"
        What was being done with `url`, for the message ("writing" for an output).

    Returns
    -------
    MissingDependencyError

    Examples
    --------
    >>> err = missing_backend("s3://bucket/model.xml", ImportError("No module named 's3fs'"))
    >>> str(err).endswith('pip install "dask-openvino[remote]" on the client and every worker')
    True
    """
    protocol = fsspec.utils.get_protocol(url)
    package = REMOTE_BACKENDS.get(protocol)
    if package is None:
        return MissingDependencyError(
            f"{action} {url} needs the fsspec backend for {protocol}://, which is not installed ({err}); "
            "install it on the client and every worker"
        )
    return MissingDependencyError(
        f"{action} {url} needs {package}, which is not installed ({err}): "
        'pip install "dask-openvino[remote]" on the client and every worker'
    )


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
        If the URI's protocol needs a package that is not installed (``s3fs``, ``aiohttp``, ...);
        the message names the ``remote`` extra for the protocols it covers.
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
        raise missing_backend(url, err) from err
    except FileNotFoundError as err:
        raise error(f"{what} not found: {url}") from err
    except (OSError, ValueError) as err:
        raise error(f"cannot read {what} {url}: {err}") from err
