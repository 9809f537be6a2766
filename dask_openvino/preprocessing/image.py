"""Image pipelines: decode on the worker, do the arithmetic inside OpenVINO.

A pipeline uses the Analytics Zoo names:

    ChainedPreprocessing([
        ImageBytesToTensor(),              # or ImageRead() for paths / fsspec URIs
        ImageResize(256, 256),
        ImageCenterCrop(224, 224),
        ImageChannelNormalize((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
        ImageMatToTensor(format="NCHW", to_RGB=True),
    ])

and is passed as ``ddf.ov.predict(model, inputs={"image": "jpeg"}, preprocess=...)``.

Where each step runs:

- **Decoding and resizing run on the worker, per image, with Pillow.** Images in one
  partition may have any size, and a batch needs one size, so every image is brought
  to the pipeline's size before batching: the [`ImageResize`][dask_openvino.preprocessing.image_steps.ImageResize]
  target, or without
  one the model's own input size. Pillow was chosen because it is the decoder most
  vision models were trained with (torchvision's datasets hand Pillow images to
  ``transforms.Resize``), so decoding and antialiased resizing match training, which
  OpenVINO's resize (no antialiasing when downscaling) would not; it is well kept
  (regular releases, fuzzed in OSS-Fuzz), ships wheels with libjpeg-turbo, libpng and
  libwebp for every platform, and releases the GIL while decoding and resizing.
  OpenCV would add a large binary dependency and BGR-first conventions for no gain.
- **Everything after that is baked into the compiled model** by default
  (``backend="openvino"``): [`ImageCenterCrop`][dask_openvino.preprocessing.image_steps.ImageCenterCrop], the
  element type change from
  u8 to the model's float type,
  [`ImageChannelNormalize`][dask_openvino.preprocessing.image_steps.ImageChannelNormalize], the RGB to BGR
  channel order and the NHWC to NCHW layout change are added to the model with
  ``openvino.preprocess.PrePostProcessor``. The worker ships plain ``uint8`` NHWC
  batches (4x fewer bytes than float32) and OpenVINO fuses the arithmetic into the
  first layer. ``backend="numpy"`` does the same arithmetic in numpy on the worker and
  feeds the unchanged model, for models or devices where the baked form is not wanted.

Per-row failures (bytes that are not an image, a path that cannot be read, a null)
are collected per row rather than failing the whole partition, so ``.ov.predict``
can raise naming the row (``errors="raise"``) or return nulls for those rows
(``errors="null"``).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from dask_openvino.errors import InputSchemaError, MissingDependencyError
from dask_openvino.images import read_urls
from dask_openvino.preprocessing.base import Prepared
from dask_openvino.preprocessing.image_steps import (
    ImageBytesToTensor,
    ImageCenterCrop,
    ImageChannelNormalize,
    ImageMatToTensor,
    ImageRead,
    ImageResize,
    ImageStep,
)
from dask_openvino.preprocessing.image_transform import ImageArithmetic, ImagePreprocessTransform
from dask_openvino.spec import ModelDescription, PortInfo
from dask_openvino.storage import StorageOptions

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["FETCH_WINDOW", "ChainedPreprocessing", "ImagePipeline"]

FETCH_WINDOW = 64
"""Image files read at a time by a pipeline that reads paths; their bytes are dropped once decoded."""


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as err:
        raise MissingDependencyError("image preprocessing needs Pillow: pip install 'dask-openvino[image]'") from err
    return Image


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


_ORDER = (
    (ImageBytesToTensor, ImageRead),
    (ImageResize,),
    (ImageCenterCrop,),
    (ImageChannelNormalize,),
    (ImageMatToTensor,),
)


def _centre(outer: int, inner: int) -> int:
    """Offset of a centred crop, rounded as torchvision's ``center_crop`` does."""
    return round((outer - inner) / 2.0)


def _image_layout(port: PortInfo, requested: str | None) -> tuple[Literal["NCHW", "NHWC"], int, int | None, int | None]:
    """Layout, channels, height and width of an image input."""
    shape = port.shape
    if shape is None or len(shape) != 4:
        raise InputSchemaError(f"image preprocessing needs a 4-D model input [N, C, H, W] or [N, H, W, C]; got {port}")
    layout: Literal["NCHW", "NHWC"]
    if requested == "NCHW":
        layout = "NCHW"
    elif requested == "NHWC":
        layout = "NHWC"
    elif shape[1] in (1, 3) and shape[3] not in (1, 3):
        layout = "NCHW"
    elif shape[3] in (1, 3) and shape[1] not in (1, 3):
        layout = "NHWC"
    else:
        raise InputSchemaError(
            f"cannot tell the layout of model input {port} from its shape; add ImageMatToTensor(format='NCHW') "
            "or format='NHWC'"
        )
    channels, height, width = (shape[1], shape[2], shape[3]) if layout == "NCHW" else (shape[3], shape[1], shape[2])
    channels = 3 if channels is None else channels
    if channels not in (1, 3):
        raise InputSchemaError(f"model input {port} has {channels} channels in layout {layout}; images give 1 or 3")
    return layout, channels, height, width


