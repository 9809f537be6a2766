"""The engine: batched, asynchronous inference with one compiled model.

An :class:`Engine` wraps one ``openvino.CompiledModel`` shared by every thread of a
process. Each :meth:`Engine.run` call borrows its own infer requests from a pool
(one ``CompiledModel`` called from several threads at once can hang), cuts the
rows into batches, keeps several batches in flight so every OpenVINO stream is
busy, and writes each result straight into preallocated output arrays.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import fsspec
import numpy as np
import openvino as ov

from dask_openvino.columns import to_port_dtype
from dask_openvino.errors import InferenceError, InputSchemaError, ModelLoadError
from dask_openvino.spec import ModelDescription, ModelSpec, PortInfo, _first_line, core, describe_model

__all__ = [
    "MAX_DEFAULT_BATCH_SIZE",
    "BatchReshape",
    "Engine",
    "ModelTransform",
    "TransformChain",
    "batch_reshape",
    "compile_engine",
    "default_batch_size",
    "default_compile_config",
]

MAX_DEFAULT_BATCH_SIZE = 4096
"""Upper bound of the default batch size for models with a dynamic batch dimension."""

_SMALL_ROW_BYTES = 1024
"""Rows up to this many input bytes (tabular features) get larger default batches."""

_SMALL_ROW_BATCH_BYTES = 1024 * 1024
_LARGE_ROW_BATCH_BYTES = 256 * 1024


class ModelTransform(Protocol):
    """Edits a model before it is compiled (reshape, baked preprocessing, ...).

    Implementations are hashable and picklable (frozen dataclasses): they travel
    in the task graph and are part of the per-process cache key.
    """

    def apply(self, model: ov.Model) -> ov.Model:
        """Return the edited model (it may edit ``model`` in place and return it)."""


@dataclass(frozen=True)
class TransformChain:
    """Several :class:`ModelTransform` applied in order."""

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


def _worker_threads() -> int | None:
    """Threads of the ``distributed`` worker running this code, or None outside one.

    Inside ``client.run`` (a warm-up, say) ``get_worker()`` finds no worker, so the
    process's only live worker is used instead; without this, a model first compiled
    there would be cached with the settings for outside a worker.
    """
    try:
        from distributed import Worker, get_worker
    except ImportError:
        return None
    try:
        worker = get_worker()
    except ValueError:
        workers = [w for w in Worker._instances if w.status.name not in ("closed", "closing", "failed")]
        if len(workers) != 1:
            return None
        worker = workers[0]
    return int(worker.state.nthreads)


def default_compile_config(device: str) -> dict[str, str]:
    """Compile properties derived from where the model is compiled.

    On a ``distributed`` worker, OpenVINO gets as many threads as the worker has
    (Dask threads block while OpenVINO runs, so this does not oversubscribe) and
    CPU pinning is turned off: several worker processes on one host otherwise pin
    their threads to the same cores (the benchmarks measured ResNet-50 on two workers
    x one thread on two cores at 0.55 of OpenVINO alone pinned, 0.90-0.92 unpinned).
    Elsewhere OpenVINO uses every core. The THROUGHPUT hint lets OpenVINO choose the
    number of streams.

    Inference runs in float32 (``INFERENCE_PRECISION_HINT=f32``), so predictions equal
    the framework's: on CPUs with AVX512-BF16, OpenVINO's own default is bfloat16, which
    changed about 1e-2 of each logit and 62 of 200,000 logistic-regression labels here,
    and was slower on a CPU without AMX (72k vs 99k rows/s on the demo's MLP). On CPUs
    with AMX, ``config={"INFERENCE_PRECISION_HINT": "bf16"}`` trades that accuracy for
    speed; INT8 models (:func:`dask_openvino.quantize`) are the faster path everywhere.
    Properties in ``ModelSpec.config`` override these.

    Parameters
    ----------
    device : str
        The OpenVINO device; only "CPU" gets derived properties.

    Returns
    -------
    dict of str to str
    """
    if device != "CPU":
        return {"PERFORMANCE_HINT": "THROUGHPUT"}
    config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
    threads = _worker_threads()
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = str(min(threads, os.cpu_count() or threads))
        config["ENABLE_CPU_PINNING"] = "NO"
    return config


def default_batch_size(ports: tuple[PortInfo, ...]) -> int:
    """Return the batch size used when a user gives none.

    A static batch dimension wins. Otherwise rows of up to 1 KiB (tabular features)
    are batched by about 1 MiB of input, so a 64-feature float table runs 4096 rows a
    batch (measured 1.16-1.33x the throughput of 1024-row batches on a 64-256-256-1 MLP);
    larger rows (images, token sequences, whose activations grow much faster than
    their inputs) by about 256 KiB, so a 224x224 image runs one row a batch and a
    128-token pair of int64 inputs 128. Always between 1 and
    :data:`MAX_DEFAULT_BATCH_SIZE` rows.

    Parameters
    ----------
    ports : tuple of PortInfo
        The model's inputs.

    Returns
    -------
    int
    """
    static = {p.batch_size for p in ports if p.batch_size is not None}
    if static:
        return static.pop() if len(static) == 1 else min(static)
    row_bytes = max(1, sum((p.row_size or 128) * p.dtype.itemsize for p in ports))
    target = _SMALL_ROW_BATCH_BYTES if row_bytes <= _SMALL_ROW_BYTES else _LARGE_ROW_BATCH_BYTES
    return max(1, min(MAX_DEFAULT_BATCH_SIZE, target // row_bytes))


class Engine:
    """Run a compiled model over whole arrays, batched and asynchronously; thread-safe.

    Parameters
    ----------
    compiled : openvino.CompiledModel
        The compiled model; the engine owns it.
    description : ModelDescription
        Its ports (after any transform).
    weights_bytes : int, default 0
        Size of the model's weights, used by the cache's byte bound.
    recompile : callable, optional
        Compiles the model afresh. After OpenVINO fails on a batch, the engine
        replaces its compiled model with a new one: with OpenVINO 2026.4 on CPU, a
        compiled model whose inference raised was seen to return results of the wrong
        shape afterwards (21 of 60 repeated bisections of a dynamic-shape model).

    Attributes
    ----------
    compiled : openvino.CompiledModel
        The compiled model now in use.
    requests_per_call : int
        Infer requests each :meth:`run` keeps in flight (OpenVINO's optimal number).
    recompiles : int
        How often the model was compiled afresh after a failed inference.

    Examples
    --------
    >>> from dask_openvino.cache import get_engine
    >>> engine = get_engine(ModelSpec.from_path("model.xml"))  # doctest: +SKIP
    >>> outputs = engine.run({"x": features})  # doctest: +SKIP
    """

    def __init__(
        self,
        compiled: ov.CompiledModel,
        description: ModelDescription,
        *,
        weights_bytes: int = 0,
        recompile: Callable[[], ov.CompiledModel] | None = None,
    ) -> None:
        self.compiled = compiled
        self.recompiles = 0
        self._recompile = recompile
        self.description = description
        self.weights_bytes = weights_bytes
        self.requests_per_call = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._idle_requests: list[ov.InferRequest] = []
        self._lock = threading.Lock()
        self._input_index = {port.name: i for i, port in enumerate(description.inputs)}

    def _borrow_requests(self, count: int) -> list[ov.InferRequest]:
        with self._lock:
            taken = self._idle_requests[-count:]
            del self._idle_requests[len(self._idle_requests) - len(taken) :]
        taken.extend(self.compiled.create_infer_request() for _ in range(count - len(taken)))
        return taken

    def _recover_from_failure(self, failed: ov.CompiledModel) -> None:
        """Replace ``failed`` (the compiled model an inference failed on) with a fresh compile."""
        with self._lock:
            if self.compiled is not failed:
                return  # another thread recovered already
            self._idle_requests.clear()
            if self._recompile is not None:
                self.compiled = self._recompile()
                self.recompiles += 1

    def _return_requests(self, requests: list[ov.InferRequest]) -> None:
        with self._lock:
            self._idle_requests.extend(requests)

    @property
    def request_count(self) -> int:
        """Infer requests created so far and now idle (for diagnostics)."""
        with self._lock:
            return len(self._idle_requests)

    def _check_feeds(self, feeds: Mapping[str, np.ndarray]) -> tuple[list[np.ndarray], int]:
        names = set(feeds)
        expected = set(self._input_index)
        if names != expected:
            raise InputSchemaError(
                f"model inputs are {sorted(expected)}, got arrays for {sorted(names)}"
                + (f"; missing {sorted(expected - names)}" if expected - names else "")
                + (f"; unknown {sorted(names - expected)}" if names - expected else "")
            )
        arrays: list[np.ndarray] = []
        n_rows: int | None = None
        for port in self.description.inputs:
            array = np.asarray(feeds[port.name])
            if port.shape is not None:
                if array.ndim != len(port.shape):
                    raise InputSchemaError(
                        f"input {port.name!r} expects rank {len(port.shape)} ({port}), got an array of shape "
                        f"{list(array.shape)}"
                    )
                for axis, (want, got) in enumerate(zip(port.shape[1:], array.shape[1:], strict=True), start=1):
                    if want is not None and want != got:
                        raise InputSchemaError(
                            f"input {port.name!r} expects dimension {axis} = {want} ({port}), got an array of shape "
                            f"{list(array.shape)}"
                        )
            if n_rows is None:
                n_rows = len(array)
            elif len(array) != n_rows:
                raise InputSchemaError(
                    f"all inputs need the same number of rows: input {port.name!r} has {len(array)}, "
                    f"{self.description.inputs[0].name!r} has {n_rows}"
                )
            arrays.append(to_port_dtype(array, port, source=f"input {port.name!r}"))
        return arrays, n_rows or 0

    def run(self, feeds: Mapping[str, np.ndarray], *, batch_size: int | None = None) -> dict[str, np.ndarray]:
        """Run the model over all rows of ``feeds``.

        Parameters
        ----------
        feeds : mapping of str to numpy.ndarray
            One array per model input, keyed by input name, all with the same
            number of rows (first dimension), any number of rows.
        batch_size : int, optional
            Rows per inference. Defaults to :func:`default_batch_size`. With a
            static batch dimension, the last short batch is padded and the
            padding's results are dropped.

        Returns
        -------
        dict of str to numpy.ndarray
            One array per model output, keyed by output name, with one row per input row.

        Raises
        ------
        InputSchemaError
            If the arrays do not match the model's inputs.
        InferenceError
            If OpenVINO fails on a batch; the message names the rows.
        """
        n_rows = len(next(iter(feeds.values()))) if feeds else 0
        return self.run_chunks([feeds], n_rows, batch_size=batch_size)

    def batch_rows(self, n_rows: int, batch_size: int | None = None) -> int:
        """Rows per inference for a call of ``n_rows`` rows.

        A static batch dimension wins, then ``batch_size``, then
        :func:`default_batch_size` cut so that a small call is split across every
        infer request (the benchmarks measured 31.7 vs 68.9 sequences/s for 64 MiniLM
        rows in one batch vs two).

        Parameters
        ----------
        n_rows : int
            Rows of the whole call.
        batch_size : int, optional
            The batch size asked for.

        Returns
        -------
        int
        """
        ports = self.description.inputs
        static_batch = ports[0].batch_size if ports else None
        batch = static_batch or batch_size or min(default_batch_size(ports), -(-n_rows // self.requests_per_call))
        return max(batch, 1)

    def run_chunks(
        self, chunks: Iterable[Mapping[str, np.ndarray]], n_rows: int, *, batch_size: int | None = None
    ) -> dict[str, np.ndarray]:
        """Run the model over consecutive chunks of rows, taking each chunk only when it is needed.

        ``chunks`` is read lazily: the next chunk is taken (for ``.ov.predict``,
        converted from its columns) while the last batches of the previous one are
        still running, so conversion overlaps inference instead of leaving
        OpenVINO's streams idle. The batches run across chunk boundaries as one
        pipeline; results are the same as :meth:`run` on the concatenated rows.

        Parameters
        ----------
        chunks : iterable of mapping of str to numpy.ndarray
            Feeds as in :meth:`run`, one mapping per chunk. Chunks of a whole number
            of batches keep every batch full.
        n_rows : int
            The rows of all chunks together.
        batch_size : int, optional
            As in :meth:`run`; a default batch is chosen from ``n_rows``.

        Returns
        -------
        dict of str to numpy.ndarray
            One array per model output with ``n_rows`` rows.

        Raises
        ------
        InputSchemaError
            If a chunk does not match the model's inputs.
        InferenceError
            If OpenVINO fails on a batch; the message names the rows.
        ValueError
            If the chunks do not hold ``n_rows`` rows.
        """
        static_batch = self.description.inputs[0].batch_size if self.description.inputs else None
        batch = self.batch_rows(n_rows, batch_size)
        outputs: list[np.ndarray | None] = [None] * len(self.description.outputs)
        if n_rows == 0:
            held = sum(self._check_feeds(chunk)[1] for chunk in chunks)
            if held:
                raise ValueError(f"the chunks hold {held} rows, not the 0 announced")
            return {p.name: np.empty((0, *(p.row_shape or ())), dtype=p.dtype) for p in self.description.outputs}
        compiled = self.compiled
        requests = self._borrow_requests(min(self.requests_per_call, -(-n_rows // batch)))
        # Per request: the rows it runs and the arrays it reads (kept alive until it is collected).
        in_flight: list[tuple[int, int, list[np.ndarray]] | None] = [None] * len(requests)
        number = 0
        offset = 0
        try:
            for chunk in chunks:
                arrays, chunk_rows = self._check_feeds(chunk)
                for start in range(0, chunk_rows, batch):
                    stop = min(start + batch, chunk_rows)
                    slot = number % len(requests)
                    number += 1
                    if in_flight[slot] is not None:
                        self._collect(requests[slot], in_flight[slot], outputs, n_rows)
                    views = {i: self._batch_view(array, start, stop, static_batch) for i, array in enumerate(arrays)}
                    requests[slot].start_async(views, share_inputs=True)
                    in_flight[slot] = (offset + start, offset + stop, arrays)
                offset += chunk_rows
            for slot, request in enumerate(requests):
                if in_flight[slot] is not None:
                    self._collect(request, in_flight[slot], outputs, n_rows)
                    in_flight[slot] = None
            if offset != n_rows:
                raise ValueError(f"the chunks hold {offset} rows, not the {n_rows} announced")
        except BaseException as err:
            # Wait for the requests still running (they read our arrays); their own errors
            # would only repeat the one being raised. The requests are dropped.
            for slot, request in enumerate(requests):
                if in_flight[slot] is not None:
                    with contextlib.suppress(RuntimeError):
                        request.wait()
            if isinstance(err, InferenceError):
                self._recover_from_failure(compiled)
            raise
        self._return_requests(requests)
        return {port.name: out for port, out in zip(self.description.outputs, outputs, strict=True)}  # type: ignore[misc]

    def run_capturing_failures(
        self, feeds: Mapping[str, np.ndarray], *, batch_size: int | None = None
    ) -> tuple[dict[str, np.ndarray], dict[int, str]]:
        """Run like :meth:`run`, but isolate the rows whose inference fails instead of raising.

        When a batch fails, it is bisected (each half run on its own, recursively)
        until the failing rows are single rows; every other row is scored. Costs
        nothing extra when no batch fails. Once a batch has failed, the rows are run
        again batch by batch, synchronously, and the model is recompiled after each
        failure (see the ``recompile`` parameter of :class:`Engine`).

        Parameters
        ----------
        feeds : mapping of str to numpy.ndarray
            As in :meth:`run`.
        batch_size : int, optional
            As in :meth:`run`.

        Returns
        -------
        outputs : dict of str to numpy.ndarray
            As in :meth:`run`; the rows of failed inputs hold zeros.
        failures : dict of int to str
            Row position -> OpenVINO's reason, for each row that could not be scored.

        Raises
        ------
        InputSchemaError
            If the arrays do not match the model's inputs (a whole-job problem, not a row's).
        """
        try:
            return self.run(feeds, batch_size=batch_size), {}
        except InferenceError:
            pass
        arrays, n_rows = self._check_feeds(feeds)
        static_batch = self.description.inputs[0].batch_size
        batch = self.batch_rows(n_rows, batch_size)
        outputs: dict[str, np.ndarray] = {}
        failures: dict[int, str] = {}

        def attempt(start: int, stop: int) -> None:
            compiled = self.compiled
            request = compiled.create_infer_request()
            try:
                request.infer(
                    {i: self._batch_view(array, start, stop, static_batch) for i, array in enumerate(arrays)},
                    share_inputs=True,
                )
            except RuntimeError as err:
                self._recover_from_failure(compiled)
                if stop - start == 1:
                    failures[start] = _first_line(err)
                    return
                middle = (start + stop) // 2
                attempt(start, middle)
                attempt(middle, stop)
                return
            for i, port in enumerate(self.description.outputs):
                result = request.get_output_tensor(i).data
                if port.name not in outputs:
                    outputs[port.name] = np.zeros((n_rows, *result.shape[1:]), dtype=result.dtype)
                outputs[port.name][start:stop] = result[: stop - start]

        for start in range(0, n_rows, batch):
            attempt(start, min(start + batch, n_rows))
        for port in self.description.outputs:
            outputs.setdefault(port.name, np.zeros((n_rows, *(port.row_shape or ())), dtype=port.dtype))
        return outputs, failures

    @staticmethod
    def _batch_view(array: np.ndarray, start: int, stop: int, static_batch: int | None) -> np.ndarray:
        # A contiguous batch is shared with OpenVINO as it is; others (columns stacked as
        # the transpose of a [C, N] block) are copied one batch at a time, while the
        # previous batches run.
        view = np.ascontiguousarray(array[start:stop])
        if static_batch is None or stop - start == static_batch:
            return view
        padded = np.zeros((static_batch, *array.shape[1:]), dtype=array.dtype)
        padded[: stop - start] = view
        return padded

    def _collect(
        self,
        request: ov.InferRequest,
        rows: tuple[int, int, list[np.ndarray]] | None,
        outputs: list[np.ndarray | None],
        n_rows: int,
    ) -> None:
        assert rows is not None
        start, stop, _ = rows
        try:
            request.wait()
        except RuntimeError as err:
            raise InferenceError(
                f"OpenVINO failed on rows {start}..{stop - 1} of the batch: {_first_line(err)}"
            ) from err
        for i, port in enumerate(self.description.outputs):
            result = request.get_output_tensor(i).data
            if outputs[i] is None:
                outputs[i] = np.empty((n_rows, *result.shape[1:]), dtype=result.dtype)
            target = outputs[i]
            assert target is not None
            if result.shape[1:] != target.shape[1:]:
                raise InferenceError(
                    f"output {port.name!r} changed shape between batches ({list(target.shape[1:])} then "
                    f"{list(result.shape[1:])} per row); give inputs a fixed shape"
                )
            target[start:stop] = result[: stop - start]


def compile_engine(spec: ModelSpec, transform: ModelTransform | None = None) -> Engine:
    """Read, transform and compile the model described by ``spec``.

    Parameters
    ----------
    spec : ModelSpec
        The model; its fingerprint is checked against the files.
    transform : ModelTransform, optional
        Edits applied to the model before compiling.

    Returns
    -------
    Engine

    Raises
    ------
    ModelLoadError
        If the model cannot be read or compiled for ``spec.device``.
    ModelChangedError
        If the files changed since ``spec`` was made.
    """
    model = spec.read_model()
    if transform is not None:
        model = transform.apply(model)
    config: dict[str, Any] = default_compile_config(spec.device)
    config.update(spec.config_dict)

    def compile_model() -> ov.CompiledModel:
        try:
            return core().compile_model(model, spec.device, config)
        except RuntimeError as err:
            raise ModelLoadError(f"OpenVINO cannot compile {spec.xml} for {spec.device}: {_first_line(err)}") from err

    compiled = compile_model()
    return Engine(compiled, describe_model(compiled), weights_bytes=_weights_size(spec), recompile=compile_model)


def _weights_size(spec: ModelSpec) -> int:
    try:
        fs, path = fsspec.core.url_to_fs(spec.weights, **dict(spec.storage_options))
        return int(fs.size(path) or 0)
    except (OSError, ValueError):
        return 0
