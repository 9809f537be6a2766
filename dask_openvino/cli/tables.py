"""Tables on disk for the command line: read Parquet or CSV, and tell a path's format from its name.

Writing is [`write_scored`][dask_openvino.output.write_scored]'s job.
"""

from __future__ import annotations

import click
import dask.dataframe as dd

from dask_openvino.parts import Format

__all__ = ["Format", "format_of", "read_table"]

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
