"""Text preprocessing, under its original name: see [`preprocessing.text`][dask_openvino.preprocessing.text]."""

from __future__ import annotations

from dask_openvino.preprocessing.text import (
    DEFAULT_TEXT_BATCH_SIZE,
    PoolingTransform,
    SentenceEmbedding,
    TextPipeline,
    TextTokenize,
    TokenBatches,
    load_tokenizer,
)

__all__ = [
    "DEFAULT_TEXT_BATCH_SIZE",
    "PoolingTransform",
    "SentenceEmbedding",
    "TextPipeline",
    "TextTokenize",
    "TokenBatches",
    "load_tokenizer",
]
