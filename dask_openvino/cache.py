"""The per-process cache of compiled models.

Each worker process reads and compiles a model once, on first use, and keeps the
resulting [`Engine`][dask_openvino.engine.Engine] in
[`state.ENGINES`][dask_openvino.state.ENGINES], keyed by the
[`ModelSpec`][dask_openvino.spec.ModelSpec] (location, fingerprint, device, config) and
the model transform. Concurrent first calls from several threads compile once.
The cache is bounded and evicts the least recently used model; the bounds come
from Dask's configuration, so platform teams set them like any other Dask option:

    openvino:
      cache:
        max-models: 4        # compiled models kept per process
        max-bytes: null      # total weight bytes kept per process (null: no bound)

(or ``DASK_OPENVINO__CACHE__MAX_MODELS=2`` in the workers' environment).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import dask.config
import fsspec
import openvino as ov

from dask_openvino import state
from dask_openvino.engine import Engine
from dask_openvino.errors import ModelLoadError, openvino_message
from dask_openvino.policy import choose_precision, cpu_features, default_compile_config, row_macs
from dask_openvino.spec import ModelSpec, describe_model
from dask_openvino.transforms import ModelTransform

__all__ = ["CacheInfo", "cache_info", "clear_cache", "compile_engine", "get_engine"]

logger = logging.getLogger(__name__)

dask.config.update_defaults({"openvino": {"cache": {"max-models": 4, "max-bytes": None}}})


@dataclass(frozen=True)
class CacheInfo:
    """Statistics of this process's model cache.

    Attributes
    ----------
    models : int
        Compiled models held now.
    compiles : int
        Models compiled by this process since it started (or since
        [`clear_cache`][dask_openvino.cache.clear_cache]).
    hits : int
        Look-ups served from the cache.
    evictions : int
        Models dropped to honour the bounds.
    weights_bytes : int
        Total weight bytes of the models held.
    pid : int
        The process id, to tell workers apart in ``client.run`` results.
    engines : tuple of dict
        For each model held: its ``model`` path, the compiled model's properties as
        OpenVINO reports them (``INFERENCE_PRECISION_HINT``, ``NUM_STREAMS``, ...) and
        ``precision_reason``, why that precision was chosen.
    """

    models: int
    compiles: int
    hits: int
    evictions: int
    weights_bytes: int
    pid: int
    engines: tuple[dict[str, str], ...] = ()


def _bound(key: str) -> int | None:
    value = dask.config.get(key)
    return None if value is None else int(value)


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
    return state.ENGINES.get(  # type: ignore[no-any-return]
        (spec, transform),
        lambda: compile_engine(spec, transform),
        max_items=_bound("openvino.cache.max-models"),
        max_weight=_bound("openvino.cache.max-bytes"),
    )


def clear_cache() -> None:
    """Drop every compiled model held by this process and reset the counters.

    Run it on every worker with ``client.run(dask_openvino.clear_cache)``.

    Examples
    --------
    >>> import dask_openvino
    >>> dask_openvino.clear_cache()
    """
    state.ENGINES.clear()


def cache_info() -> CacheInfo:
    """Return statistics of this process's model cache.

    Examples
    --------
    >>> import dask_openvino
    >>> dask_openvino.cache_info().models
    0
    """
    models, compiles, hits, evictions, weight = state.ENGINES.stats()
    return CacheInfo(
        models=models,
        compiles=compiles,
        hits=hits,
        evictions=evictions,
        weights_bytes=weight,
        pid=os.getpid(),
        engines=tuple(dict(engine.settings) for engine in state.ENGINES.values()),
    )


def _drop_identity_converts(model: ov.Model) -> None:
    """Connect what reads a ``Convert`` to its own element type to the Convert's input instead.

    OpenVINO's CPU plugin (2026.4) lets such a Convert's output share the input's
    memory: with inputs shared with numpy (``share_inputs=True``) and several requests, an
    output that is an identity Convert of an input (an ONNX ``Cast`` to the input's type)
    returns another batch's rows, other outputs too, and the heap gets corrupted. Read
    from the input directly, the output is computed as it should be. The input's tensor
    keeps its own names; each ``Result`` keeps the output's.
    """
    for node in model.get_ordered_ops():
        if node.get_type_name() == "Convert" and node.get_input_element_type(0) == node.get_output_element_type(0):
            source = node.input_value(0)
            names = set(source.get_names())
            node.output(0).replace(source)
            source.get_tensor().set_names(names)


def compile_engine(spec: ModelSpec, transform: ModelTransform | None = None) -> Engine:
    """Read, transform and compile the model described by ``spec``.

    Parameters
    ----------
    spec : ModelSpec
        The model; its fingerprint is checked against the files.
    transform : ModelTransform, optional
        Edits applied to the model before compiling.

    Returns
    -------
    Engine

    Raises
    ------
    ModelLoadError
        If the model cannot be read or compiled for ``spec.device``.
    ModelChangedError
        If the files changed since ``spec`` was made.
    """
    model = spec.read_model()
    if transform is not None:
        model = transform.apply(model)
    _drop_identity_converts(model)
    user = spec.config_dict
    if "INFERENCE_PRECISION_HINT" in user:
        # The defaults then follow the user's precision (ACCURACY mode only with f32).
        precision, reason = user["INFERENCE_PRECISION_HINT"], "INFERENCE_PRECISION_HINT in config"
    elif spec.device == "CPU":
        precision, reason = choose_precision(spec.precision, cpu_features())
    else:
        precision, reason = "", "left to the device"
    config: dict[str, Any] = default_compile_config(spec.device, precision or "f32")
    config.update(user)

    def compile_model(**overrides: str) -> ov.CompiledModel:
        try:
            return state.core().compile_model(model, spec.device, {**config, **overrides})
        except RuntimeError as err:
            raise ModelLoadError(
                f"OpenVINO cannot compile {spec.xml} for {spec.device}: {openvino_message(err)}"
            ) from err

    started = time.perf_counter()
    compiled = compile_model()
    settings = {"model": spec.xml, "precision_reason": reason}
    for name in _RECORDED:
        with contextlib.suppress(RuntimeError, TypeError):
            value = compiled.get_property(name)
            settings[name] = _property_text(value)
    actual = settings.get("INFERENCE_PRECISION_HINT")
    if precision and reason == "asked for" and actual not in (None, precision):
        settings["precision_reason"] = (
            f"asked for {precision}; OpenVINO compiled {actual} (no {precision} kernels here)"
        )
    engine = Engine(
        compiled,
        describe_model(model),  # the compiled model merges the names of tensors an identity Convert joined
        weights_bytes=_weights_size(spec),
        recompile=compile_model,
        settings=settings,
        macs_per_row=row_macs(model),
    )
    engine.settings["default_batch_size"] = str(engine.default_batch)
    logger.info(
        "compiled %s in %.1f s: precision %s (%s), %s streams, %s threads, default batch %s",
        spec.xml,
        time.perf_counter() - started,
        settings.get("INFERENCE_PRECISION_HINT", "?"),
        settings["precision_reason"],
        settings.get("NUM_STREAMS", "?"),
        settings.get("INFERENCE_NUM_THREADS", "?"),
        engine.default_batch,
    )
    return engine


def _property_text(value: object) -> str:
    if isinstance(value, ov.Type):
        return str(value.get_type_name())
    name = getattr(value, "name", None)  # OpenVINO enums, e.g. ExecutionMode.ACCURACY
    return str(name) if isinstance(name, str) else str(value)


_RECORDED = (
    "INFERENCE_PRECISION_HINT",
    "EXECUTION_MODE_HINT",
    "PERFORMANCE_HINT",
    "NUM_STREAMS",
    "INFERENCE_NUM_THREADS",
    "ENABLE_CPU_PINNING",
    "OPTIMAL_NUMBER_OF_INFER_REQUESTS",
)
"""Compiled-model properties each engine records (what the worker really compiled with)."""


def _weights_size(spec: ModelSpec) -> int:
    try:
        fs, path = fsspec.core.url_to_fs(spec.weights, **dict(spec.storage_options))
        return int(fs.size(path) or 0)
    except (OSError, ValueError):
        return 0
