"""Partition functions of the hand-written Dask pipelines the harness compares against.

These are what a Dask user writes today without dask-openvino: a module-level function
for ``map_partitions`` that converts the partition's columns to numpy with pyarrow,
runs a runtime session cached per process, and puts the result back as a column. The
same conversion code serves ONNX Runtime, eager PyTorch and dask-openvino's engine, so
those contenders differ only in what runs the model. JPEG files are decoded for eager
PyTorch as a PyTorch user's loader would (``decode_jpeg``).

This module is imported on the workers: it imports no runtime at module level.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks.data import JPEG_SIZE
from benchmarks.models import IMAGE_SIZE, load_torch, normalise_pixels


@dataclass(frozen=True)
class Feed:
    """Columns that feed one model input, and the input's dtype and row shape."""

    input: str
    columns: tuple[str, ...]
    dtype: str
    row_shape: tuple[int, ...]


@dataclass(frozen=True)
class Output:
    """The model output kept, and the column it becomes."""

    name: str
    column: str
    row_shape: tuple[int, ...]


def frame_to_arrays(frame: pd.DataFrame, feeds: Sequence[Feed]) -> dict[str, np.ndarray]:
    """Convert a partition to model inputs: stacked scalar columns, or flattened fixed-size lists."""
    arrays = {}
    for feed in feeds:
        if len(feed.columns) > 1:
            arrays[feed.input] = frame[list(feed.columns)].to_numpy(dtype=feed.dtype)
            continue
        column = pa.chunked_array(frame[feed.columns[0]].array.__arrow_array__()).combine_chunks()
        values = column.flatten().to_numpy(zero_copy_only=False)
        arrays[feed.input] = values.reshape(len(frame), *feed.row_shape).astype(feed.dtype, copy=False)
    return arrays


def result_frame(values: np.ndarray, index: pd.Index, column: str) -> pd.DataFrame:
    """One output column: numeric for one value per row, else a fixed-size list."""
    if values.ndim == 1:
        return pd.DataFrame({column: values}, index=index)
    width = int(np.prod(values.shape[1:]))
    lists = pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(values).reshape(-1)), width)
    return pd.DataFrame({column: pd.Series(pd.arrays.ArrowExtensionArray(lists), index=index)})


def empty_result(index: pd.Index, output: Output) -> pd.DataFrame:
    """The ``meta`` of a hand-written pipeline's result."""
    return result_frame(np.empty((0, *output.row_shape), np.float32), index[:0], output.column)


def _in_batches(
    run: Callable[[dict[str, np.ndarray]], np.ndarray], arrays: dict[str, np.ndarray], batch: int
) -> np.ndarray:
    rows = len(next(iter(arrays.values())))
    parts = [run({k: v[start : start + batch] for k, v in arrays.items()}) for start in range(0, rows, batch)]
    return np.concatenate(parts) if parts else np.empty((0,), np.float32)


_lock = threading.Lock()
_sessions: dict[tuple[Any, ...], Any] = {}


def _cached(key: tuple[Any, ...], create: Callable[[], Any]) -> Any:
    with _lock:
        if key not in _sessions:
            _sessions[key] = create()
        return _sessions[key]


def onnxruntime_session(path: str, threads: int) -> Any:
    """This process's ONNX Runtime session for ``path`` with ``threads`` intra-op threads."""

    def create() -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    return _cached(("onnxruntime", path, threads), create)


