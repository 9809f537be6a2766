"""Model transforms: edits applied to a model between reading and compiling it.

A transform (a batch reshape, image arithmetic baked in with ``PrePostProcessor``,
sentence pooling added to the graph) is a frozen, picklable value: it travels in
the task graph beside the [`ModelSpec`][dask_openvino.spec.ModelSpec] and is part of the
per-process cache key, so each worker compiles each (model, transform) pair once.
Each transform also says how it changes the model's ports, so ``meta`` is built
without reading the model again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import openvino as ov

from dask_openvino.errors import InputSchemaError
from dask_openvino.spec import ModelDescription, PortInfo

__all__ = ["BatchReshape", "ModelTransform", "TransformChain", "batch_reshape", "chain"]


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
