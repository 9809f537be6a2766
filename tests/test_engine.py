from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import model_factory
from dask_openvino import InputSchemaError, ModelSpec, get_engine
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
