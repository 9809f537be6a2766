"""Tables on disk for the command line: read Parquet or CSV, write one file per partition, stage the output.

`dask-openvino predict` writes its part files into a hidden sibling directory that
[`StagedOutput`][dask_openvino.cli.tables.StagedOutput] renames to the output path
only when every partition succeeded, so an interrupted or failed job never leaves
output that looks complete.
"""

from __future__ import annotations

import json
import logging
import math
import posixpath
import uuid
from typing import Any, Literal

import click
import dask
import dask.dataframe as dd
import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dask_openvino.errors import InputNotFoundError
from dask_openvino.plan import ERROR_COLUMN

__all__ = [
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "PARTITION_BYTES",
    "PARTITION_ROWS",
    "Format",
    "StagedOutput",
    "format_of",
    "input_files",
    "read_table",
    "write_partition",
]

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


PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
"""File names a Parquet directory's files end with (those of `dask.dataframe.read_parquet`)."""

CSV_SUFFIXES = (".csv", ".tsv")
"""File names CSV input ends with, optionally followed by a compression suffix."""

PARTITION_ROWS = 100_000
"""Rows a Parquet partition aims at: row groups are joined up to this many rows..."""

PARTITION_BYTES = 64 * 2**20
"""...and at most this many uncompressed bytes; a larger row group is a partition of its own."""

logger = logging.getLogger(__name__)


def _has_glob(path: str) -> bool:
    return any(char in path for char in "*?[")


def _accepts(name: str, fmt: Format) -> bool:
    stem, _ = _stem(name)
    return stem.endswith(CSV_SUFFIXES) if fmt == "csv" else name.lower().endswith(PARQUET_SUFFIXES)


def _kinds(names: list[str]) -> str:
    """Describe files by suffix, such as `12 .png, 1 .txt`."""
    counts: dict[str, int] = {}
    for name in names:
        suffix = posixpath.splitext(name)[1].lower() or "(no suffix)"
        counts[suffix] = counts.get(suffix, 0) + 1
    return ", ".join(f"{n} {suffix}" for suffix, n in sorted(counts.items(), key=lambda item: -item[1]))


def input_files(path: str, fmt: Format) -> tuple[Any, list[str]]:
    """Return the file system and the files that `path` names, or say why there are none.

    `path` is a file, a directory (its files of format `fmt`, in subdirectories
    too, as `dask.dataframe.read_parquet` finds them) or a glob.

    Parameters
    ----------
    path : str
        File, directory or glob, local or fsspec URI.
    fmt : {"parquet", "csv"}
        The format read; a directory's files must end like it
        ([`PARQUET_SUFFIXES`][dask_openvino.cli.tables.PARQUET_SUFFIXES],
        [`CSV_SUFFIXES`][dask_openvino.cli.tables.CSV_SUFFIXES]).

    Returns
    -------
    fs : fsspec.AbstractFileSystem
    files : list of str
        Sorted paths, without the protocol.

    Raises
    ------
    InputNotFoundError
        If nothing exists at `path`, the glob matches no file, or a directory holds
        no file of format `fmt` (the message says what it holds).

    Examples
    --------
    >>> fs, files = input_files("features.parquet", "parquet")  # doctest: +SKIP
    """
    fs, target = fsspec.core.url_to_fs(path)
    if _has_glob(target):
        files = sorted(str(f) for f in fs.glob(target) if not fs.isdir(f))
        if not files:
            raise InputNotFoundError(f"not found: {path} (the pattern matches no file)")
        return fs, files
    if not fs.exists(target):
        raise InputNotFoundError(f"not found: {path}")
    if not fs.isdir(target):
        return fs, [target]
    found = sorted(str(f) for f in fs.find(target) if not posixpath.basename(str(f)).startswith((".", "_")))
    files = [f for f in found if _accepts(f, fmt)]
    if not files:
        raise InputNotFoundError(_no_table_files(path, fmt, found))
    return fs, files


def _no_table_files(path: str, fmt: Format, found: list[str]) -> str:
    """Say what a directory without `fmt` files holds, and what is accepted."""
    holds = f"it holds {_kinds(found)}" if found else "it is empty"
    other: Format = "parquet" if fmt == "csv" else "csv"
    hint = ""
    if any(_accepts(name, other) for name in found):
        hint = f"; for its {other} files pass --input-format {other}"
    accepted = (
        "Parquet files (" + ", ".join(PARQUET_SUFFIXES) + ")"
        if fmt == "parquet"
        else "CSV files (" + ", ".join(CSV_SUFFIXES) + ", optionally compressed)"
    )
    return f"no {fmt} files in directory {path}: {holds}; accepted: {accepted}{hint}"


