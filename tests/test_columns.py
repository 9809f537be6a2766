from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import model_factory
from dask_openvino import InferenceError, InputSchemaError, InputValueError
from dask_openvino.casting import row_label, to_port_dtype
from dask_openvino.columns import column_to_array, stack_columns
from dask_openvino.postprocessing import TopK
from dask_openvino.results import array_to_series, arrow_lists, null_rows, output_dtype
from dask_openvino.spec import PortInfo

F32_ROW3 = PortInfo("x", "f32", (None, 3))
I32_SCALAR = PortInfo("ids", "i32", (None, 1))


def test_fixed_size_list_is_flattened_without_copy_of_rows() -> None:
    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    series = pd.Series(
        pd.arrays.ArrowExtensionArray(pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), 3))
    )
    np.testing.assert_array_equal(column_to_array(series, port=F32_ROW3, column="x"), values)


def test_nested_lists_reshape_to_port() -> None:
    port = PortInfo("image", "f32", (None, 2, 4))
    rows = [np.arange(8).reshape(2, 4).tolist(), (np.arange(8) + 8).reshape(2, 4).tolist()]
    series = pd.Series(rows, dtype=pd.ArrowDtype(pa.list_(pa.list_(pa.int64()))))
    result = column_to_array(series, port=port, column="img")
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, np.arange(16).reshape(2, 2, 4))


def test_flat_list_reshaped_to_static_row_shape() -> None:
    port = PortInfo("image", "f32", (None, 2, 4))
    series = pd.Series([list(range(8))] * 3, dtype=pd.ArrowDtype(pa.list_(pa.float64())))
    assert column_to_array(series, port=port, column="img").shape == (3, 2, 4)


