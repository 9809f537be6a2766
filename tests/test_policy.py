from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pandas as pd
import pytest

import dask_openvino
from dask_openvino import Estimator, InferenceModel, ModelSpec, SettingError, get_engine, state
from dask_openvino.policy import (
    CpuFeatures,
    choose_overflow_fix,
    choose_precision,
    cpu_features,
    default_batch_size,
    default_compile_config,
    requested_precision,
    row_macs,
)
from dask_openvino.spec import PortInfo


def test_default_config_is_throughput_in_the_chosen_precision_outside_workers() -> None:
    assert default_compile_config("CPU") == {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_PRECISION_HINT": "f32",
        "EXECUTION_MODE_HINT": "ACCURACY",
    }
    assert default_compile_config("CPU", "bf16") == {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_PRECISION_HINT": "bf16",
    }
    assert default_compile_config("GPU") == {"PERFORMANCE_HINT": "THROUGHPUT"}


def _cpu(vendor: str, *flags: str, bf16: bool = True) -> CpuFeatures:
    return CpuFeatures(vendor, frozenset(flags), frozenset({"FP32", "INT8", *(["BF16"] if bf16 else [])}))


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [
        (_cpu("GenuineIntel", "avx512_bf16", "amx_bf16", "amx_int8"), "bf16"),  # Sapphire Rapids and later
        (_cpu("AuthenticAMD", "avx512_bf16", "avx512_vnni"), "bf16"),  # Zen 4 / Zen 5
        (_cpu("GenuineIntel", "avx512_bf16", "avx512_vnni"), "f32"),  # Cooper Lake: bf16 measured slower
        (_cpu("GenuineIntel", "avx2", bf16=False), "f32"),
        (_cpu("AuthenticAMD", "avx2", bf16=False), "f32"),  # Zen 3
    ],
)
def test_auto_precision_follows_the_cpu(cpu: CpuFeatures, expected: str) -> None:
    precision, reason = choose_precision("auto", cpu)
    assert precision == expected and reason.startswith("auto: ")
    for asked in ("f32", "bf16", "f16"):
        assert choose_precision(asked, cpu) == (asked, "asked for")


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [
        (_cpu("GenuineIntel", "avx512_bf16", "amx_bf16", "amx_int8"), "first_layer_only"),
        (_cpu("GenuineIntel", "avx512_vnni", bf16=False), "first_layer_only"),  # Cascade Lake
        (_cpu("GenuineIntel", "avx2", "avx_vnni", bf16=False), "first_layer_only"),  # Alder Lake
        (_cpu("GenuineIntel", "avx512f", "avx512bw", bf16=False), "enable"),  # Skylake-SP
        (_cpu("AuthenticAMD", "avx2", bf16=False), "enable"),  # Zen 3
    ],
)
def test_int8_overflow_fix_follows_the_cpus_8_bit_dot_product(cpu: CpuFeatures, expected: str) -> None:
    fix, reason = choose_overflow_fix(None, cpu)
    assert fix == expected
    assert ("saturate" in reason) == (expected == "enable")


def test_requested_precision_comes_from_the_argument_or_dask_config() -> None:
    assert requested_precision("bf16") == "bf16"
    assert requested_precision(None) == "f32"  # conftest sets DASK_OPENVINO__PRECISION=f32
    with dask.config.set({"openvino.precision": "auto"}):
        assert requested_precision(None) == "auto"
    with pytest.raises(ValueError, match=r"precision must be one of \['auto', 'f32', 'bf16', 'f16'\], got 'fp32'"):
        requested_precision("fp32")
    with dask.config.set({"openvino.precision": "F32"}), pytest.raises(SettingError, match="DASK_OPENVINO__PRECISION"):
        requested_precision(None)


def test_cpu_features_are_this_machines() -> None:
    features = cpu_features()
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        text = cpuinfo.read()
    assert features.vendor and features.vendor in text
    assert features.flags and all(flag in text for flag in list(features.flags)[:5])
    assert "FP32" in features.capabilities


