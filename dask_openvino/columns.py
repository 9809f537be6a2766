"""Column -> tensor conversion, vectorized.

DataFrame columns become model input arrays of the port's element type. Numeric
columns and pyarrow list columns are converted without Python loops (list columns
are flattened through their Arrow buffers); only object columns that hold numpy
arrays are stacked row by row, as pandas users have them. Casts that would lose
information raise [`InputSchemaError`][dask_openvino.errors.InputSchemaError]. The
way back, outputs to columns, is [`results`](#dask_openvino.results).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dask_openvino.casting import row_label, to_port_dtype
from dask_openvino.errors import InputSchemaError, InputValueError
from dask_openvino.spec import PortInfo

__all__ = [
    "check_column_dtype",
    "column_dtypes",
    "column_to_array",
    "is_list_type",
    "stack_columns",
]

_ARROW_ROUTE = (
    "store tensors as a pyarrow list column, e.g. "
    "pd.Series(list_of_arrays, dtype=pd.ArrowDtype(pa.list_(pa.float32()))): Dask turns "
    "object columns into strings when data enters it"
)

_TEXT_NUMBERS = (
    "it holds text, so some cells are not numbers: clean them, or cast the column (pd.to_numeric "
    "names the first cell it cannot read)"
)


def column_dtypes(frame: pd.DataFrame) -> dict[Any, Any]:
    """Return ``{column: dtype}`` of ``frame``.

    Cheaper than ``frame.dtypes.to_dict()``, and the names are read through
    ``Index.tolist`` rather than by iterating the Index (docs/performance.md has the
    measurements); this runs several times per partition.

    Examples
    --------
    >>> column_dtypes(pd.DataFrame({"a": [1.0], "b": [2]}))
    {'a': dtype('float64'), 'b': dtype('int64')}
    """
    return dict(zip(frame.columns.tolist(), frame.dtypes, strict=True))


def is_list_type(arrow_type: pa.DataType) -> bool:
    """Return whether ``arrow_type`` is a list, large list or fixed-size list type."""
    return bool(
        pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)
    )


def _innermost_type(arrow_type: pa.DataType) -> pa.DataType:
    while is_list_type(arrow_type):
        arrow_type = arrow_type.value_type
    return arrow_type


def _is_numeric_arrow(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_boolean(arrow_type))


def check_column_dtype(dtype: Any, *, column: str, port: PortInfo, stacked: bool = False) -> None:
    """Check, from ``meta`` alone, that a column's dtype can feed ``port``.

    Parameters
    ----------
    dtype : dtype
        The column's pandas dtype.
    column : str
        The column's name, for the message.
    port : PortInfo
        The model input it feeds.
    stacked : bool, default False
        Whether the column is one of several stacked into ``port``, one number per row.

    Raises
    ------
    InputSchemaError
        If the column holds text, dates or another non-numeric type, or a
        fixed-size list whose size differs from the port's row size.
    """
    if isinstance(dtype, pd.ArrowDtype):
        arrow_type = dtype.pyarrow_dtype
        if is_list_type(arrow_type):
            inner = _innermost_type(arrow_type)
            if not _is_numeric_arrow(inner):
                raise InputSchemaError(
                    f"column {column!r} holds lists of {inner}, but model input {port} needs numbers"
                )
            size = _fixed_list_size(arrow_type)
            if size is not None and port.row_size is not None and size != port.row_size:
                raise InputSchemaError(
                    f"column {column!r} holds fixed-size lists of {size} values, but model input {port} "
                    f"needs {port.row_size} values per row (row shape {list(port.row_shape or ())})"
                )
            return
        if _is_numeric_arrow(arrow_type):
            return
    elif pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype) or dtype == np.dtype(object):
        return
    hint = ""
    if pd.api.types.is_string_dtype(dtype):
        # One number per row: a cell that is not a number (in a CSV) made the column text.
        scalar = stacked or port.row_size == 1
        hint = f"; {_TEXT_NUMBERS}" if scalar else f"; {_ARROW_ROUTE}"
    raise InputSchemaError(f"column {column!r} has dtype {dtype}, but model input {port} needs numbers{hint}")


def _fixed_list_size(arrow_type: pa.DataType) -> int | None:
    """Values per row of a (nested) fixed-size list type, or None if any level is variable."""
    size = 1
    while is_list_type(arrow_type):
        if not pa.types.is_fixed_size_list(arrow_type):
            return None
        size *= arrow_type.list_size
        arrow_type = arrow_type.value_type
    return size


def _reshape_rows(values: np.ndarray, n_rows: int, port: PortInfo, *, column: str) -> np.ndarray:
    """Reshape flat per-row values to ``[n_rows, *row_shape]`` of ``port``."""
    if port.shape is None:
        return values.reshape(n_rows, -1) if values.ndim == 1 else values
    mismatch = port.row_shape_mismatch(values.shape[1:], column=column)
    if mismatch is not None:
        raise InputSchemaError(mismatch)
    row_shape = port.row_shape
    per_row = values.size // n_rows if n_rows else 0
    if row_shape is None:
        # Some non-batch dims are dynamic: keep the data's own row shape when ranks agree.
        row_rank = len(port.shape) - 1
        data_row_shape = values.shape[1:]
        if len(data_row_shape) == row_rank:
            return values
        if row_rank == 1:
            return values.reshape(n_rows, per_row)
        static = [d for d in port.shape[1:] if d is not None]
        free = per_row // int(np.prod(static)) if static and per_row % int(np.prod(static)) == 0 else None
        if free is None or sum(d is None for d in port.shape[1:]) != 1:
            raise InputSchemaError(
                f"column {column!r} gives rows of shape {list(data_row_shape)}, which cannot be fitted to model "
                f"input {port}; give rows already shaped like the input"
            )
        return values.reshape(n_rows, *[free if d is None else d for d in port.shape[1:]])
    expected = int(np.prod(row_shape, dtype=np.int64))
    if n_rows == 0 and values.size == 0:
        return values.reshape(0, *row_shape)
    if per_row != expected or values.size != n_rows * expected:
        raise InputSchemaError(
            f"column {column!r} gives {per_row} values per row (row shape {list(values.shape[1:])}), but model "
            f"input {port} needs {expected} values per row (row shape {list(row_shape)})"
        )
    return values.reshape(n_rows, *row_shape)


def _first_missing(series: pd.Series) -> str:
    """Name the first missing row of ``series`` by its index label (the error path only).

    Not by position: ``series`` may be one chunk of the partition.
    """
    position = int(np.flatnonzero(series.isna().to_numpy())[0])
    return f"first: {row_label(series.index, position)}"


def _flatten_arrow_lists(chunked: pa.ChunkedArray, *, column: str, port: PortInfo, index: pd.Index) -> np.ndarray:
    """Flatten a (nested) list column into ``[n_rows, d1, d2, ...]`` without per-row loops."""
    array = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
    n_rows = len(array)
    if array.null_count:
        missing = ~np.asarray(array.is_valid())
        first = int(np.flatnonzero(missing)[0])
        raise InputValueError(
            f"column {column!r} has {array.null_count} null rows (first: {row_label(index, first)}); "
            f"model input {port} needs a value in every row",
            rows=missing,
            reason=f"column {column!r} is null in this row; model input {port} needs a value",
        )
    dims: list[int] = []
    values: pa.Array = array
    while is_list_type(values.type):
        if pa.types.is_fixed_size_list(values.type):
            width = values.type.list_size
            flat = values.flatten()
        else:
            offsets = np.asarray(values.offsets)
            lengths = np.diff(offsets)
            width = int(lengths[0]) if lengths.size else 0
            if (
                not dims
                and not is_list_type(values.type.value_type)
                and port.row_shape is not None
                and len(port.row_shape) == 1
            ):
                wrong = lengths != port.row_shape[0]
                if wrong.any() and (lengths != lengths[0]).any():
                    width = port.row_shape[0]
                    raise InputValueError(
                        f"column {column!r} is ragged: {int(wrong.sum())} of {n_rows} rows hold lists of another "
                        f"length (first {int(lengths[wrong][0])} values, at position {int(np.flatnonzero(wrong)[0])}), "
                        f"but model input {port} needs {width} values per row",
                        rows=wrong,
                        reason=f"column {column!r} holds a list of another length than the {width} values model "
                        f"input {port} needs",
                    )
            if lengths.size and (lengths != width).any():
                bad = int(np.flatnonzero(lengths != width)[0])
                raise InputSchemaError(
                    f"column {column!r} is ragged: its lists hold between {lengths.min()} and {lengths.max()} "
                    f"values (first differing element at flat position {bad}), but model input {port} needs "
                    f"{port.row_size if port.row_size is not None else 'equal-length'} values per row"
                )
            flat = values.flatten()
        if flat.null_count:
            raise InputSchemaError(f"column {column!r} holds null values inside its lists; model input {port}")
        dims.append(width)
        values = flat
    numbers: np.ndarray = values.to_numpy(zero_copy_only=False)
    return numbers.reshape(n_rows, *dims)


def column_to_array(
    series: pd.Series, *, port: PortInfo, column: str, computed: Mapping[str, str] | None = None
) -> np.ndarray:
    """Convert one column into a model input array.

    Parameters
    ----------
    series : pandas.Series
        A numeric column (one value per row), a pyarrow list / fixed-size list
        column (one tensor per row, possibly nested), or an object column of
        numpy arrays.
    port : PortInfo
        The model input it feeds; rows are reshaped to its static row shape.
    column : str
        The column's name, for messages.
    computed : mapping of str to str, optional
        The types the device computes inputs in
        ([`computed_types`][dask_openvino.casting.computed_types]); values outside
        their range raise.

    Returns
    -------
    numpy.ndarray
        ``[len(series), *row_shape]`` of ``port.dtype``.

    Raises
    ------
    InputValueError
        If some rows are null or hold values the input cannot take exactly; its
        ``rows`` mark them.
    InputSchemaError
        If the column is not numeric, is ragged, or its rows do not fit the port's shape.

    Examples
    --------
    >>> import pandas as pd, pyarrow as pa
    >>> s = pd.Series([[1.0, 2.0], [3.0, 4.0]], dtype=pd.ArrowDtype(pa.list_(pa.float32())))
    >>> column_to_array(s, port=PortInfo("x", "f32", (None, 2)), column="x").shape
    (2, 2)
    """
    dtype = series.dtype
    check_column_dtype(dtype, column=column, port=port)
    n_rows = len(series)
    if isinstance(dtype, pd.ArrowDtype) and is_list_type(dtype.pyarrow_dtype):
        values = _flatten_arrow_lists(
            pa.chunked_array(series.array.__arrow_array__()), column=column, port=port, index=series.index
        )
    elif dtype == np.dtype(object):
        values = _stack_objects(series, column=column, port=port)
    else:
        values = _scalar_values(series, column=column, port=port, computed=computed)
        values = values.reshape(n_rows, 1) if port.shape is None or len(port.shape) > 1 else values
        return _reshape_rows(values, n_rows, port, column=column)
    values = to_port_dtype(values, port, source=f"column {column!r}", computed=computed, index=series.index)
    return _reshape_rows(values, n_rows, port, column=column)


def _scalar_values(series: pd.Series, *, column: str, port: PortInfo, computed: Mapping[str, str] | None) -> np.ndarray:
    """Return a numeric column's values cast to ``port``; missing values become NaN, or raise for non-float ports.

    Missing integers and booleans are read as 0 and become NaN after the cast: read as
    NaN, they would make the column float64 first, and an integer the port's float
    type rounds would then pass unchecked.
    """
    nulls = None
    if isinstance(series.dtype, np.dtype):
        values: np.ndarray = series.to_numpy()
        # NaN is a value for float ports; only integer and boolean ports need the extra pass.
        missing = int(np.isnan(values).sum()) if values.dtype.kind == "f" and port.dtype.kind != "f" else 0
    elif isinstance(series.dtype, pd.ArrowDtype):
        # Straight from the Arrow buffers: the null count is kept, not counted.
        chunked = pa.chunked_array(series.array.__arrow_array__())
        missing = chunked.null_count
        if missing and port.dtype.kind == "f":
            if pa.types.is_floating(chunked.type):
                chunked = pc.fill_null(chunked.cast(pa.float64()), np.nan)
            else:
                nulls = chunked.is_null().to_numpy(zero_copy_only=False)
                chunked = pc.fill_null(chunked, pa.scalar(0).cast(chunked.type))
            missing = 0
        values = chunked.to_numpy()
    else:
        # Nullable extension dtypes (Int64, boolean, Float64) mark missing values with a mask.
        missing = int(series.isna().sum())
        if missing and port.dtype.kind == "f" and series.dtype.kind in "biu":
            nulls = np.asarray(series.isna())
            values = series.to_numpy(dtype=np.dtype(series.dtype.type), na_value=0)
        else:
            values = series.to_numpy(dtype=np.float64 if missing else None, na_value=np.nan)
        if port.dtype.kind == "f":
            missing = 0
    if missing:
        raise InputValueError(
            f"column {column!r} has {missing} missing values ({_first_missing(series)}), but model input "
            f"{port} needs {port.dtype} values in every row",
            rows=np.asarray(series.isna()),
            reason=f"column {column!r} is missing in this row; model input {port} needs a {port.dtype} value",
        )
    cast = to_port_dtype(values, port, source=f"column {column!r}", computed=computed, index=series.index)
    if nulls is not None:
        cast[nulls] = np.nan  # a new array: integers and booleans are never a float port's own buffer
    return cast


def _stack_objects(series: pd.Series, *, column: str, port: PortInfo) -> np.ndarray:
    rows = series.to_numpy()
    if len(rows) and isinstance(rows[0], str):
        raise InputSchemaError(f"column {column!r} holds text, but model input {port} needs numbers; {_ARROW_ROUTE}")
    missing = np.asarray(series.isna())  # None or NaN in place of an array (arrays themselves are never NA)
    if missing.any():
        raise InputValueError(
            f"column {column!r} has {int(missing.sum())} null rows ({_first_missing(series)}); model input {port} "
            "needs a value in every row",
            rows=missing,
            reason=f"column {column!r} is null in this row; model input {port} needs a value",
        )
    try:
        arrays = [np.asarray(row) for row in rows]
    except (TypeError, ValueError) as err:
        raise InputSchemaError(f"column {column!r} holds values that are not arrays: {err}") from err
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise InputSchemaError(
            f"column {column!r} is ragged: its rows have shapes {sorted(shapes)[:4]}, but model input {port} "
            "needs rows of one shape"
        )
    if arrays and arrays[0].dtype.kind not in "biuf":
        raise InputSchemaError(
            f"column {column!r} holds arrays of {arrays[0].dtype}, but model input {port} needs numbers"
        )
    return np.stack(arrays) if arrays else np.empty((0,), dtype=port.dtype)


def stack_columns(
    frame: pd.DataFrame, columns: tuple[str, ...], port: PortInfo, computed: Mapping[str, str] | None = None
) -> np.ndarray:
    """Stack scalar columns side by side into one ``[N, C]`` input (Analytics Zoo ``feature_cols``).

    Parameters
    ----------
    frame : pandas.DataFrame
        The partition.
    columns : tuple of str
        Scalar numeric columns, in the order of the input's features.
    port : PortInfo
        The model input; its row size must equal ``len(columns)``.
    computed : mapping of str to str, optional
        As in [`column_to_array`][dask_openvino.columns.column_to_array].

    Returns
    -------
    numpy.ndarray
        ``[len(frame), *row_shape]`` of ``port.dtype``.

    Raises
    ------
    InputSchemaError
        If a column is not scalar numeric or a cast would lose information.
    """
    n_rows = len(frame)
    source = "+".join(columns)
    dtypes = column_dtypes(frame)
    first = dtypes[columns[0]]
    block_dtype = _block_dtype(first, port) if all(dtypes[c] == first for c in columns) else None
    if block_dtype is not None:
        # One dtype: pandas copies whole blocks, into a [C, N] array whose transpose is the
        # [N, C] input (1.5 ms for 25,000 x 64 Arrow floats, against 5.3 ms for stacking
        # and transposing column by column). The engine makes each batch contiguous as it
        # sends it (about 1.2 ms more per 25,000 rows, while earlier batches run). A lossy cast falls through to the
        # column-by-column path, whose error names the column.
        # A frame of exactly these columns (a projected read) is used as it is: pandas'
        # selection is a large part of a small partition's conversion (docs/performance.md).
        selected = frame if frame.columns.tolist() == list(columns) else frame[list(columns)]
        if isinstance(first, pd.ArrowDtype):
            block = selected.to_numpy(dtype=block_dtype, na_value=np.nan)
        else:
            block = selected.to_numpy(dtype=block_dtype)
        with contextlib.suppress(InputSchemaError):
            return _reshape_rows(
                to_port_dtype(block, port, source=source, computed=computed), n_rows, port, column=source
            )
    # Otherwise column by column, as contiguous rows of a [C, N] array: writing them as
    # strided columns of [N, C] is about four times slower.
    by_column = np.empty((len(columns), n_rows), dtype=port.dtype)
    for j, column in enumerate(columns):
        series = frame[column]
        check_column_dtype(series.dtype, column=column, port=port, stacked=True)
        by_column[j] = _scalar_values(series, column=column, port=port, computed=computed)
    return _reshape_rows(by_column.T, n_rows, port, column=source)


def _block_dtype(dtype: Any, port: PortInfo) -> np.dtype | None:
    """Return the numpy dtype in which columns of ``dtype`` are read as one block for ``port``, if any.

    Numpy numbers qualify, except floats into integer ports (whose checks name the
    column); Arrow-backed floats into float ports too, their nulls read as NaN.
    """
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf" and (dtype.kind != "f" or port.dtype.kind == "f"):
        return dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_floating(dtype.pyarrow_dtype) and port.dtype.kind == "f":
        block: np.dtype = np.dtype(dtype.pyarrow_dtype.to_pandas_dtype())
        return block
    return None
