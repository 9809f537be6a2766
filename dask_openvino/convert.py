"""Model optimizer: framework models to OpenVINO IR, with preprocessing embedded in the graph.

[`convert`][dask_openvino.convert.convert] turns an ONNX, TensorFlow (SavedModel,
frozen graph, TFLite) or PaddlePaddle file, an in-memory PyTorch module, a fitted
scikit-learn estimator or an ``openvino.Model`` into an IR on disk and returns its
[`ModelSpec`][dask_openvino.ModelSpec];
[`convert_model`][dask_openvino.convert.convert_model] returns the ``openvino.Model``
in memory instead.
[`embed_preprocessing`][dask_openvino.convert.embed_preprocessing] bakes mean / scale /
channel reversal into a model with ``openvino.preprocess.PrePostProcessor``, so it runs
inside OpenVINO's kernels.

The framework converters run in a fresh Python process
([`run_isolated`][dask_openvino.isolation.run_isolated]): their telemetry forks from a
background thread, which can hang a concurrent multi-threaded OpenBLAS call in the
caller's process.
"""

from __future__ import annotations

import mmap
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from dask_openvino.errors import ConversionError, MissingDependencyError, openvino_message
from dask_openvino.isolation import run_isolated
from dask_openvino.spec import ModelSpec
from dask_openvino.state import core

__all__ = [
    "InputShapeArg",
    "LayoutArg",
    "ValuesArg",
    "convert",
    "convert_model",
    "embed_preprocessing",
]

LayoutArg = str | Mapping[str, str]
"""A layout such as ``"NCHW"`` for the model's only input, or a mapping from input name to layout."""

ValuesArg = float | Sequence[float] | Mapping[str, float | Sequence[float]]
"""One value or one per channel for the model's only input, or a mapping from input name to those."""

InputShapeArg = Sequence[int | None] | Mapping[str, Sequence[int | None]]
"""A shape (``None`` or ``-1`` for a dynamic dimension), or a mapping from input name to shape."""

ML_DOMAIN = "ai.onnx.ml"

# skl2onnx converters fall back to standard ONNX operators (MatMul, Sub, Div, ...)
# when these ai.onnx.ml operators are black-listed; OpenVINO implements none of them.
_SKL2ONNX_BLACK_OPS = frozenset({"LinearClassifier", "LinearRegressor", "Scaler", "Normalizer"})

# --------------------------------------------------------------------------- child-side work


def _convert_in_child(kind: str, source: Any, example_input: Any) -> tuple[bytes, bytes]:
    """Run ``openvino.convert_model`` and return the IR as ``(xml, bin)`` bytes (runs in the child)."""
    with tempfile.TemporaryDirectory(prefix="dask-openvino-convert-") as tmp:
        if kind == "onnx-bytes":
            path = Path(tmp) / "model.onnx"
            path.write_bytes(source)
            source, what = str(path), "the scikit-learn model's ONNX graph"
        elif kind == "path":
            what = str(source)
        else:
            what = f"the PyTorch module {type(source).__name__}"
        try:
            model = ov.convert_model(source, example_input=example_input)
        except Exception as err:
            message = openvino_message(err, sep="\n")
            raise ConversionError(
                f"openvino.convert_model cannot convert {what}:\n{message}{_onnx_ml_hint(message, source, kind)}"
            ) from None
        xml = Path(tmp) / "ir.xml"
        ov.save_model(model, xml, compress_to_fp16=False)
        return xml.read_bytes(), xml.with_suffix(".bin").read_bytes()


def _onnx_ml_hint(message: str, source: Any, kind: str) -> str:
    """Say that OpenVINO lacks the ONNX-ML operators an ONNX file names, and what to do for scikit-learn's.

    Exporters of classical models write them: skl2onnx for scikit-learn, onnxmltools for
    LightGBM, XGBoost or CatBoost. A scikit-learn classifier exported with skl2onnx's
    defaults is the common case: its probabilities go through ``ZipMap``.
    """
    if kind != "path" or ("ai.onnx.ml." not in message and not _imports_onnx_ml(Path(source))):
        return ""
    return (
        "\nThis ONNX file uses operators of the ONNX-ML domain (ai.onnx.ml), which OpenVINO does not implement "
        "(exporters of classical models write them: skl2onnx for scikit-learn, onnxmltools for LightGBM or "
        "XGBoost). The common case is a scikit-learn classifier exported with skl2onnx's defaults, whose "
        "probabilities go through ZipMap: convert the fitted estimator from Python instead with "
        "dask_openvino.convert(estimator, output_dir), which exports it without ZipMap (skl2onnx's zipmap=False "
        "option) and with standard ONNX operators where skl2onnx has them (not for tree ensembles)"
    )


