"""Image pipelines: decoding on the worker, arithmetic baked with PrePostProcessor or done in numpy.

Comparisons compile with ``INFERENCE_PRECISION_HINT=f32``: CPUs with bf16 support
default to bf16 arithmetic, whose ~3 significant digits would hide the preprocessing
mistakes these tests look for (a wrong channel order or mean moves outputs by O(1)).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
import pyarrow as pa
import pytest
from openvino import opset13 as ops
from PIL import Image
from sklearn.datasets import load_sample_images

import dask_openvino  # noqa: F401  (registers .ov)
from dask_openvino.cache import get_engine
from dask_openvino.errors import InputSchemaError
from dask_openvino.postprocessing import TopK
from dask_openvino.preprocessing import (
    ChainedPreprocessing,
    ImageBytesToTensor,
    ImageCenterCrop,
    ImageChannelNormalize,
    ImageDecode,
    ImageMatToTensor,
    ImagePreprocessTransform,
    ImageRead,
    ImageResize,
    Prepared,
)
from dask_openvino.spec import ModelSpec

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
BINARY = pd.ArrowDtype(pa.binary())


def _save(model: ov.Model, path: Path) -> Path:
    ov.save_model(model, path, compress_to_fp16=False)
    return path


def _cnn(path: Path, *, layout: str = "NCHW", size: int = 32) -> Path:
    """conv3x3(3->4) + relu + global mean + dense(4->5): logits [?, 5]."""
    rng = np.random.default_rng(0)
    shape = [-1, 3, size, size] if layout == "NCHW" else [-1, size, size, 3]
    image = ops.parameter(shape, np.float32, name="image")
    x = image if layout == "NCHW" else ops.transpose(image, ops.constant(np.array([0, 3, 1, 2], np.int64)))
    conv = ops.convolution(
        x, ops.constant(rng.normal(size=(4, 3, 3, 3)).astype(np.float32)), [1, 1], [1, 1], [1, 1], [1, 1]
    )
    pooled = ops.reduce_mean(ops.relu(conv), ops.constant(np.array([2, 3], np.int64)), False)
    logits = ops.matmul(pooled, ops.constant(rng.normal(size=(4, 5)).astype(np.float32)), False, False)
    logits.output(0).get_tensor().set_names({"logits"})
    return _save(ov.Model([logits.output(0)], [image], "cnn"), path)


def _identity(path: Path, shape: list[int]) -> Path:
    image = ops.parameter(shape, np.float32, name="image")
    out = ops.multiply(image, ops.constant(np.array(1.0, np.float32)))
    out.output(0).get_tensor().set_names({"pixels"})
    return _save(ov.Model([out.output(0)], [image], "identity"), path)


@pytest.fixture(scope="module")
def cnn_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _cnn(tmp_path_factory.mktemp("pre") / "cnn.xml")


@pytest.fixture(scope="module")
def identity_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _identity(tmp_path_factory.mktemp("pre") / "identity.xml", [-1, 3, 32, 32])


def _encode(pixels: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photos() -> list[bytes]:
    """PNG and JPEG images of several sizes (and modes) cut from scikit-learn's sample photos."""
    china, flower = load_sample_images().images
    return [
        _encode(china, "JPEG"),  # 427 x 640
        _encode(flower[100:300, 50:350], "PNG"),  # 200 x 300
        _encode(china[::4, ::4], "PNG"),  # 107 x 160
        _encode(flower[:90, :120], "JPEG"),  # 90 x 120
        _encode(china[200:264, 300:364], "PNG"),  # 64 x 64
        _encode(np.asarray(Image.fromarray(flower[:50, :70]).convert("L")), "PNG"),  # grey
        _encode(np.dstack([china[:60, :80], np.full((60, 80), 128, np.uint8)]), "PNG"),  # RGBA
    ]


def _frame(images: list[bytes], npartitions: int = 2) -> dd.DataFrame:
    pdf = pd.DataFrame(
        {"jpeg": pd.array(images, dtype=BINARY), "id": np.arange(len(images))},
        index=pd.RangeIndex(100, 100 + len(images)),
    )
    return dd.from_pandas(pdf, npartitions=npartitions)


