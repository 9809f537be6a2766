"""Live progress of a partition-by-partition job on a `distributed` cluster.

[`track`][dask_openvino.progress.track] follows one future per partition as they complete and draws a
[rich](https://rich.readthedocs.io) progress bar: partitions done, rows done,
rows per second and the time left. The command line (`dask-openvino predict`,
`dask-openvino demo`) uses it; it works the same from a notebook or a script:

```python
futures = client.compute(per_partition.to_delayed())
done = track(futures, rows=len)
print(f"{done.rows:,} rows in {done.seconds:.1f} s")
```
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from distributed import Client, Future, as_completed
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from dask_openvino.cluster import connected
from dask_openvino.errors import JobCancelledError

__all__ = ["Completed", "compact", "track"]

T = TypeVar("T")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completed(Generic[T]):
    """What [`track`][dask_openvino.progress.track] returns once every partition is done.

    Attributes
    ----------
    results : list
        Each future's result, in the order the futures were given.
    rows : int
        Rows counted over all results.
    seconds : float
        Wall time from the call to [`track`][dask_openvino.progress.track] until the last partition finished.
    recomputed : int
        Partitions that ran again because the worker running them was lost.

    Examples
    --------
    >>> done = Completed(results=[3, 4], rows=7, seconds=0.5)
    >>> done.partitions, done.rows_per_second
    (2, 14.0)
    """

    results: list[T]
    rows: int
    seconds: float
    recomputed: int = 0

    @property
    def partitions(self) -> int:
        """Number of partitions tracked."""
        return len(self.results)

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole job (0 when no time elapsed)."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def compact(number: float) -> str:
    """Write a count in at most six characters, so that the progress line fits 80 columns.

    Examples
    --------
    >>> compact(9_999), compact(96_400), compact(964_385), compact(8_000_000), compact(12_500_000_000)
    ('9,999', '96.4k', '964k', '8.00M', '12.5G')
    """
    if number < 10_000:
        return f"{number:,.0f}"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if number >= scale:
            value = number / scale
            return (
                f"{value:.2f}{suffix}"
                if value < 10
                else f"{value:.1f}{suffix}"
                if value < 100
                else f"{value:.0f}{suffix}"
            )
    return f"{number:,.0f}"


class _RowsColumn(ProgressColumn):
    """Rows done so far and rows per second, from the task's `rows` field, never wrapped."""

    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        elapsed = task.finished_time if task.finished else task.elapsed
        rate = rows / elapsed if elapsed else 0.0
        return Text(f"{compact(rows)} rows {compact(rate)}/s", style="progress.data.speed", no_wrap=True)

    def get_table_column(self) -> Column:
        """Keep the figures on one line, whatever the terminal's width."""
        return Column(no_wrap=True)


