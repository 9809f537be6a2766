from __future__ import annotations

from pathlib import Path

from dask_openvino import ModelSpec, get_engine, state
from dask_openvino.policy import default_batch_size, default_compile_config
from dask_openvino.spec import PortInfo


def test_default_config_is_float32_throughput_outside_workers() -> None:
    assert default_compile_config("CPU") == {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
    assert default_compile_config("GPU") == {"PERFORMANCE_HINT": "THROUGHPUT"}


def test_user_config_overrides_every_default(linear_xml: Path) -> None:
    fast = "bf16" if "BF16" in state.core().get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f16"
    spec = ModelSpec.from_path(linear_xml, config={"INFERENCE_PRECISION_HINT": fast, "PERFORMANCE_HINT": "LATENCY"})
    compiled = get_engine(spec).compiled
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "LATENCY"
    assert compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() in {fast, "f32" if fast == "f16" else fast}


def test_default_batch_size() -> None:
    assert default_batch_size((PortInfo("x", "f32", (8, 3)),)) == 8
    assert default_batch_size((PortInfo("x", "f32", (None, 64)),)) == 4096
    tokens = (PortInfo("input_ids", "i64", (None, 128)), PortInfo("attention_mask", "i64", (None, 128)))
    assert default_batch_size(tokens) == 128
    assert default_batch_size((PortInfo("x", "f32", (None, 3, 224, 224)),)) == 1
