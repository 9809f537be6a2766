"""Image files straight from storage: list them on the client, read them on the workers.

[`read_images`][dask_openvino.images.read_images] turns a folder, glob or single file
(a local path or any fsspec URI) into a Dask DataFrame with one row per image. Only
the listing happens on the client; the task graph holds paths, and each partition
reads its files on the worker that computes it, several at a time
([`read_files`][dask_openvino.images.read_files]): one batched ``cat_ranges`` call
on asynchronous filesystems (S3, GCS, HTTP), a small thread pool elsewhere. The
same reader serves [`ImageRead`][dask_openvino.preprocessing.image_steps.ImageRead],
so a column of paths is fetched per partition rather than per row.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import dask.dataframe as dd
import fsspec
import pandas as pd
import pyarrow as pa
from dask.utils import parse_bytes

from dask_openvino.checks import positive_int
from dask_openvino.errors import InputNotFoundError, InputReadError, InputSchemaError
from dask_openvino.storage import StorageOptions, missing_backend

__all__ = [
    "DEFAULT_PARTITION_SIZE",
    "IMAGE_EXTENSIONS",
    "ImageFiles",
    "list_images",
    "read_files",
    "read_images",
    "read_urls",
]

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
"""File extensions [`read_images`][dask_openvino.images.read_images] accepts, in any case."""

DEFAULT_PARTITION_SIZE = 256
"""Files per partition when neither ``partition_size`` nor ``blocksize`` is given."""

_READERS = 8
"""Files one partition reads at once from a synchronous filesystem (local disk, memory)."""

_MAGIC = re.compile(r"[*?\[]")
_PATH = pd.StringDtype("pyarrow")
_BYTES = pd.ArrowDtype(pa.binary())


@dataclass(frozen=True)
class ImageFiles:
    """The image files a folder, glob or file names, listed once on the client.

    Attributes
    ----------
    fs : fsspec.AbstractFileSystem
        The filesystem they live on (picklable: it travels to the workers).
    root : str
        The folder, or the part of a glob before its first wildcard; label folders lie under it.
    paths : tuple of str
        The files, in sorted order, as ``fs`` names them.
    sizes : tuple of int
        Their sizes in bytes, from the listing.

    Examples
    --------
    >>> files = list_images("photos/")  # doctest: +SKIP
    >>> files.paths[:2], files.in_label_folders  # doctest: +SKIP
    (('/data/photos/cat/1.jpg', '/data/photos/cat/2.jpg'), True)
    """

    fs: Any
    root: str
    paths: tuple[str, ...]
    sizes: tuple[int, ...]

    @property
    def urls(self) -> list[str]:
        """The files as users and [`ImageRead`][dask_openvino.preprocessing.image_steps.ImageRead] name them.

        Local files are absolute paths; others are URIs with their protocol.
        """
        if _is_local_fs(self.fs):
            return list(self.paths)
        return [self.fs.unstrip_protocol(path) for path in self.paths]

    def _relative(self, path: str) -> str:
        prefix = self.root.rstrip("/") + "/"
        return path[len(prefix) :] if path.startswith(prefix) else posixpath.basename(path)

    @property
    def in_label_folders(self) -> bool:
        """Whether every file lies in a folder under ``root``, as ``labels="folder"`` needs."""
        return all("/" in self._relative(path) for path in self.paths)

    def labels(self) -> list[str]:
        """Return each file's label: the name of the folder under ``root`` it lies in.

        Raises
        ------
        InputSchemaError
            If a file lies directly in ``root``, outside any label folder.
        """
        labels = []
        for path in self.paths:
            label, sep, _ = self._relative(path).partition("/")
            if not sep:
                raise InputSchemaError(
                    f"labels='folder' needs every image inside a label folder (root/<label>/image.jpg), but "
                    f"{path} lies directly in {self.root}"
                )
            labels.append(label)
        return labels

    def frame(
        self,
        *,
        include_bytes: bool = False,
        labels: Literal[False, "folder"] = False,
        partition_size: int | None = None,
        blocksize: int | str | None = None,
    ) -> dd.DataFrame:
        """Return the files as a Dask DataFrame whose partitions read them on the workers.

        The parameters are those of [`read_images`][dask_openvino.images.read_images].

        Examples
        --------
        >>> files = list_images("val/")  # doctest: +SKIP
        >>> files.frame(labels="folder" if files.in_label_folders else False)  # doctest: +SKIP
        """
        if labels not in (False, "folder"):
            raise ValueError(f"labels must be False or 'folder', got {labels!r}")
        names = self.labels() if labels == "folder" else None
        urls = self.urls
        groups = _groups(self.sizes, partition_size, blocksize)
        parts: list[_Part] = [
            (
                group.start,
                self.paths[group.start : group.stop],
                tuple(urls[group.start : group.stop]),
                tuple(names[group.start : group.stop]) if names is not None else None,
            )
            for group in groups
        ]
        meta = _read_partition((0, (), (), () if names is not None else None), self.fs, include_bytes)
        divisions = (*(group.start for group in groups), len(urls) - 1)
        frame: dd.DataFrame = dd.from_map(  # type: ignore[no-untyped-call]
            _read_partition,
            parts,
            args=(self.fs, include_bytes),
            meta=meta,
            divisions=divisions,
            label="read-images",
            enforce_metadata=False,
        )
        return frame


def _is_local_fs(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def _glob_root(pattern: str) -> str:
    parts = pattern.split("/")
    fixed = next(i for i, part in enumerate(parts) if _MAGIC.search(part))
    return "/".join(parts[:fixed]) or "/"


def list_images(urlpath: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> ImageFiles:
    """List the image files of a folder (recursively), a glob or one file; nothing is read.

    Parameters
    ----------
    urlpath : str or path-like
        A folder, a glob (``photos/*/*.jpg``, ``s3://bucket/**/*.png``) or one file.
    storage_options : dict, optional
        fsspec options (credentials, endpoint, ...).

    Returns
    -------
    ImageFiles

    Raises
    ------
    InputNotFoundError
        If nothing exists there, or no file has one of the
        [`IMAGE_EXTENSIONS`][dask_openvino.images.IMAGE_EXTENSIONS].
    MissingDependencyError
        If the URI's protocol needs a package that is not installed.

    Examples
    --------
    >>> files = list_images("photos/")  # doctest: +SKIP
    >>> files.urls[:2]  # doctest: +SKIP
    ['/data/photos/cat/1.jpg', '/data/photos/cat/2.jpg']
    """
    url = os.fspath(urlpath)
    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    except ImportError as err:
        raise missing_backend(url, err) from err
    path = path.rstrip("/") or "/"
    if _MAGIC.search(path):
        found = fs.glob(path, detail=True)
        root = _glob_root(path)
    elif fs.isdir(path):
        found = fs.find(path, detail=True)
        root = path
    elif fs.isfile(path):
        found = {path: fs.info(path)}
        root = posixpath.dirname(path)
    else:
        raise InputNotFoundError(f"no file, folder or glob matches {url}")
    files = {name: info for name, info in found.items() if info.get("type") == "file"}
    images = sorted(name for name in files if posixpath.splitext(name)[1].lower() in IMAGE_EXTENSIONS)
    if not images:
        skipped = f" ({len(files)} other file{'s' if len(files) != 1 else ''} skipped)" if files else ""
        raise InputNotFoundError(
            f"no image files in {url}{skipped}: looked for the extensions {', '.join(IMAGE_EXTENSIONS)} in any case"
        )
    return ImageFiles(fs, root, tuple(images), tuple(int(files[name].get("size") or 0) for name in images))


def _groups(sizes: Sequence[int], partition_size: int | None, blocksize: int | str | None) -> list[range]:
    """Split files into consecutive partitions: by count, or by bytes (a larger file gets its own)."""
    if partition_size is not None and blocksize is not None:
        raise ValueError("give partition_size= (files per partition) or blocksize= (bytes per partition), not both")
    if blocksize is None:
        count = positive_int(DEFAULT_PARTITION_SIZE if partition_size is None else partition_size, "partition_size")
        return [range(start, min(start + count, len(sizes))) for start in range(0, len(sizes), count)]
    limit = parse_bytes(blocksize) if isinstance(blocksize, str) else positive_int(blocksize, "blocksize")
    if limit <= 0:
        raise ValueError(f"blocksize must be positive, got {blocksize!r}")
    groups: list[range] = []
    start, total = 0, 0
    for position, size in enumerate(sizes):
        if position > start and total + size > limit:
            groups.append(range(start, position))
            start, total = position, 0
        total += size
    groups.append(range(start, len(sizes)))
    return groups


def _read_one(fs: Any, path: str) -> bytes | Exception:
    try:
        data: bytes = fs.cat_file(path)
        return data
    except (OSError, ValueError) as err:
        return err


def read_files(fs: Any, paths: Sequence[str]) -> list[bytes | Exception]:
    """Read whole files, several at a time; each result is the file's bytes or the error reading it.

    Asynchronous filesystems (S3, GCS, HTTP, ...) get one ``cat_ranges`` call, which
    fsspec runs concurrently in batches; others a thread pool of a few readers.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The filesystem.
    paths : sequence of str
        Paths as ``fs`` names them.

    Returns
    -------
    list of bytes or Exception
        In the order of ``paths``.

    Examples
    --------
    >>> fs = fsspec.filesystem("memory")
    >>> fs.pipe("/doc/a.bin", b"abc")
    >>> read_files(fs, ["/doc/a.bin"])
    [b'abc']
    """
    if not paths:
        return []
    if getattr(fs, "async_impl", False):
        return list(fs.cat_ranges(list(paths), [None] * len(paths), [None] * len(paths), on_error="return"))
    if len(paths) == 1:
        return [_read_one(fs, paths[0])]
    with ThreadPoolExecutor(min(_READERS, len(paths)), thread_name_prefix="dask-openvino-read") as pool:
        return list(pool.map(lambda path: _read_one(fs, path), paths))


def read_urls(urls: Sequence[str], options: StorageOptions = ()) -> list[bytes | Exception]:
    """Read whole files named by local paths or fsspec URIs, several at a time.

    Files on the same filesystem are read together with
    [`read_files`][dask_openvino.images.read_files].

    Parameters
    ----------
    urls : sequence of str
        Local paths or URIs, possibly on different filesystems.
    options : StorageOptions
        fsspec storage options.

    Returns
    -------
    list of bytes or Exception
        In the order of ``urls``.

    Raises
    ------
    MissingDependencyError
        If a URI's protocol needs a package that is not installed.

    Examples
    --------
    >>> fsspec.filesystem("memory").pipe("/doc/b.bin", b"xyz")
    >>> read_urls(["memory://doc/b.bin"])
    [b'xyz']
    """
    by_fs: dict[Any, list[tuple[int, str]]] = {}
    for position, url in enumerate(urls):
        try:
            fs, path = fsspec.core.url_to_fs(url, **dict(options))
        except ImportError as err:
            raise missing_backend(url, err) from err
        by_fs.setdefault(fs, []).append((position, path))
    results: list[bytes | Exception] = [b""] * len(urls)
    for fs, members in by_fs.items():
        for (position, _), data in zip(members, read_files(fs, [path for _, path in members]), strict=True):
            results[position] = data
    return results


_Part = tuple[int, tuple[str, ...], tuple[str, ...], tuple[str, ...] | None]
"""One partition's first row number, paths (as the filesystem names them), URLs and labels."""


