"""Images straight from storage: folders and globs of real JPEG/PNG files, read on the workers."""

from __future__ import annotations

import asyncio
import io
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import dask
import dask.dataframe as dd
import fsspec
import numpy as np
import openvino as ov
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster
from fsspec.asyn import AsyncFileSystem
from fsspec.implementations.memory import MemoryFileSystem
from openvino import opset13 as ops
from PIL import Image

import dask_openvino as dov
from dask_openvino.cli import main
from dask_openvino.images import read_files

BINARY = pd.ArrowDtype(pa.binary())
STRING = pd.StringDtype("pyarrow")
SIZE = 16


def _encode(seed: int, fmt: str, size: tuple[int, int] = (20, 18)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _cnn(path: Path) -> Path:
    """conv3x3(3->4) + relu + global mean: ``scores[?, 4]`` from ``image[?, 3, 16, 16]``."""
    weights = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    image = ops.parameter([-1, 3, SIZE, SIZE], np.float32, name="image")
    conv = ops.convolution(image, ops.constant(weights), [1, 1], [1, 1], [1, 1], [1, 1])
    scores = ops.reduce_mean(ops.relu(conv), ops.constant(np.array([2, 3], np.int64)), False)
    scores.output(0).get_tensor().set_names({"scores"})
    ov.save_model(ov.Model([scores.output(0)], [image], "cnn"), path, compress_to_fp16=False)
    return path


@pytest.fixture(scope="module")
def cnn_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _cnn(tmp_path_factory.mktemp("cnn") / "cnn.xml")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """``photos/{cat,dog}/`` with JPEG and PNG files, upper-case extensions and files that are not images."""
    root = tmp_path / "photos"
    files = {
        "cat/a.jpg": ("JPEG", 0),
        "cat/B.JPEG": ("JPEG", 1),
        "dog/c.png": ("PNG", 2),
        "dog/D.PNG": ("PNG", 3),
        "dog/e.Jpg": ("JPEG", 4),
    }
    for name, (fmt, seed) in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(_encode(seed, fmt, (20 + seed, 18 + 2 * seed)))
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "cat" / "a.jpg.json").write_text("{}")
    return root


def _pipeline(first: Any) -> dov.ChainedPreprocessing:
    return dov.ChainedPreprocessing([first, dov.ImageResize(SIZE, SIZE), dov.ImageMatToTensor(to_RGB=True)])


def _scores(frame: pd.DataFrame) -> np.ndarray:
    return np.stack(frame["prediction"].to_numpy())


def test_label_folders_give_paths_labels_and_bytes_in_sorted_order(photos: Path) -> None:
    ddf = dov.read_images(photos, include_bytes=True, labels="folder", partition_size=2)
    assert list(ddf.columns) == ["path", "label", "bytes"]
    assert ddf.npartitions == 3
    assert ddf.divisions == (0, 2, 4, 4)
    frame = ddf.compute()
    assert frame.dtypes.to_dict() == {"path": STRING, "label": STRING, "bytes": BINARY}
    names = ["cat/B.JPEG", "cat/a.jpg", "dog/D.PNG", "dog/c.png", "dog/e.Jpg"]
    assert frame["path"].tolist() == [str(photos / name) for name in names]
    assert frame["label"].tolist() == ["cat", "cat", "dog", "dog", "dog"]
    assert frame["bytes"].tolist() == [(photos / name).read_bytes() for name in names]
    assert frame.index.tolist() == [0, 1, 2, 3, 4]


