"""A worker plugin that compiles a model on every worker before the job's partitions arrive.

Without it, every worker compiles on its first partition, so the first wave of tasks
all wait for compiles, and a worker that joins later (autoscaling, a replacement
after a crash) stalls its first task the same way. Registered with
``client.register_plugin``, [`WarmUp`][dask_openvino.plugin.WarmUp] compiles the model
into each worker's per-process cache ([`get_engine`][dask_openvino.cache.get_engine])
on every current worker, and on every worker that joins afterwards before it runs a
task. It builds the same cache key as ``.ov.predict`` given the same arguments, so
the job's partitions find the compiled model. Each worker it sets up is also checked
to run the client's dask-openvino and OpenVINO release
([`check_versions`][dask_openvino.versions.check_versions]). Only the workers present
at registration fail it: on a worker that joins later, distributed logs a failed setup
(another release, a model it cannot compile) and the worker still runs tasks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dask.base import tokenize
from distributed.diagnostics.plugin import WorkerPlugin

from dask_openvino.cache import get_engine
from dask_openvino.checks import positive_int
from dask_openvino.edits import model_edits
from dask_openvino.errors import InputSchemaError
from dask_openvino.plan import InputsArg, PreprocessArg
from dask_openvino.policy import requested_precision
from dask_openvino.spec import ModelSpec, resolve_model
from dask_openvino.storage import absolute
from dask_openvino.transforms import InputLayoutArg, ModelTransform
from dask_openvino.versions import compatible, mismatch, runtime_versions, version_text

if TYPE_CHECKING:
    from distributed import Worker

__all__ = ["WarmUp"]

logger = logging.getLogger(__name__)


class WarmUp(WorkerPlugin):
    """Compile a model on every worker, now and on every worker that joins later.

    Pass the arguments that ``.ov.predict`` will get and that decide which model is
    compiled (the model, ``weights``, ``device``, ``config``, ``precision``,
    ``batch_size``, ``input_layout``, ``preprocess`` and, for ``preprocess``, ``inputs``): the plugin
    compiles exactly the engine the job's partitions will look up. Nothing is read
    here, on the client: each worker reads and compiles the model when the plugin is
    set up there, so the model must be reachable from the workers (shared storage,
    ``s3://``, ``http://``, ...), as for the job itself.

    Parameters
    ----------
    model : str, os.PathLike or ModelSpec
        As in ``.ov.predict``.
    inputs : None, str, list of str, or dict, optional
        As in ``.ov.predict``; only used to find the input ``preprocess=`` feeds.
    batch_size : int, optional
        As in ``.ov.predict`` (a model with another static batch is reshaped).
    config : dict, optional
        As in ``.ov.predict``.
    device : str, optional
        As in ``.ov.predict``.
    weights : str or os.PathLike, optional
        As in ``.ov.predict``.
    preprocess : pipeline or dict, optional
        As in ``.ov.predict``: pipelines that bake steps into the model compile another model.
    precision : {"auto", "f32", "bf16", "f16"}, optional
        As in ``.ov.predict``; the default is read here, from the client's Dask
        configuration, as ``.ov.predict`` does. ``"auto"`` is still decided per worker.
    input_layout : str or dict of str to str, optional
        As in ``.ov.predict``: a layout other than the model's compiles another model.

    Attributes
    ----------
    name : str
        The plugin's name in the cluster, the same for the same arguments: registering
        it again replaces it (and warms workers whose cache dropped the model).
    client_versions : dict of str to str
        The versions of the process that made the plugin, which every worker must match.

    Raises
    ------
    InputSchemaError
        If ``batch_size`` is not a positive integer.
    ValueError
        If ``precision`` is not one of the precisions.

    Examples
    --------
    >>> from distributed import Client
    >>> client = Client("tcp://scheduler:8786")  # doctest: +SKIP
    >>> client.register_plugin(dask_openvino.WarmUp("s3://models/resnet50.xml", batch_size=32))  # doctest: +SKIP
    >>> ddf.ov.predict("s3://models/resnet50.xml", inputs=["image"], batch_size=32)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: ModelSpec | str | os.PathLike[str],
        *,
        inputs: InputsArg = None,
        batch_size: int | None = None,
        config: Mapping[str, Any] | None = None,
        device: str | None = None,
        weights: str | os.PathLike[str] | None = None,
        preprocess: PreprocessArg = None,
        precision: str | None = None,
        input_layout: InputLayoutArg = None,
    ) -> None:
        # Only arguments are kept: this object is pickled and sent to every worker.
        if not isinstance(model, (ModelSpec, str, os.PathLike)):
            raise TypeError(f"model must be a path, URI or ModelSpec, got {type(model).__name__}")
        self.model = model if isinstance(model, ModelSpec) else absolute(os.fspath(model))
        self.weights = None if weights is None else absolute(os.fspath(weights))
        self.inputs = inputs
        self.batch_size = None if batch_size is None else positive_int(batch_size, "batch_size", error=InputSchemaError)
        self.config = dict(config) if config else None
        self.device = device
        self.preprocess = preprocess
        self.input_layout = input_layout
        # The default precision comes from the client's configuration, as in .ov.predict.
        self.precision = precision if isinstance(model, ModelSpec) else requested_precision(precision)
        self.client_versions = runtime_versions()
        self.name = "dask-openvino-warm-up-" + tokenize(
            self.model,
            self.weights,
            inputs,
            self.batch_size,
            self.config,
            device,
            preprocess,
            self.precision,
            input_layout,
        )

    def engine_key(self) -> tuple[ModelSpec, ModelTransform | None]:
        """Return the cache key ``.ov.predict`` builds from the same arguments: the spec and the model transform.

        Reads the model in this process to fingerprint it and, with ``batch_size``,
        ``input_layout`` or ``preprocess``, to read its ports; the edits are worked out
        by ``dask_openvino.edits.model_edits``, as in ``.ov.predict``.

        Returns
        -------
        tuple of (ModelSpec, ModelTransform or None)
        """
        spec = resolve_model(
            self.model, weights=self.weights, device=self.device, config=self.config, precision=self.precision
        )
        if self.batch_size is None and self.preprocess is None and self.input_layout is None:
            return spec, None
        edits = model_edits(
            spec.describe(),
            inputs=self.inputs,
            batch_size=self.batch_size,
            preprocess=self.preprocess,
            input_layout=self.input_layout,
        )
        return spec, edits.transform

    def warm(self) -> None:
        """Compile the model into this process's cache (a cache hit if it is there already).

        Raises
        ------
        ModelLoadError
            If the model cannot be read or compiled here.
        InputSchemaError
            If ``batch_size`` or ``preprocess`` do not fit the model.
        """
        spec, transform = self.engine_key()
        get_engine(spec, transform)

    async def setup(self, worker: Worker) -> None:
        """Check the worker's versions, then compile the model off the worker's event loop.

        Parameters
        ----------
        worker : distributed.Worker
            The worker being set up.

        Raises
        ------
        VersionMismatchError
            If the worker runs another dask-openvino or OpenVINO release than the client
            (on a worker that joins later, distributed only logs it).
        """
        found = runtime_versions()
        if not compatible(self.client_versions, found):
            raise mismatch(self.client_versions, {worker.address: version_text(found)})
        started = time.perf_counter()
        # A compile takes seconds: in a thread, the worker keeps answering the scheduler meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, self.warm)
        logger.info("%s: warmed %s in %.1f s", worker.address, self.model, time.perf_counter() - started)
