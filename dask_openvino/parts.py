"""Part files on any fsspec file system: each written atomically and recorded, joined into one file on demand.

[`PartWriter`][dask_openvino.parts.PartWriter] is the task that
[`write_scored`][dask_openvino.output.write_scored] runs once per partition on the
workers: it writes `part.<n>.<ext>` under a hidden temporary name, renames it (an
`os.replace` on a local disk; object stores publish an upload whole), then records the
part in `_parts/<n>.json`. A part therefore exists whole or not at all, and is counted
only once it exists. A task that outlives its job (cancelled, its staging directory
removed) checks that the job's manifest is still there before each rename, and fails
instead of publishing a part under the removed path.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import posixpath
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Literal

import pandas as pd
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from dask_openvino.errors import OutputError
from dask_openvino.plan import ERROR_COLUMN
from dask_openvino.schemas import PartFooter, arrow_table, has_null_type, settled_schema, typed_schema

__all__ = [
    "COMPRESSIONS",
    "MANIFEST",
    "PART_NAME",
    "RECORDS",
    "Format",
    "READ_ONLY_COMPRESSIONS",
    "PartWriter",
    "join_parts",
    "read_json",
    "remove_tree",
    "type_first_part",
    "write_atomic",
    "write_json",
]

Format = Literal["parquet", "csv"]
"""A table's file format."""

MANIFEST = "_dask_openvino.json"
"""The file, in a directory output, that records the job and its parts (pyarrow and Dask skip `_` files)."""

RECORDS = "_parts"
"""The directory of per-part records while a job runs."""

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
"""Name suffixes of compressed CSV, read and written, and their fsspec codecs."""

READ_ONLY_COMPRESSIONS = {".zip": "zip"}
"""Name suffixes of compressed CSV that input may have but output may not.

A zip file is an archive, not a compressed stream: Dask reads a `.csv.zip` holding one
CSV file, but a written one would hold a member named `file`, which is no one's choice.
"""

PART_NAME = re.compile(r"part\.\d+\.(parquet|csv|tsv)(\.(gz|bz2|xz|zst))?")
"""A part file's name, as this package or its earlier versions wrote it."""


def read_json(fs: Any, path: str) -> dict[str, Any] | None:
    """Return the JSON object in `path`, or None if there is no such file.

    Examples
    --------
    >>> read_json(fsspec.filesystem("file"), "/nonexistent/_dask_openvino.json") is None  # doctest: +SKIP
    True
    """
    try:
        with fs.open(path, "rb") as f:
            loaded: dict[str, Any] = json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return loaded


