"""Fixtures of the ported upstream tests: the downloaded models, rebuilt as small IRs with their ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import upstream_models


@pytest.fixture(autouse=True)
def _threaded_bags() -> Iterator[None]:
    """Bags compute on threads here (Dask's default for bags is a process pool, slow to start in a test)."""
    with dask.config.set(scheduler="threads"):
        yield


@pytest.fixture(scope="session")
def upstream_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("upstream-models")


@pytest.fixture(scope="session")
def resnet_xml(upstream_dir: Path) -> Path:
    return upstream_models.resnet(upstream_dir / "openvino2020_resnet50" / "resnet_v1_50.xml")


@pytest.fixture(scope="session")
def roberta_xml(upstream_dir: Path) -> Path:
    return upstream_models.roberta(upstream_dir / "roberta" / "model.xml")


@pytest.fixture(scope="session")
def multi_output_xml(upstream_dir: Path) -> Path:
    return upstream_models.multi_output(upstream_dir / "FP32" / "model_float32.xml")


@pytest.fixture(scope="session")
def resnet_io(resnet_xml: Path) -> tuple[np.ndarray, np.ndarray]:
    """Upstream's ``resnet_input`` / ``resnet_output`` resources: one image and plain OpenVINO's f32 output for it."""
    image = np.random.default_rng(224).random((3, 224, 224))
    (output,) = upstream_models.direct(resnet_xml, [np.repeat(image[None], 4, axis=0).astype(np.float32)])
    return image, output[:1]


def list_frame(column: str, rows: list[object]) -> pd.DataFrame:
    """What ``rdd.map(lambda x: [value]).toDF([column])`` made: one nested list column."""
    return pd.DataFrame({column: pd.arrays.ArrowExtensionArray(pa.array(rows))})


def row_array(value: object) -> np.ndarray:
    """``np.array(value)`` of a Spark Row's nested lists, for a value of a pyarrow list column (arrays of arrays)."""
    if isinstance(value, (list, np.ndarray)) and len(value) and isinstance(value[0], (list, np.ndarray)):
        return np.stack([row_array(item) for item in value])
    return np.asarray(value)


def check_result(result: object, output: np.ndarray, length: int = 0) -> bool:
    """Upstream's ``check_result``: the first ``length`` rows all match the reference output."""
    rows = list(result)  # type: ignore[call-overload]
    length = length or len(rows)
    return bool(np.all([np.allclose(rows[i], output) for i in range(length)]))


def first(frame: dd.DataFrame, column: str) -> np.ndarray:
    """``np.array(df.select(column).first())``: the first Row (a tuple of one value) as an array."""
    return np.array([row_array(frame[column].head(1).iloc[0])])
