"""Analytics Zoo / BigDL Orca compatible API: ``InferenceModel`` and the OpenVINO ``Estimator``.

Code written for ``zoo.pipeline.inference.InferenceModel`` or
``bigdl.orca.learn.openvino.Estimator`` keeps its names and arguments; Spark
RDDs, DataFrames and XShards become Dask collections. Both classes are thin
front ends of the engine behind ``.ov.predict``
(:func:`dask_openvino.cache.get_engine`): one compiled model per process and
model, batched and asynchronous inference, the same column mapping.

Migration
---------

==========================================================  ============================================================
Analytics Zoo / BigDL Orca                                  dask-openvino
==========================================================  ============================================================
``from zoo.pipeline.inference import InferenceModel``       ``from dask_openvino import InferenceModel``
``InferenceModel(supported_concurrent_num=4)``              same (4 OpenVINO streams, see :class:`InferenceModel`)
``model.load_openvino(xml, bin, batch_size=4)``             same; ``weight_path`` may be left out
``model.load_tensorflow(path, "savedModel", ...)``          ``model.load_tensorflow(path, "savedModel")``; the TF
                                                            session thread options are gone
``model.load_torch(path)``                                  ``model.load_torch(path, example_input=x)``, or pass the
                                                            module itself
(none)                                                      ``model.load_onnx(path)``, ``model.load_paddle(path)``
``model.predict(x)``, ``x`` of ``[B, N, ...]``              same; any row count; ``[N, ...]`` also works
``model.predict([x1, x2])``                                 same, or ``model.predict({"in1": x1, "in2": x2})``
``model.distributed_predict(rdd, sc)``                      ``model.distributed_predict(ddf_or_dask_array)`` (lazy)
``from bigdl.orca.learn.openvino import Estimator``         ``from dask_openvino import Estimator``
``init_orca_context(cluster_mode="yarn")``                  ``distributed.Client(...)`` (or no client: local threads)
``Estimator.from_openvino(model_path=xml)``                 same
``est.predict(spark_df, feature_cols=["f"])``               ``est.predict(dask_df, feature_cols=["f"])``
``est.predict(xshards)``, shards ``{"x": array}``           ``est.predict(bag)``, a ``dask.bag`` of ``{"x": array}``
``est.predict(ndarray, batch_size=4)``                      same
(the whole facade)                                          ``ddf.ov.predict(xml, inputs=[...])``, the native API
==========================================================  ============================================================

Differences worth knowing:

- Analytics Zoo's ``load_openvino`` read the first dimension of ``predict``'s input
  as a count of batches (``[B, N, ...]`` in, ``[B, N, ...]`` out; BigDL#4418). That
  form is accepted when the input has exactly one more dimension than the model
  input; plain ``[N, ...]`` input gives ``[N, ...]`` output.
- ``Estimator.predict`` on a DataFrame names the new columns after the model's
  output tensors, as Orca does; tensor-valued rows are pyarrow fixed-size lists of
  the row's values flattened row-major (Orca: nested float arrays), and outputs keep
  their element type (Orca: float).
- ``fit``, ``evaluate``, ``save`` and the gradient-clipping methods of Orca's
  OpenVINO estimator only raised "not implemented"; they do not exist here.
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
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
from dask.delayed import delayed

from dask_openvino.cache import get_engine
from dask_openvino.convert import convert_model
from dask_openvino.engine import ModelTransform, batch_reshape
from dask_openvino.errors import ConversionError, InputSchemaError, MissingDependencyError, ModelLoadError
from dask_openvino.plan import InputsArg, feeds_from_frame
from dask_openvino.spec import ModelDescription, ModelSpec, PortInfo, resolve_model

__all__ = ["Estimator", "InferenceModel", "OpenvinoEstimator"]

ArrayInput = np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray]
"""What ``predict`` takes in memory: one array, arrays in input order, or ``{input name: array}``."""

Prediction = np.ndarray | list[np.ndarray]
"""One array for a single-output model, else one array per output, in output order."""

DaskPrediction = dd.DataFrame | da.Array | list[da.Array]
"""What ``distributed_predict`` returns."""


# --------------------------------------------------------------------------- shared inference path


def _check_batch_size(batch_size: object, *, zero_ok: bool) -> int | None:
    """Validate a batch size; returns None for "the model's own / the engine's default"."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 0:
        raise InputSchemaError(f"batch_size must be a non-negative integer, got {batch_size!r}")
    if batch_size == 0:
        if not zero_ok:
            raise InputSchemaError("batch_size must be a positive integer (or None for the default), got 0")
        return None
    return int(batch_size)