def _row_groups_per_partition(fs: Any, first: str) -> tuple[int, int]:
    """Return row groups per partition and the first file's rows, read from its footer.

    A partition gets about `PARTITION_ROWS` rows, and at most `PARTITION_BYTES`.
    """
    with fs.open(first, "rb") as f:
        metadata = pq.ParquetFile(f).metadata
    groups = metadata.num_row_groups
    if groups == 0 or metadata.num_rows == 0:
        return 1, metadata.num_rows
    rows = metadata.num_rows / groups
    size = sum(metadata.row_group(i).total_byte_size for i in range(groups)) / groups
    by_rows = math.ceil(PARTITION_ROWS / max(rows, 1))
    by_bytes = int(PARTITION_BYTES // max(size, 1))
    return max(1, min(by_rows, by_bytes)), metadata.num_rows


def read_table(path: str, fmt: Format, partitions: int | None = None) -> dd.DataFrame:
    """Read a Parquet or CSV table lazily, in partitions every worker can take one of.

    Parquet is read with pyarrow dtypes, so that tensor (list) columns stay in
    Arrow buffers instead of one numpy array per row. Its partitions follow the
    row groups, joined up to about [`PARTITION_ROWS`][dask_openvino.cli.tables.PARTITION_ROWS]
    rows: one large file written in several row groups becomes several partitions
    (a file of one row group stays one partition, and a warning says so). Columns
    the job does not use are not read when the frame is projected onto the ones
    it needs (Dask pushes the projection into the reader).
    CSV is read with pyarrow dtypes too; `.tsv` files (`.tsv.gz`, ...) are read
    tab-separated, and a compressed CSV file as one partition, since it cannot be split.

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
    InputNotFoundError
        If `path` names no file of format `fmt` ([`input_files`][dask_openvino.cli.tables.input_files]).
    click.ClickException
        If the table cannot be read.

    Examples
    --------
    >>> frame = read_table("features.parquet", "parquet")  # doctest: +SKIP
    >>> frame.npartitions  # a 1,000,000-row file written in row groups of 100,000 rows  # doctest: +SKIP
    10
    """
    fs, files = input_files(path, fmt)
    first_rows = 0
    try:
        if fmt == "csv":
            name, compressed = _stem(files[0])
            # pyarrow dtypes as for Parquet; their strings need no conversion step, which would
            # otherwise stand between the reader and the scoring step in every task's name.
            with dask.config.set({"dataframe.convert-string": False}):
                frame: dd.DataFrame = dd.read_csv(
                    [fs.unstrip_protocol(f) for f in files],
                    sep="\t" if name.endswith(".tsv") else ",",
                    # dask warns, then reads whole, when asked to split a compressed file in blocks.
                    blocksize=None if compressed else "default",
                    dtype_backend="pyarrow",
                )
        else:
            groups, first_rows = _row_groups_per_partition(fs, files[0])
            frame = dd.read_parquet(path, dtype_backend="pyarrow", split_row_groups=groups)
    except (OSError, ValueError, NotImplementedError) as err:
        # Dask wraps the reader's error in "An error occurred while calling the read_parquet method ...".
        cause = err.__cause__ if isinstance(err.__cause__, Exception) else err
        raise click.ClickException(f"cannot read {fmt} input {path}: {cause}") from err
    if partitions is not None and partitions != frame.npartitions:
        repartitioned: dd.DataFrame = frame.repartition(npartitions=partitions)
        return repartitioned
    if frame.npartitions == 1 and len(files) == 1 and first_rows > 2 * PARTITION_ROWS:
        logger.warning(
            "%s is one row group of %s rows: one partition, scored by one worker; write it in smaller row "
            "groups (pyarrow: row_group_size=%s) or pass --partitions N",
            path,
            f"{first_rows:,}",
            PARTITION_ROWS,
        )
    logger.info("input %s: %d %s file(s), %d partitions", path, len(files), fmt, frame.npartitions)
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
        `rows`: the number of rows written; `failed`: how many of them have a
        reason in the error column (`errors="null"`).

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
    failed = int(frame[ERROR_COLUMN].notna().sum()) if ERROR_COLUMN in frame.columns else 0
    return pd.Series([len(frame), failed], index=["rows", "failed"], name="rows", dtype="int64")


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
