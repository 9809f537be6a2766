"""BigDL Orca's OpenVINO ``Estimator`` on Dask: prediction only.

``Estimator.from_openvino(model_path=...)`` returns an
[`OpenvinoEstimator`][dask_openvino.estimator.OpenvinoEstimator], whose ``predict``
takes what Orca's did, with Dask collections in place of Spark's: DataFrames go
through ``.ov.predict``, Dask Arrays and bags of shards through the partition path of
[`dask_openvino.arrays`][dask_openvino.arrays], and arrays in memory run at once on
this process's engine. ``fit``, ``evaluate`` and ``save`` of Orca's estimator only
raised "not implemented"; they do not exist here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import pandas as pd

from dask_openvino.arrays import (
    array_job,
    is_dask_arrays,
    predict_dask_arrays,
    predict_shard,
    run_arrays,
    single_or_list,
)
from dask_openvino.checks import batch_size_or_default, positive_int
from dask_openvino.errors import InputSchemaError
from dask_openvino.feeds import ArrayInput, feeds_from_arrays
from dask_openvino.plan import InputsArg
from dask_openvino.spec import ModelDescription, ModelSpec, resolve_model

__all__ = ["Estimator", "OpenvinoEstimator"]


def _input_order(description: ModelDescription, input_cols: str | Sequence[str] | None) -> list[str]:
    names = [port.name for port in description.inputs]
    if input_cols is None:
        return names
    order = [input_cols] if isinstance(input_cols, str) else [str(c) for c in input_cols]
    if sorted(order) != sorted(names):
        raise InputSchemaError(
            f"input_cols {order} must list the model's inputs {names}, in the order the data gives them"
        )
    return order


def _estimator_inputs(order: Sequence[str], feature_cols: str | Sequence[str] | None) -> InputsArg:
    """``feature_cols`` feed the inputs in ``order`` by position; several columns stack into a single input."""
    if feature_cols is None:
        return None
    columns = [feature_cols] if isinstance(feature_cols, str) else [str(c) for c in feature_cols]
    if len(order) == 1:
        return {order[0]: columns}
    if len(columns) != len(order):
        raise InputSchemaError(
            f"feature_cols {columns} must give one column per model input {list(order)}, in the order of input_cols"
        )
    return dict(zip(order, columns, strict=True))


class OpenvinoEstimator:
    """Orca's OpenVINO estimator on Dask: prediction only.

    Create it with [`Estimator.from_openvino`][dask_openvino.estimator.Estimator.from_openvino].

    Parameters
    ----------
    model_path : str or os.PathLike
        Path or fsspec URI of the IR ``.xml`` (its ``.bin`` beside it).
    batch_size : int, default 0
        Rows per inference when
        [`predict`][dask_openvino.estimator.OpenvinoEstimator.predict] is called
        with ``batch_size=None``; ``0`` keeps the model's own batch or the engine's
        default.
    precision : {"f32", "auto", "bf16", "f16"}, default "f32"
        Inference precision: float32, as Orca computed, unless you opt in to another.

    Examples
    --------
    >>> est = Estimator.from_openvino(model_path="model.xml")  # doctest: +SKIP
    >>> est.predict(ddf, feature_cols=["f0", "f1", "f2"])  # doctest: +SKIP
    """

    def __init__(self, *, model_path: str | os.PathLike[str], batch_size: int = 0, precision: str = "f32") -> None:
        self.spec = ModelSpec.from_path(model_path, precision=precision)
        self.batch_size = batch_size_or_default(batch_size, error=InputSchemaError)

    def __repr__(self) -> str:
        return f"OpenvinoEstimator(model_path={self.spec.xml!r}, batch_size={self.batch_size or 0})"

    def predict(
        self,
        data: dd.DataFrame | pd.DataFrame | ArrayInput | da.Array | db.Bag,
        feature_cols: str | Sequence[str] | None = None,
        batch_size: int | None = 4,
        input_cols: str | Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Any:
        """Predict, lazily for Dask collections and at once for data in memory.

        Parameters
        ----------
        data : DataFrame, array(s), shard dict, Dask Array or Dask Bag
            - a Dask or pandas DataFrame: one column per output is appended (see
              Returns), through ``.ov.predict``;
            - a numpy array, or a list of arrays in ``input_cols`` order;
            - a shard ``{"x": array or list of arrays}`` (an Orca XShards partition),
              or a ``dask.bag.Bag`` of such shards (the Dask analogue of XShards);
            - a Dask Array (or a list of them), scored block by block.
        feature_cols : str or list of str, optional
            DataFrame columns feeding the model inputs by position (``input_cols``
            order): one column per input, or, for a single-input model, several
            numeric columns stacked into its features. By default the columns named
            like the model inputs.
        batch_size : int or None, default 4
            Rows per inference (Orca's default is 4; larger batches are usually
            much faster). A model with another static batch is reshaped. ``None``
            uses the batch size given to [`Estimator.from_openvino`][dask_openvino.estimator.Estimator.from_openvino].
        input_cols : str or list of str, optional
            The model's input names in the order ``feature_cols`` (or a list of
            arrays) gives them; by default the model's own input order.
        config : dict, optional
            OpenVINO compile properties for this call, e.g.
            ``{"PERFORMANCE_HINT": "LATENCY"}``.

        Returns
        -------
        object
            - for a Dask / pandas DataFrame: the same kind of DataFrame with one new
              column per model output, named after the output tensor (as Orca does);
            - for arrays or a Dask Array: an array, or a list of arrays for a
              multi-output model;
            - for a shard: ``{"prediction": array or list of arrays}``; for a Bag: a Bag
              of such dicts.

        Raises
        ------
        InputSchemaError
            If columns, arrays or ``input_cols`` do not match the model's inputs, or
            a prediction column would overwrite an existing column.
        TypeError
            If ``data`` is of another type.

        Examples
        --------
        >>> est = Estimator.from_openvino(model_path="model.xml")  # doctest: +SKIP
        >>> scored = est.predict(ddf, feature_cols=["f0", "f1", "f2"], batch_size=64)  # doctest: +SKIP
        >>> est.predict({"x": features})["prediction"]  # doctest: +SKIP
        """
        size = self.batch_size if batch_size is None else positive_int(batch_size, "batch_size", error=InputSchemaError)
        spec = resolve_model(self.spec, config=config)
        description = spec.describe()
        order = _input_order(description, input_cols)
        if isinstance(data, (dd.DataFrame, pd.DataFrame)):
            return data.ov.predict(
                spec,
                inputs=_estimator_inputs(order, feature_cols),
                batch_size=size,
                output_names=[port.name for port in description.outputs],
            )
        job = array_job(spec, batch_size=size)
        if isinstance(data, db.Bag):
            return data.map(predict_shard, job, order)  # type: ignore[no-untyped-call]
        if isinstance(data, Mapping):
            return predict_shard(data, job, order)
        feeds = feeds_from_arrays(data, order, what="data")
        if is_dask_arrays(data):
            return single_or_list(predict_dask_arrays(feeds, job))
        return single_or_list(run_arrays(job.spec, job.transform, job.batch_size, feeds))


class Estimator:
    """Factory of estimators, as ``bigdl.orca.learn.openvino.Estimator``.

    Examples
    --------
    >>> from dask_openvino import Estimator
    >>> est = Estimator.from_openvino(model_path="model.xml")  # doctest: +SKIP
    """

    @staticmethod
    def from_openvino(
        *, model_path: str | os.PathLike[str], batch_size: int = 0, precision: str = "f32"
    ) -> OpenvinoEstimator:
        """Load an OpenVINO IR as an estimator.

        Parameters
        ----------
        model_path : str or os.PathLike
            Path or fsspec URI of the IR ``.xml`` (its ``.bin`` beside it). Dask
            workers on other hosts need a path they can read.
        batch_size : int, default 0
            Rows per inference when ``predict`` is given ``batch_size=None``;
            ``0`` keeps the model's own batch or the engine's default.
        precision : {"f32", "auto", "bf16", "f16"}, default "f32"
            Inference precision: float32, as Orca computed, unless you opt in to
            ``"auto"`` (the worker CPU's fastest precision) or another one.

        Returns
        -------
        OpenvinoEstimator

        Raises
        ------
        ModelLoadError
            If the files are missing or not an IR.

        Examples
        --------
        >>> est = Estimator.from_openvino(model_path="model.xml")  # doctest: +SKIP
        >>> est.predict(features)  # doctest: +SKIP
        """
        return OpenvinoEstimator(model_path=model_path, batch_size=batch_size, precision=precision)
