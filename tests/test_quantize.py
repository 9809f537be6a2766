from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
import pytest
from _fresh_process import F32, run_fresh_interpreter
from openvino import opset13 as ops
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from dask_openvino import ConversionError, InputSchemaError, MissingDependencyError, ModelSpec, get_engine
from dask_openvino.convert import convert
from dask_openvino.policy import choose_overflow_fix, cpu_features
from dask_openvino.quantize import FidelityReport, _calibration_items, fidelity_report, quantize

COLUMNS = [f"pixel{i}" for i in range(64)]


@pytest.fixture(scope="module")
def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x.astype(np.float32), y, test_size=0.3, random_state=0)
    return x_train, x_test, y_train, y_test


@pytest.fixture(scope="module")
def mlp_fp32(
    digits_split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> ModelSpec:
    x_train, _, y_train, _ = digits_split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=200, random_state=0).fit(x_train, y_train)
    return convert(mlp, tmp_path_factory.mktemp("fp32"), name="digits_mlp").with_options(config=F32)


def test_int8_model_agrees_with_fp32_on_held_out_digits(
    mlp_fp32: ModelSpec,
    digits_split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    tmp_path: Path,
    record_property: pytest.RecordProperty,
) -> None:
    x_train, x_test, _, y_test = digits_split
    calibration = dd.from_pandas(pd.DataFrame(x_train, columns=COLUMNS), npartitions=3)

    int8 = calibration.ov.quantize(mlp_fp32, inputs=COLUMNS, output_dir=tmp_path)

    assert int8.xml == str(tmp_path / "digits_mlp-int8.xml")
    assert int8.config == mlp_fp32.config
    ir = Path(int8.xml).read_text()
    assert ir.count('type="FakeQuantize"') >= 2  # the activations entering both MatMuls
    assert 'element_type="i8"' in ir  # INT8 weights
    report = fidelity_report(mlp_fp32, int8, pd.DataFrame(x_test, columns=COLUMNS), inputs=COLUMNS)
    record_property("fidelity", str(report))
    assert report.rows == len(x_test)
    assert report.top1_agreement["probabilities"] >= 0.99
    assert 0 < report.max_abs_diff["probabilities"] < 0.5
    int8_accuracy = np.mean(get_engine(int8).run({"X": x_test})["probabilities"].argmax(axis=1) == y_test)
    assert int8_accuracy > 0.9


def _int8_weights_within_7_bits(xml: str) -> list[bool]:
    """Whether each INT8 weight constant of an IR, in graph order, keeps to 7 bits (|w| <= 64)."""
    constants = [op for op in ov.Core().read_model(xml).get_ordered_ops() if op.get_type_name() == "Constant"]
    return [bool(np.abs(w.astype(np.int16)).max() <= 64) for op in constants if (w := op.get_data()).dtype == np.int8]


def test_overflow_fix_keeps_weights_to_7_bits_where_asked_and_follows_the_cpu_by_default(
    mlp_fp32: ModelSpec, digits_split: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    # Without VNNI, 8-bit multiply-adds saturate at 16 bits; 7-bit weights cannot. (NNCF's
    # "first_layer_only" finds no first layer to fix in this MLP: it matches "disable" here.)
    calibration = digits_split[0][:100]
    within = {}
    for fix in ("enable", "disable", None):
        int8 = quantize(mlp_fp32, calibration, subset_size=100, output_dir=tmp_path / str(fix), overflow_fix=fix)
        within[fix] = _int8_weights_within_7_bits(int8.xml)
    assert within["enable"] == [True, True]
    assert within["disable"] == [False, False]
    assert within[None] == within["enable" if choose_overflow_fix(None, cpu_features())[0] == "enable" else "disable"]


def test_nncf_failures_carry_nncf_message(mlp_fp32: ModelSpec, tmp_path: Path) -> None:
    x = np.random.default_rng(0).uniform(0, 16, size=(20, 64)).astype(np.float32)
    with pytest.raises(ConversionError, match=r"NNCF cannot quantize .*digits_mlp.xml:\n.*no_such_node"):
        quantize(mlp_fp32, x, output_dir=tmp_path, ignored_scope={"names": ["no_such_node"]})


def test_missing_nncf_names_the_package(linear_xml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nncf", None)
    with pytest.raises(MissingDependencyError, match=r"nncf.*dask-openvino\[quantize\]"):
        quantize(linear_xml, np.ones((4, 3), np.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "fast"}, "preset"),
        ({"model_type": "cnn"}, "model_type"),
        ({"subset_size": 0}, "subset_size"),
        ({"overflow_fix": "first_layer"}, r"overflow_fix must be one of \('enable', 'first_layer_only', 'disable'\)"),
    ],
)
def test_invalid_options_are_refused(linear_xml: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        quantize(linear_xml, np.ones((4, 3), np.float32), **kwargs)  # type: ignore[arg-type]


def test_calibration_frames_are_sampled_and_mapped_like_predict(linear_xml: Path) -> None:
    spec = ModelSpec.from_path(linear_xml)
    frame = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) * 10, "c": -np.arange(50.0)})

    items = _calibration_items(frame, spec, ["a", "b", "c"], subset_size=20)

    assert len(items) == 20
    rows = np.concatenate([item["x"] for item in items])
    assert rows.dtype == np.float32 and rows.shape == (20, 3)
    np.testing.assert_array_equal(rows[:, 1], rows[:, 0] * 10)  # the columns in the order given
    np.testing.assert_array_equal(rows[:, 2], -rows[:, 0])
    assert len(set(rows[:, 0])) == 20  # distinct rows, drawn from all 50
    dask_items = _calibration_items(dd.from_pandas(frame, npartitions=4), spec, ["a", "b", "c"], subset_size=20)
    assert 15 <= len(dask_items) <= 20
    assert all(item["x"][0, 1] == item["x"][0, 0] * 10 for item in dask_items)


