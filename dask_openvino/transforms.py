"""Model transforms: edits applied to a model between reading and compiling it.

A transform (a batch reshape, image arithmetic baked in with ``PrePostProcessor``,
sentence pooling added to the graph) is a frozen, picklable value: it travels in
the task graph beside the [`ModelSpec`][dask_openvino.spec.ModelSpec] and is part of the
per-process cache key, so each worker compiles each (model, transform) pair once.
Each transform also says how it changes the model's ports, so ``meta`` is built
without reading the model again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import openvino as ov

from dask_openvino.errors import InputSchemaError
from dask_openvino.spec import ModelDescription, PortInfo

__all__ = [
    "BatchReshape",
    "InputLayout",
    "InputLayoutArg",
    "ModelTransform",
    "TransformChain",
    "batch_reshape",
    "chain",
    "layout_transform",
]

InputLayoutArg = None | str | Mapping[str, str]
"""What ``input_layout=`` accepts: a layout such as ``"NHWC"``, or ``{input name: layout}``."""


class ModelTransform(Protocol):
    """Edits a model before it is compiled (reshape, baked preprocessing, ...).

    Implementations are hashable and picklable (frozen dataclasses): they travel
    in the task graph and are part of the per-process cache key.
    """

    def apply(self, model: ov.Model) -> ov.Model:
        """Return the edited model (it may edit ``model`` in place and return it)."""


@dataclass(frozen=True)
class TransformChain:
    """Several [`ModelTransform`][dask_openvino.transforms.ModelTransform] applied in order."""

    steps: tuple[ModelTransform, ...]

    def apply(self, model: ov.Model) -> ov.Model:
        """Apply every step in order."""
        for step in self.steps:
            model = step.apply(model)
        return model


@dataclass(frozen=True)
class BatchReshape:
    """Set the batch (first) dimension of every input to ``batch_size``.

    Used when a model exported with a static batch (often 1) should run with
    another batch size.
    """

    batch_size: int

    def apply(self, model: ov.Model) -> ov.Model:
        """Reshape every input's first dimension, keeping the others."""
        shapes = {}
        for port in model.inputs:
            shape = port.get_partial_shape()
            if shape.rank.is_dynamic or len(shape) == 0:
                raise InputSchemaError(f"cannot set the batch size of input {port.get_any_name()} with shape {shape}")
            shape[0] = ov.Dimension(self.batch_size)
            shapes[port] = shape
        model.reshape(shapes)
        return model

    def describe(self, description: ModelDescription) -> ModelDescription:
        """Return the ports after [`apply`][dask_openvino.transforms.BatchReshape.apply], without reading the model."""

        def with_batch(port: PortInfo) -> PortInfo:
            if not port.shape:
                return port
            return PortInfo(port.name, port.element_type, (self.batch_size, *port.shape[1:]))

        return ModelDescription(
            inputs=tuple(with_batch(p) for p in description.inputs),
            outputs=tuple(with_batch(p) for p in description.outputs),
        )


def batch_reshape(description: ModelDescription, batch_size: int | None) -> BatchReshape | None:
    """Return the reshape a requested batch size needs: only a model whose static batch differs is reshaped.

    Parameters
    ----------
    description : ModelDescription
        The model's ports.
    batch_size : int or None
        The requested rows per inference; None keeps the model as it is.

    Returns
    -------
    BatchReshape or None
    """
    static = {port.batch_size for port in description.inputs}
    if batch_size is None or static == {None} or static == {batch_size}:
        return None
    return BatchReshape(batch_size)


@dataclass(frozen=True)
class InputLayout:
    """Feed inputs in the data's layout: a transpose to the model's layout is added to the model.

    ``PrePostProcessor`` declares each input's tensor layout (the data's, e.g.
    ``NHWC``) and model layout (e.g. ``NCHW``); OpenVINO then inserts the transpose
    into the graph and fuses it with the first layer where it can, so no row is
    copied into another order on the worker. Made by
    [`layout_transform`][dask_openvino.transforms.layout_transform].

    Attributes
    ----------
    layouts : tuple of (input, data layout, model layout) triples
        One per input whose layout changes.

    Examples
    --------
    >>> InputLayout((("x", "NHWC", "NCHW"),)).describe(
    ...     ModelDescription(inputs=(PortInfo("x", "f32", (None, 3, 32, 32)),), outputs=())
    ... ).inputs[0].shape
    (None, 32, 32, 3)
    """

    layouts: tuple[tuple[str, str, str], ...]

    def apply(self, model: ov.Model) -> ov.Model:
        """Return ``model`` with each listed input taking its data layout."""
        from openvino.preprocess import PrePostProcessor

        ppp = PrePostProcessor(model)
        for name, data, model_layout in self.layouts:
            port = ppp.input(name)
            port.tensor().set_layout(ov.Layout(data))
            port.model().set_layout(ov.Layout(model_layout))
        return ppp.build()

    def describe(self, description: ModelDescription) -> ModelDescription:
        """Return the ports after [`apply`][dask_openvino.transforms.InputLayout.apply], without reading the model."""
        changed = {name: (data, model_layout) for name, data, model_layout in self.layouts}

        def laid_out(port: PortInfo) -> PortInfo:
            if port.name not in changed or port.shape is None:
                return port
            data, model_layout = changed[port.name]
            shape = tuple(port.shape[model_layout.index(axis)] for axis in data)
            return PortInfo(port.name, port.element_type, shape, data)

        return ModelDescription(inputs=tuple(laid_out(p) for p in description.inputs), outputs=description.outputs)