def _imports_onnx_ml(path: Path) -> bool:
    """Whether an ONNX file names the ``ai.onnx.ml`` domain (OpenVINO may fail first on ZipMap's output type)."""
    if path.suffix.lower() != ".onnx" or not path.is_file() or path.stat().st_size == 0:
        return False
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b"ai.onnx.ml") >= 0


# --------------------------------------------------------------------------- scikit-learn


def _estimator_name(estimator: Any) -> str:
    steps = getattr(estimator, "steps", None)
    if steps:
        return f"{type(estimator).__name__}({' -> '.join(type(step).__name__ for _, step in steps)})"
    return type(estimator).__name__


def _is_sklearn_estimator(source: Any) -> bool:
    sklearn_base = sys.modules.get("sklearn.base")
    return sklearn_base is not None and isinstance(source, sklearn_base.BaseEstimator)


def _is_torch_module(source: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(source, torch.nn.Module)


def _sklearn_to_onnx(estimator: Any) -> bytes:
    """Export a fitted estimator with skl2onnx, cut to its numeric outputs, standard ONNX ops only."""
    try:
        import onnx.utils
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as err:
        raise MissingDependencyError(
            "converting a scikit-learn estimator needs the skl2onnx package: "
            "pip install 'dask-openvino[convert]' (or pip install skl2onnx)"
        ) from err
    from sklearn.base import is_classifier

    name = _estimator_name(estimator)
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        raise ConversionError(f"{name} cannot be converted: it is not fitted (it has no n_features_in_)")
    final = estimator.steps[-1][1] if getattr(estimator, "steps", None) else estimator
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    try:
        onx = convert_sklearn(
            estimator,
            initial_types=[("X", FloatTensorType([None, int(n_features)]))],
            options=options,
            black_op=set(_SKL2ONNX_BLACK_OPS),
        )
    except Exception as err:
        raise ConversionError(f"skl2onnx cannot convert {name}: {err}") from err
    outputs = [o.name for o in onx.graph.output]
    # A classifier's labels come out of ai.onnx.ml.ArrayFeatureExtractor; keep the probabilities (or scores).
    keep = ["probabilities"] if "probabilities" in outputs else [o for o in outputs if o != "label"]
    if keep != outputs:
        onx = onnx.utils.Extractor(onx).extract_model([i.name for i in onx.graph.input], keep)
    ml_ops = sorted({node.op_type for node in onx.graph.node if node.domain == ML_DOMAIN})
    if ml_ops:
        raise ConversionError(
            f"{name} cannot be converted to OpenVINO: its ONNX graph needs the {ML_DOMAIN} operators "
            f"{', '.join(ml_ops)}, which OpenVINO does not implement. Tree ensembles, SVMs, nearest "
            "neighbours and the ai.onnx.ml encoders are in this group; linear models, MLPs, scalers, "
            "PCA and pipelines made of them convert."
        )
    return onx.SerializeToString()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- preprocessing


def _for_inputs(
    model: ov.Model, value: Any, what: str, *, by_name: str = "a dict keyed by input name"
) -> dict[str, Any]:
    """Spread a per-input argument over input names."""
    if value is None:
        return {}
    names = [port.get_any_name() for port in model.inputs]
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"{what} names inputs {unknown} that the model does not have; its inputs are {names}")
        return dict(value)
    if len(names) != 1:
        raise ValueError(f"the model has {len(names)} inputs {names}: pass {what} as {by_name}")
    return {names[0]: value}


def _is_vector(value: Any) -> bool:
    return value is not None and not isinstance(value, (int, float, np.number))


