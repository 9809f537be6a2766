from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from dask_openvino import ModelSpec, get_engine, state


def _race(threads: int, keys: int) -> Counter[int]:
    """Loads per key when ``threads`` threads ask a fresh cache for keys ``0..keys-1`` at once."""
    cache: state.LoadingCache[int, object] = state.LoadingCache(weigh=lambda value: 0)
    loads: Counter[int] = Counter()

    def load(key: int) -> object:
        loads[key] += 1
        return object()

    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        for key in range(keys):
            cache.get(key, lambda key=key: load(key), max_items=None, max_weight=None)  # type: ignore[misc]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        running = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert cache.stats()[0] == keys
    return loads


def test_concurrent_first_calls_load_each_key_once() -> None:
    # A thread arriving between the end of a load and the insert of its value used to start a
    # second load: the value is now inserted before the key's load lock goes. The window is
    # microseconds wide, so many threads race over many keys with a tiny switch interval.
    for _ in range(6):
        loads = _race(threads=8, keys=3000)
        assert max(loads.values()) == 1, [key for key, n in loads.items() if n > 1][:10]


def test_failed_load_is_retried_by_the_next_call() -> None:
    cache: state.LoadingCache[str, int] = state.LoadingCache(weigh=lambda value: value)
    calls = []

    def failing() -> int:
        calls.append(1)
        raise OSError("disk gone")

    for _ in range(2):
        with contextlib.suppress(OSError):
            cache.get("m", failing, max_items=None, max_weight=None)
    assert len(calls) == 2
    assert cache.get("m", lambda: 5, max_items=None, max_weight=None) == 5


def test_after_a_failed_load_the_retries_of_waiting_and_new_callers_do_not_overlap() -> None:
    # The failed load's lock went with it: a thread still waiting on it and a thread arriving
    # after the failure each held a lock of its own, and both compiled the model at once.
    cache: state.LoadingCache[str, int] = state.LoadingCache(weigh=lambda value: value)
    running, most = [0], [0]
    guard = threading.Lock()
    failed = threading.Event()

    def load(fail: bool) -> int:
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with guard:
            running[0] -= 1
        if fail:
            failed.set()
            raise OSError("disk gone")
        return 1

    def first() -> None:
        with contextlib.suppress(OSError):
            cache.get("m", lambda: load(True), max_items=None, max_weight=None)

    def waiting() -> None:
        cache.get("m", lambda: load(False), max_items=None, max_weight=None)

    def late() -> None:
        failed.wait()
        time.sleep(0.05)  # after the failed load has returned
        cache.get("m", lambda: load(False), max_items=None, max_weight=None)

    threads = [threading.Thread(target=first), threading.Thread(target=waiting), threading.Thread(target=late)]
    threads[0].start()
    time.sleep(0.1)  # the second thread waits on the first one's load
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
    assert cache.get("m", lambda: 99, max_items=None, max_weight=None) == 1


def test_failed_loads_leave_no_locks_behind() -> None:
    # Each key whose load failed kept its load lock for good, and clear() left them.
    cache: state.LoadingCache[int, int] = state.LoadingCache(weigh=lambda value: value)

    def failing() -> int:
        raise OSError("disk gone")

    for key in range(1000):
        with contextlib.suppress(OSError):
            cache.get(key, failing, max_items=None, max_weight=None)
    assert not cache._loading
    cache.get(0, lambda: 1, max_items=None, max_weight=None)
    assert not cache._loading and cache.stats()[:2] == (1, 1)


def test_bounds_evict_least_recently_used_but_keep_the_newest() -> None:
    cache: state.LoadingCache[str, int] = state.LoadingCache(weigh=lambda value: value)
    for key, weight in (("a", 1), ("b", 1), ("c", 1)):
        cache.get(key, lambda weight=weight: weight, max_items=2, max_weight=None)  # type: ignore[misc]
    assert cache.values() == [1, 1] and cache.evictions == 1
    cache.get("huge", lambda: 100, max_items=None, max_weight=10)
    assert cache.values() == [100]


def test_memoize_is_cleared_by_reset() -> None:
    seen: list[int] = []

    @state.memoize(maxsize=4)
    def double(x: int) -> int:
        seen.append(x)
        return 2 * x

    assert double(2) == double(2) == 4 and seen == [2]
    state.reset()
    assert double(2) == 4 and seen == [2, 2]


def test_forked_child_starts_from_nothing(linear_xml: Path) -> None:
    get_engine(ModelSpec.from_path(linear_xml))
    core = state.core()
    assert state.ENGINES.stats()[0] == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it inherited, then leave at once
        os.close(read)
        inherited = state.ENGINES.stats()[0] + (state.core() is core)
        os.write(write, str(inherited).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        inherited_text = pipe.read()
    os.waitpid(pid, 0)
    assert inherited_text == "0"
    assert state.ENGINES.stats()[0] == 1 and state.core() is core
