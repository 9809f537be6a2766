from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import dask_openvino

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_each_worker_compiles_once(client: Client, score_xml: Path) -> None:
    client.run(dask_openvino.clear_cache)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(1600, 3)).astype(np.float32), columns=["a", "b", "c"])
    out = dd.from_pandas(frame, npartitions=16).ov.predict(score_xml, inputs=["a", "b", "c"], batch_size=16)
    result = out.compute()
    assert dask_openvino.cache_info().compiles == 0, "the client compiled the model"
    infos = client.run(dask_openvino.cache_info)
    assert sorted(info.compiles for info in infos.values()) == [1, 1]
    assert sum(info.hits for info in infos.values()) >= 14
    expected = frame.to_numpy() @ np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_allclose(result["prediction"].to_numpy(), expected, rtol=1e-2, atol=1e-2)
    pd.testing.assert_index_equal(result.index, frame.index)
    assert dict(result.dtypes) == dict(out._meta.dtypes)


def test_workers_get_derived_compile_config(client: Client, score_xml: Path) -> None:
    frame = pd.DataFrame(np.ones((8, 3), np.float32), columns=["a", "b", "c"])
    dd.from_pandas(frame, npartitions=2).ov.predict(score_xml, inputs=["a", "b", "c"]).compute()
    spec = dask_openvino.ModelSpec.from_path(score_xml)

    def properties() -> tuple[int, bool] | None:
        if dask_openvino.cache_info().models == 0:
            return None
        compiled = dask_openvino.get_engine(spec).compiled
        return int(compiled.get_property("INFERENCE_NUM_THREADS")), bool(compiled.get_property("ENABLE_CPU_PINNING"))

    seen = {value for value in client.run(properties).values() if value is not None}
    assert seen == {(2, False)}


def test_warm_up_through_client_run_gets_the_worker_config(client: Client, score_xml: Path) -> None:
    client.run(dask_openvino.clear_cache)
    spec = dask_openvino.ModelSpec.from_path(score_xml)

    def warm_up() -> tuple[int, bool]:
        compiled = dask_openvino.get_engine(spec).compiled
        return int(compiled.get_property("INFERENCE_NUM_THREADS")), bool(compiled.get_property("ENABLE_CPU_PINNING"))

    assert set(client.run(warm_up).values()) == {(2, False)}
