from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest
from distributed import default_client

import dask_openvino
import model_factory

# Tests compare against float32 references, on whatever CPU runs them: the default
# precision ("auto", bf16 on some CPUs) is float32 here, for this process, its
# subprocesses and the workers of every cluster it starts. Tests of "auto" ask for it.
os.environ["DASK_OPENVINO__PRECISION"] = "f32"
dask.config.refresh()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def linear_xml(model_dir: Path) -> Path:
    return model_factory.linear(model_dir / "linear.xml")


@pytest.fixture(scope="session")
def score_xml(model_dir: Path) -> Path:
    return model_factory.score(model_dir / "score.xml")


@pytest.fixture(scope="session")
def static8_xml(model_dir: Path) -> Path:
    return model_factory.linear(model_dir / "linear_b8.xml", batch=8)


@pytest.fixture(scope="session")
def multi_io_xml(model_dir: Path) -> Path:
    return model_factory.multi_io(model_dir / "multi_io.xml")


@pytest.fixture(scope="session")
def int_xml(model_dir: Path) -> Path:
    return model_factory.int_input(model_dir / "int_input.xml")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    dask_openvino.clear_cache()
    yield
    dask_openvino.clear_cache()


@pytest.fixture(autouse=True)
def _no_dead_default_client() -> Iterator[None]:
    # A test that leaves a client which is not running as Distributed's default makes every
    # later compute() with the default scheduler wait on it for good: fail that test instead.
    yield
    try:
        left = default_client()
    except ValueError:  # no client
        return
    if left.status != "running":
        left.close()
        pytest.fail(f"the test left a {left.status} client as Distributed's default client: {left}")


@pytest.fixture(scope="session")
def one_hot_xml(model_dir: Path) -> Path:
    return model_factory.one_hot(model_dir / "one_hot.xml")