def _reference_pixels(data: bytes, resize: tuple[int, int], crop: tuple[int, int]) -> np.ndarray:
    """What the pipeline should compute, step by step with Pillow and numpy."""
    image = Image.open(io.BytesIO(data)).convert("RGB").resize((resize[1], resize[0]), Image.Resampling.BILINEAR)
    pixels = np.asarray(image).astype(np.float32)
    top, left = round((resize[0] - crop[0]) / 2), round((resize[1] - crop[1]) / 2)
    pixels = pixels[top : top + crop[0], left : left + crop[1]]
    return (pixels - np.float32(MEAN)) / np.float32(STD)


def _raw_model(xml: Path, feed: np.ndarray) -> np.ndarray:
    compiled = ov.Core().compile_model(str(xml), "CPU", F32)
    return np.asarray(compiled(feed)[0])


def _pipeline(backend: str = "openvino", *, to_rgb: bool = True) -> ChainedPreprocessing:
    return ChainedPreprocessing(
        [
            ImageBytesToTensor(),
            ImageResize(40, 48),
            ImageCenterCrop(32, 32),
            ImageChannelNormalize(MEAN, STD),
            ImageMatToTensor(format="NCHW", to_RGB=to_rgb),
        ],
        backend=backend,
    )


@pytest.mark.parametrize("backend", ["openvino", "numpy"])
def test_dask_bytes_of_mixed_sizes_match_numpy_preprocessing_and_raw_model(
    cnn_xml: Path, photos: list[bytes], backend: str
) -> None:
    ddf = _frame(photos)
    with dask.config.set(scheduler="threads"):
        out = ddf.ov.predict(cnn_xml, inputs={"image": "jpeg"}, preprocess=_pipeline(backend), config=F32).compute()
    reference = np.stack([_reference_pixels(p, (40, 48), (32, 32)) for p in photos]).transpose(0, 3, 1, 2)
    expected = _raw_model(cnn_xml, np.ascontiguousarray(reference))
    got = np.stack(out["prediction"].to_numpy())
    assert list(out.index) == list(range(100, 107))
    assert out["id"].tolist() == list(range(7))
    # Decoding and resizing are the same Pillow calls on both sides; what remains is float32
    # rounding of (x - mean) / std (OpenVINO may multiply by 1/std: ~1 ulp) carried through a
    # 27-term convolution and a mean: relative error ~1e-6. A wrong step moves logits by O(0.1..1).
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def _run(spec: ModelSpec, bound: Any, prepared: Prepared) -> np.ndarray:
    """The identity model's output for prepared images, through the engine as .ov.predict runs it."""
    outputs, _ = get_engine(spec, bound.transform).run_chunks(prepared.chunks, prepared.n_rows)
    return outputs["pixels"]


def test_prepostprocessor_and_numpy_backends_agree_on_preprocessed_tensors(
    identity_xml: Path, photos: list[bytes]
) -> None:
    spec = ModelSpec.from_path(identity_xml, config=F32)
    column = pd.Series(photos, dtype=BINARY)
    tensors = {}
    for backend in ("openvino", "numpy"):
        for to_rgb in (True, False):
            bound = _pipeline(backend, to_rgb=to_rgb).bind(spec.describe(), "image")
            prepared = bound.prepare(column)
            tensors[backend, to_rgb] = _run(spec, bound, prepared)
    # The same float32 arithmetic in both; OpenVINO may compute x * (1/std): values of magnitude ~2
    # then differ by an ulp or two (~5e-7).
    for to_rgb in (True, False):
        np.testing.assert_allclose(tensors["openvino", to_rgb], tensors["numpy", to_rgb], rtol=0, atol=2e-6)
    np.testing.assert_array_equal(tensors["numpy", True], tensors["numpy", False][:, ::-1])
    reference = np.stack([_reference_pixels(p, (40, 48), (32, 32)) for p in photos]).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(tensors["openvino", True], reference, rtol=0, atol=2e-6)