def _groups(ports: Sequence[PortInfo], arrays: Mapping[str, np.ndarray]) -> tuple[int, int] | None:
    """``(B, N)`` when every input comes as ``[B, N, ...]`` (one dim more than its port), else None."""
    ranked = [(port, arrays[port.name]) for port in ports if port.shape is not None and port.name in arrays]
    grouped = [port.name for port, array in ranked if array.ndim == len(port.shape or ()) + 1]
    if not grouped:
        return None
    if len(grouped) != len(ranked):
        flat = [port.name for port, _ in ranked if port.name not in grouped]
        raise InputSchemaError(
            f"inputs {grouped} come as [batches, rows, ...] (one dimension more than the model input) but "
            f"{flat} do not; give every input in the same form"
        )
    leads = {arrays[name].shape[:2] for name in grouped}
    if len(leads) != 1:
        raise InputSchemaError(
            f"inputs given as [batches, rows, ...] must agree on their first two dimensions, got "
            f"{ {name: list(arrays[name].shape[:2]) for name in grouped} }"
        )
    lead = leads.pop()
    return int(lead[0]), int(lead[1])


def _run(
    spec: ModelSpec, transform: ModelTransform | None, batch_size: int | None, feeds: Mapping[str, np.ndarray]
) -> list[np.ndarray]:
    """Run the process's engine for ``(spec, transform)``; outputs in output order.

    Accepts Analytics Zoo's ``[B, N, ...]`` form and gives its outputs the same two leading dims.
    """
    engine = get_engine(spec, transform)
    arrays = {name: np.asarray(value) for name, value in feeds.items()}
    groups = _groups(engine.description.inputs, arrays)
    if groups is not None:
        arrays = {name: array.reshape(-1, *array.shape[2:]) for name, array in arrays.items()}
    results = engine.run(arrays, batch_size=batch_size)
    outputs = [results[port.name] for port in engine.description.outputs]
    if groups is not None:
        outputs = [out.reshape(*groups, *out.shape[1:]) for out in outputs]
    return outputs


def _as_feeds(data: object, names: Sequence[str], *, what: str = "inputs") -> dict[str, np.ndarray]:
    """Key in-memory input by input name: one array, arrays in ``names`` order, or a dict."""
    if isinstance(data, Mapping):
        return {str(name): np.asarray(value) for name, value in data.items()}
    if isinstance(data, np.ndarray):
        if len(names) != 1:
            raise InputSchemaError(
                f"the model has {len(names)} inputs {list(names)}; pass a list of {len(names)} arrays in this "
                "order, or a dict {input name: array}"
            )
        return {names[0]: data}
    if isinstance(data, (list, tuple)) and all(isinstance(a, np.ndarray) for a in data):
        if len(data) != len(names):
            raise InputSchemaError(
                f"{what} holds {len(data)} arrays, but the model has {len(names)} inputs {list(names)}; give one "
                "array per input, in this order"
            )
        return dict(zip(names, data, strict=True))
    raise TypeError(
        f"{what} must be a numpy array, a list of arrays (one per model input, in order), a dict "
        f"{{input name: array}}, a pandas DataFrame or a Dask DataFrame / Array; got {type(data).__name__}"
    )


def _single_or_list(outputs: list[np.ndarray]) -> Prediction:
    return outputs[0] if len(outputs) == 1 else outputs


def _frame_inputs(description: ModelDescription, columns: Sequence[Any]) -> InputsArg:
    """Columns named like the inputs feed them; otherwise the columns feed the inputs in order."""
    names = [port.name for port in description.inputs]
    if all(name in columns for name in names):
        return None
    return [str(column) for column in columns]


