"""Output columns nested as Analytics Zoo and BigDL Orca returned them.

The native ``.ov.predict`` gives an output with several values per row as one
fixed-size list of the row's values flattened. The upstreams kept each row's shape:

- Analytics Zoo 0.x: a ``prediction`` column; a row of an ``[N, 1000]`` output is a
  vector of 1000, of an ``[N, 1]`` output a vector of one (never a scalar), of an
  ``[N, 4, 1000]`` output a list of 4 vectors; only an ``[N]`` output gives scalars.
  A multi-output model gives each row a list of vectors, one per output.
- BigDL Orca 2.x: one column per output named after the tensor, each row nested with a
  leading 1 (``[1, 1000]``), so rows concatenate back into the batch.

[`RowArrays`][dask_openvino.zoo.rows.RowArrays] is a postprocessor
(``.ov.predict(..., postprocess=RowArrays())``), so the nesting runs inside the one
partition path; [`combine_columns`][dask_openvino.zoo.rows.combine_columns] joins
per-output vectors into Analytics Zoo's multi-output ``prediction`` column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dask_openvino.errors import InputSchemaError
from dask_openvino.spec import PortInfo

__all__ = ["RowArrays", "combine_columns", "combined_dtype"]


def _nested_type(value_type: pa.DataType, dims: Sequence[int | None]) -> pa.DataType:
    """``list<list<...value...>>`` for ``dims`` (outermost first); fixed-size where a dim is static."""
    arrow_type = value_type
    for dim in reversed(dims):
        arrow_type = pa.list_(arrow_type) if dim is None else pa.list_(arrow_type, dim)
    return arrow_type


def _nested_array(values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    """One nested list per row of ``values`` ``[N, d1, ..., dk]``, cast to ``arrow_type``."""
    array: pa.Array = pa.array(np.ascontiguousarray(values).reshape(-1))
    for dim in reversed(values.shape[1:]):
        array = pa.FixedSizeListArray.from_arrays(array, int(dim))
    return array.cast(arrow_type)


@dataclass(frozen=True)
class RowArrays:
    """Keep each output row's shape: nested lists instead of the flattened values.

    Attributes
    ----------
    lead : bool, default False
        Nest each row in a leading dimension of 1 (``[1, 1000]``), as BigDL Orca 2.x.
    flat : bool, default False
        Flatten each row to one vector (Analytics Zoo's per-output vectors of a
        multi-output model); an ``[N]`` output then gives vectors of one.

    Examples
    --------
    >>> ddf.ov.predict("resnet.xml", inputs="image", postprocess=RowArrays(lead=True))  # doctest: +SKIP
    """

    lead: bool = False
    flat: bool = False

    def _dims(self, port: PortInfo) -> tuple[int | None, ...]:
        if port.shape is None or not port.shape:
            raise InputSchemaError(f"output {port} has no batch dimension, so it has no rows to return")
        dims: tuple[int | None, ...] = tuple(port.shape[1:])
        if self.flat:
            dims = (port.row_size if all(d is not None for d in dims) else None,)
        return (1, *dims) if self.lead else dims

    def columns(self, port: PortInfo, column: str) -> dict[str, Any]:
        """Return the nested list column for ``port`` (its element type kept), or a scalar column."""
        dims = self._dims(port)
        if not dims:
            return {column: port.dtype}
        return {column: pd.ArrowDtype(_nested_type(pa.from_numpy_dtype(port.dtype), dims))}

    def apply(self, array: np.ndarray, port: PortInfo, column: str) -> dict[str, pd.Series]:
        """Return the output's rows as nested lists."""
        dtype = self.columns(port, column)[column]
        if not isinstance(dtype, pd.ArrowDtype):
            return {column: pd.Series(array, copy=False)}
        values = array.reshape(len(array), int(np.prod(array.shape[1:], dtype=np.int64))) if self.flat else array
        if self.lead:
            values = values.reshape(len(values), 1, *values.shape[1:])
        nested = _nested_array(values, dtype.pyarrow_dtype)
        return {column: pd.Series(pd.arrays.ArrowExtensionArray(nested), copy=False)}


def combined_dtype(dtypes: Sequence[Any]) -> pd.ArrowDtype:
    """Return the dtype of a column holding, per row, one vector per output of the ``dtypes`` vector columns.

    Examples
    --------
    >>> combined_dtype([pd.ArrowDtype(pa.list_(pa.float32(), 2)), pd.ArrowDtype(pa.list_(pa.float32(), 3))])
    list<item: list<item: float>>[pyarrow]
    """
    value_types = [dtype.pyarrow_dtype.value_type for dtype in dtypes]
    common = np.result_type(*(value_type.to_pandas_dtype() for value_type in value_types))
    return pd.ArrowDtype(pa.list_(pa.list_(pa.from_numpy_dtype(common))))


def combine_columns(frame: pd.DataFrame, columns: Sequence[str], into: str) -> pd.DataFrame:
    """Replace the vector ``columns`` of ``frame`` by one column ``into`` holding each row's vectors.

    The function each partition runs for Analytics Zoo's multi-output ``prediction`` column.

    Parameters
    ----------
    frame : pandas.DataFrame
        A scored partition whose ``columns`` are list columns (from ``RowArrays(flat=True)``).
    columns : sequence of str
        The per-output columns, in output order.
    into : str
        The name of the combined column, placed where the first of ``columns`` was.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> combine_columns(scored, ["__out_0", "__out_1"], "prediction")  # doctest: +SKIP
    """
    dtype = combined_dtype([frame[c].dtype for c in columns])
    inner = dtype.pyarrow_dtype.value_type
    parts = [pa.array(frame[c].array).cast(inner) for c in columns]
    n, k = len(frame), len(parts)
    joined = pa.concat_arrays(parts) if n else pa.array([], type=inner)
    order = (np.arange(n)[:, None] + np.arange(k)[None, :] * n).reshape(-1)
    values = joined.take(pa.array(order, type=pa.int64()))
    nested = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * k), values).cast(dtype.pyarrow_dtype)
    out = frame.drop(columns=list(columns[1:]))
    out[columns[0]] = pd.Series(pd.arrays.ArrowExtensionArray(nested), index=frame.index, copy=False)
    return out.rename(columns={columns[0]: into})
