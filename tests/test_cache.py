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


def test_an_engine_that_isolated_failing_rows_weighs_twice_in_the_byte_bound(tmp_path: Path) -> None:
    hot = ModelSpec.from_path(model_factory.one_hot(tmp_path / "hot.xml", depth=20_000))
    other = ModelSpec.from_path(model_factory.linear(tmp_path / "other.xml", features=50))
    hot_bytes, other_bytes = Path(hot.weights).stat().st_size, Path(other.weights).stat().st_size
    with dask.config.set({"openvino.cache.max-bytes": hot_bytes + other_bytes}):
        get_engine(other)
        engine = get_engine(hot)
        assert dask_openvino.cache_info().models == 2
        # A failing row (an id outside the one-hot's depth): a second compile isolates it.
        frame = pd.DataFrame({"ids": np.array([0, 1, 99_999], np.int32)})
        scored = frame.ov.predict(hot.xml, inputs="ids", errors="null")
        assert scored["prediction_error"].notna().tolist() == [False, False, True]
        assert engine.weights_bytes == 2 * hot_bytes
        assert get_engine(hot) is engine  # the next partition's call applies the bound again
        info = dask_openvino.cache_info()
    assert (info.models, info.evictions, info.weights_bytes) == (1, 1, 2 * hot_bytes)


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
