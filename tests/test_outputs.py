"""Outputs that are not one row per input row are refused, never copied, cut or dropped into columns."""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
import pytest
from openvino import opset13 as ops

import model_factory
from dask_openvino import InferenceError, InputSchemaError, ModelSpec, get_engine

FRAME = pd.DataFrame({"a": [1.0, 0.0, 3.0], "b": [0.0, 2.0, 0.0], "c": [4.0, 5.0, 0.0]})
COLUMNS = ["a", "b", "c"]


def _model(path: Path, batch: int, make: str) -> Path:
    x = ops.parameter([batch, 3], np.float32, name="x")
    if make == "mean":  # f32[1,3]: a mean over the batch
        y = ops.reduce_mean(x, ops.constant(np.array([0], np.int64)), keep_dims=True)
    elif make == "nonzero":  # i64[2,?]: the coordinates of the non-zero values
        y = ops.non_zero(x, "i64")
    elif make == "nonzero_rows":  # i64[?,2]: one row per non-zero value
        y = ops.transpose(ops.non_zero(x, "i64"), ops.constant(np.array([1, 0], np.int64)))
    elif make == "total":  # f32[]: one number for the whole batch
        y = ops.reduce_sum(x, ops.constant(np.array([0, 1], np.int64)), keep_dims=False)
    y.output(0).get_tensor().set_names({"y"})
    return model_factory.save(ov.Model([y.output(0)], [x], make), path)


@pytest.mark.parametrize(
    ("make", "batch", "message"),
    [
        (
            "mean",
            -1,
            r"output y: f32\[1,3\] has 1 rows, but the model's inputs take a batch of any size \(x: f32\[\?,3\]\)",
        ),
        ("nonzero", -1, r"output y: i64\[2,\?\] has 2 rows, but the model's inputs take a batch of any size"),
        ("mean", 4, r"output y: f32\[1,3\] has 1 rows, but the model's inputs take batches of 4"),
        ("total", -1, r"output y: f32\[\] is a scalar, one value per batch"),
    ],
)
def test_output_not_one_row_per_input_row_is_refused_at_graph_build(
    tmp_path: Path, make: str, batch: int, message: str
) -> None:
    xml = _model(tmp_path / f"{make}.xml", batch, make)
    frame = dd.from_pandas(FRAME, npartitions=1)
    # Before: the mean was copied to every row at batch_size=1, NonZero gave 2 "rows" for 2 inputs.
    with pytest.raises(InputSchemaError, match=message):
        frame.ov.predict(xml, inputs=COLUMNS, batch_size=2 if make == "nonzero" else 1)


def test_model_without_outputs_is_refused(tmp_path: Path) -> None:
    x = ops.parameter([-1, 3], np.float32, name="x")
    xml = model_factory.save(ov.Model([], [x], "nothing"), tmp_path / "nothing.xml")
    # Before: the input came back unchanged, as if scored.
    with pytest.raises(InputSchemaError, match=r"the model has no outputs.*x: f32\[\?,3\]"):
        FRAME.ov.predict(xml, inputs=COLUMNS)


def test_output_rows_differ_from_batch_at_run_time(tmp_path: Path) -> None:
    xml = _model(tmp_path / "nonzero_rows.xml", -1, "nonzero_rows")
    # 3 rows with 5 non-zero values: the ports cannot show it, the batch does.
    with pytest.raises(InferenceError, match=r"output 'y' has 5 rows for a batch of 3 rows: it is not one row per"):
        FRAME.ov.predict(xml, inputs=COLUMNS, batch_size=3)
    with pytest.raises(InferenceError, match=r"output 'y' has \d rows for a batch of 1 rows"):
        FRAME.ov.predict(xml, inputs=COLUMNS, batch_size=1, errors="null")


def test_scalar_output_at_run_time(tmp_path: Path) -> None:
    xml = _model(tmp_path / "total.xml", -1, "total")
    engine = get_engine(ModelSpec.from_path(xml))
    # Before: a bare TypeError (len() of an unsized object).
    with pytest.raises(InferenceError, match=r"output 'y' has no batch dimension \(a scalar\) for a batch of 3 rows"):
        engine.run({"x": FRAME.to_numpy(np.float32)}, batch_size=3)