def test_exact_size_images_skip_resizing_and_give_the_raw_pixels(identity_xml: Path) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    column = pd.Series([_encode(p, "PNG") for p in pixels], dtype=BINARY)
    spec = ModelSpec.from_path(identity_xml, config=F32)
    pipeline = ChainedPreprocessing([ImageDecode(), ImageMatToTensor(to_RGB=True)])
    bound = pipeline.bind(spec.describe(), "image")
    got = _run(spec, bound, bound.prepare(column))
    np.testing.assert_array_equal(got, pixels.transpose(0, 3, 1, 2).astype(np.float32))


def test_nhwc_model_gets_bgr_by_default_as_in_analytics_zoo(tmp_path: Path) -> None:
    xml = _identity(tmp_path / "nhwc.xml", [-1, 16, 16, 3])
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    df = pd.DataFrame({"png": pd.Series([_encode(p, "PNG") for p in pixels], dtype=BINARY)})
    pipeline = ChainedPreprocessing([ImageBytesToTensor(), ImageMatToTensor()])
    out = df.ov.predict(xml, inputs="png", preprocess=pipeline, config=F32, keep_input=False)
    got = np.stack(out["prediction"].to_numpy()).reshape(3, 16, 16, 3)
    np.testing.assert_array_equal(got, pixels[..., ::-1].astype(np.float32))


def test_grey_model_input_decodes_to_one_channel(tmp_path: Path, photos: list[bytes]) -> None:
    xml = _identity(tmp_path / "grey.xml", [-1, 1, 8, 8])
    df = pd.DataFrame({"image": pd.Series(photos[:3], dtype=BINARY)})
    pipeline = ChainedPreprocessing([ImageBytesToTensor(), ImageResize(8, 8), ImageChannelNormalize([128.0], [64.0])])
    out = df.ov.predict(xml, preprocess=pipeline, config=F32, keep_input=False)
    expected = [
        (np.asarray(Image.open(io.BytesIO(p)).convert("L").resize((8, 8), Image.Resampling.BILINEAR), np.float32) - 128)
        / 64
        for p in photos[:3]
    ]
    np.testing.assert_allclose(np.stack(out["prediction"].to_numpy()), np.stack(expected).reshape(3, 64), atol=1e-6)


def test_without_resize_mixed_sizes_are_brought_to_the_model_size(cnn_xml: Path, photos: list[bytes]) -> None:
    df = pd.DataFrame({"jpeg": pd.Series(photos, dtype=BINARY)})
    pipeline = ChainedPreprocessing([ImageBytesToTensor(), ImageMatToTensor(to_RGB=True)])
    out = df.ov.predict(cnn_xml, inputs={"image": "jpeg"}, preprocess=pipeline, config=F32)
    pixels = [
        np.asarray(Image.open(io.BytesIO(p)).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)) for p in photos
    ]
    feed = np.stack(pixels).astype(np.float32).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(
        np.stack(out["prediction"].to_numpy()), _raw_model(cnn_xml, np.ascontiguousarray(feed)), rtol=1e-5, atol=1e-5
    )


def test_corrupt_bytes_raise_naming_the_row_and_reason(cnn_xml: Path, photos: list[bytes]) -> None:
    images = [photos[0], b"not an image at all", photos[1], photos[2][:40]]
    ddf = _frame(images, npartitions=1)
    scored = ddf.ov.predict(cnn_xml, inputs={"image": "jpeg"}, preprocess=_pipeline(), config=F32)
    with (
        dask.config.set(scheduler="sync"),
        pytest.raises(InputSchemaError, match=r"row 101 of column 'jpeg'") as info,
    ):
        scored.compute()
    message = str(info.value)
    assert "cannot decode image" in message
    assert "1 more row of this partition failed too" in message
    assert "errors='null'" in message


