from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import openvino as ov
import pytest
from _fresh_process import F32, run_fresh_interpreter
from _onnx_models import conv1x1
from openvino import opset13 as ops
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dask_openvino import ConversionError, MissingDependencyError, ModelSpec, get_engine
from dask_openvino.convert import convert, convert_model, embed_preprocessing


def run_f32(spec: ModelSpec, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return get_engine(spec.with_options(config=F32)).run(feeds)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def conv_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conv1x1(tmp_path_factory.mktemp("onnx") / "conv.onnx")


def images(n: int = 5) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, size=(n, 3, 4, 4)).astype(np.float32)


def test_embedded_preprocessing_equals_numpy_preprocessing(conv_onnx: Path, tmp_path: Path) -> None:
    mean, scale = np.array([10.0, 20.0, 30.0]), np.array([2.0, 4.0, 8.0])
    spec = convert(
        conv_onnx,
        tmp_path,
        layout="NCHW",
        mean_values=mean.tolist(),
        scale_values=scale.tolist(),
        reverse_input_channels=True,
    )
    x = images()
    got = run_f32(spec, {"image": x})["output"]

    prepared = ((x[:, ::-1] - mean[None, :, None, None]) / scale[None, :, None, None]).astype(np.float32)
    expected = ort.InferenceSession(str(conv_onnx), providers=["CPUExecutionProvider"]).run(None, {"image": prepared})
    np.testing.assert_allclose(got, expected[0], rtol=1e-5, atol=1e-4)
    assert spec.xml == str(tmp_path / "conv.xml")
    assert spec.describe().inputs[0].shape == (None, 3, 4, 4)


def test_input_shape_reshapes_and_scalar_mean_needs_no_layout(conv_onnx: Path) -> None:
    model = convert_model(conv_onnx, input_shape=[2, 3, 4, 4], mean_values=100.0)
    assert isinstance(model, ov.Model)
    assert model.input(0).get_partial_shape() == ov.PartialShape([2, 3, 4, 4])
    x = images(2)
    got = ov.Core().compile_model(model, "CPU", F32)({"image": x})[0]
    onnx = ort.InferenceSession(str(conv_onnx), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(got, onnx.run(None, {"image": x - 100.0})[0], rtol=1e-5, atol=1e-4)


def two_input_model() -> ov.Model:
    a = ops.parameter([-1, 3], np.float32, name="a")
    b = ops.parameter([-1, 3], np.float32, name="b")
    return ov.Model([ops.add(a, b)], [a, b], "two")


def test_embed_preprocessing_on_named_inputs_leaves_the_original_untouched() -> None:
    model = two_input_model()
    baked = embed_preprocessing(model, layout={"a": "NC"}, mean_values={"a": [1.0, 2.0, 3.0]}, scale_values={"b": 2.0})
    ones = np.ones((2, 3), np.float32)
    got = ov.Core().compile_model(baked, "CPU", F32)({"a": ones, "b": ones})[0]
    np.testing.assert_allclose(got, (ones - [1.0, 2.0, 3.0]) + ones / 2.0)
    untouched = ov.Core().compile_model(model, "CPU", F32)({"a": ones, "b": ones})[0]
    np.testing.assert_allclose(untouched, ones + ones)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mean_values": {"a": [1.0, 2.0, 3.0]}}, "pass layout="),
        ({"reverse_input_channels": True, "layout": {"a": "NC"}}, "a list of input names"),
        ({"scale_values": 2.0}, "as a dict keyed by input name"),
        ({"layout": {"c": "NC"}}, "names inputs ['c']"),
    ],
)
def test_embed_preprocessing_rejects_ambiguous_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        embed_preprocessing(two_input_model(), **kwargs)  # type: ignore[arg-type]


def test_preprocessing_openvino_rejects_becomes_conversion_error() -> None:
    with pytest.raises(ConversionError, match="cannot embed the preprocessing"):
        embed_preprocessing(two_input_model(), layout={"a": "NC"}, mean_values={"a": [1.0, 2.0]})