def embed_preprocessing(
    model: ov.Model,
    *,
    layout: LayoutArg | None = None,
    mean_values: ValuesArg | None = None,
    scale_values: ValuesArg | None = None,
    reverse_input_channels: bool | Sequence[str] = False,
) -> ov.Model:
    """Embed channel reversal, mean subtraction and scaling into a model's inputs.

    The model then computes, per input, ``model((reverse(x) - mean) / scale)``:
    channels are reversed first (e.g. the caller's BGR becomes the model's RGB), so
    ``mean_values`` and ``scale_values`` are given in the model's channel order.
    The steps run inside OpenVINO (``openvino.preprocess.PrePostProcessor``).

    Parameters
    ----------
    model : openvino.Model
        The model; it is not modified (a clone is edited).
    layout : str or dict of str to str, optional
        Layout of the input, e.g. ``"NCHW"``, ``"NHWC"`` or ``"NC"``; needed when
        ``mean_values`` / ``scale_values`` hold one value per channel or
        ``reverse_input_channels`` is set, unless the model already records one.
        A dict sets it per input name.
    mean_values : float, sequence of float, or dict, optional
        Subtracted from the input: one value, or one per channel.
    scale_values : float, sequence of float, or dict, optional
        The input (after subtracting the mean) is divided by it: one value, or one per channel.
    reverse_input_channels : bool or sequence of str, default False
        Reverse the channel order of the only input (``True``), or of the named inputs.

    Returns
    -------
    openvino.Model
        A new model with the preprocessing in its graph; input names and shapes are unchanged.

    Raises
    ------
    ValueError
        If an argument names an unknown input, a per-input value is ambiguous for a
        multi-input model, or a per-channel step has no layout to find the channels.
    ConversionError
        If OpenVINO rejects the preprocessing (e.g. the number of values does not match the channels).

    Examples
    --------
    >>> model = embed_preprocessing(  # doctest: +SKIP
    ...     core().read_model("resnet.xml"),
    ...     layout="NCHW",
    ...     mean_values=[123.675, 116.28, 103.53],
    ...     scale_values=[58.395, 57.12, 57.375],
    ...     reverse_input_channels=True,
    ... )
    """
    layouts = _for_inputs(model, layout, "layout")
    means = _for_inputs(model, mean_values, "mean_values")
    scales = _for_inputs(model, scale_values, "scale_values")
    if isinstance(reverse_input_channels, bool):
        by_name = "a list of input names"
        chosen = _for_inputs(model, True, "reverse_input_channels", by_name=by_name) if reverse_input_channels else {}
    else:
        chosen = _for_inputs(model, dict.fromkeys(reverse_input_channels, True), "reverse_input_channels")
    reverse = set(chosen)
    targets = [port.get_any_name() for port in model.inputs]
    targets = [n for n in targets if n in layouts or n in means or n in scales or n in reverse]
    if not targets:
        return model
    model = model.clone()
    ppp = ov.preprocess.PrePostProcessor(model)
    for name in targets:
        known_layout = layouts.get(name) or ov.layout_helpers.get_layout(model.input(name)).to_string()
        needs_channels = name in reverse or _is_vector(means.get(name)) or _is_vector(scales.get(name))
        if needs_channels and "C" not in known_layout.upper():
            raise ValueError(
                f"input {name!r} needs a layout with a channel dimension for per-channel preprocessing or "
                "channel reversal: pass layout=, e.g. 'NCHW', 'NHWC' or 'NC'"
            )
        step = ppp.input(name)
        if name in layouts:
            step.model().set_layout(ov.Layout(layouts[name]))
        if name in reverse:
            step.preprocess().reverse_channels()
        if name in means:
            step.preprocess().mean(_as_values(means[name]))
        if name in scales:
            step.preprocess().scale(_as_values(scales[name]))
    try:
        return ppp.build()
    except RuntimeError as err:
        raise ConversionError(
            "cannot embed the preprocessing into the model:\n" + openvino_message(err, sep="\n")
        ) from err


def _as_values(value: float | Sequence[float]) -> float | list[float]:
    return [float(v) for v in value] if _is_vector(value) else float(value)  # type: ignore[arg-type, union-attr]


def _reshape(model: ov.Model, input_shape: InputShapeArg | None) -> ov.Model:
    if input_shape is None:
        return model
    shapes = _for_inputs(model, input_shape, "input_shape")
    partial = {name: ov.PartialShape([-1 if d is None else int(d) for d in shape]) for name, shape in shapes.items()}
    model = model.clone()
    try:
        model.reshape(partial)
    except RuntimeError as err:
        raise ConversionError(
            f"cannot reshape the model's inputs to {shapes}:\n" + openvino_message(err, sep="\n")
        ) from err
    return model


# --------------------------------------------------------------------------- public API


def convert_model(
    source: Any,
    *,
    input_shape: InputShapeArg | None = None,
    layout: LayoutArg | None = None,
    mean_values: ValuesArg | None = None,
    scale_values: ValuesArg | None = None,
    reverse_input_channels: bool | Sequence[str] = False,
    example_input: Any = None,
) -> ov.Model:
    """Convert a framework model to an in-memory ``openvino.Model``.

    The framework converter runs in a separate Python process (see the module
    notes): converting never leaves threads behind that fork this process.

    Parameters
    ----------
    source : path, torch.nn.Module, scikit-learn estimator or openvino.Model
        * a path to an ONNX file, a TensorFlow SavedModel directory, frozen ``.pb``
          or ``.tflite`` file, or a PaddlePaddle ``.pdmodel`` / ``.json`` file;
        * a PyTorch module, with ``example_input``;
        * a fitted scikit-learn estimator or pipeline, exported through skl2onnx
          (classifiers output only their ``probabilities``; labels are ``argmax``);
        * an ``openvino.Model``, only reshaped and given the preprocessing.
    input_shape : shape or dict of str to shape, optional
        New input shape(s); ``None`` or ``-1`` marks a dynamic dimension.
    layout, mean_values, scale_values, reverse_input_channels
        Preprocessing embedded in the graph; see [`embed_preprocessing`][dask_openvino.convert.embed_preprocessing].
    example_input : tensor, tuple or dict, optional
        Example input for tracing a PyTorch module (required for one); passed to
        ``openvino.convert_model`` for other sources.

    Returns
    -------
    openvino.Model

    Raises
    ------
    ConversionError
        If the converter fails (its own message is included), or the estimator
        needs operators OpenVINO does not implement.
    MissingDependencyError
        If the package needed for ``source`` is not installed (skl2onnx for scikit-learn).
    TypeError
        If ``source`` is of no supported kind.

    Examples
    --------
    >>> model = convert_model("model.onnx", input_shape=[1, 3, 224, 224])  # doctest: +SKIP
    >>> model = convert_model(torch_module, example_input=torch.zeros(1, 3, 32, 32))  # doctest: +SKIP
    """
    if isinstance(source, ov.Model):
        model = source
    else:
        model = _read_ir(*run_isolated(_convert_in_child, *_describe_source(source, example_input)))
    model = _reshape(model, input_shape)
    return embed_preprocessing(
        model,
        layout=layout,
        mean_values=mean_values,
        scale_values=scale_values,
        reverse_input_channels=reverse_input_channels,
    )