def test_corrupt_bytes_with_errors_null_keep_every_row(cnn_xml: Path, photos: list[bytes]) -> None:
    images = [photos[0], b"not an image at all", photos[1], None, photos[2][:40], photos[3]]
    ddf = _frame(images, npartitions=2)
    with dask.config.set(scheduler="sync"):
        scored = ddf.ov.predict(cnn_xml, inputs={"image": "jpeg"}, preprocess=_pipeline(), config=F32, errors="null")
        out = scored.compute()
        clean = (
            _frame([photos[0], photos[1], photos[3]], npartitions=1)
            .ov.predict(cnn_xml, inputs={"image": "jpeg"}, preprocess=_pipeline(), config=F32)
            .compute()
        )
    assert len(out) == len(images)
    assert list(out.index) == list(range(100, 106))
    assert out.dtypes.to_dict() == scored._meta.dtypes.to_dict()
    assert out["prediction_error"].dtype == pd.ArrowDtype(pa.string())
    failed = out["prediction_error"].notna().to_numpy()
    np.testing.assert_array_equal(failed, [False, True, False, True, True, False])
    assert out["prediction"].isna().to_numpy().tolist() == failed.tolist()
    assert "cannot decode image" in out["prediction_error"].iloc[1]
    assert out["prediction_error"].iloc[3] == "missing value"
    np.testing.assert_allclose(
        np.stack(out["prediction"][~failed].to_numpy()), np.stack(clean["prediction"].to_numpy()), rtol=1e-6
    )


def test_image_read_reads_paths_and_reports_missing_files(cnn_xml: Path, photos: list[bytes], tmp_path: Path) -> None:
    paths = []
    for i, data in enumerate(photos[:3]):
        path = tmp_path / f"img{i}.bin"
        path.write_bytes(data)
        paths.append(str(path))
    paths.insert(1, str(tmp_path / "missing.jpg"))
    ddf = dd.from_pandas(pd.DataFrame({"path": paths}), npartitions=2)
    pipeline = ChainedPreprocessing([ImageRead(), *_pipeline().steps[1:]])
    with dask.config.set(scheduler="sync"):
        out = ddf.ov.predict(
            cnn_xml, inputs={"image": "path"}, preprocess=pipeline, config=F32, errors="null"
        ).compute()
    assert out["prediction_error"].iloc[1] == f"file not found: {tmp_path / 'missing.jpg'}"
    assert out["prediction_error"].isna().tolist() == [True, False, True, True]
    reference = np.stack([_reference_pixels(p, (40, 48), (32, 32)) for p in photos[:3]]).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(
        np.stack(out["prediction"].iloc[[0, 2, 3]].to_numpy()),
        _raw_model(cnn_xml, np.ascontiguousarray(reference)),
        rtol=1e-5,
        atol=1e-5,
    )


def test_crop_without_resize_runs_per_image_and_flags_small_images(identity_xml: Path, photos: list[bytes]) -> None:
    df = pd.DataFrame({"image": pd.Series([photos[0], _encode(np.zeros((20, 40, 3), np.uint8), "PNG")], dtype=BINARY)})
    pipeline = ChainedPreprocessing([ImageBytesToTensor(), ImageCenterCrop(32, 32), ImageMatToTensor(to_RGB=True)])
    out = df.ov.predict(identity_xml, preprocess=pipeline, config=F32, errors="null")
    assert out["prediction_error"].iloc[1] == "image of 20x40 is smaller than the 32x32 crop"
    china = np.asarray(Image.open(io.BytesIO(photos[0])).convert("RGB"))
    top, left = round((china.shape[0] - 32) / 2), round((china.shape[1] - 32) / 2)
    expected = china[top : top + 32, left : left + 32].transpose(2, 0, 1).astype(np.float32).reshape(-1)
    np.testing.assert_array_equal(out["prediction"].iloc[0], expected)


def test_pipeline_is_checked_against_the_model_when_the_graph_is_built(cnn_xml: Path, photos: list[bytes]) -> None:
    ddf = _frame(photos[:2])
    with pytest.raises(InputSchemaError, match="makes 30x30 images but model input"):
        ddf.ov.predict(
            cnn_xml, inputs={"image": "jpeg"}, preprocess=ChainedPreprocessing([ImageDecode(), ImageResize(30, 30)])
        )
    with pytest.raises(InputSchemaError, match="larger than ImageResize"):
        ddf.ov.predict(
            cnn_xml,
            inputs={"image": "jpeg"},
            preprocess=ChainedPreprocessing([ImageDecode(), ImageResize(20, 20), ImageCenterCrop(32, 32)]),
        )
    with pytest.raises(InputSchemaError, match="needs a column of encoded image bytes; column 'id'"):
        ddf.ov.predict(cnn_xml, inputs={"image": "id"}, preprocess=_pipeline())
    with pytest.raises(InputSchemaError, match="column 'nope'"):
        ddf.ov.predict(cnn_xml, inputs={"image": "nope"}, preprocess=_pipeline())
    with pytest.raises(InputSchemaError, match="1 means but model input"):
        ddf.ov.predict(
            cnn_xml,
            inputs={"image": "jpeg"},
            preprocess=ChainedPreprocessing([ImageDecode(), ImageResize(32, 32), ImageChannelNormalize([1.0])]),
        )