def test_chunked_list_column() -> None:
    chunked = pa.chunked_array([pa.array([[1.0, 2.0, 3.0]]), pa.array([[4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])])
    series = pd.Series(pd.arrays.ArrowExtensionArray(chunked))
    np.testing.assert_array_equal(
        column_to_array(series, port=F32_ROW3, column="x"), np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    )


@pytest.mark.parametrize(
    ("series", "port", "message"),
    [
        (pd.Series([[1.0, 2.0, 3.0], [1.0, 2.0]], dtype=pd.ArrowDtype(pa.list_(pa.float32()))), F32_ROW3, r"ragged"),
        (
            pd.Series([[1.0, 2.0], [1.0, 2.0]], dtype=pd.ArrowDtype(pa.list_(pa.float32()))),
            F32_ROW3,
            r"needs 3 values per row",
        ),
        (pd.Series([[1.0, 2.0, 3.0], None], dtype=pd.ArrowDtype(pa.list_(pa.float32()))), F32_ROW3, r"1 null rows"),
        (pd.Series([[1.0, None, 3.0]], dtype=pd.ArrowDtype(pa.list_(pa.float32()))), F32_ROW3, r"null values inside"),
        (pd.Series(["a", "b"]), I32_SCALAR, r"needs numbers"),
        (pd.Series([1.5, 2.0]), I32_SCALAR, r"fractional values"),
        (pd.Series([1.0, np.nan]), I32_SCALAR, r"missing values"),
        (pd.Series([1, 2**40]), I32_SCALAR, r"outside the range"),
        (pd.Series([1, None], dtype="Int64"), I32_SCALAR, r"missing values"),
        (pd.Series([np.ones(3), np.ones(4)], dtype=object), F32_ROW3, r"ragged"),
        (pd.Series(pd.to_datetime(["2024-01-01"])), I32_SCALAR, r"needs numbers"),
    ],
    ids=[
        "ragged",
        "wrong-row-size",
        "null-row",
        "null-inside",
        "text",
        "fraction-into-int",
        "nan-into-int",
        "int-overflow",
        "nullable-int-missing",
        "ragged-objects",
        "datetime",
    ],
)
def test_bad_columns_raise_schema_errors(series: pd.Series, port: PortInfo, message: str) -> None:
    with pytest.raises(InputSchemaError, match=message) as info:
        column_to_array(series, port=port, column="the_column")
    assert "the_column" in str(info.value)


def test_nan_and_inf_pass_through_float_ports() -> None:
    port = PortInfo("x", "f32", (None, 1))
    result = column_to_array(pd.Series([np.nan, np.inf, -np.inf, 1.0]), port=port, column="x")
    assert np.isnan(result[0, 0]) and np.isposinf(result[1, 0]) and np.isneginf(result[2, 0])


def test_nullable_float_missing_becomes_nan_for_float_port() -> None:
    port = PortInfo("x", "f32", (None, 1))
    result = column_to_array(pd.Series([1.0, None], dtype="Float64"), port=port, column="x")
    assert result[0, 0] == 1.0 and np.isnan(result[1, 0])


@pytest.mark.parametrize("dtype", ["Int64", pd.ArrowDtype(pa.int64())], ids=["masked", "arrow"])
def test_a_missing_value_does_not_let_an_integer_the_float_port_rounds_pass(dtype: object) -> None:
    # Read as NaN, a missing value made the column float64 first, and 2**24 + 1 then went in as 2**24.
    port = PortInfo("x", "f32", (None,))
    exact = column_to_array(pd.Series([2**24, None, 5], dtype=dtype), port=port, column="x")
    assert exact.dtype == np.float32 and exact[0] == 2**24 and np.isnan(exact[1]) and exact[2] == 5
    for values in ([2**24 + 1, None, 5], [2**24 + 1, 2, 5]):
        with pytest.raises(
            InputValueError, match=r"integers that float32 cannot hold exactly \(first 16777217"
        ) as info:
            column_to_array(pd.Series(values, dtype=dtype), port=port, column="x")
        assert info.value.rows is not None and info.value.rows.tolist() == [True, False, False]
    f64 = PortInfo("x", "f64", (None,))
    with pytest.raises(InputValueError, match="integers that float64 cannot hold exactly"):  # was a raw ArrowInvalid
        column_to_array(pd.Series([2**53 + 1, None], dtype=dtype), port=f64, column="x")
    flags = column_to_array(pd.Series([True, None, False], dtype="boolean"), port=port, column="x")
    assert flags[0] == 1 and np.isnan(flags[1]) and flags[2] == 0


def test_float64_beyond_float32_range_raises() -> None:
    with pytest.raises(InputSchemaError, match="beyond the range"):
        to_port_dtype(np.array([1e300]), PortInfo("x", "f32", (None,)), source="column 'x'")


def test_whole_floats_and_bools_cast_to_int() -> None:
    np.testing.assert_array_equal(to_port_dtype(np.array([1.0, -2.0]), I32_SCALAR, source="x"), [1, -2])
    np.testing.assert_array_equal(to_port_dtype(np.array([True, False]), I32_SCALAR, source="x"), [1, 0])


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (pd.Index([7, 8], dtype="int64"), "row 8"),
        (pd.Index([0.5, 1.5], dtype="float32"), "row 1.5"),
        (pd.Index(["a", np.int64(8)], dtype=object), "row 8"),
        (pd.MultiIndex.from_arrays([np.array([1, 2], dtype="int64"), ["a", "b"]]), "row (2, 'b')"),
    ],
)
def test_row_label_names_rows_by_plain_labels(index: pd.Index, expected: str) -> None:
    # A MultiIndex's label was a tuple of numpy scalars: row (np.int64(2), 'b').
    assert row_label(index, 1) == expected


def test_output_dtypes() -> None:
    assert output_dtype(PortInfo("y", "f32", (None,))) == np.float32
    assert output_dtype(PortInfo("y", "i64", (None, 1))) == np.int64
    assert output_dtype(PortInfo("y", "f32", (None, 2, 5))) == pd.ArrowDtype(pa.list_(pa.float32(), 10))
    assert output_dtype(PortInfo("y", "f32", (None, None))) == pd.ArrowDtype(pa.list_(pa.float32()))


def test_array_to_series_roundtrip() -> None:
    index = pd.Index([5, 3, 9])
    values = np.arange(6, dtype=np.float32).reshape(3, 2)
    fixed = array_to_series(values, index, "y", output_dtype(PortInfo("y", "f32", (None, 2))))
    assert fixed.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    variable = array_to_series(values, index, "y", output_dtype(PortInfo("y", "f32", (None, None))))
    assert variable.dtype == pd.ArrowDtype(pa.list_(pa.float32()))
    assert variable.tolist() == fixed.tolist()
    pd.testing.assert_index_equal(variable.index, index)


