"""Preprocessing on the workers: one column in, model inputs out.

[`base`][dask_openvino.preprocessing.base] holds the protocol every pipeline follows;
[`image`][dask_openvino.preprocessing.image] (with its
[`steps`][dask_openvino.preprocessing.image_steps] and the
[`arithmetic baked into the model`][dask_openvino.preprocessing.image_transform]) and
[`text`][dask_openvino.preprocessing.text] are its two implementations.

An image pipeline ([`ChainedPreprocessing`][dask_openvino.preprocessing.image.ChainedPreprocessing])
or a tokenizer ([`TextTokenize`][dask_openvino.preprocessing.text.TextTokenize]) is passed as
``ddf.ov.predict(model, inputs={"image": "jpeg"}, preprocess=...)``.
"""

from __future__ import annotations

from dask_openvino.preprocessing.base import BoundPreprocessor, Prepared, Preprocessor
from dask_openvino.preprocessing.image import ChainedPreprocessing, ImagePipeline
from dask_openvino.preprocessing.image_steps import (
    RESAMPLING,
    ImageBytesToTensor,
    ImageCenterCrop,
    ImageChannelNormalize,
    ImageDecode,
    ImageMatToTensor,
    ImageRead,
    ImageResize,
)
from dask_openvino.preprocessing.image_transform import ImagePreprocessTransform
from dask_openvino.preprocessing.text import SentenceEmbedding, TextTokenize

__all__ = [
    "RESAMPLING",
    "BoundPreprocessor",
    "ChainedPreprocessing",
    "ImageBytesToTensor",
    "ImageCenterCrop",
    "ImageChannelNormalize",
    "ImageDecode",
    "ImageMatToTensor",
    "ImagePipeline",
    "ImagePreprocessTransform",
    "ImageRead",
    "ImageResize",
    "Prepared",
    "Preprocessor",
    "SentenceEmbedding",
    "TextTokenize",
]
