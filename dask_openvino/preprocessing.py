"""Image preprocessing: decode on the worker, do the arithmetic inside OpenVINO.

A pipeline uses the Analytics Zoo names::

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
  to the pipeline's size before batching: the :class:`ImageResize` target, or without
  one the model's own input size. Pillow was chosen because it is the decoder most
  vision models were trained with (torchvision's datasets hand Pillow images to
  ``transforms.Resize``), so decoding and antialiased resizing match training, which
  OpenVINO's resize (no antialiasing when downscaling) would not; it is well kept
  (regular releases, fuzzed in OSS-Fuzz), ships wheels with libjpeg-turbo, libpng and
  libwebp for every platform, and releases the GIL while decoding and resizing.
  OpenCV would add a large binary dependency and BGR-first conventions for no gain.
- **Everything after that is baked into the compiled model** by default
  (``backend="openvino"``): :class:`ImageCenterCrop`, the element type change from
  u8 to the model's float type, :class:`ImageChannelNormalize`, the RGB to BGR
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
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import fsspec
import numpy as np
import openvino as ov
import pandas as pd
import pyarrow as pa

from dask_openvino.engine import Engine, ModelTransform
from dask_openvino.errors import InputSchemaError, MissingDependencyError
from dask_openvino.spec import ModelDescription, PortInfo

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "BoundPreprocessor",
    "ChainedPreprocessing",
    "ImageBytesToTensor",
    "ImageCenterCrop",
    "ImageChannelNormalize",
    "ImageDecode",
    "ImageMatToTensor",
    "ImagePreprocessTransform",
    "ImageRead",
    "ImageResize",
    "Prepared",
    "Preprocessor",
    "run_prepared",
]

RESAMPLING = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")
"""Resampling filters accepted by :class:`ImageResize` (Pillow's names, lower case)."""


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as err:
        raise MissingDependencyError("image preprocessing needs Pillow: pip install 'dask-openvino[image]'") from err
    return Image


# --------------------------------------------------------------------------- the common protocol


@dataclass(frozen=True)
class Prepared:
    """Model inputs built from one column of a partition, and the rows that could not be used.

    Attributes
    ----------
    n_rows : int
        Rows in the partition.
    failures : mapping of int to str
        Position in the partition -> why that row could not be preprocessed.
    chunks : tuple of (numpy.ndarray, dict) pairs
        Feeds for the rows that succeeded. Each chunk pairs the positions of its rows
        among the successful rows (``0 .. n_ok - 1``) with one array per model input;
        the chunks together cover every successful row once. Images give a single
        chunk; text gives one chunk per batch, each padded to its own longest row.
    lengths : numpy.ndarray or None
        For text, the token count of each successful row: token-level outputs
        (second axis as wide as the chunk's inputs) are zeroed past it, so padding
        never shows in results.
    """

    n_rows: int
    failures: Mapping[int, str]
    chunks: tuple[tuple[np.ndarray, dict[str, np.ndarray]], ...]
    lengths: np.ndarray | None = None

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask over the partition's rows: True where preprocessing succeeded."""
        mask = np.ones(self.n_rows, dtype=bool)
        mask[list(self.failures)] = False
        return mask

    def raise_first_failure(self, index: pd.Index, column: str) -> None:
        """Raise :class:`InputSchemaError` for the first failed row, if any.

        Parameters
        ----------
        index : pandas.Index
            The partition's index, to name the row by its label.
        column : str
            The column that was preprocessed.

        Raises
        ------
        InputSchemaError
            Naming the row's index label and position, the reason, and how many other rows failed.
        """
        if not self.failures:
            return
        position = min(self.failures)
        others = len(self.failures) - 1
        more = f" ({others} more row{'s' if others != 1 else ''} of this partition failed too)" if others else ""
        raise InputSchemaError(
            f"row {index[position]!r} (position {position} in its partition) of column {column!r}: "
            f"{self.failures[position]}{more}. Pass errors='null' to score the other rows and get the "
            "reason in the error column"
        )


def run_prepared(
    engine: Engine,
    prepared: Prepared,
    other_feeds: Mapping[str, np.ndarray],
    *,
    batch_size: int | None = None,
    capture_failures: bool = False,
) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """Run ``engine`` over prepared chunks and return the outputs of the successful rows, in row order.

    Several chunks (text batches of different lengths) run concurrently, one
    ``Engine.run`` per chunk from a small thread pool, so that OpenVINO keeps as many
    requests in flight as with one call. Outputs whose row shape differs between
    chunks (token-level outputs of text padded per batch) are zero-padded to the
    largest.

    Parameters
    ----------
    engine : Engine
        The compiled (transformed) model.
    prepared : Prepared
        The preprocessed column; must have at least one successful row.
    other_feeds : mapping of str to numpy.ndarray
        Arrays for the model inputs the preprocessor does not feed, one row per successful row.
    batch_size : int, optional
        Rows per inference.
    capture_failures : bool, default False
        Isolate rows whose inference fails (see
        :meth:`~dask_openvino.engine.Engine.run_capturing_failures`) instead of raising.

    Returns
    -------
    outputs : dict of str to numpy.ndarray
        One array per model output, one row per successful row (zeros for rows whose inference failed).
    failures : dict of int to str
        Position among the successful rows -> why its inference failed (empty unless ``capture_failures``).

    Examples
    --------
    >>> outputs, _ = run_prepared(get_engine(spec, bound.transform), bound.prepare(df["jpeg"]), {})  # doctest: +SKIP
    """
    failures: dict[int, str] = {}

    def run(chunk: tuple[np.ndarray, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        positions, feeds = chunk
        extra = {name: array[positions] for name, array in other_feeds.items()}
        if capture_failures:
            outputs, failed = engine.run_capturing_failures({**feeds, **extra}, batch_size=batch_size)
            failures.update({int(positions[row]): reason for row, reason in failed.items()})
        else:
            outputs = engine.run({**feeds, **extra}, batch_size=batch_size)
        if prepared.lengths is not None:
            width = next(iter(feeds.values())).shape[1]
            past = np.arange(width) >= prepared.lengths[positions][:, np.newaxis]
            for array in outputs.values():
                if array.ndim >= 2 and array.shape[1] == width:
                    array[past] = 0
        return outputs

    chunks = prepared.chunks
    if len(chunks) == 1 and np.array_equal(chunks[0][0], np.arange(len(chunks[0][0]))):
        return run(chunks[0]), failures
    with ThreadPoolExecutor(max_workers=max(1, min(engine.requests_per_call, len(chunks)))) as pool:
        results = list(pool.map(run, chunks))
    n_ok = sum(len(positions) for positions, _ in chunks)
    merged: dict[str, np.ndarray] = {}
    for name in results[0]:
        parts = [result[name] for result in results]
        row_shape = tuple(max(sizes) for sizes in zip(*(p.shape[1:] for p in parts), strict=True))
        out = np.zeros((n_ok, *row_shape), dtype=parts[0].dtype)
        for (positions, _), part in zip(chunks, parts, strict=True):
            widths = [(0, 0), *((0, want - got) for want, got in zip(row_shape, part.shape[1:], strict=True))]
            out[positions] = np.pad(part, widths) if any(w for _, w in widths) else part
        merged[name] = out
    return merged, failures


class BoundPreprocessor(Protocol):
    """A preprocessor checked against one model; travels in the task graph.

    Attributes
    ----------
    inputs : tuple of str
        The model inputs this preprocessor feeds.
    transform : ModelTransform or None
        Edits baked into the compiled model (part of the engine cache key).
    """

    inputs: tuple[str, ...]
    transform: ModelTransform | None

    def describe(self, description: ModelDescription) -> ModelDescription:
        """Return the model's ports once :attr:`transform` is applied, worked out without reading the model."""

    def check_column(self, dtype: Any, column: str) -> None:
        """Raise :class:`InputSchemaError` if a column of ``dtype`` cannot be preprocessed."""

    def prepare(self, values: pd.Series, *, batch_size: int | None) -> Prepared:
        """Turn one partition's column into model feeds."""


class Preprocessor(Protocol):
    """What ``preprocess=`` accepts: a pipeline that can be bound to a model input."""

    def bind(self, description: ModelDescription, input_name: str) -> BoundPreprocessor:
        """Check the pipeline against the model and fix where each step runs."""


# --------------------------------------------------------------------------- the steps


def _storage_items(options: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> tuple[tuple[str, Any], ...]:
    items = options.items() if isinstance(options, Mapping) else options
    return tuple(sorted((str(k), v) for k, v in items))


@dataclass(frozen=True)
class ImageBytesToTensor:
    """Decode encoded image bytes (JPEG, PNG, WebP, BMP, TIFF, ... anything Pillow reads).

    The column holds bytes: in Dask, a ``pd.ArrowDtype(pa.binary())`` column (Dask
    turns object columns into strings). Images are converted to RGB (or to grey
    for a one-channel model input); an alpha channel is dropped and EXIF
    orientation is not applied (as torchvision's Pillow loader).

    Examples
    --------
    >>> pipeline = ChainedPreprocessing([ImageBytesToTensor(), ImageResize(224, 224)])
    """


ImageDecode = ImageBytesToTensor
"""Alias of :class:`ImageBytesToTensor`."""


@dataclass(frozen=True)
class ImageRead:
    """Read and decode images from paths or fsspec URIs held in a string column.

    Parameters
    ----------
    storage_options : mapping, optional
        Options for ``fsspec`` (credentials, endpoint, ...), used on every worker.

    Examples
    --------
    >>> pipeline = ChainedPreprocessing([ImageRead({"anon": True}), ImageResize(224, 224)])
    """

    storage_options: tuple[tuple[str, Any], ...] = ()

    def __init__(self, storage_options: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        object.__setattr__(self, "storage_options", _storage_items(storage_options))


@dataclass(frozen=True)
class ImageResize:
    """Resize every image to ``height`` x ``width`` (aspect ratio not kept), on the worker with Pillow.

    Parameters
    ----------
    height, width : int
        The target size in pixels.
    resample : str, default "bilinear"
        Pillow's filter: one of :data:`RESAMPLING`. Pillow antialiases when
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

    After an :class:`ImageResize` the crop is baked into the model; without one it
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
"""Any step of an image pipeline."""

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


def _check_size(height: int, width: int, what: str) -> None:
    for value in (height, width):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{what} needs positive integer height and width, got {height!r} x {width!r}")


# --------------------------------------------------------------------------- the baked transform


@dataclass(frozen=True)
class _Arithmetic:
    """What happens to a uint8 NHWC batch after decoding and resizing, in either backend."""

    crop: tuple[int, int, int, int] | None  # top, left, height, width
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    reverse_channels: bool  # RGB -> BGR
    layout: Literal["NCHW", "NHWC"]
    dtype: str  # numpy name of the model input's element type

    def numpy(self, batch: np.ndarray) -> np.ndarray:
        """Apply the arithmetic to ``[N, H, W, C]`` uint8 pixels with numpy.

        Each value is written once: the cast, the normalisation and the layout change
        go straight into the output array (a chain of temporaries was 2x slower).
        """
        if self.crop is not None:
            top, left, height, width = self.crop
            batch = batch[:, top : top + height, left : left + width, :]
        if self.reverse_channels:
            batch = batch[..., ::-1]
        n_rows, height, width, channels = batch.shape
        shape = (n_rows, channels, height, width) if self.layout == "NCHW" else (n_rows, height, width, channels)
        out = np.empty(shape, dtype=np.float32)
        target = out.transpose(0, 2, 3, 1) if self.layout == "NCHW" else out
        if self.mean is not None and self.std is not None:
            order = slice(None, None, -1) if self.reverse_channels else slice(None)
            np.subtract(batch, np.asarray(self.mean, np.float32)[order], out=target)
            np.divide(target, np.asarray(self.std, np.float32)[order], out=target)
        else:
            target[...] = batch
        return out if out.dtype == self.dtype else out.astype(self.dtype)


@dataclass(frozen=True)
class ImagePreprocessTransform:
    """Bakes the post-decoding image arithmetic into a model with ``PrePostProcessor``.

    After :meth:`apply`, the model input ``input`` takes ``[N, height, width, channels]``
    uint8 RGB (or grey) pixels and crops, converts, normalises and re-lays them out
    itself. Built by :meth:`ChainedPreprocessing.bind`; hashable, so it is part of the
    engine cache key.

    Attributes
    ----------
    input : str
        The model input it rewrites.
    height, width, channels : int
        The pixel batch the worker ships.
    """

    input: str
    height: int
    width: int
    channels: int
    arithmetic: _Arithmetic

    def apply(self, model: ov.Model) -> ov.Model:
        """Return ``model`` with the preprocessing steps prepended to :attr:`input`.

        Examples
        --------
        >>> model = transform.apply(ov.Core().read_model("model.xml"))  # doctest: +SKIP
        """
        from openvino.preprocess import ColorFormat, PrePostProcessor

        steps = self.arithmetic
        ppp = PrePostProcessor(model)
        port = ppp.input(self.input)
        tensor = port.tensor()
        tensor.set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
        batch = model.input(self.input).get_partial_shape()[0]
        tensor.set_shape(
            ov.PartialShape([batch, ov.Dimension(self.height), ov.Dimension(self.width), ov.Dimension(self.channels)])
        )
        if self.channels == 3:
            tensor.set_color_format(ColorFormat.RGB)
        port.model().set_layout(ov.Layout(steps.layout))
        pre = port.preprocess()
        if steps.crop is not None:
            top, left, height, width = steps.crop
            # The batch axis of crop's end is "to the end": INT32_MAX, as -1 would drop the last row.
            pre.crop([0, top, left, 0], [2**31 - 1, top + height, left + width, self.channels])
        pre.convert_element_type(ov.Type.f32)
        if steps.mean is not None and steps.std is not None:
            pre.mean(list(steps.mean)).scale(list(steps.std))
        if steps.reverse_channels:
            pre.convert_color(ColorFormat.BGR)
        if steps.layout == "NCHW":
            pre.convert_layout(ov.Layout("NCHW"))
        return ppp.build()


# --------------------------------------------------------------------------- the pipeline


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

    Steps come in this order (each at most once): :class:`ImageBytesToTensor` or
    :class:`ImageRead`; :class:`ImageResize`; :class:`ImageCenterCrop`;
    :class:`ImageChannelNormalize`; :class:`ImageMatToTensor`. Without
    :class:`ImageMatToTensor` the layout is read from the model and channels are BGR,
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
        arithmetic = _Arithmetic(
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
    """A :class:`ChainedPreprocessing` bound to one model input; what travels in the task graph.

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
    arithmetic : _Arithmetic
        The steps after decoding and resizing.
    transform : ImagePreprocessTransform or None
        The same steps baked into the model (``backend="openvino"``), else None.
    """

    input: str
    read: tuple[tuple[str, Any], ...] | None
    channels: int
    resize: ImageResize | None
    worker_crop: tuple[int, int] | None
    arithmetic: _Arithmetic
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
        image_module = _pillow()
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            raise ValueError("missing value")
        data = self._read(value) if self.read is not None else value
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"expected encoded image bytes, got {type(data).__name__}")
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

    def _read(self, path: Any) -> bytes:
        if not isinstance(path, str):
            raise ValueError(f"expected a path or URI, got {type(path).__name__}")
        try:
            with fsspec.open(path, "rb", **dict(self.read or ())) as f:
                return f.read()  # type: ignore[no-any-return]
        except FileNotFoundError:
            raise ValueError(f"file not found: {path}") from None
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read {path}: {err}") from None

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
            The column: bytes, or paths for :class:`ImageRead`.
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
        for position, value in enumerate(values.tolist()):
            try:
                pixels.append(self.load(value))
            except ValueError as err:
                failures[position] = str(err)
        batch = np.stack(pixels) if pixels else np.empty((0, height, width, self.channels), np.uint8)
        feed = batch if self.transform is not None else self.arithmetic.numpy(batch)
        return Prepared(
            n_rows=len(values),
            failures=failures,
            chunks=((np.arange(len(pixels)), {self.input: feed}),),
        )
