"""The prediction plan: which columns feed which model input, and what comes out.

:func:`build_plan` checks the user's ``inputs=`` / ``output_names=`` against the
model's ports and the frame's ``meta`` when the graph is built, so schema errors
surface before any task runs. The resulting :class:`PredictionPlan` is small and
picklable; :func:`predict_partition` is the pure, module-level function that
``map_partitions`` runs on each pandas partition.

With ``preprocess=``, one input column goes through a preprocessor
(:mod:`dask_openvino.preprocessing`, :mod:`dask_openvino.text`) whose per-row
failures either raise or, with ``errors="null"``, give null outputs and a message
in :data:`ERROR_COLUMN`; with ``postprocess=``, outputs become the columns of
:mod:`dask_openvino.postprocessing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from dask_openvino.cache import get_engine
from dask_openvino.columns import array_to_series, check_column_dtype, column_to_array, output_dtype, stack_columns
from dask_openvino.engine import ModelTransform, TransformChain, batch_reshape
from dask_openvino.errors import InferenceError, InputSchemaError
from dask_openvino.postprocessing import Postprocessor, fill_failed_rows
from dask_openvino.preprocessing import BoundPreprocessor, Prepared, Preprocessor, run_prepared
from dask_openvino.spec import ModelDescription, ModelSpec, PortInfo

__all__ = [
    "ERROR_COLUMN",
    "ErrorsArg",
    "InputBinding",
    "InputsArg",
    "OutputBinding",
    "OutputNamesArg",
    "PostprocessArg",
    "PredictionPlan",
    "PreprocessArg",
    "build_plan",
    "feeds_from_frame",
    "predict_partition",
]

InputsArg = None | str | Sequence[str] | Mapping[str, str | Sequence[str]]
"""What ``inputs=`` accepts: None, a column, a list of columns, or ``{input: column(s)}``."""

OutputNamesArg = None | str | Sequence[str] | Mapping[str, str]
"""What ``output_names=`` accepts: a name, a list in output order, or ``{output: column}``."""

PreprocessArg = None | Preprocessor | Mapping[str, Preprocessor]
"""What ``preprocess=`` accepts: a pipeline, or ``{model input: pipeline}``."""

PostprocessArg = None | Postprocessor | Mapping[str, Postprocessor]
"""What ``postprocess=`` accepts: one postprocessor, or ``{model output: postprocessor}``."""

ErrorsArg = Literal["raise", "null"]
"""What ``errors=`` accepts."""

SINGLE_OUTPUT_COLUMN = "prediction"
"""Column name of a single-output model's result (as in Analytics Zoo)."""

ERROR_COLUMN = "prediction_error"
"""With ``errors="null"``: why a row has no prediction (null for rows that were scored)."""

_ERROR_DTYPE = pd.ArrowDtype(pa.string())


@dataclass(frozen=True)
class InputBinding:
    """The columns that feed one model input.

    Attributes
    ----------
    port : PortInfo
        The model input.
    columns : tuple of str
        One column (scalar, list or object of arrays), or several scalar columns
        stacked side by side.
    """

    port: PortInfo
    columns: tuple[str, ...]

    def to_array(self, frame: pd.DataFrame) -> np.ndarray:
        """Convert this input's columns of ``frame`` into one ``[N, ...]`` array."""
        if len(self.columns) == 1:
            return column_to_array(frame[self.columns[0]], port=self.port, column=self.columns[0])
        return stack_columns(frame, self.columns, self.port)


@dataclass(frozen=True)
class OutputBinding:
    """One model output and the column it becomes.

    Attributes
    ----------
    port : PortInfo
        The model output.
    column : str
        The result column's name.
    dtype : numpy.dtype or pandas.ArrowDtype
        The result column's dtype (see :func:`dask_openvino.columns.output_dtype`).
    """

    port: PortInfo
    column: str
    dtype: Any