@dataclass(frozen=True)
class ChainedPreprocessing:
    """An image pipeline: a decoding step, then optional resize, crop, normalisation and layout.

    Steps come in this order (each at most once):
    [`ImageBytesToTensor`][dask_openvino.preprocessing.image_steps.ImageBytesToTensor] or
    [`ImageRead`][dask_openvino.preprocessing.image_steps.ImageRead];
    [`ImageResize`][dask_openvino.preprocessing.image_steps.ImageResize];
    [`ImageCenterCrop`][dask_openvino.preprocessing.image_steps.ImageCenterCrop];
    [`ImageChannelNormalize`][dask_openvino.preprocessing.image_steps.ImageChannelNormalize];
    [`ImageMatToTensor`][dask_openvino.preprocessing.image_steps.ImageMatToTensor]. Without
    [`ImageMatToTensor`][dask_openvino.preprocessing.image_steps.ImageMatToTensor] the layout is read from the model
    and channels are BGR,
    as with ``ImageMatToTensor()``.

    Parameters
    ----------
    steps : sequence of steps
        The pipeline.
    backend : {"openvino", "numpy"}, default "openvino"
        Where the arithmetic after decoding and resizing runs: baked into the
        compiled model with ``PrePostProcessor``, or in numpy on the worker.

    Examples
    --------
    >>> pipeline = ChainedPreprocessing([
    ...     ImageBytesToTensor(),
    ...     ImageResize(256, 256),
    ...     ImageCenterCrop(224, 224),
    ...     ImageChannelNormalize((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
    ...     ImageMatToTensor(format="NCHW", to_RGB=True),
    ... ])
    >>> ddf.ov.predict("resnet.xml", inputs={"image": "jpeg"}, preprocess=pipeline)  # doctest: +SKIP
    """

    steps: tuple[ImageStep, ...]
    backend: Literal["openvino", "numpy"] = "openvino"

    def __init__(self, steps: Sequence[ImageStep], *, backend: Literal["openvino", "numpy"] = "openvino") -> None:
        steps = tuple(steps)
        if backend not in ("openvino", "numpy"):
            raise ValueError(f"backend must be 'openvino' or 'numpy', got {backend!r}")
        if not steps or not isinstance(steps[0], _ORDER[0]):
            raise ValueError("an image pipeline starts with ImageBytesToTensor() or ImageRead()")
        ranks = []
        for step in steps:
            rank = next((i for i, kinds in enumerate(_ORDER) if isinstance(step, kinds)), None)
            if rank is None:
                raise TypeError(f"{step!r} is not an image preprocessing step")
            ranks.append(rank)
        if any(b <= a for a, b in itertools.pairwise(ranks)):
            names = [type(s).__name__ for s in steps]
            raise ValueError(
                f"steps {names} are out of order or repeated; the order is: ImageBytesToTensor or ImageRead, "
                "ImageResize, ImageCenterCrop, ImageChannelNormalize, ImageMatToTensor (each optional but the first)"
            )
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "backend", backend)

    def _step(self, kind: type[Any]) -> Any:
        return next((s for s in self.steps if isinstance(s, kind)), None)

    def default_input(self, description: ModelDescription) -> str | None:
        """Return the model's only 4-D input, which the pipeline feeds when ``preprocess=`` names none."""
        images = [p.name for p in description.inputs if p.shape is not None and len(p.shape) == 4]
        return images[0] if len(images) == 1 else None

    def bind(self, description: ModelDescription, input_name: str) -> ImagePipeline:
        """Check the pipeline against a model input and decide where each step runs.

        Parameters
        ----------
        description : ModelDescription
            The model's ports.
        input_name : str
            The image input.

        Returns
        -------
        ImagePipeline
            The bound pipeline, run per partition by ``.ov.predict``.

        Raises
        ------
        InputSchemaError
            If the model input is not an image input, or the pipeline's output size
            differs from the model's input size.

        Examples
        --------
        >>> bound = pipeline.bind(ModelSpec.from_path("model.xml").describe(), "image")  # doctest: +SKIP
        """
        port = description.input(input_name)
        to_tensor = self._step(ImageMatToTensor) or ImageMatToTensor()
        layout, channels, model_h, model_w = _image_layout(port, to_tensor.format)
        resize: ImageResize | None = self._step(ImageResize)
        crop: ImageCenterCrop | None = self._step(ImageCenterCrop)
        normalize: ImageChannelNormalize | None = self._step(ImageChannelNormalize)
        worker_crop: tuple[int, int] | None = None
        baked_crop: tuple[int, int, int, int] | None = None
        if resize is not None:
            size = (resize.height, resize.width)
            if crop is not None:
                if crop.height > resize.height or crop.width > resize.width:
                    raise InputSchemaError(
                        f"ImageCenterCrop({crop.height}, {crop.width}) is larger than "
                        f"ImageResize({resize.height}, {resize.width})"
                    )
                top = _centre(resize.height, crop.height)
                left = _centre(resize.width, crop.width)
                baked_crop = (top, left, crop.height, crop.width)
        elif crop is not None:
            size = (crop.height, crop.width)
            worker_crop = size
        elif model_h is not None and model_w is not None:
            size = (model_h, model_w)
            resize = ImageResize(model_h, model_w)
        else:
            raise InputSchemaError(
                f"model input {port} has a dynamic height or width, so images of different sizes cannot be "
                "batched: add ImageResize(height, width) to the pipeline"
            )
        out_h, out_w = (crop.height, crop.width) if crop is not None else size
        if (model_h is not None and model_h != out_h) or (model_w is not None and model_w != out_w):
            raise InputSchemaError(
                f"the pipeline makes {out_h}x{out_w} images but model input {port} ({layout}) needs "
                f"{model_h}x{model_w}; change ImageResize / ImageCenterCrop"
            )
        if normalize is not None and len(normalize.mean) != channels:
            raise InputSchemaError(
                f"ImageChannelNormalize has {len(normalize.mean)} means but model input {port} has {channels} channels"
            )
        arithmetic = ImageArithmetic(
            crop=baked_crop,
            mean=normalize.mean if normalize is not None else None,
            std=normalize.std if normalize is not None else None,
            reverse_channels=channels == 3 and not to_tensor.to_RGB,
            layout=layout,
            dtype=port.dtype.name,
        )
        source = self.steps[0]
        transform = (
            ImagePreprocessTransform(input_name, size[0], size[1], channels, arithmetic)
            if self.backend == "openvino"
            else None
        )
        return ImagePipeline(
            input=input_name,
            read=source.storage_options if isinstance(source, ImageRead) else None,
            channels=channels,
            resize=resize,
            worker_crop=worker_crop,
            arithmetic=arithmetic,
            transform=transform,
        )


