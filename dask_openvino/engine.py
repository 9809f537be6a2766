"""The engine: batched, asynchronous inference with one compiled model.

An [`Engine`][dask_openvino.engine.Engine] wraps one ``openvino.CompiledModel`` shared by
every thread of a process. Each call borrows its own infer requests from a pool (one
``CompiledModel`` called from several threads at once can hang), cuts the rows into
batches, keeps several batches in flight so every OpenVINO stream is busy, and writes
each result straight into one preallocated array per output
([`OutputBuffer`][dask_openvino.engine.OutputBuffer]). With ``isolate=True`` a failing
call is run again batch by batch, and failing batches are bisected until the rows
that fail are found; the other rows are scored.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import openvino as ov

from dask_openvino.casting import check_feeds, computed_types
from dask_openvino.errors import InferenceError, ModelLoadError, openvino_message
from dask_openvino.failures import IsolationModel, bisect_failures
from dask_openvino.policy import default_batch_size
from dask_openvino.spec import ModelDescription, PortInfo

__all__ = ["Chunk", "Engine", "OutputBuffer", "Rows"]

Rows = slice | np.ndarray
"""Where a chunk's rows go in the output: a slice, or an array of row positions."""

Chunk = tuple[Rows, Mapping[str, np.ndarray]]
"""A chunk of rows to score: where they go in the output, and one array per model input."""

Failures = dict[int, str]

_RUNS_AFTER_RETIREMENT = 3
"""How often a call runs again when other calls' failures keep retiring the compiled model under it."""


def _take(rows: Rows, start: int, stop: int) -> Rows:
    """Rows ``start:stop`` of a chunk, as positions in the output."""
    if isinstance(rows, slice):
        return slice((rows.start or 0) + start, (rows.start or 0) + stop)
    return rows[start:stop]


class OutputBuffer:
    """One array per model output with a row per input row, filled batch by batch.

    Each output is allocated when its first batch arrives (its row shape may only be
    known then) and every later batch is checked against it.

    Parameters
    ----------
    ports : tuple of PortInfo
        The model's outputs.
    n_rows : int
        Rows of the whole call.
    zeros : bool, default False
        Start from zeros: rows no batch writes (failed rows) then hold zeros.
    ragged : bool, default False
        Accept batches narrower than the first on the axes after the batch axis
        (text batches padded to their own longest row): they fill the leading part
        of each row, zeros after it.
    """

    def __init__(self, ports: tuple[PortInfo, ...], n_rows: int, *, zeros: bool = False, ragged: bool = False) -> None:
        self.ports = ports
        self.n_rows = n_rows
        self._zeros = zeros or ragged
        self._ragged = ragged
        self._arrays: list[np.ndarray | None] = [None] * len(ports)

    def write(self, rows: Rows, results: list[np.ndarray], sent: int) -> None:
        """Copy one batch's outputs (padding rows of a static batch dropped) into ``rows``.

        Parameters
        ----------
        rows : slice or numpy.ndarray
            Where the batch's rows go.
        results : list of numpy.ndarray
            The batch's outputs, in port order.
        sent : int
            Rows the batch had as sent to OpenVINO (with the padding of a static batch).

        Raises
        ------
        InferenceError
            If an output does not have one row per row sent, or its row shape differs
            from the earlier batches'.
        """
        n = (rows.stop - rows.start) if isinstance(rows, slice) else len(rows)
        for i, (port, result) in enumerate(zip(self.ports, results, strict=True)):
            if result.ndim == 0 or len(result) != sent:
                found = "no batch dimension (a scalar)" if result.ndim == 0 else f"{len(result)} rows"
                raise InferenceError(
                    f"output {port.name!r} has {found} for a batch of {sent} rows: it is not one row per "
                    "input row, so it cannot become a column"
                )
            target = self._arrays[i]
            if target is None:
                make = np.zeros if self._zeros else np.empty
                target = self._arrays[i] = make((self.n_rows, *result.shape[1:]), dtype=result.dtype)
            row_shape, got = target.shape[1:], result.shape[1:]
            if got == row_shape:
                target[rows] = result[:n]
            elif (
                self._ragged and len(got) == len(row_shape) and all(g <= w for g, w in zip(got, row_shape, strict=True))
            ):
                target[(rows, *(slice(0, g) for g in got))] = result[:n]
            else:
                raise InferenceError(
                    f"output {port.name!r} changed shape between batches ({list(row_shape)} then {list(got)} per "
                    "row); give inputs a fixed shape"
                )

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the outputs by name; an output no batch reached holds zeros of its port's row shape."""
        return {
            port.name: (
                array if array is not None else np.zeros((self.n_rows, *(port.row_shape or ())), dtype=port.dtype)
            )
            for port, array in zip(self.ports, self._arrays, strict=True)
        }


