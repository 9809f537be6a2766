from __future__ import annotations

import sys
import threading
from pathlib import Path

import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import onnx
import openvino as ov
import pandas as pd
import pyarrow as pa
import pytest
from onnx import TensorProto, helper, numpy_helper

import dask_openvino
import model_factory
from dask_openvino import (
    ConversionError,
    Estimator,
    InferenceModel,
    InputSchemaError,
    MissingDependencyError,
    ModelLoadError,
)
from dask_openvino.cache import get_engine

# This CPU computes in bf16 by default; exact comparisons against numpy or other runtimes need f32.
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def linear_reference(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64) @ model_factory.LINEAR_WEIGHTS + model_factory.LINEAR_BIAS


def direct(xml: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    compiled = ov.Core().compile_model(str(xml), "CPU", F32)
    result = compiled(feeds)
    return {port.get_any_name(): result[port] for port in compiled.outputs}


def list_column(values: np.ndarray) -> pd.Series:
    flat = pa.array(values.reshape(-1))
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.FixedSizeListArray.from_arrays(flat, values[0].size)))


@pytest.fixture(scope="module")
def batch1_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_factory.linear(tmp_path_factory.mktemp("zoo") / "linear_b1.xml", batch=1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# --------------------------------------------------------------------------- InferenceModel.load_openvino


@pytest.mark.parametrize("rows", [1, 4, 10])
def test_load_openvino_with_batch_size_predicts_any_row_count(
    batch1_xml: Path, rng: np.random.Generator, rows: int
) -> None:
    model = InferenceModel(config=F32)
    model.load_openvino(str(batch1_xml), str(batch1_xml.with_suffix(".bin")), batch_size=4)
    x = rng.normal(size=(rows, 3)).astype(np.float32)
    result = model.predict(x)
    assert isinstance(result, np.ndarray)
    assert result.shape == (rows, 2)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, linear_reference(x), atol=1e-5)


def test_load_openvino_reshapes_once_at_load(batch1_xml: Path, rng: np.random.Generator) -> None:
    model = InferenceModel(supported_concurrent_num=2, config=F32)
    model.load_openvino(batch1_xml, batch_size=4)
    assert dask_openvino.cache_info().compiles == 1
    for rows in (1, 4, 10, 33):
        model.predict(rng.normal(size=(rows, 3)).astype(np.float32))
    assert dask_openvino.cache_info().compiles == 1
    loaded = model._loaded
    assert loaded is not None
    engine = get_engine(loaded.local_spec, loaded.transform)
    assert engine.description.inputs[0].shape == (4, 3)
    assert int(engine.compiled.get_property("NUM_STREAMS")) == 2


def test_batch_size_zero_keeps_the_model_batch(batch1_xml: Path, rng: np.random.Generator) -> None:
    model = InferenceModel(config=F32)
    model.load_openvino(batch1_xml)
    loaded = model._loaded
    assert loaded is not None and loaded.transform is None
    x = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), linear_reference(x), atol=1e-5)


@pytest.mark.parametrize(("groups", "rows"), [(3, 4), (2, 10), (1, 1)])
def test_batches_of_rows_form(batch1_xml: Path, rng: np.random.Generator, groups: int, rows: int) -> None:
    model = InferenceModel(config=F32)
    model.load_openvino(batch1_xml, batch_size=4)
    x = rng.normal(size=(groups, rows, 3)).astype(np.float32)
    result = model.predict(x)
    assert result.shape == (groups, rows, 2)
    np.testing.assert_allclose(result, linear_reference(x), atol=1e-5)


