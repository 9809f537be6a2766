"""Around a `dask-openvino predict` job on its cluster: the warm-up before it, the summary after.

[`job_start`][dask_openvino.cli.run.job_start] registers the warm-up plugin
([`WarmUp`][dask_openvino.plugin.WarmUp]) for the job's length
([`scoped_plugin`][dask_openvino.cli.scoped.scoped_plugin]);
[`summary_table`][dask_openvino.cli.run.summary_table] is what the command prints when
the job is done. The command checks the cluster's versions
([`check_versions`][dask_openvino.versions.check_versions]) before either, as soon as
it is connected: a worker of another release may not even unpickle a plugin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distributed import Client
from rich.console import Console
from rich.table import Table

from dask_openvino.cache import cache_info
from dask_openvino.cli.scoped import scoped_plugin
from dask_openvino.cluster import connected
from dask_openvino.plan import ERROR_COLUMN
from dask_openvino.plugin import WarmUp
from dask_openvino.progress import Completed

__all__ = ["failed_rows", "job_start", "summary_table", "worker_precisions"]

logger = logging.getLogger(__name__)


@contextmanager
def job_start(client: Client, plugin: WarmUp | None, console: Console) -> Iterator[None]:
    """Given a plugin, compile the model on every worker, and on workers that join, for the job's length.

    Parameters
    ----------
    client : distributed.Client
        The job's cluster.
    plugin : WarmUp or None
        The warm-up to register; None to let each worker compile on its first partition.
    console : rich.console.Console
        Where the warm-up's time is printed.

    Raises
    ------
    ModelLoadError
        If a worker cannot read or compile the model (the worker's own error).

    Examples
    --------
    >>> with job_start(client, WarmUp("model.xml"), console):  # doctest: +SKIP
    ...     written = write_scored(scored, "scored.parquet", client=client, console=console)
    """
    if plugin is None:
        yield
        return
    started = time.perf_counter()
    # Also after a failed warm-up, or a killed command: a long-lived cluster should not go
    # on compiling this model on every worker that joins. A name per client: another
    # command warming up the same model keeps its own.
    with scoped_plugin(client, plugin, name=f"{plugin.name}-{client.id}") as answers:
        seconds, warmed = time.perf_counter() - started, len(answers)
        console.print(f"Warm-up: compiled on {warmed} worker{'' if warmed == 1 else 's'} in {seconds:.1f} s")
        yield


def failed_rows(done: Completed[dict[str, Any]]) -> int:
    """Count the rows that got a reason instead of predictions (``--errors null``), over the written parts.

    Parameters
    ----------
    done : Completed
        The part records of [`write_scored`][dask_openvino.output.write_scored].

    Returns
    -------
    int

    Examples
    --------
    >>> failed_rows(track(futures, rows=lambda r: int(r["rows"])))  # doctest: +SKIP
    2
    """
    return sum(int(record.get("failed", 0)) for record in done.results)


def summary_table(done: Completed[dict[str, Any]], precisions: list[str], with_errors: bool) -> Table:
    """Build the table printed after a job: rows scored and failed, partitions, time, throughput, precisions.

    Parameters
    ----------
    done : Completed
        The part records of [`write_scored`][dask_openvino.output.write_scored].
    precisions : list of str
        [`worker_precisions`][dask_openvino.cli.run.worker_precisions].
    with_errors : bool
        The job has an error column (``--errors null``): show the failed rows even when none failed.

    Returns
    -------
    rich.table.Table

    Examples
    --------
    >>> Console().print(summary_table(written.scoring, ["bf16 (auto)"], with_errors=False))  # doctest: +SKIP
    """
    table = Table(show_header=False, box=None, padding=(0, 2))
    failed = failed_rows(done)
    table.add_row("rows scored", f"{done.rows - failed:,}")
    if with_errors:
        table.add_row("rows failed", f"{failed:,}" + (f" (reasons in column {ERROR_COLUMN})" if failed else ""))
    table.add_row("partitions", f"{done.partitions:,}")
    if done.recomputed:
        table.add_row("recomputed", f"{done.recomputed:,} partitions, after a worker was lost")
    table.add_row("time", f"{done.seconds:.2f} s")
    table.add_row("throughput", f"{done.rows_per_second:,.0f} rows/s")
    for line in precisions:
        table.add_row("precision", line)
    return table


def worker_precisions(client: Client, model: str) -> list[str]:
    """Return what the workers compiled `model` with: one line per distinct precision and reason.

    Parameters
    ----------
    client : distributed.Client
        The job's cluster.
    model : str
        The model's absolute path or URI, as the engines record it.

    Returns
    -------
    list of str
        Empty, with a warning logged, if the scheduler cannot be reached any more (the
        job's output is written by then).

    Examples
    --------
    >>> worker_precisions(client, "/models/score.xml")  # doctest: +SKIP
    ['bf16 (auto: AMX (amx_bf16) runs bf16 faster than f32)']
    """
    unknown = "could not ask the workers which precision they compiled %s with (%s)"
    if not connected(client):
        logger.warning(unknown, model, "the client is not connected to the scheduler")
        return []
    try:
        infos = client.run(cache_info).values()
    except OSError as err:
        logger.warning(unknown, model, err)
        return []
    seen = {
        f"{engine.get('INFERENCE_PRECISION_HINT', '?')} ({engine.get('precision_reason', '')})"
        for info in infos
        for engine in info.engines
        if engine.get("model") == model
    }
    return sorted(seen)
