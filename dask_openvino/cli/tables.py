"""Tables on disk for the command line: read Parquet or CSV, write one file per partition, stage the output.

`dask-openvino predict` writes its part files into a hidden sibling directory that
[`StagedOutput`][dask_openvino.cli.tables.StagedOutput] renames to the output path
only when every partition succeeded, so an interrupted or failed job never leaves
output that looks complete.
"""

from __future__ import annotations

import json
import logging
import posixpath
import uuid
from typing import Any, Literal

import click
import dask.dataframe as dd
import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["Format", "StagedOutput", "format_of", "read_table", "write_partition"]

Format = Literal["parquet", "csv"]
"""A table's file format."""

_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")


def _stem(path: str) -> tuple[str, bool]:
    """Return `path` in lower case without a trailing `/` or compression suffix, and whether it had the suffix."""
    name = path.rstrip("/").lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix), True
    return name, False


def format_of(path: str, given: str) -> Format:
    """Return the format of `path`: `given`, or for `"auto"` CSV if it ends with `.csv`/`.tsv`, else Parquet.

    A compression suffix (`.gz`, `.zst`, ...) after `.csv` still means CSV.

    Parameters
    ----------
    path : str
        File, directory or glob, local or fsspec URI.
    given : {"auto", "parquet", "csv"}
        The `--input-format` / `--output-format` value.

    Returns
    -------
    {"parquet", "csv"}

    Examples
    --------
    >>> format_of("data/part-*.csv.gz", "auto"), format_of("s3://bucket/scored/", "auto")
    ('csv', 'parquet')
    """
    if given != "auto":
        return "csv" if given == "csv" else "parquet"
    name, _ = _stem(path)
    return "csv" if name.endswith((".csv", ".tsv")) else "parquet"


def read_table(path: str, fmt: Format, partitions: int | None = None) -> dd.DataFrame:
    """Read a Parquet or CSV table lazily, optionally into `partitions` partitions.

    Parquet is read with pyarrow dtypes, so that tensor (list) columns stay in
    Arrow buffers instead of one numpy array per row; `.tsv` files (`.tsv.gz`, ...)
    are read tab-separated, and a compressed CSV file as one partition, since it
    cannot be split.

    Parameters
    ----------
    path : str
        File, directory or glob, local or fsspec URI.
    fmt : {"parquet", "csv"}
        File format.
    partitions : int, optional
        Repartition into this many partitions.

    Returns
    -------
    dask.dataframe.DataFrame

    Raises
    ------
    click.ClickException
        If the table cannot be read.

    Examples
    --------
    >>> frame = read_table("features.parquet", "parquet", partitions=8)  # doctest: +SKIP
    """
    try:
        if fmt == "csv":
            name, compressed = _stem(path)
            frame: dd.DataFrame = dd.read_csv(
                path,
                sep="\t" if name.endswith(".tsv") else ",",
                # dask warns, then reads whole, when asked to split a compressed file in blocks.
                blocksize=None if compressed else "default",
            )
        else:
            frame = dd.read_parquet(path, dtype_backend="pyarrow")
    except (OSError, ValueError) as err:
        raise click.ClickException(f"cannot read {fmt} input {path}: {err}") from err
    if partitions is not None and partitions != frame.npartitions:
        frame = frame.repartition(npartitions=partitions)
    return frame