def test_multi_input_list_and_dict_multi_output_list(multi_io_xml: Path, rng: np.random.Generator) -> None:
    image = rng.normal(size=(13, 2, 4)).astype(np.float32)
    bias = rng.normal(size=(13, 3)).astype(np.float32)
    ref = direct(multi_io_xml, {"image": image, "bias": bias})
    model = InferenceModel(config=F32)
    model.load_openvino(multi_io_xml, batch_size=4)
    by_list = model.predict([image, bias])
    by_dict = model.predict({"bias": bias, "image": image})
    for result in (by_list, by_dict):
        assert isinstance(result, list) and len(result) == 2
        total, logits = result
        assert total.shape == (13, 1) and logits.shape == (13, 10)
        assert np.abs(total - ref["total"]).max() < 1e-5
        assert np.abs(logits - ref["logits"]).max() < 1e-5
    grouped = model.predict([image.reshape(1, 13, 2, 4), bias.reshape(1, 13, 3)])
    assert grouped[1].shape == (1, 13, 10)
    assert np.abs(grouped[1][0] - ref["logits"]).max() < 1e-5


def test_predict_pandas_frames(linear_xml: Path, multi_io_xml: Path, rng: np.random.Generator) -> None:
    x = rng.normal(size=(9, 3)).astype(np.float32)
    model = InferenceModel(config=F32)
    model.load_openvino(linear_xml)
    stacked = model.predict(pd.DataFrame(x, columns=["a", "b", "c"]))
    np.testing.assert_allclose(stacked, linear_reference(x), atol=1e-5)

    image = rng.normal(size=(9, 2, 4)).astype(np.float32)
    bias = rng.normal(size=(9, 3)).astype(np.float32)
    model.load_openvino(multi_io_xml)
    named = model.predict(pd.DataFrame({"bias": list_column(bias), "image": list_column(image)}))
    positional = model.predict(pd.DataFrame({"pixels": list_column(image), "offsets": list_column(bias)}))
    ref = direct(multi_io_xml, {"image": image, "bias": bias})
    for total, logits in (named, positional):
        assert np.abs(total - ref["total"]).max() < 1e-5
        assert np.abs(logits - ref["logits"]).max() < 1e-5


def test_input_errors_name_expected_and_given(multi_io_xml: Path, linear_xml: Path) -> None:
    model = InferenceModel()
    with pytest.raises(ModelLoadError, match=r"no model yet: call load_openvino"):
        model.predict(np.zeros((1, 3), np.float32))
    with pytest.raises(ModelLoadError, match=r"not_there\.xml"):
        model.load_openvino("not_there.xml")
    model.load_openvino(multi_io_xml)
    with pytest.raises(InputSchemaError, match=r"2 inputs \['image', 'bias'\]; pass a list of 2 arrays"):
        model.predict(np.zeros((1, 2, 4), np.float32))
    with pytest.raises(InputSchemaError, match=r"holds 1 arrays, but the model has 2 inputs"):
        model.predict([np.zeros((1, 2, 4), np.float32)])
    with pytest.raises(InputSchemaError, match=r"unknown \['mask'\]"):
        model.predict({"image": np.zeros((1, 2, 4), np.float32), "mask": np.zeros((1, 3), np.float32)})
    with pytest.raises(InputSchemaError, match=r"\['image'\] come as \[batches, rows, \.\.\.\]"):
        model.predict([np.zeros((2, 1, 2, 4), np.float32), np.zeros((2, 3), np.float32)])
    with pytest.raises(TypeError, match=r"got str"):
        model.predict("image.png")  # type: ignore[arg-type]
    model.load_openvino(linear_xml)
    with pytest.raises(InputSchemaError, match=r"expects dimension 1 = 3"):
        model.predict(np.zeros((2, 4), np.float32))
    with pytest.raises(InputSchemaError, match=r"batch_size must be a non-negative integer"):
        model.load_openvino(linear_xml, batch_size=-1)
    with pytest.raises(ValueError, match=r"supported_concurrent_num must be a positive integer"):
        InferenceModel(supported_concurrent_num=0)


