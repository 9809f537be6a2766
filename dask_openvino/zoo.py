"""Analytics Zoo's ``InferenceModel`` on Dask and OpenVINO.

Code written for ``zoo.pipeline.inference.InferenceModel`` or
``bigdl.orca.learn.openvino.Estimator`` keeps its names and arguments; Spark RDDs,
DataFrames and XShards become Dask collections: Dask DataFrames go through
``.ov.predict``, Dask Arrays and shards through one task per block on the workers'
engines ([`dask_openvino.arrays`][dask_openvino.arrays]). The Orca estimator lives in
[`dask_openvino.estimator`][dask_openvino.estimator]; ``docs/migration.md`` maps every call.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import dask.dataframe as dd
import openvino as ov
import pandas as pd

from dask_openvino.arrays import (
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
from dask_openvino.errors import ConversionError, InputSchemaError, MissingDependencyError, ModelLoadError
from dask_openvino.estimator import Estimator, OpenvinoEstimator
from dask_openvino.feeds import ArrayInput, feeds_from_arrays
from dask_openvino.partition import feeds_from_frame
from dask_openvino.plan import InputsArg
from dask_openvino.policy import requested_precision
from dask_openvino.spec import ModelDescription, ModelSpec
from dask_openvino.transforms import ModelTransform, batch_reshape

__all__ = ["Estimator", "InferenceModel", "OpenvinoEstimator"]

DaskPrediction = dd.DataFrame | da.Array | list[da.Array]
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


class InferenceModel:
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
    device : str, default "CPU"
        OpenVINO device.
    config : dict, optional
        OpenVINO compile properties, used locally and on the workers, over the
        defaults of [`default_compile_config`][dask_openvino.policy.default_compile_config], e.g.
        ``{"PERFORMANCE_HINT": "LATENCY"}``.
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
        *,
        device: str = "CPU",
        config: Mapping[str, Any] | None = None,
        precision: str = "f32",
    ) -> None:
        self.supported_concurrent_num = positive_int(supported_concurrent_num, "supported_concurrent_num")
        self.device = device
        self.config = dict(config or {})
        self.precision = requested_precision(precision)
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

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

    def _load_converted(self, model: ov.Model) -> None:
        workdir = _Workdir()
        xml = workdir.path / "model.xml"
        ov.save_model(model, xml, compress_to_fp16=False)
        spec = ModelSpec.from_path(xml, device=self.device, config=self.config, precision=self.precision)
        self._install(spec, None, workdir)

    def load_onnx(self, model_path: str | os.PathLike[str], *, input_shape: Any = None) -> None:
        """Load an ONNX model, converted to OpenVINO in memory.

        The converted IR is saved in a temporary directory that this object owns
        and deletes when it is garbage collected or loads another model. It is on
        this machine's file system, which is all
        [`distributed_predict`][dask_openvino.zoo.InferenceModel.distributed_predict]
        needs with a local cluster; for workers on other hosts, convert to shared
        storage first with [`convert`][dask_openvino.convert.convert] and
        [`load_openvino`][dask_openvino.zoo.InferenceModel.load_openvino] the result.
        Keep this object alive until lazy results are computed.

        Parameters
        ----------
        model_path : str or os.PathLike
            The ``.onnx`` file.
        input_shape : shape or dict of str to shape, optional
            New input shape(s); ``None`` or ``-1`` marks a dynamic dimension.

        Raises
        ------
        ConversionError
            If OpenVINO cannot convert the file; the converter's message is included.

        Examples
        --------
        >>> model = InferenceModel()
        >>> model.load_onnx("model.onnx")  # doctest: +SKIP
        """
        self._load_converted(convert_model(model_path, input_shape=input_shape))

    def load_tensorflow(
        self,
        model_path: str | os.PathLike[str],
        model_type: str | None = None,
        *,
        input_shape: Any = None,
    ) -> None:
        """Load a TensorFlow model, converted to OpenVINO in memory.

        OpenVINO reads SavedModel directories, frozen ``.pb`` graphs and ``.tflite``
        files itself. Analytics Zoo's TensorFlow session options
        (``intra_op_parallelism_threads``, ``inter_op_parallelism_threads``,
        ``use_per_session_threads``) have no counterpart: threads are OpenVINO's
        (``supported_concurrent_num`` and ``config``). Storage of the converted IR
        is as for [`load_onnx`][dask_openvino.zoo.InferenceModel.load_onnx].

        Parameters
        ----------
        model_path : str or os.PathLike
            A SavedModel directory, or a ``.pb`` / ``.tflite`` file.
        model_type : {"savedModel", "frozenModel"}, optional
            Analytics Zoo's model type; when given, it is checked against
            ``model_path`` (a directory for ``"savedModel"``, a file for ``"frozenModel"``).
        input_shape : shape or dict of str to shape, optional
            New input shape(s), e.g. to fix a dynamic batch or image size.

        Raises
        ------
        ConversionError
            If OpenVINO cannot convert the model.
        ValueError
            If ``model_type`` is unknown or does not match ``model_path``.

        Examples
        --------
        >>> model = InferenceModel()
        >>> model.load_tensorflow("saved_model/", "savedModel")  # doctest: +SKIP
        """
        if model_type is not None:
            expected = {"savedModel": os.path.isdir, "frozenModel": os.path.isfile}
            if model_type not in expected:
                raise ValueError(f"model_type must be 'savedModel' or 'frozenModel', got {model_type!r}")
            if not expected[model_type](model_path):
                kind = "a SavedModel directory" if model_type == "savedModel" else "a frozen graph (.pb) file"
                raise ValueError(f"model_type={model_type!r} needs {kind}, but {os.fspath(model_path)!r} is not one")
        self._load_converted(convert_model(model_path, input_shape=input_shape))

    def load_torch(
        self,
        model: Any,
        example_input: Any = None,
        *,
        input_shape: Any = None,
    ) -> None:
        """Load a PyTorch model, converted to OpenVINO in memory.

        Parameters
        ----------
        model : torch.nn.Module, str or os.PathLike
            A module (traced with ``example_input``), or, as in Analytics Zoo, the
            path of a module saved with ``torch.save(model, path)``. The file is
            unpickled (``torch.load(path, weights_only=False)``), which runs code
            stored in it: load only files you trust.
        example_input : torch.Tensor, tuple or dict, optional
            One batch of input, needed to trace a module.
        input_shape : shape or dict of str to shape, optional
            New input shape(s) of the converted model.

        Raises
        ------
        MissingDependencyError
            If ``model`` is a path and ``torch`` is not installed.
        ConversionError
            If the file does not hold a module, or OpenVINO cannot convert the model.

        Examples
        --------
        >>> import torch
        >>> model = InferenceModel()
        >>> model.load_torch(torch.nn.Linear(3, 2), example_input=torch.zeros(1, 3))  # doctest: +SKIP
        """
        if isinstance(model, (str, os.PathLike)):
            model = _load_torch_file(model)
        self._load_converted(convert_model(model, example_input=example_input, input_shape=input_shape))

    def load_paddle(self, model_path: str | os.PathLike[str], *, input_shape: Any = None) -> None:
        """Load a PaddlePaddle model (``.pdmodel``), converted to OpenVINO in memory.

        OpenVINO reads the file itself; the ``paddlepaddle`` package is not needed.
        Storage of the converted IR is as for [`load_onnx`][dask_openvino.zoo.InferenceModel.load_onnx].

        Parameters
        ----------
        model_path : str or os.PathLike
            The ``.pdmodel`` file (its ``.pdiparams`` beside it).
        input_shape : shape or dict of str to shape, optional
            New input shape(s).

        Raises
        ------
        ConversionError
            If OpenVINO cannot convert the model.

        Examples
        --------
        >>> model = InferenceModel()
        >>> model.load_paddle("inference.pdmodel")  # doctest: +SKIP
        """
        self._load_converted(convert_model(model_path, input_shape=input_shape))

    # ---- inference

    def _require_loaded(self) -> _Loaded:
        with self._lock:
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
            - a Dask DataFrame or Dask Array (or a list / dict of Dask Arrays): handed
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
        loaded = self._require_loaded()
        if isinstance(inputs, dd.DataFrame) or is_dask_arrays(inputs):
            return self.distributed_predict(inputs)  # type: ignore[arg-type]
        description = loaded.spec.describe()
        if isinstance(inputs, pd.DataFrame):
            feeds = feeds_from_frame(inputs, loaded.spec, _frame_inputs(description, list(inputs.columns)))
        else:
            feeds = feeds_from_arrays(inputs, [port.name for port in description.inputs])
        return single_or_list(run_arrays(loaded.local_spec, loaded.transform, loaded.batch_size, feeds))

    def distributed_predict(
        self, data: dd.DataFrame | da.Array | Sequence[da.Array] | Mapping[str, da.Array]
    ) -> DaskPrediction:
        """Predict lazily over a Dask collection (the Dask analogue of the RDD method).

        The task graph carries the model's [`spec`][dask_openvino.zoo.InferenceModel.spec] (location
        and fingerprint, never the weights); each worker process compiles the model once and reuses
        it. Workers must be able to read the model's files: converted models
        ([`load_onnx`][dask_openvino.zoo.InferenceModel.load_onnx] and friends) live in a temporary
        directory on this machine, so for workers on other hosts convert to shared storage first.

        Parameters
        ----------
        data : Dask DataFrame, Dask Array, or list / dict of Dask Arrays
            A DataFrame is mapped to the inputs as by
            [`predict`][dask_openvino.zoo.InferenceModel.predict]. Arrays are scored block by block
            along their first dimension (other dimensions are merged into one chunk); several
            arrays, one per input, are aligned to the first one's row chunks. The ``[B, N, ...]``
            form works per block.

        Returns
        -------
        dask.dataframe.DataFrame, dask.array.Array or list of dask.array.Array
            For a DataFrame: a DataFrame with the same partitions and index holding
            the outputs (one column ``prediction`` for a single-output model, else one
            column per output, as ``.ov.predict(..., keep_input=False)``). For arrays:
            one Dask Array per output (a single array for a single-output model).

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
        if not is_dask_arrays(data):
            raise TypeError(
                f"distributed_predict takes a Dask DataFrame, a Dask Array, or a list / dict of Dask Arrays; got "
                f"{type(data).__name__} (use predict() for data in memory)"
            )
        feeds = feeds_from_arrays(data, [port.name for port in description.inputs], what="data")
        return single_or_list(predict_dask_arrays(feeds, array_job(loaded.spec, batch_size=loaded.batch_size)))


def _load_torch_file(path: str | os.PathLike[str]) -> Any:
    """Unpickle a module saved with ``torch.save(model, path)``, as Analytics Zoo's ``load_torch`` did."""
    try:
        import torch
    except ImportError as err:
        raise MissingDependencyError(
            f"loading the PyTorch model {os.fspath(path)!r} needs the torch package: pip install torch"
        ) from err
    try:
        module = torch.load(os.fspath(path), map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as err:
        raise ConversionError(f"cannot load the PyTorch model {os.fspath(path)!r}: {err}") from err
    if not isinstance(module, torch.nn.Module):
        raise ConversionError(
            f"{os.fspath(path)!r} holds a {type(module).__name__}, not a torch.nn.Module (a state_dict needs its "
            "module: build it, call load_state_dict, and pass the module to load_torch)"
        )
    return module
