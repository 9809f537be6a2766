"""Worker plugins that last as long as the command that registered them, even one killed by SIGKILL.

A command registers worker plugins for its job's length (the warm-up, the job's
logging) and unregisters them when the job ends. A command killed outright never gets
there, and its plugins would stay on a long-lived cluster: installed on every worker
that joins, running on every record the workers log.
[`scoped_plugin`][dask_openvino.cli.scoped.scoped_plugin] also registers a small
scheduler plugin that unregisters the worker plugin when the command's client
disconnects, however it ends.

```python
with scoped_plugin(client, WarmUp("model.xml"), name="dask-openvino-warm-up-..."):
    written = write_scored(scored, "scored.parquet", client=client)
```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from distributed import Client
from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

from dask_openvino.cluster import connected

if TYPE_CHECKING:
    from distributed import Scheduler

__all__ = ["scoped_plugin"]

logger = logging.getLogger(__name__)


class _UnregisterWithClient(SchedulerPlugin):
    """On the scheduler: unregister a worker plugin when the client that registered it disconnects."""

    def __init__(self, client: str, worker_plugin: str, name: str) -> None:
        self.client = client
        self.worker_plugin = worker_plugin
        self.name = name
        self._tasks: set[asyncio.Task[None]] = set()

    def remove_client(self, scheduler: Scheduler, client: str) -> None:
        if client != self.client:
            return
        with contextlib.suppress(ValueError):  # already removed
            scheduler.remove_plugin(name=self.name)
        if self.worker_plugin in scheduler.worker_plugins:
            # Called from the scheduler's event loop; the broadcast to the workers is a coroutine.
            task = asyncio.ensure_future(self._unregister(scheduler))
            self._tasks.add(task)  # a task nobody references may be garbage-collected before it runs
            task.add_done_callback(self._tasks.discard)

    async def _unregister(self, scheduler: Scheduler) -> None:
        try:
            await scheduler.unregister_worker_plugin(comm=None, name=self.worker_plugin)
        except Exception as err:  # a worker that is going away; the scheduler no longer holds the plugin
            logger.debug("unregistering %s after its client left: %s", self.worker_plugin, err)


@contextlib.contextmanager
def scoped_plugin(client: Client, plugin: WorkerPlugin, *, name: str) -> Iterator[dict[str, Any]]:
    """Register ``plugin`` on every worker (and workers that join) for the block's length, or the client's.

    On leaving the block, also when the registration failed (a worker's ``setup``
    raised), the plugin is unregistered, unless the client lost its scheduler
    ([`connected`][dask_openvino.cluster.connected]). Whatever happens to this
    process, the scheduler unregisters the plugin when the client disconnects.

    Parameters
    ----------
    client : distributed.Client
        The command's client.
    plugin : distributed.diagnostics.plugin.WorkerPlugin
        The plugin.
    name : str
        Its name on the cluster; registering another plugin of the same name replaces it.

    Yields
    ------
    dict
        What each worker answered when the plugin was set up, by worker address.

    Examples
    --------
    >>> with scoped_plugin(client, WarmUp("model.xml"), name="warm-up") as answers:  # doctest: +SKIP
    ...     print(f"compiled on {len(answers)} workers")
    """
    # One guard per client: two commands may register a plugin of the same name (one model's warm-up).
    guard = f"{name}-until-{client.id}-leaves"
    client.register_plugin(_UnregisterWithClient(client.id, name, guard), name=guard)
    try:
        yield client.register_plugin(plugin, name=name)
    finally:
        _quietly(client, client.unregister_worker_plugin, name)
        _quietly(client, client.unregister_scheduler_plugin, guard)


def _quietly(client: Client, unregister: Callable[[str], object], name: str) -> None:
    # Asked before each call: the first one failing can be how the client learns that its
    # scheduler is gone, and the next would wait out the reconnection.
    if not connected(client):
        return
    try:
        unregister(name)
    except Exception as err:  # never in place of the job's own error; the guard removes it when the client leaves
        logger.debug("could not unregister plugin %s: %s", name, err)
