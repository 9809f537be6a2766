"""The Arrow schema of Parquet parts: what makes a directory or a joined file read back as `compute()` gave it.

Each part stores its index as a column ([`arrow_table`][dask_openvino.schemas.arrow_table]).
A partition's object columns have no type where they hold only nulls (or no rows):
pyarrow writes them as `null`. [`settled_schema`][dask_openvino.schemas.settled_schema]
gives the parts joined into one file one schema, each `null` taking the type the other
parts have, and refuses parts whose types really differ, since nothing may be cast
silently; [`typed_schema`][dask_openvino.schemas.typed_schema] only fills the `null`
types in, for the first part of a directory, whose schema its readers take.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dask_openvino.errors import OutputError

__all__ = ["PartFooter", "arrow_table", "has_null_type", "settled_schema", "typed_schema"]


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """Convert a partition for Parquet so that plain `pandas.read_parquet` reads it back.

    The index is stored as a column, a `RangeIndex` too (as `DataFrame.to_parquet` of
    Dask does): pandas keeps a `RangeIndex` as metadata only, and reading a directory
    of such parts renumbers the rows `0..N-1`, losing the labels of a filtered frame.
    pandas records a list column's dtype as text such as
    `fixed_size_list<item: float>[10][pyarrow]`, which `read_parquet` cannot parse
    back (it raises `NotImplementedError`). Recording those columns as `object`
    makes pandas read them as arrays per row, and `dtype_backend="pyarrow"` as
    list columns again.

    Examples
    --------
    >>> arrow_table(pd.DataFrame({"a": [1, 2]})).num_rows
    2
    """
    table = pa.Table.from_pandas(frame, preserve_index=True)
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


@dataclass(frozen=True)
class PartFooter:
    """A Parquet part as its footer describes it.

    Attributes
    ----------
    file : str
        The part's path.
    schema : pyarrow.Schema
        Its Arrow schema, with pandas' metadata.
    rows : int
        Its number of rows.
    index : list of (str, pyarrow.DataType)
        The name and type of each index level it stores as a column.

    Examples
    --------
    >>> PartFooter.read(fsspec.filesystem("file"), "out/part.00000.parquet").rows  # doctest: +SKIP
    10
    """

    file: str
    schema: pa.Schema
    rows: int
    index: list[tuple[str, pa.DataType]]

    @classmethod
    def read(cls, fs: Any, file: str) -> PartFooter:
        """Read the footer of the part `file`.

        Parameters
        ----------
        fs : fsspec.AbstractFileSystem
            The part's file system.
        file : str
            The part's path.

        Returns
        -------
        PartFooter

        Raises
        ------
        OutputError
            If the part keeps its index as metadata only (written by a version before
            the index was stored as a column).
        """
        with fs.open(file, "rb") as f:
            footer = pq.ParquetFile(f)
            schema, rows = footer.schema_arrow, footer.metadata.num_rows
        levels = _pandas_metadata(schema).get("index_columns", [])
        if not all(isinstance(level, str) for level in levels):
            raise OutputError(
                f"cannot use the part {file}: it keeps its index as metadata only "
                "(written by an earlier dask-openvino); write the output again without resuming"
            )
        return cls(file, schema, rows, [(level, schema.field(level).type) for level in levels])


def settled_schema(parts: list[PartFooter], path: str, meta: pd.DataFrame | None = None) -> pa.Schema:
    """Return the one schema that the parts joined into `path` share: the first non-empty part's, typed where null.

    An empty part's index and columns may be of any type (null, object) and add no
    rows, so only parts with rows must agree: on the index levels' names and types,
    on the columns, and on each column's type, a column all null in a part (type
    `null`) taking its type from the others. Nothing is cast from one type to
    another. Without parts that have rows, the schema is `meta`'s (the first part's if
    no meta is given, none if there are no parts).

    Parameters
    ----------
    parts : list of PartFooter
        The parts, in row order.
    path : str
        The file they are joined into, for error messages.
    meta : pandas.DataFrame, optional
        The frame's meta.

    Returns
    -------
    pyarrow.Schema
        The schema every part can be cast to without a value changing.

    Raises
    ------
    OutputError
        If two non-empty parts disagree on the index, the columns or a column's type.

    Examples
    --------
    >>> parts = [PartFooter.read(fs, f) for f in ["s/part.00000.parquet", "s/part.00001.parquet"]]  # doctest: +SKIP
    >>> settled_schema(parts, "scored.parquet").names  # doctest: +SKIP
    ['a', 'prediction', '__index_level_0__']
    """
    filled = [part for part in parts if part.rows]
    if not filled:
        if meta is not None:
            return arrow_table(meta.iloc[:0]).schema
        return parts[0].schema if parts else pa.schema([])
    first = filled[0]
    types = {field.name: field.type for field in first.schema}
    typed_in = {name: first.file for name in types}  # the part each column's type comes from
    for part in filled[1:]:
        if part.index != first.index:
            kinds = [_described(p.index) for p in (first, part)]
            raise OutputError(
                f"cannot join the parts into {path}: {posixpath.basename(first.file)} stores {kinds[0]} "
                f"and {posixpath.basename(part.file)} {kinds[1]}, which one column cannot hold; "
                "give every partition the same index (for example with reset_index)"
            )
        if set(part.schema.names) != set(types):
            raise OutputError(
                f"cannot join the parts into {path}: {posixpath.basename(first.file)} has the columns "
                f"{sorted(types)} and {posixpath.basename(part.file)} {sorted(part.schema.names)}"
            )
        for field in part.schema:
            known = types[field.name]
            merged = _merged(known, field.type)
            if merged is None:
                raise OutputError(
                    f"cannot join the parts into {path}: column {field.name!r} is {known} in "
                    f"{posixpath.basename(typed_in[field.name])} and {field.type} in "
                    f"{posixpath.basename(part.file)}; give it one dtype in every partition (for example with "
                    "astype), so that nothing is cast"
                )
            if merged != known:
                types[field.name], typed_in[field.name] = merged, part.file
    fields = [field.with_type(types[field.name]) for field in first.schema]
    return pa.schema(fields, metadata=first.schema.metadata)


def typed_schema(parts: Iterable[PartFooter], meta: pd.DataFrame | None) -> pa.Schema:
    """Return the first non-empty part's schema, its `null` types taken from the parts with rows after it.

    The parts are taken from `parts` only until no `null` type is left, so a lazy
    iterable reads no more footers than it must. Parts are not compared otherwise.

    Parameters
    ----------
    parts : iterable of PartFooter
        The parts, in row order.
    meta : pandas.DataFrame or None
        The frame's meta: its schema is returned if no part has rows (none without it).

    Returns
    -------
    pyarrow.Schema

    Examples
    --------
    >>> typed_schema([], pd.DataFrame({"a": [1.0]})).field("a").type
    DataType(double)
    """
    filled = (part for part in parts if part.rows)
    base = next(filled, None)
    if base is None:
        return pa.schema([]) if meta is None else arrow_table(meta.iloc[:0]).schema
    schema = base.schema
    for part in filled:
        if not has_null_type(schema):
            break
        schema = _with_null_types_from(schema, part.schema)
    return schema


def _merged(known: pa.DataType, other: pa.DataType) -> pa.DataType | None:
    """Return the one type of two that differ only where one has `null` (`list<null>` too), else None."""
    if known == other:
        return known
    try:
        unified = pa.unify_schemas([pa.schema([("c", known)]), pa.schema([("c", other)])], promote_options="default")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None
    merged = unified.field("c").type
    # unify_schemas also joins structs with different fields into one: not a type either part has.
    return merged if _fills(known, merged) and _fills(other, merged) else None


def _fills(kind: pa.DataType, merged: pa.DataType) -> bool:
    """Return whether `merged` is `kind` with none, some or all of its `null` types given a type."""
    if pa.types.is_null(kind):
        return True
    if kind.num_fields == 0 or kind.id != merged.id or kind.num_fields != merged.num_fields:
        return bool(kind == merged)
    if pa.types.is_fixed_size_list(kind) and kind.list_size != merged.list_size:
        return False
    return all(
        kind.field(i).name == merged.field(i).name and _fills(kind.field(i).type, merged.field(i).type)
        for i in range(kind.num_fields)
    )


def _has_null(kind: pa.DataType) -> bool:
    return pa.types.is_null(kind) or any(_has_null(kind.field(i).type) for i in range(kind.num_fields))


def has_null_type(schema: pa.Schema) -> bool:
    """Return whether a field of `schema` has no type: `null`, or a nested type holding `null` (`list<null>`).

    Parameters
    ----------
    schema : pyarrow.Schema
        A part's schema.

    Returns
    -------
    bool

    Examples
    --------
    >>> has_null_type(pa.schema([("a", pa.list_(pa.null()))])), has_null_type(pa.schema([("a", pa.int64())]))
    (True, False)
    """
    return any(_has_null(field.type) for field in schema)


def _with_null_types_from(schema: pa.Schema, other: pa.Schema) -> pa.Schema:
    """Return `schema` with its `null` types, nested ones too, taken from `other` where it has them.

    Parameters
    ----------
    schema : pyarrow.Schema
        The schema to complete; its field order and metadata are kept.
    other : pyarrow.Schema
        Another part's schema. A field whose type differs other than where `schema` has
        `null` is left as it is.

    Returns
    -------
    pyarrow.Schema

    Examples
    --------
    >>> _with_null_types_from(pa.schema([("a", pa.null())]), pa.schema([("a", pa.string())])).field("a").type
    DataType(string)
    """
    fields = []
    for field in schema:
        untyped = _has_null(field.type) and field.name in other.names
        merged = _merged(field.type, other.field(field.name).type) if untyped else None
        fields.append(field if merged is None else field.with_type(merged))
    return pa.schema(fields, metadata=schema.metadata)


def _described(index: list[tuple[str, pa.DataType]]) -> str:
    """Describe stored index levels as ``"an index of int64"`` or ``"the index 'id' of string"``."""
    if not index:
        return "no index"
    if len(index) == 1 and re.fullmatch(r"__index_level_\d+__", index[0][0]):
        return f"an index of {index[0][1]}"
    return "the index " + ", ".join(f"{name!r} of {kind}" for name, kind in index)


def _pandas_metadata(schema: pa.Schema) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(b"pandas")
    return dict(json.loads(raw)) if raw else {}
