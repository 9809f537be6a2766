"""Framework files Analytics Zoo loaded, turned into OpenVINO models in a fresh interpreter.

``load_tensorflow(path, model_type, inputs, outputs)`` cuts a TensorFlow graph at the
named tensors ([`convert_tensorflow`][dask_openvino.zoo.framework_files.convert_tensorflow]).

``load_torch(path)`` took only a path. Two kinds of file answer to it:

- a TorchScript archive (``torch.jit.save``; its zip holds a ``code/`` directory)
  carries its graph. It is loaded and converted in a fresh interpreter, as
  [`convert_model`][dask_openvino.convert.convert_model] converts, since a
  ``ScriptModule`` cannot travel there by pickle;
- a pickled module (``torch.save(model, path)``) is unpickled here (its class must be
  importable, or defined in ``__main__``) and traced by ``convert_model``.

OpenVINO needs example inputs to give the converted model its input ranks. Where the
caller gives neither ``example_input`` nor ``input_shape``, the first batch that
``predict`` receives is the example: the file is converted then, once.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from dask_openvino.convert import convert_model
from dask_openvino.errors import ConversionError, MissingDependencyError, openvino_message
from dask_openvino.isolation import run_isolated
from dask_openvino.state import core

__all__ = ["check_torch_file", "convert_tensorflow", "convert_torch_file", "example_from_shape", "is_torchscript"]


def is_torchscript(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``), read without importing torch.

    Examples
    --------
    >>> is_torchscript("model.pt")  # doctest: +SKIP
    True
    """
    try:
        with zipfile.ZipFile(os.fspath(path)) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def example_from_shape(input_shape: Sequence[int | None] | Mapping[str, Sequence[int | None]]) -> list[np.ndarray]:
    """Zeros shaped like ``input_shape`` (dynamic dims as 1), one array per input, to trace a module with.

    Examples
    --------
    >>> [a.shape for a in example_from_shape([None, 3])]
    [(1, 3)]
    """
    shapes = list(input_shape.values()) if isinstance(input_shape, Mapping) else [input_shape]
    return [np.zeros([1 if d is None or d < 0 else int(d) for d in shape], np.float32) for shape in shapes]


def _ir_bytes(model: ov.Model) -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory(prefix="dask-openvino-convert-") as tmp:
        xml = Path(tmp) / "ir.xml"
        ov.save_model(model, xml, compress_to_fp16=False)
        return xml.read_bytes(), xml.with_suffix(".bin").read_bytes()


def _read_ir(xml: bytes, weights: bytes) -> ov.Model:
    return core().read_model(xml, ov.Tensor(np.frombuffer(weights, dtype=np.uint8)))


def _tensorflow_in_child(path: str, inputs: list[str] | None, outputs: list[str] | None) -> tuple[bytes, bytes]:
    """Convert a TensorFlow model cut at ``inputs`` / ``outputs`` (runs in the converter process)."""
    options = {key: value for key, value in (("input", inputs), ("output", outputs)) if value}
    try:
        model = ov.convert_model(path, **options)
    except Exception as err:
        raise ConversionError(
            f"openvino.convert_model cannot convert the TensorFlow model {path!r}:\n" + openvino_message(err, sep="\n")
        ) from None
    return _ir_bytes(model)


def convert_tensorflow(
    path: str | os.PathLike[str], *, inputs: list[str] | None = None, outputs: list[str] | None = None
) -> ov.Model:
    """Convert a TensorFlow SavedModel, frozen graph or TFLite file, cut at the named tensors.

    Parameters
    ----------
    path : str or os.PathLike
        The model.
    inputs, outputs : list of str, optional
        Tensor names where the graph starts and ends (all of it by default).

    Returns
    -------
    openvino.Model

    Raises
    ------
    ConversionError
        If the file is missing or OpenVINO cannot convert it.

    Examples
    --------
    >>> model = convert_tensorflow("graph.pb", inputs=["input"], outputs=["logits"])  # doctest: +SKIP
    """
    where = os.path.abspath(os.fspath(path))
    if not os.path.exists(where):
        raise ConversionError(f"cannot convert {where}: no such file or directory")
    return _read_ir(*run_isolated(_tensorflow_in_child, where, inputs, outputs))


def check_torch_file(path: str | os.PathLike[str]) -> None:
    """Fail now, not at the first ``predict``, when torch is missing or ``path`` does not exist.

    Raises
    ------
    MissingDependencyError
        If ``torch`` is not installed.
    ConversionError
        If ``path`` does not exist.

    Examples
    --------
    >>> check_torch_file("net.pt")  # doctest: +SKIP
    """
    where = os.path.abspath(os.fspath(path))
    try:
        import torch  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError(
            f"loading the PyTorch model {where!r} needs the torch package: pip install torch"
        ) from err
    if not os.path.exists(where):
        raise ConversionError(f"cannot load the PyTorch model {where!r}: no such file")


def _torchscript_in_child(path: str, example: list[np.ndarray]) -> tuple[bytes, bytes]:
    """Load a TorchScript file and convert it with ``example`` (runs in the converter process)."""
    import torch

    module = torch.jit.load(path, map_location="cpu").eval()  # type: ignore[no-untyped-call]
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in example)
    try:
        model = ov.convert_model(module, example_input=tensors[0] if len(tensors) == 1 else tensors)
    except Exception as err:
        raise ConversionError(
            f"openvino.convert_model cannot convert the TorchScript file {path!r}:\n" + openvino_message(err, sep="\n")
        ) from None
    return _ir_bytes(model)


def _unpickle_module(path: str) -> Any:
    import torch

    try:
        module = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, ValueError, AttributeError, pickle.UnpicklingError) as err:
        raise ConversionError(f"cannot load the PyTorch model {path!r}: {err}") from err
    if not isinstance(module, torch.nn.Module):
        raise ConversionError(
            f"{path!r} holds a {type(module).__name__}, not a torch.nn.Module (a state_dict needs its module: build "
            "it, call load_state_dict, and pass the module to load_torch)"
        )
    return module.eval()


def convert_torch_file(path: str | os.PathLike[str], example: list[np.ndarray]) -> ov.Model:
    """Convert a file ``torch.save`` or ``torch.jit.save`` wrote, traced with ``example`` (one array per input).

    Parameters
    ----------
    path : str or os.PathLike
        The file. A pickled module is unpickled (``weights_only=False``), which runs code
        stored in it: load only files you trust.
    example : list of numpy.ndarray
        One batch per model input, in the module's argument order.

    Returns
    -------
    openvino.Model

    Raises
    ------
    MissingDependencyError
        If ``torch`` is not installed.
    ConversionError
        If the file holds no module, or OpenVINO cannot convert it.

    Examples
    --------
    >>> model = convert_torch_file("net.pt", [np.zeros((1, 3), np.float32)])  # doctest: +SKIP
    """
    check_torch_file(path)
    import torch

    where = os.path.abspath(os.fspath(path))
    if is_torchscript(where):
        return _read_ir(*run_isolated(_torchscript_in_child, where, example))
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in example)
    return convert_model(_unpickle_module(where), example_input=tensors[0] if len(tensors) == 1 else tensors)