def test_globs_and_partitions_by_bytes(photos: Path) -> None:
    sizes = [(photos / "dog" / name).stat().st_size for name in ("D.PNG", "c.png", "e.Jpg")]
    ddf = dov.read_images(f"{photos}/dog/*", blocksize=sizes[0] + sizes[1])
    assert ddf.compute()["path"].tolist() == [str(photos / "dog" / n) for n in ("D.PNG", "c.png", "e.Jpg")]
    assert [len(part) for part in ddf.partitions] == [2, 1]
    assert dov.read_images(photos / "cat" / "a.jpg").compute()["path"].tolist() == [str(photos / "cat" / "a.jpg")]
    labelled = dov.read_images(f"file://{photos}/*/*.jpg", labels="folder").compute()
    assert labelled["label"].tolist() == ["cat"]
    with pytest.raises(ValueError, match="not both"):
        dov.read_images(photos, partition_size=2, blocksize="1MiB")
    with pytest.raises(ValueError, match="partition_size"):
        dov.read_images(photos, partition_size=0)


def test_no_image_files_is_a_typed_error_naming_the_pattern_and_extensions(tmp_path: Path, photos: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(dov.InputNotFoundError, match=r"no image files in .*empty.*\.jpg.*\.webp") as info:
        dov.read_images(empty)
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(dov.InputNotFoundError, match=r"\(1 other file skipped\)"):
        dov.read_images(f"{photos}/dog/*.txt")
    with pytest.raises(dov.InputNotFoundError, match="no file, folder or glob matches"):
        dov.read_images(tmp_path / "missing")


def test_a_listed_file_gone_or_unreadable_when_read_is_a_typed_error_naming_it(photos: Path) -> None:
    ddf = dov.read_images(photos / "dog", include_bytes=True, partition_size=1)
    (photos / "dog" / "c.png").unlink()
    with pytest.raises(dov.InputNotFoundError, match=r"image file .*c\.png was listed but is gone"):
        ddf.partitions[1].compute()
    (photos / "dog" / "c.png").mkdir()  # there again, but not a file anyone can read
    with pytest.raises(dov.InputReadError, match=r"cannot read image file .*c\.png: ") as info:
        ddf.partitions[1].compute()
    assert isinstance(info.value, OSError) and not isinstance(info.value, FileNotFoundError)
    assert ddf.partitions[0].compute()["bytes"].tolist() == [(photos / "dog" / "D.PNG").read_bytes()]


def test_folder_labels_need_every_image_in_a_label_folder(photos: Path) -> None:
    (photos / "loose.png").write_bytes(_encode(9, "PNG"))
    with pytest.raises(dov.InputSchemaError, match=r"loose\.png lies directly in"):
        dov.read_images(photos, labels="folder")
    assert len(dov.read_images(photos)) == 6


@pytest.fixture
def memory_photos() -> Iterator[dict[str, bytes]]:
    fs = fsspec.filesystem("memory")
    files = {
        f"/read-images-test/{label}/{i}.png": _encode(10 * i + len(label), "PNG")
        for label in ("x", "y")
        for i in (0, 1)
    }
    for path, data in files.items():
        fs.pipe(path, data)
    fs.pipe("/read-images-test/x/readme.md", b"#")
    yield files
    fs.rm("/read-images-test", recursive=True)


def test_memory_uris_are_listed_and_scored_through_image_read(memory_photos: dict[str, bytes], cnn_xml: Path) -> None:
    ddf = dov.read_images("memory://read-images-test/*/*", include_bytes=True, labels="folder")
    frame = ddf.compute()
    assert frame["path"].tolist() == [f"memory://{path}" for path in sorted(memory_photos)]
    assert frame["bytes"].tolist() == [memory_photos[path] for path in sorted(memory_photos)]
    from_paths = ddf.ov.predict(cnn_xml, inputs="path", preprocess=_pipeline(dov.ImageRead())).compute()
    from_bytes = ddf.ov.predict(cnn_xml, inputs="bytes", preprocess=_pipeline(dov.ImageBytesToTensor())).compute()
    np.testing.assert_allclose(_scores(from_paths), _scores(from_bytes), rtol=1e-6)


def test_scoring_a_folder_equals_scoring_the_same_images_from_parquet(
    photos: Path, tmp_path: Path, cnn_xml: Path
) -> None:
    paths = sorted(str(p) for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    table = pd.DataFrame({"path": paths, "jpeg": pd.array([Path(p).read_bytes() for p in paths], dtype=BINARY)})
    table.to_parquet(tmp_path / "photos.parquet")
    stored = dd.read_parquet(tmp_path / "photos.parquet", dtype_backend="pyarrow")
    expected = stored.ov.predict(
        cnn_xml, inputs="jpeg", preprocess=_pipeline(dov.ImageBytesToTensor()), keep_input=False
    ).compute()
    folder = dov.read_images(photos, labels="folder", partition_size=2)
    scored = folder.ov.predict(cnn_xml, inputs="path", preprocess=_pipeline(dov.ImageRead())).compute()
    assert scored["path"].tolist() == paths
    np.testing.assert_allclose(_scores(scored), _scores(expected), rtol=1e-6)


class _SlowMemory(MemoryFileSystem):
    """A memory filesystem whose every read takes 50 ms, counting how many run at once."""

    protocol = ("slowmem",)
    lock = threading.Lock()
    active = 0
    most = 0

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return str(super()._strip_protocol(path.replace("slowmem://", "memory://", 1)))

    def _wait(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.most = max(cls.most, cls.active)
        time.sleep(0.05)
        with cls.lock:
            cls.active -= 1

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        self._wait()
        return super()._open(path, mode, **kwargs)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        self._wait()
        return bytes(super().cat_file(path, start, end, **kwargs))


def test_a_partition_reads_its_files_several_at_a_time(cnn_xml: Path) -> None:
    fsspec.register_implementation("slowmem", _SlowMemory, clobber=True)
    fs = fsspec.filesystem("slowmem")
    for i in range(12):
        fs.pipe(f"/slow-photos/{i:02d}.png", _encode(i, "PNG"))
    try:
        ddf = dov.read_images("slowmem://slow-photos", include_bytes=True)
        assert ddf.npartitions == 1
        _SlowMemory.most = 0
        with dask.config.set(scheduler="sync"):
            assert len(ddf.compute()) == 12
            assert _SlowMemory.most > 1, "read_images read one file at a time"
            _SlowMemory.most = 0
            pipeline = _pipeline(dov.ImageRead())
            paths = dov.read_images("slowmem://slow-photos")
            scored = paths.ov.predict(cnn_xml, inputs="path", preprocess=pipeline).compute()
            assert _scores(scored).shape == (12, 4)
            assert _SlowMemory.most > 1, "ImageRead read one file at a time"
    finally:
        fs.rm("/slow-photos", recursive=True)


class _SlowAsync(AsyncFileSystem):
    """An asynchronous filesystem (as S3, GCS and HTTP are) whose reads take 20 ms, counting how many overlap."""

    protocol = "slowasync"
    files: ClassVar[dict[str, bytes]] = {}
    active = 0
    most = 0

    async def _cat_file(self, path: str, start: Any = None, end: Any = None, **kwargs: Any) -> bytes:
        _SlowAsync.active += 1
        _SlowAsync.most = max(_SlowAsync.most, _SlowAsync.active)
        await asyncio.sleep(0.02)
        _SlowAsync.active -= 1
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]


def test_asynchronous_filesystems_get_their_files_in_one_concurrent_request() -> None:
    paths = [f"/async-photos/{i}.png" for i in range(6)]
    _SlowAsync.files = {path: bytes([i]) for i, path in enumerate(paths)}
    got = read_files(_SlowAsync(), [*paths[:3], "/async-photos/gone.png", *paths[3:]])
    assert got[:3] + got[4:] == [bytes([i]) for i in range(6)]
    assert isinstance(got[3], FileNotFoundError)
    assert _SlowAsync.most > 1


def test_the_graph_holds_paths_not_image_bytes(tmp_path: Path) -> None:
    for i in range(40):
        (tmp_path / f"{i:02d}.png").write_bytes(_encode(i, "PNG", (48, 48)))
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    ddf = dov.read_images(tmp_path, include_bytes=True, partition_size=8)
    graph = len(pickle.dumps(dict(ddf.__dask_graph__())))
    assert graph < total / 20, (graph, total)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0") as local:
        yield local


def _store(files: dict[str, bytes]) -> None:
    fs = fsspec.filesystem("memory")
    for path, data in files.items():
        fs.pipe(path, data)


@pytest.mark.cluster
def test_files_are_read_on_the_workers_not_on_the_client(cluster: LocalCluster, cnn_xml: Path) -> None:
    # The client's and the worker's memory filesystems hold different contents under
    # the same names: whatever the result holds was read where it was computed.
    on_worker = {f"/worker-photos/{label}/{i}.jpg": _encode(i, "JPEG") for label in ("a", "b") for i in range(3)}
    _store({path: b"listed on the client, not an image" for path in on_worker})
    try:
        with Client(cluster) as client:
            client.run(_store, on_worker)
            ddf = dov.read_images("memory://worker-photos", include_bytes=True, labels="folder")
            frame = ddf.compute()
            assert frame["bytes"].tolist() == [on_worker[path] for path in sorted(on_worker)]
            scored = ddf.ov.predict(cnn_xml, inputs="path", preprocess=_pipeline(dov.ImageRead())).compute()
        local = pd.DataFrame({"jpeg": pd.array([on_worker[p] for p in sorted(on_worker)], dtype=BINARY)})
        expected = local.ov.predict(cnn_xml, inputs="jpeg", preprocess=_pipeline(dov.ImageBytesToTensor()))
        np.testing.assert_allclose(_scores(scored), _scores(expected), rtol=1e-6)
    finally:
        fsspec.filesystem("memory").rm("/worker-photos", recursive=True)


@pytest.mark.cluster
def test_cli_scores_a_folder_of_images(cluster: LocalCluster, photos: Path, tmp_path: Path, cnn_xml: Path) -> None:
    expected = (
        dov.read_images(photos).ov.predict(cnn_xml, inputs="path", preprocess=_pipeline(dov.ImageRead())).compute()
    )
    runner = CliRunner()
    scheduler = ["--scheduler", cluster.scheduler_address]
    output = tmp_path / "scored.parquet"
    args = ["predict", str(cnn_xml), str(photos), "-o", str(output), "--preprocess", f"image:resize={SIZE},rgb"]
    result = runner.invoke(main, [*args, "--partitions", "2", *scheduler], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(output).sort_values("path", ignore_index=True)
    assert list(scored.columns) == ["path", "folder", "prediction"]
    assert scored["path"].tolist() == expected["path"].tolist()
    assert scored["folder"].tolist() == ["cat", "cat", "dog", "dog", "dog"]
    np.testing.assert_allclose(_scores(scored), _scores(expected), rtol=1e-6)

    glob = ["predict", str(cnn_xml), f"{photos}/dog/*", "-o", str(tmp_path / "dogs.parquet")]
    result = runner.invoke(main, [*glob, "--preprocess", f"image:resize={SIZE},rgb", *scheduler])
    assert result.exit_code == 0, result.output
    dogs = pd.read_parquet(tmp_path / "dogs.parquet")
    assert list(dogs.columns) == ["path", "prediction"]
    assert sorted(dogs["path"]) == [str(photos / "dog" / name) for name in ("D.PNG", "c.png", "e.Jpg")]

    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(
        main,
        [
            "predict",
            str(cnn_xml),
            str(empty),
            "-o",
            str(tmp_path / "none"),
            "--input-format",
            "images",
            "--preprocess",
            "image",
            *scheduler,
        ],
    )
    assert result.exit_code == 1
    assert "InputNotFoundError: no image files in" in result.output
    result = runner.invoke(main, [*args[:4], str(tmp_path / "unscored"), "--input-format", "images", *scheduler])
    assert result.exit_code == 2, result.output
    assert "holds image files: score them with --preprocess image" in result.output
