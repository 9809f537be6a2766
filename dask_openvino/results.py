"""Tensor -> column conversion: model outputs become result columns of their declared dtypes.

An output with one value per row becomes a numeric column; any other a pyarrow
fixed-size list column (a static row shape) or list column (a dynamic one), built
straight from the output's buffer ([`arrow_lists`][dask_openvino.results.arrow_lists]).
Rows that could not be scored become nulls ([`null_rows`][dask_openvino.results.null_rows]).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import take

from dask_openvino.columns import is_list_type
from dask_openvino.errors import InferenceError
from dask_openvino.spec import PortInfo

__all__ = ["array_to_series", "arrow_lists", "null_rows", "output_dtype"]


def output_dtype(port: PortInfo) -> Any:
    """Return the column dtype of a model output: numeric for one value per row, else a pyarrow list.

    A static row shape gives a fixed-size list of the flattened (row-major) row;
    a dynamic one gives a variable-size list. ``port.row_shape`` gives the shape back.

    Parameters
    ----------
    port : PortInfo
        The model output.

    Returns
    -------
    numpy.dtype or pandas.ArrowDtype
    """
    if port.row_size == 1:
        return port.dtype
    value_type = pa.from_numpy_dtype(port.dtype)
    if port.row_size is None:
        return pd.ArrowDtype(pa.list_(value_type))
    return pd.ArrowDtype(pa.list_(value_type, port.row_size))


def array_to_series(array: np.ndarray, index: pd.Index, name: str, dtype: Any) -> pd.Series:
    """Turn one model output into a column of exactly ``dtype``.

    ``dtype`` is what [`output_dtype`][dask_openvino.results.output_dtype] declared.

    Parameters
    ----------
    array : numpy.ndarray
        ``[N, ...]`` output values.
    index : pandas.Index
        The partition's index (length N).
    name : str
        The column name.
    dtype : numpy.dtype or pandas.ArrowDtype
        The declared column dtype.

    Returns
    -------
    pandas.Series
    """
    n_rows = len(index)
    if not (isinstance(dtype, pd.ArrowDtype) and is_list_type(dtype.pyarrow_dtype)):
        numeric: pd.Series = pd.Series(array.reshape(n_rows), index=index, name=name, dtype=dtype, copy=False)
        return numeric
    lists = arrow_lists(array.reshape(n_rows, -1) if n_rows else array.reshape(0, 0), dtype.pyarrow_dtype)
    return pd.Series(pd.arrays.ArrowExtensionArray(lists), index=index, name=name, copy=False)


def arrow_lists(values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """Make a (fixed-size) list array with one list per row of ``[N, k]`` values, from their buffer.

    Parameters
    ----------
    values : numpy.ndarray
        ``[N, k]`` values (numbers, or strings for label columns).
    arrow_type : pyarrow.DataType
        A ``pa.list_(value_type, k)`` or ``pa.list_(value_type)`` type.

    Returns
    -------
    pyarrow.Array

    Raises
    ------
    InferenceError
        If a variable-size list column would hold more than 2**31 - 1 values.

    Examples
    --------
    >>> arrow_lists(np.array([[1, 2], [3, 4]], np.int64), pa.list_(pa.int64(), 2)).to_pylist()
    [[1, 2], [3, 4]]
    """
    n_rows, width = values.shape
    if not pa.types.is_fixed_size_list(arrow_type) and n_rows * width > _LIST_VALUES:
        raise InferenceError(
            f"an output of {n_rows} rows x {width} values is more than one list column can hold ({_LIST_VALUES:,} "
            "values, Arrow's 32-bit offsets); score it in smaller partitions (ddf.repartition(npartitions=...))"
        )
    flat = pa.array(np.ascontiguousarray(values).reshape(-1), type=arrow_type.value_type)
    if pa.types.is_fixed_size_list(arrow_type):
        return pa.FixedSizeListArray.from_arrays(flat, arrow_type.list_size)
    return pa.ListArray.from_arrays(pa.array(np.arange(n_rows + 1, dtype=np.int64) * width, type=pa.int32()), flat)


_LIST_VALUES = 2**31 - 1
"""The most values a variable-size list column holds: its offsets are 32-bit."""


def null_rows(series: pd.Series, failed: np.ndarray) -> pd.Series:
    """Return ``series`` with the rows where ``failed`` is True set to null (NaN for numpy floats).

    Parameters
    ----------
    series : pandas.Series
        A result column, of a dtype that holds nulls.
    failed : numpy.ndarray
        Boolean mask over its rows.

    Returns
    -------
    pandas.Series
        Same dtype, index and name.

    Examples
    --------
    >>> null_rows(pd.Series([1.5, 2.5], dtype="float32"), np.array([True, False])).tolist()
    [nan, 2.5]
    """
    positions = np.arange(len(series))
    positions[failed] = -1
    values = take(series.array, positions, allow_fill=True)
    return pd.Series(values, index=series.index, name=series.name, copy=False)
