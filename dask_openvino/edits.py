"""What ``.ov.predict``'s arguments change in the model it compiles, worked out from the model's ports.

[`model_edits`][dask_openvino.edits.model_edits] works out ``input_layout=``, then the
batch reshape, then the steps ``preprocess=`` bakes into the model (bound to the ports
the first two leave); the transform it returns applies the baked steps first, then the
layout and the reshape (they touch different inputs, or a batch dimension the steps
keep), and is part of the engine cache key. Both
[`build_plan`][dask_openvino.plan.build_plan] and the warm-up plugin
([`WarmUp`][dask_openvino.plugin.WarmUp]) call it, so a warmed worker holds the very
engine the job's partitions look up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dask_openvino.errors import InputSchemaError
from dask_openvino.spec import ModelDescription
from dask_openvino.transforms import InputLayoutArg, ModelTransform, batch_reshape, chain, layout_transform

if TYPE_CHECKING:
    from dask_openvino.plan import InputsArg, PreprocessArg
    from dask_openvino.preprocessing.base import BoundPreprocessor

__all__ = ["ModelEdits", "model_edits"]


@dataclass(frozen=True)
class ModelEdits:
    """The model ``.ov.predict`` compiles: [`model_edits`][dask_openvino.edits.model_edits] of its arguments.

    Attributes
    ----------
    description : ModelDescription
        The model's ports once ``transform`` is applied.
    transform : ModelTransform or None
        The edits, part of the engine cache key.
    preprocess : BoundPreprocessor or None
        ``preprocess=`` bound to its model input.
    preprocess_input : str or None
        That input.
    """

    description: ModelDescription
    transform: ModelTransform | None
    preprocess: BoundPreprocessor | None = None
    preprocess_input: str | None = None


def model_edits(
    description: ModelDescription,
    *,
    inputs: InputsArg = None,
    batch_size: int | None = None,
    preprocess: PreprocessArg = None,
    input_layout: InputLayoutArg = None,
) -> ModelEdits:
    """Work out the model ``.ov.predict`` compiles: input layout, batch reshape and baked preprocessing.

    [`build_plan`][dask_openvino.plan.build_plan] and [`WarmUp`][dask_openvino.plugin.WarmUp]
    both call it, so a warmed worker holds the engine the job's partitions look up.

    Parameters
    ----------
    description : ModelDescription
        The model's ports, as read from its IR.
    inputs, batch_size, preprocess, input_layout
        As in
        [`ddf.ov.predict`][dask_openvino.accessor.OpenVINODataFrameAccessor.predict];
        ``inputs`` only decides which model input ``preprocess`` feeds.

    Returns
    -------
    ModelEdits

    Raises
    ------
    InputSchemaError
        If an argument does not fit the model's inputs.

    Examples
    --------
    >>> from dask_openvino.spec import PortInfo
    >>> ports = ModelDescription(inputs=(PortInfo("x", "f32", (1, 3, 32, 32)),), outputs=())
    >>> edits = model_edits(ports, input_layout="NHWC", batch_size=8)
    >>> edits.transform
    TransformChain(steps=(InputLayout(layouts=(('x', 'NHWC', 'NCHW'),)), BatchReshape(batch_size=8)))
    >>> edits.description.inputs[0].shape
    (8, 32, 32, 3)
    """
    laid_out = layout_transform(description, input_layout)
    edits = ModelEdits(description if laid_out is None else laid_out.describe(description), laid_out)
    reshape = None if batch_size is None else batch_reshape(edits.description, batch_size)
    if reshape is not None:
        edits = ModelEdits(reshape.describe(edits.description), chain(edits.transform, reshape))
    if preprocess is None:
        return edits
    names = [p.name for p in edits.description.inputs]
    if isinstance(preprocess, Mapping):
        if len(preprocess) != 1:
            raise InputSchemaError(f"preprocess= can preprocess one model input, got {list(preprocess)}")
        ((target, pipeline),) = preprocess.items()
    elif isinstance(inputs, Mapping) and len(inputs) == 1:
        target, pipeline = next(iter(inputs)), preprocess
    elif len(names) == 1:
        target, pipeline = names[0], preprocess
    elif (default := preprocess.default_input(edits.description)) is not None:
        target, pipeline = default, preprocess
    else:
        raise InputSchemaError(
            f"the model has inputs {names}: name the one to preprocess with preprocess={{input name: pipeline}}"
        )
    if target not in names:
        raise InputSchemaError(f"preprocess= names {target!r}, which is not a model input; the inputs are {names}")
    pre = pipeline.bind(edits.description, target)
    if laid_out is not None and set(pre.inputs) & {name for name, _, _ in laid_out.layouts}:
        raise InputSchemaError(
            f"input_layout= and preprocess= both set the layout of model input(s) {sorted(pre.inputs)}; the "
            "preprocessor already says its own (format=NCHW|NHWC)"
        )
    return ModelEdits(pre.describe(edits.description), chain(pre.transform, edits.transform), pre, target)
