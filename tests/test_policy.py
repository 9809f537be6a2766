from __future__ import annotations

from pathlib import Path

import pytest

from dask_openvino import ModelSpec, get_engine, state
from dask_openvino.policy import default_batch_size, default_compile_config
from dask_openvino.spec import PortInfo


def test_default_config_is_float32_throughput_outside_workers() -> None:
    assert default_compile_config("CPU") == {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
    assert default_compile_config("GPU") == {"PERFORMANCE_HINT": "THROUGHPUT"}


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
