"""The benchmark groups: one per model, every contender interleaved within a group.

A group's cases all score the same rows on the same cores in the same rounds. Ratios
are taken against the group's OpenVINO-alone limit (contender 1) of the same precision
and compile settings.
"""

from __future__ import annotations

import functools
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import dask
import dask.dataframe as dd
import numpy as np
import openvino as ov
import pandas as pd
import pyarrow as pa
from distributed import Client, LocalCluster

import dask_openvino
from benchmarks import pipelines, probe, report
from benchmarks.data import TABULAR_COLUMNS, Dataset, load_arrays
from benchmarks.models import IMAGENET_MEAN, IMAGENET_STD, ModelFiles
from benchmarks.timing import Case, measure
from dask_openvino.partition import feeds_from_frame, predict_partition
from dask_openvino.plan import build_plan
from dask_openvino.policy import choose_precision, cpu_features, default_batch_size, default_compile_config, row_macs
from dask_openvino.preprocessing import (
    ChainedPreprocessing,
    ImageBytesToTensor,
    ImageCenterCrop,
    ImageChannelNormalize,
    ImageMatToTensor,
    ImageResize,
)
from dask_openvino.spec import ModelSpec
from dask_openvino.state import core

THREADS = 2
"""Dask threads of the threaded scheduler: one per core of the benchmark machine."""

BF16 = {"INFERENCE_PRECISION_HINT": "bf16"}
"""Compile override: bfloat16 inference, OpenVINO's own default on CPUs with AVX512-BF16 (dask-openvino uses f32)."""

PINNED = {"ENABLE_CPU_PINNING": "YES"}
"""Compile override: OpenVINO's own CPU pinning default, which dask-openvino turns off on workers."""

SHAPES = {"1x2": (1, 2), "2x1": (2, 1), "2x1-pinned": (2, 1)}
"""LocalCluster shapes: workers x threads per worker. ``2x1-pinned`` is a second 2 x 1
cluster whose workers compile only the pinned model, as a user's workers would, so no
other compiled model in the same process has a say in where OpenVINO pins its threads."""


@dataclass
class Clusters:
    """The LocalClusters of the run, started on first use and kept for every group."""

    started: dict[str, tuple[LocalCluster, Client]] = field(default_factory=dict)
    start_seconds: dict[str, float] = field(default_factory=dict)

    def client(self, shape: str) -> Client:
        """The client of the ``workers x threads`` cluster ``shape``, starting it if needed."""
        if shape not in self.started:
            workers, threads = SHAPES[shape]
            began = time.perf_counter()
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=threads,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.started[shape] = (cluster, Client(cluster, set_as_default=False))
            self.start_seconds[shape] = round(time.perf_counter() - began, 2)
        return self.started[shape][1]

    def close(self) -> None:
        """Close every client and cluster."""
        for cluster, client in self.started.values():
            client.close()
            cluster.close()
        self.started.clear()


def _compute(collection: dd.DataFrame, scheduler: str, clusters: Clusters) -> pd.DataFrame:
    if scheduler == "threads":
        result: pd.DataFrame = collection.compute(scheduler="threads", num_workers=THREADS)
    else:
        result = collection.compute(scheduler=clusters.client(scheduler.removeprefix("cluster ")))
    return result


def read_parquet(path: str) -> dd.DataFrame:
    """How every pipeline reads its data: Arrow-backed columns, so tensors stay fixed-size lists.

    With the default ``dtype_backend``, list columns arrive as object columns of numpy
    arrays (and binary columns as object columns that Dask turns into strings).
    """
    return dd.read_parquet(path, dtype_backend="pyarrow")


def jpeg_pipeline(backend: Literal["openvino", "numpy"]) -> ChainedPreprocessing:
    """The Analytics Zoo image steps for the 256x256 JPEG files: decode, resize, centre crop, normalise, NCHW."""
    return ChainedPreprocessing(
        [
            ImageBytesToTensor(),
            ImageResize(256, 256),
            ImageCenterCrop(224, 224),
            ImageChannelNormalize(IMAGENET_MEAN, IMAGENET_STD),
            ImageMatToTensor(format="NCHW", to_RGB=True),
        ],
        backend=backend,
    )


