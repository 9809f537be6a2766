"""Arrays through the model: at once in memory, and lazily as Dask Arrays or shards.

The Analytics Zoo facade ([`InferenceModel`][dask_openvino.InferenceModel],
[`Estimator`][dask_openvino.Estimator]) scores arrays as well as DataFrames:

- arrays in memory run at once on this process's engine
  ([`run_arrays`][dask_openvino.arrays.run_arrays], through
  [`Engine.run`][dask_openvino.engine.Engine.run]);
- each row block of a Dask Array, and each shard of a ``dask.bag``, becomes a pandas
  partition with one column per model input (a pyarrow fixed-size list column that
  shares the array's memory) and takes the path every ``.ov.predict`` partition
  takes, [`predict_partition`][dask_openvino.partition.predict_partition]
  ([`score_arrays`][dask_openvino.arrays.score_arrays]); the output columns are read
  back as arrays.

Both accept Analytics Zoo's ``[B, N, ...]`` form: when every input has exactly one
dimension more than the model input, the first two dimensions are ``B`` batches of
``N`` rows, and the outputs get the same two leading dimensions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, overload

import dask.array as da
import numpy as np
import pandas as pd

from dask_openvino.cache import get_engine
from dask_openvino.columns import array_to_series, column_to_array, output_dtype
from dask_openvino.errors import InputSchemaError
from dask_openvino.feeds import feeds_from_arrays
from dask_openvino.partition import predict_partition
from dask_openvino.plan import PredictionPlan, build_plan
from dask_openvino.spec import ModelSpec, PortInfo
from dask_openvino.transforms import ModelTransform

__all__ = [
    "Prediction",
    "array_plan",
    "is_dask_arrays",
    "predict_dask_arrays",
    "predict_shard",
    "run_arrays",
    "score_arrays",
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


def _check_carried(port: PortInfo, kind: str) -> None:
    """Refuse a port whose rows a flat list column cannot carry with their shape."""
    if port.shape is None or (len(port.shape) > 2 and sum(d is None for d in port.shape[1:]) > 1):
        raise InputSchemaError(
            f"model {kind} {port} has a dynamic rank or more than one dynamic dimension besides the batch, so its "
            "Dask Array or shard cannot be described; score the arrays in memory with predict(), or a Dask DataFrame"
        )


def array_plan(spec: ModelSpec, *, batch_size: int | None) -> PredictionPlan:
    """Plan the scoring of arrays as partitions: one column per model input, one per output, both named after them.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    batch_size : int or None
        Rows per inference; a model with another static batch is reshaped.

    Returns
    -------
    PredictionPlan
        For [`score_arrays`][dask_openvino.arrays.score_arrays].

    Raises
    ------
    InputSchemaError
        If an input or output has a dynamic rank, or several dynamic dimensions
        besides the batch (its rows' shape would be lost in a column).

    Examples
    --------
    >>> plan = array_plan(ModelSpec.from_path("model.xml"), batch_size=64)  # doctest: +SKIP
    """
    description = spec.describe()
    for port in description.inputs:
        _check_carried(port, "input")
    for port in description.outputs:
        _check_carried(port, "output")
    meta = pd.DataFrame({port.name: pd.Series(dtype=output_dtype(port)) for port in description.inputs})
    return build_plan(
        spec,
        meta,
        batch_size=batch_size,
        keep_input=False,
        output_names=[port.name for port in description.outputs],
    )


def score_arrays(feeds: Mapping[str, Any], plan: PredictionPlan) -> list[np.ndarray]:
    """Score arrays as one partition, through [`predict_partition`][dask_openvino.partition.predict_partition].

    Parameters
    ----------
    feeds : mapping of str to array
        ``{input name: array}``, ``[N, ...]`` or all ``[B, N, ...]``.
    plan : PredictionPlan
        From [`array_plan`][dask_openvino.arrays.array_plan].

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
    >>> spec = ModelSpec.from_path("model.xml")  # doctest: +SKIP
    >>> score_arrays({"x": features}, array_plan(spec, batch_size=64))  # doctest: +SKIP
    """
    arrays, groups = _ungroup([binding.port for binding in plan.inputs], feeds)
    engine = get_engine(plan.spec, plan.transform)
    # The engine checks shapes as for arrays in memory: a column only checks values per row.
    checked, n_rows = engine.check_feeds(arrays)
    by_name = dict(zip([port.name for port in engine.description.inputs], checked, strict=True))
    index = pd.RangeIndex(n_rows)
    columns = {}
    for binding in plan.inputs:
        name = binding.columns[0]
        columns[name] = array_to_series(by_name[binding.port.name], index, name, output_dtype(binding.port))
    scored = predict_partition(pd.DataFrame(columns, index=index, copy=False), plan)
    outputs = [column_to_array(scored[out.column], port=out.port, column=out.column) for out in plan.outputs]
    return _regroup(outputs, groups)


def predict_shard(shard: Mapping[str, Any], plan: PredictionPlan, order: Sequence[str]) -> dict[str, Prediction]:
    """Score one Orca shard ``{"x": array or list of arrays}`` into ``{"prediction": ...}``.

    The function each shard of a ``dask.bag`` runs; a shard in memory runs it too.

    Parameters
    ----------
    shard : dict
        ``{"x": array}`` for a single-input model, ``{"x": [arrays in order]}`` otherwise.
    plan : PredictionPlan
        From [`array_plan`][dask_openvino.arrays.array_plan].
    order : sequence of str
        The model's input names in the order ``shard["x"]`` lists its arrays.

    Returns
    -------
    dict
        ``{"prediction": array}``, or a list of arrays for a multi-output model.

    Raises
    ------
    InputSchemaError
        If the shard has no ``"x"`` or its arrays do not fit the model's inputs.

    Examples
    --------
    >>> predict_shard({"x": features}, plan, ["x"])["prediction"]  # doctest: +SKIP
    """
    if not isinstance(shard, Mapping) or "x" not in shard:
        raise InputSchemaError(
            f"each shard must be a dict with key 'x' (an array or a list of arrays), got {type(shard).__name__}"
            + (f" with keys {sorted(map(str, shard))}" if isinstance(shard, Mapping) else "")
        )
    feeds = feeds_from_arrays(shard["x"], order, what="shard['x']")
    return {"prediction": single_or_list(score_arrays(feeds, plan))}


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


def _score_block(plan: PredictionPlan, *blocks: np.ndarray) -> tuple[np.ndarray, ...]:
    """Score one row block of every input; the task each block runs."""
    names = [binding.port.name for binding in plan.inputs]
    return tuple(score_arrays(dict(zip(names, blocks, strict=True)), plan))


def _pick(outputs: tuple[np.ndarray, ...], k: int) -> np.ndarray:
    return outputs[k]


def predict_dask_arrays(arrays: Mapping[str, da.Array], plan: PredictionPlan) -> list[da.Array]:
    """Lazily score Dask Arrays, one task per block of rows.

    Parameters
    ----------
    arrays : mapping of str to dask.array.Array
        ``{input name: array}``. Rows are the first dimension; other dimensions are
        merged into one chunk, and every input is aligned to the first one's row chunks.
    plan : PredictionPlan
        From [`array_plan`][dask_openvino.arrays.array_plan].

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
    >>> plan = array_plan(spec, batch_size=64)  # doctest: +SKIP
    >>> (scores,) = predict_dask_arrays({"x": da.from_zarr("x.zarr")}, plan)  # doctest: +SKIP
    """
    ports = [binding.port for binding in plan.inputs]
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
        plan,
        None,
        *blocks,
        concatenate=True,
        meta=np.empty((0,), dtype=object),
        token="ov-predict",
    )
    outputs = []
    for k, out in enumerate(plan.outputs):
        extra = (*lead, *(np.nan if d is None else d for d in (out.port.shape or ())[1:]))
        outputs.append(
            scored.map_blocks(
                _pick,
                k,
                chunks=(row_chunks, *((d,) for d in extra)),
                new_axis=list(range(1, 1 + len(extra))) or None,
                dtype=out.port.dtype,
                meta=np.empty((0,) * (1 + len(extra)), dtype=out.port.dtype),
                token=f"ov-predict-{out.column}",
            )
        )
    return outputs
