"""What the commands log, and where: `-v`/`-q`, worker logs on the client, no worker tracebacks.

```bash
dask-openvino predict model.xml t.parquet -o out.parquet -v   # each worker's compile, rows failed, ...
dask-openvino predict model.xml t.parquet -o out.parquet -q   # errors and the summary only
```

[`verbosity_option`][dask_openvino.cli.logs.verbosity_option] adds `-v`/`-q` to a
command and sets the level of the `dask_openvino` loggers;
[`worker_logging`][dask_openvino.cli.logs.worker_logging] sets the same level on the
workers while a job runs, forwards their `dask_openvino` records to this process at
`-v` (of its own tasks, not another job's on the same cluster), and keeps
distributed's "Compute Failed" block (a worker's traceback of the error that the
command reports on one `Error:` line anyway) off the terminal.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import click
from distributed import Client
from distributed.diagnostics.plugin import WorkerPlugin

from dask_openvino import state
from dask_openvino.cli.scoped import scoped_plugin
from dask_openvino.cluster import connected

__all__ = ["QuietTaskFailures", "configure_logging", "task_name", "verbosity_option", "worker_logging"]


@contextlib.contextmanager
def configure_logging(verbosity: int) -> Iterator[int]:
    """Send the `dask_openvino` loggers to standard error at the level `verbosity` chooses, while the block runs.

    The loggers' level, handlers and propagation are restored afterwards (a command
    run from Python, as `CliRunner` does, leaves the caller's logging as it was).

    Parameters
    ----------
    verbosity : int
        `-1` for `-q` (errors), `0` (warnings), `1` for `-v` (info), `2` or more for `-vv` (debug).

    Yields
    ------
    int
        The `logging` level set.

    Examples
    --------
    >>> with configure_logging(1) as level:
    ...     level == logging.INFO
    True
    """
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    package = logging.getLogger("dask_openvino")
    saved = (package.level, package.propagate)
    # Plain lines, never wrapped: paths and figures stay whole, and tests and scripts can grep them.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    package.setLevel(level)
    package.addHandler(handler)
    package.propagate = False
    try:
        yield level
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]


class _Formatter(logging.Formatter):
    """`Warning: ...` for warnings and worse, the worker of a forwarded record (`record.worker`) in brackets."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        worker = getattr(record, "worker", None)
        if worker:
            text = f"[{worker}] {text}"
        return f"{record.levelname.capitalize()}: {text}" if record.levelno >= logging.WARNING else text


def verbosity_option(command: Callable[..., None]) -> Callable[..., None]:
    """Add `-v/--verbose` (repeatable) and `-q/--quiet` to a command; it receives `verbosity=`.

    Parameters
    ----------
    command : callable
        The command function, below its `click` options.

    Returns
    -------
    callable
        The function to decorate with `click.command`.

    Examples
    --------
    >>> @click.command("score")
    ... @verbosity_option
    ... def score_command(verbosity: int) -> None:
    ...     click.echo(verbosity)
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(score_command, ["-vv"]).output.strip()
    '2'
    """

    @functools.wraps(command)
    def with_verbosity(*args: Any, verbose: int, quiet: bool, **kwargs: Any) -> None:
        if verbose and quiet:
            raise click.UsageError("-v/--verbose and -q/--quiet contradict each other; give one")
        verbosity = -1 if quiet else verbose
        with configure_logging(verbosity):
            command(*args, verbosity=verbosity, **kwargs)

    decorated: Callable[..., None] = click.option(
        "-q", "--quiet", is_flag=True, help="Print only errors and the summary (no progress bar)."
    )(with_verbosity)
    return click.option(
        "-v",
        "--verbose",
        count=True,
        help="Log more: -v each worker's model compile, partitions recomputed, rows failed; -vv debug.",
    )(decorated)


class QuietTaskFailures(logging.Filter):
    """Drop distributed's "Compute Failed" records of this command's tasks; pass every other record.

    Parameters
    ----------
    marker : str
        The name of the command's tasks ([`task_name`][dask_openvino.cli.logs.task_name]),
        so that failures of other clients' tasks on a shared cluster, other predict
        jobs' included, are still logged.

    Examples
    --------
    >>> def failed(key: str) -> logging.LogRecord:
    ...     return logging.LogRecord("distributed.worker", logging.ERROR, "", 0, "Compute Failed %s", (key,), None)
    >>> quiet = QuietTaskFailures("read_parquet-predict-1f2e")
    >>> quiet.filter(failed("('read_parquet-predict-1f2e', 3)")), quiet.filter(failed("('read_parquet-predict-9c', 3)"))
    (False, True)
    """

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether `record` is logged."""
        if not str(record.msg).startswith("Compute Failed"):
            return True
        key = record.args[0] if isinstance(record.args, tuple) and record.args else ""
        return self.marker not in str(key)


_OWN_LEVEL = ""
"""The key of `state.LOG_LEVELS` that keeps the logger's level from before the first job."""


