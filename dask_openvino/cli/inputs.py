"""What `dask-openvino predict` reads as INPUT: a table (Parquet or CSV), or a folder or glob of image files.

Tables are read by [`read_table`][dask_openvino.cli.tables.read_table]. Image files
are listed on the client ([`list_images`][dask_openvino.images.list_images]) and read
on the workers by the image pipeline, from a `path` column.
"""

from __future__ import annotations

from typing import Literal

import click
import dask.dataframe as dd
import fsspec

from dask_openvino.cli.processing import Preprocess
from dask_openvino.cli.tables import Format, format_of, read_table
from dask_openvino.images import IMAGE_EXTENSIONS, list_images
from dask_openvino.preprocessing import ChainedPreprocessing, ImageBytesToTensor, ImageRead

__all__ = ["InputFormat", "input_format", "read_input", "reading_pipeline"]

InputFormat = Format | Literal["images"]
"""An INPUT's format: a table format, or `"images"` for image files."""


def input_format(path: str, given: str, preprocess: Preprocess | None) -> InputFormat:
    """Return `--input-format`, where auto with an image pipeline means images for a glob or folder of image files.

    Parameters
    ----------
    path : str
        INPUT: a file, directory or glob, local or fsspec URI.
    given : {"auto", "parquet", "csv", "images"}
        The `--input-format` value.
    preprocess : Preprocess or None
        The `--preprocess` pipeline.

    Returns
    -------
    {"parquet", "csv", "images"}

    Examples
    --------
    >>> input_format("features/part-*.csv", "auto", None)
    'csv'
    """
    if given == "images":
        return "images"
    if given != "auto" or not isinstance(preprocess, ChainedPreprocessing) or format_of(path, given) == "csv":
        return format_of(path, given)
    if path.rstrip("/").lower().endswith(IMAGE_EXTENSIONS):
        return "images"
    try:
        fs, root = fsspec.core.url_to_fs(path)
        listed = fs.glob(root) if any(c in root for c in "*?[") else fs.find(root) if fs.isdir(root) else []
        names = [name.lower() for name in listed]
    except (ImportError, OSError):
        return format_of(path, given)  # reading the table reports why
    holds_images = any(name.endswith(IMAGE_EXTENSIONS) for name in names)
    return "images" if holds_images and not any(name.endswith(".parquet") for name in names) else "parquet"


def reading_pipeline(path: str, preprocess: Preprocess | None) -> ChainedPreprocessing:
    """Return the image pipeline that reads the files of `path` itself, from their paths.

    Parameters
    ----------
    path : str
        INPUT, for the message.
    preprocess : Preprocess or None
        The `--preprocess` pipeline; it must be an image pipeline.

    Returns
    -------
    ChainedPreprocessing
        `preprocess` with its first step reading paths ([`ImageRead`][dask_openvino.ImageRead]).

    Raises
    ------
    click.UsageError
        If `preprocess` is not an image pipeline.

    Examples
    --------
    >>> from dask_openvino import ChainedPreprocessing, ImageBytesToTensor, ImageResize
    >>> pipeline = ChainedPreprocessing([ImageBytesToTensor(), ImageResize(224, 224)])
    >>> type(reading_pipeline("photos/", pipeline).steps[0]).__name__
    'ImageRead'
    """
    if not isinstance(preprocess, ChainedPreprocessing):
        raise click.UsageError(f"INPUT {path} holds image files: score them with --preprocess image[:OPTIONS]")
    if isinstance(preprocess.steps[0], ImageBytesToTensor):
        return ChainedPreprocessing((ImageRead(), *preprocess.steps[1:]), backend=preprocess.backend)
    return preprocess


def read_input(path: str, fmt: InputFormat, partitions: int | None) -> dd.DataFrame:
    """Read INPUT lazily: a table, or image files as `path` (and `folder`, from label folders).

    Parameters
    ----------
    path : str
        INPUT.
    fmt : {"parquet", "csv", "images"}
        Its format ([`input_format`][dask_openvino.cli.inputs.input_format]).
    partitions : int or None
        `--partitions`.

    Returns
    -------
    dask.dataframe.DataFrame

    Raises
    ------
    InputNotFoundError
        If nothing at `path` can be read.

    Examples
    --------
    >>> frame = read_input("photos/", "images", None)  # doctest: +SKIP
    >>> list(frame.columns)  # doctest: +SKIP
    ['path', 'folder']
    """
    if fmt != "images":
        return read_table(path, fmt, partitions)
    files = list_images(path)
    count = -(-len(files.paths) // partitions) if partitions else None
    frame = files.frame(labels="folder" if files.in_label_folders else False, partition_size=count)
    # The predictions' own `label` column (topk, argmax) must not clash with the folder's.
    renamed: dd.DataFrame = frame.rename(columns={"label": "folder"})
    return renamed