def test_integer_port_end_to_end(int_xml: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
    result = dd.from_pandas(frame, npartitions=2).ov.predict(int_xml, inputs=["a", "b"]).compute()
    assert result["prediction"].dtype == pd.ArrowDtype(pa.list_(pa.int32(), 2))
    assert result["prediction"].tolist() == [[2, 8], [4, 10], [6, 12]]
    bad = dd.from_pandas(frame.assign(b=[4.0, np.nan, 6.0]), npartitions=2).ov.predict(int_xml, inputs=["a", "b"])
    with pytest.raises(InputSchemaError, match=r"column 'b' has 1 missing values"):
        bad.compute()


def test_unicode_and_long_column_names(score_xml: Path) -> None:
    long_name = "feature_" + "x" * 300
    frame = pd.DataFrame({"größe 📏": [1.0, 2.0], long_name: [0.0, 1.0], "温度": [3.0, 4.0]})
    result = dd.from_pandas(frame, npartitions=2).ov.predict(score_xml, inputs=list(frame.columns)).compute()
    np.testing.assert_allclose(result["prediction"].to_numpy(), [10.0, 16.0], rtol=1e-2)
    with pytest.raises(InputSchemaError, match="größe"):
        frame.ov.predict(score_xml, inputs=["größe", long_name, "温度"])


def test_string_column_from_dask_gets_arrow_hint(score_xml: Path) -> None:
    frame = pd.DataFrame({"x": pd.Series([np.ones(3, np.float32)] * 4, dtype=object)})
    ddf = dd.from_pandas(frame, npartitions=2)
    with pytest.raises(InputSchemaError, match=r"pyarrow list column"):
        ddf.ov.predict(score_xml)
    # The same object column works on a pandas DataFrame.
    assert frame.ov.predict(score_xml)["prediction"].tolist() == pytest.approx([6.0] * 4, rel=1e-2)


def test_a_text_column_of_numbers_is_told_to_clean_its_cells_not_to_store_tensors(
    score_xml: Path, tmp_path: Path
) -> None:
    # A CSV column with one cell that is not a number is read as text.
    frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0], "b": ["3", "6?"], "c": [0.5, 1.5]}), npartitions=1)
    one_value = model_factory.identity(tmp_path / "identity.xml", [-1])
    for model, inputs in ((score_xml, ["a", "b", "c"]), (one_value, "b")):
        with pytest.raises(InputSchemaError, match="column 'b' has dtype str") as info:
            frame.ov.predict(model, inputs=inputs)
        assert "some cells are not numbers: clean them, or cast the column" in str(info.value)
        assert "pyarrow list column" not in str(info.value)
    with pytest.raises(InputSchemaError, match="store tensors as a pyarrow list column"):  # one column, 3 values a row
        frame.ov.predict(score_xml, inputs="b")


def test_pyarrow_backed_numeric_columns() -> None:
    port = PortInfo("x", "f32", (None, 1))
    with_null = pd.Series([1.0, None, 3.0], dtype=pd.ArrowDtype(pa.float64()))
    result = column_to_array(with_null, port=port, column="x")
    assert result[0, 0] == 1.0 and np.isnan(result[1, 0]) and result[2, 0] == 3.0
    with pytest.raises(InputSchemaError, match=r"column 'ids' has 1 missing values"):
        column_to_array(pd.Series([1, None], dtype=pd.ArrowDtype(pa.int64())), port=I32_SCALAR, column="ids")
    ints = pd.Series([1, 2], dtype=pd.ArrowDtype(pa.int64()))
    np.testing.assert_array_equal(column_to_array(ints, port=I32_SCALAR, column="ids"), [[1], [2]])


def test_stacking_mixed_and_shared_dtypes_agree() -> None:
    port = PortInfo("x", "f32", (None, 3))
    shared = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": [5.0, 6.0]})
    mixed = shared.astype({"b": pd.ArrowDtype(pa.float32()), "c": "int64"})
    expected = np.array([[1, 3, 5], [2, 4, 6]], np.float32)
    np.testing.assert_array_equal(stack_columns(shared, ("a", "b", "c"), port), expected)
    np.testing.assert_array_equal(stack_columns(mixed, ("a", "b", "c"), port), expected)
    overflow = pd.DataFrame({"a": [1, 2], "b": [3, 2**40]})
    with pytest.raises(InputSchemaError, match=r"column 'b' holds values in"):
        stack_columns(overflow, ("a", "b"), PortInfo("ids", "i32", (None, 2)))


