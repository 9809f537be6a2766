"""Analytics Zoo's ``pyzoo/test/zoo/pipeline/inference/test_inference_model.py``, ported.

Upstream: intel-analytics/analytics-zoo at HEAD (3d3e86d2) and v0.11.2, and the
``load_tf*`` tests of v0.5.0 (disabled upstream from v0.8.1 on). Only the imports changed
(``zoo.pipeline.inference`` -> ``dask_openvino.zoo``) and the downloaded models became
small IRs with the same ports (``upstream_models``); values are checked against plain
OpenVINO in f32. The BigDL and Caffe files cannot be read by OpenVINO at all, so those
tests keep upstream's calls and assert the typed error that says how to get an IR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import upstream_models

from dask_openvino import ConversionError
from dask_openvino.zoo import InferenceModel

np.random.seed(1337)  # as upstream


def test_load_bigdl() -> None:
    """Upstream ``test_load_bigdl`` (HEAD 3d3e86d2, v0.11.2): BigDL's format has no OpenVINO reader."""
    model = InferenceModel(3)
    with pytest.raises(ConversionError, match=r"bigdl_lenet\.model.*no reader for BigDL.*load_onnx"):
        model.load_bigdl("models/bigdl/bigdl_lenet.model")
    with (
        pytest.warns(DeprecationWarning, match=r"deprecated since Analytics Zoo 0\.8\.0"),
        pytest.raises(ConversionError, match=r"ONNX"),
    ):
        model.load("models/bigdl/bigdl_lenet.model")


def test_load_caffe() -> None:
    """Upstream ``test_load_caffe`` (HEAD 3d3e86d2, v0.11.2): OpenVINO removed its Caffe reader."""
    model = InferenceModel(10)
    with pytest.raises(ConversionError, match=r"test_persist\.prototxt.*Caffe reader.*ONNX"):
        model.load_caffe("models/caffe/test_persist.prototxt", "models/caffe/test_persist.caffemodel")


def test_load_openvino(tmp_path: Path) -> None:
    """Upstream ``test_load_openvino`` (HEAD 3d3e86d2, v0.11.2): ``[4, 1, ...]`` is 4 batches of 1 row."""
    xml = tmp_path / "resnet_v1_50.xml"
    upstream_models.resnet(xml, batch=1)
    model = InferenceModel(1)
    model.load_openvino(str(xml), str(xml.with_suffix(".bin")))
    input_data = np.random.random([4, 1, 3, 224, 224])
    output_data = model.predict(input_data)
    assert isinstance(output_data, np.ndarray)
    assert output_data.shape == (4, 1, 1000)
    (expected,) = upstream_models.direct(xml, [input_data.reshape(4, 3, 224, 224)[:1].astype(np.float32)])
    np.testing.assert_allclose(output_data[0], expected, rtol=1e-5, atol=1e-7)
    for batch in range(1, 4):
        (row,) = upstream_models.direct(xml, [input_data[batch].astype(np.float32)])
        np.testing.assert_allclose(output_data[batch], row, rtol=1e-5, atol=1e-7)


def test_load_openvino_ng(tmp_path: Path) -> None:
    """``load_openvino_ng`` of HEAD 3d3e86d2 (no upstream test; BigDL marks it "TODO: Add UT"): the same loader."""
    xml = upstream_models.resnet(tmp_path / "resnet_v1_50.xml")
    model = InferenceModel(1)
    model.load_openvino_ng(str(xml), str(xml.with_suffix(".bin")), batch_size=4)
    input_data = np.random.random([4, 3, 224, 224])
    np.testing.assert_allclose(model.predict(input_data), upstream_models.direct(xml, [input_data])[0], atol=1e-6)


def test_load_tf_openvino() -> None:
    """Upstream ``test_load_tf_openvino`` (v0.5.0): Model Optimizer's Object Detection API path is gone."""
    model = InferenceModel()
    with (
        pytest.warns(DeprecationWarning, match=r"load_tf is deprecated"),
        pytest.raises(ConversionError, match=r"Object Detection API.*SavedModel"),
    ):
        model.load_tf(
            model_path="frozen_inference_graph.pb", backend="openvino", model_type="faster_rcnn_resnet101_coco"
        )
    model2 = InferenceModel()
    with pytest.raises(ConversionError, match=r"Object Detection API"):
        model2.load_tf_object_detection_as_openvino(
            "frozen_inference_graph.pb", "faster_rcnn_resnet101_coco", "pipeline.config", "faster_rcnn_support.json"
        )


def test_load_tf_openvino_ic() -> None:
    """Upstream ``test_load_tf_openvino_ic`` (v0.5.0): a bare TF-Slim checkpoint and the calibration tool are gone.

    Upstream converted ``resnet_v1_50.ckpt`` without a graph (Model Optimizer rebuilt it from
    TF-Slim); with a frozen graph the same call converts (tensorflow is needed to make one).
    """
    model = InferenceModel()
    with pytest.raises(ConversionError, match=r"resnet_v1_50.*checkpoint.*without a graph"):
        model.load_tf_image_classification_as_openvino(
            None, "resnet_v1_50", "resnet_v1_50.ckpt", [4, 224, 224, 3], True, [123.68, 116.78, 103.94], 1
        )
    with pytest.raises(ConversionError, match=r"calibration tool.*dask_openvino\.quantize"):
        model.load_tf_as_calibrated_openvino(
            None,
            "resnet_v1_50",
            "resnet_v1_50.ckpt",
            [4, 224, 224, 3],
            True,
            [123.68, 116.78, 103.94],
            1,
            "C",
            "val.txt",
            "4",
            "/opencv/lib",
        )
