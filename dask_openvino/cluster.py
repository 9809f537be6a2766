"""Where a command runs: connect to a scheduler or start a local cluster, and exit quietly on Ctrl-C or SIGTERM.

[`connect`][dask_openvino.cluster.connect] is what `dask-openvino predict` and
`dask-openvino demo` run inside: it starts a `distributed.LocalCluster` sized to the
machine (or by [`ClusterOptions`][dask_openvino.cluster.ClusterOptions]), or
connects to a running scheduler, prints the cluster and its dashboard link, and
closes what it started. Ctrl-C reaches only the calling process, which cancels the
job and shuts the cluster down without the tracebacks of half-closed connections.
SIGTERM (`kill`, a batch system's time limit, a container stop) does the same.

```python
from rich.console import Console

with connect(ClusterOptions(workers=2), Console()) as client:
    done = track(client.compute(frame.to_delayed()), rows=len)
```
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import threading
import traceback
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import dask.config
from distributed import Client, LocalCluster, default_client
from rich.console import Console

from dask_openvino.errors import JobCancelledError, SchedulerConnectionError

__all__ = ["ClusterOptions", "connect", "connected"]


@dataclass(frozen=True)
class ClusterOptions:
    """Where a command runs: an existing scheduler, or a local cluster of this size.

    Attributes
    ----------
    scheduler : str or None
        Address of a running scheduler (`tcp://host:8786`); `None` starts a
        `distributed.LocalCluster`.
    workers : int or None
        Worker processes of the local cluster (default: sized to the machine).
    threads_per_worker : int or None
        Threads per local worker (default: sized to the machine).
    dashboard_address : str
        Where the local cluster serves its dashboard (`":0"`: any free port).

    Examples
    --------
    >>> ClusterOptions(workers=2, threads_per_worker=1).scheduler is None
    True
    """

    scheduler: str | None = None
    workers: int | None = None
    threads_per_worker: int | None = None
    dashboard_address: str = ":8787"


@contextmanager
def connect(options: ClusterOptions, console: Console) -> Iterator[Client]:
    """Connect to `options.scheduler`, or start a local cluster; close what was started.

    Local worker processes start with Ctrl-C ignored, so that only this process
    reacts to a terminal's Ctrl-C. Inside the block, SIGTERM raises
    `KeyboardInterrupt` as Ctrl-C does, so that the caller cleans up the same way.
    A `KeyboardInterrupt` or [`JobCancelledError`][dask_openvino.errors.JobCancelledError]
    raised inside the block propagates, and the cluster's shutdown that follows logs
    no tracebacks; the loggers are as before once it is over.

    Parameters
    ----------
    options : ClusterOptions
        Where to run.
    console : rich.console.Console
        Where to print the cluster and its dashboard link.

    Yields
    ------
    distributed.Client

    Raises
    ------
    SchedulerConnectionError
        If `options.scheduler` cannot be reached or is not an address.

    Examples
    --------
    >>> from rich.console import Console
    >>> with connect(ClusterOptions(workers=1, dashboard_address=":0"), Console()) as client:  # doctest: +SKIP
    ...     client.submit(sum, [1, 2]).result()
    Cluster: local, 1 worker x 1 thread
    Dashboard: http://127.0.0.1:53211/status
    3
    """
    silenced: dict[str, int] = {}
    try:
        with ExitStack() as started:  # closed in reverse: the client, then a local cluster
            if options.scheduler is not None:
                client = started.enter_context(_scheduler_client(options.scheduler))
            else:
                with _workers_ignore_ctrl_c(), warnings.catch_warnings():
                    # A busy dashboard port makes distributed pick another one and warn; the link printed below is
                    # the real one.
                    warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
                    cluster = started.enter_context(
                        LocalCluster(  # type: ignore[no-untyped-call]
                            n_workers=options.workers,
                            threads_per_worker=options.threads_per_worker,
                            processes=True,
                            dashboard_address=options.dashboard_address,
                            silence_logs=logging.ERROR,
                        )
                    )
                client = started.enter_context(Client(cluster))  # type: ignore[no-untyped-call]
            console.print(_cluster_line(client, options.scheduler))
            _print_dashboard(client, console)
            with _quiet_shutdown(silenced), _sigterm_as_ctrl_c():
                yield client
    finally:
        # Once the client and cluster are closed: a notebook goes on with its logs.
        for name, level in silenced.items():
            logging.getLogger(name).setLevel(level)


def _scheduler_client(address: str) -> Client:
    """Return a client of the scheduler at `address`, or say why there is none."""
    scheduler, before = dask.config.get("scheduler", None), _default_client()
    try:
        return Client(address)  # type: ignore[no-untyped-call]
    except (OSError, ValueError) as err:  # refused or timed out; an unknown scheme or no port
        # A client that never started can stay Dask's default client (an unknown scheme does) until it
        # is collected, and every later compute() in the process waits on it for good: close it.
        left = _default_client()
        if left is not None and left is not before:
            left.close()  # type: ignore[no-untyped-call]
        dask.config.set(scheduler=scheduler)
        raise SchedulerConnectionError(
            f"cannot connect to the Dask scheduler at {address!r}: {err}. Check the address (tcp://HOST:8786 by "
            "default), that `dask scheduler` runs there, and that this machine can reach its port"
        ) from None


def _default_client() -> Client | None:
    try:
        client: Client = default_client()  # type: ignore[no-untyped-call]
        return client
    except ValueError:  # no client
        return None


def connected(client: Client) -> bool:
    """Return whether `client` is connected to its scheduler.

    A client that lost its scheduler waits out its reconnection (Dask's
    `distributed.comm.timeouts.connect`, 30 s by default) before any call to it fails:
    clean-up after a job (unregistering plugins, cancelling, asking the workers) asks
    this first and skips what the lost scheduler took with it.

    Parameters
    ----------
    client : distributed.Client
        The client, connected or not.

    Returns
    -------
    bool

    Examples
    --------
    >>> connected(client)  # doctest: +SKIP
    True
    """
    return bool(client.status == "running")


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """Raise `KeyboardInterrupt` on SIGTERM, so that a terminated job cleans up as an interrupted one.

    Without it SIGTERM ends the process at once, leaving the partial output of the job.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _quiet_shutdown(silenced: dict[str, int]) -> Iterator[None]:
    """After Ctrl-C or a lost scheduler, keep the cluster's shutdown from printing tracebacks.

    Closing the client while it still gathers results makes tornado log the closed
    connection's traceback (seen in a CI run), and closing it while it reconnects to a
    lost scheduler makes distributed log the cancelled reconnection's; the caller has
    already said what happened. The levels replaced are recorded in ``silenced``, for
    the caller to put back once the shutdown is over. For the whole block, tornado's
    report of one race in distributed is dropped (``_SyncCancelRace``).
    """
    race = _SyncCancelRace()
    logging.getLogger("tornado.application").addFilter(race)
    try:
        yield
    except (KeyboardInterrupt, JobCancelledError):
        # distributed gives some child loggers levels of their own (tornado.application:
        # error), so silencing the parents is not enough: every logger under them is set.
        quiet = ("tornado", "asyncio", "distributed")
        names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] in quiet]
        for name in {*quiet, *names}:
            silenced.setdefault(name, logging.getLogger(name).level)
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        raise
    finally:
        logging.getLogger("tornado.application").removeFilter(race)