def test_dynamic_spatial_model_needs_a_resize(tmp_path: Path, photos: list[bytes]) -> None:
    xml = _identity(tmp_path / "dynamic.xml", [-1, 3, -1, -1])
    df = pd.DataFrame({"image": pd.Series(photos[:2], dtype=BINARY)})
    with pytest.raises(InputSchemaError, match="dynamic height or width"):
        df.ov.predict(xml, preprocess=ChainedPreprocessing([ImageDecode()]))
    out = df.ov.predict(xml, preprocess=ChainedPreprocessing([ImageDecode(), ImageResize(8, 10)]), config=F32)
    assert len(out["prediction"].iloc[0]) == 3 * 8 * 10


@pytest.mark.parametrize(
    ("steps", "error"),
    [
        ([], ValueError),
        ([ImageResize(2, 2)], ValueError),
        ([ImageDecode(), ImageCenterCrop(2, 2), ImageResize(4, 4)], ValueError),
        ([ImageDecode(), ImageResize(2, 2), ImageResize(2, 2)], ValueError),
        ([ImageDecode(), "resize"], TypeError),
    ],
)
def test_pipeline_order_is_checked(steps: list[object], error: type[Exception]) -> None:
    with pytest.raises(error):
        ChainedPreprocessing(steps)  # type: ignore[arg-type]


