from __future__ import annotations

import threading
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
import pyarrow as pa
import pytest

import dask_openvino
import model_factory
from dask_openvino import InputSchemaError, ModelSpec


def direct(xml: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference: the compiled model called once on the whole arrays."""
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(feeds)
    return {port.get_any_name(): result[port] for port in compiled.outputs}


def list_column(values: np.ndarray) -> pd.Series:
    flat = pa.array(values.reshape(-1))
    size = int(np.prod(values.shape[1:]))
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.FixedSizeListArray.from_arrays(flat, size)))


def as_matrix(series: pd.Series) -> np.ndarray:
    arrow = pa.chunked_array(series.array.__arrow_array__()).combine_chunks()
    width = series.dtype.pyarrow_dtype.list_size
    return arrow.flatten().to_numpy().reshape(len(series), width)


@pytest.fixture
def features() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(103, 3)).astype(np.float32), columns=["f0", "f1", "f2"])
    frame.index = pd.RangeIndex(1000, 1103) * 3  # a non-default index must survive
    frame["label"] = rng.integers(0, 5, size=len(frame))
    return frame


def test_predict_matches_direct_call_on_four_partitions(score_xml: Path, features: pd.DataFrame) -> None:
    ddf = dd.from_pandas(features, npartitions=4)
    out = ddf.ov.predict(score_xml, inputs=["f0", "f1", "f2"])
    result = out.compute()
    expected = direct(score_xml, {"x": features[["f0", "f1", "f2"]].to_numpy()})["score"]
    assert np.abs(result["prediction"].to_numpy() - expected).max() < 1e-6
    pd.testing.assert_index_equal(result.index, features.index)
    pd.testing.assert_frame_equal(result[features.columns], features)
    assert dict(result.dtypes) == dict(out._meta.dtypes)
    assert result["prediction"].dtype == np.float32
    assert out.npartitions == 4
    assert out.divisions == ddf.divisions


def test_vector_output_is_fixed_size_list(linear_xml: Path, features: pd.DataFrame) -> None:
    ddf = dd.from_pandas(features, npartitions=3)
    out = ddf.ov.predict(linear_xml, inputs=["f0", "f1", "f2"], keep_input=False)
    result = out.compute()
    assert list(result.columns) == ["prediction"]
    assert result["prediction"].dtype == pd.ArrowDtype(pa.list_(pa.float32(), 2))
    assert dict(result.dtypes) == dict(out._meta.dtypes)
    expected = features[["f0", "f1", "f2"]].to_numpy() @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS
    np.testing.assert_allclose(as_matrix(result["prediction"]), expected, rtol=1e-2, atol=1e-2)
    ref = direct(linear_xml, {"x": features[["f0", "f1", "f2"]].to_numpy()})["y"]
    assert np.abs(as_matrix(result["prediction"]) - ref).max() < 1e-6


def test_pandas_accessor_is_eager_and_equal(score_xml: Path, features: pd.DataFrame) -> None:
    result = features.ov.predict(score_xml, inputs=["f0", "f1", "f2"])
    assert isinstance(result, pd.DataFrame)
    lazy = dd.from_pandas(features, npartitions=5).ov.predict(score_xml, inputs=["f0", "f1", "f2"]).compute()
    pd.testing.assert_frame_equal(result, lazy)


def test_graph_building_compiles_nothing(score_xml: Path, features: pd.DataFrame) -> None:
    out = dd.from_pandas(features, npartitions=4).ov.predict(score_xml, inputs=["f0", "f1", "f2"])
    assert len(out.__dask_graph__()) >= 4
    assert dask_openvino.cache_info().compiles == 0
    out.compute()
    assert dask_openvino.cache_info().compiles == 1


def test_graph_carries_spec_not_weights(model_dir: Path, features: pd.DataFrame) -> None:
    big = model_factory.linear(model_dir / "wide.xml", features=3)
    out = dd.from_pandas(features, npartitions=2).ov.predict(big, inputs=["f0", "f1", "f2"])
    import pickle

    graph = dict(out.__dask_graph__())
    payload = pickle.dumps(graph)
    assert model_factory.LINEAR_WEIGHTS.tobytes() not in payload
    assert str(big).encode() in payload


def test_multi_input_multi_output_with_list_column(multi_io_xml: Path) -> None:
    rng = np.random.default_rng(1)
    image = rng.normal(size=(37, 2, 4)).astype(np.float32)
    bias = rng.normal(size=(37, 3)).astype(np.float32)
    frame = pd.DataFrame({"b0": bias[:, 0], "b1": bias[:, 1], "b2": bias[:, 2]})
    frame["pixels"] = list_column(image)
    ddf = dd.from_pandas(frame, npartitions=4)
    out = ddf.ov.predict(multi_io_xml, inputs={"image": "pixels", "bias": ["b0", "b1", "b2"]})
    result = out.compute()
    ref = direct(multi_io_xml, {"image": image, "bias": bias})
    assert list(result.columns) == [*frame.columns, "total", "logits"]
    assert result["total"].dtype == np.float32
    assert result["logits"].dtype == pd.ArrowDtype(pa.list_(pa.float32(), 10))
    assert dict(result.dtypes) == dict(out._meta.dtypes)
    assert np.abs(result["total"].to_numpy() - ref["total"][:, 0]).max() < 1e-5
    assert np.abs(as_matrix(result["logits"]) - ref["logits"]).max() < 1e-5


def test_variable_list_and_object_columns(multi_io_xml: Path) -> None:
    rng = np.random.default_rng(2)
    image = rng.normal(size=(9, 2, 4)).astype(np.float32)
    bias = rng.normal(size=(9, 3)).astype(np.float64)
    frame = pd.DataFrame(
        {
            "pixels": pd.Series(list(image.reshape(9, 8)), dtype=pd.ArrowDtype(pa.list_(pa.float32()))),
            "bias": pd.Series(list(bias), dtype=object),
        }
    )
    result = frame.ov.predict(multi_io_xml, inputs=["pixels", "bias"], output_names={"logits": "scores"})
    ref = direct(multi_io_xml, {"image": image, "bias": bias.astype(np.float32)})
    assert np.abs(as_matrix(result["scores"]) - ref["logits"]).max() < 1e-5
    assert list(result.columns) == ["pixels", "bias", "total", "scores"]


@pytest.mark.parametrize("sizes", [[1, 7, 8, 9, 0], [0], [8, 8], [17]])
def test_static_batch_pads_and_slices(static8_xml: Path, sizes: list[int]) -> None:
    rng = np.random.default_rng(3)
    parts = [pd.DataFrame(rng.normal(size=(n, 3)).astype(np.float32), columns=["a", "b", "c"]) for n in sizes]
    offset = 0
    for part in parts:
        part.index = pd.RangeIndex(offset, offset + len(part))
        offset += len(part)
    ddf = dd.from_delayed([dask.delayed(p) for p in parts], meta=parts[0].iloc[:0], verify_meta=True)
    result = ddf.ov.predict(static8_xml, inputs=["a", "b", "c"]).compute()
    whole = pd.concat(parts)
    assert len(result) == sum(sizes)
    pd.testing.assert_index_equal(result.index, whole.index)
    x = whole.to_numpy()
    expected = x @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS
    np.testing.assert_allclose(as_matrix(result["prediction"]).reshape(-1, 2), expected.reshape(-1, 2), atol=5e-2)


def test_static_batch_matches_dynamic_model(static8_xml: Path, linear_xml: Path, features: pd.DataFrame) -> None:
    cols = ["f0", "f1", "f2"]
    static = features.ov.predict(static8_xml, inputs=cols, keep_input=False)
    dynamic = features.ov.predict(linear_xml, inputs=cols, keep_input=False, batch_size=8)
    assert np.abs(as_matrix(static["prediction"]) - as_matrix(dynamic["prediction"])).max() < 1e-6


def test_batch_size_reshapes_static_model(static8_xml: Path, features: pd.DataFrame) -> None:
    cols = ["f0", "f1", "f2"]
    base = features.ov.predict(static8_xml, inputs=cols, keep_input=False)
    reshaped = features.ov.predict(static8_xml, inputs=cols, keep_input=False, batch_size=5)
    np.testing.assert_allclose(as_matrix(reshaped["prediction"]), as_matrix(base["prediction"]), atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 3, 64, 1000])
def test_batch_size_does_not_change_results(score_xml: Path, features: pd.DataFrame, batch_size: int) -> None:
    cols = ["f0", "f1", "f2"]
    result = features.ov.predict(score_xml, inputs=cols, batch_size=batch_size)
    expected = direct(score_xml, {"x": features[cols].to_numpy()})["score"]
    assert np.abs(result["prediction"].to_numpy() - expected).max() < 1e-6


def test_empty_frame_returns_typed_empty_result(linear_xml: Path, features: pd.DataFrame) -> None:
    empty = features.iloc[:0]
    result = empty.ov.predict(linear_xml, inputs=["f0", "f1", "f2"])
    assert len(result) == 0
    assert result["prediction"].dtype == pd.ArrowDtype(pa.list_(pa.float32(), 2))
    assert dask_openvino.cache_info().compiles == 0


def test_input_names_default_to_columns(score_xml: Path) -> None:
    frame = pd.DataFrame(
        {"x": pd.Series([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]], dtype=pd.ArrowDtype(pa.list_(pa.float64())))}
    )
    result = frame.ov.predict(score_xml)
    np.testing.assert_allclose(result["prediction"].to_numpy(), [14.0, 3.0], rtol=1e-2)


def test_model_spec_and_describe(score_xml: Path, features: pd.DataFrame) -> None:
    spec = ModelSpec.from_path(score_xml, config={"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1})
    description = spec.describe()
    assert [p.name for p in description.inputs] == ["x"]
    assert description.inputs[0].shape == (None, 3)
    assert description.outputs[0].shape == (None,)
    assert str(description) == "inputs:\n  x: f32[?,3]\noutputs:\n  score: f32[?]"
    assert dask_openvino.cache_info().compiles == 0
    result = dd.from_pandas(features, npartitions=2).ov.predict(spec, inputs=["f0", "f1", "f2"]).compute()
    assert len(result) == len(features)
    engine = dask_openvino.get_engine(spec)
    assert str(engine.compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"
    assert int(engine.compiled.get_property("INFERENCE_NUM_THREADS")) == 1


def test_processes_scheduler(score_xml: Path, features: pd.DataFrame) -> None:
    out = dd.from_pandas(features, npartitions=3).ov.predict(score_xml, inputs=["f0", "f1", "f2"])
    threaded = out.compute(scheduler="threads")
    processes = out.compute(scheduler="processes", num_workers=2)
    pd.testing.assert_frame_equal(threaded, processes)


def test_four_threads_share_one_compiled_model(score_xml: Path, features: pd.DataFrame) -> None:
    cols = ["f0", "f1", "f2"]
    expected = direct(score_xml, {"x": features[cols].to_numpy()})["score"]
    out = dd.from_pandas(features, npartitions=16).ov.predict(score_xml, inputs=cols, batch_size=4)
    for _ in range(10):
        result = out.compute(scheduler="threads", num_workers=4)
        assert np.abs(result["prediction"].to_numpy() - expected).max() < 1e-6
    assert dask_openvino.cache_info().compiles == 1


def test_concurrent_first_calls_compile_once(score_xml: Path, features: pd.DataFrame) -> None:
    spec = ModelSpec.from_path(score_xml)
    cols = ["f0", "f1", "f2"]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                features.ov.predict(spec, inputs=cols)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "inference threads hung"
    assert not errors
    assert dask_openvino.cache_info().compiles == 1


def test_schema_errors_at_graph_build_time(linear_xml: Path, features: pd.DataFrame) -> None:
    ddf = dd.from_pandas(features, npartitions=2)
    with pytest.raises(InputSchemaError, match=r"column 'nope' .* not in the DataFrame"):
        ddf.ov.predict(linear_xml, inputs=["f0", "nope", "f2"])
    with pytest.raises(InputSchemaError, match=r"needs 3 values per row .* stacks 2 columns"):
        ddf.ov.predict(linear_xml, inputs=["f0", "f1"])
    with pytest.raises(InputSchemaError, match=r"output column 'f0' already exists"):
        ddf.ov.predict(linear_xml, inputs=["f0", "f1", "f2"], output_names="f0")
    with pytest.raises(InputSchemaError, match=r"batch_size must be a positive integer"):
        ddf.ov.predict(linear_xml, inputs=["f0", "f1", "f2"], batch_size=0)
    text = ddf.assign(name="row")
    with pytest.raises(InputSchemaError, match=r"column 'name' has dtype .*pyarrow list column"):
        text.ov.predict(linear_xml, inputs={"x": "name"})
    assert dask_openvino.cache_info().compiles == 0


def test_accessor_reads_meta_after_in_place_assignment(score_xml: Path, features: pd.DataFrame) -> None:
    ddf = dd.from_pandas(features[["f0", "f1"]], npartitions=2)
    accessor = ddf.ov
    ddf["f2"] = dd.from_pandas(features["f2"], npartitions=2)
    result = accessor.predict(score_xml, inputs=["f0", "f1", "f2"]).compute()
    assert result["prediction"].notna().all()


def test_inputs_take_any_list_like_of_column_names(score_xml: Path) -> None:
    frame = pd.DataFrame(np.random.default_rng(3).random((6, 3), dtype=np.float32), columns=["a", "b", "c"])
    ddf = dd.from_pandas(frame, npartitions=2)
    expected = ddf.ov.predict(score_xml, inputs=["a", "b", "c"]).compute()
    for inputs in (ddf.columns[:3], np.array(["a", "b", "c"]), ("a", "b", "c")):
        pd.testing.assert_frame_equal(ddf.ov.predict(score_xml, inputs=inputs).compute(), expected)


def test_duplicate_input_columns_are_named(score_xml: Path) -> None:
    frame = pd.DataFrame(np.ones((2, 3), np.float32), columns=["a", "a", "b"])
    with pytest.raises(InputSchemaError, match=r"column 'a' \(for model input x: f32\[\?,3\]\) appears 2 times"):
        frame.ov.predict(score_xml, inputs=["a", "a", "b"])


def test_out_of_range_column_names_the_whole_input(score_xml: Path) -> None:
    frame = pd.DataFrame({"a": [1e300, 1.0], "b": np.ones(2, np.float32), "c": np.ones(2, np.float32)})
    with pytest.raises(
        InputSchemaError, match=r"column 'a' holds values beyond the range of float32 .* x: f32\[\?,3\]"
    ):
        frame.ov.predict(score_xml, inputs=["a", "b", "c"])


def test_a_stacked_object_column_is_named_for_its_dtype_not_called_a_tensor(score_xml: Path) -> None:
    # An object column of plain floats (a CSV read without dtypes, a column built from a list of
    # Python floats) cannot be stacked as it is; the message says why and what to do.
    frame = pd.DataFrame({"f0": [1.0, 2.0], "f1": pd.Series([3.0, 4.0], dtype=object), "f2": [5.0, 6.0]})
    with pytest.raises(InputSchemaError, match=r"'f1' has dtype object.*astype\('float64'\)") as caught:
        frame.ov.predict(score_xml, inputs=["f0", "f1", "f2"])
    assert "tensor" not in str(caught.value)
