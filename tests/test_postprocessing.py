"""Postprocessors: vectorized label/probability columns whose meta is known before the model runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
import pyarrow as pa
import pytest
from openvino import opset13 as ops

import dask_openvino  # noqa: F401  (registers .ov)
from dask_openvino.errors import InputSchemaError
from dask_openvino.postprocessing import (
    ArgMax,
    Expand,
    LabelOutput,
    Softmax,
    Threshold,
    TopK,
    argmax,
    expand,
    softmax,
    softmax_array,
    threshold,
    topk,
)
from dask_openvino.spec import PortInfo

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
CLASSES = ["ant", "bee", "cat", "dog", "eel", "fox"]
LOGITS = PortInfo("logits", "f32", (None, 6))


def _classifier(path: Path) -> Path:
    """logits[?, 6] = x[?, 4] @ W and score[?, 1] = x @ v."""
    rng = np.random.default_rng(11)
    x = ops.parameter([-1, 4], np.float32, name="x")
    logits = ops.matmul(x, ops.constant(rng.normal(size=(4, 6)).astype(np.float32) * 3), False, False)
    score = ops.matmul(x, ops.constant(rng.normal(size=(4, 1)).astype(np.float32)), False, False)
    logits.output(0).get_tensor().set_names({"logits"})
    score.output(0).get_tensor().set_names({"score"})
    model = ov.Model([logits.output(0), score.output(0)], [x], "classifier")
    ov.save_model(model, path, compress_to_fp16=False)
    return path


def _single(path: Path) -> Path:
    rng = np.random.default_rng(11)
    x = ops.parameter([-1, 4], np.float32, name="x")
    logits = ops.matmul(x, ops.constant(rng.normal(size=(4, 6)).astype(np.float32) * 3), False, False)
    logits.output(0).get_tensor().set_names({"logits"})
    ov.save_model(ov.Model([logits.output(0)], [x], "single"), path, compress_to_fp16=False)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("post")
    return _single(folder / "single.xml"), _classifier(folder / "two.xml")


@pytest.fixture(scope="module")
def features() -> dd.DataFrame:
    rng = np.random.default_rng(5)
    values = rng.normal(size=(40, 4)).astype(np.float32)
    pdf = pd.DataFrame(values, columns=["f0", "f1", "f2", "f3"], index=pd.RangeIndex(10, 50))
    return dd.from_pandas(pdf, npartitions=3)


def _raw(ddf: dd.DataFrame, xml: Path) -> np.ndarray:
    out = ddf.ov.predict(xml, inputs=["f0", "f1", "f2", "f3"], config=F32, keep_input=False).compute()
    return np.stack(out["prediction"].to_numpy())


def test_topk_labels_equal_argsort_of_the_raw_outputs(models: tuple[Path, Path], features: dd.DataFrame) -> None:
    single, _ = models
    raw = _raw(features, single)
    scored = features.ov.predict(
        single, inputs=["f0", "f1", "f2", "f3"], postprocess=TopK(3, labels=CLASSES), config=F32
    )
    with dask.config.set(scheduler="threads"):
        out = scored.compute()
    assert out.dtypes.to_dict() == scored._meta.dtypes.to_dict()
    assert out["label"].dtype == pd.ArrowDtype(pa.list_(pa.string(), 3))
    assert out["probability"].dtype == pd.ArrowDtype(pa.list_(pa.float32(), 3))
    order = np.argsort(-raw, axis=1, kind="stable")[:, :3]
    assert out["label"].tolist() == np.asarray(CLASSES)[order].tolist()
    np.testing.assert_array_equal(np.stack(out["probability"].to_numpy()), np.take_along_axis(raw, order, axis=1))
    assert list(out.columns) == ["f0", "f1", "f2", "f3", "label", "probability"]


def test_topk_with_softmax_expand_and_k1(models: tuple[Path, Path], features: dd.DataFrame) -> None:
    single, _ = models
    raw = _raw(features, single)
    probabilities = np.exp(raw - raw.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    order = np.argsort(-raw, axis=1, kind="stable")
    inputs = ["f0", "f1", "f2", "f3"]
    out = features.ov.predict(
        single, inputs=inputs, postprocess=TopK(2, CLASSES, softmax=True, expand=True), keep_input=False, config=F32
    ).compute()
    assert list(out.columns) == ["label_0", "label_1", "probability_0", "probability_1"]
    assert out["label_1"].tolist() == np.asarray(CLASSES)[order[:, 1]].tolist()
    np.testing.assert_allclose(out["probability_0"], probabilities[np.arange(40), order[:, 0]], rtol=1e-6)
    best = features.ov.predict(single, inputs=inputs, postprocess=topk(1), keep_input=False, config=F32).compute()
    assert best.dtypes.to_dict() == {"label": pd.ArrowDtype(pa.int64()), "probability": np.dtype(np.float32)}
    np.testing.assert_array_equal(best["label"].to_numpy(), order[:, 0])


def test_argmax_softmax_threshold_and_expand_through_dask(models: tuple[Path, Path], features: dd.DataFrame) -> None:
    single, _ = models
    raw = _raw(features, single)
    inputs = ["f0", "f1", "f2", "f3"]

    def run(post: object) -> pd.DataFrame:
        scored = features.ov.predict(single, inputs=inputs, postprocess=post, keep_input=False, config=F32)
        out = scored.compute()
        assert out.dtypes.to_dict() == scored._meta.dtypes.to_dict()
        return out

    assert run(ArgMax(CLASSES))["prediction"].tolist() == np.asarray(CLASSES)[raw.argmax(axis=1)].tolist()
    np.testing.assert_array_equal(run(argmax())["prediction"].to_numpy(), raw.argmax(axis=1))
    probabilities = run(softmax())
    assert probabilities["prediction"].dtype == pd.ArrowDtype(pa.list_(pa.float32(), 6))
    np.testing.assert_allclose(np.stack(probabilities["prediction"].to_numpy()).sum(axis=1), 1.0, rtol=1e-6)
    spread = run(Softmax(expand=True))
    assert list(spread.columns) == [f"prediction_{i}" for i in range(6)]
    np.testing.assert_allclose(spread.to_numpy(), np.stack(probabilities["prediction"].to_numpy()))
    flags = run(threshold(0.0))
    assert flags["prediction"].dtype == pd.ArrowDtype(pa.list_(pa.bool_(), 6))
    np.testing.assert_array_equal(np.stack(flags["prediction"].to_numpy()), raw > 0)
    columns = run(expand())
    assert columns.dtypes.to_dict() == {f"prediction_{i}": np.dtype(np.float32) for i in range(6)}
    np.testing.assert_array_equal(columns.to_numpy(), raw)


def test_multi_output_models_take_a_dict(models: tuple[Path, Path], features: dd.DataFrame) -> None:
    _, two = models
    inputs = ["f0", "f1", "f2", "f3"]
    scored = features.ov.predict(
        two,
        inputs=inputs,
        postprocess={"logits": ArgMax(CLASSES), "score": Threshold(0.0)},
        keep_input=False,
        config=F32,
    )
    out = scored.compute()
    assert out.dtypes.to_dict() == {"logits": pd.ArrowDtype(pa.string()), "score": pd.ArrowDtype(pa.bool_())}
    raw = features.ov.predict(two, inputs=inputs, keep_input=False, config=F32).compute()
    np.testing.assert_array_equal(out["score"].to_numpy(dtype=bool), raw["score"].to_numpy() > 0)
    with pytest.raises(InputSchemaError, match="give postprocess= as a dict"):
        features.ov.predict(two, inputs=inputs, postprocess=Softmax())
    with pytest.raises(InputSchemaError, match="unknown outputs"):
        features.ov.predict(two, inputs=inputs, postprocess={"probs": Softmax()})
    with pytest.raises(InputSchemaError, match="result column names must be unique"):
        features.ov.predict(two, inputs=inputs, postprocess={"logits": TopK(2), "score": TopK(1)})


def test_postprocessors_are_checked_against_the_output_when_the_graph_is_built(
    models: tuple[Path, Path], features: dd.DataFrame
) -> None:
    single, _ = models
    inputs = ["f0", "f1", "f2", "f3"]
    with pytest.raises(InputSchemaError, match="got 2 labels but output logits"):
        features.ov.predict(single, inputs=inputs, postprocess=ArgMax(["a", "b"]))
    with pytest.raises(InputSchemaError, match="more classes than output"):
        features.ov.predict(single, inputs=inputs, postprocess=TopK(7))
    with pytest.raises(InputSchemaError, match="already exists in the input"):
        features.ov.predict(single, inputs=inputs, postprocess=TopK(2, label_column="f0"))
    with pytest.raises(InputSchemaError, match="vector per row"):
        Softmax().columns(PortInfo("maps", "f32", (None, 2, 4, 4)), "maps")
    with pytest.raises(InputSchemaError, match="static size"):
        Softmax(expand=True).columns(PortInfo("v", "f32", (None, None)), "v")
    with pytest.raises(ValueError, match="TopK's k must be a positive integer"):
        TopK(0)
    with pytest.raises(TypeError, match="sequence of class names"):
        ArgMax("cats")


def test_softmax_is_stable_for_large_scores() -> None:
    scores = np.array([[1000.0, 1000.0, -1000.0], [0.0, np.log(3.0), 0.0]], np.float32)
    np.testing.assert_allclose(softmax_array(scores), [[0.5, 0.5, 0.0], [0.2, 0.6, 0.2]], rtol=1e-6)


def test_topk_breaks_ties_by_lower_index_and_handles_k_equal_to_classes() -> None:
    scores = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]], np.float32)
    port = PortInfo("s", "f32", (None, 4))
    out = TopK(4).apply(scores, port, "s")
    assert out["label"].tolist() == [[1, 2, 0, 3], [0, 1, 2, 3]]


def test_topk_breaks_a_tie_at_the_kth_place_by_lower_index_and_agrees_with_argmax() -> None:
    # argpartition picks an arbitrary member of a tie that straddles the k-th place.
    port = PortInfo("s", "f32", (None, 4))
    scores = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 3.0, 3.0, 3.0], [np.nan, 1.0, 2.0, np.inf]], np.float32)
    assert TopK(1).apply(scores, port, "s")["label"].tolist() == [2, 1, 0]
    assert TopK(3).apply(scores, port, "s")["label"].tolist() == [[2, 3, 0], [1, 2, 3], [0, 3, 2]]
    ties = np.random.default_rng(0).integers(0, 3, size=(2_000, 9)).astype(np.float32)
    ties[::7, 4] = np.nan
    port = PortInfo("s", "f32", (None, 9))
    expected = [sorted(range(9), key=lambda i, r=row: (not np.isnan(r[i]), -np.nan_to_num(r[i]), i)) for row in ties]
    for k in (1, 4, 8):
        labels = TopK(k).apply(ties, port, "s")["label"]
        assert [v if k > 1 else [v] for v in labels.tolist()] == [e[:k] for e in expected]
    assert TopK(1).apply(ties, port, "s")["label"].tolist() == ArgMax().apply(ties, port, "s")["s"].tolist()


def test_threshold_on_one_value_per_row_gives_a_boolean_column() -> None:
    port = PortInfo("p", "f32", (None, 1))
    out = Threshold(0.5).apply(np.array([[0.2], [0.7]], np.float32), port, "p")
    assert out["p"].dtype == pd.ArrowDtype(pa.bool_())
    assert out["p"].tolist() == [False, True]


def test_zero_rows_give_the_declared_columns() -> None:
    empty = np.empty((0, 6), np.float32)
    for post in (Softmax(), Softmax(expand=True), ArgMax(CLASSES), TopK(3, CLASSES), Threshold(), Expand()):
        declared = post.columns(LOGITS, "prediction")
        made = post.apply(empty, LOGITS, "prediction")
        assert list(made) == list(declared)
        assert all(len(series) == 0 for series in made.values())


def test_postprocessors_are_hashable_and_picklable() -> None:
    for post in (Softmax(True), ArgMax(CLASSES), TopK(2, CLASSES, softmax=True), Threshold(0.2), Expand()):
        assert pickle.loads(pickle.dumps(post)) == post
        assert hash(pickle.loads(pickle.dumps(post))) == hash(post)
    assert LabelOutput is TopK


def test_expand_of_an_integer_output_keeps_its_declared_dtype_in_rows_that_failed(tmp_path: Path) -> None:
    x = ops.parameter([-1, 2], np.int32, name="x")
    y = ops.add(x, ops.constant(np.array([1], np.int32))).output(0)
    y.get_tensor().set_names({"y"})
    xml = tmp_path / "plus_one.xml"
    ov.save_model(ov.Model([y], [x], "plus_one"), xml, compress_to_fp16=False)
    frame = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": pd.array([4, 5, 6], dtype="Int64")})
    scored = dd.from_pandas(frame, npartitions=1).ov.predict(
        xml, inputs=["a", "b"], postprocess=Expand(), errors="null", keep_input=False
    )
    out = scored.compute()
    assert dict(out.dtypes) == dict(scored.dtypes)  # a NaN made the failed partition's int32 float64
    assert out["prediction_0"].dtype == pd.ArrowDtype(pa.int32())
    assert out["prediction_0"].isna().tolist() == [False, True, False]
    assert out["prediction_0"].dropna().tolist() == [2, 4] and out["prediction_1"].dropna().tolist() == [5, 7]