def _run_blocks(
    spec: ModelSpec,
    transform: ModelTransform | None,
    batch_size: int | None,
    names: tuple[str, ...],
    dtypes: tuple[np.dtype[Any], ...],
    *blocks: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Score one row block of Dask Array inputs; the task each block runs."""
    outputs = _run(spec, transform, batch_size, dict(zip(names, blocks, strict=True)))
    return tuple(out.astype(dtype, copy=False) for out, dtype in zip(outputs, dtypes, strict=True))


def _predict_dask_arrays(
    spec: ModelSpec, transform: ModelTransform | None, batch_size: int | None, arrays: Mapping[str, da.Array]
) -> list[da.Array]:
    """Lazily score Dask Arrays, one task per block of rows; one Dask Array per model output."""
    description = spec.describe()
    names = tuple(port.name for port in description.inputs)
    if set(arrays) != set(names):
        raise InputSchemaError(f"model inputs are {list(names)}, got Dask Arrays for {sorted(arrays)}")
    first = arrays[names[0]]
    row_chunks = first.chunks[0]
    aligned = []
    for name in names:
        array = arrays[name]
        if array.shape[0] != first.shape[0] and not (np.isnan(array.shape[0]) or np.isnan(first.shape[0])):
            raise InputSchemaError(
                f"all inputs need the same number of rows: {name!r} has {array.shape[0]}, {names[0]!r} has "
                f"{first.shape[0]}"
            )
        if array.chunks[0] != row_chunks:
            array = array.rechunk({0: row_chunks})  # type: ignore[no-untyped-call]
        if any(len(chunks) > 1 for chunks in array.chunks[1:]):
            array = array.rechunk({axis: -1 for axis in range(1, array.ndim)})  # type: ignore[no-untyped-call]
        aligned.append(array)
    ports = {port.name: port for port in description.inputs}
    grouped = [
        array.ndim == len(rank_known) + 1
        for name, array in zip(names, aligned, strict=True)
        if (rank_known := ports[name].shape) is not None
    ]
    lead: tuple[float, ...] = (first.shape[1],) if grouped and all(grouped) else ()
    out_shapes: list[tuple[float, ...]] = []
    for port in description.outputs:
        if port.shape is None:
            raise InputSchemaError(
                f"output {port} has a dynamic rank, so its Dask Array cannot be described; score a Dask "
                "DataFrame instead"
            )
        out_shapes.append(tuple(np.nan if d is None else d for d in port.shape[1:]))
    dtypes = tuple(port.dtype for port in description.outputs)
    blocks = [array.to_delayed().ravel() for array in aligned]  # type: ignore[no-untyped-call]
    pieces: list[list[da.Array]] = [[] for _ in description.outputs]
    for k, rows in enumerate(row_chunks):
        scored = delayed(_run_blocks, nout=len(dtypes))(
            spec, transform, batch_size, names, dtypes, *(b[k] for b in blocks)
        )
        for i, (row_shape, dtype) in enumerate(zip(out_shapes, dtypes, strict=True)):
            piece = da.from_delayed(scored[i], shape=(rows, *lead, *row_shape), dtype=dtype)  # type: ignore[no-untyped-call]
            pieces[i].append(piece)
    return [da.concatenate(parts) for parts in pieces]  # type: ignore[no-untyped-call]


def _dask_arrays(data: object) -> Mapping[str, da.Array] | Sequence[da.Array] | None:
    """Return ``data`` as Dask Arrays (one, a list, or a dict), or None if it holds none."""
    if isinstance(data, da.Array):
        return [data]
    if isinstance(data, (list, tuple)) and data and all(isinstance(a, da.Array) for a in data):
        return list(data)
    if isinstance(data, Mapping) and data and all(isinstance(a, da.Array) for a in data.values()):
        return {str(k): v for k, v in data.items()}
    return None


def _key_by_name(arrays: Mapping[str, da.Array] | Sequence[da.Array], names: Sequence[str]) -> dict[str, da.Array]:
    if isinstance(arrays, Mapping):
        return dict(arrays)
    if len(arrays) != len(names):
        raise InputSchemaError(
            f"got {len(arrays)} Dask Arrays, but the model has {len(names)} inputs {list(names)}; give one per "
            "input, in this order"
        )
    return dict(zip(names, arrays, strict=True))


# --------------------------------------------------------------------------- InferenceModel


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
    :meth:`predict` from any number of threads. Predictions run through the same
    per-process engine as ``.ov.predict`` (:func:`dask_openvino.cache.get_engine`).

    Parameters
    ----------
    supported_concurrent_num : int, default 1
        How many callers are served at the same time. The model is compiled with
        this many OpenVINO streams (``NUM_STREAMS``; OpenVINO caps it at the core
        count): each stream runs one inference at a time on its share of the cores,
        so this many concurrent :meth:`predict` calls run in parallel and further
        callers wait for a free stream. A single caller with a large input keeps
        every stream busy, since the engine keeps one batch in flight per stream.
        Analytics Zoo kept this many copies of the model; OpenVINO streams share one
        copy of the weights. :meth:`distributed_predict` does not use it: each Dask
        worker sizes OpenVINO to its own threads.
    device : str, default "CPU"
        OpenVINO device.
    config : dict, optional
        OpenVINO compile properties, used locally and on the workers, over the
        defaults of :func:`~dask_openvino.engine.default_compile_config`, e.g.
        ``{"PERFORMANCE_HINT": "LATENCY"}``.

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
    ) -> None:
        if (
            isinstance(supported_concurrent_num, bool)
            or not isinstance(supported_concurrent_num, (int, np.integer))
            or supported_concurrent_num < 1
        ):
            raise ValueError(f"supported_concurrent_num must be a positive integer, got {supported_concurrent_num!r}")
        self.supported_concurrent_num = int(supported_concurrent_num)
        self.device = device
        self.config = dict(config or {})
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        loaded = self._loaded
        model = "no model loaded" if loaded is None else loaded.spec.xml
        return f"InferenceModel(supported_concurrent_num={self.supported_concurrent_num}, {model})"

    # ---- loading

    def _install(
        self,
        spec: ModelSpec,
        batch_size: int | None,
        workdir: _Workdir | None,
    ) -> None:
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
        size = _check_batch_size(batch_size, zero_ok=True)
        spec = ModelSpec.from_path(model_path, weights=weight_path, device=self.device, config=self.config)
        self._install(spec, size, None)

    def _load_converted(self, model: ov.Model) -> None:
        workdir = _Workdir()
        xml = workdir.path / "model.xml"
        ov.save_model(model, xml, compress_to_fp16=False)
        spec = ModelSpec.from_path(xml, device=self.device, config=self.config)
        self._install(spec, None, workdir)

    def load_onnx(self, model_path: str | os.PathLike[str], *, input_shape: Any = None) -> None:
        """Load an ONNX model, converted to OpenVINO in memory.

        The converted IR is saved in a temporary directory that this object owns
        and deletes when it is garbage collected or loads another model. It is on
        this machine's file system, which is all :meth:`distributed_predict` needs
        with a local cluster; for workers on other hosts, convert to shared storage
        first with :func:`dask_openvino.convert.convert` and :meth:`load_openvino`
        the result. Keep this object alive until lazy results are computed.

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
        is as for :meth:`load_onnx`.

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
        Storage of the converted IR is as for :meth:`load_onnx`.

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
        """The loaded model's :class:`~dask_openvino.ModelSpec`, e.g. for ``ddf.ov.predict(model.spec)``.

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
              to :meth:`distributed_predict`, which returns a lazy result.

            Any number of rows works: the engine cuts them into batches.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            One array with one row per input row (``[B, N, ...]`` for the
            ``[B, N, ...]`` form) for a single-output model, else one array per
            output in the model's output order (Analytics Zoo's contract). For Dask
            input, what :meth:`distributed_predict` returns.

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
        if isinstance(inputs, dd.DataFrame) or _dask_arrays(inputs) is not None:
            return self.distributed_predict(inputs)  # type: ignore[arg-type]
        description = loaded.spec.describe()
        if isinstance(inputs, pd.DataFrame):
            feeds = feeds_from_frame(inputs, loaded.spec, _frame_inputs(description, list(inputs.columns)))
        else:
            feeds = _as_feeds(inputs, [port.name for port in description.inputs])
        return _single_or_list(_run(loaded.local_spec, loaded.transform, loaded.batch_size, feeds))

    def distributed_predict(
        self, data: dd.DataFrame | da.Array | Sequence[da.Array] | Mapping[str, da.Array]
    ) -> DaskPrediction:
        """Predict lazily over a Dask collection (the Dask analogue of the RDD method).

        The task graph carries the model's :attr:`spec` (location and fingerprint,
        never the weights); each worker process compiles the model once and reuses
        it. Workers must be able to read the model's files: converted models
        (:meth:`load_onnx` and friends) live in a temporary directory on this
        machine, so for workers on other hosts convert to shared storage first.

        Parameters
        ----------
        data : Dask DataFrame, Dask Array, or list / dict of Dask Arrays
            A DataFrame is mapped to the inputs as by :meth:`predict`. Arrays are
            scored block by block along their first dimension (other dimensions
            are merged into one chunk); several arrays, one per input, are aligned
            to the first one's row chunks. The ``[B, N, ...]`` form works per block.

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
        arrays = _dask_arrays(data)
        if arrays is None:
            raise TypeError(
                f"distributed_predict takes a Dask DataFrame, a Dask Array, or a list / dict of Dask Arrays; got "
                f"{type(data).__name__} (use predict() for data in memory)"
            )
        feeds = _key_by_name(arrays, [port.name for port in description.inputs])
        outputs = _predict_dask_arrays(loaded.spec, loaded.transform, loaded.batch_size, feeds)
        return outputs[0] if len(outputs) == 1 else outputs


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