@dataclass(frozen=True)
class ImagePipeline:
    """A [`ChainedPreprocessing`][dask_openvino.preprocessing.image.ChainedPreprocessing] bound to one model input.

    This is what travels in the task graph.

    Attributes
    ----------
    input : str
        The model input fed.
    read : tuple or None
        fsspec storage options when the column holds paths / URIs; None for bytes.
    channels : int
        3 (RGB) or 1 (grey).
    resize : ImageResize or None
        The size every image is brought to on the worker.
    worker_crop : tuple of int or None
        ``(height, width)`` of a centre crop done on the worker (no resize in the pipeline).
    arithmetic : ImageArithmetic
        The steps after decoding and resizing.
    transform : ImagePreprocessTransform or None
        The same steps baked into the model (``backend="openvino"``), else None.
    """

    input: str
    read: StorageOptions | None
    channels: int
    resize: ImageResize | None
    worker_crop: tuple[int, int] | None
    arithmetic: ImageArithmetic
    transform: ImagePreprocessTransform | None = field(default=None)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The model inputs fed: the image input."""
        return (self.input,)

    def describe(self, description: ModelDescription) -> ModelDescription:
        """Return the model's ports with the transform applied: the image input takes uint8 NHWC pixels."""
        if self.transform is None:
            return description
        height, width = self._size()
        inputs = tuple(
            PortInfo(p.name, "u8", (p.batch_size, height, width, self.channels)) if p.name == self.input else p
            for p in description.inputs
        )
        return ModelDescription(inputs=inputs, outputs=description.outputs)

    def check_column(self, dtype: Any, column: str) -> None:
        """Check from ``meta`` that the column holds bytes (or strings, for paths).

        Raises
        ------
        InputSchemaError
            If it does not.
        """
        if self.read is not None:
            if not pd.api.types.is_string_dtype(dtype):
                raise InputSchemaError(f"ImageRead needs a column of paths or URIs; column {column!r} is {dtype}")
            return
        is_binary = isinstance(dtype, pd.ArrowDtype) and (
            pa.types.is_binary(dtype.pyarrow_dtype) or pa.types.is_large_binary(dtype.pyarrow_dtype)
        )
        if not (is_binary or dtype == np.dtype(object)):
            raise InputSchemaError(
                f"ImageBytesToTensor needs a column of encoded image bytes; column {column!r} is {dtype}. "
                "In Dask, store bytes as pd.ArrowDtype(pa.binary()) (object columns become strings)"
            )

    def _size(self) -> tuple[int, int]:
        if self.resize is not None:
            return self.resize.height, self.resize.width
        assert self.worker_crop is not None
        return self.worker_crop

    def load(self, value: Any) -> np.ndarray:
        """Decode (or read and decode) one value into ``[H, W, C]`` uint8 pixels of the batch size.

        Raises
        ------
        ValueError
            With a short reason when the value cannot be used.

        Examples
        --------
        >>> bound.load(open("cat.jpg", "rb").read()).shape  # doctest: +SKIP
        (224, 224, 3)
        """
        return self._decode(self._fetch([value])[0] if self.read is not None else value)

    def _fetched(self, items: list[Any]) -> Iterator[Any]:
        """Yield the items, or for paths the files they name, read a window at a time.

        A window's encoded bytes are dropped once its images are decoded, so a partition
        of paths never holds all its files at once.
        """
        if self.read is None:
            yield from items
            return
        for start in range(0, len(items), FETCH_WINDOW):
            yield from self._fetch(items[start : start + FETCH_WINDOW])

    def _fetch(self, values: list[Any]) -> list[Any]:
        """Read the files a partition's paths name, several at a time; a ValueError stands for a failed row."""
        fetched: list[Any] = list(values)
        wanted: list[int] = []
        for position, value in enumerate(values):
            if _missing(value):
                fetched[position] = ValueError("missing value")
            elif not isinstance(value, str):
                fetched[position] = ValueError(f"expected a path or URI, got {type(value).__name__}")
            else:
                wanted.append(position)
        for position, data in zip(wanted, read_urls([values[p] for p in wanted], self.read or ()), strict=True):
            if isinstance(data, FileNotFoundError):
                fetched[position] = ValueError(f"file not found: {values[position]}")
            elif isinstance(data, Exception):
                fetched[position] = ValueError(f"cannot read file {values[position]}: {data}")
            else:
                fetched[position] = data
        return fetched

    def _decode(self, data: Any) -> np.ndarray:
        if isinstance(data, ValueError):
            raise data
        if _missing(data):
            raise ValueError("missing value")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"expected encoded image bytes, got {type(data).__name__}")
        image_module = _pillow()
        try:
            with image_module.open(io.BytesIO(data)) as opened:
                image = opened.convert("RGB" if self.channels == 3 else "L")
        except image_module.UnidentifiedImageError:
            raise ValueError(f"cannot decode image: not a format Pillow recognises ({len(data)} bytes)") from None
        except image_module.DecompressionBombError as err:
            raise ValueError(f"cannot decode image: {err}") from None
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(f"cannot decode image: {err}") from None
        image = self._fit(image)
        pixels = np.asarray(image, dtype=np.uint8)
        return pixels if pixels.ndim == 3 else pixels[..., np.newaxis]

    def _fit(self, image: Image.Image) -> Image.Image:
        if self.resize is not None:
            target = (self.resize.width, self.resize.height)
            if image.size == target:
                return image
            filters = _pillow().Resampling
            return image.resize(target, getattr(filters, self.resize.resample.upper()))
        assert self.worker_crop is not None
        height, width = self.worker_crop
        if image.height < height or image.width < width:
            raise ValueError(f"image of {image.height}x{image.width} is smaller than the {height}x{width} crop")
        top = _centre(image.height, height)
        left = _centre(image.width, width)
        return image.crop((left, top, left + width, top + height))

    def prepare(self, values: pd.Series, *, batch_size: int | None = None) -> Prepared:
        """Decode one partition's column into a uint8 batch (and, with the numpy backend, preprocess it).

        Parameters
        ----------
        values : pandas.Series
            The column: bytes, or paths for [`ImageRead`][dask_openvino.preprocessing.image_steps.ImageRead].
        batch_size : int, optional
            Unused: images are fed as one chunk and the engine batches them.

        Returns
        -------
        Prepared
            One chunk with the image input, and the rows that failed with their reasons.

        Examples
        --------
        >>> prepared = bound.prepare(df["jpeg"])  # doctest: +SKIP
        """
        height, width = self._size()
        failures: dict[int, str] = {}
        pixels: list[np.ndarray] = []
        positions: list[int] = []
        for position, value in enumerate(self._fetched(values.tolist())):
            try:
                pixels.append(self._decode(value))
                positions.append(position)
            except ValueError as err:
                failures[position] = str(err)
        batch = np.stack(pixels) if pixels else np.empty((0, height, width, self.channels), np.uint8)
        feed = batch if self.transform is not None else self.arithmetic.numpy(batch)
        return Prepared(
            n_rows=len(values),
            failures=failures,
            chunks=((np.asarray(positions, dtype=np.int64), {self.input: feed}),),
        )