def write_atomic(
    fs: Any,
    path: str,
    write: Callable[[IO[bytes]], None],
    compression: str | None = None,
    *,
    require: tuple[str, str] | None = None,
) -> None:
    """Write `path` under a hidden temporary name, then rename it: readers see the whole file or none.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The file system of `path`.
    path : str
        The file to write.
    write : callable
        Writes the content to the open binary file it is given.
    compression : str, optional
        fsspec codec.
    require : (str, str), optional
        A manifest and a job key: the manifest must still exist and name that job when
        the file is renamed into place. Object stores have no directories: a task
        writing under a staging directory that was removed would recreate it, and a
        task of a cancelled job would write into the staging directory of the job that
        replaced it; the temporary file is removed instead and `OutputError` raised.
        The check runs just before the rename; a change after it is not seen.

    Raises
    ------
    OutputError
        If `require`'s manifest is gone or names another job.

    Examples
    --------
    >>> write_atomic(fsspec.filesystem("file"), "/tmp/x.txt", lambda f: f.write(b"done"))  # doctest: +SKIP
    """
    directory, name = posixpath.split(path)
    temporary = f"{directory}/.{name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with fs.open(temporary, "wb", compression=compression) as f:
            write(f)
        if require is not None:
            manifest = read_json(fs, require[0])
            if manifest is None or manifest.get("key") != require[1]:
                raise OutputError(
                    f"not writing {path}: {require[0]} is gone or another job's, so its job was cancelled"
                )
        if isinstance(fs, LocalFileSystem):
            os.replace(temporary, path)
        else:
            fs.mv(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            fs.rm(temporary)
        raise


def write_json(fs: Any, path: str, value: Any, *, require: tuple[str, str] | None = None) -> None:
    """Write `value` as JSON to `path`, atomically; `require` as for [`write_atomic`][dask_openvino.parts.write_atomic].

    Examples
    --------
    >>> write_json(fsspec.filesystem("file"), "/tmp/record.json", {"rows": 3})  # doctest: +SKIP
    """
    data = json.dumps(value, indent=1).encode()

    def write(f: IO[bytes]) -> None:
        f.write(data)

    write_atomic(fs, path, write, require=require)


@dataclass(frozen=True)
class PartWriter:
    """The task that writes one scored partition into a staging directory and records it.

    Attributes
    ----------
    fs : fsspec.AbstractFileSystem
        The output's file system.
    staging : str
        The directory the parts go to. Its manifest (`_dask_openvino.json`) must exist
        when a part or its record is renamed into place: a task that outlives a
        cancelled job raises `OutputError` instead of writing under the removed
        directory, which an object store would recreate.
    format : {"parquet", "csv"}
    sep : str
        CSV field separator.
    header : bool
        Whether a CSV part starts with the column names (not when parts are joined).
    compression : str or None
        fsspec codec of CSV parts.
    job : str
        The key of the job, stored in each record.
    width : int
        Digits of the part number (zero-padded, so that lexical order is row order).

    Examples
    --------
    >>> writer = PartWriter(fs, ".out.dask-openvino-partial", "parquet", ",", True, None, key, 5)  # doctest: +SKIP
    >>> writer(frame, 3)["file"]  # doctest: +SKIP
    'part.00003.parquet'
    """

    fs: Any
    staging: str
    format: Format
    sep: str
    header: bool
    compression: str | None
    job: str
    width: int

    def __call__(self, frame: pd.DataFrame, number: int) -> dict[str, Any]:
        """Write partition `number`; return its record (partition, file, rows, failed, job).

        `failed` counts the rows with a reason in the error column (`errors="null"`).
        """
        extension = "parquet" if self.format == "parquet" else ("tsv" if self.sep == "\t" else "csv")
        suffix = next((s for s, codec in COMPRESSIONS.items() if codec == self.compression), "")
        name = f"part.{number:0{self.width}d}.{extension}{suffix}"
        manifest = f"{self.staging}/{MANIFEST}"
        write = self._parquet(frame) if self.format == "parquet" else self._csv(frame)
        write_atomic(self.fs, f"{self.staging}/{name}", write, self.compression, require=(manifest, self.job))
        failed = int(frame[ERROR_COLUMN].notna().sum()) if ERROR_COLUMN in frame.columns else 0
        record = {"partition": number, "file": name, "rows": len(frame), "failed": failed, "job": self.job}
        write_json(
            self.fs, f"{self.staging}/{RECORDS}/{number:0{self.width}d}.json", record, require=(manifest, self.job)
        )
        return record

    def _parquet(self, frame: pd.DataFrame) -> Callable[[IO[bytes]], None]:
        def write(f: IO[bytes]) -> None:
            pq.write_table(arrow_table(frame), f)

        return write

    def _csv(self, frame: pd.DataFrame) -> Callable[[IO[bytes]], None]:
        def write(f: IO[bytes]) -> None:
            text = io.TextIOWrapper(f, encoding="utf-8", newline="")
            frame.to_csv(text, index=False, sep=self.sep, header=self.header)
            text.flush()
            text.detach()

        return write


def join_parts(
    fs: Any,
    files: list[str],
    path: str,
    fmt: Format,
    *,
    header: str = "",
    compression: str | None = None,
    meta: pd.DataFrame | None = None,
) -> None:
    """Join part files, in order, into the one file `path`, written atomically.

    CSV parts (written without a header) follow `header`. Parquet parts (written by
    [`arrow_table`][dask_openvino.schemas.arrow_table], their index stored as a column) are
    read and written one at a time (empty ones are skipped), after a first pass over
    their footers settles the schema; the file reads back with the index that the
    parts' frames joined by `pandas.concat` have.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The file system of the parts and of `path`.
    files : list of str
        The part files, in row order.
    path : str
        The file to write.
    fmt : {"parquet", "csv"}
        The format of the parts and of `path`.
    header : str
        The first line of a CSV file.
    compression : str, optional
        fsspec codec of the joined file.
    meta : pandas.DataFrame, optional
        The frame's meta: a Parquet file joined from no parts has its schema (else none).

    Raises
    ------
    OutputError
        If non-empty Parquet parts store different indexes (a column cannot hold two
        types), different columns, or a column in two types (nothing is cast); or if
        a part keeps its index as metadata only (written by a version before the
        index was stored as a column).

    Examples
    --------
    >>> files = ["stage/part.00000.csv", "stage/part.00001.csv"]
    >>> join_parts(fs, files, "scored.csv", "csv", header="a,b" + chr(10))  # doctest: +SKIP
    """
    if fmt == "csv":

        def write_csv(out: IO[bytes]) -> None:
            out.write(header.encode())
            for file in files:
                with fs.open(file, "rb") as part:
                    shutil.copyfileobj(part, out)

        write_atomic(fs, path, write_csv, compression)
        return
    parts = [PartFooter.read(fs, file) for file in files]  # footers only: the first pass holds no rows
    schema = settled_schema(parts, path, meta)

    def write_parquet(out: IO[bytes]) -> None:
        with pq.ParquetWriter(out, schema) as writer:
            for part in parts:
                if part.rows == 0:  # its index and column types may be null or object: nothing to cast
                    continue
                with fs.open(part.file, "rb") as f:
                    table = pq.read_table(f)
                writer.write_table(table.select(schema.names).cast(schema))

    write_atomic(fs, path, write_parquet, compression)


def type_first_part(fs: Any, files: list[str], rows: list[int], meta: pd.DataFrame) -> None:
    """Rewrite the first Parquet part of a directory output where its columns or index have no type.

    A reader takes a directory's schema from its first file and casts the others to
    it, so a first part whose object column is all null (pyarrow types it `null`),
    or an empty one (whose object columns and index carry no type), made
    `pandas.read_parquet` raise (`Unsupported cast from string to null`) or turn the
    labels of the parts after it into strings. The first part is rewritten with the
    schema of the first part with rows, each `null` column typed as the next parts
    with rows have it (their footers are read until none is left); `null` becomes any
    type without changing a value. Parts are not compared otherwise: the reader
    decides what differing types mean, as for any directory of Parquet files.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
        The file system of the parts.
    files : list of str
        The part files of the output, in row order.
    rows : list of int
        The number of rows of each part, as recorded when it was written.
    meta : pandas.DataFrame
        The frame's meta: the schema of an output whose parts are all empty.

    Raises
    ------
    OutputError
        If a part read keeps its index as metadata only (written by a version before
        the index was stored as a column).

    Examples
    --------
    >>> type_first_part(fs, ["out/part.00000.parquet", "out/part.00001.parquet"], [0, 10], meta)  # doctest: +SKIP
    """
    if not files:
        return
    first = PartFooter.read(fs, files[0])
    if first.rows and not has_null_type(first.schema):
        return
    later = (PartFooter.read(fs, file) for file, count in zip(files[1:], rows[1:], strict=True) if count)
    schema = typed_schema(itertools.chain([first], later), meta)
    if first.schema.equals(schema, check_metadata=True):
        return
    if first.rows:
        with fs.open(first.file, "rb") as f:
            table = pq.read_table(f).cast(schema)  # only null columns change type: every value is kept
    else:
        table = schema.empty_table()
    write_atomic(fs, first.file, lambda f: pq.write_table(table, f))


def remove_tree(fs: Any, path: str) -> None:
    """Remove a directory if it exists; retried, since a cancelled task may still be finishing a file in it.

    Examples
    --------
    >>> remove_tree(fsspec.filesystem("file"), "/tmp/.scored.parquet.dask-openvino-partial")  # doctest: +SKIP
    """
    for attempt in range(10):
        try:
            fs.rm(path, recursive=True)
        except OSError:
            # FileNotFoundError too: a task renaming its temporary file while the tree is
            # walked makes the walk stop half-way, with the directory still there.
            if not fs.exists(path):
                return
            if attempt == 9:
                raise
            time.sleep(0.2)
        else:
            if not fs.exists(path):
                return
