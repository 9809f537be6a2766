"""The image arithmetic after decoding and resizing, in its two forms: numpy, or baked into the model.

[`ImageArithmetic`][dask_openvino.preprocessing.image_transform.ImageArithmetic] holds
the centre crop, normalisation, channel order and layout of a bound pipeline;
[`ImagePreprocessTransform`][dask_openvino.preprocessing.image_transform.ImagePreprocessTransform]
adds the same steps to a model with ``openvino.preprocess.PrePostProcessor``, so the
worker ships ``uint8`` NHWC pixels and OpenVINO fuses the arithmetic into the first layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import openvino as ov

__all__ = ["ImageArithmetic", "ImagePreprocessTransform"]


@dataclass(frozen=True)
class ImageArithmetic:
    """What happens to a uint8 NHWC batch after decoding and resizing, in either backend.

    Attributes
    ----------
    crop : tuple of int or None
        ``(top, left, height, width)`` of a centre crop.
    mean, std : tuple of float or None
        Per-channel normalisation, RGB order.
    reverse_channels : bool
        RGB to BGR.
    layout : {"NCHW", "NHWC"}
        The model input's layout.
    dtype : str
        Numpy name of the model input's element type.
    """

    crop: tuple[int, int, int, int] | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    reverse_channels: bool
    layout: Literal["NCHW", "NHWC"]
    dtype: str

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

    After ``apply``, the model input ``input`` takes ``[N, height, width, channels]``
    uint8 RGB (or grey) pixels and crops, converts, normalises and re-lays them out
    itself. Built by [`ChainedPreprocessing.bind`][dask_openvino.preprocessing.image.ChainedPreprocessing.bind];
    hashable, so it is part of the engine cache key.

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
    arithmetic: ImageArithmetic

    def apply(self, model: ov.Model) -> ov.Model:
        """Return ``model`` with the preprocessing steps prepended to ``input``.

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
