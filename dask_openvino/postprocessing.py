"""Postprocessing: turn a model output into the columns users want, vectorized per partition.

``ddf.ov.predict(model, postprocess=TopK(5, labels=classes, softmax=True))`` gives
label and probability columns instead of logits (Analytics Zoo's ``LabelOutput``).
Each postprocessor maps one output ``[N, C]`` to one or more columns whose names and
dtypes are known when the graph is built
([`Postprocessor.columns`][dask_openvino.postprocessing.Postprocessor.columns]), so
``meta`` never needs the model to run.

===================  =====================================================================
postprocessor        columns (for an output whose column would be ``prediction``)
===================  =====================================================================
``Softmax()``        ``prediction``: fixed-size list of probabilities
``ArgMax(labels)``   ``prediction``: class index (int64) or label (string)
``TopK(k, labels)``  ``label``, ``probability``: best first; lists of k (scalars when k=1)
``Threshold(t)``     ``prediction``: output > t (bool; a list of bools for vectors)
``Expand()``         ``prediction_0`` ... ``prediction_{C-1}``: one float column per value
===================  =====================================================================

``Softmax``, ``TopK`` and ``Threshold`` take ``expand=True`` to spread their lists
into numbered columns. Integer, boolean and string columns are pyarrow-backed, so
rows whose preprocessing failed can hold nulls (``errors="null"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from dask_openvino.checks import positive_int
from dask_openvino.errors import InputSchemaError
from dask_openvino.results import arrow_lists
from dask_openvino.spec import PortInfo

__all__ = [
    "ArgMax",
    "Expand",
    "LabelOutput",
    "Postprocessor",
    "Softmax",
    "Threshold",
    "TopK",
    "argmax",
    "expand",
    "softmax",
    "softmax_array",
    "threshold",
    "topk",
]

Columns = dict[str, Any]
"""Column name -> dtype, in column order."""


class Postprocessor(Protocol):
    """What ``postprocess=`` accepts (one per model output)."""

    def columns(self, port: PortInfo, column: str) -> Columns:
        """Check ``port`` and return the columns this produces for it, with their dtypes."""

    def apply(self, array: np.ndarray, port: PortInfo, column: str) -> dict[str, pd.Series]:
        """Turn the output values ``[N, ...]`` into those columns (default RangeIndex)."""


def _vector_size(port: PortInfo, what: str) -> int | None:
    """Values per row of an output that holds one vector per row; None when that size is dynamic."""
    if port.shape is None or len(port.shape) < 2:
        raise InputSchemaError(f"{what} needs an output with a vector per row, got {port}")
    row_shape = port.row_shape
    if row_shape is None:
        if len(port.shape) == 2:
            return None
        raise InputSchemaError(f"{what} needs an output with a vector per row, got {port}")
    if sum(d > 1 for d in row_shape) > 1:
        raise InputSchemaError(f"{what} needs a vector per row, but output {port} has rows of shape {list(row_shape)}")
    return int(np.prod(row_shape, dtype=np.int64))


def _rows(array: np.ndarray) -> np.ndarray:
    """View ``[N, ...]`` as ``[N, values per row]`` (also for zero rows, where -1 is ambiguous)."""
    return array.reshape(len(array), int(np.prod(array.shape[1:], dtype=np.int64)))


def _labels(labels: Sequence[Any] | None) -> tuple[str, ...] | None:
    if labels is None:
        return None
    if isinstance(labels, str):
        raise TypeError("labels must be a sequence of class names, not a single string")
    return tuple(str(label) for label in labels)


def _check_labels(labels: tuple[str, ...] | None, size: int | None, port: PortInfo, what: str) -> None:
    if labels is not None and size is not None and len(labels) != size:
        raise InputSchemaError(f"{what} got {len(labels)} labels but output {port} has {size} classes")


def _list_dtype(value_type: pa.DataType, size: int | None) -> pd.ArrowDtype:
    return pd.ArrowDtype(pa.list_(value_type) if size is None else pa.list_(value_type, size))


def _list_series(values: np.ndarray, dtype: pd.ArrowDtype) -> pd.Series:
    """``[N, k]`` values as a (fixed-size) list column."""
    return pd.Series(pd.arrays.ArrowExtensionArray(arrow_lists(values, dtype.pyarrow_dtype)), copy=False)


def _numbered(prefix: str, size: int | None, port: PortInfo, what: str) -> list[str]:
    if size is None:
        raise InputSchemaError(f"{what}(expand=True) needs an output with a static size, got {port}")
    return [f"{prefix}_{i}" for i in range(size)]


def softmax_array(array: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over each row's values.

    Parameters
    ----------
    array : numpy.ndarray
        ``[N, ...]`` scores; each row is flattened.

    Returns
    -------
    numpy.ndarray
        ``[N, C]`` probabilities (float32 for float32 input), each row summing to 1.

    Examples
    --------
    >>> softmax_array(np.array([[0.0, 0.0]], np.float32))
    array([[0.5, 0.5]], dtype=float32)
    """
    rows = _rows(array)
    dtype = rows.dtype if rows.dtype.kind == "f" else np.dtype(np.float32)
    shifted = rows.astype(dtype, copy=False) - rows.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return out


