from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import dask_openvino
import model_factory
from dask_openvino import ModelChangedError, ModelLoadError, ModelSpec


def test_spec_is_small_frozen_and_picklable(linear_xml: Path) -> None:
    spec = ModelSpec.from_path(linear_xml, config={"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False})
    assert spec.config == (("ENABLE_CPU_PINNING", "NO"), ("PERFORMANCE_HINT", "LATENCY"))
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert len(pickle.dumps(spec)) < 1024
    assert hash(spec) == hash(
        ModelSpec.from_path(linear_xml, config={"ENABLE_CPU_PINNING": False, "PERFORMANCE_HINT": "LATENCY"})
    )
    with pytest.raises(AttributeError):
        spec.device = "GPU"  # type: ignore[misc]


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    a = model_factory.linear(tmp_path / "a.xml")
    b = model_factory.linear(tmp_path / "b.xml", features=4)
    assert ModelSpec.from_path(a).fingerprint != ModelSpec.from_path(b).fingerprint
    shutil.copy(a, tmp_path / "c.xml")
    shutil.copy(a.with_suffix(".bin"), tmp_path / "c.bin")
    assert ModelSpec.from_path(tmp_path / "c.xml").fingerprint == ModelSpec.from_path(a).fingerprint


def test_weights_elsewhere(tmp_path: Path) -> None:
    xml = model_factory.linear(tmp_path / "m.xml")
    moved = tmp_path / "weights" / "w.bin"
    moved.parent.mkdir()
    xml.with_suffix(".bin").rename(moved)
    frame = pd.DataFrame(np.ones((4, 3), np.float32), columns=["a", "b", "c"])
    with pytest.raises(ModelLoadError, match=r"m\.bin"):
        frame.ov.predict(xml, inputs=["a", "b", "c"])
    result = frame.ov.predict(xml, weights=moved, inputs=["a", "b", "c"])
    assert len(result) == 4


def test_missing_model_file(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0]})
    with pytest.raises(ModelLoadError, match=r"not found: .*absent\.xml"):
        dd.from_pandas(frame, npartitions=1).ov.predict(tmp_path / "absent.xml")


def test_not_an_xml_path(tmp_path: Path) -> None:
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x07")
    with pytest.raises(ModelLoadError, match=r"expected an OpenVINO IR \.xml file"):
        ModelSpec.from_path(onnx)


def test_non_ir_xml(tmp_path: Path) -> None:
    xml = tmp_path / "page.xml"
    xml.write_text("<html><body>not a model</body></html>")
    (tmp_path / "page.bin").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"cannot read the IR .*page\.xml"):
        ModelSpec.from_path(xml).describe()


def test_truncated_weights(tmp_path: Path) -> None:
    xml = model_factory.linear(tmp_path / "m.xml")
    weights = xml.with_suffix(".bin")
    weights.write_bytes(weights.read_bytes()[:10])
    with pytest.raises(ModelLoadError, match=r"m\.bin \(10 bytes\)"):
        ModelSpec.from_path(xml).describe()


def test_model_replaced_between_build_and_compute(tmp_path: Path) -> None:
    xml = model_factory.linear(tmp_path / "m.xml")
    frame = pd.DataFrame(np.ones((4, 3), np.float32), columns=["a", "b", "c"])
    out = dd.from_pandas(frame, npartitions=2).ov.predict(xml, inputs=["a", "b", "c"])
    # Same shapes, new weights: the job must refuse instead of mixing versions.
    weights = xml.with_suffix(".bin")
    data = bytearray(weights.read_bytes())
    data[:4] = np.float32(9.0).tobytes()
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelChangedError, match=r"changed since the job was built"):
        out.compute()
    assert dask_openvino.cache_info().compiles == 0


def test_describe_reads_ports_without_compiling(multi_io_xml: Path) -> None:
    description = ModelSpec.from_path(multi_io_xml).describe()
    assert [str(p) for p in description.inputs] == ["image: f32[?,2,4]", "bias: f32[?,3]"]
    assert [str(p) for p in description.outputs] == ["total: f32[?,1]", "logits: f32[?,10]"]
    assert description.outputs[1].row_shape == (10,)
    assert description.input("bias").row_size == 3
    with pytest.raises(KeyError, match="its inputs are"):
        description.input("nope")
    assert dask_openvino.cache_info().compiles == 0
