"""Tables on disk for the command line: read Parquet or CSV, and tell a path's format from its name.

Writing is [`write_scored`][dask_openvino.output.write_scored]'s job.
"""

from __future__ import annotations

import logging
import math
import posixpath
from typing import Any

import click
import dask
import dask.dataframe as dd
import fsspec
import pyarrow.parquet as pq

from dask_openvino.errors import InputNotFoundError
from dask_openvino.parts import COMPRESSIONS, READ_ONLY_COMPRESSIONS, Format
from dask_openvino.storage import missing_backend

__all__ = [
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "PARTITION_BYTES",
    "PARTITION_ROWS",
    "Format",
    "format_of",
    "input_files",
    "read_table",
]


def _stem(path: str) -> tuple[str, bool]:
    """Return `path` in lower case without a trailing `/` or compression suffix, and whether it had the suffix.

    Input may end in any suffix of `parts.COMPRESSIONS` or `parts.READ_ONLY_COMPRESSIONS`;
    an output named with a read-only one is refused by `write_scored`.
    """
    name = path.rstrip("/").lower()
    for suffix in (*COMPRESSIONS, *READ_ONLY_COMPRESSIONS):
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
    try:
        fs, target = fsspec.core.url_to_fs(path)
    except ImportError as err:
        raise missing_backend(path, err) from err
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