@dataclass(frozen=True)
class Softmax:
    """Probabilities from scores: ``exp(x) / sum(exp(x))`` over each row.

    Parameters
    ----------
    expand : bool, default False
        One float column per class (``prediction_0``, ...) instead of one list column.

    Examples
    --------
    >>> ddf.ov.predict("classifier.xml", postprocess=Softmax(expand=True))  # doctest: +SKIP
    """

    expand: bool = False

    def columns(self, port: PortInfo, column: str) -> Columns:
        """Return the probability column(s) for ``port``."""
        size = _vector_size(port, "Softmax")
        dtype = port.dtype if port.dtype.kind == "f" else np.dtype(np.float32)
        if self.expand:
            return dict.fromkeys(_numbered(column, size, port, "Softmax"), dtype)
        return {column: _list_dtype(pa.from_numpy_dtype(dtype), size)}

    def apply(self, array: np.ndarray, port: PortInfo, column: str) -> dict[str, pd.Series]:
        """Return the probabilities as the columns of ``columns``."""
        probabilities = softmax_array(array)
        names = self.columns(port, column)
        if self.expand:
            return {name: pd.Series(probabilities[:, i], copy=False) for i, name in enumerate(names)}
        return {column: _list_series(probabilities, names[column])}


@dataclass(frozen=True)
class ArgMax:
    """The index of each row's largest value, or its label.

    Parameters
    ----------
    labels : sequence, optional
        Class names in output order; the column then holds names (string) instead
        of indices (int64).

    Examples
    --------
    >>> ddf.ov.predict("classifier.xml", postprocess=ArgMax(labels=["cat", "dog"]))  # doctest: +SKIP
    """

    labels: tuple[str, ...] | None = None

    def __init__(self, labels: Sequence[Any] | None = None) -> None:
        object.__setattr__(self, "labels", _labels(labels))

    def columns(self, port: PortInfo, column: str) -> Columns:
        """Return the class column for ``port``."""
        _check_labels(self.labels, _vector_size(port, "ArgMax"), port, "ArgMax")
        return {column: pd.ArrowDtype(pa.string() if self.labels is not None else pa.int64())}

    def apply(self, array: np.ndarray, port: PortInfo, column: str) -> dict[str, pd.Series]:
        """Return the class of each row."""
        dtype = self.columns(port, column)[column]
        index = _rows(array).argmax(axis=1)
        if self.labels is not None:
            return {column: pd.Series(np.asarray(self.labels, dtype=object)[index], dtype=dtype)}
        return {column: pd.Series(index.astype(np.int64), dtype=dtype)}


