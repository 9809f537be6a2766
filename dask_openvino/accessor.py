"""The ``.ov`` accessor on Dask and pandas DataFrames.

``import dask_openvino`` registers it. On a Dask DataFrame, ``predict`` is lazy:
it checks the arguments against ``meta`` and the model's ports, then maps
[`predict_partition`][dask_openvino.partition.predict_partition] over the partitions with the
plan (model location and fingerprint, never weights) as its argument. On a pandas
DataFrame it runs at once in this process.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import dask.dataframe as dd
import pandas as pd
from dask.dataframe.extensions import register_dataframe_accessor

from dask_openvino.partition import predict_partition
from dask_openvino.plan import (
    ErrorsArg,
    InputsArg,
    OutputNamesArg,
    PostprocessArg,
    PredictionPlan,
    PreprocessArg,
    build_plan,
)
from dask_openvino.quantize import quantize
from dask_openvino.spec import ModelSpec, resolve_model
from dask_openvino.transforms import InputLayoutArg

__all__ = ["OpenVINODataFrameAccessor", "PandasOpenVINOAccessor"]

ModelArg = ModelSpec | str | os.PathLike[str]


FrameT = TypeVar("FrameT", dd.DataFrame, pd.DataFrame)


class _OpenVINOAccessor(ABC, Generic[FrameT]):
    """What the Dask and pandas ``.ov`` accessors share; they differ only in how a plan runs."""

    def __init__(self, frame: FrameT) -> None:
        self._frame: FrameT = frame

    @abstractmethod
    def _meta(self) -> pd.DataFrame:
        """Return the (empty) frame whose columns and dtypes the arguments are checked against."""

    @abstractmethod
    def _score(self, plan: PredictionPlan) -> FrameT:
        """Run ``plan`` over the frame."""

    def predict(
        self,
        model: ModelArg,
        *,
        inputs: InputsArg = None,
        batch_size: int | None = None,
        output_names: OutputNamesArg = None,
        keep_input: bool = True,
        config: Mapping[str, Any] | None = None,
        device: str | None = None,
        weights: str | os.PathLike[str] | None = None,
        preprocess: PreprocessArg = None,
        postprocess: PostprocessArg = None,
        errors: ErrorsArg = "raise",
        precision: str | None = None,
        input_layout: InputLayoutArg = None,
    ) -> FrameT:
        """Score every row with an OpenVINO model: lazily on Dask, at once on pandas.

        Parameters
        ----------
        model : str, os.PathLike or ModelSpec
            Path or fsspec URI of an IR ``.xml`` (its ``.bin`` beside it, or ``weights=``),
            or a [`ModelSpec`][dask_openvino.spec.ModelSpec].
        inputs : None, str, list of str, or dict, optional
            How columns feed the model's inputs:

            - ``None``: the model's input names are column names;
            - a list of columns in model-input order (Analytics Zoo ``feature_cols``):
              for a single-input model several scalar columns are stacked into ``[N, C]``;
              for a model with ``k`` inputs, ``k`` columns feed them in order;
            - ``{input name: column or list of columns}``.

            Tensor-valued columns are pyarrow list or fixed-size list columns
            (``pd.ArrowDtype(pa.list_(pa.float32()))``), reshaped to the input's
            static row shape. Object columns of numpy arrays work on pandas
            DataFrames, but Dask turns object columns into strings.
        batch_size : int, optional
            Rows per inference. Default: the model's static batch dimension, else
            batches of about the same size and at most
            [`default_batch_size`][dask_openvino.policy.default_batch_size] rows (see
            [`Engine.batch_rows`][dask_openvino.engine.Engine.batch_rows]). A model with
            another static batch is reshaped to this one.
        output_names : str, list of str, or dict, optional
            Result column names: a list in output order or ``{output name: column}``.
            By default a single output is called ``prediction`` and several outputs
            keep their tensor names.
        keep_input : bool, default True
            Keep the input columns in the result; ``False`` returns only outputs.
        config : dict, optional
            OpenVINO compile properties overriding the derived defaults
            ([`default_compile_config`][dask_openvino.policy.default_compile_config]).
        device : str, optional
            OpenVINO device; default ``"CPU"`` (or the ModelSpec's device).
        weights : str or os.PathLike, optional
            The ``.bin`` file when it does not sit beside the ``.xml``.
        preprocess : pipeline or dict, optional
            Turns one column into model input(s) on the workers: an image pipeline
            ([`ChainedPreprocessing`][dask_openvino.preprocessing.image.ChainedPreprocessing], on a column of
            encoded bytes or paths) or a tokenizer ([`TextTokenize`][dask_openvino.preprocessing.text.TextTokenize],
            [`SentenceEmbedding`][dask_openvino.preprocessing.text.SentenceEmbedding], on a text column). The column
            is the one ``inputs=`` maps to the preprocessed input, e.g.
            ``inputs={"image": "jpeg"}``; with several model inputs, name the input:
            ``preprocess={"image": pipeline}``.
        postprocess : postprocessor or dict, optional
            Turns an output into other columns ([`dask_openvino.postprocessing`][dask_openvino.postprocessing]:
            ``Softmax``, ``ArgMax``, ``TopK``, ``Threshold``, ``Expand``); a dict
            ``{output name: postprocessor}`` for models with several outputs.
        errors : {"raise", "null"}, default "raise"
            What a row that cannot be preprocessed (undecodable image, unreadable
            path, missing text) does: ``"raise"`` fails the partition with an
            [`InputSchemaError`][dask_openvino.errors.InputSchemaError] naming the row and the
            reason; ``"null"`` gives that row null outputs and the reason in an extra
            ``prediction_error`` column (null for scored rows). No row is dropped.
            Rows whose inference fails are treated the same way: a failing batch is
            bisected until the failing rows are isolated, and the rest is scored.

        precision : {"auto", "f32", "bf16", "f16"}, optional
            Inference precision. ``"auto"`` lets each worker choose the fastest
            precision its CPU runs well (bf16 with AMX, for one; see
            [`choose_precision`][dask_openvino.policy.choose_precision]); ``"f32"``
            gives the framework's numbers exactly. Default: Dask's
            ``openvino.precision`` setting, ``"auto"`` unless set (or a
            [`ModelSpec`][dask_openvino.spec.ModelSpec]'s own). ``docs/tuning.md``
            shows what each precision costs in accuracy and buys in speed.
            ``INFERENCE_PRECISION_HINT`` in ``config`` wins.
        input_layout : str or dict, optional
            The layout of tensor columns whose rows are not laid out like the model's
            input, one letter per dimension with ``N`` (the rows) first: ``"NHWC"``
            for channels-last images into an ``NCHW`` model (every input of four
            dimensions), or ``{input name: layout}``. The transpose is added to the
            model (OpenVINO's ``PrePostProcessor``), so the rows are fed as they are;
            the model's layout is the one its IR declares, else channels first.
            Rows whose shape shows another layout than the input's raise
            [`InputSchemaError`][dask_openvino.errors.InputSchemaError] without it.

        Returns
        -------
        dask.dataframe.DataFrame or pandas.DataFrame
            The same kind of frame, with the same partitions, index and row order, plus one column per model output:
            numeric for one value per row, else a pyarrow fixed-size list of the
            row's values flattened row-major (the output port's ``row_shape`` in
            ``ModelSpec.describe()`` gives the shape back). A postprocessed output
            gives its postprocessor's columns instead.

        Raises
        ------
        InputSchemaError
            When the graph is built, if a column is missing or cannot feed its input.
        ModelLoadError
            If the model files are missing or unreadable.
        """
        spec = resolve_model(model, weights=weights, device=device, config=config, precision=precision)
        plan = build_plan(
            spec,
            self._meta(),
            inputs=inputs,
            batch_size=batch_size,
            output_names=output_names,
            keep_input=keep_input,
            preprocess=preprocess,
            postprocess=postprocess,
            errors=errors,
            input_layout=input_layout,
        )
        return self._score(plan)

    def quantize(self, model: ModelArg, *, inputs: InputsArg = None, **options: Any) -> ModelSpec:
        """Quantize ``model`` to INT8, calibrating on this frame's rows.

        Columns map to the model's inputs exactly as in ``predict``.

        Parameters
        ----------
        model : str, os.PathLike or ModelSpec
            The FP32 IR.
        inputs : None, str, list of str, or dict, optional
            As in ``predict``.
        **options
            Passed to [`dask_openvino.quantize.quantize`][dask_openvino.quantize.quantize] (``subset_size``,
            ``preset``, ``output_dir``, ...).

        Returns
        -------
        ModelSpec
            The INT8 model.

        Examples
        --------
        >>> int8 = ddf.ov.quantize("model.xml", inputs=["f0", "f1", "f2"], subset_size=300)  # doctest: +SKIP
        >>> ddf.ov.predict(int8, inputs=["f0", "f1", "f2"])  # doctest: +SKIP
        """
        return quantize(model, self._frame, inputs=inputs, **options)


@register_dataframe_accessor("ov")  # type: ignore[no-untyped-call]
class OpenVINODataFrameAccessor(_OpenVINOAccessor[dd.DataFrame]):
    """OpenVINO inference on a Dask DataFrame, available as ``ddf.ov``; lazy.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import dask_openvino  # registers .ov
    >>> ddf = dd.read_parquet("features/")  # doctest: +SKIP
    >>> out = ddf.ov.predict("model.xml", inputs=["f0", "f1", "f2"], batch_size=64)  # doctest: +SKIP
    >>> out.to_parquet("scored/")  # doctest: +SKIP
    """

    def _meta(self) -> pd.DataFrame:
        # Read on every call: the accessor outlives in-place column assignment.
        meta: pd.DataFrame = self._frame._meta
        return meta

    def _score(self, plan: PredictionPlan) -> dd.DataFrame:
        # The token names the scoring step in the dashboard's task stream and progress panel;
        # fusion with the reader keeps only its first word, "predict".
        scored: dd.DataFrame = self._frame.map_partitions(  # type: ignore[no-untyped-call]
            predict_partition,
            plan,
            meta=predict_partition(self._meta().iloc[:0], plan),
            token=f"predict-{plan.spec.name}",
        )
        return scored


@pd.api.extensions.register_dataframe_accessor("ov")
class PandasOpenVINOAccessor(_OpenVINOAccessor[pd.DataFrame]):
    """OpenVINO inference on a pandas DataFrame, available as ``df.ov``; runs at once.

    Examples
    --------
    >>> import pandas as pd
    >>> import dask_openvino  # registers .ov
    >>> df = pd.DataFrame({"f0": [0.1], "f1": [0.2], "f2": [0.3]})
    >>> df.ov.predict("model.xml", inputs=["f0", "f1", "f2"])  # doctest: +SKIP
    """

    def _meta(self) -> pd.DataFrame:
        return self._frame

    def _score(self, plan: PredictionPlan) -> pd.DataFrame:
        scored: pd.DataFrame = predict_partition(self._frame, plan)
        return scored