class _SyncCancelRace(logging.Filter):
    """Drop tornado's traceback of a Ctrl-C that reached `distributed.utils.sync` too early.

    Ctrl-C (or SIGTERM, turned into it) while the client waits in ``sync`` schedules
    sync's ``cancel`` on the event loop; if the awaited call has not started yet,
    ``cancel`` reads a variable not yet assigned and raises ``NameError``, which tornado
    logs with a traceback (distributed 2026.8; seen in a CI run). The interrupt itself
    is handled as usual; only that record is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for the race's record, True for every other."""
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, NameError) or error.__traceback__ is None:
            return True
        last = traceback.extract_tb(error.__traceback__)[-1]
        return not (last.name == "cancel" and last.filename.endswith(os.path.join("distributed", "utils.py")))


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored.

    Ctrl-C in a terminal signals the whole process group, local workers included;
    they would die mid-task printing tracebacks. Ignored signals stay ignored in
    spawned children, so only this process sees Ctrl-C and shuts the cluster down.
    """
    # signal.signal works only in the main thread; elsewhere workers keep the default handler.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _cluster_line(client: Client, scheduler: str | None) -> str:
    """Say where the job runs: the scheduler's address or a local cluster, with its workers and threads."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if scheduler is not None:
        threads = sum(w["nthreads"] for w in workers.values())
        return f"Cluster: {scheduler} ({_plural(len(workers), 'worker')}, {_plural(threads, 'thread')})"
    per_worker = sorted({w["nthreads"] for w in workers.values()})
    threads_text = "/".join(str(t) for t in per_worker) + (" thread" if per_worker == [1] else " threads")
    return f"Cluster: local, {_plural(len(workers), 'worker')} x {threads_text}"


def _print_dashboard(client: Client, console: Console) -> None:
    link = client.dashboard_link
    if importlib.util.find_spec("bokeh") is None:
        console.print(f"Dashboard: {link} (needs bokeh: pip install bokeh)")
    else:
        console.print(f"Dashboard: {link}")