@dataclass(frozen=True)
class TopK:
    """The ``k`` best classes of each row and their values, best first (Analytics Zoo ``LabelOutput``).

    Parameters
    ----------
    k : int
        How many classes to keep.
    labels : sequence, optional
        Class names in output order; without them the label column holds indices.
    softmax : bool, default False
        Apply a softmax first, for models whose output is logits; the probability
        column holds the output values as they are otherwise.
    expand : bool, default False
        Numbered columns (``label_0``, ``probability_0``, ... best first) instead of lists.
    label_column, probability_column : str
        The columns' names.

    Examples
    --------
    >>> post = TopK(2, labels=["cat", "dog", "fox"], softmax=True)
    >>> ddf.ov.predict("resnet.xml", inputs={"image": "jpeg"}, postprocess=post)  # doctest: +SKIP
    """

    k: int
    labels: tuple[str, ...] | None = None
    softmax: bool = False
    expand: bool = False
    label_column: str = "label"
    probability_column: str = "probability"

    def __init__(
        self,
        k: int,
        labels: Sequence[Any] | None = None,
        *,
        softmax: bool = False,
        expand: bool = False,
        label_column: str = "label",
        probability_column: str = "probability",
    ) -> None:
        k = positive_int(k, "TopK's k")
        if label_column == probability_column:
            raise ValueError(f"TopK label and probability columns need different names, got {label_column!r} twice")
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "labels", _labels(labels))
        object.__setattr__(self, "softmax", bool(softmax))
        object.__setattr__(self, "expand", bool(expand))
        object.__setattr__(self, "label_column", label_column)
        object.__setattr__(self, "probability_column", probability_column)

    def _types(self, port: PortInfo) -> tuple[pa.DataType, np.dtype[Any]]:
        value = port.dtype if port.dtype.kind == "f" else np.dtype(np.float32)
        return (pa.string() if self.labels is not None else pa.int64()), value

    def columns(self, port: PortInfo, column: str) -> Columns:
        """Return the label and probability columns for ``port``."""
        size = _vector_size(port, "TopK")
        _check_labels(self.labels, size, port, "TopK")
        if size is not None and self.k > size:
            raise InputSchemaError(f"TopK(k={self.k}) asks for more classes than output {port} has ({size})")
        label_type, value_dtype = self._types(port)
        if self.expand:
            labels = dict.fromkeys(_numbered(self.label_column, self.k, port, "TopK"), pd.ArrowDtype(label_type))
            values = dict.fromkeys(_numbered(self.probability_column, self.k, port, "TopK"), value_dtype)
            return {**labels, **values}
        if self.k == 1:
            return {self.label_column: pd.ArrowDtype(label_type), self.probability_column: value_dtype}
        return {
            self.label_column: _list_dtype(label_type, self.k),
            self.probability_column: _list_dtype(pa.from_numpy_dtype(value_dtype), self.k),
        }

    def apply(self, array: np.ndarray, port: PortInfo, column: str) -> dict[str, pd.Series]:
        """Return the ``k`` best labels and their values per row."""
        dtypes = self.columns(port, column)
        _, value_dtype = self._types(port)
        scores = softmax_array(array) if self.softmax else _rows(array).astype(value_dtype, copy=False)
        best = _top_indices(scores, self.k)
        values = np.take_along_axis(scores, best, axis=1)
        labels: np.ndarray = np.asarray(self.labels, dtype=object)[best] if self.labels is not None else best
        names = list(dtypes)
        if self.expand:
            label_names, value_names = names[: self.k], names[self.k :]
            out = {n: pd.Series(labels[:, i], dtype=dtypes[n]) for i, n in enumerate(label_names)}
            out.update({n: pd.Series(values[:, i], copy=False) for i, n in enumerate(value_names)})
            return out
        if self.k == 1:
            return {
                self.label_column: pd.Series(labels[:, 0], dtype=dtypes[self.label_column]),
                self.probability_column: pd.Series(values[:, 0], copy=False),
            }
        return {
            self.label_column: _list_series(labels, dtypes[self.label_column]),
            self.probability_column: _list_series(values, dtypes[self.probability_column]),
        }


LabelOutput = TopK
"""The Analytics Zoo name of [`TopK`][dask_openvino.postprocessing.TopK]."""


