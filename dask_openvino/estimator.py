"""BigDL Orca's OpenVINO ``Estimator`` on Dask: prediction only.

``Estimator.from_openvino(model_path=...)`` returns an
[`OpenvinoEstimator`][dask_openvino.estimator.OpenvinoEstimator], whose ``predict``
takes what Orca's did, with Dask collections in place of Spark's: DataFrames go
through ``.ov.predict``, Dask Arrays and bags of shards through the partition path of
[`dask_openvino.arrays`][dask_openvino.arrays], and arrays in memory run at once on
this process's engine. The training methods Orca declared but never implemented
(``fit``, ``evaluate``, ``save``, ...) raise ``NotImplementedError`` as Orca's did.

This is the package's own convention (flattened output columns, ``{"prediction": ...}``
shards). [`dask_openvino.zoo`][dask_openvino.zoo] and [`dask_openvino.orca`][dask_openvino.orca]
subclass it with Analytics Zoo's and BigDL Orca's result forms.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import pandas as pd

from dask_openvino.arrays import (
    ArrayJob,
    Prediction,
    array_job,
    is_dask_arrays,
    predict_dask_arrays,
    run_arrays,
    shard_prediction,
    single_or_list,
)
from dask_openvino.checks import batch_size_or_default, positive_int
from dask_openvino.errors import InputSchemaError
from dask_openvino.feeds import ArrayInput, feeds_from_arrays
from dask_openvino.legacy_config import translate_legacy_config
from dask_openvino.plan import InputsArg
from dask_openvino.spec import ModelDescription, ModelSpec, resolve_model

__all__ = ["DEFAULT_BATCH_SIZE", "Estimator", "OpenvinoEstimator"]

DEFAULT_BATCH_SIZE = 4
"""Rows per inference when neither ``predict`` nor ``from_openvino`` gives a batch size (Orca's default)."""

Frame = dd.DataFrame | pd.DataFrame


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


def _not_implemented(name: str) -> NotImplementedError:
    return NotImplementedError(
        f"{name} is not supported by the OpenVINO estimator (Analytics Zoo and BigDL Orca did not implement it "
        "either): it runs inference only"
    )


class OpenvinoEstimator:
    """Orca's OpenVINO estimator on Dask: prediction only.

    Create it with [`Estimator.from_openvino`][dask_openvino.estimator.Estimator.from_openvino].

    Parameters
    ----------
    model_path : str or os.PathLike
        Path or fsspec URI of the IR ``.xml`` (its ``.bin`` beside it).
    batch_size : int, default 0
        Rows per inference when [`predict`][dask_openvino.estimator.OpenvinoEstimator.predict]
        is given no ``batch_size``; ``0`` means Orca's default of 4.
    precision : {"f32", "auto", "bf16", "f16"}, default "f32"
        Inference precision: float32, as Orca computed, unless you opt in to another.

    Examples
    --------
    >>> est = Estimator.from_openvino(model_path="model.xml")  # doctest: +SKIP
    >>> est.predict(ddf, feature_cols=["f0", "f1", "f2"])  # doctest: +SKIP
    """

    def __init__(self, *, model_path: str | os.PathLike[str], batch_size: int = 0, precision: str = "f32") -> None:
        self.precision = precision
        self.load(model_path, batch_size=batch_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_path={self.spec.xml!r}, batch_size={self.batch_size or 0})"

    def load(self, model_path: str | os.PathLike[str], batch_size: int = 0) -> None:
        """Load (or replace) the OpenVINO IR this estimator predicts with, as Orca's ``load``.

        Parameters
        ----------
        model_path : str or os.PathLike
            Path or fsspec URI of the IR ``.xml`` (its ``.bin`` beside it).
        batch_size : int, default 0
            As for [`Estimator.from_openvino`][dask_openvino.estimator.Estimator.from_openvino].

        Raises
        ------
        ModelLoadError
            If the files are missing or not an IR.

        Examples
        --------
        >>> est.load("other.xml")  # doctest: +SKIP
        """
        self.spec = ModelSpec.from_path(model_path, precision=self.precision)
        self.batch_size = batch_size_or_default(batch_size, error=InputSchemaError)

    def predict(
        self,
        data: dd.DataFrame | pd.DataFrame | ArrayInput | da.Array | db.Bag,
        feature_cols: str | Sequence[str] | None = None,
        batch_size: int | None = None,
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
            - a shard ``{"x": array or list of arrays}`` (an Orca XShards partition);
            - a ``dask.bag.Bag`` of such shards or of pandas DataFrames (the Dask
              analogue of XShards), scored element by element;
            - a Dask Array (or a list of them), scored block by block.
        feature_cols : str or list of str, optional
            DataFrame columns feeding the model inputs by position (``input_cols``
            order): one column per input, or, for a single-input model, several
            numeric columns stacked into its features. By default the columns named
            like the model inputs.
        batch_size : int, optional
            Rows per inference. By default the ``batch_size`` given to
            [`Estimator.from_openvino`][dask_openvino.estimator.Estimator.from_openvino],
            else 4 (Orca's default; larger batches are usually much faster). A model
            with another static batch is reshaped.
        input_cols : str or list of str, optional
            The model's input names in the order ``feature_cols`` (or a list of
            arrays) gives them; by default the model's own input order.
        config : dict, optional
            OpenVINO compile properties for this call, e.g. ``{"PERFORMANCE_HINT": "LATENCY"}``;
            the Inference Engine keys of Orca's time are translated
            ([`translate_legacy_config`][dask_openvino.legacy_config.translate_legacy_config]).

        Returns
        -------
        object
            - for a Dask / pandas DataFrame: the same kind of DataFrame with one new
              column per model output, named after the output tensor;
            - for arrays or a Dask Array: an array, or a list of arrays for a
              multi-output model;
            - for a shard: ``{"prediction": array or list of arrays}``; for a Bag: a Bag
              with one such result (or scored DataFrame) per element.

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
        if batch_size is None:
            size = self.batch_size or DEFAULT_BATCH_SIZE
        else:
            size = positive_int(batch_size, "batch_size", error=InputSchemaError)
        spec = resolve_model(self.spec, config=translate_legacy_config(config))
        order = _input_order(spec.describe(), input_cols)
        if isinstance(data, (dd.DataFrame, pd.DataFrame)):
            return self.score_frame(data, spec, _estimator_inputs(order, feature_cols), size)
        job = array_job(spec, batch_size=size)
        if isinstance(data, db.Bag):
            return data.map(self._score_element, job, order, _estimator_inputs(order, feature_cols))  # type: ignore[no-untyped-call]
        if isinstance(data, Mapping):
            return self._score_shard(data, job, order)
        feeds = feeds_from_arrays(data, order, what="data")
        if is_dask_arrays(data):
            return single_or_list(predict_dask_arrays(feeds, job))
        return single_or_list(run_arrays(job.spec, job.transform, job.batch_size, feeds))

    # ---- the result forms, which Analytics Zoo and BigDL Orca subclasses replace

    def score_frame(self, frame: Frame, spec: ModelSpec, inputs: InputsArg, batch_size: int) -> Frame:
        """Score a DataFrame: one flattened column per output, named after the tensor.

        The Analytics Zoo and BigDL Orca estimators replace it with their upstream's form.

        Examples
        --------
        >>> est.score_frame(df, est.spec, {"x": ["f0", "f1", "f2"]}, 4).columns.tolist()  # doctest: +SKIP
        ['f0', 'f1', 'f2', 'y']
        """
        names = [port.name for port in spec.describe().outputs]
        scored: Frame = frame.ov.predict(spec, inputs=inputs, batch_size=batch_size, output_names=names)
        return scored

    def shard_result(self, shard: Mapping[str, Any], prediction: Prediction) -> Any:
        """Return what a scored shard becomes: ``{"prediction": ...}``.

        Examples
        --------
        >>> est.shard_result({"x": x}, prediction)  # doctest: +SKIP
        {'prediction': array([...], dtype=float32)}
        """
        return {"prediction": prediction}

    def _score_shard(self, shard: Mapping[str, Any], job: ArrayJob, order: Sequence[str]) -> Any:
        return self.shard_result(shard, shard_prediction(shard, job, order))

    def _score_element(self, element: Any, job: ArrayJob, order: Sequence[str], inputs: InputsArg) -> Any:
        """Score one element of a Bag: a shard dict or a pandas DataFrame (the task each element runs)."""
        if isinstance(element, pd.DataFrame):
            return self.score_frame(element, job.spec, inputs, job.batch_size or DEFAULT_BATCH_SIZE)
        if isinstance(element, Mapping):
            return self._score_shard(element, job, order)
        raise InputSchemaError(
            "each element of the Bag must be a shard dict {'x': array or list of arrays} or a pandas DataFrame, "
            f"got {type(element).__name__}"
        )

    # ---- declared by Orca, never implemented there

    def fit(self, data: Any, epochs: int, batch_size: int = 32, **kwargs: Any) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("fit")

    def evaluate(self, data: Any, batch_size: int = 32, **kwargs: Any) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("evaluate")

    def get_model(self) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("get_model")

    def save(self, model_path: str) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("save")

    def set_tensorboard(self, log_dir: str, app_name: str) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("set_tensorboard")

    def clear_gradient_clipping(self) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("clear_gradient_clipping")

    def set_constant_gradient_clipping(self, min: float, max: float) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("set_constant_gradient_clipping")

    def set_l2_norm_gradient_clipping(self, clip_norm: float) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("set_l2_norm_gradient_clipping")

    def get_train_summary(self, tag: str | None = None) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("get_train_summary")

    def get_validation_summary(self, tag: str | None = None) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("get_validation_summary")

    def load_orca_checkpoint(self, path: str, version: int | None = None) -> None:
        """Not supported: raises ``NotImplementedError``, as Orca's OpenVINO estimator did."""
        raise _not_implemented("load_orca_checkpoint")


class Estimator:
    """Factory of estimators, as ``bigdl.orca.learn.openvino.Estimator``.

    Examples
    --------
    >>> from dask_openvino import Estimator
    >>> est = Estimator.from_openvino(model_path="model.xml")  # doctest: +SKIP
    """

    estimator_type: ClassVar[type[OpenvinoEstimator]] = OpenvinoEstimator
    """The estimator class ``from_openvino`` builds."""

    @classmethod
    def from_openvino(
        cls, *, model_path: str | os.PathLike[str], batch_size: int = 0, precision: str = "f32"
    ) -> OpenvinoEstimator:
        """Load an OpenVINO IR as an estimator.

        Parameters
        ----------
        model_path : str or os.PathLike
            Path or fsspec URI of the IR ``.xml`` (its ``.bin`` beside it). Dask
            workers on other hosts need a path they can read.
        batch_size : int, default 0
            Rows per inference when ``predict`` is given no ``batch_size``
            (Analytics Zoo 0.10 / 0.11); ``0`` means Orca's default of 4.
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
        return cls.estimator_type(model_path=model_path, batch_size=batch_size, precision=precision)
