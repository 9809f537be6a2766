"""Preprocessing on the workers: one column in, model inputs out.

[`base`][dask_openvino.preprocessing.base] holds the protocol every pipeline follows;
[`image`][dask_openvino.preprocessing.image] (with its
[`steps`][dask_openvino.preprocessing.image_steps] and the
[`arithmetic baked into the model`][dask_openvino.preprocessing.image_transform]) and
[`text`][dask_openvino.preprocessing.text] are its two implementations.

An image pipeline uses the Analytics Zoo names::

    ChainedPreprocessing([
        ImageBytesToTensor(),              # or ImageRead() for paths / fsspec URIs
        ImageResize(256, 256),
        ImageCenterCrop(224, 224),
        ImageChannelNormalize((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
        ImageMatToTensor(format="NCHW", to_RGB=True),
    ])

and is passed as ``ddf.ov.predict(model, inputs={"image": "jpeg"}, preprocess=...)``.
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