def _top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Return the indices of the ``k`` largest values of each row, largest first.

    Equal values go in index order and NaN ranks above every number, as in
    ``numpy.argmax``, so ``k=1`` picks what [`ArgMax`][dask_openvino.postprocessing.ArgMax]
    picks. ``argpartition`` finds the ``k`` best of most rows; a row with a tie at the
    ``k``-th place (where ``argpartition`` picks an arbitrary member) or with a NaN is sorted whole.
    """
    n_rows, n_classes = scores.shape
    key = -scores
    if k < n_classes:
        candidates = np.argpartition(key, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(key, candidates[:, k - 1 :], axis=1)
        whole = ((key <= kth).sum(axis=1) > k) | np.isnan(scores).any(axis=1)
    else:
        candidates = np.broadcast_to(np.arange(n_classes), (n_rows, n_classes))
        whole = np.isnan(scores).any(axis=1)
    chosen = np.take_along_axis(key, candidates, axis=1)
    best = np.take_along_axis(candidates, np.lexsort((candidates, chosen), axis=1), axis=1)
    if whole.any():
        rows = key[whole]
        order = np.lexsort((rows, ~np.isnan(rows)), axis=1)  # stable: equal values keep index order
        best[whole] = order[:, :k]
    return best


@dataclass(frozen=True)
class Threshold:
    """``output > value``: a boolean per value (binary or multi-label classifiers).

    Parameters
    ----------
    value : float, default 0.5
        The threshold.
    expand : bool, default False
        For vector outputs, one boolean column per value instead of a list column.

    Examples
    --------
    >>> ddf.ov.predict("fraud.xml", postprocess=Threshold(0.9))  # doctest: +SKIP
    """

    value: float = 0.5
    expand: bool = False

    def columns(self, port: PortInfo, column: str) -> Columns:
        """Return the boolean column(s) for ``port``."""
        if port.row_size == 1:
            return {column: pd.ArrowDtype(pa.bool_())}
        size = _vector_size(port, "Threshold")
        if self.expand:
            return dict.fromkeys(_numbered(column, size, port, "Threshold"), pd.ArrowDtype(pa.bool_()))
        return {column: _list_dtype(pa.bool_(), size)}

    def apply(self, array: np.ndarray, port: PortInfo, column: str) -> dict[str, pd.Series]:
        """Compare every value with ``value``."""
        dtypes = self.columns(port, column)
        above = _rows(array) > self.value
        if port.row_size == 1:
            return {column: pd.Series(above[:, 0], dtype=dtypes[column])}
        if self.expand:
            return {name: pd.Series(above[:, i], dtype=dtypes[name]) for i, name in enumerate(dtypes)}
        return {column: _list_series(above, dtypes[column])}


@dataclass(frozen=True)
class Expand:
    """Spread a fixed-size vector output into numbered columns ``prediction_0`` ... of its dtype.

    Float values stay numpy floats; integers and booleans are pyarrow-backed, as every
    postprocessor's, so failed rows (``errors="null"``) hold nulls in the declared dtype.

    Examples
    --------
    >>> ddf.ov.predict("embedder.xml", postprocess=Expand())  # doctest: +SKIP
    """

    def columns(self, port: PortInfo, column: str) -> Columns:
        """Return one column per value of ``port``'s row."""
        if port.row_size is None:
            raise InputSchemaError(f"Expand needs an output with a static row shape, got {port}")
        dtype = port.dtype if port.dtype.kind == "f" else pd.ArrowDtype(pa.from_numpy_dtype(port.dtype))
        return dict.fromkeys(_numbered(column, port.row_size, port, "Expand"), dtype)

    def apply(self, array: np.ndarray, port: PortInfo, column: str) -> dict[str, pd.Series]:
        """Return one column per value."""
        rows = _rows(array)
        return {name: pd.Series(rows[:, i], copy=False) for i, name in enumerate(self.columns(port, column))}


def softmax(*, expand: bool = False) -> Softmax:
    """Return a [`Softmax`][dask_openvino.postprocessing.Softmax] postprocessor.

    Examples
    --------
    >>> softmax(expand=True)
    Softmax(expand=True)
    """
    return Softmax(expand=expand)


def argmax(labels: Sequence[Any] | None = None) -> ArgMax:
    """Return an [`ArgMax`][dask_openvino.postprocessing.ArgMax] postprocessor.

    Examples
    --------
    >>> argmax(["cat", "dog"])
    ArgMax(labels=('cat', 'dog'))
    """
    return ArgMax(labels)


def topk(k: int, labels: Sequence[Any] | None = None, *, softmax: bool = False, expand: bool = False) -> TopK:
    """Return a [`TopK`][dask_openvino.postprocessing.TopK] postprocessor (Analytics Zoo ``LabelOutput``).

    Examples
    --------
    >>> topk(2, ["cat", "dog", "fox"]).k
    2
    """
    return TopK(k, labels, softmax=softmax, expand=expand)


def threshold(value: float = 0.5, *, expand: bool = False) -> Threshold:
    """Return a [`Threshold`][dask_openvino.postprocessing.Threshold] postprocessor.

    Examples
    --------
    >>> threshold(0.9)
    Threshold(value=0.9, expand=False)
    """
    return Threshold(value, expand=expand)


def expand() -> Expand:
    """Return an [`Expand`][dask_openvino.postprocessing.Expand] postprocessor.

    Examples
    --------
    >>> expand()
    Expand()
    """
    return Expand()