def test_concurrent_predict_from_four_threads(batch1_xml: Path, rng: np.random.Generator) -> None:
    model = InferenceModel(supported_concurrent_num=2, config=F32)
    model.load_openvino(batch1_xml, batch_size=4)
    inputs = [rng.normal(size=(n, 3)).astype(np.float32) for n in (1, 7, 16, 33)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(x: np.ndarray) -> None:
        try:
            barrier.wait()
            for _ in range(25):
                np.testing.assert_allclose(model.predict(x), linear_reference(x), atol=1e-5)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(x,)) for x in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "predict threads hung"
    assert not errors, errors[0]
    assert dask_openvino.cache_info().compiles == 1


# --------------------------------------------------------------------------- distributed_predict


def test_dask_dataframe_is_lazy_and_matches_accessor(linear_xml: Path, rng: np.random.Generator) -> None:
    frame = pd.DataFrame(rng.normal(size=(50, 3)).astype(np.float32), columns=["f0", "f1", "f2"])
    ddf = dd.from_pandas(frame, npartitions=4)
    model = InferenceModel()
    model.load_openvino(linear_xml, batch_size=8)
    compiles = dask_openvino.cache_info().compiles
    lazy = model.predict(ddf)
    assert isinstance(lazy, dd.DataFrame)
    assert dask_openvino.cache_info().compiles == compiles
    expected = ddf.ov.predict(linear_xml, inputs=["f0", "f1", "f2"], batch_size=8, keep_input=False)
    pd.testing.assert_frame_equal(lazy.compute(), expected.compute())
    assert lazy.npartitions == 4


def test_dask_arrays_single_multi_and_grouped(batch1_xml: Path, multi_io_xml: Path, rng: np.random.Generator) -> None:
    x = rng.normal(size=(23, 3)).astype(np.float32)
    model = InferenceModel(config=F32)
    model.load_openvino(batch1_xml, batch_size=4)
    lazy = model.distributed_predict(da.from_array(x, chunks=(6, 2)))
    assert isinstance(lazy, da.Array)
    assert lazy.shape == (23, 2) and lazy.dtype == np.float32
    result = lazy.compute(scheduler="threads")
    np.testing.assert_allclose(result, linear_reference(x), atol=1e-5)

    grouped = model.predict(da.from_array(x[:20].reshape(5, 4, 3), chunks=(2, 4, 3)))
    assert grouped.shape == (5, 4, 2)
    np.testing.assert_allclose(grouped.compute(), linear_reference(x[:20]).reshape(5, 4, 2), atol=1e-5)

    image = rng.normal(size=(17, 2, 4)).astype(np.float32)
    bias = rng.normal(size=(17, 3)).astype(np.float32)
    model.load_openvino(multi_io_xml)
    outputs = model.distributed_predict([da.from_array(image, chunks=5), da.from_array(bias, chunks=7)])
    assert isinstance(outputs, list) and [o.shape for o in outputs] == [(17, 1), (17, 10)]
    # Named like the DataFrame path's tasks, after the model, in the dashboard.
    for output, port in zip(outputs, ("total", "logits"), strict=True):
        assert output.name.startswith(f"predict-{multi_io_xml.stem}-{port}-"), output.name
    ref = direct(multi_io_xml, {"image": image, "bias": bias})
    total, logits = da.compute(*outputs)
    assert np.abs(total - ref["total"]).max() < 1e-5
    assert np.abs(logits - ref["logits"]).max() < 1e-5
    with pytest.raises(TypeError, match=r"distributed_predict takes a Dask DataFrame"):
        model.distributed_predict(image)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- conversion


