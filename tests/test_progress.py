from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError

import pytest
from distributed import Client, Future, LocalCluster
from rich.console import Console

from dask_openvino import JobCancelledError
from dask_openvino.progress import Completed, track

# Tasks run in this process (processes=False), so they can wait on this event; teardown sets it.
RELEASE = threading.Event()


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(n_workers=1, threads_per_worker=4, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(autouse=True)
def _release_blocked_tasks() -> Iterator[None]:
    RELEASE.clear()
    yield
    RELEASE.set()


def _after(seconds: float, value: list[int]) -> list[int]:
    time.sleep(seconds)
    return value


def _blocked(value: list[int]) -> list[int]:
    RELEASE.wait(timeout=30)
    return value


def _fails() -> list[int]:
    raise RuntimeError("partition 0 failed")


def _quiet() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=120)


def _cancelled(future: Future[list[int]]) -> bool:
    deadline = time.monotonic() + 10
    while future.status != "cancelled" and time.monotonic() < deadline:
        time.sleep(0.01)
    return future.status == "cancelled"


def test_results_keep_the_order_of_the_futures_not_of_completion(client: Client) -> None:
    # The first partition finishes last.
    futures = [
        client.submit(_after, 0.5, [0], pure=False),
        client.submit(_after, 0.0, [1, 1], pure=False),
        client.submit(_after, 0.2, [2, 2, 2], pure=False),
    ]
    done = track(futures, rows=len, console=_quiet())
    assert done.results == [[0], [1, 1], [2, 2, 2]]


def test_rows_are_counted_with_the_given_function(client: Client) -> None:
    futures = [client.submit(_after, 0.0, list(range(n)), pure=False) for n in (3, 5, 7)]
    done = track(futures, rows=lambda part: 10 * len(part), console=_quiet())
    assert done.rows == 150
    assert done.partitions == 3
    assert done.seconds > 0
    assert done.rows_per_second == pytest.approx(150 / done.seconds)


def test_seconds_cover_the_whole_wait(client: Client) -> None:
    done = track([client.submit(_after, 0.3, [1], pure=False)], rows=len, console=_quiet())
    assert done.seconds >= 0.3


def test_the_bar_shows_description_partitions_and_rows(client: Client) -> None:
    console = _quiet()
    futures = [client.submit(_after, 0.0, [1, 2], pure=False) for _ in range(3)]
    track(futures, rows=len, description="digits", console=console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "digits" in text
    assert "3/3" in text
    assert "6 rows" in text


def test_a_failed_partition_cancels_the_others_and_propagates(client: Client) -> None:
    slow = client.submit(_blocked, [1], pure=False)
    futures = [client.submit(_fails, pure=False), slow]
    with pytest.raises(RuntimeError, match="partition 0 failed"):
        track(futures, rows=len, console=_quiet())
    assert _cancelled(slow)


def test_ctrl_c_while_waiting_cancels_the_pending_partitions(client: Client) -> None:
    slow = client.submit(_blocked, [1], pure=False)
    futures = [client.submit(_after, 0.0, [1], pure=False), slow]

    def interrupted(part: list[int]) -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        track(futures, rows=interrupted, console=_quiet())
    assert _cancelled(slow)
    assert futures[0].status == "finished"


def test_a_partition_cancelled_on_the_cluster_raises_job_cancelled(client: Client) -> None:
    # A task cancelled under the wait (as a restart or another caller does): the wait stops
    # with the reason, not with the cancelled future's error passed on as its result.
    slow = client.submit(_blocked, [1], pure=False)
    futures = [client.submit(_after, 0.0, [1], pure=False), slow]
    futures[0].result()
    cancel = threading.Timer(0.2, client.cancel, [slow])
    cancel.start()
    match = r"the cluster stopped the job after 1 of the 2 partitions it was computing: they were cancelled"
    with pytest.raises(JobCancelledError, match=match):
        track(futures, rows=len, console=_quiet())
    cancel.join()


def _raises(error: BaseException) -> list[int]:
    raise error


@pytest.mark.parametrize(
    "error", [FileNotFoundError("part.3.parquet is gone"), CancelledError("a pool inside the partition")]
)
def test_a_partitions_own_os_or_cancelled_error_propagates_as_it_is(client: Client, error: BaseException) -> None:
    # Only the cluster's cancellations and lost connections become JobCancelledError.
    futures = [client.submit(_raises, error, pure=False)]
    with pytest.raises(type(error), match=str(error)) as raised:
        track(futures, rows=len, console=_quiet())
    assert not isinstance(raised.value, JobCancelledError)


def test_no_time_means_no_throughput() -> None:
    assert Completed(results=[], rows=0, seconds=0.0).rows_per_second == 0.0
    assert Completed(results=[[1], [2, 3]], rows=3, seconds=1.5).partitions == 2