class Engine:
    """Run a compiled model over whole arrays, batched and asynchronously; thread-safe.

    Parameters
    ----------
    compiled : openvino.CompiledModel
        The compiled model; the engine owns it.
    description : ModelDescription
        Its ports (after any transform).
    weights_bytes : int, default 0
        Size of the model's weights, for the cache's byte bound.
    recompile : callable, optional
        Compiles the model afresh; keyword arguments override compile properties. After a batch of the
        pipeline fails, the engine replaces its compiled model with a new one: a CPU compiled model whose
        inference raised was seen to return stale results afterwards, also to its other requests
        (``docs/reliability.md``). Requests of the retired model are never reused. Failing rows are
        isolated on a second, single-stream compile, kept for the engine's life, whose state after a
        failure the engine tracks.
    settings : mapping of str to str, optional
        What the model was compiled with (precision and properties), for
        [`cache_info`][dask_openvino.cache.cache_info] and logs.
    macs_per_row : int, optional
        The model's compute per row ([`row_macs`][dask_openvino.policy.row_macs]),
        which sizes the default batch.

    Attributes
    ----------
    compiled : openvino.CompiledModel
        The compiled model now in use.
    requests_per_call : int
        Infer requests each call keeps in flight (OpenVINO's optimal number).
    default_batch : int
        Rows per inference when no ``batch_size`` is given
        ([`default_batch_size`][dask_openvino.policy.default_batch_size]).
    recompiles : int
        How often the model was compiled afresh after a failed inference: once per
        call whose pipeline failed, plus the single-stream model that isolates
        failing rows (compiled once per engine).
    computed : dict of str to str
        The inputs the device computes in a narrower type than their own (``i64``
        as ``i32`` on CPU), as [`computed_types`][dask_openvino.casting.computed_types]
        reads them; values outside that range raise.

    Examples
    --------
    >>> from dask_openvino import ModelSpec, get_engine
    >>> engine = get_engine(ModelSpec.from_path("model.xml"))  # doctest: +SKIP
    >>> outputs = engine.run({"x": features})  # doctest: +SKIP
    """

    def __init__(
        self,
        compiled: ov.CompiledModel,
        description: ModelDescription,
        *,
        weights_bytes: int = 0,
        recompile: Callable[..., ov.CompiledModel] | None = None,
        settings: Mapping[str, str] | None = None,
        macs_per_row: int | None = None,
    ) -> None:
        self.compiled = compiled
        self.settings = dict(settings or {})
        self.recompiles = 0
        self._recompile = recompile
        self.description = description
        self._model_bytes = weights_bytes
        self.requests_per_call = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._idle_requests: list[ov.InferRequest] = []
        self._lock = threading.Lock()
        self.computed = computed_types(compiled, [port.name for port in description.inputs])
        self._isolation: IsolationModel | None = None
        self._isolation_lock = threading.Lock()
        inputs = description.inputs
        self._static_batch = inputs[0].batch_size if inputs else None
        self.default_batch = default_batch_size(inputs, macs_per_row)

    # ------------------------------------------------------------------ request pool
    def _borrow_requests(self, count: int) -> tuple[ov.CompiledModel, list[ov.InferRequest]]:
        with self._lock:
            compiled = self.compiled
            taken = self._idle_requests[-count:]
            del self._idle_requests[len(self._idle_requests) - len(taken) :]
        taken.extend(compiled.create_infer_request() for _ in range(count - len(taken)))
        return compiled, taken

    def _return_requests(self, compiled: ov.CompiledModel, requests: list[ov.InferRequest]) -> None:
        with self._lock:
            if compiled is self.compiled:
                self._idle_requests.extend(requests)

    def _recover_from_failure(self, failed: ov.CompiledModel) -> None:
        """Replace ``failed`` (the compiled model an inference failed on) with a fresh compile."""
        with self._lock:
            if self.compiled is not failed:
                return  # another thread recovered already
            self._idle_requests.clear()
            if self._recompile is not None:
                self.compiled = self._recompile()
                self.recompiles += 1

    @property
    def weights_bytes(self) -> int:
        """The weight bytes held: the model's, twice with a separate isolation model."""
        return self._model_bytes * (2 if self._isolation is not None and self._recompile is not None else 1)

    @property
    def request_count(self) -> int:
        """Infer requests created so far and now idle (for diagnostics)."""
        with self._lock:
            return len(self._idle_requests)

    # ------------------------------------------------------------------ feeds and batches
    def batch_rows(self, n_rows: int, batch_size: int | None = None) -> int:
        """Rows per inference for a call of ``n_rows`` rows.

        A static batch dimension wins, then ``batch_size``. Otherwise batches of at most
        [`default_batch_size`][dask_openvino.policy.default_batch_size] rows and about
        the same size, as many as a multiple of the requests a call keeps in flight where
        the rows allow: no stream idles on a short last batch, and a small call is split
        across every request.

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
        fixed = self._static_batch or batch_size
        if fixed:
            return max(fixed, 1)
        batches = -(-max(n_rows, 1) // self.default_batch)
        batches = -(-batches // self.requests_per_call) * self.requests_per_call
        return max(-(-n_rows // batches), 1)

    def _batch(self, arrays: list[np.ndarray], start: int, stop: int) -> dict[int, np.ndarray]:
        # A contiguous batch is shared with OpenVINO as it is; others (stacked columns, the transpose
        # of a [C, N] block) are copied while the previous batches run. A static batch is padded.
        views = {}
        for i, array in enumerate(arrays):
            view = np.ascontiguousarray(array[start:stop])
            if self._static_batch is not None and stop - start != self._static_batch:
                padded = np.zeros((self._static_batch, *array.shape[1:]), dtype=array.dtype)
                padded[: stop - start] = view
                view = padded
            views[i] = view
        return views

    # ------------------------------------------------------------------ running
    def run(self, feeds: Mapping[str, np.ndarray], *, batch_size: int | None = None) -> dict[str, np.ndarray]:
        """Run the model over all rows of ``feeds``.

        Parameters
        ----------
        feeds : mapping of str to numpy.ndarray
            One array per model input, keyed by input name, all with the same
            number of rows (first dimension), any number of rows.
        batch_size : int, optional
            Rows per inference (see [`batch_rows`][dask_openvino.engine.Engine.batch_rows]).
            With a static batch dimension, the last short batch is padded and the
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
        outputs, _ = self.run_chunks([(slice(0, n_rows), feeds)], n_rows, batch_size=batch_size)
        return outputs

    def run_chunks(
        self,
        chunks: Iterable[Chunk],
        n_rows: int,
        *,
        batch_size: int | None = None,
        isolate: bool = False,
        zeros: bool = False,
        ragged: bool = False,
    ) -> tuple[dict[str, np.ndarray], Failures]:
        """Run the model over chunks of rows, taking each chunk only when it is needed.

        ``chunks`` is read lazily: the next chunk is taken (for ``.ov.predict``,
        converted from its columns) while the last batches of the previous one are
        still running, so conversion overlaps inference instead of leaving
        OpenVINO's streams idle. The batches of all chunks run as one pipeline.

        Parameters
        ----------
        chunks : iterable of (rows, feeds) pairs
            Each chunk's rows in the output (a slice or positions) and its feeds as
            in [`run`][dask_openvino.engine.Engine.run]. It is iterated again to
            isolate failing rows, or when another call's failure retired the compiled
            model under this one: pass a re-iterable (a list, or an object whose
            ``__iter__`` starts over) to keep conversion lazy; a one-shot iterator is
            read into a list first.
        n_rows : int
            Rows of the output; rows that no chunk covers hold zeros.
        batch_size : int, optional
            As in [`run`][dask_openvino.engine.Engine.run].
        isolate : bool, default False
            Instead of raising [`InferenceError`][dask_openvino.errors.InferenceError], run
            the chunks again batch by batch, bisect each failing batch down to the
            rows that fail, and return those rows' reasons; they hold zeros.
        zeros : bool, default False
            Allocate the outputs zeroed (some rows are covered by no chunk).
        ragged : bool, default False
            Chunks may differ in width on axes after the batch axis (see
            [`OutputBuffer`][dask_openvino.engine.OutputBuffer]); give the widest first.

        Returns
        -------
        outputs : dict of str to numpy.ndarray
            One array per model output with ``n_rows`` rows.
        failures : dict of int to str
            Output row -> OpenVINO's reason, for each row whose inference failed
            (empty unless ``isolate``).

        Raises
        ------
        InputSchemaError
            If a chunk does not match the model's inputs.
        InferenceError
            If OpenVINO fails on a batch and ``isolate`` is False; the message names the rows.
        """
        if iter(chunks) is chunks:
            chunks = list(chunks)
        batch = self.batch_rows(n_rows, batch_size)
        if n_rows == 0:
            for _, feeds in chunks:
                check_feeds(self.description, feeds, self.computed)
            return OutputBuffer(self.description.outputs, 0).arrays(), {}
        for _ in range(_RUNS_AFTER_RETIREMENT):
            buffer = OutputBuffer(self.description.outputs, n_rows, zeros=zeros or isolate, ragged=ragged)
            try:
                if self._pipeline(chunks, buffer, batch, n_rows):
                    return buffer.arrays(), {}
            except InferenceError:
                if not isolate:
                    raise
                break
        else:
            if not isolate:
                raise InferenceError(
                    f"failed inferences of other calls recompiled the model {_RUNS_AFTER_RETIREMENT} times while this "
                    "call ran; its results were discarded"
                )
        buffer = OutputBuffer(self.description.outputs, n_rows, zeros=True, ragged=ragged)
        failures: Failures = {}
        with self._isolation_lock:
            tally = [0, 0]
            for rows, feeds in chunks:
                arrays, chunk_rows = check_feeds(self.description, feeds, self.computed)
                for start in range(0, chunk_rows, batch):
                    stop = min(start + batch, chunk_rows)
                    self._bisect(arrays, rows, start, stop, buffer, failures, tally)
        return buffer.arrays(), failures

    def _pipeline(self, chunks: Iterable[Chunk], buffer: OutputBuffer, batch: int, n_rows: int) -> bool:
        """Run every batch; False when another call's failure retired the compiled model meanwhile.

        A failed inference can leave the compiled model returning wrong results to its other
        requests too, so results computed on a retired model are not trusted: the caller runs
        the call again on the new one.
        """
        compiled, requests = self._borrow_requests(min(self.requests_per_call, -(-n_rows // batch)))
        # Per request: the output rows it computes, the rows it was sent, and the arrays it reads
        # (kept alive until it is collected).
        in_flight: list[tuple[Rows, int, list[np.ndarray]] | None] = [None] * len(requests)
        number = 0
        try:
            for rows, feeds in chunks:
                arrays, chunk_rows = check_feeds(self.description, feeds, self.computed)
                for start in range(0, chunk_rows, batch):
                    stop = min(start + batch, chunk_rows)
                    slot = number % len(requests)
                    number += 1
                    self._collect(requests[slot], in_flight[slot], buffer)
                    views = self._batch(arrays, start, stop)
                    requests[slot].start_async(views, share_inputs=True)
                    in_flight[slot] = (_take(rows, start, stop), len(views[0]) if views else stop - start, arrays)
            for slot, request in enumerate(requests):
                self._collect(request, in_flight[slot], buffer)
                in_flight[slot] = None
        except BaseException as err:
            # Wait for the requests still running (they read our arrays); their own errors
            # would only repeat the one being raised. The requests are dropped.
            for slot, request in enumerate(requests):
                if in_flight[slot] is not None:
                    with contextlib.suppress(RuntimeError):
                        request.wait()
            if isinstance(err, InferenceError):
                if compiled is not self.compiled:
                    return False
                self._recover_from_failure(compiled)
            raise
        self._return_requests(compiled, requests)
        return compiled is self.compiled

    def _collect(
        self, request: ov.InferRequest, flight: tuple[Rows, int, list[np.ndarray]] | None, buffer: OutputBuffer
    ) -> None:
        if flight is None:
            return
        rows, sent, _ = flight
        try:
            request.wait()
        except RuntimeError as err:
            # A batch of positions (preprocessed rows batched by width, rows left out) may skip rows.
            first, last = (rows.start, rows.stop - 1) if isinstance(rows, slice) else (int(rows.min()), int(rows.max()))
            contiguous = isinstance(rows, slice) or len(rows) == last - first + 1
            where = f"rows {first}..{last}" if contiguous else f"rows between {first} and {last}"
            message = f"OpenVINO failed on {where}: {openvino_message(err)}"
            raise InferenceError(message, span=(first, last), contiguous=contiguous) from err
        buffer.write(rows, [request.get_output_tensor(i).data for i in range(len(buffer.ports))], sent)

    def _isolation_model(self) -> IsolationModel:
        """Return the isolation model, compiled with one stream on first use (the engine's own without a compiler)."""
        if self._isolation is None:
            compiled = self.compiled
            if self._recompile is not None:
                try:
                    compiled = self._recompile(NUM_STREAMS="1")
                except ModelLoadError as err:
                    if "NUM_STREAMS" not in str(err):
                        raise
                    compiled = self._recompile()  # a device without streams
                with self._lock:
                    self.recompiles += 1
            self._isolation = IsolationModel(compiled, static_batch=self._static_batch is not None)
        return self._isolation

    def _bisect(
        self,
        arrays: list[np.ndarray],
        rows: Rows,
        start: int,
        stop: int,
        buffer: OutputBuffer,
        failures: Failures,
        tally: list[int],
    ) -> None:
        """Score chunk rows ``start:stop`` on the isolation model, finding the rows that fail."""
        isolation = self._isolation_model()

        def run(low: int, high: int) -> str | None:
            result = isolation.infer(list(self._batch(arrays, low, high).values()), len(buffer.ports))
            if isinstance(result, str):
                return result
            buffer.write(_take(rows, low, high), *result)
            return None

        def record(row: int, reason: str) -> None:
            position = _take(rows, row, row + 1)
            failures[position.start if isinstance(position, slice) else int(position[0])] = reason

        bisect_failures(run, start, stop, record, tally)
