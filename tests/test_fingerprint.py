"""A model replaced in place is seen: the fingerprint follows the files' content, not their size and mtime.

Weights rewritten at the same size with their mtime restored (``cp -p``, ``tar``,
reproducible builds) used to keep the client's memoised fingerprint: a rebuilt job
scored with the old weights, and after a worker restart every rebuild raised
``ModelChangedError``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from openvino import opset13 as ops

import model_factory
from dask_openvino import spec as spec_module

OLD = np.array([1.0, 2.0, 3.0], np.float32)
NEW = np.array([10.0, 20.0, 30.0], np.float32)
FRAME = pd.DataFrame({"a": [0.1, 1.0, 2.0, 3.0], "b": [0.2, 0.5, 1.0, 2.0], "c": [0.3, 0.25, 0.5, 1.0]})


def weighted_sum(path: Path, weights: np.ndarray) -> Path:
    """``score[?] = sum(x * weights)``: versions of one model differ only in the bytes of the ``.bin``."""
    x = ops.parameter([-1, 3], np.float32, name="x")
    y = ops.reduce_sum(ops.multiply(x, ops.constant(weights)), ops.constant(np.array([1], np.int64)), keep_dims=False)
    y.output(0).get_tensor().set_names({"score"})
    return model_factory.save(ov.Model([y.output(0)], [x], "weighted_sum"), path)


def expected(weights: np.ndarray) -> np.ndarray:
    return (FRAME.to_numpy(np.float32) * weights).sum(axis=1)


@pytest.fixture
def versions(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The model in use (``m.xml``, the old weights) and the old and new ``.bin`` files."""
    xml = weighted_sum(tmp_path / "m.xml", OLD)
    old = shutil.copy2(xml.with_suffix(".bin"), tmp_path / "old.bin")
    new = weighted_sum(tmp_path / "new.xml", NEW).with_suffix(".bin")
    return xml, Path(old), new


def replace_keeping_mtime(target: Path, source: Path) -> None:
    """Overwrite ``target`` with ``source`` as ``cp -p`` would over a file of the same size and mtime."""
    before = os.stat(target)
    shutil.copy2(source, target)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(target)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def score(xml: Path) -> np.ndarray:
    frame = dd.from_pandas(FRAME, npartitions=2)
    return frame.ov.predict(xml, inputs=["a", "b", "c"], keep_input=False).compute()["prediction"].to_numpy()


@pytest.mark.parametrize("settled", [False, True], ids=["just-written", "memoised"])
def test_rebuilt_job_scores_rewritten_weights_threads(
    versions: tuple[Path, Path, Path], settled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    xml, _, new = versions
    if settled:
        # Files written seconds ago are memoised by their stamp; this one is treated as settled at once.
        monkeypatch.setattr(spec_module, "_SETTLED_NS", 0)
    with dask.config.set(scheduler="threads"):
        np.testing.assert_allclose(score(xml), expected(OLD), rtol=1e-6)
        replace_keeping_mtime(xml.with_suffix(".bin"), new)
        np.testing.assert_allclose(score(xml), expected(NEW), rtol=1e-6)


def test_settled_files_are_not_hashed_again(versions: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    xml, _, _ = versions
    monkeypatch.setattr(spec_module, "_SETTLED_NS", 0)
    first = spec_module.ModelSpec.from_path(xml).fingerprint
    hits = spec_module._local_digest.cache_info().hits
    assert spec_module.ModelSpec.from_path(xml).fingerprint == first
    assert spec_module._local_digest.cache_info().hits == hits + 1


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.mark.cluster
@pytest.mark.slow
def test_rebuilt_job_scores_rewritten_weights_on_workers(client: Client, versions: tuple[Path, Path, Path]) -> None:
    xml, old, new = versions
    np.testing.assert_allclose(score(xml), expected(OLD), rtol=1e-6)
    # The worker holds the old model compiled; the rebuilt job's new fingerprint makes it compile the new one.
    replace_keeping_mtime(xml.with_suffix(".bin"), new)
    np.testing.assert_allclose(score(xml), expected(NEW), rtol=1e-6)
    replace_keeping_mtime(xml.with_suffix(".bin"), old)
    np.testing.assert_allclose(score(xml), expected(OLD), rtol=1e-6)


@pytest.mark.cluster
@pytest.mark.slow
def test_rebuild_after_worker_restart_scores_rewritten_weights(
    client: Client, versions: tuple[Path, Path, Path]
) -> None:
    xml, _, new = versions
    np.testing.assert_allclose(score(xml), expected(OLD), rtol=1e-6)
    replace_keeping_mtime(xml.with_suffix(".bin"), new)
    client.restart()
    np.testing.assert_allclose(score(xml), expected(NEW), rtol=1e-6)