# --------------------------------------------------------------------------- Orca Estimator


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


def _predict_shard(
    shard: Mapping[str, Any],
    spec: ModelSpec,
    transform: ModelTransform | None,
    batch_size: int | None,
    order: list[str],
) -> dict[str, Any]:
    """Score one ``{"x": array or list of arrays}`` shard into ``{"prediction": ...}``; the task each shard runs."""
    if not isinstance(shard, Mapping) or "x" not in shard:
        raise InputSchemaError(
            f"each shard must be a dict with key 'x' (an array or a list of arrays), got {type(shard).__name__}"
            + (f" with keys {sorted(map(str, shard))}" if isinstance(shard, Mapping) else "")
        )
    feeds = _as_feeds(shard["x"], order, what="shard['x']")
    return {"prediction": _single_or_list(_run(spec, transform, batch_size, feeds))}


class OpenvinoEstimator:
    """Orca's OpenVINO estimator on Dask: prediction only. Create it with :meth:`Estimator.from_openvino`.

    Parameters
    ----------
    model_path : str or os.PathLike
        Path or fsspec URI of the IR ``.xml`` (its ``.bin`` beside it).
    batch_size : int, default 0
        Rows per inference when :meth:`predict` is called with ``batch_size=None``;
        ``0`` keeps the model's own batch or the engine's default.

    Examples
    --------
    >>> est = Estimator.from_openvino(model_path="model.xml")  # doctest: +SKIP
    >>> est.predict(ddf, feature_cols=["f0", "f1", "f2"])  # doctest: +SKIP
    """

    def __init__(self, *, model_path: str | os.PathLike[str], batch_size: int = 0) -> None:
        self.spec = ModelSpec.from_path(model_path)
        self.batch_size = _check_batch_size(batch_size, zero_ok=True)

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
            uses the batch size given to :meth:`Estimator.from_openvino`.
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
        size = self.batch_size if batch_size is None else _check_batch_size(batch_size, zero_ok=False)
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
        transform = batch_reshape(description, size)
        if isinstance(data, db.Bag):
            return data.map(_predict_shard, spec, transform, size, order)  # type: ignore[no-untyped-call]
        if isinstance(data, Mapping):
            return _predict_shard(data, spec, transform, size, order)
        arrays = _dask_arrays(data)
        if arrays is not None:
            outputs = _predict_dask_arrays(spec, transform, size, _key_by_name(arrays, order))
            return outputs[0] if len(outputs) == 1 else outputs
        return _single_or_list(_run(spec, transform, size, _as_feeds(data, order, what="data")))


class Estimator:
    """Factory of estimators, as ``bigdl.orca.learn.openvino.Estimator``.

    Examples
    --------
    >>> from dask_openvino import Estimator
    >>> est = Estimator.from_openvino(model_path="model.xml")  # doctest: +SKIP
    """

    @staticmethod
    def from_openvino(*, model_path: str | os.PathLike[str], batch_size: int = 0) -> OpenvinoEstimator:
        """Load an OpenVINO IR as an estimator.

        Parameters
        ----------
        model_path : str or os.PathLike
            Path or fsspec URI of the IR ``.xml`` (its ``.bin`` beside it). Dask
            workers on other hosts need a path they can read.
        batch_size : int, default 0
            Rows per inference when ``predict`` is given ``batch_size=None``;
            ``0`` keeps the model's own batch or the engine's default.

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
        return OpenvinoEstimator(model_path=model_path, batch_size=batch_size)
