"""The per-process cache of compiled models.

Each worker process reads and compiles a model once, on first use, and keeps the
resulting :class:`~dask_openvino.engine.Engine` here, keyed by the
:class:`~dask_openvino.spec.ModelSpec` (location, fingerprint, device, config) and
the model transform. Concurrent first calls from several threads compile once.
The cache is bounded and evicts the least recently used model; the bounds come
from Dask's configuration, so platform teams set them like any other Dask option::

    openvino:
      cache:
        max-models: 4        # compiled models kept per process
        max-bytes: null      # total weight bytes kept per process (null: no bound)

(or ``DASK_OPENVINO__CACHE__MAX_MODELS=2`` in the workers' environment).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import dask.config

from dask_openvino.engine import Engine, ModelTransform, compile_engine
from dask_openvino.spec import ModelSpec

__all__ = ["CacheInfo", "cache_info", "clear_cache", "get_engine"]

dask.config.update_defaults({"openvino": {"cache": {"max-models": 4, "max-bytes": None}}})

_CacheKey = tuple[ModelSpec, Any]


@dataclass(frozen=True)
class CacheInfo:
    """Statistics of this process's model cache.

    Attributes
    ----------
    models : int
        Compiled models held now.
    compiles : int
        Models compiled by this process since it started (or since :func:`clear_cache`).
    hits : int
        Look-ups served from the cache.
    evictions : int
        Models dropped to honour the bounds.
    weights_bytes : int
        Total weight bytes of the models held.
    pid : int
        The process id, to tell workers apart in ``client.run`` results.
    """

    models: int
    compiles: int
    hits: int
    evictions: int
    weights_bytes: int
    pid: int


class _ModelCache:
    def __init__(self) -> None:
        self._engines: OrderedDict[_CacheKey, Engine] = OrderedDict()
        self._loading: dict[_CacheKey, threading.Lock] = {}
        self._lock = threading.Lock()
        self.compiles = 0
        self.hits = 0
        self.evictions = 0

    def get(self, spec: ModelSpec, transform: ModelTransform | None) -> Engine:
        key: _CacheKey = (spec, transform)
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None:
                self._engines.move_to_end(key)
                self.hits += 1
                return engine
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                engine = self._engines.get(key)
                if engine is not None:
                    self.hits += 1
                    return engine
            try:
                engine = compile_engine(spec, transform)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            with self._lock:
                self.compiles += 1
                self._engines[key] = engine
                self._evict()
            return engine

    def _evict(self) -> None:
        max_models = dask.config.get("openvino.cache.max-models")
        max_bytes = dask.config.get("openvino.cache.max-bytes")
        while len(self._engines) > 1 and (
            (max_models is not None and len(self._engines) > int(max_models))
            or (max_bytes is not None and self._bytes() > int(max_bytes))
        ):
            self._engines.popitem(last=False)
            self.evictions += 1

    def _bytes(self) -> int:
        return sum(engine.weights_bytes for engine in self._engines.values())

    def clear(self) -> None:
        with self._lock:
            self._engines.clear()
            self.compiles = self.hits = self.evictions = 0

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(
                models=len(self._engines),
                compiles=self.compiles,
                hits=self.hits,
                evictions=self.evictions,
                weights_bytes=self._bytes(),
                pid=os.getpid(),
            )


_cache = _ModelCache()


def _reset_after_fork() -> None:
    # OpenVINO's thread pools do not survive fork: a forked child compiles afresh.
    global _cache
    _cache = _ModelCache()


os.register_at_fork(after_in_child=_reset_after_fork)


def get_engine(spec: ModelSpec, transform: ModelTransform | None = None) -> Engine:
    """Return this process's engine for ``spec``, compiling it on first use.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    transform : ModelTransform, optional
        Edits applied before compiling; part of the cache key.

    Returns
    -------
    Engine

    Examples
    --------
    >>> engine = get_engine(ModelSpec.from_path("model.xml"))  # doctest: +SKIP
    >>> engine.run({"x": x})["y"]  # doctest: +SKIP
    """
    return _cache.get(spec, transform)


def clear_cache() -> None:
    """Drop every compiled model held by this process and reset the counters.

    Run it on every worker with ``client.run(dask_openvino.clear_cache)``.

    Examples
    --------
    >>> import dask_openvino
    >>> dask_openvino.clear_cache()
    """
    _cache.clear()


def cache_info() -> CacheInfo:
    """Return statistics of this process's model cache.

    Examples
    --------
    >>> import dask_openvino
    >>> dask_openvino.cache_info().models
    0
    """
    return _cache.info()