def write_onnx_mlp(path: Path, rng: np.random.Generator) -> Path:
    """X[N, 4] -> Gemm -> Relu -> Gemm -> logits[N, 3], and softmax(logits) -> probs[N, 3]."""
    w1 = rng.normal(size=(4, 8)).astype(np.float32)
    b1 = rng.normal(size=8).astype(np.float32)
    w2 = rng.normal(size=(8, 3)).astype(np.float32)
    b2 = rng.normal(size=3).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["X", "W1", "B1"], ["hidden"]),
            helper.make_node("Relu", ["hidden"], ["active"]),
            helper.make_node("Gemm", ["active", "W2", "B2"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        ],
        "mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 3]),
        ],
        initializer=[
            numpy_helper.from_array(w1, "W1"),
            numpy_helper.from_array(b1, "B1"),
            numpy_helper.from_array(w2, "W2"),
            numpy_helper.from_array(b2, "B2"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_load_onnx_matches_onnxruntime(tmp_path: Path, rng: np.random.Generator) -> None:
    import onnxruntime

    path = write_onnx_mlp(tmp_path / "mlp.onnx", rng)
    model = InferenceModel(config=F32)
    model.load_onnx(path)
    x = rng.normal(size=(37, 4)).astype(np.float32)
    logits, probs = model.predict(x)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref_logits, ref_probs = session.run(["logits", "probs"], {"X": x})
    assert np.abs(logits - ref_logits).max() < 1e-4
    assert np.abs(probs - ref_probs).max() < 1e-4
    spec = model.spec
    assert Path(spec.xml).exists()
    lazy = model.distributed_predict(da.from_array(x, chunks=10))
    assert np.abs(lazy[1].compute() - ref_probs).max() < 1e-4
    del model, lazy
    assert not Path(spec.xml).exists(), "the converted IR's temporary directory outlived its InferenceModel"


def test_conversion_failures_are_typed(tmp_path: Path) -> None:
    garbage = tmp_path / "model.pdmodel"
    garbage.write_bytes(b"not a model")
    model = InferenceModel()
    with pytest.raises(ConversionError):
        model.load_paddle(garbage)
    with pytest.raises(ValueError, match=r"model_type='savedModel' needs a SavedModel directory"):
        model.load_tensorflow(garbage, "savedModel")
    with pytest.raises(ValueError, match=r"model_type must be 'savedModel' or 'frozenModel'"):
        model.load_tensorflow(garbage, "keras")
    with pytest.raises(ModelLoadError, match=r"no model yet"):
        model.predict(np.zeros((1, 1), np.float32))


def test_load_torch_without_torch_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"needs the torch package: pip install torch"):
        InferenceModel().load_torch(tmp_path / "model.pt", example_input=np.zeros((1, 3), np.float32))


@pytest.mark.slow
def test_load_torch_module_file_matches_torch(tmp_path: Path, rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)).eval()
    path = tmp_path / "net.pt"
    torch.save(net, path)
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ConversionError, match=r"holds a OrderedDict, not a torch.nn.Module"):
        InferenceModel().load_torch(tmp_path / "weights.pt", example_input=torch.zeros(1, 3))
    model = InferenceModel(config=F32)
    model.load_torch(path, example_input=torch.zeros(2, 3))
    x = rng.normal(size=(11, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    assert np.abs(model.predict(x) - expected).max() < 1e-4


# --------------------------------------------------------------------------- Estimator


def test_estimator_dataframe_equals_accessor(linear_xml: Path, rng: np.random.Generator) -> None:
    frame = pd.DataFrame(rng.normal(size=(42, 3)).astype(np.float32), columns=["f0", "f1", "f2"])
    frame["id"] = np.arange(42)
    ddf = dd.from_pandas(frame, npartitions=3)
    est = Estimator.from_openvino(model_path=str(linear_xml))
    result = est.predict(ddf, feature_cols=["f0", "f1", "f2"], batch_size=4)
    assert isinstance(result, dd.DataFrame)
    expected = ddf.ov.predict(linear_xml, inputs=["f0", "f1", "f2"], batch_size=4, output_names=["y"])
    assert list(result.columns) == [*frame.columns, "y"]
    pd.testing.assert_frame_equal(result.compute(), expected.compute())
    eager = est.predict(frame, feature_cols=["f0", "f1", "f2"], batch_size=4)
    assert isinstance(eager, pd.DataFrame)
    pd.testing.assert_frame_equal(eager, expected.compute())


def test_estimator_input_cols_reorder_multi_input(multi_io_xml: Path, rng: np.random.Generator) -> None:
    image = rng.normal(size=(10, 2, 4)).astype(np.float32)
    bias = rng.normal(size=(10, 3)).astype(np.float32)
    frame = pd.DataFrame({"b": list_column(bias), "img": list_column(image)})
    est = Estimator.from_openvino(model_path=multi_io_xml)
    ref = direct(multi_io_xml, {"image": image, "bias": bias})
    scored = est.predict(frame, feature_cols=["b", "img"], input_cols=["bias", "image"], batch_size=None, config=F32)
    assert list(scored.columns) == ["b", "img", "total", "logits"]
    assert np.abs(scored["total"].to_numpy() - ref["total"][:, 0]).max() < 1e-5
    total, logits = est.predict([bias, image], input_cols=["bias", "image"], config=F32)
    assert np.abs(total - ref["total"]).max() < 1e-5
    assert np.abs(logits - ref["logits"]).max() < 1e-5
    with pytest.raises(InputSchemaError, match=r"input_cols \['bias', 'mask'\] must list the model's inputs"):
        est.predict([bias, image], input_cols=["bias", "mask"])
    with pytest.raises(InputSchemaError, match=r"feature_cols \['b'\] must give one column per model input"):
        est.predict(frame, feature_cols=["b"])


def test_estimator_arrays_shards_and_bags(batch1_xml: Path, rng: np.random.Generator) -> None:
    x = rng.normal(size=(9, 3)).astype(np.float32)
    expected = linear_reference(x)
    est = Estimator.from_openvino(model_path=batch1_xml, batch_size=2)
    np.testing.assert_allclose(est.predict(x, config=F32), expected, atol=1e-5)
    np.testing.assert_allclose(est.predict(x, batch_size=None, config=F32), expected, atol=1e-5)
    shard = est.predict({"x": x}, config=F32)
    assert set(shard) == {"prediction"}
    np.testing.assert_allclose(shard["prediction"], expected, atol=1e-5)
    bag = db.from_sequence([{"x": x[:4]}, {"x": x[4:]}], npartitions=2)
    scored = est.predict(bag, config=F32)
    assert isinstance(scored, db.Bag)
    parts = scored.compute()
    np.testing.assert_allclose(np.concatenate([p["prediction"] for p in parts]), expected, atol=1e-5)
    lazy = est.predict(da.from_array(x, chunks=4), config=F32)
    np.testing.assert_allclose(lazy.compute(), expected, atol=1e-5)
    with pytest.raises(InputSchemaError, match=r"each shard must be a dict with key 'x'.*\['features'\]"):
        est.predict({"features": x})
    with pytest.raises(InputSchemaError, match=r"batch_size must be a positive integer"):
        est.predict(x, batch_size=0)


def test_public_names_exported() -> None:
    import dask_openvino.orca
    import dask_openvino.zoo

    assert dask_openvino.zoo.__all__ == ["Estimator", "InferenceModel", "OpenvinoEstimator"]
    assert dask_openvino.orca.__all__ == ["Estimator", "InferenceModel", "OpenvinoEstimator"]
    assert dask_openvino.zoo.InferenceModel is dask_openvino.InferenceModel is dask_openvino.orca.InferenceModel


@pytest.mark.cluster
@pytest.mark.slow
def test_converted_model_on_worker_processes(tmp_path: Path, rng: np.random.Generator) -> None:
    from distributed import Client, LocalCluster

    path = write_onnx_mlp(tmp_path / "mlp.onnx", rng)
    model = InferenceModel(config=F32)
    model.load_onnx(path)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    logits, probs = model.predict(x)
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        lazy_logits, lazy_probs = model.distributed_predict(da.from_array(x, chunks=10))
        scored = model.distributed_predict(dd.from_pandas(frame, npartitions=4)).compute()
        assert np.abs(lazy_probs.compute() - probs).max() < 1e-6
        assert np.abs(lazy_logits.compute() - logits).max() < 1e-6
        infos = client.run(dask_openvino.cache_info)
    compiles = [info.compiles for info in infos.values()]
    assert max(compiles) == 1, f"a worker compiled more than once: {compiles}"
    assert dask_openvino.cache_info().compiles == 1, "the client compiled again for the distributed graph"
    assert list(scored.columns) == ["logits", "probs"]
    stacked = np.stack(scored["probs"].to_numpy())
    assert np.abs(stacked - probs).max() < 1e-6


def test_estimator_scores_shards_of_a_model_with_several_dynamic_dimensions(tmp_path: Path) -> None:
    # An ONNX-style image input [?, 3, ?, ?]: shards and bags keep the rows' shape.
    xml = model_factory.identity(tmp_path / "images.xml", [-1, 3, -1, -1])
    est = Estimator.from_openvino(model_path=str(xml))
    x = np.random.default_rng(7).random((6, 3, 4, 5), dtype=np.float32)
    np.testing.assert_array_equal(est.predict({"x": x})["prediction"], x)
    bag = db.from_sequence([{"x": x[:4]}, {"x": x[4:]}], npartitions=2)
    shards = est.predict(bag).compute(scheduler="sync")
    np.testing.assert_array_equal(np.concatenate([shard["prediction"] for shard in shards]), x)


# --------------------------------------------------------------------------- issue 14: upstream conventions


def test_frames_take_each_upstreams_form_and_n_by_1_stays_a_vector(
    multi_io_xml: Path, rng: np.random.Generator
) -> None:
    import dask_openvino.orca
    import dask_openvino.zoo

    image = rng.normal(size=(7, 2, 4)).astype(np.float32)
    bias = rng.normal(size=(7, 3)).astype(np.float32)
    ref = direct(multi_io_xml, {"image": image, "bias": bias})
    ddf = dd.from_pandas(pd.DataFrame({"image": list_column(image), "bias": list_column(bias)}), npartitions=2)

    zoo = dask_openvino.zoo.Estimator.from_openvino(model_path=multi_io_xml).predict(ddf, config=F32).compute()
    assert list(zoo.columns) == ["image", "bias", "prediction"]
    assert str(zoo["prediction"].dtype) == "list<item: list<item: float>>[pyarrow]"
    rows = zoo["prediction"].tolist()
    assert [len(vectors) for vectors in rows] == [2] * 7
    assert np.abs(np.stack([r[0] for r in rows]) - ref["total"]).max() < 1e-5
    assert np.abs(np.stack([r[1] for r in rows]) - ref["logits"]).max() < 1e-5

    orca = dask_openvino.orca.Estimator.from_openvino(model_path=multi_io_xml).predict(ddf, config=F32).compute()
    assert list(orca.columns) == ["image", "bias", "total", "logits"]
    total = np.concatenate([np.stack(row) for row in orca["total"]])
    logits = np.concatenate([np.stack(row) for row in orca["logits"]])
    assert total.shape == (7, 1) and logits.shape == (7, 10)
    assert np.abs(total - ref["total"]).max() < 1e-5 and np.abs(logits - ref["logits"]).max() < 1e-5

    native = Estimator.from_openvino(model_path=multi_io_xml).predict(ddf, config=F32).compute()
    assert native["total"].dtype == np.float32  # the top-level estimator keeps its flattened form


def test_zoo_single_output_rows_keep_their_shape(tmp_path: Path, rng: np.random.Generator) -> None:
    import dask_openvino.zoo

    column_xml = model_factory.identity(tmp_path / "column.xml", [-1, 1])
    x = rng.normal(size=(5, 1)).astype(np.float32)
    frame = pd.DataFrame({"x": list_column(x)})
    scored = dask_openvino.zoo.Estimator.from_openvino(model_path=column_xml).predict(frame, ["x"], config=F32)
    assert str(scored["prediction"].dtype) == "fixed_size_list<item: float>[1][pyarrow]"
    np.testing.assert_array_equal(np.stack(scored["prediction"].tolist()), x)


def test_shards_keep_keys_in_zoo_and_are_raw_in_orca_bags_of_frames_too(
    linear_xml: Path, multi_io_xml: Path, rng: np.random.Generator
) -> None:
    import dask_openvino.orca
    import dask_openvino.zoo

    x = rng.normal(size=(9, 3)).astype(np.float32)
    shards = db.from_sequence([{"x": x[:4], "id": 0}, {"x": x[4:], "id": 1}], npartitions=2)
    zoo = dask_openvino.zoo.Estimator.from_openvino(model_path=linear_xml)
    kept = zoo.predict(shards, config=F32).compute(scheduler="threads")
    assert [sorted(s) for s in kept] == [["id", "prediction", "x"]] * 2 and kept[1]["id"] == 1
    np.testing.assert_allclose(np.concatenate([s["prediction"] for s in kept]), linear_reference(x), atol=1e-5)
    assert set(zoo.predict({"x": x, "id": 2}, config=F32)) == {"x", "id", "prediction"}
    orca = dask_openvino.orca.Estimator.from_openvino(model_path=linear_xml)
    raw = orca.predict(shards, config=F32).compute(scheduler="threads")
    assert all(isinstance(part, np.ndarray) for part in raw)
    np.testing.assert_allclose(np.concatenate(raw), linear_reference(x), atol=1e-5)

    frames = [pd.DataFrame(x[:5], columns=["a", "b", "c"]), pd.DataFrame(x[5:], columns=["a", "b", "c"])]
    bag = db.from_sequence(frames, npartitions=2)
    for est, column in ((zoo, "prediction"), (orca, "y")):
        parts = est.predict(bag, feature_cols=["a", "b", "c"], config=F32).compute(scheduler="threads")
        assert all(isinstance(part, pd.DataFrame) for part in parts)
        got = np.concatenate([np.stack(part[column].tolist()).reshape(len(part), 2) for part in parts])
        np.testing.assert_allclose(got, linear_reference(x), atol=1e-5)
    with pytest.raises(InputSchemaError, match=r"each element of the Bag must be a shard dict .* got int"):
        orca.predict(db.from_sequence([1, 2]), config=F32).compute(scheduler="sync")


def test_legacy_inference_engine_keys_are_translated_with_a_warning(linear_xml: Path) -> None:
    import dask_openvino.orca

    est = dask_openvino.orca.Estimator.from_openvino(model_path=linear_xml)
    x = np.ones((3, 3), np.float32)
    legacy = {
        "CPU_THREADS_NUM": "1",
        "CPU_BIND_THREAD": "HYBRID_AWARE",
        "CPU_THROUGHPUT_STREAMS": "CPU_THROUGHPUT_AUTO",
    }
    with pytest.warns(DeprecationWarning) as caught:
        np.testing.assert_allclose(est.predict(x, config={**legacy, **F32}), linear_reference(x), atol=1e-5)
    assert any("'CPU_THREADS_NUM'" in str(w.message) and "INFERENCE_NUM_THREADS='1'" in str(w.message) for w in caught)
    assert {str(w.message).split("using ")[1].split("=")[0] for w in caught} == {
        "INFERENCE_NUM_THREADS",
        "ENABLE_CPU_PINNING",
        "NUM_STREAMS",
    }
    with pytest.warns(DeprecationWarning, match=r"NUM_STREAMS='2'"):
        model = InferenceModel(config={"CPU_THROUGHPUT_STREAMS": "2"})
    model.load_openvino(linear_xml)
    assert model.config == {"NUM_STREAMS": "2"}
    with pytest.raises(ValueError, match=r"CPU_BIND_THREAD='SOMETIMES': expected one of"):
        est.predict(x, config={"CPU_BIND_THREAD": "SOMETIMES"})


def test_from_openvino_batch_size_is_used_when_predict_gives_none(batch1_xml: Path) -> None:
    from dask_openvino.transforms import BatchReshape

    est = Estimator.from_openvino(model_path=batch1_xml, batch_size=3)
    est.predict(np.ones((7, 3), np.float32))
    compiles = dask_openvino.cache_info().compiles
    get_engine(est.spec, BatchReshape(3))
    assert dask_openvino.cache_info().compiles == compiles, "predict did not run with from_openvino's batch_size=3"


def test_estimator_load_and_the_methods_upstream_never_implemented(linear_xml: Path, multi_io_xml: Path) -> None:
    import dask_openvino.zoo

    est = dask_openvino.zoo.Estimator.from_openvino(model_path=linear_xml)
    est.load(str(multi_io_xml))
    assert [p.name for p in est.spec.describe().inputs] == ["image", "bias"]
    calls = {
        "fit": (None, 1),
        "evaluate": (None,),
        "get_model": (),
        "save": ("m",),
        "set_tensorboard": ("logs", "app"),
        "clear_gradient_clipping": (),
        "set_constant_gradient_clipping": (0.0, 1.0),
        "set_l2_norm_gradient_clipping": (1.0,),
        "get_train_summary": (),
        "get_validation_summary": (),
        "load_orca_checkpoint": ("ckpt", 1),
    }
    for name, args in calls.items():
        with pytest.raises(NotImplementedError, match=rf"{name} is not supported by the OpenVINO estimator"):
            getattr(est, name)(*args)


def test_inference_model_upstream_signatures(linear_xml: Path, tmp_path: Path, rng: np.random.Generator) -> None:
    model = InferenceModel(2, "float", config=F32)
    model.load_openvino(str(linear_xml), str(linear_xml.with_suffix(".bin")), 0)
    with pytest.raises(ValueError, match=r"bigdl_type='double': OpenVINO runs float32 models"):
        InferenceModel(1, bigdl_type="double")
    with pytest.raises(ValueError, match=r"model_type='frozenModel' needs a frozen graph"):
        model.load_tensorflow(str(tmp_path), "frozenModel", 1, 1, True)
    with pytest.raises(ValueError, match=r"model_type='savedModel' needs a SavedModel directory"):
        model.load_tensorflow_graph(str(tmp_path / "g.pb"), "savedModel", ["input"], ["logits"])
    with pytest.raises(ConversionError, match=r"(?s)cannot convert the TensorFlow model .*saved_model\.pb"):
        model.load_tensorflow(str(tmp_path), "savedModel", ["input"], ["logits"])
    batches = [rng.normal(size=(n, 3)).astype(np.float32) for n in (1, 5, 2)]
    scored = model.distributed_predict(db.from_sequence(batches, npartitions=2), None)
    assert isinstance(scored, db.Bag)
    results = scored.compute(scheduler="threads")
    assert [r.shape for r in results] == [(1, 2), (5, 2), (2, 2)]
    for got, x in zip(results, batches, strict=True):
        np.testing.assert_allclose(got, linear_reference(x), atol=1e-5)


def test_zoo_batch_rows_refuse_a_missing_batch_instead_of_an_empty_prediction(linear_xml: Path) -> None:
    # Analytics Zoo 0.10/0.11: each row holds a whole [B, 3] batch. A null row used to come back
    # as an empty prediction, as if it had been a batch of no rows.
    from dask_openvino.zoo import Estimator as ZooEstimator

    batches = pa.array([[[1.0, 2.0, 3.0]], None, [[4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], pa.list_(pa.list_(pa.float32())))
    frame = pd.DataFrame({"feature": pd.arrays.ArrowExtensionArray(batches)}, index=[10, 11, 12])
    est = ZooEstimator.from_openvino(model_path=str(linear_xml))
    with pytest.raises(dask_openvino.InputValueError, match=r"column 'feature' has 1 null rows \(first: row 11\)"):
        est.predict(frame, feature_cols=["feature"])
    scored = est.predict(frame.loc[[10, 12]], feature_cols=["feature"])
    assert [len(row) for row in scored["prediction"]] == [1, 2]
