"""The steps of an image pipeline, with the Analytics Zoo names: plain, frozen values.

Each step only holds and checks its settings;
[`ChainedPreprocessing`][dask_openvino.preprocessing.image.ChainedPreprocessing]
decides where each one runs (decoding and resizing on the worker with Pillow, the
rest baked into the model or done in numpy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dask_openvino.checks import positive_int
from dask_openvino.storage import StorageOptions, freeze_options

__all__ = [
    "RESAMPLING",
    "ImageBytesToTensor",
    "ImageCenterCrop",
    "ImageChannelNormalize",
    "ImageDecode",
    "ImageMatToTensor",
    "ImageRead",
    "ImageResize",
    "ImageStep",
]

RESAMPLING = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")
"""Resampling filters accepted by [`ImageResize`][dask_openvino.preprocessing.image_steps.ImageResize] (Pillow's)."""


@dataclass(frozen=True)
class ImageBytesToTensor:
    """Decode encoded image bytes (JPEG, PNG, WebP, BMP, TIFF, ... anything Pillow reads).

    The column holds bytes: in Dask, a ``pd.ArrowDtype(pa.binary())`` column (Dask
    turns object columns into strings). Images are converted to RGB (or to grey
    for a one-channel model input); an alpha channel is dropped and EXIF
    orientation is not applied (as torchvision's Pillow loader).

    Examples
    --------
    >>> from dask_openvino import ChainedPreprocessing
    >>> pipeline = ChainedPreprocessing([ImageBytesToTensor(), ImageResize(224, 224)])
    """


ImageDecode = ImageBytesToTensor
"""Alias of [`ImageBytesToTensor`][dask_openvino.preprocessing.image_steps.ImageBytesToTensor]."""


@dataclass(frozen=True)
class ImageRead:
    """Read and decode images from paths or fsspec URIs held in a string column.

    Each partition's files are read on the worker, several at a time (one batched
    request on S3, GCS or HTTP), by [`read_files`][dask_openvino.images.read_files];
    [`read_images`][dask_openvino.images.read_images] makes such a column from a folder
    or glob. A file that cannot be read is a failed row, like bytes that do not decode.

    Parameters
    ----------
    storage_options : mapping, optional
        Options for ``fsspec`` (credentials, endpoint, ...), used on every worker.

    Examples
    --------
    >>> from dask_openvino import ChainedPreprocessing
    >>> pipeline = ChainedPreprocessing([ImageRead({"anon": True}), ImageResize(224, 224)])
    """

    storage_options: StorageOptions = ()

    def __init__(self, storage_options: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        object.__setattr__(self, "storage_options", freeze_options(storage_options))


@dataclass(frozen=True)
class ImageResize:
    """Resize every image to ``height`` x ``width`` (aspect ratio not kept), on the worker with Pillow.

    Parameters
    ----------
    height, width : int
        The target size in pixels.
    resample : str, default "bilinear"
        Pillow's filter: one of [`RESAMPLING`][dask_openvino.preprocessing.image_steps.RESAMPLING]. Pillow
        antialiases when
        downscaling, as torchvision's ``Resize`` on Pillow images does.

    Examples
    --------
    >>> ImageResize(256, 256, resample="bicubic")
    ImageResize(height=256, width=256, resample='bicubic')
    """

    height: int
    width: int
    resample: str = "bilinear"

    def __post_init__(self) -> None:
        _check_size(self.height, self.width, "ImageResize")
        if self.resample not in RESAMPLING:
            raise ValueError(f"ImageResize(resample=...) must be one of {RESAMPLING}, got {self.resample!r}")


@dataclass(frozen=True)
class ImageCenterCrop:
    """Cut the central ``height`` x ``width`` region out of every image.

    After an [`ImageResize`][dask_openvino.preprocessing.image_steps.ImageResize] the crop is baked into the model;
    without one it
    runs on the worker, per image, and an image smaller than the crop is a failed row.

    Parameters
    ----------
    height, width : int
        The crop size in pixels.

    Examples
    --------
    >>> ImageCenterCrop(224, 224)
    ImageCenterCrop(height=224, width=224)
    """

    height: int
    width: int

    def __post_init__(self) -> None:
        _check_size(self.height, self.width, "ImageCenterCrop")


@dataclass(frozen=True)
class ImageChannelNormalize:
    """Per channel ``(pixel - mean) / std``, on pixel values in ``0..255``, channels in RGB order.

    Unlike Analytics Zoo's six positional numbers, ``mean`` and ``std`` are sequences
    (three for colour images, one for grey). For models trained on ``0..1`` inputs
    with ImageNet statistics, multiply both by 255.

    Parameters
    ----------
    mean : sequence of float
        Per-channel means, R, G, B.
    std : sequence of float, default (1.0, 1.0, 1.0)
        Per-channel standard deviations, R, G, B; all positive.

    Examples
    --------
    >>> ImageChannelNormalize((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
    ImageChannelNormalize(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))
    """

    mean: tuple[float, ...]
    std: tuple[float, ...] = (1.0, 1.0, 1.0)

    def __init__(self, mean: Sequence[float], std: Sequence[float] | None = None) -> None:
        means = tuple(float(m) for m in mean)
        stds = tuple(float(s) for s in std) if std is not None else (1.0,) * len(means)
        if len(means) not in (1, 3) or len(stds) != len(means):
            raise ValueError(
                f"ImageChannelNormalize needs 1 or 3 means and as many stds, got {len(means)} and {len(stds)}"
            )
        if not all(s > 0 for s in stds):
            raise ValueError(f"ImageChannelNormalize stds must be positive, got {stds}")
        object.__setattr__(self, "mean", means)
        object.__setattr__(self, "std", stds)


@dataclass(frozen=True)
class ImageMatToTensor:
    """Lay the pixels out as the model's input tensor.

    Parameters
    ----------
    format : {"NCHW", "NHWC"}, optional
        The model input's layout. By default read from its shape (the axis of size
        1 or 3 is the channel axis).
    to_RGB : bool, default False
        Channel order of the tensor: RGB when True. False gives BGR, the Analytics
        Zoo default (its images were OpenCV BGR matrices); Caffe- and OpenCV-trained
        models want BGR, torchvision-trained models want RGB. Ignored for grey images.

    Examples
    --------
    >>> ImageMatToTensor(format="NCHW", to_RGB=True)
    ImageMatToTensor(format='NCHW', to_RGB=True)
    """

    format: Literal["NCHW", "NHWC"] | None = None
    to_RGB: bool = False  # noqa: N815  (the Analytics Zoo name)

    def __post_init__(self) -> None:
        if self.format not in (None, "NCHW", "NHWC"):
            raise ValueError(f"ImageMatToTensor(format=...) must be 'NCHW' or 'NHWC', got {self.format!r}")


ImageStep = ImageBytesToTensor | ImageRead | ImageResize | ImageCenterCrop | ImageChannelNormalize | ImageMatToTensor


def _check_size(height: int, width: int, what: str) -> None:
    for value in (height, width):
        positive_int(value, f"{what}'s height and width")
