"""BigDL Orca 2.x's OpenVINO ``Estimator`` (``bigdl.orca.learn.openvino``) on Dask.

The same prediction path as [`dask_openvino.estimator`][dask_openvino.estimator], with
BigDL Orca's result forms:

- a DataFrame gets one column per output, named after the output tensor, each row
  nested with a leading 1 (``[1, 1000]``), so rows concatenate back into the batch
  ([`RowArrays(lead=True)`][dask_openvino.zoo.rows.RowArrays]);
- a shard becomes its raw prediction: an array, or a list of arrays for a
  multi-output model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dask_openvino import estimator
from dask_openvino.arrays import Prediction
from dask_openvino.plan import InputsArg
from dask_openvino.spec import ModelSpec
from dask_openvino.zoo.rows import RowArrays

__all__ = ["Estimator", "OpenvinoEstimator"]


class OpenvinoEstimator(estimator.OpenvinoEstimator):
    """BigDL Orca 2.x's OpenVINO estimator: tensor-named ``[1, ...]`` columns, raw arrays per shard.

    Create it with [`Estimator.from_openvino`][dask_openvino.orca.Estimator.from_openvino];
    ``predict`` takes the arguments of [`dask_openvino.Estimator`][dask_openvino.estimator.OpenvinoEstimator.predict].

    Examples
    --------
    >>> from dask_openvino.orca import Estimator
    >>> est = Estimator.from_openvino(model_path="resnet.xml")  # doctest: +SKIP
    >>> est.predict(ddf, feature_cols=["image"])  # doctest: +SKIP
    """

    def score_frame(
        self, frame: estimator.Frame, spec: ModelSpec, inputs: InputsArg, batch_size: int
    ) -> estimator.Frame:
        """Score a DataFrame as BigDL Orca 2.x does: a column per output, named after the tensor, rows ``[1, ...]``."""
        names = [port.name for port in spec.describe().outputs]
        scored: estimator.Frame = frame.ov.predict(
            spec,
            inputs=inputs,
            batch_size=batch_size,
            output_names=names,
            postprocess={name: RowArrays(lead=True) for name in names},
        )
        return scored

    def shard_result(self, shard: Mapping[str, Any], prediction: Prediction) -> Any:
        """Return what a scored shard becomes in BigDL Orca 2.x: the raw prediction."""
        return prediction


class Estimator(estimator.Estimator):
    """Factory of BigDL Orca 2.x estimators, as ``bigdl.orca.learn.openvino.Estimator``.

    Examples
    --------
    >>> from dask_openvino.orca import Estimator
    >>> est = Estimator.from_openvino(model_path="model.xml")  # doctest: +SKIP
    """

    estimator_type: ClassVar[type[estimator.OpenvinoEstimator]] = OpenvinoEstimator