def decode_jpeg(values: pd.Series) -> np.ndarray:
    """JPEG bytes -> ImageNet-normalised ``f32 [N,3,224,224]``, as a PyTorch user's loader does it.

    Pillow decodes each file to RGB, a file that is not ``256 x 256`` is resized to it
    (bilinear), the central ``224 x 224`` crop is kept, then normalised and laid out
    channels first: torchvision's ``Resize(256)``, ``CenterCrop(224)``, ``ToTensor`` and
    ``Normalize`` on these files, written with numpy.
    """
    from PIL import Image

    crops = np.empty((len(values), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    margin = (JPEG_SIZE - IMAGE_SIZE) // 2
    for row, data in enumerate(values):
        image = Image.open(io.BytesIO(data)).convert("RGB")
        if image.size != (JPEG_SIZE, JPEG_SIZE):
            image = image.resize((JPEG_SIZE, JPEG_SIZE), Image.Resampling.BILINEAR)
        crops[row] = np.asarray(image)[margin : margin + IMAGE_SIZE, margin : margin + IMAGE_SIZE]
    return normalise_pixels(crops)


def onnxruntime_partition(
    frame: pd.DataFrame, path: str, feeds: tuple[Feed, ...], output: Output, batch: int, threads: int
) -> pd.DataFrame:
    """Score a partition with ONNX Runtime."""
    session = onnxruntime_session(path, threads)
    arrays = frame_to_arrays(frame, feeds)
    values = _in_batches(lambda b: session.run([output.name], b)[0], arrays, batch)
    return result_frame(values, frame.index, output.column)


def torch_module(name: str, state_path: str, threads: int) -> Any:
    """This process's eager PyTorch module (weights loaded once per process)."""
    import torch

    torch.set_num_threads(threads)
    return _cached(("torch", name, state_path), lambda: load_torch(name, state_path))


def torch_partition(
    frame: pd.DataFrame, name: str, state_path: str, feeds: tuple[Feed, ...], output: Output, batch: int, threads: int
) -> pd.DataFrame:
    """Score a partition with eager PyTorch under ``torch.inference_mode``."""
    import torch

    module = torch_module(name, state_path, threads)
    arrays = frame_to_arrays(frame, feeds)

    def run(batch_arrays: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode(), warnings.catch_warnings():
            # Arrow buffers are read-only; the model does not write to its inputs.
            warnings.simplefilter("ignore", UserWarning)
            result = module(*(torch.from_numpy(batch_arrays[f.input]) for f in feeds))
        return np.asarray(result.numpy())

    values = _in_batches(run, arrays, batch)
    return result_frame(values, frame.index, output.column)


def torch_jpeg_partition(
    frame: pd.DataFrame, name: str, state_path: str, column: str, output: Output, batch: int, threads: int
) -> pd.DataFrame:
    """Score a partition of JPEG files with eager PyTorch, decoding them (``decode_jpeg``) a batch at a time."""
    import torch

    module = torch_module(name, state_path, threads)
    files = frame[column]
    parts = [np.empty((0, *output.row_shape), np.float32)]
    for start in range(0, len(frame), batch):
        images = torch.from_numpy(decode_jpeg(files.iloc[start : start + batch]))
        with torch.inference_mode():
            parts.append(np.asarray(module(images).numpy()))
    return result_frame(np.concatenate(parts), frame.index, output.column)


def openvino_partition(frame: pd.DataFrame, spec: Any, feeds: tuple[Feed, ...], output: Output) -> pd.DataFrame:
    """Score a partition with dask-openvino's cached engine, converting columns as above."""
    from dask_openvino.cache import get_engine

    values = get_engine(spec).run(frame_to_arrays(frame, feeds))[output.name]
    return result_frame(values, frame.index, output.column)


def reload_partition(frame: pd.DataFrame, plan: Any) -> pd.DataFrame:
    """``.ov.predict``'s partition function, but reading and compiling the model for every partition."""
    import dask_openvino
    from dask_openvino.partition import predict_partition

    dask_openvino.clear_cache()
    return predict_partition(frame, plan)


TOUCH_META = pd.DataFrame({"rows": pd.Series([], dtype="int64"), "bytes": pd.Series([], dtype="int64")})
"""``meta`` of :func:`touch_partition`."""


def touch_partition(frame: pd.DataFrame) -> pd.DataFrame:
    """Read a partition and do nothing with it: the cost of the pipeline without a model."""
    return pd.DataFrame({"rows": [len(frame)], "bytes": [int(frame.memory_usage(deep=False).sum())]})
