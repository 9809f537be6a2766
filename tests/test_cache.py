from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pandas as pd

import dask_openvino
import model_factory
from dask_openvino import ModelSpec, get_engine


def test_least_recently_used_model_is_evicted(tmp_path: Path) -> None:
    specs = [ModelSpec.from_path(model_factory.linear(tmp_path / f"m{i}.xml", features=3 + i)) for i in range(3)]
    with dask.config.set({"openvino.cache.max-models": 2}):
        first = get_engine(specs[0])
        get_engine(specs[1])
        assert get_engine(specs[0]) is first  # touch: specs[1] is now least recent
        get_engine(specs[2])
        info = dask_openvino.cache_info()
        assert (info.models, info.compiles, info.evictions) == (2, 3, 1)
        assert get_engine(specs[0]) is first
        get_engine(specs[1])
        assert dask_openvino.cache_info().compiles == 4


def test_byte_bound(tmp_path: Path) -> None:
    specs = [ModelSpec.from_path(model_factory.linear(tmp_path / f"m{i}.xml", features=50 + i)) for i in range(3)]
    one_model = Path(specs[0].weights).stat().st_size
    with dask.config.set({"openvino.cache.max-bytes": int(one_model * 2.5)}):
        for spec in specs:
            get_engine(spec)
        info = dask_openvino.cache_info()
    assert info.models == 2
    assert info.weights_bytes <= one_model * 2.5


def test_spec_config_and_transform_are_part_of_the_key(linear_xml: Path) -> None:
    spec = ModelSpec.from_path(linear_xml)
    latency = spec.with_options(config={"PERFORMANCE_HINT": "LATENCY"})
    assert get_engine(spec) is not get_engine(latency)
    assert get_engine(spec) is get_engine(ModelSpec.from_path(linear_xml))
    assert dask_openvino.cache_info().compiles == 2


def test_clear_cache(linear_xml: Path) -> None:
    get_engine(ModelSpec.from_path(linear_xml))
    dask_openvino.clear_cache()
    assert dask_openvino.cache_info().models == 0


def test_engine_reuses_infer_requests(linear_xml: Path) -> None:
    engine = get_engine(ModelSpec.from_path(linear_xml))
    x = np.ones((100, 3), np.float32)
    for _ in range(5):
        engine.run({"x": x}, batch_size=7)
    assert engine.request_count == engine.requests_per_call
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame.ov.predict(linear_xml, inputs=["a", "b", "c"], batch_size=7)
    assert engine.request_count == engine.requests_per_call