def test_steps_validate_their_arguments() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        ImageResize(0, 10)
    with pytest.raises(ValueError, match="resample"):
        ImageResize(10, 10, resample="cubic")
    with pytest.raises(ValueError, match="1 or 3 means"):
        ImageChannelNormalize([1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        ImageChannelNormalize([1.0, 2.0, 3.0], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="format"):
        ImageMatToTensor(format="CHW")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend"):
        ChainedPreprocessing([ImageDecode()], backend="torch")  # type: ignore[arg-type]


def test_pipelines_and_transforms_are_hashable_and_survive_pickling(cnn_xml: Path) -> None:
    pipeline = ChainedPreprocessing(
        [ImageRead({"anon": True}), *_pipeline().steps[1:]],
    )
    assert pickle.loads(pickle.dumps(pipeline)) == pipeline
    assert hash(pipeline) == hash(ChainedPreprocessing([ImageRead({"anon": True}), *_pipeline().steps[1:]]))
    bound = pipeline.bind(ModelSpec.from_path(cnn_xml).describe(), "image")
    assert isinstance(bound.transform, ImagePreprocessTransform)
    assert pickle.loads(pickle.dumps(bound)) == bound
    assert hash(bound.transform) == hash(pickle.loads(pickle.dumps(bound.transform)))
    assert _pipeline("numpy").bind(ModelSpec.from_path(cnn_xml).describe(), "image").transform is None


def test_baked_model_takes_uint8_nhwc_pixels(cnn_xml: Path) -> None:
    spec = ModelSpec.from_path(cnn_xml)
    bound = _pipeline().bind(spec.describe(), "image")
    (port,) = get_engine(spec, bound.transform).description.inputs
    assert (port.element_type, port.shape) == ("u8", (None, 40, 48, 3))
    assert bound.describe(spec.describe()).inputs == (port,)


def test_failed_rows_get_null_labels_from_postprocessing(cnn_xml: Path, photos: list[bytes]) -> None:
    ddf = _frame([photos[0], b"\x89PNG broken", photos[1]], npartitions=1)
    classes = ["a", "b", "c", "d", "e"]
    scored = ddf.ov.predict(
        cnn_xml,
        inputs={"image": "jpeg"},
        preprocess=_pipeline(),
        postprocess=TopK(2, classes, softmax=True),
        config=F32,
        errors="null",
    )
    out = scored.compute(scheduler="sync")
    assert out.dtypes.to_dict() == scored._meta.dtypes.to_dict()
    assert out["label"].isna().tolist() == [False, True, False]
    assert out["probability"].isna().tolist() == [False, True, False]
    assert out["prediction_error"].isna().tolist() == [True, False, True]
    raw = ddf.ov.predict(cnn_xml, inputs={"image": "jpeg"}, preprocess=_pipeline(), config=F32, errors="null")
    logits = np.stack(raw.compute(scheduler="sync")["prediction"].iloc[[0, 2]].to_numpy())
    assert out["label"].iloc[[0, 2]].tolist() == np.asarray(classes)[np.argsort(-logits, axis=1)[:, :2]].tolist()


def test_decompression_bombs_are_failed_rows(
    cnn_xml: Path, photos: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # 64x64 passes, larger images are "bombs"
    df = pd.DataFrame({"jpeg": pd.array([photos[4], photos[0]], dtype=BINARY)})
    out = df.ov.predict(cnn_xml, inputs={"image": "jpeg"}, preprocess=_pipeline(), config=F32, errors="null")
    assert out["prediction_error"].isna().tolist() == [True, False]
    assert "decompression bomb" in out["prediction_error"].iloc[1]


def test_errors_null_nulls_rows_whose_other_inputs_are_bad(tmp_path: Path, photos: list[bytes]) -> None:
    # A preprocessed image beside a plain integer input: an NA in the integer column nulls that
    # row with its reason, the others are scored, as for a model of plain columns only.
    image = ops.parameter([-1, 3, 32, 32], np.float32, name="image")
    scale = ops.parameter([-1], np.int32, name="scale")
    means = ops.reduce_mean(image, ops.constant(np.array([2, 3], np.int64)), False)
    factor = ops.unsqueeze(ops.convert(scale, "f32"), ops.constant(np.array([1], np.int64)))
    scores = ops.multiply(means, factor)
    scores.output(0).get_tensor().set_names({"scores"})
    xml = _save(ov.Model([scores.output(0)], [image, scale], "scaled"), tmp_path / "scaled.xml")
    frame = pd.DataFrame(
        {"jpeg": pd.array(photos[:4], dtype=pd.ArrowDtype(pa.binary())), "k": pd.array([1, None, 3, 2], "Int64")}
    )
    inputs = {"image": "jpeg", "scale": "k"}
    out = frame.ov.predict(xml, inputs=inputs, preprocess=_pipeline(), config=F32, errors="null", keep_input=False)
    assert out["prediction_error"].notna().tolist() == [False, True, False, False]
    assert "column 'k'" in out["prediction_error"].iloc[1]
    clean = frame.iloc[[0, 2, 3]].ov.predict(xml, inputs=inputs, preprocess=_pipeline(), config=F32, keep_input=False)
    np.testing.assert_allclose(
        np.stack(out["prediction"].iloc[[0, 2, 3]].to_numpy()), np.stack(clean["prediction"].to_numpy()), rtol=1e-6
    )


def test_a_column_of_paths_is_read_a_window_at_a_time(
    cnn_xml: Path, photos: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A partition of paths must not hold every file's bytes at once: files are read
    # FETCH_WINDOW at a time, and each window's bytes are dropped once decoded.
    from dask_openvino.preprocessing import image as image_module

    paths = []
    for i in range(10):
        path = tmp_path / f"img{i}.jpg"
        path.write_bytes(photos[i % len(photos)])
        paths.append(str(path))
    windows: list[int] = []
    read = image_module.read_urls

    def counting(urls: list[str], options: object = ()) -> list[object]:
        windows.append(len(urls))
        return read(urls, options)  # type: ignore[arg-type]

    monkeypatch.setattr(image_module, "read_urls", counting)
    monkeypatch.setattr(image_module, "FETCH_WINDOW", 4)
    pipeline = ChainedPreprocessing([ImageRead(), *_pipeline().steps[1:]])
    out = pd.DataFrame({"path": paths}).ov.predict(cnn_xml, inputs={"image": "path"}, preprocess=pipeline, config=F32)
    assert windows == [4, 4, 2]
    assert out["prediction"].notna().all()