@dataclass(frozen=True)
class PredictionPlan:
    """Everything a partition needs to be scored; travels in the task graph.

    Attributes
    ----------
    spec : ModelSpec
        The model (location and fingerprint, never weights).
    inputs : tuple of InputBinding
    outputs : tuple of OutputBinding
    batch_size : int or None
        Rows per inference; None for the engine's default.
    keep_input : bool
        Whether result frames keep the input columns.
    transform : ModelTransform or None
        Edits applied to the model before compiling (e.g. a batch reshape).
    preprocess : BoundPreprocessor or None
        Turns :attr:`preprocess_column` into the inputs it feeds (the others come from :attr:`inputs`).
    preprocess_column : str or None
        The column it reads.
    postprocess : tuple of (output name, Postprocessor) pairs
        Outputs turned into other columns.
    errors : {"raise", "null"}
        What a row that fails preprocessing or inference does.
    """

    spec: ModelSpec
    inputs: tuple[InputBinding, ...]
    outputs: tuple[OutputBinding, ...]
    batch_size: int | None
    keep_input: bool
    transform: ModelTransform | None = None
    preprocess: BoundPreprocessor | None = None
    preprocess_column: str | None = None
    postprocess: tuple[tuple[str, Postprocessor], ...] = ()
    errors: ErrorsArg = "raise"

    def feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Convert a partition's columns into model input arrays."""
        return {binding.port.name: binding.to_array(frame) for binding in self.inputs}

    def assemble(
        self, frame: pd.DataFrame, results: Mapping[str, np.ndarray], prepared: Prepared | None = None
    ) -> pd.DataFrame:
        """Build the result frame from a partition and the model outputs for its rows.

        With ``prepared``, ``results`` hold only the rows that were preprocessed;
        the others get nulls and, with ``errors="null"``, their reason.
        """
        ok = prepared.ok if prepared is not None else np.ones(len(frame), dtype=bool)
        scored = pd.RangeIndex(int(ok.sum()))
        postprocess = dict(self.postprocess)
        columns: dict[str, pd.Series] = {}
        for out in self.outputs:
            post = postprocess.get(out.port.name)
            if post is None:
                series = array_to_series(results[out.port.name], scored, out.column, out.dtype)
                made = {out.column: series.astype(_nullable(out.dtype)) if self.errors == "null" else series}
            else:
                dtypes = post.columns(out.port, out.column)
                made = {
                    name: series.astype(dtypes[name])
                    for name, series in post.apply(results[out.port.name], out.port, out.column).items()
                }
            for name, series in made.items():
                columns[name] = fill_failed_rows(series.rename(name), ok, frame.index)
        if self.errors == "null":
            failures = prepared.failures if prepared is not None else {}
            reasons = pd.Series(None, index=frame.index, name=ERROR_COLUMN, dtype=_ERROR_DTYPE)
            if failures:
                reasons.iloc[list(failures)] = list(failures.values())
            columns[ERROR_COLUMN] = reasons
        if self.keep_input:
            return frame.assign(**columns)
        return pd.DataFrame(columns, index=frame.index)

    def empty_results(self) -> dict[str, np.ndarray]:
        """Zero-row outputs, for empty partitions and ``meta``."""
        return {out.port.name: np.empty((0, *(out.port.row_shape or ())), dtype=out.port.dtype) for out in self.outputs}

    def meta(self, frame_meta: pd.DataFrame) -> pd.DataFrame:
        """Return the empty result frame, built from the ports without running the model."""
        return self.assemble(frame_meta.iloc[:0], self.empty_results())


def _nullable(dtype: Any) -> Any:
    """Return a dtype that can hold nulls for failed rows: pyarrow-backed for numpy integers and booleans."""
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return pd.ArrowDtype(pa.from_numpy_dtype(dtype))
    return dtype


