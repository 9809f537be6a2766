"""Arrays through the model: at once in memory, and lazily as Dask Arrays or shards.

The Analytics Zoo facade ([`InferenceModel`][dask_openvino.InferenceModel],
[`Estimator`][dask_openvino.Estimator]) scores arrays as well as DataFrames:

- arrays in memory run at once on this process's engine
  ([`run_arrays`][dask_openvino.arrays.run_arrays], through
  [`Engine.run`][dask_openvino.engine.Engine.run]);
- each row block of a Dask Array, and each shard of a ``dask.bag``, is one task that
  runs the same function on the worker's cached engine
  ([`predict_dask_arrays`][dask_openvino.arrays.predict_dask_arrays],
  [`shard_prediction`][dask_openvino.arrays.shard_prediction]); only the
  [`ArrayJob`][dask_openvino.arrays.ArrayJob] (model location, fingerprint, reshape)
  travels in the task graph. Arrays have no columns, so they skip the column
  conversion and assembly of [`predict_partition`][dask_openvino.partition.predict_partition]
  and go straight to the engine it uses.

Both accept Analytics Zoo's ``[B, N, ...]`` form: when every input has exactly one
dimension more than the model input, the first two dimensions are ``B`` batches of
``N`` rows, and the outputs get the same two leading dimensions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import dask.array as da
import numpy as np

from dask_openvino.cache import get_engine
from dask_openvino.errors import InputSchemaError
from dask_openvino.feeds import feeds_from_arrays
from dask_openvino.spec import ModelDescription, ModelSpec, PortInfo
from dask_openvino.transforms import ModelTransform, batch_reshape

__all__ = [
    "ArrayJob",
    "Prediction",
    "array_job",
    "is_dask_arrays",
    "predict_dask_arrays",
    "run_arrays",
    "shard_prediction",
    "single_or_list",
]

Prediction = np.ndarray | list[np.ndarray]
"""One array for a single-output model, else one array per output, in output order."""

_Groups = tuple[int, int] | None
"""``(B, N)`` of the ``[B, N, ...]`` form, or None for plain ``[N, ...]`` rows."""


@overload
def single_or_list(outputs: list[np.ndarray]) -> np.ndarray | list[np.ndarray]: ...


@overload
def single_or_list(outputs: list[da.Array]) -> da.Array | list[da.Array]: ...


def single_or_list(outputs: list[Any]) -> Any:
    """Return the only output as it is, or all outputs as a list (Analytics Zoo's contract).

    Parameters
    ----------
    outputs : list of numpy.ndarray or list of dask.array.Array
        One array per model output, in output order.

    Returns
    -------
    array or list of arrays

    Examples
    --------
    >>> single_or_list([np.zeros(2)])
    array([0., 0.])
    """
    return outputs[0] if len(outputs) == 1 else outputs


def _groups(ports: Sequence[PortInfo], arrays: Mapping[str, np.ndarray]) -> _Groups:
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


def _ungroup(ports: Sequence[PortInfo], feeds: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], _Groups]:
    """Return the feeds as plain ``[rows, ...]`` arrays, and the ``(B, N)`` to give the outputs back."""
    arrays = {name: np.asarray(value) for name, value in feeds.items()}
    groups = _groups(ports, arrays)
    if groups is not None:
        arrays = {name: array.reshape(-1, *array.shape[2:]) for name, array in arrays.items()}
    return arrays, groups


def _regroup(outputs: list[np.ndarray], groups: _Groups) -> list[np.ndarray]:
    if groups is None:
        return outputs
    return [out.reshape(*groups, *out.shape[1:]) for out in outputs]


def run_arrays(
    spec: ModelSpec, transform: ModelTransform | None, batch_size: int | None, feeds: Mapping[str, Any]
) -> list[np.ndarray]:
    """Score arrays in memory on this process's engine for ``(spec, transform)``.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    transform : ModelTransform or None
        Edits applied before compiling (a batch reshape).
    batch_size : int or None
        Rows per inference; None for the engine's default.
    feeds : mapping of str to array
        ``{input name: array}``, ``[N, ...]`` or all ``[B, N, ...]``.

    Returns
    -------
    list of numpy.ndarray
        One array per output, in output order, with the inputs' leading dimensions.

    Raises
    ------
    InputSchemaError
        If the arrays do not fit the model's inputs.
    InferenceError
        If OpenVINO fails on a batch.

    Examples
    --------
    >>> run_arrays(ModelSpec.from_path("model.xml"), None, 64, {"x": features})  # doctest: +SKIP
    """
    engine = get_engine(spec, transform)
    arrays, groups = _ungroup(engine.description.inputs, feeds)
    results = engine.run(arrays, batch_size=batch_size)
    return _regroup([results[port.name] for port in engine.description.outputs], groups)


@dataclass(frozen=True)
class ArrayJob:
    """What a Dask Array block or a shard needs to be scored; travels in the task graph.

    Attributes
    ----------
    spec : ModelSpec
        The model (location and fingerprint, never weights).
    transform : ModelTransform or None
        A batch reshape, when the model's static batch differs from ``batch_size``.
    batch_size : int or None
        Rows per inference; None for the engine's default.
    description : ModelDescription
        The model's ports once ``transform`` is applied.
    """

    spec: ModelSpec
    transform: ModelTransform | None
    batch_size: int | None
    description: ModelDescription


def array_job(spec: ModelSpec, *, batch_size: int | None) -> ArrayJob:
    """Describe the scoring of arrays with ``spec``, reading only the IR (nothing is compiled).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    batch_size : int or None
        Rows per inference; a model with another static batch is reshaped.

    Returns
    -------
    ArrayJob

    Examples
    --------
    >>> job = array_job(ModelSpec.from_path("model.xml"), batch_size=64)  # doctest: +SKIP
    """
    description = spec.describe()
    reshape = batch_reshape(description, batch_size)
    if reshape is not None:
        description = reshape.describe(description)
    return ArrayJob(spec=spec, transform=reshape, batch_size=batch_size, description=description)


def shard_prediction(shard: Mapping[str, Any], job: ArrayJob, order: Sequence[str]) -> Prediction:
    """Score one Orca shard ``{"x": array or list of arrays}`` and return its prediction.

    The function each shard of a ``dask.bag`` runs (wrapped by each estimator into the
    shard form its upstream returned); a shard in memory runs it too.

    Parameters
    ----------
    shard : dict
        ``{"x": array}`` for a single-input model, ``{"x": [arrays in order]}`` otherwise;
        other keys are ignored.
    job : ArrayJob
        From [`array_job`][dask_openvino.arrays.array_job].
    order : sequence of str
        The model's input names in the order ``shard["x"]`` lists its arrays.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        One array, or one per output for a multi-output model.

    Raises
    ------
    InputSchemaError
        If the shard has no ``"x"`` or its arrays do not fit the model's inputs.

    Examples
    --------
    >>> shard_prediction({"x": features}, job, ["x"])  # doctest: +SKIP
    """
    if not isinstance(shard, Mapping) or "x" not in shard:
        raise InputSchemaError(
            f"each shard must be a dict with key 'x' (an array or a list of arrays), got {type(shard).__name__}"
            + (f" with keys {sorted(map(str, shard))}" if isinstance(shard, Mapping) else "")
        )
    feeds = feeds_from_arrays(shard["x"], order, what="shard['x']")
    return single_or_list(run_arrays(job.spec, job.transform, job.batch_size, feeds))


def is_dask_arrays(data: object) -> bool:
    """Whether ``data`` is a Dask Array, or a non-empty list / dict of them.

    Examples
    --------
    >>> is_dask_arrays([da.zeros((4, 3))]), is_dask_arrays(np.zeros((4, 3)))
    (True, False)
    """
    if isinstance(data, da.Array):
        return True
    if isinstance(data, (list, tuple)):
        return bool(data) and all(isinstance(a, da.Array) for a in data)
    if isinstance(data, Mapping):
        return bool(data) and all(isinstance(a, da.Array) for a in data.values())
    return False


def _score_block(job: ArrayJob, *blocks: np.ndarray) -> tuple[np.ndarray, ...]:
    """Score one row block of every input; the task each block runs."""
    names = [port.name for port in job.description.inputs]
    return tuple(run_arrays(job.spec, job.transform, job.batch_size, dict(zip(names, blocks, strict=True))))


def _pick(outputs: tuple[np.ndarray, ...], k: int) -> np.ndarray:
    return outputs[k]


def predict_dask_arrays(arrays: Mapping[str, da.Array], job: ArrayJob) -> list[da.Array]:
    """Lazily score Dask Arrays, one task per block of rows.

    Parameters
    ----------
    arrays : mapping of str to dask.array.Array
        ``{input name: array}``. Rows are the first dimension; other dimensions are
        merged into one chunk, and every input is aligned to the first one's row chunks.
    job : ArrayJob
        From [`array_job`][dask_openvino.arrays.array_job].

    Returns
    -------
    list of dask.array.Array
        One per model output, in output order, chunked by rows like the inputs.

    Raises
    ------
    InputSchemaError
        If the inputs' row counts differ.

    Examples
    --------
    >>> spec = ModelSpec.from_path("model.xml")  # doctest: +SKIP
    >>> job = array_job(spec, batch_size=64)  # doctest: +SKIP
    >>> (scores,) = predict_dask_arrays({"x": da.from_zarr("x.zarr")}, job)  # doctest: +SKIP
    """
    ports = list(job.description.inputs)
    names = [port.name for port in ports]
    first = arrays[names[0]]
    row_chunks = first.chunks[0]
    aligned: list[da.Array] = []
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
    grouped = [
        array.ndim == len(shape) + 1
        for port, array in zip(ports, aligned, strict=True)
        if (shape := port.shape) is not None
    ]
    lead: tuple[float, ...] = (first.shape[1],) if grouped and all(grouped) else ()
    # Each block's task returns every output at once; one light task per output picks its own.
    blocks: list[Any] = []
    for j, array in enumerate(aligned):
        blocks += [array, ("rows", *(f"in{j}.{axis}" for axis in range(1, array.ndim)))]
    scored = da.blockwise(  # type: ignore[no-untyped-call]
        _score_block,
        ("rows",),
        job,
        None,
        *blocks,
        concatenate=True,
        meta=np.empty((0,), dtype=object),
        token=f"predict-{job.spec.name}",
    )
    outputs = []
    for k, port in enumerate(job.description.outputs):
        extra = (*lead, *(np.nan if d is None else d for d in (port.shape or ())[1:]))
        outputs.append(
            scored.map_blocks(
                _pick,
                k,
                chunks=(row_chunks, *((d,) for d in extra)),
                new_axis=list(range(1, 1 + len(extra))) or None,
                dtype=port.dtype,
                meta=np.empty((0,) * (1 + len(extra)), dtype=port.dtype),
                token=f"predict-{job.spec.name}-{port.name}",
            )
        )
    return outputs
