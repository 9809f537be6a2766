"""A partition's trip through a worker: the one path every ``.ov.predict`` partition takes.

[`predict_partition`][dask_openvino.partition.predict_partition] is the pure,
module-level function that ``map_partitions`` runs, whatever the inputs are:

1. **Feeds.** Plain columns are converted to tensors a chunk of rows at a time
   ([`columns`][dask_openvino.columns]); a preprocessed column (images, text) goes
   through its pipeline's ``prepare`` ([`preprocessing`][dask_openvino.preprocessing]),
   which also names the rows it could not use.
2. **Inference.** The chunks run through the process's compiled model
   ([`get_engine`][dask_openvino.cache.get_engine]) as one batched pipeline; with
   ``errors="null"`` the rows whose inference fails are isolated
   ([`Engine.run_chunks`][dask_openvino.engine.Engine.run_chunks]).
3. **Assembly.** Outputs become columns of the declared dtypes (postprocessed if
   asked), failed rows become nulls with their reason, and the partition's index and
   row order are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from dask_openvino.cache import get_engine
from dask_openvino.columns import column_dtypes, column_to_array, stack_columns
from dask_openvino.engine import Chunk, Rows
from dask_openvino.errors import InferenceError, InputValueError
from dask_openvino.plan import ERROR_COLUMN, ERROR_DTYPE, InputBinding, InputsArg, PredictionPlan, build_plan
from dask_openvino.preprocessing.base import Prepared
from dask_openvino.results import array_to_series, null_rows
from dask_openvino.spec import ModelSpec

__all__ = ["CHUNK_BYTES", "feeds_from_frame", "predict_partition"]

CHUNK_BYTES = 32 * 2**20
"""Input bytes converted at a time: a partition's columns become tensors chunk by chunk."""


def predict_partition(frame: pd.DataFrame, plan: PredictionPlan) -> pd.DataFrame:
    """Score one pandas partition; the function ``map_partitions`` runs.

    Empty partitions return a correctly typed empty frame without touching the model
    (this is also how ``meta`` is built).

    Parameters
    ----------
    frame : pandas.DataFrame
        The partition.
    plan : PredictionPlan
        The plan built on the client.

    Returns
    -------
    pandas.DataFrame
        The partition (if ``plan.keep_input``) plus the result columns, same index and order.

    Raises
    ------
    InputSchemaError
        If a row cannot feed the model (with ``errors="raise"``, also a row that
        preprocessing could not use).
    InferenceError
        If OpenVINO fails on a batch, with ``errors="raise"``.
    """
    n_rows = len(frame)
    if n_rows == 0:
        empty = {out.port.name: np.empty((0, *(out.port.row_shape or ())), out.port.dtype) for out in plan.outputs}
        return _assemble(plan, frame, empty, {})
    engine = get_engine(plan.spec, plan.transform)
    prepared = None
    if plan.preprocess is not None and plan.preprocess_column is not None:
        prepared = plan.preprocess.prepare(frame[plan.preprocess_column], batch_size=plan.batch_size)
        if plan.errors == "raise":
            prepared.raise_first_failure(frame[plan.preprocess_column], plan.preprocess_column)
        # Re-iterable: the engine iterates again to isolate failing rows.
        chunks: Iterable[Chunk] = _PreparedChunks(
            prepared, plan.inputs, frame, engine.computed, null=plan.errors == "null"
        )
    else:
        chunks = _ColumnChunks(
            plan.inputs, frame, engine.batch_rows(n_rows, plan.batch_size), engine.computed, null=plan.errors == "null"
        )
    preprocess_failures = prepared.failures if prepared is not None else {}
    try:
        outputs, failed = engine.run_chunks(
            chunks,
            n_rows,
            batch_size=plan.batch_size,
            isolate=plan.errors == "null",
            zeros=bool(preprocess_failures),
            ragged=prepared is not None and prepared.ragged,
        )
    except InferenceError as err:
        if err.span is None:
            raise
        first, last = frame.index[list(err.span)].tolist()
        labels = f"labelled {first!r} to {last!r}" if err.contiguous else f"between labels {first!r} and {last!r}"
        raise InferenceError(
            f"{err} (in the partition, the rows {labels}). Pass errors='null' to score the other rows and get the "
            f"reason for each failing row in column {ERROR_COLUMN!r}",
            span=err.span,
            contiguous=err.contiguous,
        ) from err
    if prepared is not None:
        prepared.finish(outputs)
    value_failures = chunks.failures if isinstance(chunks, _ColumnChunks | _PreparedChunks) else {}
    # A row refused for its values keeps that reason, whatever its placeholder zeros did in the model.
    return _assemble(plan, frame, outputs, {**preprocess_failures, **failed, **value_failures})