def _as_columns(value: str | Sequence[str], *, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputSchemaError(f"{what} must be a column name or a non-empty list of column names, got {value!r}")


def _bind_inputs(description: ModelDescription, inputs: InputsArg) -> dict[str, tuple[str, ...]]:
    ports = description.inputs
    names = [p.name for p in ports]
    if inputs is None:
        return {name: (name,) for name in names}
    if isinstance(inputs, Mapping):
        unknown = sorted(set(inputs) - set(names))
        missing = [n for n in names if n not in inputs]
        if unknown or missing:
            raise InputSchemaError(
                f"inputs= keys must be the model's input names {names}"
                + (f"; unknown: {unknown}" if unknown else "")
                + (f"; missing: {missing}" if missing else "")
            )
        return {name: _as_columns(inputs[name], what=f"inputs[{name!r}]") for name in names}
    columns = _as_columns(inputs, what="inputs=")
    if len(ports) == 1:
        return {names[0]: columns}
    if len(columns) == len(ports):
        return {name: (column,) for name, column in zip(names, columns, strict=True)}
    raise InputSchemaError(
        f"the model has {len(ports)} inputs {names}; inputs= lists {len(columns)} columns {list(columns)}. "
        "Give one column per input in this order, or a dict {input name: column(s)}"
    )


def _check_binding(port: PortInfo, columns: tuple[str, ...], frame_meta: pd.DataFrame) -> None:
    missing = [c for c in columns if c not in frame_meta.columns]
    if missing:
        available = list(map(str, frame_meta.columns))
        shown = available if len(available) <= 20 else [*available[:20], "..."]
        raise InputSchemaError(
            f"column {missing[0]!r} (for model input {port}) is not in the DataFrame; its columns are {shown}"
        )
    dtypes = frame_meta.dtypes.to_dict()
    for column in columns:
        check_column_dtype(dtypes[column], column=column, port=port)
    if len(columns) > 1:
        listy = [c for c in columns if isinstance(dtypes[c], pd.ArrowDtype) and dtypes[c].kind == "O"]
        objecty = [c for c in columns if dtypes[c] == np.dtype(object)]
        if listy or objecty:
            raise InputSchemaError(
                f"columns {list(columns)} are stacked into model input {port}, so each must hold one number per "
                f"row; {(listy or objecty)[0]!r} holds tensors"
            )
        if port.row_size is not None and port.row_size != len(columns):
            raise InputSchemaError(
                f"model input {port} needs {port.row_size} values per row (row shape {list(port.row_shape or ())}), "
                f"but inputs= stacks {len(columns)} columns {list(columns)}"
            )


def _bind_outputs(description: ModelDescription, output_names: OutputNamesArg) -> tuple[OutputBinding, ...]:
    ports = description.outputs
    names = [p.name for p in ports]
    if output_names is None:
        columns = [SINGLE_OUTPUT_COLUMN] if len(ports) == 1 else names
    elif isinstance(output_names, Mapping):
        unknown = sorted(set(output_names) - set(names))
        if unknown:
            raise InputSchemaError(f"output_names= names unknown outputs {unknown}; the model's outputs are {names}")
        default = [SINGLE_OUTPUT_COLUMN] if len(ports) == 1 else names
        columns = [output_names.get(n, d) for n, d in zip(names, default, strict=True)]
    else:
        columns = list(_as_columns(output_names, what="output_names="))
        if len(columns) != len(ports):
            raise InputSchemaError(
                f"output_names= gives {len(columns)} names for the model's {len(ports)} outputs {names}"
            )
    if len(set(columns)) != len(columns):
        raise InputSchemaError(f"output column names must be unique, got {columns}")
    return tuple(OutputBinding(port=p, column=c, dtype=output_dtype(p)) for p, c in zip(ports, columns, strict=True))


def build_plan(
    spec: ModelSpec,
    frame_meta: pd.DataFrame,
    *,
    inputs: InputsArg = None,
    batch_size: int | None = None,
    output_names: OutputNamesArg = None,
    keep_input: bool = True,
    preprocess: PreprocessArg = None,
    postprocess: PostprocessArg = None,
    errors: ErrorsArg = "raise",
) -> PredictionPlan:
    """Check the arguments of ``.ov.predict`` against the model and ``meta``, and plan the job.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    frame_meta : pandas.DataFrame
        The input frame's ``meta`` (or the frame itself).
    inputs, batch_size, output_names, keep_input, preprocess, postprocess, errors
        As in :meth:`dask_openvino.accessor.OpenVINODataFrameAccessor.predict`.

    Returns
    -------
    PredictionPlan

    Raises
    ------
    InputSchemaError
        If a column is missing or cannot feed its input, or the output names clash.
    """
    if errors not in ("raise", "null"):
        raise InputSchemaError(f"errors must be 'raise' or 'null', got {errors!r}")
    description = spec.describe()
    transform: ModelTransform | None = None
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputSchemaError(f"batch_size must be a positive integer, got {batch_size!r}")
        batch_size = int(batch_size)
        transform = batch_reshape(description, batch_size)
        if transform is not None:
            description = _reshaped(description, batch_size)
    pre, pre_column, inputs = _bind_preprocess(description, inputs, preprocess, frame_meta)
    if pre is not None:
        description = pre.describe(description)
        if pre.transform is not None:
            transform = pre.transform if transform is None else TransformChain((pre.transform, transform))
    fed = ModelDescription(
        inputs=tuple(p for p in description.inputs if pre is None or p.name not in pre.inputs),
        outputs=description.outputs,
    )
    bound = _bind_inputs(fed, inputs)
    bindings = []
    for port in fed.inputs:
        _check_binding(port, bound[port.name], frame_meta)
        bindings.append(InputBinding(port=port, columns=bound[port.name]))
    outputs = _bind_outputs(description, output_names)
    posts = _bind_postprocess(outputs, postprocess)
    made: list[str] = []
    for out in outputs:
        made.extend(posts[out.port.name].columns(out.port, out.column) if out.port.name in posts else [out.column])
    if errors == "null":
        made.append(ERROR_COLUMN)
    if len(set(made)) != len(made):
        raise InputSchemaError(f"result column names must be unique, got {made}; rename them with output_names=")
    if keep_input:
        clashes = [column for column in made if column in frame_meta.columns]
        if clashes:
            raise InputSchemaError(
                f"output column {clashes[0]!r} already exists in the input; pass output_names= or keep_input=False"
            )
    return PredictionPlan(
        spec=spec,
        inputs=tuple(bindings),
        outputs=outputs,
        batch_size=batch_size,
        keep_input=keep_input,
        transform=transform,
        preprocess=pre,
        preprocess_column=pre_column,
        postprocess=tuple(posts.items()),
        errors=errors,
    )


def _bind_preprocess(
    description: ModelDescription, inputs: InputsArg, preprocess: PreprocessArg, frame_meta: pd.DataFrame
) -> tuple[BoundPreprocessor | None, str | None, InputsArg]:
    """Bind ``preprocess=`` to its model input and column; return it and the ``inputs=`` left for the others."""
    if preprocess is None:
        return None, None, inputs
    names = [p.name for p in description.inputs]
    if isinstance(preprocess, Mapping):
        if len(preprocess) != 1:
            raise InputSchemaError(f"preprocess= can preprocess one model input, got {list(preprocess)}")
        ((target, pipeline),) = preprocess.items()
    elif isinstance(inputs, Mapping) and len(inputs) == 1:
        target, pipeline = next(iter(inputs)), preprocess
    elif len(names) == 1 or "input_ids" in names:
        target, pipeline = (names[0] if len(names) == 1 else "input_ids"), preprocess
    else:
        raise InputSchemaError(
            f"the model has inputs {names}: name the one to preprocess with preprocess={{input name: pipeline}}"
        )
    if target not in names:
        raise InputSchemaError(f"preprocess= names {target!r}, which is not a model input; the inputs are {names}")
    rest: InputsArg
    if isinstance(inputs, Mapping):
        column = inputs.get(target, target)
        rest = {name: columns for name, columns in inputs.items() if name != target}
    elif isinstance(inputs, str):
        column, rest = inputs, None
    elif inputs is None:
        column, rest = target, None
    else:
        raise InputSchemaError("with preprocess=, give inputs= as the column to preprocess or a dict {input: column}")
    if not isinstance(column, str):
        raise InputSchemaError(f"the preprocessed input {target!r} reads one column, got {column!r}")
    if column not in frame_meta.columns:
        raise InputSchemaError(
            f"column {column!r} (to preprocess for model input {target!r}) is not in the DataFrame; "
            f"its columns are {list(map(str, frame_meta.columns))[:20]}"
        )
    bound = pipeline.bind(description, target)
    bound.check_column(frame_meta.dtypes[column], column)
    if rest is None:
        rest = {}
        # Inputs the preprocessor does not feed are read from columns of the same name.
        for name in names:
            if name not in bound.inputs:
                rest[name] = name
    return bound, column, rest


def _bind_postprocess(outputs: tuple[OutputBinding, ...], postprocess: PostprocessArg) -> dict[str, Postprocessor]:
    """Match ``postprocess=`` to the model's outputs and check each against its port."""
    if postprocess is None:
        return {}
    names = [out.port.name for out in outputs]
    if isinstance(postprocess, Mapping):
        unknown = sorted(set(postprocess) - set(names))
        if unknown:
            raise InputSchemaError(f"postprocess= names unknown outputs {unknown}; the model's outputs are {names}")
        posts = dict(postprocess)
    elif len(names) == 1:
        posts = {names[0]: postprocess}
    else:
        raise InputSchemaError(
            f"the model has outputs {names}: give postprocess= as a dict {{output name: postprocessor}}"
        )
    for out in outputs:
        if out.port.name in posts:
            posts[out.port.name].columns(out.port, out.column)
    return posts


def _reshaped(description: ModelDescription, batch_size: int) -> ModelDescription:
    def with_batch(port: PortInfo) -> PortInfo:
        if not port.shape:
            return port
        return PortInfo(port.name, port.element_type, (batch_size, *port.shape[1:]))

    return ModelDescription(
        inputs=tuple(with_batch(p) for p in description.inputs),
        outputs=tuple(with_batch(p) for p in description.outputs),
    )


def predict_partition(frame: pd.DataFrame, plan: PredictionPlan) -> pd.DataFrame:
    """Score one pandas partition; the function ``map_partitions`` runs.

    Empty partitions return a correctly typed empty frame without touching the model.

    Parameters
    ----------
    frame : pandas.DataFrame
        The partition.
    plan : PredictionPlan
        The plan built on the client.

    Returns
    -------
    pandas.DataFrame
        The partition (if ``plan.keep_input``) plus one column per output, same index and order.
    """
    if len(frame) == 0:
        return plan.assemble(frame, plan.empty_results())
    if plan.preprocess is None or plan.preprocess_column is None:
        results, failures = _score_in_chunks(frame, plan)
        if plan.errors == "raise":
            return plan.assemble(frame, results)
        scored = Prepared(n_rows=len(frame), failures=failures, chunks=())
        if failures:
            results = {name: values[scored.ok] for name, values in results.items()}
        return plan.assemble(frame, results, scored)
    prepared = plan.preprocess.prepare(frame[plan.preprocess_column], batch_size=plan.batch_size)
    if plan.errors == "raise":
        prepared.raise_first_failure(frame.index, plan.preprocess_column)
    ok = prepared.ok
    if not ok.any():
        return plan.assemble(frame, plan.empty_results(), prepared)
    other = plan.feeds(frame if ok.all() else frame[ok])
    engine = get_engine(plan.spec, plan.transform)
    results, failed = run_prepared(
        engine, prepared, other, batch_size=plan.batch_size, capture_failures=plan.errors == "null"
    )
    if not failed:
        return plan.assemble(frame, results, prepared)
    # Rows whose inference failed join those whose preprocessing failed.
    scored_positions = np.flatnonzero(ok)
    failures = {**prepared.failures, **{int(scored_positions[row]): reason for row, reason in failed.items()}}
    still_ok = np.ones(len(scored_positions), dtype=bool)
    still_ok[list(failed)] = False
    kept = {name: values[still_ok] for name, values in results.items()}
    return plan.assemble(frame, kept, Prepared(n_rows=len(frame), failures=failures, chunks=()))


CHUNK_BYTES = 32 * 2**20
"""Input bytes converted at a time: a partition's columns become tensors chunk by chunk."""


def _chunk_rows(plan: PredictionPlan, batch: int) -> int:
    """Rows per conversion chunk: about :data:`CHUNK_BYTES` of input, a whole number of batches.

    Smaller chunks were measured slower: scoring 25,000-row partitions of 64 float
    columns through an MLP in 8,192-row chunks used 28% more CPU than in one chunk.
    """
    row_bytes = sum(max(b.port.row_size or 1, len(b.columns)) * b.port.dtype.itemsize for b in plan.inputs) or 1
    rows = max(CHUNK_BYTES // row_bytes, batch)
    return rows - rows % batch


def _score_in_chunks(frame: pd.DataFrame, plan: PredictionPlan) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """Convert and infer a partition a chunk of rows at a time, into one preallocated array per output.

    The engine takes each chunk when its requests are busy with the previous one's
    last batches, so converting overlaps inference; converting the whole partition
    first would also hold a second, tensor-shaped copy of it. With
    ``errors="null"``, a failing partition is run again chunk by chunk and the rows
    whose inference fails are isolated by bisection (see
    :meth:`~dask_openvino.engine.Engine.run_capturing_failures`).
    """
    engine = get_engine(plan.spec, plan.transform)
    n_rows = len(frame)
    step = _chunk_rows(plan, engine.batch_rows(n_rows, plan.batch_size))
    starts = range(0, n_rows, step)

    def chunk(start: int) -> pd.DataFrame:
        return frame.iloc[start : start + step] if step < n_rows else frame

    try:
        return engine.run_chunks((plan.feeds(chunk(start)) for start in starts), n_rows, batch_size=plan.batch_size), {}
    except InferenceError:
        if plan.errors == "raise":
            raise
    outputs: dict[str, np.ndarray] = {}
    failures: dict[int, str] = {}
    for start in starts:
        results, failed = engine.run_capturing_failures(plan.feeds(chunk(start)), batch_size=plan.batch_size)
        failures.update({start + row: reason for row, reason in failed.items()})
        for name, values in results.items():
            if name not in outputs:
                outputs[name] = np.empty((n_rows, *values.shape[1:]), dtype=values.dtype)
            elif outputs[name].shape[1:] != values.shape[1:]:
                raise InferenceError(
                    f"output {name!r} changed shape between chunks of a partition ({list(outputs[name].shape[1:])} "
                    f"then {list(values.shape[1:])} per row); give inputs a fixed shape"
                )
            outputs[name][start : start + len(values)] = values
    return outputs, failures


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
    return plan.feeds(frame)
