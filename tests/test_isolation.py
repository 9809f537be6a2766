"""errors="null": failing rows cost inferences, not compiles, and rows with bad values are nulled, not fatal."""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import model_factory
from dask_openvino import InputSchemaError, ModelSpec, get_engine


def _ids_with_failures(n_rows: int, n_bad: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ids = np.arange(n_rows) % 10
    bad = np.sort(np.random.default_rng(seed).choice(n_rows, n_bad, replace=False))
    ids[bad] = 10 + bad % 50  # outside [0, 10): one_hot's GatherElements raises
    return ids.astype(np.int32), bad


def test_400_failing_rows_of_10000_cost_no_compile_per_row(one_hot_xml: Path) -> None:
    ids, bad = _ids_with_failures(10_000, 400)
    frame = pd.DataFrame({"ids": ids})
    out = dd.from_pandas(frame, npartitions=1).ov.predict(one_hot_xml, inputs="ids", errors="null").compute()
    failed = np.flatnonzero(out["prediction_error"].notna().to_numpy())
    np.testing.assert_array_equal(failed, bad)
    assert out["prediction_error"].iloc[bad].str.contains("GatherElements").all()
    good = np.setdiff1d(np.arange(10_000), bad)
    np.testing.assert_array_equal(np.stack(out["prediction"].to_numpy()[good]).argmax(axis=1), ids[good])
    # One recompile of the pipeline's model, one single-stream compile to isolate on.
    engine = get_engine(ModelSpec.from_path(one_hot_xml))
    assert engine.recompiles <= 2, f"{engine.recompiles} compiles for 400 failing rows"


def test_isolation_is_exact_over_many_failing_calls(one_hot_xml: Path) -> None:
    # The CPU plugin returns stale results after a failure to an inference whose shapes equal
    # the last good one's; varied batch sizes over many calls meet that state often.
    engine = get_engine(ModelSpec.from_path(one_hot_xml))
    rng = np.random.default_rng(1)
    for call in range(30):
        n_rows = int(rng.integers(1, 60))
        ids, bad = _ids_with_failures(n_rows, int(rng.integers(0, n_rows // 3 + 1)), seed=call)
        outputs, failures = engine.run_chunks(
            [(slice(0, n_rows), {"ids": ids.reshape(-1, 1)})], n_rows, batch_size=int(rng.integers(1, 9)), isolate=True
        )
        assert sorted(failures) == bad.tolist()
        good = np.setdiff1d(np.arange(n_rows), bad)
        np.testing.assert_array_equal(outputs["onehot"][good].argmax(axis=1), ids[good])
    assert engine.recompiles <= 31  # at most one per failing call, plus the isolation model


def test_a_null_list_row_is_nulled_and_the_rest_scored(linear_xml: Path) -> None:
    rows = [[1.0, 2.0, 3.0], None, [0.5, 0.5, 0.5], [1.0, 2.0]]
    frame = pd.DataFrame({"x": pd.Series(rows, index=[7, 8, 9, 10], dtype=pd.ArrowDtype(pa.list_(pa.float32())))})
    with pytest.raises(InputSchemaError, match=r"null rows"):
        frame.ov.predict(linear_xml, inputs="x")
    out = dd.from_pandas(frame, npartitions=2).ov.predict(linear_xml, inputs="x", errors="null").compute()
    errors = out["prediction_error"]
    assert errors.notna().tolist() == [False, True, False, True]
    assert "column 'x' is null in this row" in errors.loc[8] and "3 values" in errors.loc[10]
    assert out["prediction"].isna().tolist() == [False, True, False, True]
    expected = np.array([[1.0, 2.0, 3.0]], np.float32) @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS
    np.testing.assert_allclose(out["prediction"].loc[7], expected[0], rtol=1e-6)


def test_a_missing_row_of_an_object_column_of_arrays_is_nulled_like_a_null_list_row(linear_xml: Path) -> None:
    # pandas users hold arrays in object columns; a None row read as ragged and failed the whole partition.
    rows = [np.array([1.0, 2.0, 3.0]), None, np.array([0.5, 0.5, 0.5])]
    frame = pd.DataFrame({"x": pd.Series(rows, index=[7, 8, 9], dtype=object)})
    with pytest.raises(InputSchemaError, match=r"column 'x' has 1 null rows \(first: row 8"):
        frame.ov.predict(linear_xml, inputs="x")
    out = frame.ov.predict(linear_xml, inputs="x", errors="null")
    assert out["prediction_error"].notna().tolist() == [False, True, False]
    assert "column 'x' is null in this row" in out["prediction_error"].loc[8]
    expected = np.array([[1.0, 2.0, 3.0]], np.float32) @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS
    np.testing.assert_allclose(out["prediction"].loc[7], expected[0], rtol=1e-6)


def test_na_into_an_integer_input_and_out_of_range_values_are_nulled(one_hot_xml: Path) -> None:
    frame = pd.DataFrame({"ids": pd.Series([1, None, 3, 2**40, 12], index=list("abcde"), dtype="Int64")})
    out = dd.from_pandas(frame, npartitions=1).ov.predict(one_hot_xml, inputs="ids", errors="null").compute()
    errors = out["prediction_error"]
    assert errors.notna().tolist() == [False, True, False, True, True]
    assert "missing" in errors.loc["b"]
    assert "outside the range" in errors.loc["d"]
    assert "GatherElements" in errors.loc["e"]  # a value the input takes, but the model fails on
    scored = np.stack(out["prediction"].loc[["a", "c"]].to_numpy())
    np.testing.assert_array_equal(scored.argmax(axis=1), [1, 3])