@pytest.mark.parametrize("arrow", [False, True])
def test_stacked_columns_follow_the_inputs_order_whatever_the_frames(arrow: bool) -> None:
    port = PortInfo("x", "f32", (None, 3))
    exact = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": [5.0, 6.0]})
    if arrow:
        exact = exact.astype(pd.ArrowDtype(pa.float32()))
    expected = np.array([[1, 3, 5], [2, 4, 6]], np.float32)
    # The frame of exactly the inputs' columns is read as it is; reordered or wider frames are selected from.
    np.testing.assert_array_equal(stack_columns(exact, ("a", "b", "c"), port), expected)
    np.testing.assert_array_equal(stack_columns(exact[["c", "a", "b"]], ("a", "b", "c"), port), expected)
    np.testing.assert_array_equal(stack_columns(exact, ("c", "b", "a"), port), expected[:, ::-1])
    wider = exact.assign(id=[7.0, 8.0])[["id", "a", "b", "c"]]
    np.testing.assert_array_equal(stack_columns(wider, ("a", "b", "c"), port), expected)
    np.testing.assert_array_equal(stack_columns(exact, ("a", "b"), PortInfo("x", "f32", (None, 2))), expected[:, :2])


def test_null_rows_keeps_dtypes_and_index_and_nulls_the_failed_rows() -> None:
    failed = np.array([False, True, False])
    index = pd.Index(["a", "a", "b"])  # duplicate labels are fine: nulling is positional
    floats = null_rows(pd.Series([1.5, 9.0, 2.5], dtype=np.float32, index=index), failed)
    assert floats.dtype == np.float32 and floats.isna().tolist() == [False, True, False]
    labels = null_rows(pd.Series(["x", "?", "y"], dtype=pd.ArrowDtype(pa.string()), index=index), failed)
    assert labels.tolist()[0::2] == ["x", "y"] and labels.isna().tolist() == [False, True, False]
    lists = TopK(2).apply(
        np.array([[1.0, 2.0], [0.0, 0.0], [4.0, 3.0]], np.float32), PortInfo("p", "f32", (None, 2)), "p"
    )
    filled = null_rows(lists["label"].set_axis(index), failed)
    assert filled.dtype == lists["label"].dtype and filled.isna().tolist() == [False, True, False]
    assert list(filled.index) == ["a", "a", "b"]


def test_arrow_float_columns_stack_as_one_block_with_nulls_as_nan() -> None:
    port = PortInfo("x", "f32", (None, 2))
    frame = pd.DataFrame(
        {
            "a": pd.Series([1.0, None, 3.0], dtype=pd.ArrowDtype(pa.float64())),
            "b": pd.Series([4.0, 5.0, None], dtype=pd.ArrowDtype(pa.float64())),
        }
    )
    stacked = stack_columns(frame, ("a", "b"), port)
    assert stacked.dtype == np.float32 and stacked.shape == (3, 2)
    np.testing.assert_array_equal(stacked, [[1, 4], [np.nan, 5], [3, np.nan]])
    with pytest.raises(InputSchemaError, match=r"column 'a' has 1 missing values"):
        stack_columns(frame, ("a", "b"), PortInfo("ids", "i32", (None, 2)))
    too_large = frame.fillna(0).astype({"b": pd.ArrowDtype(pa.float64())})
    too_large.loc[0, "b"] = 1e300
    with pytest.raises(InputSchemaError, match=r"column 'b' holds values beyond the range of float32"):
        stack_columns(too_large, ("a", "b"), port)


def test_a_list_output_beyond_32_bit_offsets_is_an_error_not_wrapped_offsets() -> None:
    # Offsets were int32 arithmetic: they wrapped to negative values and Arrow raised ArrowInvalid.
    values = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(3, 2**30), strides=(0, 0))
    with pytest.raises(InferenceError, match=r"3 rows x 1073741824 values is more than one list column can hold"):
        arrow_lists(values, pa.list_(pa.uint8()))
