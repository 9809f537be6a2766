"""Analytics Zoo 0.x's Orca OpenVINO ``Estimator`` (``zoo.orca.learn.openvino``) on Dask.

The same prediction path as [`dask_openvino.estimator`][dask_openvino.estimator], with
Analytics Zoo's result forms:

- a DataFrame gets one ``prediction`` column: each row its output with the row's
  shape (a vector of 1000 for ``[N, 1000]``, a vector of one for ``[N, 1]``, a
  scalar only for ``[N]``); a multi-output model gives each row a list of vectors,
  one per output ([`dask_openvino.zoo.rows`][dask_openvino.zoo.rows]);
- a shard keeps its keys and gains ``"prediction"``;
- a row that holds a whole batch (Analytics Zoo 0.10 / 0.11: a list column nested one
  level deeper than the model input's row, ``[B, 3, 224, 224]`` for a ``[?, 3, 224, 224]``
  input) gets the batch's outputs back, ``[B, 1000]``: its rows are scored through the
  same ``.ov.predict`` and regrouped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dask_openvino import estimator
from dask_openvino.arrays import Prediction
from dask_openvino.errors import InputSchemaError, InputValueError
from dask_openvino.plan import InputsArg
from dask_openvino.spec import ModelSpec
from dask_openvino.zoo.rows import RowArrays, combine_columns, combined_dtype

__all__ = ["PREDICTION", "Estimator", "OpenvinoEstimator", "list_depth"]

PREDICTION = "prediction"
"""The column, and the shard key, Analytics Zoo put predictions in."""


def _batch_dtype(spec: ModelSpec) -> pd.ArrowDtype:
    """Return the ``prediction`` dtype of rows that hold batches: a list of what each row of the batch gives."""
    ports = spec.describe().outputs
    if len(ports) == 1:
        row = RowArrays().columns(ports[0], PREDICTION)[PREDICTION]
    else:
        row = combined_dtype([RowArrays(flat=True).columns(port, PREDICTION)[PREDICTION] for port in ports])
    inner = row.pyarrow_dtype if isinstance(row, pd.ArrowDtype) else pa.from_numpy_dtype(row)
    return pd.ArrowDtype(pa.list_(inner))


def list_depth(dtype: Any) -> int:
    """How many list levels a column's dtype nests (0 for a scalar column).

    Examples
    --------
    >>> list_depth(pd.ArrowDtype(pa.list_(pa.list_(pa.float32()))))
    2
    """
    arrow_type = dtype.pyarrow_dtype if isinstance(dtype, pd.ArrowDtype) else None
    depth = 0
    while arrow_type is not None and (pa.types.is_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type)):
        depth, arrow_type = depth + 1, arrow_type.value_type
    return depth


class OpenvinoEstimator(estimator.OpenvinoEstimator):
    """Analytics Zoo 0.x's OpenVINO estimator: a ``prediction`` column, shards that keep their keys.

    Create it with [`Estimator.from_openvino`][dask_openvino.zoo.Estimator.from_openvino];
    ``predict`` takes the arguments of [`dask_openvino.Estimator`][dask_openvino.estimator.OpenvinoEstimator.predict].

    Examples
    --------
    >>> from dask_openvino.zoo import Estimator
    >>> est = Estimator.from_openvino(model_path="resnet.xml")  # doctest: +SKIP
    >>> est.predict(ddf, feature_cols=["image"])["prediction"]  # doctest: +SKIP
    """

    def score_frame(
        self, frame: estimator.Frame, spec: ModelSpec, inputs: InputsArg, batch_size: int
    ) -> estimator.Frame:
        """Score a DataFrame as Analytics Zoo 0.x does: a ``prediction`` column with each row's shape."""
        if PREDICTION in frame.columns:
            raise InputSchemaError(
                f"the DataFrame already has a {PREDICTION!r} column, which the prediction would overwrite; rename it"
            )
        batched = self._batched_column(frame, spec, inputs)
        if batched is not None:
            dtype = _batch_dtype(spec)
            if isinstance(frame, pd.DataFrame):
                return self._score_batches(frame, batched, spec, inputs, batch_size, dtype)
            meta = frame._meta.assign(**{PREDICTION: pd.Series(dtype=dtype)})
            batches: dd.DataFrame = frame.map_partitions(  # type: ignore[no-untyped-call]
                self._score_batches, batched, spec, inputs, batch_size, dtype, meta=meta
            )
            return batches
        return self._score_rows(frame, spec, inputs, batch_size)

    def _batched_column(self, frame: estimator.Frame, spec: ModelSpec, inputs: InputsArg) -> str | None:
        """Return the feature column whose rows hold whole batches (a list level deeper than a model row), if any."""
        ports = spec.describe().inputs
        columns = next(iter(inputs.values())) if isinstance(inputs, Mapping) and len(inputs) == 1 else None
        if len(ports) != 1 or ports[0].shape is None or not isinstance(columns, list) or len(columns) != 1:
            return None
        rank = len(ports[0].shape)
        return columns[0] if rank >= 2 and list_depth(frame.dtypes[columns[0]]) == rank else None

    def _score_batches(
        self, part: pd.DataFrame, column: str, spec: ModelSpec, inputs: InputsArg, batch_size: int, dtype: Any
    ) -> pd.DataFrame:
        """Score the rows of every row's batch, then give each row its batch of predictions (one partition)."""
        batches = pa.array(part[column].array)
        if batches.null_count:
            first = int(np.flatnonzero(pc.is_null(batches).to_numpy(zero_copy_only=False))[0])
            raise InputValueError(
                f"column {column!r} has {batches.null_count} null rows (first: row {part.index[first]}); each row "
                "holds a batch to score, so none may be missing"
            )
        lengths = pc.list_value_length(batches).to_numpy(zero_copy_only=False)
        rows = pd.DataFrame({column: pd.arrays.ArrowExtensionArray(pc.list_flatten(batches))})
        scored = self._score_rows(rows, spec, inputs, batch_size)
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
        grouped = pa.ListArray.from_arrays(offsets, pa.array(scored[PREDICTION].array)).cast(dtype.pyarrow_dtype)
        return part.assign(**{PREDICTION: pd.Series(pd.arrays.ArrowExtensionArray(grouped), index=part.index)})

    def _score_rows(
        self, frame: estimator.Frame, spec: ModelSpec, inputs: InputsArg, batch_size: int
    ) -> estimator.Frame:
        outputs = [port.name for port in spec.describe().outputs]
        if len(outputs) == 1:
            single: estimator.Frame = frame.ov.predict(
                spec, inputs=inputs, batch_size=batch_size, output_names=[PREDICTION], postprocess=RowArrays()
            )
            return single
        parts = [f"{PREDICTION}[{k}]" for k in range(len(outputs))]
        scored: estimator.Frame = frame.ov.predict(
            spec,
            inputs=inputs,
            batch_size=batch_size,
            output_names=parts,
            postprocess={name: RowArrays(flat=True) for name in outputs},
        )
        if isinstance(scored, pd.DataFrame):
            return combine_columns(scored, parts, PREDICTION)
        meta = combine_columns(scored._meta, parts, PREDICTION)
        combined: estimator.Frame = scored.map_partitions(combine_columns, parts, PREDICTION, meta=meta)  # type: ignore[no-untyped-call]
        return combined

    def shard_result(self, shard: Mapping[str, Any], prediction: Prediction) -> Any:
        """Return what a scored shard becomes in Analytics Zoo 0.x: the shard with ``prediction`` added."""
        return {**shard, PREDICTION: prediction}


class Estimator(estimator.Estimator):
    """Factory of Analytics Zoo 0.x estimators, as ``zoo.orca.learn.openvino.Estimator``.

    Examples
    --------
    >>> from dask_openvino.zoo import Estimator
    >>> est = Estimator.from_openvino(model_path="model.xml", batch_size=4)  # doctest: +SKIP
    """

    estimator_type: ClassVar[type[estimator.OpenvinoEstimator]] = OpenvinoEstimator
