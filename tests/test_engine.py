from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import dask_openvino.plan
import model_factory
from dask_openvino import InputSchemaError, ModelSpec, get_engine
from dask_openvino.columns import stack_columns
from dask_openvino.engine import default_batch_size, default_compile_config
from dask_openvino.spec import PortInfo


def test_default_config_is_float32_throughput_outside_workers() -> None:
    assert default_compile_config("CPU") == {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
    assert default_compile_config("GPU") == {"PERFORMANCE_HINT": "THROUGHPUT"}


def test_results_are_float32_exact_by_default(linear_xml: Path) -> None:
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    y = get_engine(ModelSpec.from_path(linear_xml)).run({"x": x})["y"]
    expected = x.astype(np.float64) @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_user_config_overrides_defaults(linear_xml: Path) -> None:
    spec = ModelSpec.from_path(linear_xml, config={"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"})
    compiled = get_engine(spec).compiled
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"


def test_default_batch_size() -> None:
    assert default_batch_size((PortInfo("x", "f32", (8, 3)),)) == 8
    assert default_batch_size((PortInfo("x", "f32", (None, 64)),)) == 4096
    tokens = (PortInfo("input_ids", "i64", (None, 128)), PortInfo("attention_mask", "i64", (None, 128)))
    assert default_batch_size(tokens) == 128
    assert default_batch_size((PortInfo("x", "f32", (None, 3, 224, 224)),)) == 1


def test_feeds_are_checked(linear_xml: Path) -> None:
    engine = get_engine(ModelSpec.from_path(linear_xml))
    with pytest.raises(InputSchemaError, match=r"missing \['x'\]; unknown \['z'\]"):
        engine.run({"z": np.ones((2, 3), np.float32)})
    with pytest.raises(InputSchemaError, match=r"expects dimension 1 = 3"):
        engine.run({"x": np.ones((2, 4), np.float32)})
    with pytest.raises(InputSchemaError, match=r"expects rank 2"):
        engine.run({"x": np.ones((2, 3, 1), np.float32)})
    assert engine.run({"x": np.ones((0, 3), np.float32)})["y"].shape == (0, 2)


def _expected(x: np.ndarray) -> np.ndarray:
    return x @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS


@pytest.mark.parametrize("static", [False, True])
def test_chunks_of_any_size_give_the_result_of_one_call(linear_xml: Path, static8_xml: Path, static: bool) -> None:
    engine = get_engine(ModelSpec.from_path(static8_xml if static else linear_xml))
    x = np.random.default_rng(0).random((53, 3), dtype=np.float32)
    bounds = [0, 5, 21, 22, 40, 53]  # chunks of 5, 16, 1, 18, 13 rows: none a whole number of batches of 8
    taken: list[int] = []

    def chunks() -> Iterator[dict[str, np.ndarray]]:
        for start, stop in itertools.pairwise(bounds):
            taken.append(start)
            yield {"x": x[start:stop]}

    result = engine.run_chunks(chunks(), len(x), batch_size=8)["y"]
    np.testing.assert_allclose(result, engine.run({"x": x}, batch_size=8)["y"], rtol=0, atol=0)
    np.testing.assert_allclose(result, _expected(x), rtol=1e-5, atol=1e-5)
    assert taken == bounds[:-1]
    assert engine.request_count == engine.requests_per_call  # every borrowed request came back


def test_chunks_must_hold_the_announced_rows(linear_xml: Path) -> None:
    engine = get_engine(ModelSpec.from_path(linear_xml))
    x = np.ones((10, 3), np.float32)
    with pytest.raises(ValueError, match=r"the chunks hold 10 rows, not the 12 announced"):
        engine.run_chunks([{"x": x}], 12)
    with pytest.raises(InputSchemaError, match=r"expects dimension 1 = 3"):
        engine.run_chunks([{"x": x}, {"x": np.ones((2, 4), np.float32)}], 12)
    assert engine.run_chunks([{"x": x[:0]}], 0)["y"].shape == (0, 2)
    with pytest.raises(ValueError, match=r"the chunks hold 10 rows, not the 0 announced"):
        engine.run_chunks([{"x": x}], 0)


def test_non_contiguous_inputs_give_the_results_of_contiguous_ones(linear_xml: Path, static8_xml: Path) -> None:
    x = np.random.default_rng(1).random((29, 3), dtype=np.float32)
    for xml in (linear_xml, static8_xml):
        engine = get_engine(ModelSpec.from_path(xml))
        expected = engine.run({"x": x}, batch_size=8)["y"]
        for layout in (np.asfortranarray(x), x.T.copy().T, np.repeat(x, 2, axis=0)[::2]):
            assert not layout.flags.c_contiguous
            np.testing.assert_array_equal(engine.run({"x": layout}, batch_size=8)["y"], expected)


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


@pytest.mark.parametrize("errors", ["raise", "null"])
def test_partition_scored_in_several_chunks(monkeypatch: pytest.MonkeyPatch, linear_xml: Path, errors: str) -> None:
    monkeypatch.setattr(dask_openvino.plan, "CHUNK_BYTES", 12 * 7 * 4)  # chunks of 28 rows (4 batches of 7)
    x = np.random.default_rng(2).random((101, 3), dtype=np.float32)
    frame = pd.DataFrame(x, columns=["a", "b", "c"], index=pd.RangeIndex(500, 601))
    frame = frame.astype(pd.ArrowDtype(pa.float32()))
    result = frame.ov.predict(linear_xml, inputs=["a", "b", "c"], batch_size=7, errors=errors)  # type: ignore[arg-type]
    values = np.stack(result["prediction"].to_numpy())
    np.testing.assert_allclose(values, _expected(x), rtol=1e-5, atol=1e-5)
    assert result.index.equals(frame.index)