def _describe_source(source: Any, example_input: Any) -> tuple[str, Any, Any]:
    """Turn ``source`` into a picklable ``(kind, payload, example_input)`` job for the converter process."""
    if isinstance(source, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(source))
        if not os.path.exists(path):
            raise ConversionError(f"cannot convert {path}: no such file or directory")
        return "path", path, example_input
    if _is_torch_module(source):
        if example_input is None:
            raise ValueError(
                f"converting the PyTorch module {type(source).__name__} needs example_input= (a tensor, "
                "tuple or dict shaped like one batch) to trace it"
            )
        return "torch", source, example_input
    if _is_sklearn_estimator(source):
        return "onnx-bytes", _sklearn_to_onnx(source), None
    raise TypeError(
        "source must be a model file path, a torch.nn.Module, a fitted scikit-learn estimator or an "
        f"openvino.Model, got {type(source).__module__}.{type(source).__qualname__}"
    )


def _read_ir(xml: bytes, weights: bytes) -> ov.Model:
    return core().read_model(xml, ov.Tensor(np.frombuffer(weights, dtype=np.uint8)))


def _default_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(os.path.abspath(os.fspath(source))).stem or "model"
    if isinstance(source, ov.Model):
        return source.get_friendly_name() or "model"
    return type(source).__name__.lower()


def convert(
    source: Any,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    input_shape: InputShapeArg | None = None,
    layout: LayoutArg | None = None,
    mean_values: ValuesArg | None = None,
    scale_values: ValuesArg | None = None,
    reverse_input_channels: bool | Sequence[str] = False,
    compress_to_fp16: bool = False,
    example_input: Any = None,
    name: str | None = None,
) -> ModelSpec:
    """Convert a framework model to an OpenVINO IR on disk and describe it.

    Parameters
    ----------
    source : path, torch.nn.Module, scikit-learn estimator or openvino.Model
        What to convert; see [`convert_model`][dask_openvino.convert.convert_model].
    output_dir : str or os.PathLike, optional
        Local directory for ``<name>.xml`` and ``<name>.bin`` (created if missing;
        existing files of that name are replaced). By default a new directory made
        by ``tempfile.mkdtemp(prefix="dask-openvino-")``, which is not deleted.
        Dask workers on other hosts need a path they can read: pass a shared one.
    input_shape, layout, mean_values, scale_values, reverse_input_channels, example_input
        As for [`convert_model`][dask_openvino.convert.convert_model].
    compress_to_fp16 : bool, default False
        Store float weights as FP16 (half the size; OpenVINO computes in FP32 on CPU).
    name : str, optional
        File stem; by default the source file's stem, or the source's class name in lower case.

    Returns
    -------
    ModelSpec
        The saved IR, ready for ``.ov.predict``.

    Raises
    ------
    ConversionError, MissingDependencyError, TypeError
        As for [`convert_model`][dask_openvino.convert.convert_model].

    Examples
    --------
    >>> spec = convert("resnet.onnx", "models/", layout="NCHW", mean_values=[123.7, 116.3, 103.5])  # doctest: +SKIP
    >>> ddf.ov.predict(spec, inputs="image")  # doctest: +SKIP
    """
    model = convert_model(
        source,
        input_shape=input_shape,
        layout=layout,
        mean_values=mean_values,
        scale_values=scale_values,
        reverse_input_channels=reverse_input_channels,
        example_input=example_input,
    )
    directory = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix="dask-openvino-"))
    directory.mkdir(parents=True, exist_ok=True)
    xml = directory / f"{name or _default_name(source)}.xml"
    ov.save_model(model, xml, compress_to_fp16=compress_to_fp16)
    return ModelSpec.from_path(xml)