def test_calibration_arrays_lists_dicts_and_batches(multi_io_xml: Path, static8_xml: Path) -> None:
    spec = ModelSpec.from_path(multi_io_xml)
    image = np.arange(30 * 8, dtype=np.float64).reshape(30, 2, 4)
    bias = np.arange(30 * 3, dtype=np.float32).reshape(30, 3)

    by_position = _calibration_items([image, bias], spec, None, subset_size=10)
    by_name = _calibration_items({"bias": bias, "image": image}, spec, None, subset_size=10)
    assert len(by_position) == len(by_name) == 10
    for a, b in zip(by_position, by_name, strict=True):
        assert a["image"].dtype == np.float32 and a["image"].shape == (1, 2, 4)
        np.testing.assert_array_equal(a["image"], b["image"])
        row = int(a["bias"][0, 0]) // 3
        np.testing.assert_array_equal(a["image"][0], image[row])  # rows stay aligned across inputs

    def batches() -> Iterator[list[np.ndarray]]:
        for start in range(0, 30, 5):
            yield [image[start : start + 5], bias[start : start + 5]]

    given = _calibration_items(batches(), spec, None, subset_size=4)
    assert [item["image"].shape[0] for item in given] == [5, 5, 5, 5]

    static = _calibration_items(np.ones((30, 3), np.float32), ModelSpec.from_path(static8_xml), None, subset_size=100)
    assert [item["x"].shape for item in static] == [(8, 3)] * 3


def test_calibration_errors(multi_io_xml: Path, linear_xml: Path) -> None:
    spec = ModelSpec.from_path(multi_io_xml)
    with pytest.raises(InputSchemaError, match="model inputs are"):
        _calibration_items({"image": np.ones((4, 2, 4))}, spec, None, subset_size=10)
    with pytest.raises(InputSchemaError, match="pass a list of arrays"):
        _calibration_items(np.ones((4, 2, 4)), spec, None, subset_size=10)
    with pytest.raises(ValueError, match="inputs= maps DataFrame columns"):
        _calibration_items(np.ones((4, 3)), ModelSpec.from_path(linear_xml), ["a"], subset_size=10)
    with pytest.raises(TypeError, match="calibration must be"):
        _calibration_items(3.0, spec, None, subset_size=10)
    linear = ModelSpec.from_path(linear_xml)
    with pytest.raises(InputSchemaError, match="the calibration data has no rows"):
        _calibration_items(np.ones((0, 3), np.float32), linear, None, subset_size=10)
    with pytest.raises(InputSchemaError, match="the calibration data has no rows"):
        _calibration_items(
            pd.DataFrame({"a": [], "b": [], "c": []}, dtype="float32"), linear, list("abc"), subset_size=10
        )


def two_output_model(path: Path) -> Path:
    x = ops.parameter([-1, 3], np.float32, name="x")
    ov.save_model(ov.Model([ops.relu(x), ops.negative(x)], [x], "two_out"), path, compress_to_fp16=False)
    return path


def test_fidelity_report_of_a_model_against_itself(linear_xml: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(17, 3)).astype(np.float32)
    report = fidelity_report(linear_xml, linear_xml, x)
    assert report == FidelityReport(rows=17, max_abs_diff={"y": 0.0}, top1_agreement={"y": 1.0})
    assert "17 rows compared" in str(report) and "top-1 agreement 100.00%" in str(report)
    with pytest.raises(InputSchemaError, match="outputs differ"):
        fidelity_report(linear_xml, two_output_model(tmp_path / "two.xml"), x)
    with pytest.raises(InputSchemaError, match="the holdout data has no rows"):
        fidelity_report(linear_xml, linear_xml, x[:0])  # "0 rows compared, max abs diff 0" would read as a pass


@pytest.mark.slow
def test_quantize_then_threaded_openblas_does_not_hang(tmp_path: Path) -> None:
    """NNCF reports telemetry by forking from a thread too; quantize() keeps it out of the caller's process."""
    report = run_fresh_interpreter("quantize", tmp_path, seconds=3, timeout=240)
    assert [fork for fork in report["forks"] if fork[0] != "import"] == []
    assert report["predict_calls"] > 0
