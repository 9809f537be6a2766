from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster
from PIL import Image

import dask_openvino
import model_factory
from dask_openvino import (
    ChainedPreprocessing,
    ImageBytesToTensor,
    ImageChannelNormalize,
    ImageMatToTensor,
    ImageResize,
    VersionMismatchError,
    WarmUp,
)
from dask_openvino.cli import main


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster


def _compiles(client: Client) -> dict[str, int]:
    return {address: info.compiles for address, info in client.run(dask_openvino.cache_info).items()}


def _eventually(check: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.cluster
@pytest.mark.slow
def test_warm_up_compiles_on_every_worker_and_on_workers_that_join(cluster: LocalCluster, static8_xml: Path) -> None:
    # batch_size=4 reshapes the static batch of 8: the warmed engine must carry the same transform as predict's.
    with Client(cluster) as client:
        client.run(dask_openvino.clear_cache)
        plugin = WarmUp(static8_xml, batch_size=4)
        try:
            client.register_plugin(plugin)
            assert set(_compiles(client).values()) == {1}, "registering did not compile on the worker"
            cluster.scale(2)
            client.wait_for_workers(2, timeout=60)
            # A joining worker is set up as it registers; client.run may reach it a moment before.
            assert _eventually(lambda: sorted(_compiles(client).values()) == [1, 1]), _compiles(client)

            rng = np.random.default_rng(0)
            frame = pd.DataFrame(rng.normal(size=(64, 3)).astype(np.float32), columns=["a", "b", "c"])
            scored = dd.from_pandas(frame, npartitions=8).ov.predict(static8_xml, inputs=["a", "b", "c"], batch_size=4)
            result = scored.compute()
            infos = client.run(dask_openvino.cache_info)
            assert sorted(info.compiles for info in infos.values()) == [1, 1], "predict compiled again"
            assert sum(info.hits for info in infos.values()) >= 8
            assert all(info.engines[0]["INFERENCE_NUM_THREADS"] == "1" for info in infos.values())
        finally:
            client.unregister_worker_plugin(plugin.name)
        local = dd.from_pandas(frame, npartitions=8).ov.predict(static8_xml, inputs=["a", "b", "c"], batch_size=4)
        pd.testing.assert_frame_equal(result, local.compute(scheduler="threads"), check_exact=True)


@pytest.mark.cluster
def test_a_worker_on_other_versions_fails_the_registration_naming_it(cluster: LocalCluster, score_xml: Path) -> None:
    with Client(cluster) as client:
        plugin = WarmUp(score_xml)
        # As if the client ran another release: the workers compare their own versions with it.
        plugin.client_versions = {**plugin.client_versions, "dask-openvino": "0.0.1"}
        with pytest.raises(VersionMismatchError, match=r"client \(dask-openvino 0\.0\.1") as caught:
            client.register_plugin(plugin)
        assert set(caught.value.differing) <= set(client.scheduler_info(n_workers=-1)["workers"])
        assert all(what.startswith("dask-openvino 0.1.0") for what in caught.value.differing.values())
        client.unregister_worker_plugin(plugin.name)
        versions = dask_openvino.check_versions(client)
        assert {"client", "scheduler"} <= set(versions)
        assert len(versions) == 2 + len(client.scheduler_info(n_workers=-1)["workers"])


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_warm_up_builds_predicts_key_for_baked_preprocessing_and_reshape(tmp_path: Path) -> None:
    # In this process, as on a worker: warm, then predict with the same arguments compiles nothing more.
    xml = model_factory.identity(tmp_path / "image.xml", [2, 3, 8, 8])
    pipeline = ChainedPreprocessing(
        [ImageBytesToTensor(), ImageResize(8, 8), ImageChannelNormalize([128.0] * 3, [64.0] * 3), ImageMatToTensor()]
    )
    rng = np.random.default_rng(1)
    images = [_png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for _ in range(5)]
    df = pd.DataFrame({"png": pd.Series(images, dtype=pd.ArrowDtype(pa.binary()))})
    WarmUp(xml, inputs={"x": "png"}, batch_size=4, preprocess=pipeline).warm()
    assert dask_openvino.cache_info().compiles == 1
    df.ov.predict(xml, inputs={"x": "png"}, batch_size=4, preprocess=pipeline)
    info = dask_openvino.cache_info()
    assert (info.compiles, info.models) == (1, 1), "predict did not find the warmed engine"


def test_warm_up_builds_predicts_key_for_an_input_layout_and_reshape(tmp_path: Path) -> None:
    # input_layout= is baked into the model before the reshape: a warm-up without it compiles another model.
    xml = model_factory.identity(tmp_path / "nchw.xml", [2, 3, 4, 5])
    nhwc = np.random.default_rng(2).normal(size=(6, 4, 5, 3)).astype(np.float32)
    df = pd.DataFrame({"pixels": pd.Series(list(nhwc), dtype=object)})
    WarmUp(xml, inputs="pixels", batch_size=4, input_layout="NHWC").warm()
    assert dask_openvino.cache_info().compiles == 1
    scored = df.ov.predict(xml, inputs="pixels", batch_size=4, input_layout="NHWC")
    info = dask_openvino.cache_info()
    assert (info.compiles, info.models) == (1, 1), "predict did not find the warmed engine"
    channels_first = nhwc.transpose(0, 3, 1, 2).reshape(6, -1)
    np.testing.assert_array_equal(np.stack(scored["prediction"]).reshape(6, -1), channels_first)


def test_warm_up_checks_its_arguments_on_the_client_and_reads_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "not-there.xml"
    plugin = WarmUp(missing)  # nothing is read here: the workers read the model
    assert plugin.name == WarmUp(missing).name != WarmUp(missing, batch_size=2).name
    assert WarmUp(missing, input_layout="NHWC").name != plugin.name
    with pytest.raises(dask_openvino.InputSchemaError, match="batch_size must be a positive integer"):
        WarmUp(missing, batch_size=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        WarmUp(missing, precision="int4")
    with pytest.raises(dask_openvino.ModelLoadError, match=r"not-there\.xml"):
        plugin.warm()


@pytest.mark.cluster
def test_cli_warm_up_failure_stops_the_job_and_leaves_no_plugin(
    cluster: LocalCluster, score_xml: Path, tmp_path: Path
) -> None:
    source = tmp_path / "features.parquet"
    pd.DataFrame(np.ones((8, 3), np.float32), columns=["a", "b", "c"]).to_parquet(source)
    output = tmp_path / "scored.parquet"
    result = CliRunner().invoke(
        main,
        [
            *("predict", str(score_xml), str(source), "-o", str(output), "--inputs", "a,b,c"),
            *("--device", "NOSUCH", "--scheduler", cluster.scheduler_address),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Error: ModelLoadError: OpenVINO cannot compile" in result.output
    assert "for NOSUCH" in result.output
    assert not output.exists()
    with Client(cluster) as client:
        plugins = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert not [name for name in plugins if name.startswith("dask-openvino-warm-up")]
