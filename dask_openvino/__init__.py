"""dask-openvino: fast, distributed batch inference over DataFrames with OpenVINO on CPUs.

Importing the package registers the ``.ov`` accessor on Dask and pandas DataFrames:

    import dask.dataframe as dd
    import dask_openvino

    ddf = dd.read_parquet("features/")
    ddf.ov.predict("model.xml", inputs=["f0", "f1", "f2"]).to_parquet("scored/")
"""

from __future__ import annotations

from dask_openvino import accessor as _accessor  # noqa: F401  (registers the .ov accessors)
from dask_openvino.cache import CacheInfo, cache_info, clear_cache, get_engine
from dask_openvino.convert import convert, convert_model, embed_preprocessing
from dask_openvino.errors import (
    ConversionError,
    DaskOpenVINOError,
    InferenceError,
    InputNotFoundError,
    InputReadError,
    InputSchemaError,
    InputValueError,
    JobCancelledError,
    MissingDependencyError,
    ModelChangedError,
    ModelLoadError,
    OutputError,
    ResumeMismatchError,
    SchedulerConnectionError,
    SettingError,
    UnsupportedElementTypeError,
    VersionMismatchError,
)
from dask_openvino.estimator import Estimator, OpenvinoEstimator
from dask_openvino.images import read_images
from dask_openvino.output import WrittenOutput, check_output, write_scored
from dask_openvino.plugin import WarmUp
from dask_openvino.postprocessing import ArgMax, Expand, LabelOutput, Softmax, Threshold, TopK
from dask_openvino.precision import PrecisionReport, PrecisionResult, check_precision
from dask_openvino.preprocessing import (
    ChainedPreprocessing,
    ImageBytesToTensor,
    ImageCenterCrop,
    ImageChannelNormalize,
    ImageDecode,
    ImageMatToTensor,
    ImageRead,
    ImageResize,
)
from dask_openvino.quantize import FidelityReport, fidelity_report, quantize
from dask_openvino.spec import ModelDescription, ModelSpec, PortInfo
from dask_openvino.text import SentenceEmbedding, TextTokenize
from dask_openvino.versions import check_versions
from dask_openvino.zoo import InferenceModel

__version__ = "0.1.0"

__all__ = [
    "ArgMax",
    "CacheInfo",
    "ChainedPreprocessing",
    "ConversionError",
    "DaskOpenVINOError",
    "Estimator",
    "Expand",
    "FidelityReport",
    "ImageBytesToTensor",
    "ImageCenterCrop",
    "ImageChannelNormalize",
    "ImageDecode",
    "ImageMatToTensor",
    "ImageRead",
    "ImageResize",
    "InferenceError",
    "InferenceModel",
    "InputNotFoundError",
    "InputReadError",
    "InputSchemaError",
    "InputValueError",
    "JobCancelledError",
    "LabelOutput",
    "MissingDependencyError",
    "ModelChangedError",
    "ModelDescription",
    "ModelLoadError",
    "ModelSpec",
    "OpenvinoEstimator",
    "OutputError",
    "PortInfo",
    "PrecisionReport",
    "PrecisionResult",
    "ResumeMismatchError",
    "SchedulerConnectionError",
    "SentenceEmbedding",
    "SettingError",
    "Softmax",
    "TextTokenize",
    "Threshold",
    "TopK",
    "UnsupportedElementTypeError",
    "VersionMismatchError",
    "WarmUp",
    "WrittenOutput",
    "cache_info",
    "check_output",
    "check_precision",
    "check_versions",
    "clear_cache",
    "convert",
    "convert_model",
    "embed_preprocessing",
    "fidelity_report",
    "get_engine",
    "quantize",
    "read_images",
    "write_scored",
    "__version__",
]
