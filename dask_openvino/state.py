"""Per-process state, all in one place: the OpenVINO ``Core``, the compiled models and every memo.

Everything dask-openvino keeps between calls in a process lives here (xarray's
``FILE_CACHE`` is the model): [`core`][dask_openvino.state.core], the bounded
[`ENGINES`][dask_openvino.state.ENGINES] cache of compiled models (see
[`get_engine`][dask_openvino.cache.get_engine]), and the small memos registered with
[`memoize`][dask_openvino.state.memoize] (model descriptions, fingerprints,
tokenizers). One fork hook resets all of it: OpenVINO's thread pools do not survive
``fork``, so a forked child starts from nothing and compiles afresh.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any, Generic, TypeVar

import openvino as ov

__all__ = ["ENGINES", "LOG_LEVELS", "LoadingCache", "core", "memoize", "reset"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., Any])

_core: ov.Core | None = None
_core_lock = threading.Lock()
_memos: list[Any] = []


def core() -> ov.Core:
    """Return this process's ``openvino.Core``, created on first use.

    Returns
    -------
    openvino.Core
    """
    global _core
    with _core_lock:
        if _core is None:
            _core = ov.Core()
        return _core


def memoize(maxsize: int) -> Callable[[F], F]:
    """Decorate a pure function with a bounded ``functools.lru_cache`` that [`reset`][dask_openvino.state.reset] clears.

    Parameters
    ----------
    maxsize : int
        Results kept, least recently used dropped first.

    Returns
    -------
    callable
        The decorator.

    Examples
    --------
    >>> @memoize(maxsize=8)
    ... def square(x: int) -> int:
    ...     return x * x
    >>> square(3)
    9
    """

    def decorate(func: F) -> F:
        cached = lru_cache(maxsize=maxsize)(func)
        _memos.append(cached)
        return cached  # type: ignore[return-value]

    return decorate


class _Loading:
    """One key's load lock and how many callers hold or wait on it (counted under the cache's lock)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0


class LoadingCache(Generic[K, V]):
    """A thread-safe LRU that loads each key once, however many threads ask for it at once.

    Parameters
    ----------
    weigh : callable
        The weight of a value (bytes), for the byte bound.

    Attributes
    ----------
    loads, hits, evictions : int
        Counters since the cache was made or last cleared.
    """

    def __init__(self, weigh: Callable[[V], int]) -> None:
        self._weigh = weigh
        self._reset()

    def _reset(self) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._loading: dict[K, _Loading] = {}
        self._lock = threading.Lock()
        self.loads = 0
        self.hits = 0
        self.evictions = 0

    def get(self, key: K, load: Callable[[], V], *, max_items: int | None, max_weight: int | None) -> V:
        """Return the value for ``key``, calling ``load()`` once if it is not held.

        Threads asking for a key that is being loaded wait for that load. The value is
        inserted before the key's load lock is released, so no thread can start a
        second load in between. After a failed load, each waiting thread and each later
        caller runs its own ``load()`` in turn, never two at once: a load that always
        fails is paid once per caller. The key's lock is dropped once no caller holds or
        waits on it.

        Parameters
        ----------
        key : hashable
            What identifies the value.
        load : callable
            Makes the value; its exceptions propagate to every waiting thread's own call.
        max_items, max_weight : int or None
            Bounds applied on every call (None: unbounded): a value may have grown since
            it was inserted. The value returned is always kept.

        Returns
        -------
        object
            The value.
        """
        with self._lock:
            value = self._hit(key)
            if value is not None:
                self._evict(max_items, max_weight)
                return value
            loading = self._loading.get(key)
            if loading is None:
                loading = self._loading[key] = _Loading()
            loading.users += 1
        try:
            with loading.lock:
                with self._lock:
                    value = self._hit(key)
                    if value is not None:
                        self._evict(max_items, max_weight)
                        return value
                # A failed load keeps the key's lock while anyone waits on it: those threads and
                # the ones that come meanwhile retry one at a time, never two compiles at once.
                value = load()
                with self._lock:
                    self._entries[key] = value
                    self.loads += 1
                    self._evict(max_items, max_weight)
                return value
        finally:
            # The lock goes only once no caller holds or waits on it, so a new caller's fresh
            # lock can never let a second load run beside one already under way.
            with self._lock:
                loading.users -= 1
                if not loading.users and self._loading.get(key) is loading:  # not if a fork reset the cache
                    del self._loading[key]

    def _hit(self, key: K) -> V | None:
        """Return the value held for ``key``, marked most recently used (call with the lock held)."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return value

    def _evict(self, max_items: int | None, max_weight: int | None) -> None:
        while len(self._entries) > 1 and (
            (max_items is not None and len(self._entries) > max_items)
            or (max_weight is not None and self._weight() > max_weight)
        ):
            self._entries.popitem(last=False)
            self.evictions += 1

    def _weight(self) -> int:
        return sum(self._weigh(value) for value in self._entries.values())

    def values(self) -> list[V]:
        """Return the values held, least recently used first."""
        with self._lock:
            return list(self._entries.values())

    def stats(self) -> tuple[int, int, int, int, int]:
        """Return ``(values held, loads, hits, evictions, total weight)``."""
        with self._lock:
            return len(self._entries), self.loads, self.hits, self.evictions, self._weight()

    def clear(self) -> None:
        """Drop every value and reset the counters.

        Only loads under way hold a key's lock (it goes when its last caller returns); they
        keep it, so a caller arriving after ``clear()`` waits for them rather than loading
        the same key beside them, and they still insert their values.
        """
        with self._lock:
            self._entries.clear()
            self.loads = self.hits = self.evictions = 0


ENGINES: LoadingCache[Any, Any] = LoadingCache(weigh=lambda engine: int(engine.weights_bytes))
"""This process's compiled models: [`Engine`][dask_openvino.engine.Engine]s keyed by ``(ModelSpec, transform)``."""


LOG_LEVELS: dict[str, int] = {}
"""The ``dask_openvino`` log level each command-line job asked this worker for, by job.

Several jobs may share a worker; the logger runs at the most verbose level any of them
asked for, and at its own level again once none is left
([`dask_openvino.cli.logs`][dask_openvino.cli.logs]).
"""


def reset() -> None:
    """Forget all per-process state: the ``Core``, every compiled model and every memo.

    Runs by itself in a forked child (locks held by the parent's threads are replaced).
    """
    global _core, _core_lock
    _core = None
    _core_lock = threading.Lock()
    ENGINES._reset()
    LOG_LEVELS.clear()
    for memo in _memos:
        memo.cache_clear()


os.register_at_fork(after_in_child=reset)
