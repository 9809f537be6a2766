"""Analytics Zoo 0.x's Orca OpenVINO ``Estimator`` (``zoo.orca.learn.openvino``) on Dask.

The same prediction path as [`dask_openvino.estimator`][dask_openvino.estimator], with
Analytics Zoo's result forms:

- a DataFrame gets one ``prediction`` column: each row its output with the row's
  shape (a vector of 1000 for ``[N, 1000]``, a vector of one for ``[N, 1]``, a
  scalar only for ``[N]``); a multi-output model gives each row a list of vectors,
  one per output ([`dask_openvino.zoo.rows`][dask_openvino.zoo.rows]);
- a shard keeps its keys and gains ``"prediction"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd

from dask_openvino import estimator
from dask_openvino.arrays import Prediction
from dask_openvino.errors import InputSchemaError
from dask_openvino.plan import InputsArg
from dask_openvino.spec import ModelSpec
from dask_openvino.zoo.rows import RowArrays, combine_columns

__all__ = ["PREDICTION", "Estimator", "OpenvinoEstimator"]

PREDICTION = "prediction"
"""The column, and the shard key, Analytics Zoo put predictions in."""


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

    def _score_frame(
        self, frame: estimator.Frame, spec: ModelSpec, inputs: InputsArg, batch_size: int
    ) -> estimator.Frame:
        if PREDICTION in frame.columns:
            raise InputSchemaError(
                f"the DataFrame already has a {PREDICTION!r} column, which the prediction would overwrite; rename it"
            )
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

    def _shard_result(self, shard: Mapping[str, Any], prediction: Prediction) -> Any:
        return {**shard, PREDICTION: prediction}


class Estimator(estimator.Estimator):
    """Factory of Analytics Zoo 0.x estimators, as ``zoo.orca.learn.openvino.Estimator``.

    Examples
    --------
    >>> from dask_openvino.zoo import Estimator
    >>> est = Estimator.from_openvino(model_path="model.xml", batch_size=4)  # doctest: +SKIP
    """

    estimator_type: ClassVar[type[estimator.OpenvinoEstimator]] = OpenvinoEstimator