def test_each_precision_is_compiled_and_recorded(linear_xml: Path) -> None:
    frame = pd.DataFrame(np.ones((4, 3), np.float32), columns=["a", "b", "c"])
    expected_auto, reason = choose_precision("auto", cpu_features())
    for asked in ("f32", "auto"):
        frame.ov.predict(linear_xml, inputs=["a", "b", "c"], precision=asked)
    by_precision = {e["precision_reason"]: e for e in dask_openvino.cache_info().engines}
    assert by_precision["asked for"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert by_precision["asked for"]["EXECUTION_MODE_HINT"] == "ACCURACY"
    assert by_precision[reason]["INFERENCE_PRECISION_HINT"] == expected_auto
    with pytest.raises(ValueError, match="precision must be one of"):
        frame.ov.predict(linear_xml, inputs=["a", "b", "c"], precision="int8")


def test_config_wins_over_precision(linear_xml: Path) -> None:
    spec = ModelSpec.from_path(linear_xml, precision="bf16", config={"INFERENCE_PRECISION_HINT": "f32"})
    settings = get_engine(spec).settings
    assert settings["INFERENCE_PRECISION_HINT"] == "f32"
    assert settings["precision_reason"] == "INFERENCE_PRECISION_HINT in config"
    assert settings["EXECUTION_MODE_HINT"] == "ACCURACY"
    if "BF16" in cpu_features().capabilities:
        bf16 = get_engine(ModelSpec.from_path(linear_xml, config={"INFERENCE_PRECISION_HINT": "bf16"})).settings
        assert bf16["INFERENCE_PRECISION_HINT"] == "bf16" and bf16["EXECUTION_MODE_HINT"] == "PERFORMANCE"


def test_analytics_zoo_facade_stays_float32_unless_asked(linear_xml: Path) -> None:
    with dask.config.set({"openvino.precision": "auto"}):
        model = InferenceModel()
        model.load_openvino(linear_xml, linear_xml.with_suffix(".bin"))
        estimator = Estimator.from_openvino(model_path=linear_xml)
        opted_in = Estimator.from_openvino(model_path=linear_xml, precision="auto")
    assert model.precision == "f32" and estimator.spec.precision == "f32" and opted_in.spec.precision == "auto"
    assert {e["INFERENCE_PRECISION_HINT"] for e in dask_openvino.cache_info().engines} == {"f32"}


def test_user_config_overrides_the_default_hint(linear_xml: Path) -> None:
    spec = ModelSpec.from_path(linear_xml, config={"PERFORMANCE_HINT": "LATENCY"})
    assert str(get_engine(spec).compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"


@pytest.mark.skipif(
    "BF16" not in state.core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"),
    reason="this CPU cannot run bf16, so OpenVINO ignores the override",
)
def test_user_config_overrides_the_default_precision(linear_xml: Path) -> None:
    spec = ModelSpec.from_path(linear_xml, config={"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"})
    compiled = get_engine(spec).compiled
    assert compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "bf16"
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"


def test_default_batch_size() -> None:
    assert default_batch_size((PortInfo("x", "f32", (8, 3)),)) == 8
    assert default_batch_size((PortInfo("x", "f32", (None, 64)),)) == 4096
    tokens = (PortInfo("input_ids", "i64", (None, 128)), PortInfo("attention_mask", "i64", (None, 128)))
    assert default_batch_size(tokens) == 128
    assert default_batch_size((PortInfo("x", "f32", (None, 3, 224, 224)),)) == 1


def _conv_model() -> ov.Model:
    """[?, 3, 32, 32] -> 256 7x7 filters, padded: 256 * 32 * 32 * 3 * 7 * 7 MACs a row."""
    image = ops.parameter([-1, 3, 32, 32], np.float32, name="image")
    weights = ops.constant(np.full((256, 3, 7, 7), 0.01, np.float32))
    conv = ops.convolution(image, weights, [1, 1], [3, 3], [3, 3], [1, 1])
    return ov.Model([ops.reduce_mean(conv, np.array([2, 3]), False)], [image], "conv")


def test_row_macs_counts_convolutions_and_matmuls_per_row() -> None:
    assert row_macs(_conv_model()) == 256 * 32 * 32 * 3 * 7 * 7
    x = ops.parameter([-1, 64], np.float32, name="x")
    hidden = ops.matmul(x, ops.constant(np.ones((64, 256), np.float32)), False, False)
    out = ops.matmul(hidden, ops.constant(np.ones((1, 256), np.float32)), False, True)
    assert row_macs(ov.Model([out], [x])) == 64 * 256 + 256
    # A transposed convolution: each of the 3 x 8 x 8 input elements meets 16 filters of 2 x 2.
    small = ops.parameter([-1, 3, 8, 8], np.float32, name="small")
    up = ops.convolution_backprop_data(small, ops.constant(np.ones((3, 16, 2, 2), np.float32)), [2, 2])
    assert row_macs(ov.Model([up], [small])) == 3 * 8 * 8 * 16 * 2 * 2
    ragged = ops.parameter([-1, -1], np.float32, name="tokens")
    assert row_macs(ov.Model([ops.relu(ragged)], [ragged])) is None  # a dynamic row: unknown


def test_default_batch_follows_compute_where_it_is_known(tmp_path: Path) -> None:
    macs = 256 * 32 * 32 * 3 * 7 * 7
    ports = (PortInfo("image", "f32", (None, 3, 32, 32)),)
    assert default_batch_size(ports) == 21  # by input bytes alone
    assert default_batch_size(ports, macs) == -(-12 * 10**9 // macs) == 312
    assert default_batch_size(ports, 0) == 1365  # no compute: only the 16 MiB input bound
    assert default_batch_size((PortInfo("x", "f32", (None, 64)),), 64 * 256) == 4096
    xml = tmp_path / "conv.xml"
    ov.save_model(_conv_model(), xml, compress_to_fp16=False)
    engine = get_engine(ModelSpec.from_path(xml))
    assert engine.default_batch == 312
    assert engine.batch_rows(312 * engine.requests_per_call * 4) == 312
    (recorded,) = [e for e in dask_openvino.cache_info().engines if e["model"] == str(xml)]
    assert recorded["default_batch_size"] == "312"