def fit_quietly(estimator, x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(x, y)


@pytest.mark.parametrize(
    "estimator",
    [
        MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, random_state=0),
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)),
        make_pipeline(StandardScaler(), Ridge()),
    ],
    ids=["mlp", "scaler+logistic", "scaler+ridge"],
)
def test_scikit_learn_estimators_match_scikit_learn(
    estimator: object, digits: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    x, y = digits
    fitted = fit_quietly(estimator, x, y)
    spec = convert(fitted, tmp_path)
    outputs = spec.describe().outputs
    got = run_f32(spec, {"X": x})
    if hasattr(fitted, "predict_proba"):
        assert [p.name for p in outputs] == ["probabilities"]
        expected = fitted.predict_proba(x)
    else:
        expected = fitted.predict(x).reshape(-1, 1)
    (result,) = got.values()
    assert float(np.max(np.abs(result - expected))) < 1e-4


def test_estimators_without_openvino_operators_are_named(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    forest = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)).fit(x, y)
    with pytest.raises(ConversionError, match=r"RandomForestClassifier.*TreeEnsembleClassifier"):
        convert_model(forest)


def test_unfitted_estimator_is_refused() -> None:
    with pytest.raises(ConversionError, match="not fitted"):
        convert_model(LogisticRegression())


def test_missing_skl2onnx_names_the_package(
    monkeypatch: pytest.MonkeyPatch, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = digits
    fitted = fit_quietly(LogisticRegression(max_iter=50), x[:200], y[:200])
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(MissingDependencyError, match=r"skl2onnx.*dask-openvino\[convert\]"):
        convert_model(fitted)


def test_converter_failure_carries_the_converters_message(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not a protobuf")
    with pytest.raises(ConversionError, match=r"openvino.convert_model cannot convert .*broken.onnx:\n.+"):
        convert(broken, tmp_path)
    with pytest.raises(ConversionError, match="no such file"):
        convert(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="source must be"):
        convert_model(object())


@pytest.mark.slow
def test_pytorch_module(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, kernel_size=3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 5),
    ).eval()
    example = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match="example_input"):
        convert_model(module)
    spec = convert(module, tmp_path, example_input=example, input_shape=[-1, 3, 8, 8])
    assert Path(spec.xml).name == "sequential.xml"
    x = np.random.default_rng(1).normal(size=(6, 3, 8, 8)).astype(np.float32)
    (got,) = run_f32(spec, {spec.describe().inputs[0].name: x}).values()
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_openvino_model_is_saved_where_asked_and_may_be_compressed(tmp_path: Path) -> None:
    x = ops.parameter([-1, 64], np.float32, name="x")
    weights = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    model = ov.Model([ops.matmul(x, ops.constant(weights), False, False)], [x], "dense")

    spec = convert(model, tmp_path / "out", name="dense32", input_shape=[4, 64])
    assert spec.xml == str(tmp_path / "out" / "dense32.xml")
    assert spec.describe().inputs[0].shape == (4, 64)
    assert model.input(0).get_partial_shape().is_dynamic  # the caller's model is not modified

    half = convert(model, compress_to_fp16=True)
    assert Path(half.xml).name == "dense.xml"
    assert Path(half.xml).parent.name.startswith("dask-openvino-")
    assert os.path.getsize(half.weights) < os.path.getsize(spec.weights)
    assert 'element_type="f16"' in Path(half.xml).read_text()


@pytest.mark.slow
def test_openvino_convert_model_forks_from_a_background_thread(tmp_path: Path) -> None:
    """The hazard is real where the regression test runs: openvino.convert_model forks from other threads.

    Its telemetry reports start a ``multiprocessing.Process`` from a thread pool; a
    fork there while the main thread is in a threaded OpenBLAS call hangs that call.
    """
    report = run_fresh_interpreter("openvino", tmp_path, seconds=20, timeout=120)
    threads = [thread for phase, thread in report["forks"] if phase == "openvino"]
    assert threads
    assert all(thread != "MainThread" for thread in threads)


@pytest.mark.slow
def test_convert_then_threaded_openblas_does_not_hang(tmp_path: Path) -> None:
    """Regression: after convert(), scikit-learn's multi-threaded predict_proba once hung forever."""
    report = run_fresh_interpreter("convert", tmp_path, seconds=3, timeout=180)
    assert [fork for fork in report["forks"] if fork[0] != "import"] == []
    assert report["predict_calls"] > 0
