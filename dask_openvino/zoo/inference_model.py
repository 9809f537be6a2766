"""Analytics Zoo's and BigDL Orca's ``InferenceModel`` on Dask and OpenVINO.

Code written for ``zoo.pipeline.inference.InferenceModel`` or
``bigdl.orca.inference.InferenceModel`` keeps its names and arguments; Spark RDDs and
DataFrames become Dask collections: Dask DataFrames go through ``.ov.predict``, Dask
Arrays and bags through one task per block or element on the workers' engines
([`dask_openvino.arrays`][dask_openvino.arrays]). The loaders of formats OpenVINO no
longer reads live in [`dask_openvino.zoo.loaders`][dask_openvino.zoo.loaders];
``docs/migration.md`` maps every call.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd

from dask_openvino.arrays import (
    ArrayJob,
    Prediction,
    array_job,
    is_dask_arrays,
    predict_dask_arrays,
    run_arrays,
    single_or_list,
)
from dask_openvino.cache import get_engine
from dask_openvino.checks import batch_size_or_default, positive_int
from dask_openvino.convert import convert_model
from dask_openvino.errors import InputSchemaError, ModelLoadError
from dask_openvino.feeds import ArrayInput, feeds_from_arrays
from dask_openvino.legacy_config import translate_legacy_config
from dask_openvino.partition import feeds_from_frame
from dask_openvino.plan import InputsArg
from dask_openvino.policy import requested_precision
from dask_openvino.spec import ModelDescription, ModelSpec
from dask_openvino.transforms import ModelTransform, batch_reshape
from dask_openvino.zoo.framework_files import convert_torch_file
from dask_openvino.zoo.loaders import Loaders

__all__ = ["DaskPrediction", "InferenceModel", "predict_element"]

DaskPrediction = dd.DataFrame | da.Array | list[da.Array] | db.Bag
"""What ``distributed_predict`` returns."""


def _frame_inputs(description: ModelDescription, columns: Sequence[Any]) -> InputsArg:
    """Columns named like the inputs feed them; otherwise the columns feed the inputs in order."""
    names = [port.name for port in description.inputs]
    if all(name in columns for name in names):
        return None
    return [str(column) for column in columns]


class _Workdir:
    """A private directory for a converted IR, deleted when the last reference to this object goes."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="dask-openvino-inference-model-"))
        weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)


@dataclass(frozen=True)
class _Loaded:
    """What one ``load_*`` call produced; swapped atomically so predict never sees half a load."""

    spec: ModelSpec
    local_spec: ModelSpec
    transform: ModelTransform | None
    batch_size: int | None
    workdir: _Workdir | None


