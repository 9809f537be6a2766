"""Analytics Zoo's ``pyzoo/test/zoo/orca/learn/spark/test_estimator_openvino.py``, ported.

Upstream: intel-analytics/analytics-zoo at HEAD (3d3e86d2) and v0.11.2, whose tests differ
(v0.11.2 passes whole ``[4, 3, 224, 224]`` batches per row and shard). Mechanical changes
only: ``zoo.orca.learn.openvino`` -> ``dask_openvino.zoo``; ``sc.parallelize`` + XShards ->
``dask.bag``; Spark DataFrames -> Dask DataFrames with a pyarrow list column; the
downloaded models -> small IRs with their ports (``upstream_models``); reference outputs
from plain OpenVINO in f32. HEAD's ``assertRaises`` on a 6-row partition with batch size 4
is dropped: that limitation of Orca (a partition had to fit one batch) is gone.
"""

from __future__ import annotations

from pathlib import Path

import dask.bag as db
import dask.dataframe as dd
import numpy as np
from conftest import check_result, first, list_frame, row_array

from dask_openvino.zoo import Estimator


def test_openvino_predict_ndarray(resnet_xml: Path, resnet_io: tuple[np.ndarray, np.ndarray]) -> None:
    """Upstream ``test_openvino_predict_ndarray`` (HEAD 3d3e86d2)."""
    image, output = resnet_io
    est = Estimator.from_openvino(model_path=str(resnet_xml))
    input_data = np.array([image] * 22)
    input_data = np.concatenate([input_data, np.zeros([1, 3, 224, 224])])
    result = est.predict(input_data, batch_size=4)
    assert isinstance(result, np.ndarray)
    assert result.shape == (23, 1000)
    assert check_result(result, output, 22)
    assert not check_result(result[22:], output, 1)


def test_openvino_predict_ndarray_multi_input(roberta_xml: Path) -> None:
    """Upstream ``test_openvino_predict_ndarray_multi_input`` (HEAD 3d3e86d2)."""
    est = Estimator.from_openvino(model_path=str(roberta_xml))
    input_data = [np.zeros([32, 128])] * 3
    result = est.predict(input_data, batch_size=5)
    assert isinstance(result, np.ndarray)
    assert result.shape == (32, 2)


def test_openvino_predict_xshards(resnet_xml: Path, resnet_io: tuple[np.ndarray, np.ndarray]) -> None:
    """Upstream ``test_openvino_predict_xshards`` (HEAD 3d3e86d2): shards keep their keys and gain ``prediction``."""
    image, output = resnet_io
    est = Estimator.from_openvino(model_path=str(resnet_xml))
    input_data_list = [np.array([image] * 4), np.concatenate([np.array([image] * 2), np.zeros([1, 3, 224, 224])])]
    shards = db.from_sequence(input_data_list, npartitions=2)

    def pre_processing(images: np.ndarray) -> dict[str, np.ndarray]:
        return {"x": images}

    shards = shards.map(pre_processing)
    result = est.predict(shards)
    result_c = result.compute()
    assert isinstance(result, db.Bag)
    assert result_c[0]["prediction"].shape == (4, 1000)
    assert result_c[1]["prediction"].shape == (3, 1000)
    assert check_result(result_c[0]["prediction"], output, 4)
    assert check_result(result_c[1]["prediction"], output, 2)
    assert not check_result(result_c[1]["prediction"][2:], output, 1)
    assert result_c[0]["x"] is not None and result_c[1]["x"].shape == (3, 3, 224, 224)


def test_openvino_predict_spark_df(resnet_xml: Path, resnet_io: tuple[np.ndarray, np.ndarray]) -> None:
    """Upstream ``test_openvino_predict_spark_df`` (HEAD 3d3e86d2): one ``prediction`` vector per row."""
    image, output = resnet_io
    est = Estimator.from_openvino(model_path=str(resnet_xml))
    input_list = image.tolist()
    input_df = dd.from_pandas(list_frame("feature", [input_list] * 18), npartitions=5)
    result_df = est.predict(input_df, feature_cols=["feature"])
    result = [row_array(row) for row in result_df["prediction"].compute()]
    assert first(result_df, "prediction").shape == (1, 1000)
    assert len(result_df) == 18
    assert check_result(result, output, 18)


def test_openvino_predict_ndarray_v0_11(resnet_xml: Path) -> None:
    """Upstream ``test_openvino_predict_ndarray`` (v0.11.2): ``[20, 4, ...]`` is 20 batches of the model's 4 rows."""
    est = Estimator.from_openvino(model_path=str(resnet_xml))
    input_data = np.random.random([20, 4, 3, 224, 224])
    result = est.predict(input_data)
    assert isinstance(result, np.ndarray)
    assert result.shape == (20, 4, 1000)
    np.testing.assert_allclose(result[7], est.predict(input_data[7]), rtol=1e-6)


def test_openvino_predict_xshards_v0_11(resnet_xml: Path) -> None:
    """Upstream ``test_openvino_predict_xshards`` (v0.11.2)."""
    est = Estimator.from_openvino(model_path=str(resnet_xml))
    input_data_list = [np.random.random([1, 4, 3, 224, 224]), np.random.random([2, 4, 3, 224, 224])]
    shards = db.from_sequence(input_data_list, npartitions=2)

    def pre_processing(images: np.ndarray) -> dict[str, np.ndarray]:
        return {"x": images}

    shards = shards.map(pre_processing)
    result = est.predict(shards)
    result_c = result.compute()
    assert isinstance(result, db.Bag)
    assert result_c[0]["prediction"].shape == (1, 4, 1000)
    assert result_c[1]["prediction"].shape == (2, 4, 1000)


def test_openvino_predict_spark_df_v0_11(resnet_xml: Path) -> None:
    """Upstream ``test_openvino_predict_spark_df`` (v0.11.2): a row holding a ``[4, ...]`` batch gets ``[4, 1000]``.

    Upstream made 20 rows; 6 keep the test fast (each row holds 600k numbers).
    """
    est = Estimator.from_openvino(model_path=str(resnet_xml), batch_size=4)
    rng = np.random.default_rng(11)
    batches = [rng.random([1, 4, 3, 224, 224]) for _ in range(6)]
    input_df = dd.from_pandas(list_frame("feature", [b[0].tolist() for b in batches]), npartitions=2)
    result_df = est.predict(input_df, feature_cols=["feature"])
    assert first(result_df, "prediction").shape == (1, 4, 1000)
    assert len(result_df) == 6
    rows = result_df["prediction"].compute()
    np.testing.assert_allclose(row_array(rows.iloc[5]), est.predict(batches[5][0]), rtol=1e-5, atol=1e-7)
