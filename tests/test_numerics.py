"""Numbers are never silently changed: lossy casts and values the device computes in a narrower type raise."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
import pytest
from openvino import opset13 as ops

import model_factory
from dask_openvino import InputSchemaError, InputValueError, ModelSpec, UnsupportedElementTypeError, get_engine
from dask_openvino.partition import CHUNK_BYTES

ISSUE_VALUES = [1_700_000_000_000_000_000, 2**31, 2**62 + 1, 7]


def _sum_model(path: Path, element_type: str) -> Path:
    """``total = a + b`` on two ``[?]`` inputs of ``element_type``."""
    kind = getattr(ov.Type, element_type)
    a, b = ops.parameter([-1], kind, name="a"), ops.parameter([-1], kind, name="b")
    total = ops.add(a, b).output(0)
    total.get_tensor().set_names({"total"})
    return model_factory.save(ov.Model([total], [a, b], "sum"), path)


@pytest.fixture(scope="module")
def i64_sum_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sum_model(tmp_path_factory.mktemp("numerics") / "sum_i64.xml", "i64")


def test_int64_values_the_cpu_would_compute_in_32_bits_raise(i64_sum_xml: Path) -> None:
    # The CPU plugin computes i64 inputs in i32: these values came back wrapped, with no error.
    frame = pd.DataFrame({"a": ISSUE_VALUES, "b": [0, 0, 0, 3]}, index=pd.Index([10, 11, 12, 13], name="id"))
    ddf = dd.from_pandas(frame, npartitions=1)
    with pytest.raises(InputValueError) as info:
        ddf.ov.predict(i64_sum_xml, inputs={"a": "a", "b": "b"}).compute()
    message = str(info.value)
    assert "column 'a'" in message and "a: i64[?]" in message
    assert "[-2147483648, 2147483647]" in message and "i32" in message
    assert "first 1700000000000000000, at row 10" in message
    within = pd.DataFrame({"a": [2**31 - 1, -(2**31), 5], "b": [0, 0, -5]})
    out = within.ov.predict(i64_sum_xml, inputs={"a": "a", "b": "b"}, keep_input=False)
    assert out["prediction"].tolist() == [2**31 - 1, -(2**31), 0]


def test_the_engine_reads_the_narrower_type_from_the_compiled_model(i64_sum_xml: Path, tmp_path: Path) -> None:
    engine = get_engine(ModelSpec.from_path(i64_sum_xml))
    assert engine.computed == {"a": "i32", "b": "i32"}
    with pytest.raises(InputValueError, match=r"input 'b' holds values in \[0, 2147483648\]"):
        engine.run({"a": np.zeros(2, np.int64), "b": np.array([0, 2**31])})
    u32 = get_engine(ModelSpec.from_path(_sum_model(tmp_path / "sum_u32.xml", "u32")))
    assert u32.computed == {"a": "i32", "b": "i32"}
    with pytest.raises(InputValueError, match=r"outside the range \[0, 2147483647\] of i32"):
        u32.run({"a": np.array([3_000_000_000], np.uint32), "b": np.zeros(1, np.uint32)})


@pytest.fixture(scope="module")
def f32_identity_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_factory.identity(tmp_path_factory.mktemp("numerics") / "identity_f32.xml", [-1], "f32")


def test_an_integer_that_float32_would_round_raises(f32_identity_xml: Path) -> None:
    values = [1, -(2**24), 2**24, 2**30, 3 * 2**40]  # beyond 2**24, multiples of a power of two are exact
    out = pd.DataFrame({"n": values}).ov.predict(f32_identity_xml, inputs="n", keep_input=False)
    assert out["prediction"].astype("int64").tolist() == values
    frame = pd.DataFrame({"n": [1, 16_777_216, 16_777_217]}, index=pd.Index(["x", "y", "z"]))
    with pytest.raises(InputValueError, match=r"column 'n' holds integers that float32 cannot hold exactly .*'z'"):
        dd.from_pandas(frame, npartitions=1).ov.predict(f32_identity_xml, inputs="n").compute()


def test_a_float_beyond_int64_into_an_int64_input_raises(tmp_path: Path) -> None:
    xml = model_factory.identity(tmp_path / "identity_i64.xml", [-1], "i64")
    frame = pd.DataFrame({"v": [1.0, 2.0**63]})
    with pytest.raises(InputValueError, match=r"column 'v' holds .*first 9.223372036854776e\+18, at row 1"):
        frame.ov.predict(xml, inputs="v")


def test_float64_input_the_cpu_computes_in_float32_refuses_values_beyond_its_range(tmp_path: Path) -> None:
    xml = model_factory.identity(tmp_path / "identity_f64.xml", [-1], "f64")
    assert get_engine(ModelSpec.from_path(xml)).computed == {"x": "f32"}
    out = pd.DataFrame({"v": [1.5, -3e38, np.nan]}).ov.predict(xml, inputs="v", keep_input=False)
    np.testing.assert_array_equal(out["prediction"].to_numpy(), [1.5, np.float32(-3e38), np.nan])
    # Beyond float32, and infinity (which the CPU plugin turns into float32's largest value).
    for value in (1e300, np.inf):
        with pytest.raises(InputValueError, match=r"beyond the range of f32, the type the device computes"):
            pd.DataFrame({"v": [1.5, value]}).ov.predict(xml, inputs="v")
    # Integers float64 holds but float32 rounds: checked against float32, as the device computes them.
    exact = pd.DataFrame({"v": [2**24, -5]}).ov.predict(xml, inputs="v", keep_input=False)
    assert exact["prediction"].tolist() == [2**24, -5]
    message = r"integers that float32, the type the device computes model input 'x' in, cannot hold exactly"
    with pytest.raises(InputValueError, match=message):
        pd.DataFrame({"v": [2**24 + 1, 3]}).ov.predict(xml, inputs="v")


def test_a_reduced_inference_precision_is_not_a_narrowing_cast(tmp_path: Path) -> None:
    # precision="bf16" (what "auto" picks on AMX and AMD AVX512-BF16 CPUs) computes an f32 input
    # in bf16 by choice: infinity and large floats still reach the model, as they do in f32.
    xml = _sum_model(tmp_path / "sum_f32.xml", "f32")
    assert get_engine(ModelSpec.from_path(xml, precision="bf16")).computed == {}
    frame = pd.DataFrame({"a": [np.inf, 1.0], "b": [1.0, 2.0]})
    out = frame.ov.predict(xml, inputs=["a", "b"], precision="bf16", keep_input=False)
    assert out["prediction"].iloc[0] == np.inf
    # A float64 input is still narrowed to float32 on its way in, bf16 or not.
    f64 = model_factory.identity(tmp_path / "identity_f64.xml", [-1], "f64")
    assert get_engine(ModelSpec.from_path(f64, precision="bf16")).computed == {"x": "f32"}
    with pytest.raises(InputValueError, match=r"beyond the range of f32, the type the device computes"):
        pd.DataFrame({"v": [1.5, 1e300]}).ov.predict(f64, inputs="v", precision="bf16")


def test_a_bf16_port_raises_a_typed_error(tmp_path: Path) -> None:
    x = ops.parameter([-1], ov.Type.bf16, name="x")
    y = ops.convert(x, np.float32).output(0)
    y.get_tensor().set_names({"y"})
    xml = model_factory.save(ov.Model([y], [x], "bf16_in"), tmp_path / "bf16.xml")
    with pytest.raises(UnsupportedElementTypeError, match=r"port 'x' has element type bf16") as info:
        pd.DataFrame({"x": [1.0]}).ov.predict(xml, inputs="x")
    assert isinstance(info.value, TypeError) and isinstance(info.value, InputSchemaError)


def test_float64_columns_are_cast_a_chunk_at_a_time(tmp_path: Path) -> None:
    # The partition must not exist a second time in tensor form, whatever its dtype.
    xml = model_factory.linear(tmp_path / "linear8.xml", features=8)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(1_200_000, 8)), columns=[f"f{i}" for i in range(8)])
    columns = list(frame.columns)
    frame.iloc[:8].ov.predict(xml, inputs=columns)  # compile outside the measurement
    tracemalloc.start()
    try:
        out = frame.ov.predict(xml, inputs=columns, keep_input=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth = peak - out.memory_usage(index=False).sum()
    assert growth < CHUNK_BYTES * 1.25, f"converting float64 took {growth / 2**20:.0f} MiB at once"
    head = frame.iloc[:1000].to_numpy(np.float32)
    expected = head @ np.ones((8, 2), np.float32) + model_factory.LINEAR_BIAS
    np.testing.assert_allclose(np.stack(out["prediction"].iloc[:1000].to_numpy()), expected, rtol=1e-5, atol=1e-4)


def test_an_output_that_is_an_identity_convert_of_the_input_gets_its_own_rows(tmp_path: Path) -> None:
    # OpenVINO's CPU plugin let such an output share the input's memory: with inputs shared and
    # several requests it returned other batches' rows (about half of them), other outputs too.
    x = ops.parameter([-1, 3], np.float32, name="x")
    logits = ops.matmul(x, ops.constant(model_factory.LINEAR_WEIGHTS), False, False).output(0)
    logits.get_tensor().set_names({"logits"})
    echo = ops.convert(x, "f32").output(0)  # what an ONNX Cast to the input's own type becomes
    echo.get_tensor().set_names({"echo"})
    xml = model_factory.save(ov.Model([logits, echo], [x], "echo"), tmp_path / "echo.xml")
    values = np.random.default_rng(0).normal(size=(4_000, 3)).astype(np.float32)
    frame = dd.from_pandas(pd.DataFrame(values, columns=["a", "b", "c"]), npartitions=2)
    out = frame.ov.predict(xml, inputs={"x": ["a", "b", "c"]}, batch_size=16).compute(scheduler="threads")
    assert list(out.columns) == ["a", "b", "c", "logits", "echo"]
    np.testing.assert_array_equal(np.stack(out["echo"].to_numpy()), values)
    np.testing.assert_allclose(np.stack(out["logits"].to_numpy()), values @ model_factory.LINEAR_WEIGHTS, atol=1e-5)


def test_an_input_echoed_by_an_output_is_still_checked_against_the_type_it_is_computed_in(tmp_path: Path) -> None:
    # The compiled input then carries the output's name too ("echo" sorts before "x"): the
    # narrowed type must stay keyed by the input's own name, or 2**31 + 5 goes in as a wrapped i32.
    x = ops.parameter([-1], ov.Type.i64, name="x")
    x.output(0).get_tensor().set_names({"x"})
    z = ops.add(x, ops.constant(np.array(1, np.int64))).output(0)
    z.get_tensor().set_names({"z"})
    echo = ops.convert(x, "i64").output(0)
    echo.get_tensor().set_names({"echo"})
    xml = model_factory.save(ov.Model([z, echo], [x], "echo"), tmp_path / "echo.xml")
    assert get_engine(ModelSpec.from_path(xml)).computed == {"x": "i32"}
    with pytest.raises(InputValueError, match=r"column 'x' holds values in \[1, 2147483653\].*i32"):
        pd.DataFrame({"x": [1, 2**31 + 5]}).ov.predict(xml, inputs="x", keep_input=False)