def write_partition(frame: pd.DataFrame, fs: Any, directory: str, fmt: Format, partition_info: Any = None) -> pd.Series:
    """Write one scored partition to `directory/part.<n>.<fmt>`; the task `predict` maps.

    Parameters
    ----------
    frame : pandas.DataFrame
        The scored partition.
    fs : fsspec.AbstractFileSystem
        The output's file system.
    directory : str
        The staging directory (it must exist: a task that outlives a cancelled job
        fails instead of recreating a directory that was cleaned up).
    fmt : {"parquet", "csv"}
        File format.
    partition_info : dict, optional
        Filled in by `map_partitions` with the partition number.

    Returns
    -------
    pandas.Series
        One value: the number of rows written.

    Examples
    --------
    >>> counts = scored.map_partitions(  # doctest: +SKIP
    ...     write_partition, out.fs, out.staging, "parquet", meta=pd.Series(dtype="int64", name="rows")
    ... )
    """
    number = partition_info["number"] if partition_info else 0
    path = f"{directory}/part.{number}.{fmt}"
    if fmt == "parquet":
        with fs.open(path, "wb") as f:
            pq.write_table(_arrow_table(frame), f)
    else:
        with fs.open(path, "w", encoding="utf-8", newline="") as f:
            frame.to_csv(f, index=False)
    return pd.Series([len(frame)], name="rows", dtype="int64")


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """Convert a partition for Parquet so that plain `pandas.read_parquet` reads it back.

    pandas records a list column's dtype as text such as
    `fixed_size_list<item: float>[10][pyarrow]`, which `read_parquet` cannot parse
    back (it raises `NotImplementedError`). Recording those columns as `object`
    makes pandas read them as arrays per row, and `dtype_backend="pyarrow"` as
    list columns again.
    """
    table = pa.Table.from_pandas(frame)
    metadata = dict(table.schema.metadata or {})
    if b"pandas" not in metadata:
        return table
    described = json.loads(metadata[b"pandas"])
    for column in described.get("columns", []):
        name = column.get("field_name")
        if name in table.column_names and pa.types.is_nested(table.schema.field(name).type):
            column["numpy_type"] = "object"
    metadata[b"pandas"] = json.dumps(described).encode()
    return table.replace_schema_metadata(metadata)


class StagedOutput:
    """An output directory that appears only once it is complete.

    Files are written into a hidden sibling directory
    (`.<name>.dask-openvino-<random>`); [`commit`][dask_openvino.cli.tables.StagedOutput.commit]
    renames it to the output path. Leaving the `with` block without a commit
    (an exception, Ctrl-C) removes the staging directory instead.

    Parameters
    ----------
    url : str
        Output path or fsspec URI.
    overwrite : bool, default False
        Replace an existing output at commit; otherwise an existing output is an error.

    Raises
    ------
    click.ClickException
        On entering, or at commit, if the output exists and `overwrite` is false.

    Examples
    --------
    >>> with StagedOutput("scored.parquet") as out:  # doctest: +SKIP
    ...     write_partition(frame, out.fs, out.staging, "parquet")
    ...     out.commit()
    """

    def __init__(self, url: str, *, overwrite: bool = False) -> None:
        self.fs, path = fsspec.core.url_to_fs(url)
        self.path = path.rstrip("/")
        self.url = url
        self.overwrite = overwrite
        parent, name = posixpath.split(self.path)
        self.staging = f"{parent}/.{name}.dask-openvino-{uuid.uuid4().hex[:12]}"
        self.committed = False

    def __enter__(self) -> StagedOutput:
        if self.fs.exists(self.path) and not self.overwrite:
            raise click.ClickException(f"output {self.url} already exists; pass --overwrite to replace it")
        self.fs.makedirs(self.staging, exist_ok=False)
        return self

    def commit(self) -> None:
        """Move the staged files to the output path, replacing it if `overwrite`."""
        if self.fs.exists(self.path):
            if not self.overwrite:
                raise click.ClickException(f"output {self.url} appeared while the job ran; pass --overwrite")
            self.fs.rm(self.path, recursive=True)
        self.fs.mv(self.staging, self.path, recursive=True)
        self.committed = True

    def __exit__(self, *exc_info: object) -> None:
        if self.committed:
            return
        try:
            self.fs.rm(self.staging, recursive=True)
        except FileNotFoundError:
            pass
        except OSError as err:
            # A task of a remote cluster may still be writing; the hidden name never looks complete.
            logging.getLogger(__name__).warning("could not remove the staging directory %s: %s", self.staging, err)
