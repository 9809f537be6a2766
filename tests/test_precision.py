from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import openvino as ov
import pandas as pd
import pytest
from click.testing import CliRunner
from openvino import opset13 as ops

import model_factory
from dask_openvino import check_precision
from dask_openvino.cli import main
from dask_openvino.errors import InputSchemaError
from dask_openvino.policy import choose_precision, cpu_features
from dask_openvino.precision import PrecisionResult, _recommend

COLUMNS = [f"f{i}" for i in range(16)]


@pytest.fixture(scope="module")
def classifier_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16-64-10 ReLU network with random weights: logits for ten classes."""
    rng = np.random.default_rng(0)
    x = ops.parameter([-1, 16], np.float32, name="x")
    hidden = ops.relu(ops.matmul(x, ops.constant(rng.normal(size=(16, 64)).astype(np.float32)), False, False))
    logits = ops.matmul(hidden, ops.constant(rng.normal(size=(64, 10)).astype(np.float32)), False, False)
    logits.output(0).get_tensor().set_names({"logits"})
    return model_factory.save(ov.Model([logits.output(0)], [x], "classifier"), tmp_path_factory.mktemp("m") / "c.xml")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(1).normal(size=(3000, 16)).astype(np.float32), columns=COLUMNS)


def test_check_compares_each_precision_with_float32(classifier_xml: Path, frame: pd.DataFrame) -> None:
    report = check_precision(classifier_xml, frame, inputs=COLUMNS, rows=500, seconds=0.2)
    assert report.rows == 500
    names = [result.name for result in report.results]
    fast = "bf16" if "BF16" in cpu_features().capabilities else "f16"
    assert names == ["f32", fast]
    f32 = report.results[0]
    assert f32.compiled == "f32" and f32.max_abs_diff == 0 and f32.top1_agreement == 1.0
    assert all(result.rows_per_second > 0 for result in report.results)
    other = report.results[1]
    assert other.top1_agreement is not None and 0.5 < other.top1_agreement <= 1.0
    if other.compiled == "bf16":
        assert other.max_abs_diff > 0  # bf16 rounds: the check must see it
    auto, _ = choose_precision("auto", cpu_features())
    assert report.auto.startswith(auto)
    text = str(report)
    assert "recommendation: " in text and "rows/s" in text and report.cpu.split()[0] in text


def test_check_refuses_data_without_rows(classifier_xml: Path, frame: pd.DataFrame) -> None:
    with pytest.raises(InputSchemaError, match="the data has no rows"):
        check_precision(classifier_xml, frame.iloc[:0], inputs=COLUMNS, seconds=0.2)


@pytest.mark.slow
def test_check_quantizes_on_the_sample_and_compares_int8(classifier_xml: Path, frame: pd.DataFrame) -> None:
    report = check_precision(classifier_xml, frame, inputs=COLUMNS, rows=400, quantize_sample=True, seconds=0.2)
    int8 = report.results[-1]
    assert int8.name == "INT8" and int8.compiled.startswith("int8, ")
    assert int8.top1_agreement is not None and int8.top1_agreement > 0.5 and int8.max_abs_diff > 0


def _result(name: str, rate: float, agreement: float | None = 1.0) -> PrecisionResult:
    return PrecisionResult(name, name.lower(), rate, 0.01, agreement)


def test_recommendation_weighs_speed_against_agreement() -> None:
    f32 = _result("f32", 100.0)
    assert _recommend([f32, _result("bf16", 105.0)], "bf16").startswith("f32: ")  # not 1.1x faster
    assert _recommend([f32, _result("bf16", 300.0, 0.95)], "bf16").startswith("f32: ")  # agrees too little
    chosen = _recommend([f32, _result("bf16", 300.0, 0.995)], "bf16")
    assert chosen.startswith("bf16: 3.00x f32") and "precision='bf16' (what precision='auto' picks" in chosen
    slower_int8 = _recommend([f32, _result("bf16", 300.0), _result("INT8", 200.0)], "f32")
    assert slower_int8.startswith("bf16: ") and "INT8 was slower than bf16 here" in slower_int8
    assert _recommend([f32, _result("bf16", 150.0), _result("INT8", 400.0)], "f32").startswith("INT8: 4.00x")


def test_check_command_prints_the_table_and_a_recommendation(
    tmp_path: Path, classifier_xml: Path, frame: pd.DataFrame
) -> None:
    frame.to_parquet(tmp_path / "features.parquet")
    args = ["check", str(classifier_xml), str(tmp_path / "features.parquet"), "--inputs", ",".join(COLUMNS)]
    result = CliRunner().invoke(main, [*args, "--rows", "300", "--seconds", "0.2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert re.search(r"f32\s+│\s+f32\s+│", result.output) and "top-1 agreement" in result.output
    assert "auto on this CPU: " in result.output and "Recommendation: " in result.output
    missing = CliRunner().invoke(main, [*args[:3], "--inputs", "nope"], catch_exceptions=False)
    assert missing.exit_code == 1 and "nope" in missing.output