def _model_layout(port: PortInfo, data: str) -> str:
    """Return the layout of ``port`` in the model: the IR's, else channels first (``N``, ``C``, then the rest)."""
    if port.layout:
        return port.layout
    if "N" not in data or "C" not in data:
        raise InputSchemaError(
            f"model input {port} declares no layout, and input_layout {data!r} has no N and C to assume the model "
            "is NC... (channels first); give the data's layout with N (the rows) and C (the channels)"
        )
    return "NC" + "".join(axis for axis in data if axis not in "NC")


def layout_transform(description: ModelDescription, layout: InputLayoutArg) -> InputLayout | None:
    """Check ``input_layout=`` against the model's inputs and return the transform it asks for.

    Parameters
    ----------
    description : ModelDescription
        The model's ports.
    layout : str, mapping of str to str, or None
        The data's layout, one letter per dimension with ``N`` (the rows) first:
        ``"NHWC"`` applies to every input of four dimensions; ``{input name: layout}``
        to the inputs named. The model's layout is the one its IR declares, else
        channels first (``NCHW`` for ``NHWC`` data, ``NCDHW`` for ``NDHWC``).

    Returns
    -------
    InputLayout or None
        None when no input's layout changes.

    Raises
    ------
    InputSchemaError
        If an input is unknown, a layout is not one distinct letter per dimension of
        its input, does not start with ``N``, or has other letters than the model's.

    Examples
    --------
    >>> ports = ModelDescription(inputs=(PortInfo("x", "f32", (None, 3, 32, 32)),), outputs=())
    >>> layout_transform(ports, "nhwc")
    InputLayout(layouts=(('x', 'NHWC', 'NCHW'),))
    """
    if layout is None:
        return None
    names = [port.name for port in description.inputs]
    if isinstance(layout, str):
        wanted = {p.name: layout for p in description.inputs if p.shape is not None and len(p.shape) == len(layout)}
        if not wanted:
            raise InputSchemaError(
                f"input_layout {layout!r} has {len(layout)} dimensions, but no model input has "
                f"{len(layout)}: {[str(p) for p in description.inputs]}"
            )
    elif isinstance(layout, Mapping):
        unknown = sorted(set(layout) - set(names))
        if unknown:
            raise InputSchemaError(f"input_layout names unknown inputs {unknown}; the model's inputs are {names}")
        wanted = dict(layout)
    else:
        raise InputSchemaError(
            f"input_layout must be a layout such as 'NHWC' or a dict {{input: layout}}, got {layout!r}"
        )
    steps = []
    for port in description.inputs:
        if port.name not in wanted:
            continue
        data = str(wanted[port.name]).upper()
        rank = None if port.shape is None else len(port.shape)
        if not (data.isalpha() and len(set(data)) == len(data) == rank and data[0] == "N"):
            raise InputSchemaError(
                f"input_layout {data!r} for model input {port} must give one distinct letter per dimension "
                f"({rank if rank is not None else 'its rank is dynamic, so none can be given'}), starting with N "
                "for the rows"
            )
        model_layout = _model_layout(port, data)
        if sorted(model_layout) != sorted(data) or model_layout[0] != "N":
            raise InputSchemaError(
                f"input_layout {data!r} for model input {port} has other dimensions than the model's "
                f"{model_layout!r} (the layout its IR declares)"
            )
        if data != model_layout:
            steps.append((port.name, data, model_layout))
    return InputLayout(tuple(steps)) if steps else None


def chain(first: ModelTransform | None, second: ModelTransform | None) -> ModelTransform | None:
    """Return the transform that applies ``first`` then ``second`` (either may be None).

    Examples
    --------
    >>> chain(None, BatchReshape(8))
    BatchReshape(batch_size=8)
    """
    if first is None:
        return second
    if second is None:
        return first
    return TransformChain((first, second))