def _progress(console: Console | None) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        _RowsColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def track(
    futures: Sequence[Future[T]],
    *,
    rows: Callable[[T], int],
    description: str = "scoring",
    console: Console | None = None,
) -> Completed[T]:
    """Wait for one future per partition, showing a live progress bar.

    If a partition fails, or the wait is interrupted (Ctrl-C raises
    `KeyboardInterrupt`), the futures not yet done are cancelled and the
    exception propagates.

    Parameters
    ----------
    futures : sequence of distributed.Future
        One future per partition, e.g. `client.compute(frame.to_delayed())`.
    rows : callable
        Maps one future's result to the number of rows it stands for
        (`len` for partitions that are DataFrames).
    description : str, default "scoring"
        Label shown left of the bar.
    console : rich.console.Console, optional
        Where to draw; default the standard output. On a console that is not a
        terminal, only the final state is printed.

    Returns
    -------
    Completed
        The results in the order of `futures`, total rows and wall time.

    Raises
    ------
    JobCancelledError
        If the cluster cancelled a future: the scheduler was lost or restarted, or the
        future was cancelled.

    Examples
    --------
    >>> from distributed import Client
    >>> client = Client(processes=False)  # doctest: +SKIP
    >>> futures = client.compute(ddf.to_delayed())  # doctest: +SKIP
    >>> done = track(futures, rows=len)  # doctest: +SKIP
    >>> done.rows_per_second  # doctest: +SKIP
    """
    start = time.perf_counter()
    position = {future.key: i for i, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    total_rows = 0
    try:
        with _progress(console) as progress:
            task = progress.add_task(description, total=len(futures), rows=0)
            # Results are fetched here, not by as_completed(with_results=True): its fetch
            # failing on a lost connection would leave it waiting for that future forever.
            # One fetch for the futures done since the last.
            finished = 0
            for batch in as_completed(futures).batches():  # type: ignore[no-untyped-call]
                for future, result in zip(batch, _gather(batch, finished, len(futures)), strict=True):
                    results[position[future.key]] = result
                    total_rows += rows(result)
                    finished += 1
                    progress.update(task, advance=1, rows=total_rows)
    except BaseException:
        pending = [future for future in futures if not future.done()]  # type: ignore[no-untyped-call]
        if pending and connected(pending[0].client):  # else the client cancels them itself
            pending[0].client.cancel(pending)
        raise
    seconds = time.perf_counter() - start
    recomputed = _recomputed(futures)
    if recomputed:
        logger.info("%d partitions were recomputed after the worker running them was lost", recomputed)
    return Completed(results=results, rows=total_rows, seconds=seconds, recomputed=recomputed)


_CANCELLED_BECAUSE = {
    "scheduler-connection-lost": "the connection to the scheduler was lost",
    "scheduler-restart": "the scheduler restarted",
}


def _gather(batch: list[Future[T]], finished: int, total: int) -> list[T]:
    """Return done futures' results: a partition's own error as it is, the cluster's as `JobCancelledError`."""
    stopped = f"the cluster stopped the job after {finished} of the {total} partitions it was computing"
    client = batch[0].client
    try:
        results: list[T] = client.gather(batch)
    except (CancelledError, OSError) as err:
        if any(future.status == "error" for future in batch):  # a partition raised it (an unreadable file)
            raise
        if isinstance(err, OSError):
            _until_disconnected(client)
        reason = str(getattr(err, "reason", "")) if isinstance(err, CancelledError) else "scheduler-connection-lost"
        cause = _CANCELLED_BECAUSE.get(reason, "they were cancelled on the cluster")
        raise JobCancelledError(f"{stopped}: {cause}") from err
    return results


def _until_disconnected(client: Client, seconds: float = 5.0) -> None:
    """Wait (at most ``seconds``) for ``client`` to see that its scheduler is gone.

    A gather's own connection can fail a moment before the client notices the lost
    scheduler. Until it does, [`connected`][dask_openvino.cluster.connected] still says
    yes, and each clean-up call that believes it would wait out a reconnection (30 s by
    default) to a scheduler that is gone.
    """
    deadline = time.monotonic() + seconds
    while connected(client) and time.monotonic() < deadline:
        time.sleep(0.01)


def _recomputed(futures: Sequence[Future[Any]]) -> int:
    """Count the futures' tasks that the scheduler saw a worker die while running ("suspicious" tasks)."""
    if not futures:
        return 0
    if not connected(futures[0].client):
        return 0
    keys = [future.key for future in futures]
    # A lambda travels by value: the scheduler runs it without importing anything of ours.
    count = lambda dask_scheduler, keys: sum(  # noqa: E731
        1 for key in keys if key in dask_scheduler.tasks and dask_scheduler.tasks[key].suspicious
    )
    try:
        return int(futures[0].client.run_on_scheduler(count, keys=keys))
    except Exception:  # an old or unreachable scheduler: the count is informative, the job is done
        logger.debug("could not ask the scheduler which partitions were recomputed", exc_info=True)
        return 0