def _read_partition(part: _Part, fs: Any, include_bytes: bool) -> pd.DataFrame:
    """Build one partition on the worker; the files are read here, not on the client."""
    start, paths, urls, labels = part
    columns: dict[str, pd.Series] = {}
    index = pd.RangeIndex(start, start + len(paths))
    columns["path"] = pd.Series(urls, index=index, dtype=_PATH)
    if labels is not None:
        columns["label"] = pd.Series(labels, index=index, dtype=_PATH)
    if include_bytes:
        blobs: list[bytes] = []
        for url, data in zip(urls, read_files(fs, paths), strict=True):
            if isinstance(data, FileNotFoundError):
                raise InputNotFoundError(f"image file {url} was listed but is gone") from data
            if isinstance(data, Exception):
                raise InputReadError(f"cannot read image file {url}: {data}") from data
            blobs.append(data)
        columns["bytes"] = pd.Series(blobs, index=index, dtype=_BYTES)
    return pd.DataFrame(columns)


def read_images(
    urlpath: str | os.PathLike[str],
    *,
    include_bytes: bool = False,
    labels: Literal[False, "folder"] = False,
    partition_size: int | None = None,
    blocksize: int | str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> dd.DataFrame:
    """Read a folder or glob of image files into a Dask DataFrame, one row per image.

    The files are listed on the client and read on the workers, several at a time.
    Columns: ``path`` (string; absolute local paths, or URIs with their protocol),
    ``label`` (string) with ``labels="folder"``, and ``bytes``
    (``pd.ArrowDtype(pa.binary())``) with ``include_bytes=True``. Rows are in sorted
    path order and the index numbers them from 0 across partitions.

    Score the images with ``.ov.predict(..., inputs="path", preprocess=...)`` and an
    [`ImageRead`][dask_openvino.preprocessing.image_steps.ImageRead] pipeline (the
    files are then read while scoring, and never kept), or ``inputs="bytes"`` and
    [`ImageBytesToTensor`][dask_openvino.preprocessing.image_steps.ImageBytesToTensor].

    Parameters
    ----------
    urlpath : str or path-like
        A folder (searched recursively), a glob (``photos/*/*.jpg``,
        ``s3://bucket/val/**/*.JPEG``) or one file; local or any fsspec URI. Files
        whose extension is not one of [`IMAGE_EXTENSIONS`][dask_openvino.images.IMAGE_EXTENSIONS]
        (any case) are skipped.
    include_bytes : bool, default False
        Add the encoded file contents as a ``bytes`` column.
    labels : False or "folder", default False
        ``"folder"``: add a ``label`` column holding the name of the folder each image
        lies in under the folder (or the glob's fixed part), as torchvision's
        ``ImageFolder`` reads ``root/<label>/image.jpg``.
    partition_size : int, optional
        Files per partition (256 unless ``blocksize`` is given).
    blocksize : int or str, optional
        Bytes per partition instead (``"64MiB"``), from the sizes the listing reports;
        a larger file makes a partition of its own.
    storage_options : dict, optional
        fsspec options (credentials, endpoint, ...), used on the client and the workers.

    Returns
    -------
    dask.dataframe.DataFrame

    Raises
    ------
    InputNotFoundError
        If nothing matches ``urlpath``, or no file there has an image extension; with
        ``include_bytes=True``, when the partition is computed, if a listed file is gone.
    InputReadError
        With ``include_bytes=True``, when the partition is computed, if a listed file
        cannot be read (the message names it and the reason).
    InputSchemaError
        With ``labels="folder"``, if an image lies outside any label folder.
    ValueError
        If both ``partition_size`` and ``blocksize`` are given, or either is not positive.

    Examples
    --------
    >>> import dask_openvino as dov
    >>> photos = dov.read_images("val/", labels="folder")  # doctest: +SKIP
    >>> pipeline = dov.ChainedPreprocessing([dov.ImageRead(), dov.ImageResize(224, 224)])
    >>> photos.ov.predict("resnet.xml", inputs="path", preprocess=pipeline)  # doctest: +SKIP
    """
    return list_images(urlpath, storage_options).frame(
        include_bytes=include_bytes, labels=labels, partition_size=partition_size, blocksize=blocksize
    )