def _predict_auto(group: Group, in_memory: dd.DataFrame | None = None) -> None:
    """``.ov.predict`` in its default precision ("auto"), against OpenVINO alone in the precision auto chose.

    With ``in_memory`` (the group's partitions, persisted), also over those partitions.
    """
    chosen, _ = choose_precision("auto", cpu_features())
    limit = group.limit("fp32", variant=f"auto={chosen}", config={"INFERENCE_PRECISION_HINT": chosen})
    group.predict("fp32", "threads", variant=f"auto={chosen}", compute="auto", baseline=limit)
    if in_memory is not None:
        variant = f"auto={chosen}, {report.IN_MEMORY}"
        group.predict("fp32", "threads", variant=variant, compute="auto", source=lambda: in_memory, baseline=limit)


def _warm_engine(
    xml: str, config: dict[str, str], precision: str, inputs: dict[str, str] | list[str]
) -> dict[str, str]:
    """Compile the model on a worker the way ``.ov.predict`` will (the same cache key: spec and transform).

    Returns the settings OpenVINO compiled it with (precision, streams, threads, pinning,
    and why that precision), to record what the workers ran.
    """
    key = dask_openvino.WarmUp(xml, inputs=inputs, config=config or None, precision=precision).engine_key()
    return dict(dask_openvino.get_engine(*key).settings)


def _warm_workers(
    client: Client, xml: str, config: dict[str, str], precision: str, inputs: dict[str, str] | list[str]
) -> list[dict[str, str]]:
    """Compile the model once on every worker, as a task.

    Not with ``client.run``: there ``distributed.get_worker()`` finds no worker, so the
    engine would be compiled with the settings for outside a worker (all cores, OpenVINO's
    pinning) and cached under the same key the tasks use.
    """
    workers = list(client.scheduler_info()["workers"])
    futures = [client.submit(_warm_engine, xml, config, precision, inputs, workers=[w], pure=False) for w in workers]
    settings: list[dict[str, str]] = client.gather(futures)
    return settings


def default_batch(model: ModelFiles) -> int:
    """dask-openvino's default batch size for ``model``'s FP32 IR (before a partition cuts it short)."""
    spec = ModelSpec.from_path(model.fp32_xml)
    return default_batch_size(spec.describe().inputs, row_macs(spec.read_model()))


