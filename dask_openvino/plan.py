"""The prediction plan, made when the graph is built: which columns feed which model input, and what comes out.

[`build_plan`][dask_openvino.plan.build_plan] checks the user's ``inputs=``,
``output_names=``, ``preprocess=`` and ``postprocess=`` against the model's ports and
the frame's ``meta`` on the client, so schema errors surface before any task runs.
The resulting [`PredictionPlan`][dask_openvino.plan.PredictionPlan] is small and
picklable; [`predict_partition`][dask_openvino.partition.predict_partition] carries it
out on each partition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from dask_openvino.checks import positive_int
from dask_openvino.columns import check_column_dtype, column_dtypes
from dask_openvino.edits import ModelEdits, model_edits
from dask_openvino.errors import InputSchemaError
from dask_openvino.postprocessing import Postprocessor
from dask_openvino.preprocessing.base import BoundPreprocessor, Preprocessor
from dask_openvino.results import output_dtype
from dask_openvino.spec import ModelDescription, ModelSpec, PortInfo
from dask_openvino.transforms import InputLayoutArg, ModelTransform

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
]

InputsArg = None | str | Sequence[str] | pd.Index | np.ndarray | Mapping[str, str | Sequence[str]]
"""What ``inputs=`` accepts: None, a column, a list-like of columns (``df.columns[:3]``), or ``{input: column(s)}``."""

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

ERROR_DTYPE = pd.ArrowDtype(pa.string())
"""The dtype of [`ERROR_COLUMN`][dask_openvino.plan.ERROR_COLUMN]."""


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
        The result column's dtype (see [`output_dtype`][dask_openvino.results.output_dtype]),
        nullable with ``errors="null"``.
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
        Turns ``preprocess_column`` into the inputs it feeds (the others come from ``inputs``).
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


def _nullable(dtype: Any) -> Any:
    """Return a dtype that can hold nulls for failed rows: pyarrow-backed for numpy integers and booleans.

    Examples
    --------
    >>> _nullable(np.dtype("int64"))
    int64[pyarrow]
    """
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return pd.ArrowDtype(pa.from_numpy_dtype(dtype))
    return dtype


def _as_columns(value: object, *, what: str) -> tuple[str, ...]:
    """Return a column name, or any non-empty list-like of names (list, tuple, pandas Index, numpy array)."""
    if isinstance(value, str):
        return (value,)
    listed = list(value) if isinstance(value, (Sequence, pd.Index, np.ndarray)) else None
    if listed and all(isinstance(v, str) for v in listed):
        return tuple(str(v) for v in listed)
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


def _fixed_row_shape(dtype: Any) -> tuple[int, ...] | None:
    """Return the row shape a column of nested fixed-size lists shows in ``meta``, e.g. ``(32, 32, 3)``, or None."""
    if not isinstance(dtype, pd.ArrowDtype):
        return None
    arrow_type, shape = dtype.pyarrow_dtype, []
    while pa.types.is_fixed_size_list(arrow_type):
        shape.append(arrow_type.list_size)
        arrow_type = arrow_type.value_type
    nested = pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
    return tuple(shape) if shape and not nested else None


def _check_binding(port: PortInfo, columns: tuple[str, ...], frame_meta: pd.DataFrame) -> None:
    # Counted once: comparing the Index with each column name cost 3 ms for 64 columns.
    counts = Counter(frame_meta.columns.tolist())
    duplicated = [c for c in columns if counts[c] > 1]
    if duplicated:
        raise InputSchemaError(
            f"column {duplicated[0]!r} (for model input {port}) appears {counts[duplicated[0]]} "
            "times in the DataFrame; rename the duplicates so each input column is one column"
        )
    missing = [c for c in columns if c not in frame_meta.columns]
    if missing:
        available = list(map(str, frame_meta.columns))
        shown = available if len(available) <= 20 else [*available[:20], "..."]
        raise InputSchemaError(
            f"column {missing[0]!r} (for model input {port}) is not in the DataFrame; its columns are {shown}"
        )
    dtypes = column_dtypes(frame_meta)
    for column in columns:
        check_column_dtype(dtypes[column], column=column, port=port, stacked=len(columns) > 1)
    row_shape = _fixed_row_shape(dtypes[columns[0]]) if len(columns) == 1 else None
    mismatch = None if row_shape is None else port.row_shape_mismatch(row_shape, column=columns[0])
    if mismatch is not None:
        raise InputSchemaError(mismatch)
    if len(columns) > 1:
        listy = [c for c in columns if isinstance(dtypes[c], pd.ArrowDtype) and dtypes[c].kind == "O"]
        objecty = [c for c in columns if dtypes[c] == np.dtype(object)]
        if listy:
            raise InputSchemaError(
                f"columns {list(columns)} are stacked into model input {port}, so each must hold one number per "
                f"row; {listy[0]!r} is a list column (one tensor per row)"
            )
        if objecty:
            raise InputSchemaError(
                f"columns {list(columns)} are stacked into model input {port}, so each must hold one number per "
                f"row; {objecty[0]!r} has dtype object, which may hold anything: give it a numeric dtype, e.g. "
                f"df[{objecty[0]!r}].astype('float64')"
            )
        if port.row_size is not None and port.row_size != len(columns):
            raise InputSchemaError(
                f"model input {port} needs {port.row_size} values per row (row shape {list(port.row_shape or ())}), "
                f"but inputs= stacks {len(columns)} columns {list(columns)}"
            )


def _check_rows_out(description: ModelDescription) -> None:
    """Refuse a model whose ports show that an output is not one row per input row.

    An output with no dimensions, or a static first dimension other than the inputs'
    batch (static and different, or any number where the inputs' batch is dynamic), is
    a value per batch (a mean over the batch, ``NonZero``'s ``[2, ?]``): copied or cut
    into rows it would depend on the batch size. Dynamic first dimensions are checked
    on every batch ([`OutputBuffer.write`][dask_openvino.engine.OutputBuffer.write]).
    """
    if not description.outputs:
        raise InputSchemaError(
            "the model has no outputs, so it gives nothing to score; its inputs are "
            f"{[str(p) for p in description.inputs]}"
        )
    batches = {port.shape[0] for port in description.inputs if port.shape}
    if len(batches) != 1:
        return
    (batch,) = batches
    for port in description.outputs:
        if port.shape is None:
            continue
        if not port.shape:
            raise InputSchemaError(
                f"model output {port} is a scalar, one value per batch: it is not one row per input row, so it "
                "cannot become a column"
            )
        first = port.shape[0]
        if first is None or first == batch:
            continue
        took = "a batch of any size" if batch is None else f"batches of {batch}"
        raise InputSchemaError(
            f"model output {port} has {first} rows, but the model's inputs take {took} "
            f"({', '.join(str(p) for p in description.inputs)}): it is not one row per input row, so it cannot "
            "become a column"
            + (" (a model that runs one row at a time should have its input batch fixed to 1)" if first == 1 else "")
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
    input_layout: InputLayoutArg = None,
) -> PredictionPlan:
    """Check the arguments of ``.ov.predict`` against the model and ``meta``, and plan the job.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    frame_meta : pandas.DataFrame
        The input frame's ``meta`` (or the frame itself).
    inputs, batch_size, output_names, keep_input, preprocess, postprocess, errors, input_layout
        As in
        [`ddf.ov.predict`][dask_openvino.accessor.OpenVINODataFrameAccessor.predict].

    Returns
    -------
    PredictionPlan

    Raises
    ------
    InputSchemaError
        If a column is missing or cannot feed its input (rows of another shape
        included), an output is not one row per input row, or the output names clash.
    """
    if errors not in ("raise", "null"):
        raise InputSchemaError(f"errors must be 'raise' or 'null', got {errors!r}")
    ports = spec.describe()
    _check_rows_out(ports)
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size", error=InputSchemaError)
    edits = model_edits(ports, inputs=inputs, batch_size=batch_size, preprocess=preprocess, input_layout=input_layout)
    description, pre = edits.description, edits.preprocess
    pre_column, inputs = _bind_preprocess_column(edits, inputs, frame_meta)
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
    if errors == "null":
        outputs = tuple(replace(out, dtype=_nullable(out.dtype)) for out in outputs)
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
        transform=edits.transform,
        preprocess=pre,
        preprocess_column=pre_column,
        postprocess=tuple(posts.items()),
        errors=errors,
    )


def _bind_preprocess_column(
    edits: ModelEdits, inputs: InputsArg, frame_meta: pd.DataFrame
) -> tuple[str | None, InputsArg]:
    """Find the column ``preprocess=`` reads; return it and the ``inputs=`` left for the other model inputs."""
    pre, target = edits.preprocess, edits.preprocess_input
    if pre is None or target is None:
        return None, inputs
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
    pre.check_column(frame_meta.dtypes[column], column)
    if rest is None:
        # Inputs the preprocessor does not feed are read from columns of the same name.
        rest = {port.name: port.name for port in edits.description.inputs if port.name not in pre.inputs}
    return column, rest


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
