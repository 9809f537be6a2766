"""Finding the rows whose inference fails, without recompiling the model for each.

After an inference raised, OpenVINO 2026.4's CPU plugin returns stale results for the
next inference on the same stream whose input shapes equal those of the last one that
succeeded there: its graph skips shape inference for unchanged shapes, but the failed
run left it shaped for the failed batch (measured in ``docs/reliability.md``). A fresh
infer request does not help, since the graph belongs to the stream, not to the request.

An [`IsolationModel`][dask_openvino.failures.IsolationModel] is a single-stream compile
with one request, so it knows what its only graph last ran: a batch that would meet the
stale state is sent with its last row repeated, which changes its shapes and makes the
graph infer them again. [`bisect_failures`][dask_openvino.failures.bisect_failures]
splits a failing range of rows until the failing rows are single rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import openvino as ov

from dask_openvino.errors import openvino_message

__all__ = ["IsolationModel", "bisect_failures"]


class IsolationModel:
    """A single-stream compiled model that runs one batch at a time and tracks its graph's state.

    Parameters
    ----------
    compiled : openvino.CompiledModel
        Compiled with ``NUM_STREAMS=1``.
    static_batch : bool
        The model's batch dimension is static: every batch has the same shapes (padded),
        so there is no shape state to go stale, and none can be changed.

    Examples
    --------
    >>> compiled = core.compile_model(model, "CPU", {"NUM_STREAMS": "1"})  # doctest: +SKIP
    >>> isolation = IsolationModel(compiled, static_batch=False)  # doctest: +SKIP
    >>> result = isolation.infer([batch], n_outputs=1)  # doctest: +SKIP
    >>> reason = result if isinstance(result, str) else None  # doctest: +SKIP
    """

    def __init__(self, compiled: ov.CompiledModel, *, static_batch: bool) -> None:
        self.compiled = compiled
        self._request = compiled.create_infer_request()
        self._static_batch = static_batch
        self._last_shapes: tuple[tuple[int, ...], ...] | None = None
        self._dirty = False

    def infer(self, views: list[np.ndarray], n_outputs: int) -> tuple[list[np.ndarray], int] | str:
        """Run one batch; return its outputs and the rows sent, or why it failed.

        Parameters
        ----------
        views : list of numpy.ndarray
            Contiguous arrays, one per model input, in input order.
        n_outputs : int
            Number of model outputs.

        Returns
        -------
        (list of numpy.ndarray, int) or str
            The outputs (valid until the next call) and the number of rows they hold
            (one more than given when the last row was repeated), or OpenVINO's reason.
        """
        sent = list(views)
        shapes = tuple(view.shape for view in sent)
        if self._dirty and shapes == self._last_shapes and not self._static_batch and len(sent[0]):
            sent = [np.concatenate([view, view[-1:]]) for view in sent]
            shapes = tuple(view.shape for view in sent)
        try:
            self._request.infer(sent, share_inputs=True)
        except RuntimeError as err:
            self._dirty = True
            return openvino_message(err)
        outputs = [self._request.get_output_tensor(i).data for i in range(n_outputs)]
        rows = len(sent[0]) if sent else 0
        empty = [i for i, out in enumerate(outputs) if out.ndim and len(out) == 0]
        if rows and empty:
            # A failure OpenVINO did not raise (a single-threaded CPU model returns no rows
            # where it would raise): the batch failed, and the graph is as after a failure.
            # Any other row count is the model's own shape, which the output buffer refuses.
            self._dirty = True
            return f"output {empty[0]} has no rows for a batch of {rows}"
        self._dirty, self._last_shapes = False, shapes
        return outputs, rows


def bisect_failures(
    run: Callable[[int, int], str | None],
    start: int,
    stop: int,
    record: Callable[[int, str], None],
    tally: list[int],
) -> None:
    """Run rows ``start:stop``; if they fail, run each part alone, down to single rows.

    A range with ``k`` failing rows of ``n`` costs at most about ``2 k log2(n / k)``
    inferences. Once failures have been seen, a failing range is split into about as
    many parts as the failure rate so far predicts failing rows, so that dense failures
    skip the levels where every part fails.

    Parameters
    ----------
    run : callable
        ``run(start, stop)`` infers those rows and stores their results; returns None,
        or the reason they failed.
    start, stop : int
        The rows.
    record : callable
        ``record(row, reason)`` for each failing row.
    tally : list of int
        ``[failing rows, rows resolved]`` so far, updated in place.

    Examples
    --------
    >>> failed = {}
    >>> run = lambda a, b: "bad" if any(r in (3, 7) for r in range(a, b)) else None
    >>> bisect_failures(run, 0, 10, failed.__setitem__, [0, 0])
    >>> sorted(failed)
    [3, 7]
    """
    reason = run(start, stop)
    if reason is None:
        tally[1] += stop - start
        return
    if stop - start == 1:
        record(start, reason)
        tally[0] += 1
        tally[1] += 1
        return
    parts = min(stop - start, max(2, round((stop - start) * tally[0] / max(tally[1], 1))))
    bounds = np.linspace(start, stop, parts + 1).round().astype(int)
    for low, high in itertools.pairwise(bounds):
        if high > low:
            bisect_failures(run, int(low), int(high), record, tally)
