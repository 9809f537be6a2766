"""BigDL's ``python/orca/test/bigdl/orca/learn/bigdl/test_estimator_openvino.py``, ported.

Upstream: intel-analytics/BigDL at v2.4.0 (ac12599a; BigDL's HEAD no longer has Orca).
Mechanical changes only: ``bigdl.orca.learn.openvino`` -> ``dask_openvino.orca``;
``sc.parallelize`` + XShards -> ``dask.bag``; Spark DataFrames -> Dask DataFrames with a
pyarrow list column (``row[i]`` -> the i-th column of the row); ``dataframe_to_xshards``
-> a bag of ``{"x": ...}`` shards of the DataFrame's partitions; the downloaded models ->
small IRs with their ports (``upstream_models``); reference outputs from plain OpenVINO in f32.
"""

from __future__ import annotations

from pathlib import Path

import dask
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import upstream_models
from conftest import check_result, first, list_frame, row_array

from dask_openvino.orca import Estimator


def dataframe_to_xshards(part: pd.DataFrame, feature_col: str) -> list[dict[str, np.ndarray]]:
    """Orca's ``dataframe_to_xshards(df, feature_cols=[...], mode="predict")`` for one partition."""
    return [{"x": np.stack([row_array(value) for value in part[feature_col]])}]


def test_openvino_predict_ndarray(resnet_xml: Path, resnet_io: tuple[np.ndarray, np.ndarray]) -> None:
    """Upstream ``test_openvino_predict_ndarray`` (v2.4.0)."""
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
    """Upstream ``test_openvino_predict_ndarray_multi_input`` (v2.4.0): ``input_cols`` reorders the inputs."""
    est = Estimator.from_openvino(model_path=str(roberta_xml))
    input_data = [np.zeros([32, 128]), np.ones([32, 128]), np.zeros([32, 128])]
    result = est.predict(input_data, batch_size=5)
    assert isinstance(result, np.ndarray)
    assert result.shape == (32, 2)
    with pytest.raises(Exception):  # noqa: B017  (upstream's assertRaises(Exception))
        est.predict(input_data, feature_cols=["feature"], input_cols=["a", "input_ids", "token_type_ids"])
    result2 = est.predict(input_data, input_cols=["input_ids", "token_type_ids", "attention_mask"])
    assert isinstance(result2, np.ndarray)
    assert result2.shape == (32, 2)
    assert not np.allclose(result, result2)
    (expected,) = upstream_models.direct(
        roberta_xml,
        dict(
            zip(
                ["input_ids", "token_type_ids", "attention_mask"], [a.astype(np.int64) for a in input_data], strict=True
            )
        ),
    )
    np.testing.assert_allclose(result2, expected, rtol=1e-5, atol=1e-5)


def test_openvino_predict_xshards(resnet_xml: Path, resnet_io: tuple[np.ndarray, np.ndarray]) -> None:
    """Upstream ``test_openvino_predict_xshards`` (v2.4.0): each shard becomes its raw prediction."""
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
    assert result_c[0].shape == (4, 1000)
    assert result_c[1].shape == (3, 1000)
    assert check_result(result_c[0], output, 4)
    assert check_result(result_c[1], output, 2)
    assert not check_result(result_c[1][2:], output, 1)


def test_openvino_predict_spark_df(resnet_xml: Path, resnet_io: tuple[np.ndarray, np.ndarray]) -> None:
    """Upstream ``test_openvino_predict_spark_df`` (v2.4.0): a tensor-named column, ``[1, 1000]`` per row."""
    image, output = resnet_io
    est = Estimator.from_openvino(model_path=str(resnet_xml))
    input_list = image.tolist()
    input_df = dd.from_pandas(list_frame("feature", [input_list] * 18), npartitions=5)
    result_df = est.predict(input_df, feature_cols=["feature"])
    result = [row_array(row) for row in result_df["resnet_v1_50/predictions/Softmax"].compute()]
    assert first(result_df, "resnet_v1_50/predictions/Softmax").shape == (1, 1, 1000)
    assert len(result_df) == 18
    assert check_result(result, output, 18)


def test_openvino_multi_output(multi_output_xml: Path) -> None:
    """Upstream ``test_openvino_multi_output`` (v2.4.0): DataFrame, shards and arrays agree; rows concatenate."""
    est = Estimator.from_openvino(model_path=str(multi_output_xml))
    data = np.random.rand(3, 550, 550)
    df = dd.from_pandas(list_frame("input", [data.tolist()] * 2), npartitions=1)
    result_df = est.predict(df, feature_cols=["input"])
    rows = result_df.compute()
    df_c = [[row_array(row.iloc[k]) for k in range(1, 5)] for _, row in rows.iterrows()]
    df_c = [np.concatenate((np.array(df_c[0][i]), np.array(df_c[1][i]))) for i in range(4)]
    shards = db.from_delayed([dask.delayed(dataframe_to_xshards)(part, "input") for part in df.to_delayed()])
    result_shard = est.predict(shards, batch_size=4)
    shard_c = result_shard.compute()[0]
    nd_input = np.squeeze(np.array([row_array(v) for v in df["input"].compute()]))
    result_np = est.predict(nd_input)
    assert np.all([np.allclose(r1, r2) for r1, r2 in zip(df_c, result_np, strict=True)])
    assert np.all([np.allclose(r1, r2) for r1, r2 in zip(shard_c, result_np, strict=True)])
    expected = upstream_models.direct(multi_output_xml, [nd_input.astype(np.float32)])
    assert [r.shape for r in result_np] == [(2, 6, 4), (2, 6, 3), (2, 6, 2), (2, 1)]
    for got, want in zip(result_np, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