def _convert(
    bindings: tuple[InputBinding, ...], frame: pd.DataFrame, computed: Mapping[str, str] | None = None
) -> dict[str, np.ndarray]:
    """Convert the columns of ``frame`` that feed each binding's input into one array per input."""
    feeds = {}
    for binding in bindings:
        if len(binding.columns) == 1:
            column = binding.columns[0]
            feeds[binding.port.name] = column_to_array(
                frame[column], port=binding.port, column=column, computed=computed
            )
        else:
            feeds[binding.port.name] = stack_columns(frame, binding.columns, binding.port, computed)
    return feeds


class _ColumnChunks:
    """Plain columns, converted about [`CHUNK_BYTES`][dask_openvino.partition.CHUNK_BYTES] of input at a time.

    The engine takes each chunk when its requests are busy with the previous one's
    last batches, so converting overlaps inference, and the partition never exists
    twice in tensor form. Chunks are a whole number of batches.

    With ``null``, rows whose values the inputs cannot take (nulls, NA into an integer
    input, lossy casts: [`InputValueError`][dask_openvino.errors.InputValueError]) are
    left out of their chunk and recorded in ``failures`` with the reason; the chunk is
    converted again without them, once per kind of problem found.
    """

    def __init__(
        self,
        bindings: tuple[InputBinding, ...],
        frame: pd.DataFrame,
        batch: int,
        computed: Mapping[str, str] | None = None,
        *,
        null: bool = False,
    ) -> None:
        self._bindings = bindings
        self._frame = frame
        self._computed = computed
        self._null = null
        self.failures: dict[int, str] = {}
        dtypes = column_dtypes(frame)
        row_bytes = sum(_row_bytes(b, [dtypes[c] for c in b.columns]) for b in bindings) or 1
        rows = max(CHUNK_BYTES // row_bytes, batch)
        self._step = rows - rows % batch

    def __iter__(self) -> Iterator[Chunk]:
        n_rows = len(self._frame)
        for start in range(0, n_rows, self._step):
            stop = min(start + self._step, n_rows)
            part = self._frame.iloc[start:stop] if self._step < n_rows else self._frame
            rows: Rows = slice(start, stop)
            feeds, usable = _convert_usable(self._bindings, part, rows, self._computed, self._null, self.failures)
            if not usable.all():
                rows = np.arange(start, stop)[usable]
            yield rows, feeds


def _convert_usable(
    bindings: tuple[InputBinding, ...],
    frame: pd.DataFrame,
    positions: Rows,
    computed: Mapping[str, str] | None,
    null: bool,
    failures: dict[int, str],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Convert ``frame`` for ``bindings``; with ``null``, leave out the rows whose values the inputs cannot take.

    Each row left out is recorded in ``failures`` under its output position (``positions``:
    the output rows of ``frame``'s rows, a slice or one position per row) with the reason; the rows are converted again
    without it, once per kind of problem found. Returns the arrays of the rows kept, and
    the mask of those rows.
    """
    usable = np.ones(len(frame), dtype=bool)
    while True:
        try:
            return _convert(bindings, frame if usable.all() else frame[usable], computed), usable
        except InputValueError as err:
            if not null or err.rows is None or not err.rows.any():
                raise
            bad = np.flatnonzero(usable)[err.rows]
            where = bad + (positions.start or 0) if isinstance(positions, slice) else positions[bad]
            failures.update(dict.fromkeys(where.tolist(), err.reason))
            usable[bad] = False


def _row_bytes(binding: InputBinding, dtypes: list[Any]) -> int:
    """Bytes per row of a binding: of its tensor, or of its columns where they are wider (float64 into float32).

    A chunk's converted copy then holds at most [`CHUNK_BYTES`][dask_openvino.partition.CHUNK_BYTES]
    whatever the source type, and casting float64 costs no more memory than reading float32.
    """
    values = max(binding.port.row_size or 1, len(binding.columns))
    widest = max([binding.port.dtype.itemsize, *(d.itemsize for d in dtypes if isinstance(d, np.dtype))])
    return values * widest


class _PreparedChunks:
    """A preprocessor's chunks, joined by the other inputs' columns for the same rows.

    With ``null``, rows whose other columns the inputs cannot take are recorded in
    ``failures`` with the reason (as for plain columns);
    they are sent with zeros in those inputs, and their results are dropped.
    """

    def __init__(
        self,
        prepared: Prepared,
        bindings: tuple[InputBinding, ...],
        frame: pd.DataFrame,
        computed: Mapping[str, str] | None = None,
        *,
        null: bool = False,
    ) -> None:
        self._chunks = prepared.chunks
        self._others: dict[str, np.ndarray] = {}
        self.failures: dict[int, str] = {}
        if bindings:
            # The other inputs are converted once, for the rows preprocessing could use;
            # a row's rank among those rows finds its values.
            ok = prepared.ok
            self._others = self._convert_others(
                bindings, frame if ok.all() else frame[ok], np.flatnonzero(ok), computed, null
            )
            self._rank = np.cumsum(ok) - 1

    def _convert_others(
        self,
        bindings: tuple[InputBinding, ...],
        rows: pd.DataFrame,
        positions: np.ndarray,
        computed: Mapping[str, str] | None,
        null: bool,
    ) -> dict[str, np.ndarray]:
        converted, usable = _convert_usable(bindings, rows, positions, computed, null, self.failures)
        if usable.all():
            return converted
        full = {}
        for name, array in converted.items():
            full[name] = np.zeros((len(rows), *array.shape[1:]), dtype=array.dtype)
            full[name][usable] = array
        return full

    def __iter__(self) -> Iterator[Chunk]:
        for positions, feeds in self._chunks:
            if self._others:
                rows = self._rank[positions]
                feeds = {**feeds, **{name: array[rows] for name, array in self._others.items()}}
            yield positions, feeds


def _assemble(
    plan: PredictionPlan, frame: pd.DataFrame, outputs: Mapping[str, np.ndarray], failures: Mapping[int, str]
) -> pd.DataFrame:
    """Build the result frame: outputs as columns of the declared dtypes, failed rows null with their reason."""
    failed = np.zeros(len(frame), dtype=bool)
    if failures:
        failed[list(failures)] = True
    postprocess = dict(plan.postprocess)
    columns: dict[str, pd.Series] = {}
    for out in plan.outputs:
        post = postprocess.get(out.port.name)
        if post is None:
            made = {out.column: array_to_series(outputs[out.port.name], frame.index, out.column, out.dtype)}
        else:
            dtypes = post.columns(out.port, out.column)
            made = {
                name: series.astype(dtypes[name]).set_axis(frame.index).rename(name)
                for name, series in post.apply(outputs[out.port.name], out.port, out.column).items()
            }
        for name, series in made.items():
            columns[name] = null_rows(series, failed) if failures else series
    if plan.errors == "null":
        reasons = pd.Series(None, index=frame.index, name=ERROR_COLUMN, dtype=ERROR_DTYPE)
        if failures:
            reasons.iloc[list(failures)] = list(failures.values())
        columns[ERROR_COLUMN] = reasons
    if plan.keep_input:
        return frame.assign(**columns)
    return pd.DataFrame(columns, index=frame.index)


def feeds_from_frame(frame: pd.DataFrame, spec: ModelSpec, inputs: InputsArg = None) -> dict[str, np.ndarray]:
    """Map a pandas DataFrame's columns to model input arrays, exactly as ``.ov.predict`` does.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows to convert.
    spec : ModelSpec
        The model whose inputs they feed.
    inputs : None, str, list of str, or dict
        As ``inputs=`` of ``.ov.predict``.

    Returns
    -------
    dict of str to numpy.ndarray
        One array per model input.

    Examples
    --------
    >>> feeds = feeds_from_frame(df, ModelSpec.from_path("model.xml"), inputs=["f0", "f1"])  # doctest: +SKIP
    """
    plan = build_plan(spec, frame, inputs=inputs, keep_input=False)
    return _convert(plan.inputs, frame)