class _WorkerLogging(WorkerPlugin):
    """On each worker: the `dask_openvino` loggers at the command's level, task failures not logged."""

    def __init__(self, level: int, marker: str) -> None:
        self.level = level
        self.marker = marker
        self._filter: QuietTaskFailures | None = None

    def setup(self, worker: Any) -> None:
        package = logging.getLogger("dask_openvino")
        if not state.LOG_LEVELS:
            state.LOG_LEVELS[_OWN_LEVEL] = package.level
        state.LOG_LEVELS[self.marker] = self.level
        package.setLevel(min(level for key, level in state.LOG_LEVELS.items() if key != _OWN_LEVEL))
        self._filter = QuietTaskFailures(self.marker)
        logging.getLogger("distributed.worker").addFilter(self._filter)

    def teardown(self, worker: Any) -> None:
        package = logging.getLogger("dask_openvino")
        if state.LOG_LEVELS.pop(self.marker, None) is not None:
            jobs = [level for key, level in state.LOG_LEVELS.items() if key != _OWN_LEVEL]
            package.setLevel(min(jobs) if jobs else state.LOG_LEVELS.pop(_OWN_LEVEL, logging.NOTSET))
        if self._filter is not None:
            logging.getLogger("distributed.worker").removeFilter(self._filter)


class _JobRecords(logging.Handler):
    """Publish the records of one job's tasks, and those logged outside any task, on the job's topic.

    A record of another job's task is dropped. Threads a task starts itself are not
    tasks: their records go to every job.
    """

    def __init__(self, worker: Any, topic: str, marker: str, level: int) -> None:
        super().__init__(level)
        self.worker = worker
        self.topic = topic
        self.marker = marker

    def emit(self, record: logging.LogRecord) -> None:
        """Send `record` to the client as an event (its message formatted, as distributed's forwarding does)."""
        key = self.worker.active_threads.get(threading.get_ident())
        if key is not None and self.marker not in str(key):
            return
        if record.exc_info:
            self.format(record)  # fills record.exc_text, which travels instead of the traceback
        attributes = {**record.__dict__, "msg": record.getMessage(), "args": None, "exc_info": None}
        attributes.pop("message", None)
        self.worker.log_event(self.topic, attributes)


class _ForwardJobLogging(WorkerPlugin):
    """On each worker: send one job's `dask_openvino` records to its client, on a topic of its own.

    distributed's own `Client.forward_logging` uses one plugin name and topic per logger:
    a second job on the cluster would get the first one's records, and the first job's
    end would stop the second one's forwarding.
    """

    def __init__(self, level: int, marker: str, topic: str) -> None:
        self.level = level
        self.marker = marker
        self.topic = topic
        self._handler: _JobRecords | None = None

    def setup(self, worker: Any) -> None:
        self._handler = _JobRecords(worker, self.topic, self.marker, self.level)
        logging.getLogger("dask_openvino").addHandler(self._handler)

    def teardown(self, worker: Any) -> None:
        if self._handler is not None:
            logging.getLogger("dask_openvino").removeHandler(self._handler)


def _log_forwarded(event: tuple[float, dict[str, Any]]) -> None:
    record = logging.makeLogRecord(event[1])
    logging.getLogger(record.name).handle(record)


def task_name(collection: Any) -> str:
    """Return the name in the keys of the tasks that compute `collection`'s partitions, as Dask runs them.

    Dask fuses the steps of a partition into one task, named for its first steps
    (``read_parquet-predict-<token>``): the token tells one job's tasks from another's,
    also of a job on the same model.

    Parameters
    ----------
    collection : dask.dataframe.DataFrame
        What the job computes.

    Returns
    -------
    str

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> frame = dd.from_pandas(pd.DataFrame({"a": [1.0]}), npartitions=1)
    >>> task_name(frame.map_partitions(lambda part: part, token="predict-m")).startswith("predict-m-")
    True
    """
    return str(collection.optimize().__dask_keys__()[0][0])


@contextlib.contextmanager
def worker_logging(client: Client, level: int, *, marker: str) -> Iterator[None]:
    """While the block runs, log on the workers as in this process, and forward their records at INFO or below.

    Parameters
    ----------
    client : distributed.Client
        The job's cluster.
    level : int
        The `logging` level of the `dask_openvino` loggers (from
        [`configure_logging`][dask_openvino.cli.logs.configure_logging]).
    marker : str
        The name of the job's tasks ([`task_name`][dask_openvino.cli.logs.task_name]),
        whose "Compute Failed" records are dropped.

    Yields
    ------
    None

    Examples
    --------
    >>> with worker_logging(client, logging.INFO, marker=task_name(scored)):  # doctest: +SKIP
    ...     done = write_scored(scored, out, format="parquet", client=client, console=console)
    """
    # A name of its own: another job on the cluster registers and unregisters its own plugin.
    name = f"dask-openvino-cli-logging-{uuid.uuid4().hex}"
    with contextlib.ExitStack() as undo:
        # Each step is undone on its own, in reverse, whatever else fails (the cluster may
        # be gone already: Ctrl-C, a lost scheduler); the plugins also when this process is killed.
        undo.enter_context(scoped_plugin(client, _WorkerLogging(level, marker), name=name))
        if level <= logging.INFO:
            client.subscribe_topic(name, _log_forwarded)  # type: ignore[no-untyped-call]
            undo.callback(_unsubscribe, client, name)
            undo.enter_context(
                scoped_plugin(client, _ForwardJobLogging(level, marker, topic=name), name=f"{name}-forward")
            )
        yield


def _unsubscribe(client: Client, topic: str) -> None:
    if connected(client):  # else the scheduler forgets the subscription with the client
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(topic)  # type: ignore[no-untyped-call]
