"""The example scripts of ``examples/migration/`` run, each the twin of an upstream example.

Upstream: Analytics Zoo HEAD (3d3e86d2) ``pyzoo/zoo/examples/openvino/predict.py``,
``pyzoo/zoo/examples/vnni/openvino/predict.py``, ``pyzoo/zoo/examples/orca/learn/openvino/predict.py``
and BigDL v2.4.0 ``python/orca/example/{openvino,vnni/openvino,learn/openvino}/predict.py``.
Each script runs in this process (``main(argv)``) with its built-in small IR; the results
are checked against plain OpenVINO in f32 where the script returns them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "migration"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"migration_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_orca_openvino_predict(capsys: pytest.CaptureFixture[str]) -> None:
    """Twin of BigDL v2.4.0 ``python/orca/example/learn/openvino/predict.py``: three YOLO outputs, asserted shapes."""
    result = load("orca_openvino_predict").main(["--data_num", "6", "--batch_size", "4"])
    assert [r.shape for r in result] == [(6, 255, 13, 13), (6, 255, 26, 26), (6, 255, 52, 52)]
    assert "Throughput" in capsys.readouterr().out


def test_openvino_predict(tmp_path: Path) -> None:
    """Twin of Analytics Zoo HEAD ``pyzoo/zoo/examples/openvino/predict.py``: ``[images, 1, ...]`` in and out."""
    example = load("openvino_predict")
    predictions = example.main([])
    assert predictions.shape == (2, 1, 1, 100, 7)
    xml = example.detector_like_ir(tmp_path / "ssd.xml")
    import openvino as ov

    images = np.stack(example.load_images(None, 600, 600))
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(predictions[1], compiled(images[1:2])[0], rtol=1e-5, atol=1e-6)


def test_vnni_predict() -> None:
    """Twin of Analytics Zoo HEAD ``pyzoo/zoo/examples/vnni/openvino/predict.py``: Top-1 of 6 images in batches of 4."""
    top1 = load("vnni_predict").main([])
    assert len(top1) == 6 and all(0 <= t < 1000 for t in top1)