class InferenceModel(Loaders):
    """Thread-safe inference with one OpenVINO model (Analytics Zoo's ``InferenceModel``).

    Create it, load a model with one of the ``load_*`` methods, then call
    [`predict`][dask_openvino.zoo.InferenceModel.predict] from any number of threads. Predictions
    run through the same per-process engine as ``.ov.predict``
    ([`get_engine`][dask_openvino.cache.get_engine]).

    Parameters
    ----------
    supported_concurrent_num : int, default 1
        How many callers are served at the same time. The model is compiled with this many OpenVINO
        streams (``NUM_STREAMS``; OpenVINO caps it at the core count): each stream runs one
        inference at a time on its share of the cores, so this many concurrent
        [`predict`][dask_openvino.zoo.InferenceModel.predict] calls run in parallel and further
        callers wait for a free stream; one large input keeps every stream busy. Analytics Zoo
        kept this many copies of the model; streams share one copy of the weights. Dask workers
        size OpenVINO to their own threads instead.
    bigdl_type : {"float"}, default "float"
        Analytics Zoo's element type of the JVM model; OpenVINO computes in float32
        (``precision``), so only ``"float"`` is accepted.
    device : str, default "CPU"
        OpenVINO device.
    config : dict, optional
        OpenVINO compile properties, used locally and on the workers, over the
        defaults of [`default_compile_config`][dask_openvino.policy.default_compile_config], e.g.
        ``{"PERFORMANCE_HINT": "LATENCY"}``; Inference Engine keys (``CPU_THREADS_NUM``, ...)
        are translated with a ``DeprecationWarning``
        ([`translate_legacy_config`][dask_openvino.legacy_config.translate_legacy_config]).
    precision : {"f32", "auto", "bf16", "f16"}, default "f32"
        Inference precision. Float32 by default, as Analytics Zoo computed, so stored
        reference outputs still match; ``"auto"`` opts in to the worker CPU's fastest
        precision (see [`choose_precision`][dask_openvino.policy.choose_precision]).

    Examples
    --------
    >>> from dask_openvino import InferenceModel
    >>> model = InferenceModel(supported_concurrent_num=2)
    >>> model.load_openvino("model.xml", "model.bin", batch_size=4)  # doctest: +SKIP
    >>> model.predict(features)  # doctest: +SKIP
    """

    def __init__(
        self,
        supported_concurrent_num: int = 1,
        bigdl_type: str = "float",
        *,
        device: str = "CPU",
        config: Mapping[str, Any] | None = None,
        precision: str = "f32",
    ) -> None:
        self.supported_concurrent_num = positive_int(supported_concurrent_num, "supported_concurrent_num")
        if bigdl_type != "float":
            raise ValueError(
                f"bigdl_type={bigdl_type!r}: OpenVINO runs float32 models (bigdl_type='float'); choose the "
                "inference precision with precision= instead"
            )
        self.bigdl_type = bigdl_type
        self.device = device
        self.config = translate_legacy_config(config)
        self.precision = requested_precision(precision)
        self._loaded: _Loaded | None = None
        self._pending_torch: tuple[str, Any] | None = None
        self._lock = threading.Lock()
        self._convert_lock = threading.Lock()

    def __repr__(self) -> str:
        loaded = self._loaded
        model = "no model loaded" if loaded is None else loaded.spec.xml
        return f"InferenceModel(supported_concurrent_num={self.supported_concurrent_num}, {model})"

    # ---- loading

    def _install(self, spec: ModelSpec, batch_size: int | None, workdir: _Workdir | None) -> None:
        transform = batch_reshape(spec.describe(), batch_size)
        local_config = {"NUM_STREAMS": str(self.supported_concurrent_num), **self.config}
        local_spec = spec.with_options(config=local_config)
        get_engine(local_spec, transform)  # compile now, so a broken model fails here and not in predict
        loaded = _Loaded(spec, local_spec, transform, batch_size, workdir)
        with self._lock:
            self._loaded = loaded
            self._pending_torch = None

    def load_openvino(
        self,
        model_path: str | os.PathLike[str],
        weight_path: str | os.PathLike[str] | None = None,
        batch_size: int = 0,
    ) -> None:
        """Load an OpenVINO IR.

        Parameters
        ----------
        model_path : str or os.PathLike
            Path or fsspec URI of the ``.xml`` file.
        weight_path : str or os.PathLike, optional
            The ``.bin`` file; by default the ``.bin`` beside the ``.xml``.
        batch_size : int, default 0
            Rows per inference. ``0`` keeps the model's own batch (a static batch
            dimension, or the engine's default for a dynamic one); otherwise a model
            with another static batch is reshaped to this one, and a dynamic-batch
            model runs this many rows at a time. Any number of rows can be predicted
            either way: the last short batch is padded and its padding dropped.

        Raises
        ------
        ModelLoadError
            If a file is missing, unreadable, or OpenVINO cannot compile the model.
        InputSchemaError
            If ``batch_size`` is negative or the model's inputs cannot be reshaped.

        Examples
        --------
        >>> model = InferenceModel()
        >>> model.load_openvino("resnet50.xml", "resnet50.bin", batch_size=8)  # doctest: +SKIP
        """
        size = batch_size_or_default(batch_size, error=InputSchemaError)
        spec = ModelSpec.from_path(
            model_path, weights=weight_path, device=self.device, config=self.config, precision=self.precision
        )
        self._install(spec, size, None)

    def load_converted(self, model: ov.Model, input_shape: Any = None) -> None:
        """Install a converted model (saved to a temporary IR this object owns)."""
        if input_shape is not None:
            model = convert_model(model, input_shape=input_shape)
        workdir = _Workdir()
        xml = workdir.path / "model.xml"
        ov.save_model(model, xml, compress_to_fp16=False)
        spec = ModelSpec.from_path(xml, device=self.device, config=self.config, precision=self.precision)
        self._install(spec, None, workdir)

    def defer_torch(self, path: str | os.PathLike[str]) -> None:
        """Convert the PyTorch file at ``path`` with the first batch ``predict`` receives."""
        with self._lock:
            self._loaded, self._pending_torch = None, (os.fspath(path), None)

    # ---- inference

    def _require_loaded(self, first_batch: Any = None) -> _Loaded:
        with self._lock:
            loaded, pending = self._loaded, self._pending_torch
        if loaded is None and pending is not None:
            if first_batch is None or isinstance(first_batch, (dd.DataFrame, pd.DataFrame, db.Bag)):
                raise ModelLoadError(
                    f"the PyTorch model {pending[0]!r} is traced with its first batch: call predict() with a numpy "
                    "array (or a list of arrays, one per input) first, or load it with "
                    "load_torch(path, input_shape=[...]) or load_torch(path, example_input=...)"
                )
            batch = first_batch if isinstance(first_batch, (list, tuple)) else [first_batch]
            # Analytics Zoo fed float32 whatever numpy's dtype; a module traced in float64 would not match its weights.
            example = [a.astype(np.float32) if a.dtype == np.float64 else a for a in map(np.asarray, batch)]
            with self._convert_lock:
                if self._loaded is None:
                    self.load_converted(convert_torch_file(pending[0], example))
            loaded = self._loaded
        if loaded is None:
            raise ModelLoadError(
                "this InferenceModel has no model yet: call load_openvino(...), load_onnx(...), "
                "load_tensorflow(...), load_torch(...) or load_paddle(...) before predicting"
            )
        return loaded

    @property
    def spec(self) -> ModelSpec:
        """The loaded model's [`ModelSpec`][dask_openvino.ModelSpec], e.g. for ``ddf.ov.predict(model.spec)``.

        Raises
        ------
        ModelLoadError
            If no model is loaded.

        Examples
        --------
        >>> model = InferenceModel()
        >>> model.load_openvino("model.xml")  # doctest: +SKIP
        >>> ddf.ov.predict(model.spec, inputs=["f0", "f1"])  # doctest: +SKIP
        """
        return self._require_loaded().spec

    def predict(self, inputs: ArrayInput | pd.DataFrame | dd.DataFrame | da.Array) -> Prediction | DaskPrediction:
        """Predict, in this process; thread-safe.

        Parameters
        ----------
        inputs : numpy.ndarray, list of arrays, dict, pandas.DataFrame, or Dask DataFrame / Array
            - an array for a single-input model, ``[N, ...]`` or ``[B, N, ...]``
              (Analytics Zoo's form: ``B`` batches of ``N`` rows, when the array has
              exactly one more dimension than the model input);
            - a list of arrays, one per model input in input order, or a dict
              ``{input name: array}``;
            - a pandas DataFrame whose columns are named like the model inputs, or
              that has one column per input in input order (several numeric columns
              are stacked into a single input's features), mapped as by ``.ov.predict``;
            - a Dask DataFrame, Bag or Dask Array (or a list / dict of Dask Arrays): handed
              to [`distributed_predict`][dask_openvino.zoo.InferenceModel.distributed_predict],
              which returns a lazy result.

            Any number of rows works: the engine cuts them into batches.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            One array with one row per input row (``[B, N, ...]`` for the
            ``[B, N, ...]`` form) for a single-output model, else one array per
            output in the model's output order (Analytics Zoo's contract). For Dask
            input, what [`distributed_predict`][dask_openvino.zoo.InferenceModel.distributed_predict] returns.

        Raises
        ------
        ModelLoadError
            If no model is loaded.
        InputSchemaError
            If the inputs do not match the model's (count, names, shapes, types).
        TypeError
            If ``inputs`` is of another type.

        Examples
        --------
        >>> model = InferenceModel()
        >>> model.load_openvino("two_inputs.xml")  # doctest: +SKIP
        >>> scores = model.predict([images, masks])  # doctest: +SKIP
        >>> scores = model.predict({"image": images, "mask": masks})  # doctest: +SKIP
        """
        if isinstance(inputs, (dd.DataFrame, db.Bag)) or is_dask_arrays(inputs):
            return self.distributed_predict(inputs)  # type: ignore[arg-type]
        loaded = self._require_loaded(inputs)
        description = loaded.spec.describe()
        if isinstance(inputs, pd.DataFrame):
            feeds = feeds_from_frame(inputs, loaded.spec, _frame_inputs(description, list(inputs.columns)))
        else:
            feeds = feeds_from_arrays(inputs, [port.name for port in description.inputs])
        return single_or_list(run_arrays(loaded.local_spec, loaded.transform, loaded.batch_size, feeds))

    def distributed_predict(
        self, data: dd.DataFrame | db.Bag | da.Array | Sequence[da.Array] | Mapping[str, da.Array], sc: Any = None
    ) -> DaskPrediction:
        """Predict lazily over a Dask collection (the Dask analogue of the RDD method).

        The task graph carries the model's [`spec`][dask_openvino.zoo.InferenceModel.spec] (location
        and fingerprint, never the weights); each worker process compiles the model once and reuses
        it. Workers must be able to read the model's files: converted models
        ([`load_onnx`][dask_openvino.zoo.InferenceModel.load_onnx] and friends) live in a temporary
        directory on this machine, so for workers on other hosts convert to shared storage first.

        Parameters
        ----------
        data : Dask DataFrame, Bag, Dask Array, or list / dict of Dask Arrays
            A Bag (Analytics Zoo's RDD) holds one input per element: an array, or a
            list of arrays, one per model input; each element gets its own
            prediction. A DataFrame is mapped to the inputs as by
            [`predict`][dask_openvino.zoo.InferenceModel.predict]. Arrays are scored block by block
            along their first dimension (other dimensions are merged into one chunk); several
            arrays, one per input, are aligned to the first one's row chunks. The ``[B, N, ...]``
            form works per block and per element.
        sc : object, optional
            Analytics Zoo's ``SparkContext`` argument; unused (Dask needs none).

        Returns
        -------
        dask.dataframe.DataFrame, dask.array.Array or list of dask.array.Array
            For a DataFrame: a DataFrame with the same partitions and index holding
            the outputs (one column ``prediction`` for a single-output model, else one
            column per output, as ``.ov.predict(..., keep_input=False)``). For arrays:
            one Dask Array per output (a single array for a single-output model). For
            a Bag: a Bag of what [`predict`][dask_openvino.zoo.InferenceModel.predict]
            returns for each element.

        Raises
        ------
        ModelLoadError
            If no model is loaded.
        InputSchemaError
            When the graph is built, if the data does not match the model's inputs.

        Examples
        --------
        >>> import dask.array as da
        >>> model = InferenceModel()
        >>> model.load_openvino("model.xml")  # doctest: +SKIP
        >>> lazy = model.distributed_predict(da.from_zarr("features.zarr"))  # doctest: +SKIP
        >>> lazy.to_zarr("scores.zarr")  # doctest: +SKIP
        """
        loaded = self._require_loaded()
        description = loaded.spec.describe()
        if isinstance(data, dd.DataFrame):
            scored: dd.DataFrame = data.ov.predict(
                loaded.spec,
                inputs=_frame_inputs(description, list(data.columns)),
                batch_size=loaded.batch_size,
                keep_input=False,
            )
            return scored
        if isinstance(data, db.Bag):
            job = array_job(loaded.spec, batch_size=loaded.batch_size)
            scored_bag: db.Bag = data.map(predict_element, job)  # type: ignore[no-untyped-call]
            return scored_bag
        if not is_dask_arrays(data):
            raise TypeError(
                "distributed_predict takes a Dask DataFrame, a Bag, a Dask Array, or a list / dict of Dask Arrays; "
                f"got "
                f"{type(data).__name__} (use predict() for data in memory)"
            )
        feeds = feeds_from_arrays(data, [port.name for port in description.inputs], what="data")
        return single_or_list(predict_dask_arrays(feeds, array_job(loaded.spec, batch_size=loaded.batch_size)))


def predict_element(element: ArrayInput, job: ArrayJob) -> Prediction:
    """Score one element of a Bag (an array or a list of arrays); the task each element runs.

    Parameters
    ----------
    element : numpy.ndarray, list of arrays or dict
        One input, as [`InferenceModel.predict`][dask_openvino.zoo.InferenceModel.predict] takes it.
    job : ArrayJob
        From [`array_job`][dask_openvino.arrays.array_job].

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray

    Examples
    --------
    >>> predict_element(np.zeros((4, 3), np.float32), job)  # doctest: +SKIP
    """
    feeds = feeds_from_arrays(element, [port.name for port in job.description.inputs], what="element")
    return single_or_list(run_arrays(job.spec, job.transform, job.batch_size, feeds))