@dataclass
class Group:
    """Everything one model's cases share."""

    model: ModelFiles
    dataset: Dataset
    clusters: Clusters
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    used: dict[str, set[tuple[str, tuple[tuple[str, str], ...]]]] = field(default_factory=dict)
    """Per cluster shape, the distinct (model, compile config) pairs run there: the compiles expected per worker."""

    @property
    def batch(self) -> int:
        """dask-openvino's default batch size for this model: the hand-written pipelines use it too."""
        return default_batch(self.model)

    def xml(self, precision: str) -> str:
        return self.model.int8_xml if precision == "int8" else self.model.fp32_xml

    def inputs(self) -> dict[str, str] | list[str]:
        if self.dataset.columns == TABULAR_COLUMNS:
            return list(TABULAR_COLUMNS)
        return {name: name for name in self.model.inputs}

    def limit(self, precision: str, variant: str = "", config: dict[str, str] | None = None) -> Case:
        """Contender 1: OpenVINO alone on numpy arrays, AsyncInferQueue, dask-openvino's compile config.

        Outside a worker that is the THROUGHPUT hint (and f32 inference), as
        ``benchmark_app -hint throughput`` would use.
        """
        if not self.arrays:
            self.arrays = load_arrays(self.dataset)
        arrays = {name: self.arrays[name] for name in self.model.inputs}
        rows = len(next(iter(arrays.values())))
        # The default batch, cut short by the partition: .ov.predict splits a partition into
        # batches of about the same size and at most this many rows.
        batch = min(self.batch, self.dataset.rows_per_partition)
        state: dict[str, Any] = {}

        def warm() -> None:
            # As compile_engine does: a precision in config also decides the derived defaults.
            hint = (config or {}).get("INFERENCE_PRECISION_HINT", "f32")
            compiled = core().compile_model(
                self.xml(precision), "CPU", {**default_compile_config("CPU", hint), **(config or {})}
            )
            requests = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            state["queue"] = ov.AsyncInferQueue(compiled, requests)
            state["requests"] = requests
            for start in range(0, min(rows, batch * requests * 2), batch):
                state["queue"].start_async({k: v[start : start + batch] for k, v in arrays.items()}, share_inputs=True)
            state["queue"].wait_all()

        def run() -> None:
            queue = state["queue"]
            for start in range(0, rows, batch):
                queue.start_async({k: v[start : start + batch] for k, v in arrays.items()}, share_inputs=True)
            queue.wait_all()

        case = Case(self.model.name, precision, "openvino-alone", "-", rows, run, warm, variant=variant)
        self.cases.append(case)
        return case

    def predict(
        self,
        precision: str,
        scheduler: str,
        *,
        variant: str = "",
        config: dict[str, str] | None = None,
        baseline: Case,
        source: Callable[[], dd.DataFrame] | None = None,
        inputs: dict[str, str] | list[str] | None = None,
        rows: int | None = None,
        compute: str = "f32",
        preprocess: ChainedPreprocessing | None = None,
    ) -> Case:
        """Contender 2: ``ddf.ov.predict`` over data the workers read from Parquet.

        ``source`` replaces reading the group's data set; ``rows`` gives its row count
        when it holds other rows. ``compute`` is ``.ov.predict``'s ``precision=``: f32,
        so that its ratio to the f32 limit compares like with like, unless a row asks
        for another. ``preprocess`` is ``.ov.predict``'s (threaded scheduler only).
        """
        xml = self.xml(precision)
        read = source or (lambda: read_parquet(self.dataset.path))
        columns = inputs or self.inputs()
        if preprocess is not None and scheduler != "threads":
            raise ValueError("the workers are warmed without preprocess=: time preprocessing on threads")

        def collection() -> dd.DataFrame:
            return read().ov.predict(
                xml, inputs=columns, keep_input=False, config=config, precision=compute, preprocess=preprocess
            )

        def warm() -> None:
            if scheduler == "threads":
                collection().partitions[0].compute(scheduler="sync")
                return
            client = self.clusters.client(scheduler.removeprefix("cluster "))
            case.settings = _warm_workers(client, xml, config or {}, compute, columns)
            _compute(collection().partitions[0], scheduler, self.clusters)

        after = None
        if scheduler != "threads":
            shape = scheduler.removeprefix("cluster ")
            self.used.setdefault(shape, set()).add((xml, tuple(sorted((config or {}).items()))))
            client = self.clusters.client(shape)
            after = lambda: list(client.run(probe.worker_memory).values())  # noqa: E731
        case = Case(
            self.model.name,
            precision,
            "ov.predict",
            scheduler,
            rows or self.dataset.rows,
            lambda: _compute(collection(), scheduler, self.clusters),
            warm,
            variant=variant,
            baseline=baseline.key,
            after=after,
        )
        self.cases.append(case)
        return case

    def hand_written(
        self,
        runtime: str,
        *,
        baseline: Case,
        variant: str = "",
        source: Callable[[], dd.DataFrame] | None = None,
        jpeg: Dataset | None = None,
    ) -> Case:
        """Contenders 3 and 4: ONNX Runtime or eager PyTorch in the same pipeline, by hand.

        ``runtime="openvino"`` writes the same by hand around dask-openvino's engine: the
        pipeline ``.ov.predict`` would be with the hand-written column conversion.
        ``source`` replaces reading the Parquet files (e.g. with data already in memory).
        ``jpeg`` (eager PyTorch only) scores that data set's JPEG files instead, decoded
        in the pipeline (``pipelines.decode_jpeg``).
        """
        if jpeg is not None and (runtime != "pytorch" or source is not None):
            raise ValueError("jpeg= is for the eager PyTorch pipeline reading that data set")
        dataset = jpeg or self.dataset
        read = source or (lambda: read_parquet(dataset.path))
        description = ModelSpec.from_path(self.model.fp32_xml).describe()
        if self.dataset.columns == TABULAR_COLUMNS:
            feeds: tuple[pipelines.Feed, ...] = (pipelines.Feed("features", TABULAR_COLUMNS, "float32", (64,)),)
        else:
            feeds = tuple(
                pipelines.Feed(p.name, (p.name,), str(p.dtype), p.row_shape or ()) for p in description.inputs
            )
        out_port = description.outputs[0]
        output = pipelines.Output(out_port.name, "prediction", out_port.row_shape or ())
        threads = max(1, (os.cpu_count() or THREADS) // THREADS)

        def collection() -> dd.DataFrame:
            frame = read()
            meta = pipelines.empty_result(frame._meta.index, output)
            if runtime == "onnxruntime":
                args: tuple[Any, ...] = (self.model.onnx, feeds, output, self.batch, threads)
                return frame.map_partitions(pipelines.onnxruntime_partition, *args, meta=meta)
            if runtime == "openvino":
                spec = ModelSpec.from_path(self.model.fp32_xml)
                return frame.map_partitions(pipelines.openvino_partition, spec, feeds, output, meta=meta)
            if jpeg is not None:
                args = (self.model.name, self.model.torch_state, jpeg.columns[0], output, self.batch, threads)
                return frame.map_partitions(pipelines.torch_jpeg_partition, *args, meta=meta)
            args = (self.model.name, self.model.torch_state, feeds, output, self.batch, threads)
            return frame.map_partitions(pipelines.torch_partition, *args, meta=meta)

        case = Case(
            self.model.name,
            "fp32",
            {"onnxruntime": "onnxruntime", "openvino": "openvino by hand"}.get(runtime, "pytorch-eager"),
            "threads",
            dataset.rows,
            lambda: _compute(collection(), "threads", self.clusters),
            lambda: collection().partitions[0].compute(scheduler="sync"),
            variant=variant,
            baseline=baseline.key,
        )
        self.cases.append(case)
        return case

    def read_only(self, dataset: Dataset, *, variant: str = "", baseline: Case) -> Case:
        """Read ``dataset`` on the threaded scheduler and do nothing with it: the pipeline's cost without a model."""
        return self.custom(
            "read_parquet only",
            "threads",
            variant,
            lambda: read_parquet(dataset.path).map_partitions(pipelines.touch_partition, meta=pipelines.TOUCH_META),
            baseline=baseline,
            rows=dataset.rows,
        )

    def custom(
        self, contender: str, scheduler: str, variant: str, collection: Callable[[], Any], *, baseline: Case, rows: int
    ) -> Case:
        """A pipeline given as a function that builds the collection (checks and tuning cases)."""

        def warm() -> None:
            built = collection()
            if isinstance(built, dd.DataFrame):
                built.partitions[0].compute(scheduler="sync")

        def run() -> None:
            built = collection()
            if isinstance(built, dd.DataFrame):
                _compute(built, scheduler, self.clusters)

        case = Case(
            self.model.name, "fp32", contender, scheduler, rows, run, warm, variant=variant, baseline=baseline.key
        )
        self.cases.append(case)
        return case


def image_group(model: ModelFiles, images: Dataset, jpeg: Dataset, clusters: Clusters, *, full: bool) -> Group:
    """ResNet-50: every contender, preprocessing backends, INT8, and the CPU pinning check."""
    group = Group(model, images, clusters)
    limit = group.limit("fp32")
    group.predict("fp32", "threads", baseline=limit)
    group.predict("fp32", "cluster 2x1", baseline=limit)
    group.hand_written("onnxruntime", baseline=limit)
    group.hand_written("pytorch", baseline=limit)
    for backend in ("openvino", "numpy"):
        pipeline = jpeg_pipeline(backend)

        def from_jpeg(pipeline: ChainedPreprocessing = pipeline) -> dd.DataFrame:
            frame = read_parquet(jpeg.path)
            return frame.ov.predict(
                model.fp32_xml, inputs={"image": "jpeg"}, preprocess=pipeline, keep_input=False, precision="f32"
            )

        group.custom(
            "ov.predict from JPEG", "threads", f"preprocess={backend}", from_jpeg, baseline=limit, rows=jpeg.rows
        )
    int8_limit = group.limit("int8")
    group.predict("int8", "threads", baseline=int8_limit)
    bf16_limit = group.limit("fp32", variant="bf16", config=BF16)
    group.predict("fp32", "threads", variant="bf16", config=BF16, baseline=bf16_limit)
    _predict_auto(group)
    if full:
        group.predict("fp32", "cluster 1x2", baseline=limit)
        group.predict("fp32", "cluster 2x1-pinned", variant="pinning=YES", config=PINNED, baseline=limit)
        group.predict(
            "fp32",
            "threads",
            variant="default dtype_backend",
            source=lambda: dd.read_parquet(images.path),
            baseline=limit,
        )
        group.predict("int8", "cluster 2x1", baseline=int8_limit)
        group.read_only(images, baseline=int8_limit)
    return group


def headline_group(model: ModelFiles, images: Dataset, jpeg: Dataset, clusters: Clusters) -> Group:
    """INT8 ResNet-50 ``.ov.predict`` against the eager PyTorch pipeline, on a job of many images.

    At INT8 speed with AMX the image group's job is short (96 images: under half a
    second), so its rounds also time the job's fixed costs; this group's job runs for
    over a second at that speed, so the ratio compares throughputs. Both pipelines run
    twice: on ``images`` (normalised f32 tensors in Parquet, variant ``"<rows> images"``)
    and on ``jpeg`` (the same images as JPEG files, decoded on the workers: ``.ov.predict``
    with the Analytics Zoo steps embedded in the model, PyTorch with Pillow and numpy;
    variant ``"<rows> images from JPEG"``); ``.ov.predict`` also runs in its default
    precision on both.
    """
    group = Group(model, images, clusters)
    tensors = f"{images.rows}{report.HEADLINE}"
    files = f"{jpeg.rows}{report.HEADLINE}{report.FROM_JPEG}"
    limit = group.limit("fp32", variant=tensors)
    int8_limit = group.limit("int8", variant=tensors)
    group.hand_written("pytorch", variant=tensors, baseline=limit)
    group.predict("int8", "threads", variant=tensors, baseline=int8_limit)
    group.hand_written("pytorch", variant=files, baseline=limit, jpeg=jpeg)
    pipeline = jpeg_pipeline("openvino")

    def on_files(precision: str, variant: str, baseline: Case, compute: str = "f32") -> None:
        group.predict(
            precision,
            "threads",
            variant=variant,
            baseline=baseline,
            compute=compute,
            source=lambda: read_parquet(jpeg.path),
            inputs={"image": "jpeg"},
            preprocess=pipeline,
            rows=jpeg.rows,
        )

    on_files("int8", files, int8_limit)
    chosen, _ = choose_precision("auto", cpu_features())
    auto_limit = group.limit("fp32", variant=f"{tensors}, auto={chosen}", config={"INFERENCE_PRECISION_HINT": chosen})
    group.predict("fp32", "threads", variant=f"{tensors}, auto={chosen}", compute="auto", baseline=auto_limit)
    on_files("fp32", f"{files}, auto={chosen}", auto_limit, compute="auto")
    return group


def encoder_group(model: ModelFiles, tokens: Dataset, clusters: Clusters, *, full: bool) -> Group:
    """MiniLM encoder: every contender and INT8."""
    group = Group(model, tokens, clusters)
    limit = group.limit("fp32")
    group.predict("fp32", "threads", baseline=limit)
    group.predict("fp32", "cluster 2x1", baseline=limit)
    group.hand_written("onnxruntime", baseline=limit)
    group.hand_written("pytorch", baseline=limit)
    int8_limit = group.limit("int8")
    group.predict("int8", "threads", baseline=int8_limit)
    bf16_limit = group.limit("fp32", variant="bf16", config=BF16)
    group.predict("fp32", "threads", variant="bf16", config=BF16, baseline=bf16_limit)
    _predict_auto(group)
    if full:
        group.predict("fp32", "cluster 1x2", baseline=limit)
        # One in-process call on all rows: the default batch (128) makes it a single
        # batch, so one of OpenVINO's streams idles; half the rows per batch feeds both.
        local = pd.DataFrame({name: list(values) for name, values in load_arrays(tokens).items()})
        local = local.astype({name: pd.ArrowDtype(pa.list_(pa.int64())) for name in local.columns})
        for batch_size in (None, -(-tokens.rows // 2)):
            group.custom(
                "df.ov.predict (pandas, in process)",
                "-",
                f"batch_size={batch_size or 'default'}",
                functools.partial(local.ov.predict, model.fp32_xml, keep_input=False, batch_size=batch_size),
                baseline=limit,
                rows=tokens.rows,
            )
    return group


def tabular_group(
    model: ModelFiles,
    table: Dataset,
    clusters: Clusters,
    *,
    fine: Dataset | None = None,
    as_list: Dataset | None = None,
) -> Group:
    """Tabular MLP: contenders, and the per-partition overhead checks (reload, shipping, partition size).

    ``fine`` (the same rows in many small partitions) and ``as_list`` (the 64 features
    as one fixed-size list column) add the checks of a full run.
    """
    group = Group(model, table, clusters)
    limit = group.limit("fp32")
    group.predict("fp32", "threads", baseline=limit)
    group.predict("fp32", "cluster 2x1", baseline=limit)
    group.hand_written("onnxruntime", baseline=limit)
    group.hand_written("pytorch", baseline=limit)
    int8_limit = group.limit("int8")
    group.predict("int8", "threads", baseline=int8_limit)
    columns = list(TABULAR_COLUMNS)
    xml = model.fp32_xml
    # The warning about a large graph is the point of this case: the partitions travel in it.
    dask.config.set({"distributed.admin.large-graph-warning-threshold": "1GB"})
    group.read_only(table, baseline=limit)
    # The same pipelines over partitions already in memory: what is left once reading is not timed.
    in_memory = read_parquet(table.path).persist(scheduler="threads")
    group.predict("fp32", "threads", variant=report.IN_MEMORY, source=lambda: in_memory, baseline=limit)
    group.hand_written("onnxruntime", variant=report.IN_MEMORY, source=lambda: in_memory, baseline=limit)

    bf16_limit = group.limit("fp32", variant="bf16", config=BF16)
    group.predict("fp32", "threads", variant="bf16", config=BF16, baseline=bf16_limit)
    _predict_auto(group, in_memory)
    if fine is None or as_list is None:
        return group

    def reloading(path: str) -> dd.DataFrame:
        frame = read_parquet(path)
        plan = build_plan(ModelSpec.from_path(xml), frame._meta, inputs=columns, keep_input=False)
        meta = predict_partition(frame._meta.iloc[:0], plan)
        return frame.map_partitions(pipelines.reload_partition, plan, meta=meta)

    local = pd.DataFrame(load_arrays(table)["features"], columns=columns)
    group.custom(
        "df.ov.predict (pandas, in process)",
        "-",
        "",
        lambda: local.ov.predict(xml, inputs=columns, keep_input=False),
        baseline=limit,
        rows=table.rows,
    )
    group.predict(
        "fp32",
        "cluster 2x1",
        variant="shipped from client",
        source=lambda: dd.from_pandas(local, npartitions=table.partitions),
        baseline=limit,
    )
    group.predict("fp32", "cluster 1x2", baseline=limit)
    group.hand_written("openvino", baseline=limit)
    for dataset in (table, fine):
        group.custom(
            "ov.predict",
            "threads",
            f"reload per partition, x{dataset.partitions}",
            functools.partial(reloading, dataset.path),
            baseline=limit,
            rows=dataset.rows,
        )
    group.predict(
        "fp32",
        "threads",
        variant=f"x{fine.partitions} partitions",
        source=lambda: read_parquet(fine.path),
        rows=fine.rows,
        baseline=limit,
    )
    group.predict(
        "fp32",
        "threads",
        variant="one list column",
        source=lambda: read_parquet(as_list.path),
        inputs={"features": "features"},
        baseline=limit,
    )
    group.read_only(as_list, variant="one list column", baseline=limit)
    return group


def run_group(group: Group, rounds: int, log: Callable[[str], None], *, stages: bool = True) -> dict[str, Any]:
    """Clear the worker caches, time the group, and read back compile counts and memory.

    With ``stages``, also where one partition's time goes (``breakdown``).
    """
    for client in _clients(group):
        client.run(dask_openvino.clear_cache)
    records = measure(group.cases, rounds, log=log)
    caches = {shape: list(client.run(probe.worker_memory).values()) for shape, client in _shapes(group)}
    return {
        "model": group.model.name,
        "records": records,
        "worker_caches": caches,
        "expected_compiles": {shape: len(used) for shape, used in group.used.items()},
        "breakdown": breakdown(group) if stages else {},
    }


def _shapes(group: Group) -> Iterator[tuple[str, Client]]:
    used = {case.scheduler.removeprefix("cluster ") for case in group.cases if case.scheduler.startswith("cluster")}
    for shape in sorted(used):
        yield shape, group.clusters.client(shape)


def _clients(group: Group) -> Iterator[Client]:
    for _, client in _shapes(group):
        yield client


def breakdown(group: Group, repeats: int = 5) -> dict[str, Any]:
    """Where one partition's time goes in ``.ov.predict``, in its default precision; medians of ``repeats``.

    ``plan`` and ``cache_lookup`` are the client's and the worker's fixed costs;
    ``feeds`` converts the columns; ``infer`` runs the engine on those arrays as
    converted, ``infer_contiguous`` on C-contiguous copies of them (the difference is
    what copying each batch into rows costs); ``partition`` is the whole
    ``predict_partition``, whose conversion overlaps inference, so it is not the sum.
    """
    frame = read_parquet(group.dataset.path).partitions[0].compute(scheduler="sync")
    plan = build_plan(ModelSpec.from_path(group.model.fp32_xml), frame, inputs=group.inputs(), keep_input=False)
    engine = dask_openvino.get_engine(plan.spec, plan.transform)
    names = ("plan", "cache_lookup", "feeds", "infer", "infer_contiguous", "partition")
    timings: dict[str, list[float]] = {name: [] for name in names}

    def timed(name: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = work()
        timings[name].append(time.perf_counter() - started)
        return result

    for _ in range(repeats):
        timed("plan", lambda: build_plan(plan.spec, frame, inputs=group.inputs(), keep_input=False))
        timed("cache_lookup", lambda: dask_openvino.get_engine(plan.spec, plan.transform))
        feeds = timed("feeds", lambda: feeds_from_frame(frame, plan.spec, group.inputs()))
        timed("infer", functools.partial(engine.run, feeds, batch_size=plan.batch_size))
        contiguous = {name: np.ascontiguousarray(array) for name, array in feeds.items()}
        timed("infer_contiguous", functools.partial(engine.run, contiguous, batch_size=plan.batch_size))
        timed("partition", lambda: predict_partition(frame, plan))
    out: dict[str, Any] = {f"{name}_ms": round(statistics.median(values) * 1000, 3) for name, values in timings.items()}
    out["partition_rows"] = len(frame)
    out["repeats"] = repeats
    out["precision"] = engine.settings.get("INFERENCE_PRECISION_HINT", "?")
    return out


def compile_times(
    models: dict[str, ModelFiles], which: list[tuple[str, str]], *, from_path: bool
) -> list[dict[str, Any]]:
    """Load + compile time of a fresh worker: no cache, first worker with ``CACHE_DIR``, second worker.

    With ``from_path``, also OpenVINO's own ``compile_model(path)`` with ``CACHE_DIR``:
    OpenVINO then keys its cache on the file and skips reading the weights on a hit,
    which the engine's read-verify-compile path cannot.
    """
    results = []
    for name, precision in which:
        xml = models[name].int8_xml if precision == "int8" else models[name].fp32_xml
        runs = {"no cache": probe.compile_in_child(xml, None)}
        with tempfile.TemporaryDirectory(prefix="ov-cache-") as cache_dir:
            runs["CACHE_DIR, first worker"] = probe.compile_in_child(xml, cache_dir)
            runs["CACHE_DIR, second worker"] = probe.compile_in_child(xml, cache_dir)
        if from_path:
            with tempfile.TemporaryDirectory(prefix="ov-cache-") as cache_dir:
                runs["compile_model(path), CACHE_DIR, first worker"] = probe.compile_in_child(
                    xml, cache_dir, from_path=True
                )
                runs["compile_model(path), CACHE_DIR, second worker"] = probe.compile_in_child(
                    xml, cache_dir, from_path=True
                )
        for variant, measured in runs.items():
            results.append({"model": name, "precision": precision, "variant": variant, **measured})
    return results


def memory_over_jobs(group: Group, jobs: int) -> dict[str, Any]:
    """Worker RSS on a fresh 2 x 1 LocalCluster, before and after each of ``jobs`` identical jobs.

    After the second and the last job the allocators' free memory is also released and
    the RSS measured again (``released_rss_mib``), for the drift between them.

    The baseline is taken once the workers have read a partition and loaded OpenVINO's
    CPU plugin, so what grows after it is the model, its batches and the partitions.
    """
    xml = group.model.fp32_xml
    path = group.dataset.path
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        read_parquet(path).map_partitions(pipelines.touch_partition, meta=pipelines.TOUCH_META).compute(
            scheduler=client
        )
        client.run(probe.load_openvino_cpu)
        client.run(probe.reset_peak)
        baseline = list(client.run(probe.worker_memory).values())
        per_job = []
        for job in range(jobs):
            client.run(probe.reset_peak)
            started = time.perf_counter()
            read_parquet(path).ov.predict(xml, inputs=group.inputs(), keep_input=False).compute(scheduler=client)
            elapsed = round(time.perf_counter() - started, 3)
            # Released only where the drift is read (jobs 2 and last): releasing lowers the next job's peak.
            measure = probe.worker_memory_released if job in (1, jobs - 1) else probe.worker_memory
            per_job.append({"seconds": elapsed, "workers": list(client.run(measure).values())})
    spec = ModelSpec.from_path(xml)
    description = spec.describe()
    row_in = sum((p.row_size or 1) * p.dtype.itemsize for p in description.inputs)
    row_out = sum((p.row_size or 1) * p.dtype.itemsize for p in description.outputs)
    batch = group.batch
    partition = group.dataset.rows_per_partition
    weights = os.path.getsize(spec.weights)
    # A few batches in flight, and two partitions whose input and output are each held
    # twice at most (Arrow/pandas and numpy).
    data_bytes = 4 * batch * (row_in + row_out) + 2 * partition * 2 * (row_in + row_out)
    return {
        "model": group.model.name,
        "cluster": "2x1",
        "jobs": jobs,
        "baseline": baseline,
        "per_job": per_job,
        "weights_mib": round(weights / 2**20, 1),
        "partition_rows": partition,
        "batch": batch,
        "batches_and_partitions_mib": round(data_bytes / 2**20, 1),
    }
